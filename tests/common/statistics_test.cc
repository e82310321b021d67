#include "common/statistics.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace flopd {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(PercentileTest, InterpolatesLinearlyBetweenClosestRanks) {
  const std::vector<double> sorted = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(Percentile(sorted, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(Percentile(sorted, 1.0), 4.0);
  EXPECT_DOUBLE_EQ(Percentile(sorted, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(Percentile(sorted, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(Percentile(sorted, 0.75), 3.25);
  EXPECT_DOUBLE_EQ(Percentile(sorted, 2.0 / 3.0), 3.0);
}

TEST(PercentileTest, SingleSampleIsEveryPercentile) {
  for (double q : {0.0, 0.05, 0.5, 0.95, 1.0}) EXPECT_EQ(Percentile({7.0}, q), 7.0) << q;
}

TEST(SummarizeTest, EvenCountFromUnsortedInput) {
  const SampleSummary s = Summarize({4, 1, 3, 2});
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 4);
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  // Sample (n - 1) standard deviation: sum of squares 5, over 3.
  EXPECT_DOUBLE_EQ(s.stddev, std::sqrt(5.0 / 3.0));
  EXPECT_DOUBLE_EQ(s.p05, 1.15);
  EXPECT_DOUBLE_EQ(s.p25, 1.75);
  EXPECT_DOUBLE_EQ(s.p75, 3.25);
  EXPECT_DOUBLE_EQ(s.p95, 3.85);
  // n = 4: ranks 0 and 3 bound the median's interval: (4 - 1) / (2 * 2.5).
  EXPECT_DOUBLE_EQ(s.relative_noise, 0.6);
}

TEST(SummarizeTest, OddCountMedianIsTheMiddleSample) {
  const SampleSummary s = Summarize({5, 1, 3});
  EXPECT_EQ(s.count, 3);
  EXPECT_DOUBLE_EQ(s.median, 3);
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_DOUBLE_EQ(s.stddev, 2);  // (4 + 0 + 4) / 2 = 4
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 5);
}

TEST(SummarizeTest, TextbookStandardDeviation) {
  const SampleSummary s = Summarize({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_DOUBLE_EQ(s.mean, 5);
  EXPECT_DOUBLE_EQ(s.median, 4.5);
  EXPECT_DOUBLE_EQ(s.stddev, std::sqrt(32.0 / 7.0));  // not the population 2.0
}

TEST(SummarizeTest, SingleSample) {
  const SampleSummary s = Summarize({2.5});
  EXPECT_EQ(s.count, 1);
  EXPECT_EQ(s.median, 2.5);
  EXPECT_EQ(s.mean, 2.5);
  EXPECT_EQ(s.min, 2.5);
  EXPECT_EQ(s.max, 2.5);
  EXPECT_EQ(s.p05, 2.5);
  EXPECT_EQ(s.p95, 2.5);
  EXPECT_EQ(s.stddev, 0);
  EXPECT_EQ(s.relative_noise, kInf);
}

TEST(SummarizeTest, RelativeNoiseMatchesRelativeNoise) {
  std::vector<double> samples;
  for (int i = 0; i < 37; ++i) samples.push_back(1.0 + 0.01 * ((i * 17) % 37));
  // 1.00 ... 1.36 shuffled: median 1.18; half-width 0.98 sqrt(37) = 5.96
  // ranks, so the order statistics 12 and 24 (1.12 and 1.24) bound the CI.
  EXPECT_NEAR(RelativeNoise(samples), 0.12 / (2 * 1.18), 1e-12);
  EXPECT_EQ(Summarize(samples).relative_noise, RelativeNoise(samples));
}

TEST(RelativeNoiseTest, InfiniteForFewerThanThreeSamples) {
  EXPECT_EQ(RelativeNoise({}), kInf);
  EXPECT_EQ(RelativeNoise({1.0}), kInf);
  EXPECT_EQ(RelativeNoise({1.0, 1.0}), kInf);
}

TEST(RelativeNoiseTest, InfiniteForNonPositiveMedian) {
  EXPECT_EQ(RelativeNoise({0, 0, 0}), kInf);
  EXPECT_EQ(RelativeNoise({-1, -1, -1, -1}), kInf);
}

TEST(RelativeNoiseTest, ZeroForIdenticalSamples) {
  EXPECT_EQ(RelativeNoise({2e-3, 2e-3, 2e-3}), 0.0);
  EXPECT_EQ(RelativeNoise(std::vector<double>(1000, 0.125)), 0.0);
}

TEST(RelativeNoiseTest, KnownValues) {
  // n = 3: the interval spans every sample: (3 - 1) / (2 * 2).
  EXPECT_DOUBLE_EQ(RelativeNoise({3, 1, 2}), 0.5);
  // n = 20: ranks 5 and 14 (0-based) of 1..20: (15 - 6) / (2 * 10.5).
  std::vector<double> ramp;
  for (int i = 20; i >= 1; --i) ramp.push_back(i);
  EXPECT_DOUBLE_EQ(RelativeNoise(ramp), 9.0 / 21.0);
}

TEST(RelativeNoiseTest, RobustToOneHugeOutlier) {
  std::vector<double> samples;
  for (int i = 0; i < 30; ++i) samples.push_back(1.0 + 0.001 * i);
  const double clean = RelativeNoise(samples);
  samples.push_back(1e6);  // one preempted sample
  const double with_outlier = RelativeNoise(samples);
  EXPECT_LT(clean, 0.01);
  EXPECT_LT(with_outlier, 0.01);
  EXPECT_NEAR(with_outlier, clean, 0.001);
  // The standard deviation, by contrast, is ruined.
  EXPECT_GT(Summarize(samples).stddev, 1e5);
}

TEST(RelativeNoiseTest, ShrinksAsSamplesOfOneDistributionAccumulate) {
  // A fixed stream of times, uniform in [1.0, 1.1): 10% spread, a noisy host.
  std::mt19937_64 generator(42);
  std::vector<double> stream;
  for (int i = 0; i < 2560; ++i) {
    stream.push_back(1.0 + 0.1 * static_cast<double>(generator() >> 11) * 0x1.0p-53);
  }
  double previous = kInf;
  for (int n : {10, 40, 160, 640, 2560}) {
    const std::vector<double> prefix(stream.begin(), stream.begin() + n);
    const double noise = RelativeNoise(prefix);
    EXPECT_LT(noise, previous) << "n = " << n;
    previous = noise;
  }
  // ~1/sqrt(n): 256 times the samples, about a sixteenth of the noise.
  const double first = RelativeNoise(std::vector<double>(stream.begin(), stream.begin() + 10));
  EXPECT_LT(previous, first / 8);
  // So the default 0.5% target is reachable despite the 10% spread.
  EXPECT_LT(previous, 0.005);
}

}  // namespace
}  // namespace flopd
