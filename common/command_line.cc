#include "common/command_line.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace flopd {

std::string ParsedFlags::Get(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  return it == values.end() ? fallback : it->second;
}

absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args,
                                       const std::vector<FlagSpec>& specs) {
  ParsedFlags parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    // "-o": a one-letter flag given with one dash.
    const bool short_flag =
        arg.size() == 2 && arg[0] == '-' && arg[1] != '-' &&
        std::any_of(specs.begin(), specs.end(),
                    [&](const FlagSpec& s) { return s.name == arg.substr(1); });
    if (!short_flag && (arg.size() < 3 || arg.rfind("--", 0) != 0)) {
      parsed.positional.push_back(arg);
      continue;
    }
    std::string name = arg.substr(short_flag ? 1 : 2);
    std::string value;
    bool has_inline_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline_value = true;
    }
    auto spec = std::find_if(specs.begin(), specs.end(),
                             [&](const FlagSpec& s) { return s.name == name; });
    if (spec == specs.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, "; see --help"));
    }
    if (spec->value_name.empty()) {
      if (has_inline_value) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      }
      parsed.values[name] = "true";
      continue;
    }
    if (!has_inline_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat(name.size() == 1 ? "-" : "--", name,
                                                       ": missing value; expected ",
                                                       spec->value_name));
      }
      value = args[++i];
    }
    parsed.values[name] = value;
  }
  return parsed;
}

std::string FlagsHelp(const std::vector<FlagSpec>& specs) {
  std::string out;
  for (const FlagSpec& spec : specs) {
    std::string left = absl::StrCat(spec.name.size() == 1 ? "  -" : "  --", spec.name,
                                    spec.value_name.empty() ? "" : " ", spec.value_name);
    if (left.size() < 26) left.resize(26, ' ');
    else absl::StrAppend(&left, "\n", std::string(26, ' '));
    absl::StrAppend(&out, left, spec.help,
                    spec.default_text.empty() ? "" : absl::StrCat(" (default: ", spec.default_text, ")"),
                    "\n");
  }
  return out;
}

std::vector<std::string> SplitList(absl::string_view text) {
  std::vector<std::string> items;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (!item.empty()) items.emplace_back(item);
  }
  return items;
}

}  // namespace flopd
