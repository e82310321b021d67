#include "server/backend/cpu/cpu_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/op_catalog.h"
#include "common/point.h"
#include "common/verification.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

// Sizes around the kernels' boundaries: below, at and above the lane widths
// (32 and 64 f32 / 16 and 32 f64), the 64-byte line split between threads,
// and the f64 column block (2048); odd sizes give unaligned rows, odd row
// counts a row left over by the two-rows-at-a-time loops. (The fused
// kernel's own boundaries are in kFusedSizes below.)
const int64_t kSizes[] = {1, 2, 7, 31, 33, 63, 64, 65, 127, 1000, 1023, 1025, 2049};

PointSpec OuterPoint(DType dtype, int64_t n, int axis) {
  PointSpec point;
  point.op = "outer";
  point.impl = "fused";
  point.params["axis"] = axis;
  point.dtype = dtype;
  point.n = n;
  return *ResolvePoint(point);
}

template <typename T>
constexpr DType DTypeOf() {
  return sizeof(T) == 4 ? DType::kF32 : DType::kF64;
}

template <typename T>
class CpuKernelsTest : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CpuKernelsTest, ElementTypes);

// Every ISA this machine can run: the generic variant always, AVX2+FMA when
// the CPU has it, AVX-512F when it has that too. All are checked so the
// binary shipped to a host with fewer of them is tested here too.
std::vector<KernelIsa> RunnableIsas() {
  std::vector<KernelIsa> isas = {KernelIsa::kGeneric};
  if (BestKernelIsa() != KernelIsa::kGeneric) isas.push_back(KernelIsa::kAvx2Fma);
  if (BestKernelIsa() == KernelIsa::kAvx512F) isas.push_back(KernelIsa::kAvx512F);
  return isas;
}

std::string Context(int64_t n, int axis, int threads, KernelIsa isa) {
  return "N=" + std::to_string(n) + " axis=" + std::to_string(axis) +
         " threads=" + std::to_string(threads) + " isa=" + std::string(KernelIsaName(isa));
}

// The outer product of u and v as a matrix, in the element type: what the
// library gemm writes before the reduction.
template <typename T>
std::vector<T> OuterProduct(const std::vector<T>& u, const std::vector<T>& v) {
  const int64_t n = static_cast<int64_t>(u.size());
  std::vector<T> p(n * n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) p[i * n + j] = u[i] * v[j];
  }
  return p;
}

TYPED_TEST(CpuKernelsTest, ReductionsOfTheOuterProductMatchTheReference) {
  using T = TypeParam;
  for (int64_t n : kSizes) {
    std::vector<T> u(n), v(n);
    FillUniform(u.data(), n, kInputSeed);
    FillUniform(v.data(), n, kInputSeed + 1);
    const std::vector<T> p = OuterProduct(u, v);
    for (int axis : {0, 1}) {
      const PointSpec point = OuterPoint(DTypeOf<T>(), n, axis);
      const std::vector<double> reference = ReferenceResult<T>(point, {u.data(), v.data()});
      for (int threads : {1, 2, 3}) {
        for (KernelIsa isa : RunnableIsas()) {
          std::vector<T> out(n, std::numeric_limits<T>::quiet_NaN());
          if (axis == 0) {
            ReduceColumns(p.data(), n, out.data(), threads, isa);
          } else {
            ReduceRows(p.data(), n, out.data(), threads, isa);
          }
          const VerificationResult result = Verify(point, out.data(), reference);
          EXPECT_TRUE(result.passed) << Context(n, axis, threads, isa) << ": " << result.detail;
        }
      }
    }
  }
}

