#include "common/dtype.h"

#include "absl/strings/str_cat.h"
#include "common/sanitize.h"

namespace flopd {

absl::string_view DTypeName(DType dtype) { return dtype == DType::kF32 ? "f32" : "f64"; }

int64_t DTypeSize(DType dtype) { return dtype == DType::kF32 ? 4 : 8; }

double DTypeUnitRoundoff(DType dtype) {
  return dtype == DType::kF32 ? 5.9604644775390625e-08 : 1.1102230246251565e-16;
}

std::string AllowedDTypes() { return "f32, f64"; }

absl::StatusOr<DType> ParseDType(absl::string_view text, absl::string_view field) {
  if (text == "f32" || text == "float32") return DType::kF32;
  if (text == "f64" || text == "float64") return DType::kF64;
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": unknown dtype '", Sanitized(text, kQuotedValueBytes), "'; allowed: ",
                   AllowedDTypes()));
}

}  // namespace flopd
