#include "common/size_spec.h"

#include <string>
#include <unordered_set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/sanitize.h"

namespace flopd {
namespace {

absl::Status SpecError(absl::string_view spec, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("sizes: malformed size spec '",
                                                 Sanitized(spec, kQuotedValueBytes), "': ", why,
                                                 ". Expected ", kSizeSpecHelp));
}

absl::StatusOr<int64_t> ParseInteger(absl::string_view spec, absl::string_view text,
                                     absl::string_view what) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &value)) {
    return SpecError(spec, absl::StrCat(what, " '", Sanitized(text, kQuotedValueBytes),
                                              "' is not an integer"));
  }
  return value;
}

absl::Status CheckN(absl::string_view spec, int64_t n) {
  if (n <= 0) return SpecError(spec, absl::StrCat("N must be >= 1, got ", n));
  if (n > kMaxN) return SpecError(spec, absl::StrCat("N must be <= ", kMaxN, ", got ", n));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<int64_t>> ParseSizeSpec(absl::string_view spec) {
  if (absl::StripAsciiWhitespace(spec).empty()) return SpecError(spec, "it is empty");
  std::vector<int64_t> sizes;
  std::unordered_set<int64_t> seen;
  auto add = [&](int64_t n) -> absl::Status {
    if (!seen.insert(n).second) return absl::OkStatus();
    if (static_cast<int64_t>(sizes.size()) >= kMaxSizesPerSpec) {
      return SpecError(spec, absl::StrCat("it expands to more than ", kMaxSizesPerSpec, " sizes"));
    }
    sizes.push_back(n);
    return absl::OkStatus();
  };
  for (absl::string_view item : absl::StrSplit(spec, ',')) {
    if (absl::StripAsciiWhitespace(item).empty()) return SpecError(spec, "it has an empty item");
    std::vector<absl::string_view> parts = absl::StrSplit(item, ':');
    if (parts.size() == 1) {
      absl::StatusOr<int64_t> n = ParseInteger(spec, parts[0], "size");
      if (!n.ok()) return n.status();
      if (absl::Status s = CheckN(spec, *n); !s.ok()) return s;
      if (absl::Status s = add(*n); !s.ok()) return s;
      continue;
    }
    if (parts.size() != 3) {
      return SpecError(spec, absl::StrCat("range '", Sanitized(item, kQuotedValueBytes),
                                             "' needs exactly start:stop:step"));
    }
    absl::StatusOr<int64_t> start = ParseInteger(spec, parts[0], "start");
    if (!start.ok()) return start.status();
    absl::StatusOr<int64_t> stop = ParseInteger(spec, parts[1], "stop");
    if (!stop.ok()) return stop.status();
    absl::StatusOr<int64_t> step = ParseInteger(spec, parts[2], "step");
    if (!step.ok()) return step.status();
    if (absl::Status s = CheckN(spec, *start); !s.ok()) return s;
    if (*stop > kMaxN + 1) {
      return SpecError(spec, absl::StrCat("stop must be <= ", kMaxN + 1, ", got ", *stop));
    }
    if (*step <= 0) return SpecError(spec, absl::StrCat("step must be >= 1, got ", *step));
    if (*stop <= *start) {
      return SpecError(spec, absl::StrCat("range '", Sanitized(item, kQuotedValueBytes),
                                          "' is empty: stop (exclusive) must be "
                                          "greater than start"));
    }
    for (int64_t n = *start; n < *stop; n = *step < *stop - n ? n + *step : *stop) {
      if (absl::Status s = add(n); !s.ok()) return s;
    }
  }
  return sizes;
}

}  // namespace flopd