TYPED_TEST(CpuKernelsTest, FusedOuterSumMatchesTheReference) {
  using T = TypeParam;
  for (int64_t n : kSizes) {
    std::vector<T> u(n), v(n);
    FillUniform(u.data(), n, kInputSeed);
    FillUniform(v.data(), n, kInputSeed + 1);
    for (int axis : {0, 1}) {
      const PointSpec point = OuterPoint(DTypeOf<T>(), n, axis);
      const std::vector<double> reference = ReferenceResult<T>(point, {u.data(), v.data()});
      for (int threads : {1, 2, 3}) {
        for (KernelIsa isa : RunnableIsas()) {
          std::vector<T> out(n, std::numeric_limits<T>::quiet_NaN());
          FusedOuterSum(u.data(), v.data(), n, axis, out.data(), threads, isa);
          const VerificationResult result = Verify(point, out.data(), reference);
          EXPECT_TRUE(result.passed) << Context(n, axis, threads, isa) << ": " << result.detail;
        }
      }
    }
  }
}

// The fused kernel's boundaries: fewer products than its 4 partial sums
// (1-3), N mod 4 leftovers, the 8/4-lane AVX2 register, the 3-register AVX2
// block (24 f32 / 12 f64) and its padded 2- or 3-register tail, thread parts
// of whole 64-byte lines, and the awkward sizes of issue 12 (1, 7, 33, 1000,
// 4001). (The AVX-512F block's, 96 f32 / 48 f64, are in kAvx512Sizes below.)
const int64_t kFusedSizes[] = {1, 2, 3, 4, 5, 7, 11, 12, 13, 23, 24, 25, 33, 49, 1000, 4001};

TYPED_TEST(CpuKernelsTest, FusedOuterSumMatchesTheReferenceAtAwkwardSizes) {
  using T = TypeParam;
  for (int64_t n : kFusedSizes) {
    std::vector<T> u(n), v(n);
    FillUniform(u.data(), n, kInputSeed);
    FillUniform(v.data(), n, kInputSeed + 1);
    for (int axis : {0, 1}) {
      const PointSpec point = OuterPoint(DTypeOf<T>(), n, axis);
      const std::vector<double> reference = ReferenceResult<T>(point, {u.data(), v.data()});
      for (int threads : {1, 2, 3}) {
        for (KernelIsa isa : RunnableIsas()) {
          std::vector<T> out(n, std::numeric_limits<T>::quiet_NaN());
          FusedOuterSum(u.data(), v.data(), n, axis, out.data(), threads, isa);
          const VerificationResult result = Verify(point, out.data(), reference);
          EXPECT_TRUE(result.passed) << Context(n, axis, threads, isa) << ": " << result.detail;
        }
      }
    }
  }
}

// The sum order that cpu_kernels.h documents (and the catalog's description
// states), computed here one output at a time in the element type:
// out[o] = sum_k s[k] * x[o] over 4 partial sums by k mod 4, each started at
// its first product and continued in increasing k, then (p0 + p1) + (p2 +
// p3). `fused`: each later product is added by one fused multiply-add
// (std::fma, correctly rounded as the hardware's); else multiplied, rounded,
// then added. (This file is built for baseline x86-64, which has no FMA
// instruction for the compiler to contract a * b + c into.)
template <typename T>
std::vector<T> DocumentedOrder(const std::vector<T>& x, const std::vector<T>& s, bool fused) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<T> out(n);
  for (int64_t o = 0; o < n; ++o) {
    T p[4] = {};
    const int64_t used = std::min<int64_t>(n, 4);
    for (int64_t r = 0; r < used; ++r) p[r] = s[r] * x[o];
    for (int64_t k = 4; k < n; ++k) {
      if (fused) {
        p[k % 4] = std::fma(s[k], x[o], p[k % 4]);
      } else {
        const T product = s[k] * x[o];
        p[k % 4] = p[k % 4] + product;
      }
    }
    T sum = p[0];
    if (used >= 2) sum = p[0] + p[1];
    if (used == 3) sum = sum + p[2];
    if (used == 4) sum = sum + (p[2] + p[3]);
    out[o] = sum;
  }
  return out;
}

