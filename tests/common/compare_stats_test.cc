#include "common/compare_stats.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace flopd {
namespace {

TEST(MannWhitneyU, MatchesTheTextbookNormalApproximation) {
  // U = 4.5 (the 4-5-6 ties count 1/2), z = 2.2952, p = 0.021722 (SciPy's
  // mannwhitneyu(method="asymptotic", use_continuity=True) gives the same).
  const MannWhitneyResult r = MannWhitneyU({1, 2, 3, 4, 5, 6}, {4, 5, 6, 7, 8, 9, 10});
  EXPECT_DOUBLE_EQ(r.u, 4.5);
  EXPECT_NEAR(std::fabs(r.z), 2.2951920635595684, 1e-9);
  EXPECT_NEAR(r.p_value, 0.021722119820512312, 1e-9);
}

TEST(MannWhitneyU, CorrectsForTies) {
  // Tie groups {1,1}, {2,2,2}, {3,3,3}, {4,4}: variance shrinks, p = 0.052412.
  const MannWhitneyResult r = MannWhitneyU({1, 1, 2, 2, 3}, {2, 3, 3, 4, 4});
  EXPECT_DOUBLE_EQ(r.u, 3.0);
  EXPECT_NEAR(r.p_value, 0.05241162867102868, 1e-9);
}

TEST(MannWhitneyU, IsSymmetricAndHandlesDegenerateInputs) {
  const std::vector<double> a = {1, 3, 5, 7, 9};
  const std::vector<double> b = {2, 4, 6, 8, 10, 12};
  // U(a, b) = 10 pairs with a_i > b_j, U(b, a) = 30 - 10; |z| = 4.5 / sqrt(30),
  // p = 0.411314 either way.
  const MannWhitneyResult ab = MannWhitneyU(a, b);
  const MannWhitneyResult ba = MannWhitneyU(b, a);
  EXPECT_DOUBLE_EQ(ab.u, 10);
  EXPECT_DOUBLE_EQ(ba.u, 20);
  EXPECT_NEAR(ab.z, -0.8215838362577491, 1e-12);
  EXPECT_NEAR(ba.z, 0.8215838362577491, 1e-12);
  EXPECT_NEAR(ab.p_value, 0.41131379177625904, 1e-12);
  EXPECT_NEAR(ba.p_value, ab.p_value, 1e-15);
  EXPECT_DOUBLE_EQ(MannWhitneyU({1, 1, 1}, {1, 1}).p_value, 1.0);  // all tied
  EXPECT_DOUBLE_EQ(MannWhitneyU({}, {1, 2}).p_value, 1.0);
}

TEST(GeometricMean, OfRatios) {
  EXPECT_DOUBLE_EQ(GeometricMean({}), 0);
  EXPECT_NEAR(GeometricMean({2, 8}), 4, 1e-12);
  EXPECT_NEAR(GeometricMean({0.5, 2}), 1, 1e-12);
}

std::vector<double> Jittered(double center, int count, double spread) {
  std::vector<double> out;
  for (int i = 0; i < count; ++i) {
    out.push_back(center * (1 + spread * std::sin(1.7 * i + 0.3)));
  }
  return out;
}

TEST(ComparePoints, FlagsASlowedRunAndCallsIdenticalRunsTheSame) {
  PointSample a{1e-3, 0.01, Jittered(1e-3, 40, 0.02)};
  PointSample same{1e-3, 0.01, Jittered(1e-3, 40, 0.02)};
  PointSample slow{1.1e-3, 0.01, Jittered(1.1e-3, 40, 0.02)};
  const PointComparison c_same = ComparePoints(a, same, {});
  EXPECT_EQ(c_same.verdict, Verdict::kSame);
  EXPECT_EQ(c_same.method, "mann-whitney");
  EXPECT_GT(c_same.p_value, 0.5);
  const PointComparison c_slow = ComparePoints(a, slow, {});
  EXPECT_EQ(c_slow.verdict, Verdict::kSlower);
  EXPECT_NEAR(c_slow.ratio, 1.1, 1e-12);
  EXPECT_LT(c_slow.p_value, 1e-6);
  EXPECT_EQ(ComparePoints(slow, a, {}).verdict, Verdict::kFaster);
  EXPECT_EQ(VerdictName(Verdict::kSlower), "slower");
}

TEST(ComparePoints, SignificantButTinyDifferencesAreTheSame) {
  PointSample a{1e-3, 0.001, Jittered(1e-3, 200, 0.0001)};
  PointSample b{1.005e-3, 0.001, Jittered(1.005e-3, 200, 0.0001)};
  const PointComparison c = ComparePoints(a, b, {});
  EXPECT_LT(c.p_value, 0.01);
  EXPECT_EQ(c.verdict, Verdict::kSame);  // 0.5% is below min_effect (1%)
}

TEST(ComparePoints, WithoutRawSamplesUsesTheNoiseIntervals) {
  PointSample a{1e-3, 0.02, {}};
  PointSample overlapping{1.03e-3, 0.02, {}};  // [1.0094, 1.0506] overlaps [0.98, 1.02]
  PointSample apart{1.2e-3, 0.02, {}};
  EXPECT_EQ(ComparePoints(a, overlapping, {}).verdict, Verdict::kSame);
  EXPECT_EQ(ComparePoints(a, overlapping, {}).method, "noise intervals");
  EXPECT_EQ(ComparePoints(a, overlapping, {}).p_value, -1);
  EXPECT_EQ(ComparePoints(a, apart, {}).verdict, Verdict::kSlower);
}

// Five raw samples a side is where the U test takes over from the noise
// intervals. B is 10% slower and every B sample is above every A sample,
// but with 5 + 5 samples the U test cannot say so at alpha = 0.01 (p =
// 0.0122, the smallest p five a side can give): "same", however far the
// ratio is from 1. With 4 samples a side the tight noise intervals are
// disjoint: "slower".
TEST(ComparePoints, SwitchesToTheUTestAtFiveSamplesAndObeysItsPValue) {
  const std::vector<double> a5 = {1.000e-3, 1.001e-3, 0.999e-3, 1.002e-3, 0.998e-3};
  const std::vector<double> b5 = {1.100e-3, 1.101e-3, 1.099e-3, 1.102e-3, 1.098e-3};
  const PointComparison five = ComparePoints({1e-3, 0.002, a5}, {1.1e-3, 0.002, b5}, {});
  EXPECT_EQ(five.method, "mann-whitney");
  EXPECT_NEAR(five.ratio, 1.1, 1e-12);
  EXPECT_NEAR(five.p_value, 0.012185780355344818, 1e-9);
  EXPECT_EQ(five.verdict, Verdict::kSame) << "p >= alpha: not shown to differ";

  const std::vector<double> a4(a5.begin(), a5.begin() + 4);
  const std::vector<double> b4(b5.begin(), b5.begin() + 4);
  const PointComparison four = ComparePoints({1e-3, 0.002, a4}, {1.1e-3, 0.002, b4}, {});
  EXPECT_EQ(four.method, "noise intervals");
  EXPECT_EQ(four.p_value, -1);
  EXPECT_EQ(four.verdict, Verdict::kSlower);

  // One side with 5 and the other with 4 is still the noise intervals.
  EXPECT_EQ(ComparePoints({1e-3, 0.002, a5}, {1.1e-3, 0.002, b4}, {}).method, "noise intervals");
  // The same samples at a looser alpha: now significant.
  CompareOptions loose;
  loose.alpha = 0.05;
  EXPECT_EQ(ComparePoints({1e-3, 0.002, a5}, {1.1e-3, 0.002, b5}, loose).verdict,
            Verdict::kSlower);
}

}  // namespace
}  // namespace flopd
