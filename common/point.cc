#include "common/point.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace flopd {

int64_t PointSpec::Param(const std::string& name, int64_t fallback) const {
  auto it = params.find(name);
  return it == params.end() ? fallback : it->second;
}

std::string PointSpec::ParamsLabel() const {
  return absl::StrJoin(params, " ", absl::PairFormatter("="));
}

std::string PointSpec::Label() const {
  std::string params_label = ParamsLabel();
  return absl::StrCat(op, "/", impl, params_label.empty() ? "" : " ", params_label, " ",
                      DTypeName(dtype), " N=", n);
}

PointKey KeyOf(const PointSpec& point) {
  return PointKey{point.op, point.impl, point.ParamsLabel(), std::string(DTypeName(point.dtype)),
                  point.n};
}

}  // namespace flopd
