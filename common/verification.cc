#include "common/verification.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/uniform_input.h"

namespace flopd {

template <typename T>
void FillUniform(T* data, int64_t count, uint64_t seed) {
  for (int64_t i = 0; i < count; ++i) data[i] = UniformInputAs<T>(seed, i);
}

template <typename T>
std::vector<double> ReferenceResult(const PointSpec& point, const std::vector<const T*>& inputs) {
  const int64_t n = point.n;
  std::vector<double> ref(n, 0.0);
  if (point.op == "matvec") {
    const T* a = inputs[0];
    const T* x = inputs[1];
    for (int64_t i = 0; i < n; ++i) {
      double sum = 0;
      const T* row = a + i * n;
      for (int64_t j = 0; j < n; ++j) sum += static_cast<double>(row[j]) * x[j];
      ref[i] = sum;
    }
    return ref;
  }
  // outer: the reference may factor the sum (in fp64 it changes nothing that
  // matters); the implementations under test may not.
  const T* u = inputs[0];
  const T* v = inputs[1];
  const bool column_sums = point.Param("axis") == 0;
  const T* summed = column_sums ? u : v;
  const T* scaled = column_sums ? v : u;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += summed[i];
  for (int64_t i = 0; i < n; ++i) ref[i] = total * static_cast<double>(scaled[i]);
  return ref;
}

double VerificationTolerance(const PointSpec& point) {
  return 8.0 * std::sqrt(static_cast<double>(point.n) + 2.0) * DTypeUnitRoundoff(point.dtype);
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
template std::vector<double> ReferenceResult<float>(const PointSpec&, const std::vector<const float*>&);
template std::vector<double> ReferenceResult<double>(const PointSpec&,
                                                     const std::vector<const double*>&);
template VerificationResult Verify<float>(const PointSpec&, const float*, const std::vector<double>&);
template VerificationResult Verify<double>(const PointSpec&, const double*,
                                           const std::vector<double>&);

}  // namespace flopd
