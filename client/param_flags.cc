#include "client/param_flags.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/op_catalog.h"
#include "common/sanitize.h"

namespace flopd {
namespace {

// The catalog's params by name, each with the ops that declare it.
struct NamedParam {
  const ParamSpec* spec = nullptr;
  std::vector<std::string> ops;
};

std::vector<NamedParam> CatalogParams() {
  std::vector<NamedParam> params;
  for (const OpSpec& op : OpCatalog()) {
    for (const ParamSpec& param : op.params) {
      auto it = std::find_if(params.begin(), params.end(),
                             [&](const NamedParam& p) { return p.spec->name == param.name; });
      if (it == params.end()) {
        params.push_back({&param, {op.name}});
      } else {
        it->ops.push_back(op.name);
      }
    }
  }
  return params;
}

}  // namespace

std::vector<FlagSpec> CatalogParamFlags() {
  std::vector<FlagSpec> flags;
  for (const NamedParam& param : CatalogParams()) {
    flags.push_back({param.spec->name, "V[,V...]",
                     absl::StrCat(absl::StrJoin(param.ops, ", "), ": ", param.spec->description,
                                  "; ", absl::StrJoin(param.spec->allowed_values, ", ")),
                     "all"});
  }
  return flags;
}

absl::StatusOr<std::vector<std::pair<std::string, std::vector<int64_t>>>> ParseCatalogParams(
    const ParsedFlags& flags) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> params;
  for (const NamedParam& param : CatalogParams()) {
    const std::string& name = param.spec->name;
    if (!flags.Has(name)) continue;
    std::vector<int64_t> values;
    for (const std::string& text : SplitList(flags.Get(name))) {
      int64_t value = 0;
      if (!absl::SimpleAtoi(text, &value)) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": '", Sanitized(text, kQuotedValueBytes),
                         "' is not allowed; allowed: ",
                         absl::StrJoin(param.spec->allowed_values, ", ")));
      }
      values.push_back(value);
    }
    params.emplace_back(name, values);
  }
  return params;
}

}  // namespace flopd
