// Inputs and fp64 references for every op, and the check of a result against
// them. Backends fill inputs with FillUniform (fixed seed, never zeros),
// poison their outputs with NaN before the verified execution, and call
// Verify on what came back.
#ifndef FLOPD_COMMON_VERIFICATION_H_
#define FLOPD_COMMON_VERIFICATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/point.h"

namespace flopd {

struct VerificationResult {
  bool passed = false;
  double max_rel_error = 0;
  double tolerance = 0;
  std::string detail;  // empty when passed
};

// The seed every input buffer is drawn from, offset per buffer.
inline constexpr uint64_t kInputSeed = 20000;

// Fills `data[0..count)` with UniformInput(seed, i): uniform in [0.5, 1.5),
// deterministic, no zeros, no cancellation (the sums stay well conditioned
// so the tolerance can be tight). Element i does not depend on any other, so
// backends may instead compute UniformInput directly, in parallel or on a
// GPU, and get the same values.
template <typename T>
void FillUniform(T* data, int64_t count, uint64_t seed);

// The fp64 reference of the point's op (the catalog's OpSpec::reference_*)
// on its input buffers, given in the element type of the point, in the order
// and sizes of InputCounts(point) (common/op_catalog.h). REQUIRES: point
// resolved.
template <typename T>
std::vector<double> ReferenceResult(const PointSpec& point, const std::vector<const T*>& inputs);

// Tolerance on the max elementwise relative error of a point:
// 8 * sqrt(T + 2) * u (u = unit roundoff of the dtype; T = the op's
// error_terms, the terms of its longest sum or its rounding chain: N for
// matvec and outer, 64k for chain (op_catalog.cc says why); N for an
// unresolved point). Rounding errors of a
// sum of N positive terms add up like a random walk, ~sqrt(N/3) * u; this is
// about 10x that, far below the worst-case bound N * u, so a wrong index, an
// unwritten element or a skipped block fails (a single dropped term out of N,
// relative error ~1/N, is caught while 1/N > 8 sqrt(N) u: N < ~9000 for f32).
double VerificationTolerance(const PointSpec& point);

// Compares `out[0..n)` with `reference`. NaN or Inf anywhere fails (outputs
// are poisoned with NaN, so an unwritten element fails).
template <typename T>
VerificationResult Verify(const PointSpec& point, const T* out, const std::vector<double>& reference);

}  // namespace flopd

#endif  // FLOPD_COMMON_VERIFICATION_H_
