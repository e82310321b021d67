#include "common/verification.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/op_catalog.h"
#include "common/uniform_input.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

PointSpec Matvec(DType dtype, int64_t n) {
  return *ResolvePoint(PointSpec{"matvec", "gemv", {}, dtype, n});
}
PointSpec Outer(int64_t axis, DType dtype, int64_t n) {
  return *ResolvePoint(PointSpec{"outer", "fused", {{"axis", axis}}, dtype, n});
}

template <typename T>
std::vector<T> Uniform(int64_t count, uint64_t seed) {
  std::vector<T> data(count);
  FillUniform(data.data(), count, seed);
  return data;
}

// What a correct implementation computes, in T throughout: the naive row-wise
// dot products (or, with `transpose`, those of A^T, a classic index bug).
template <typename T>
std::vector<T> NaiveMatvec(const std::vector<T>& a, const std::vector<T>& x,
                           bool transpose = false) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<T> y(n);
  for (int64_t i = 0; i < n; ++i) {
    T sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += (transpose ? a[j * n + i] : a[i * n + j]) * x[j];
    y[i] = sum;
  }
  return y;
}

// The outer op as its implementations must do it: every product u_i * v_j
// formed and summed, no factoring.
template <typename T>
std::vector<T> NaiveOuter(const std::vector<T>& u, const std::vector<T>& v, int64_t axis) {
  const int64_t n = static_cast<int64_t>(u.size());
  std::vector<T> out(n);
  for (int64_t k = 0; k < n; ++k) {
    T sum = 0;
    for (int64_t m = 0; m < n; ++m) sum += axis == 0 ? u[m] * v[k] : u[k] * v[m];
    out[k] = sum;
  }
  return out;
}

TEST(FillUniformTest, DeterministicPerSeed) {
  EXPECT_EQ(Uniform<float>(1000, kInputSeed), Uniform<float>(1000, kInputSeed));
  EXPECT_EQ(Uniform<double>(1000, kInputSeed), Uniform<double>(1000, kInputSeed));
}

TEST(FillUniformTest, DifferentAcrossSeeds) {
  const std::vector<double> a = Uniform<double>(1000, kInputSeed);
  const std::vector<double> b = Uniform<double>(1000, kInputSeed + 1);
  int same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  EXPECT_EQ(same, 0);
  const std::vector<float> af = Uniform<float>(1000, 1);
  const std::vector<float> bf = Uniform<float>(1000, 2);
  int same_f = 0;
  for (size_t i = 0; i < af.size(); ++i) same_f += af[i] == bf[i];
  EXPECT_LT(same_f, 5);
}

TEST(FillUniformTest, WritesExactlyCountElements) {
  std::vector<double> data(10, -7.0);
  FillUniform(data.data(), 8, kInputSeed);
  EXPECT_EQ(data[8], -7.0);
  EXPECT_EQ(data[9], -7.0);
  EXPECT_NE(data[7], -7.0);
  FillUniform(data.data(), 0, kInputSeed);  // no-op
}

template <typename T>
void ExpectInHalfOpenRange(const std::vector<T>& data) {
  for (size_t i = 0; i < data.size(); ++i) {
    ASSERT_GE(data[i], T(0.5)) << i;
    ASSERT_LT(data[i], T(1.5)) << i;
  }
}

template <typename T>
void ExpectUniformOverTheRange(int64_t count, uint64_t seed) {
  const std::vector<T> data = Uniform<T>(count, seed);
  ExpectInHalfOpenRange(data);
  double sum = 0;
  for (T value : data) sum += value;
  // Uses the whole interval, centred on 1.
  EXPECT_LT(*std::min_element(data.begin(), data.end()), T(0.501));
  EXPECT_GT(*std::max_element(data.begin(), data.end()), T(1.499));
  EXPECT_NEAR(sum / count, 1.0, 0.01);
}

TEST(FillUniformTest, ValuesUniformInHalfOpenRangeSoNeverZero) {
  ExpectUniformOverTheRange<float>(100000, kInputSeed);
  ExpectUniformOverTheRange<double>(100000, kInputSeed);
}

TEST(FillUniformTest, FloatNeverRoundsUpToOnePointFive) {
  // A double just below 1.5 rounds to 1.5f with probability ~2^-24 per
  // element; with seed 3208 that happens at index 300.
  ASSERT_EQ(static_cast<float>(UniformInput(3208, 300)), 1.5f)
      << "the generator changed: find another (seed, index) that rounds up to 1.5f";
  ExpectInHalfOpenRange(Uniform<float>(1024, 3208));
}

TEST(ReferenceResultTest, MatvecByHand) {
  // A = [1 2 3; 4 5 6; 7 8 9], x = [1, 0.5, 2]; A^T x would be [17, 20.5, 24].
  const std::vector<float> a = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<float> x = {1, 0.5f, 2};
  EXPECT_EQ(ReferenceResult<float>(Matvec(DType::kF32, 3), {a.data(), x.data()}),
            (std::vector<double>{8, 18.5, 29}));
  const std::vector<double> ad(a.begin(), a.end()), xd(x.begin(), x.end());
  EXPECT_EQ(ReferenceResult<double>(Matvec(DType::kF64, 3), {ad.data(), xd.data()}),
            (std::vector<double>{8, 18.5, 29}));
}