// Pins the arithmetic: every output bit for bit as the documented order
// gives it, on both axes (axis 0 owns v and sums u, axis 1 owns u and sums
// v), every thread split and ISA; so the two axes do the same work, and a
// change of the order shows here (then update cpu_kernels.h and the
// catalog's description with it).
TYPED_TEST(CpuKernelsTest, FusedOuterSumAddsInTheDocumentedOrder) {
  using T = TypeParam;
#if !defined(__x86_64__) && !defined(__i386__)
  GTEST_SKIP() << "the generic variant's mul + add may be contracted into an FMA off x86";
#endif
  for (int64_t n : kFusedSizes) {
    std::vector<T> u(n), v(n);
    FillUniform(u.data(), n, kInputSeed + 2);
    FillUniform(v.data(), n, kInputSeed + 3);
    for (KernelIsa isa : RunnableIsas()) {
      const bool fused = isa != KernelIsa::kGeneric;
      const std::vector<T> columns = DocumentedOrder(v, u, fused);  // axis 0
      const std::vector<T> rows = DocumentedOrder(u, v, fused);     // axis 1
      for (int threads : {1, 2, 3}) {
        for (int axis : {0, 1}) {
          const std::vector<T>& expected = axis == 0 ? columns : rows;
          std::vector<T> out(n, std::numeric_limits<T>::quiet_NaN());
          FusedOuterSum(u.data(), v.data(), n, axis, out.data(), threads, isa);
          for (int64_t k = 0; k < n; ++k) {
            ASSERT_EQ(out[k], expected[k]) << Context(n, axis, threads, isa) << " k=" << k;
          }
        }
      }
      // Axis 1 is axis 0 with u and v swapped, bit for bit.
      std::vector<T> axis1(n), swapped(n);
      FusedOuterSum(u.data(), v.data(), n, 1, axis1.data(), 2, isa);
      FusedOuterSum(v.data(), u.data(), n, 0, swapped.data(), 2, isa);
      for (int64_t k = 0; k < n; ++k) ASSERT_EQ(axis1[k], swapped[k]) << "N=" << n << " k=" << k;
    }
  }
}

// A general matrix (not an outer product), checked exactly: with small
// integers every partial sum is exact, so any order of additions gives the
// same answer and a missing or doubled term shows as a wrong integer. 4097
// crosses the column block of f32 (4096) on one thread, 2100 that of f64.
TYPED_TEST(CpuKernelsTest, ReductionsSumEveryElementExactlyOnce) {
  using T = TypeParam;
  for (int64_t n : {1, 5, 64, 65, 130, 1023, 2100, 4097}) {
    std::vector<T> p(n * n);
    std::vector<T> column_sums(n, T{0}), row_sums(n, T{0});
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        const T value = static_cast<T>((i * 7 + j * 3) % 11);
        p[i * n + j] = value;
        column_sums[j] += value;
        row_sums[i] += value;
      }
    }
    for (int threads : {1, 2}) {
      if (n == 4097 && threads != 1) continue;  // big: once is enough
      for (KernelIsa isa : RunnableIsas()) {
        std::vector<T> columns(n, std::numeric_limits<T>::quiet_NaN());
        std::vector<T> rows(n, std::numeric_limits<T>::quiet_NaN());
        ReduceColumns(p.data(), n, columns.data(), threads, isa);
        ReduceRows(p.data(), n, rows.data(), threads, isa);
        for (int64_t k = 0; k < n; ++k) {
          ASSERT_EQ(columns[k], column_sums[k]) << Context(n, 0, threads, isa) << " j=" << k;
          ASSERT_EQ(rows[k], row_sums[k]) << Context(n, 1, threads, isa) << " i=" << k;
        }
      }
    }
  }
}

