// One benchmark point: an op, one of its implementations, its parameters, a
// dtype and a size N. The unit a backend measures.
//
// A point names its op and impl as strings (what the wire, labels and files
// carry) and, once the catalog has resolved it (ResolvePoint in
// common/op_catalog.h, which PlanJob calls for every point), the Kernel that
// backends dispatch on. Names are compared only by the catalog and the wire
// layer; everything else switches on `kernel`.
#ifndef FLOPD_COMMON_POINT_H_
#define FLOPD_COMMON_POINT_H_

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "common/dtype.h"

namespace flopd {

using ParamMap = std::map<std::string, int64_t>;

// Every (op, impl) algorithm of the catalog, whichever backend runs it:
// defined in common/op_catalog.h beside the entries that name them. The zero
// value, Kernel::kNone, means "not resolved against the catalog".
enum class Kernel : int;

struct PointSpec {
  std::string op;
  std::string impl;
  ParamMap params;  // only the params the op declares, every one set
  DType dtype = DType::kF32;
  int64_t n = 0;
  Kernel kernel{};  // Kernel::kNone until ResolvePoint sets it

  // The value of `name`, or `fallback` when the op has no such param.
  int64_t Param(const std::string& name, int64_t fallback = 0) const;
  // "outer/fused axis=1 f32 N=2000"
  std::string Label() const;
  // "axis=1" (empty when the op has no params)
  std::string ParamsLabel() const;
};

// The identity of a point wherever results are grouped or matched: op, impl,
// params label, dtype, N (device and host are added by the caller).
using PointKey = std::tuple<std::string, std::string, std::string, std::string, int64_t>;
PointKey KeyOf(const PointSpec& point);

}  // namespace flopd

#endif  // FLOPD_COMMON_POINT_H_
