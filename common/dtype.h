// Element types flopd can benchmark. Pure domain code: no gRPC, no CUDA.
#ifndef FLOPD_COMMON_DTYPE_H_
#define FLOPD_COMMON_DTYPE_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace flopd {

enum class DType { kF32, kF64 };

// "f32" | "f64".
absl::string_view DTypeName(DType dtype);
// Bytes per element.
int64_t DTypeSize(DType dtype);
// Unit roundoff (half a unit in the last place): 2^-24 for f32, 2^-53 for f64.
double DTypeUnitRoundoff(DType dtype);
// Parses "f32"/"f64" (also "float32"/"float64"). On failure: INVALID_ARGUMENT
// naming `field` and the allowed values.
absl::StatusOr<DType> ParseDType(absl::string_view text, absl::string_view field = "dtype");
// "f32, f64".
std::string AllowedDTypes();

}  // namespace flopd

#endif  // FLOPD_COMMON_DTYPE_H_