// Every product u_i * v_j is formed: with u_i = 1 and v_j = 1 except one
// u_i = 2, the column sums are N + 1 for every column and the row sums are N
// except 2N for that row; an algebraic shortcut would pass this too, but a
// skipped product or a double-counted one would not.
TYPED_TEST(CpuKernelsTest, FusedOuterSumUsesEveryProductOnce) {
  using T = TypeParam;
  for (int64_t n : {1, 3, 64, 100, 1025}) {
    std::vector<T> u(n, T{1}), v(n, T{1});
    const int64_t special = n / 2;
    u[special] = T{2};
    std::vector<T> columns(n), rows(n);
    FusedOuterSum(u.data(), v.data(), n, 0, columns.data(), 2);
    FusedOuterSum(u.data(), v.data(), n, 1, rows.data(), 2);
    for (int64_t k = 0; k < n; ++k) {
      ASSERT_EQ(columns[k], static_cast<T>(n + 1)) << "N=" << n << " j=" << k;
      ASSERT_EQ(rows[k], static_cast<T>(k == special ? 2 * n : n)) << "N=" << n << " i=" << k;
    }
  }
}

// Same-FLOP honesty: the fused kernel forms every product u_i * v_j and
// sums the products; it does not factor the sum (v_j * sum_i u_i). Inputs
// whose every product underflows tell the two apart exactly: in f32, u =
// 2^-75 and v = 2^-76 give u * v = 2^-151, below half the smallest
// denormal (2^-149), so each product rounds to exactly 0 and the honest sums
// are exactly 0; the factored form gives N * 2^-151, a non-zero denormal
// for N >= 3 (2^-540 each in f64: 2^-1080 against the smallest denormal
// 2^-1074, N * 2^-1080 non-zero for N >= 33). An FMA forms u * v exactly,
// but adds it to a running sum that is 0 when it starts at a product, so
// the result is 0 too. The fp64 reference in common/ is itself the factored
// sum, which is why verification cannot tell. Denormals must be kept (no
// fast-math's flush-to-zero), or the shortcut's sum would be 0 as well:
// checked first.
TYPED_TEST(CpuKernelsTest, FusedOuterSumFormsEveryProductTheyAllUnderflow) {
  using T = TypeParam;
  const T tiny = std::numeric_limits<T>::denorm_min();
  volatile T half_tiny_doubled = tiny * T{2};
  ASSERT_GT(half_tiny_doubled / T{2}, T{0}) << "denormals are flushed: the test cannot tell";
  const T u_value = sizeof(T) == 4 ? std::ldexp(T{1}, -75) : std::ldexp(T{1}, -540);
  const T v_value = sizeof(T) == 4 ? std::ldexp(T{1}, -76) : std::ldexp(T{1}, -540);
  // Sizes that take every path: tails shorter than a register block or a
  // lane set, whole blocks, pairs of rows and a row left over, several
  // threads' parts.
  for (int64_t n : {33, 64, 65, 127, 1000, 1025}) {
    const std::vector<T> u(n, u_value), v(n, v_value);
    // The shortcut's value, for the record: not zero, so a factored kernel fails.
    T sum_u = 0;
    for (int64_t i = 0; i < n; ++i) sum_u += u[i];
    ASSERT_NE(sum_u * v_value, T{0}) << "N=" << n;
    for (int axis : {0, 1}) {
      for (int threads : {1, 2, 3}) {
        for (KernelIsa isa : RunnableIsas()) {
          std::vector<T> out(n, std::numeric_limits<T>::quiet_NaN());
          FusedOuterSum(u.data(), v.data(), n, axis, out.data(), threads, isa);
          for (int64_t k = 0; k < n; ++k) {
            ASSERT_EQ(out[k], T{0}) << Context(n, axis, threads, isa) << " k=" << k
                                    << ": a sum of products that each underflow to 0";
          }
        }
      }
    }
  }
}