TEST(ReferenceResultTest, OuterAxesByHand) {
  // P = u v^T = [0.5 1 4; 1 2 8; 1.5 3 12].
  const std::vector<float> u = {1, 2, 3};
  const std::vector<float> v = {0.5f, 1, 4};
  // axis 0: column sums out_j = sum_i P_ij.
  EXPECT_EQ(ReferenceResult<float>(Outer(0, DType::kF32, 3), {u.data(), v.data()}),
            (std::vector<double>{3, 6, 24}));
  // axis 1: row sums out_i = sum_j P_ij.
  EXPECT_EQ(ReferenceResult<float>(Outer(1, DType::kF32, 3), {u.data(), v.data()}),
            (std::vector<double>{5.5, 11, 16.5}));
  const std::vector<double> ud(u.begin(), u.end()), vd(v.begin(), v.end());
  EXPECT_EQ(ReferenceResult<double>(Outer(0, DType::kF64, 3), {ud.data(), vd.data()}),
            (std::vector<double>{3, 6, 24}));
  EXPECT_EQ(ReferenceResult<double>(Outer(1, DType::kF64, 3), {ud.data(), vd.data()}),
            (std::vector<double>{5.5, 11, 16.5}));
}

TEST(ReferenceResultTest, OuterMatchesTheExplicitProductOnRandomInputs) {
  const int64_t n = 64;
  const std::vector<double> u = Uniform<double>(n, kInputSeed);
  const std::vector<double> v = Uniform<double>(n, kInputSeed + 1);
  for (int64_t axis : {0, 1}) {
    const std::vector<double> ref =
        ReferenceResult<double>(Outer(axis, DType::kF64, n), {u.data(), v.data()});
    const std::vector<double> naive = NaiveOuter(u, v, axis);
    ASSERT_EQ(ref.size(), static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
      EXPECT_NEAR(ref[k], naive[k], 1e-12 * naive[k]) << "axis " << axis << " k " << k;
    }
  }
}

TEST(VerificationToleranceTest, Is8SqrtNPlus2UnitRoundoffs) {
  EXPECT_DOUBLE_EQ(VerificationTolerance(Matvec(DType::kF32, 98)), 80 * std::ldexp(1.0, -24));
  EXPECT_DOUBLE_EQ(VerificationTolerance(Matvec(DType::kF64, 98)), 80 * std::ldexp(1.0, -53));
  EXPECT_DOUBLE_EQ(VerificationTolerance(Outer(1, DType::kF32, 20000)),
                   8 * std::sqrt(20002.0) * std::ldexp(1.0, -24));
}

TEST(VerificationToleranceTest, LargerForF32ThanF64AndGrowsWithN) {
  for (int64_t n : {1, 1000, 20000}) {
    EXPECT_GT(VerificationTolerance(Matvec(DType::kF32, n)),
              VerificationTolerance(Matvec(DType::kF64, n)) * 1e8);
  }
  EXPECT_LT(VerificationTolerance(Matvec(DType::kF32, 1000)),
            VerificationTolerance(Matvec(DType::kF32, 20000)));
  // Tight enough to catch a single dropped term out of N (relative error ~1/N).
  EXPECT_LT(VerificationTolerance(Matvec(DType::kF32, 8000)), 1.0 / 8000 / 2);
}

class VerifyMatvecTest : public ::testing::Test {
 protected:
  static constexpr int64_t kN = 1000;
  void SetUp() override {
    a_ = Uniform<float>(kN * kN, kInputSeed);
    x_ = Uniform<float>(kN, kInputSeed + 1);
    reference_ = ReferenceResult<float>(point_, {a_.data(), x_.data()});
    y_ = NaiveMatvec(a_, x_);
  }
  PointSpec point_ = Matvec(DType::kF32, kN);
  std::vector<float> a_, x_, y_;
  std::vector<double> reference_;
};

TEST_F(VerifyMatvecTest, PassesForACorrectFloatResult) {
  const VerificationResult result = Verify(point_, y_.data(), reference_);
  EXPECT_TRUE(result.passed) << result.detail;
  EXPECT_EQ(result.detail, "");
  EXPECT_EQ(result.tolerance, VerificationTolerance(point_));
  EXPECT_GT(result.max_rel_error, 0) << "float rounding should show";
  EXPECT_LE(result.max_rel_error, result.tolerance);
}

TEST_F(VerifyMatvecTest, FailsForOneWrongElementAndNamesIt) {
  y_[417] *= 1.001f;
  const VerificationResult result = Verify(point_, y_.data(), reference_);
  EXPECT_FALSE(result.passed);
  EXPECT_NEAR(result.max_rel_error, 1e-3, 1e-5);
  EXPECT_EQ(result.detail.rfind("element 417 ", 0), 0u) << result.detail;
  EXPECT_NE(result.detail.find("tolerance"), std::string::npos) << result.detail;
}

