#include "common/uniform_input.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "common/verification.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

constexpr int64_t kCount = 100000;

// Pearson correlation of two equally long sequences.
double Correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sa += a[i];
    sb += b[i];
    saa += a[i] * a[i];
    sbb += b[i] * b[i];
    sab += a[i] * b[i];
  }
  return (sab - sa * sb / n) / std::sqrt((saa - sa * sa / n) * (sbb - sb * sb / n));
}

std::vector<double> Stream(uint64_t seed, int64_t first, int64_t count) {
  std::vector<double> values;
  for (int64_t i = first; i < first + count; ++i) values.push_back(UniformInput(seed, i));
  return values;
}

// Pinned values: every backend, every host and every flopd version draws
// these exact inputs (results stay comparable across them, and a GPU kernel
// computing UniformInput on the device must agree bit for bit). Computed
// independently (splitmix64 in Python).
TEST(UniformInputTest, DeterministicPerSeedAndIndex) {
  EXPECT_EQ(UniformInput(kInputSeed, 0), 1.0563223267640547);
  EXPECT_EQ(UniformInput(kInputSeed, 12345), 0.5661250141445572);
  EXPECT_EQ(UniformInput(kInputSeed + 1, 12345), 1.0251252800061499);
  EXPECT_EQ(UniformInput(0, 0), 0.8381666012719897);
  EXPECT_NE(UniformInput(kInputSeed, 12345), UniformInput(kInputSeed, 12346));
  EXPECT_NE(UniformInput(kInputSeed, 12345), UniformInput(kInputSeed + 1, 12345));
}

TEST(UniformInputTest, UniformOnHalfOpenRange) {
  int bins[10] = {};
  double sum = 0;
  for (int64_t i = 0; i < kCount; ++i) {
    const double value = UniformInput(kInputSeed, i);
    ASSERT_GE(value, 0.5) << i;
    ASSERT_LT(value, 1.5) << i;
    sum += value;
    ++bins[static_cast<int>((value - 0.5) * 10)];
  }
  EXPECT_NEAR(sum / kCount, 1.0, 0.005);
  // Each tenth of the interval gets 10% +- 1% (the sampling sd is 0.1%).
  for (int bin = 0; bin < 10; ++bin) EXPECT_NEAR(bins[bin], kCount / 10, kCount / 100) << bin;
}

TEST(UniformInputTest, NeighboursAndOffsetSeedsAreUncorrelated) {
  // Consecutive elements of one buffer...
  EXPECT_LT(std::fabs(Correlation(Stream(kInputSeed, 0, kCount), Stream(kInputSeed, 1, kCount))),
            0.02);
  // ...and the same element of two buffers (seeds kInputSeed + k, e.g. A and x).
  EXPECT_LT(
      std::fabs(Correlation(Stream(kInputSeed, 0, kCount), Stream(kInputSeed + 1, 0, kCount))),
      0.02);
}

TEST(UniformInputAsTest, DoubleIsExactAndFloatIsRounded) {
  for (int64_t i = 0; i < 1000; ++i) {
    const double value = UniformInput(7, i);
    EXPECT_EQ(UniformInputAs<double>(7, i), value) << i;
    EXPECT_EQ(UniformInputAs<float>(7, i), static_cast<float>(value)) << i;
  }
}

TEST(UniformInputAsTest, FloatJustBelowOnePointFiveStepsDownAnUlp) {
  // UniformInput(3208, 300) is 1.4999999717..., which rounds to 1.5f.
  ASSERT_LT(UniformInput(3208, 300), 1.5);
  ASSERT_EQ(static_cast<float>(UniformInput(3208, 300)), 1.5f)
      << "the generator changed: find another (seed, index) that rounds up to 1.5f";
  EXPECT_EQ(UniformInputAs<float>(3208, 300), std::nextafter(1.5f, 0.0f));
}

TEST(UniformInputAsTest, FillUniformGivesTheSameValuesElementByElement) {
  std::vector<float> f(5000);
  std::vector<double> d(5000);
  FillUniform(f.data(), static_cast<int64_t>(f.size()), kInputSeed + 1);
  FillUniform(d.data(), static_cast<int64_t>(d.size()), kInputSeed + 1);
  for (int64_t i = 0; i < 5000; ++i) {
    ASSERT_EQ(f[i], UniformInputAs<float>(kInputSeed + 1, i)) << i;
    ASSERT_EQ(d[i], UniformInputAs<double>(kInputSeed + 1, i)) << i;
  }
}

}  // namespace
}  // namespace flopd