TYPED_TEST(CpuKernelsTest, VerifyCatchesOneWrongElement) {
  using T = TypeParam;
  const int64_t n = 1023;
  std::vector<T> u(n), v(n), out(n);
  FillUniform(u.data(), n, kInputSeed);
  FillUniform(v.data(), n, kInputSeed + 1);
  const PointSpec point = OuterPoint(DTypeOf<T>(), n, 0);
  const std::vector<double> reference = ReferenceResult<T>(point, {u.data(), v.data()});
  FusedOuterSum(u.data(), v.data(), n, 0, out.data(), 2);
  ASSERT_TRUE(Verify(point, out.data(), reference).passed);

  // One term dropped from one sum.
  out[517] -= u[3] * v[517];
  VerificationResult result = Verify(point, out.data(), reference);
  EXPECT_FALSE(result.passed);
  EXPECT_NE(result.detail.find("element 517"), std::string::npos) << result.detail;

  // One element never written.
  out[517] = std::numeric_limits<T>::quiet_NaN();
  result = Verify(point, out.data(), reference);
  EXPECT_FALSE(result.passed);
  EXPECT_NE(result.detail.find("element 517"), std::string::npos) << result.detail;
}

// ---------------------------------------------------------------------------
// The AVX-512F variants against the AVX2+FMA ones: the same arithmetic (one
// fused multiply-add per product or step, in the same order), so the same
// bits for every output whatever the register blocking; and against the
// generic variant (a multiplication and an addition each), within the
// verification tolerance, taking its result as the reference.

constexpr const char* kNoAvx512 =
    "this CPU lacks AVX-512F (or this build has no AVX-512F variant): nothing to compare";

template <typename T>
bool SameBits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <typename T>
std::vector<double> AsReference(const std::vector<T>& result) {
  return std::vector<double>(result.begin(), result.end());
}

// The AVX-512F fused kernel's boundaries: fewer outputs than its 4 partial
// sums or one register (16 f32 / 8 f64), its padded 2- to 5-register tails,
// the 6-register block (96 f32 / 48 f64) and one past it, and thread parts
// that end mid-block.
const int64_t kAvx512Sizes[] = {1, 2, 3, 4, 5, 17, 95, 96, 97, 1000, 1031};

TYPED_TEST(CpuKernelsTest, FusedOuterSumAvx512MatchesAvx2BitForBit) {
  using T = TypeParam;
  if (BestKernelIsa() != KernelIsa::kAvx512F) GTEST_SKIP() << kNoAvx512;
  for (int64_t n : kAvx512Sizes) {
    std::vector<T> u(n), v(n);
    FillUniform(u.data(), n, kInputSeed + 4);
    FillUniform(v.data(), n, kInputSeed + 5);
    for (int axis : {0, 1}) {
      const PointSpec point = OuterPoint(DTypeOf<T>(), n, axis);
      const std::vector<double> reference = ReferenceResult<T>(point, {u.data(), v.data()});
      for (int threads : {1, 3}) {
        const std::string where = Context(n, axis, threads, KernelIsa::kAvx512F);
        std::vector<T> avx512(n, std::numeric_limits<T>::quiet_NaN());
        std::vector<T> avx2(n, std::numeric_limits<T>::quiet_NaN());
        std::vector<T> generic(n, std::numeric_limits<T>::quiet_NaN());
        FusedOuterSum(u.data(), v.data(), n, axis, avx512.data(), threads, KernelIsa::kAvx512F);
        FusedOuterSum(u.data(), v.data(), n, axis, avx2.data(), threads, KernelIsa::kAvx2Fma);
        FusedOuterSum(u.data(), v.data(), n, axis, generic.data(), threads, KernelIsa::kGeneric);
        // Every output written and right (NaN-poisoned outputs fail here,
        // even where both variants left the same NaN).
        VerificationResult result = Verify(point, avx512.data(), reference);
        EXPECT_TRUE(result.passed) << where << ": " << result.detail;
        for (int64_t k = 0; k < n; ++k) {
          ASSERT_TRUE(SameBits(avx512[k], avx2[k]))
              << where << " k=" << k << ": avx512f " << avx512[k] << ", avx2+fma " << avx2[k];
        }
        result = Verify(point, avx512.data(), AsReference(generic));
        EXPECT_TRUE(result.passed) << where << " against generic: " << result.detail;
      }
    }
  }
}