TEST_F(VerifyMatvecTest, FailsForOneDroppedTerm) {
  float sum = 0;
  for (int64_t j = 0; j + 1 < kN; ++j) sum += a_[5 * kN + j] * x_[j];
  y_[5] = sum;
  const VerificationResult result = Verify(point_, y_.data(), reference_);
  EXPECT_FALSE(result.passed);
  EXPECT_EQ(result.detail.rfind("element 5 ", 0), 0u) << result.detail;
}

TEST_F(VerifyMatvecTest, FailsForNaNOrInf) {
  for (int64_t index : {int64_t{0}, int64_t{3}, kN - 1}) {
    for (float bad :
         {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      std::vector<float> y = y_;
      y[index] = bad;
      const VerificationResult result = Verify(point_, y.data(), reference_);
      EXPECT_FALSE(result.passed) << index;
      EXPECT_EQ(result.max_rel_error, std::numeric_limits<double>::infinity());
      EXPECT_EQ(result.detail.rfind("element " + std::to_string(index) + " ", 0), 0u)
          << result.detail;
    }
  }
}

TEST_F(VerifyMatvecTest, FailsForUnwrittenElementsOfAPoisonedOutput) {
  std::vector<float> y(kN, std::numeric_limits<float>::quiet_NaN());
  for (int64_t i = 0; i < kN / 2; ++i) y[i] = y_[i];  // an impl that stops halfway
  const VerificationResult result = Verify(point_, y.data(), reference_);
  EXPECT_FALSE(result.passed);
  EXPECT_EQ(result.detail.rfind("element 500 ", 0), 0u) << result.detail;
}

TEST_F(VerifyMatvecTest, FailsForTheTransposedProduct) {
  const std::vector<float> wrong = NaiveMatvec(a_, x_, /*transpose=*/true);
  EXPECT_FALSE(Verify(point_, wrong.data(), reference_).passed);
}

TEST(VerifyTest, F64MatvecPassesInDoubleButNotInFloatPrecision) {
  const int64_t n = 300;
  const PointSpec point = Matvec(DType::kF64, n);
  const std::vector<double> a = Uniform<double>(n * n, kInputSeed);
  const std::vector<double> x = Uniform<double>(n, kInputSeed + 1);
  const std::vector<double> reference = ReferenceResult<double>(point, {a.data(), x.data()});
  const std::vector<double> y = NaiveMatvec(a, x);
  const VerificationResult good = Verify(point, y.data(), reference);
  EXPECT_TRUE(good.passed) << good.detail;
  // The same numbers rounded to float are far outside the f64 tolerance.
  std::vector<double> rounded(y.begin(), y.end());
  for (double& value : rounded) value = static_cast<float>(value);
  EXPECT_FALSE(Verify(point, rounded.data(), reference).passed);
}

TEST(VerifyTest, OuterPassesForEachAxisAndFailsForTheOtherAxis) {
  const int64_t n = 1000;
  const std::vector<float> u = Uniform<float>(n, kInputSeed);
  const std::vector<float> v = Uniform<float>(n, kInputSeed + 1);
  for (int64_t axis : {0, 1}) {
    const PointSpec point = Outer(axis, DType::kF32, n);
    const std::vector<double> reference = ReferenceResult<float>(point, {u.data(), v.data()});
    const std::vector<float> right = NaiveOuter(u, v, axis);
    const std::vector<float> other_axis = NaiveOuter(u, v, 1 - axis);
    const VerificationResult good = Verify(point, right.data(), reference);
    EXPECT_TRUE(good.passed) << "axis " << axis << ": " << good.detail;
    EXPECT_FALSE(Verify(point, other_axis.data(), reference).passed) << "axis " << axis;
  }
}

TEST(VerifyTest, F64OuterPasses) {
  const int64_t n = 500;
  const std::vector<double> u = Uniform<double>(n, kInputSeed);
  const std::vector<double> v = Uniform<double>(n, kInputSeed + 1);
  for (int64_t axis : {0, 1}) {
    const PointSpec point = Outer(axis, DType::kF64, n);
    const std::vector<double> reference = ReferenceResult<double>(point, {u.data(), v.data()});
    const std::vector<double> out = NaiveOuter(u, v, axis);
    const VerificationResult result = Verify(point, out.data(), reference);
    EXPECT_TRUE(result.passed) << "axis " << axis << ": " << result.detail;
  }
}

TEST(VerifyTest, ChecksOnlyTheReferencesLength) {
  const std::vector<double> reference = {8, 18.5, 29};
  const std::vector<double> out = {8, 18.5, 29, kNaN};  // a trailing pad is not read
  EXPECT_TRUE(Verify(Matvec(DType::kF64, 3), out.data(), reference).passed);
}

}  // namespace
}  // namespace flopd
