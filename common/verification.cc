#include "common/verification.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/op_catalog.h"
#include "common/uniform_input.h"

namespace flopd {
template <typename T>
void FillUniform(T* data, int64_t count, uint64_t seed) {
  for (int64_t i = 0; i < count; ++i) data[i] = UniformInputAs<T>(seed, i);
}

template <>
std::vector<double> ReferenceResult<float>(const PointSpec& point,
                                           const std::vector<const float*>& inputs) {
  return OpOf(point.kernel).reference_f32(point, inputs);
}

template <>
std::vector<double> ReferenceResult<double>(const PointSpec& point,
                                            const std::vector<const double*>& inputs) {
  return OpOf(point.kernel).reference_f64(point, inputs);
}

double VerificationTolerance(const PointSpec& point) {
  const double terms = point.kernel == Kernel::kNone
                           ? static_cast<double>(point.n)
                           : static_cast<double>(OpOf(point.kernel).error_terms.Evaluate(point));
  return 8.0 * std::sqrt(terms + 2.0) * DTypeUnitRoundoff(point.dtype);
}

template <typename T>
VerificationResult Verify(const PointSpec& point, const T* out, const std::vector<double>& reference) {
  VerificationResult result;
  result.tolerance = VerificationTolerance(point);
  int64_t worst = -1;
  for (int64_t i = 0; i < static_cast<int64_t>(reference.size()); ++i) {
    const double value = static_cast<double>(out[i]);
    if (!std::isfinite(value)) {
      result.max_rel_error = std::numeric_limits<double>::infinity();
      result.detail = absl::StrCat("element ", i, " is ", value, " (expected ", reference[i],
                                   "): not written or overflowed");
      return result;
    }
    const double rel = std::fabs(value - reference[i]) / std::fabs(reference[i]);
    if (rel > result.max_rel_error || worst < 0) {
      result.max_rel_error = rel;
      worst = i;
    }
  }
  result.passed = result.max_rel_error <= result.tolerance;
  if (!result.passed) {
    result.detail = absl::StrCat("element ", worst, " is ", static_cast<double>(out[worst]),
                                 ", expected ", reference[worst], " (relative error ",
                                 result.max_rel_error, " > tolerance ", result.tolerance, ")");
  }
  return result;
}

template void FillUniform<float>(float*, int64_t, uint64_t);
template void FillUniform<double>(double*, int64_t, uint64_t);
template VerificationResult Verify<float>(const PointSpec&, const float*, const std::vector<double>&);
template VerificationResult Verify<double>(const PointSpec&, const double*,
                                           const std::vector<double>&);

}  // namespace flopd