PointSpec ChainPoint(DType dtype, int64_t n, int64_t k, bool fused) {
  PointSpec point;
  point.op = "chain";
  point.impl = fused ? "fused" : "unfused";
  point.params["k"] = k;
  point.dtype = dtype;
  point.n = n;
  return *ResolvePoint(point);
}

// The chain's boundaries: the scalar tail (< 16 f32 / 8 f64 with AVX-512F,
// < 8 / 4 with AVX2), single registers, and the 12-register blocks (192 f32
// / 96 f64 with AVX-512F, 96 / 48 with AVX2) and one past them; k = 1 (one
// pass either way), 4 and 256 (the longest chain).
TYPED_TEST(CpuKernelsTest, ChainStepsAvx512MatchesAvx2BitForBit) {
  using T = TypeParam;
  if (BestKernelIsa() != KernelIsa::kAvx512F) GTEST_SKIP() << kNoAvx512;
  for (int64_t n : {1, 7, 15, 17, 95, 96, 97, 191, 192, 193, 1000, 1031}) {
    std::vector<T> x(n);
    FillUniform(x.data(), n, kInputSeed + 6);
    for (int64_t k : {1, 4, 256}) {
      for (int threads : {1, 3}) {
        std::vector<T> fused_avx512;
        for (bool fused : {true, false}) {
          const PointSpec point = ChainPoint(DTypeOf<T>(), n, k, fused);
          const std::vector<double> reference = ReferenceResult<T>(point, {x.data()});
          const std::string where = "N=" + std::to_string(n) + " k=" + std::to_string(k) +
                                    " threads=" + std::to_string(threads) +
                                    (fused ? " fused" : " unfused");
          std::vector<T> avx512(n, std::numeric_limits<T>::quiet_NaN());
          std::vector<T> avx2(n, std::numeric_limits<T>::quiet_NaN());
          std::vector<T> generic(n, std::numeric_limits<T>::quiet_NaN());
          ChainSteps(x.data(), n, k, fused, avx512.data(), threads, KernelIsa::kAvx512F);
          ChainSteps(x.data(), n, k, fused, avx2.data(), threads, KernelIsa::kAvx2Fma);
          ChainSteps(x.data(), n, k, fused, generic.data(), threads, KernelIsa::kGeneric);
          VerificationResult result = Verify(point, avx512.data(), reference);
          EXPECT_TRUE(result.passed) << where << ": " << result.detail;
          for (int64_t i = 0; i < n; ++i) {
            ASSERT_TRUE(SameBits(avx512[i], avx2[i]))
                << where << " i=" << i << ": avx512f " << avx512[i] << ", avx2+fma " << avx2[i];
          }
          result = Verify(point, avx512.data(), AsReference(generic));
          EXPECT_TRUE(result.passed) << where << " against generic: " << result.detail;
          // Fused and unfused do the same arithmetic too.
          if (fused) {
            fused_avx512 = avx512;
          } else {
            for (int64_t i = 0; i < n; ++i) {
              ASSERT_TRUE(SameBits(avx512[i], fused_avx512[i])) << where << " i=" << i;
            }
          }
        }
      }
    }
  }
}

TEST(KernelIsaTest, NamesTheIsa) {
  EXPECT_EQ(KernelIsaName(KernelIsa::kGeneric), "generic");
  EXPECT_EQ(KernelIsaName(KernelIsa::kAvx2Fma), "avx2+fma");
  EXPECT_EQ(KernelIsaName(KernelIsa::kAvx512F), "avx512f");
  const KernelIsa best = BestKernelIsa();
  const bool avx2 = __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("fma") != 0;
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") != 0;
  EXPECT_EQ(best == KernelIsa::kAvx512F, avx512);
  EXPECT_EQ(best == KernelIsa::kAvx2Fma, avx2 && !avx512);
  EXPECT_EQ(best == KernelIsa::kGeneric, !avx2);
}

}  // namespace
}  // namespace flopd
