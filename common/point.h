// One benchmark point: an op, one of its implementations, its parameters, a
// dtype and a size N. The unit a backend measures.
#ifndef FLOPD_COMMON_POINT_H_
#define FLOPD_COMMON_POINT_H_

#include <cstdint>
#include <map>
#include <string>

#include "common/dtype.h"

namespace flopd {

using ParamMap = std::map<std::string, int64_t>;

struct PointSpec {
  std::string op;
  std::string impl;
  ParamMap params;  // only the params the op declares, every one set
  DType dtype = DType::kF32;
  int64_t n = 0;

  // The value of `name`, or `fallback` when the op has no such param.
  int64_t Param(const std::string& name, int64_t fallback = 0) const;
  // "outer/fused axis=1 f32 N=2000"
  std::string Label() const;
  // "axis=1" (empty when the op has no params)
  std::string ParamsLabel() const;
};

}  // namespace flopd

#endif  // FLOPD_COMMON_POINT_H_
