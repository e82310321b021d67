// Tests of the CPU attention kernels: both forms, f32 and f64, d = 64 and
// 128, odd and even N, 1 and 3 threads, every ISA this machine runs, against
// an fp64 host reference.
#include "server/backend/cpu/attention_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/verification.h"
#include "gtest/gtest.h"

extern "C" void openblas_set_num_threads(int num_threads);  // cblas.h

namespace flopd {
namespace {

const int64_t kSizes[] = {1, 3, 67, 130, 257, 1024};

// The op in fp64 on the T inputs, with the op's scale T(1 / sqrt(d)) (the
// rounded value, so its rounding is no error of the kernels).
template <typename T>
std::vector<double> ReferenceAttention(const std::vector<T>& q, const std::vector<T>& k,
                                       const std::vector<T>& v, int64_t n, int d) {
  const double scale = static_cast<double>(static_cast<T>(1.0 / std::sqrt(static_cast<double>(d))));
  std::vector<double> out(n * d);
  std::vector<double> e(n);
  for (int64_t i = 0; i < n; ++i) {
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (int c = 0; c < d; ++c) {
        dot += static_cast<double>(q[i * d + c]) * static_cast<double>(k[j * d + c]);
      }
      e[j] = dot * scale;
      m = std::max(m, e[j]);
    }
    double l = 0;
    for (int64_t j = 0; j < n; ++j) {
      e[j] = std::exp(e[j] - m);
      l += e[j];
    }
    for (int c = 0; c < d; ++c) {
      double o = 0;
      for (int64_t j = 0; j < n; ++j) o += e[j] * static_cast<double>(v[j * d + c]);
      out[i * d + c] = o / l;
    }
  }
  return out;
}

// Tolerance on the max relative error of an output:
//   8 * sqrt(N + 2) * u * (1 + sqrt(d) / 2)
// 8 * sqrt(N + 2) * u is flopd's bound for sums of N positive terms (l_i and
// the sums of e * v; verification.h). The factor is for exp: a weight
// e_ij = exp(s_ij - m_i) carries the absolute error of the scores as its
// relative error, and a score s ~ sqrt(d) (inputs in [0.5, 1.5): 8 to 11
// here) comes from a d-term dot product of positive terms whose relative
// error walks like ~sqrt(d) u / 3, so a weight is off by ~d u / 3 (21 u for
// d = 64, 43 u for d = 128) whatever N is. The output, a weighted mean of V,
// inherits that (at small N undiminished by averaging). The base allows 14 u
// at N = 1..3; times 1 + sqrt(d) / 2 (5 and 6.7) it allows 69 and 93 u, and
// more as N grows while the weight errors average out. (Measured on x86:
// at most 0.2 of this tolerance, the worst at N = 3; N = 1 is exact.)
template <typename T>
double AttentionTolerance(int64_t n, int d) {
  const double u = std::numeric_limits<T>::epsilon() / 2;
  return 8 * std::sqrt(static_cast<double>(n) + 2) * u *
         (1 + std::sqrt(static_cast<double>(d)) / 2);
}

template <typename T>
double MaxRelativeError(const std::vector<T>& got, const std::vector<double>& want) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - want[i]) / std::abs(want[i]);
    if (!(err <= worst)) worst = err;  // NaN sticks
  }
  return worst;
}

// Every ISA this machine can run (kAvx512F runs the AVX2+FMA build here).
std::vector<KernelIsa> RunnableIsas() {
  std::vector<KernelIsa> isas = {KernelIsa::kGeneric};
  if (BestKernelIsa() != KernelIsa::kGeneric) isas.push_back(KernelIsa::kAvx2Fma);
  if (BestKernelIsa() == KernelIsa::kAvx512F) isas.push_back(KernelIsa::kAvx512F);
  return isas;
}

template <typename T>
class AttentionKernelsTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(AttentionKernelsTest, ElementTypes);

TYPED_TEST(AttentionKernelsTest, BothFormsMatchTheReference) {
  using T = TypeParam;
  double worst_materialized = 0;  // max error / tolerance, for the log
  double worst_fused = 0;
  for (int d : {64, 128}) {
    for (int64_t n : kSizes) {
      std::vector<T> q(n * d), k(n * d), v(n * d);
      FillUniform(q.data(), n * d, kInputSeed + 0);
      FillUniform(k.data(), n * d, kInputSeed + 1);
      FillUniform(v.data(), n * d, kInputSeed + 2);
      const std::vector<double> want = ReferenceAttention(q, k, v, n, d);
      const double tolerance = AttentionTolerance<T>(n, d);
      for (int threads : {1, 3}) {
        const std::string where =
            absl::StrCat(sizeof(T) == 4 ? "f32" : "f64", " d=", d, " N=", n, " threads=", threads);
        {
          openblas_set_num_threads(threads);
          std::vector<T> scratch(AttentionMaterializedScratch(n), std::numeric_limits<T>::quiet_NaN());
          std::vector<T> out(n * d, std::numeric_limits<T>::quiet_NaN());
          AttentionMaterialized(q.data(), k.data(), v.data(), n, d, scratch.data(), out.data(),
                                threads);
          const double err = MaxRelativeError(out, want);
          EXPECT_LE(err, tolerance) << "materialized " << where;
          worst_materialized = std::max(worst_materialized, err / tolerance);
        }
        for (KernelIsa isa : RunnableIsas()) {
          std::vector<T> out(n * d + 64, std::numeric_limits<T>::quiet_NaN());
          AttentionFused(q.data(), k.data(), v.data(), n, d, out.data(), threads, isa);
          const double err = MaxRelativeError(out, want);  // the first n * d
          EXPECT_LE(err, tolerance) << "fused " << KernelIsaName(isa) << " " << where;
          worst_fused = std::max(worst_fused, err / tolerance);
          for (int64_t i = n * d; i < n * d + 64; ++i) {
            ASSERT_TRUE(std::isnan(out[i])) << "fused wrote out[" << i << "], " << where;
          }
        }
      }
    }
  }
  std::printf("worst error / tolerance: materialized %.3g, fused %.3g\n", worst_materialized,
              worst_fused);
}

// The two thread counts split the rows differently; each row's arithmetic is
// the same, so the results are the same bits.
TYPED_TEST(AttentionKernelsTest, FusedResultDoesNotDependOnThreads) {
  using T = TypeParam;
  const int64_t n = 300;
  for (int d : {64, 128}) {
    std::vector<T> q(n * d), k(n * d), v(n * d);
    FillUniform(q.data(), n * d, kInputSeed + 0);
    FillUniform(k.data(), n * d, kInputSeed + 1);
    FillUniform(v.data(), n * d, kInputSeed + 2);
    for (KernelIsa isa : RunnableIsas()) {
      std::vector<T> one(n * d), three(n * d);
      AttentionFused(q.data(), k.data(), v.data(), n, d, one.data(), 1, isa);
      AttentionFused(q.data(), k.data(), v.data(), n, d, three.data(), 3, isa);
      EXPECT_EQ(one, three) << "d=" << d << " isa=" << KernelIsaName(isa);
    }
  }
}

}  // namespace
}  // namespace flopd
