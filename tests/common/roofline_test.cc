#include "common/roofline.h"

#include "gtest/gtest.h"

namespace flopd {
namespace {

// A device with 1 TFLOP/s and 100 GB/s: the ridge is at 10 FLOP/byte.
constexpr double kPeak = 1e12;
constexpr double kBandwidth = 1e11;

TEST(Roofline, IntensityIsFlopsOverMinimumBytes) {
  // matvec f32, N = 1000: 2N^2 - N FLOPs, (N^2 + 2N) * 4 bytes.
  const int64_t n = 1000;
  const RooflinePlacement p =
      PlaceOnRoofline(2 * n * n - n, (n * n + 2 * n) * 4, 1e-3, kPeak, kBandwidth, 5e-6);
  EXPECT_NEAR(p.intensity, (2.0 * n * n - n) / ((n * n + 2.0 * n) * 4), 1e-12);
}

TEST(Roofline, MemoryBoundFloorIsBytesOverBandwidth) {
  // 1e9 bytes at 100 GB/s = 10 ms; 1e9 FLOPs at 1 TFLOP/s = 1 ms.
  const RooflinePlacement p = PlaceOnRoofline(1'000'000'000, 1'000'000'000, 0.02, kPeak,
                                              kBandwidth, 5e-6);
  EXPECT_DOUBLE_EQ(p.memory_seconds, 0.01);
  EXPECT_DOUBLE_EQ(p.compute_seconds, 0.001);
  EXPECT_DOUBLE_EQ(p.floor_seconds, 0.01);
  EXPECT_DOUBLE_EQ(p.efficiency, 0.5);
  EXPECT_EQ(p.bound, Bound::kMemory);
  EXPECT_EQ(BoundName(p.bound), "memory");
}

TEST(Roofline, ComputeBoundFloorIsFlopsOverPeak) {
  // Intensity 100 > ridge 10: 1e10 FLOPs = 10 ms; 1e8 bytes = 1 ms.
  const RooflinePlacement p =
      PlaceOnRoofline(10'000'000'000, 100'000'000, 0.0125, kPeak, kBandwidth, 5e-6);
  EXPECT_DOUBLE_EQ(p.floor_seconds, 0.01);
  EXPECT_DOUBLE_EQ(p.efficiency, 0.8);
  EXPECT_EQ(p.bound, Bound::kCompute);
}

TEST(Roofline, TinyPointFarAboveItsFloorIsLatencyBound) {
  // Floor 10 ns; measured 2 µs (> 4x floor and below the 5 µs CPU threshold).
  const RooflinePlacement p = PlaceOnRoofline(1000, 1000, 2e-6, kPeak, kBandwidth, 5e-6);
  EXPECT_DOUBLE_EQ(p.floor_seconds, 1e-8);
  EXPECT_EQ(p.bound, Bound::kLatency);
  // The same point measured above the threshold is not latency bound: the
  // fixed overhead no longer explains the time.
  EXPECT_EQ(PlaceOnRoofline(1000, 1000, 6e-6, kPeak, kBandwidth, 5e-6).bound, Bound::kMemory);
  // Close to its floor (< 4x) it is not latency bound either.
  EXPECT_EQ(PlaceOnRoofline(100000, 100000, 3e-6, kPeak, kBandwidth, 5e-6).bound, Bound::kMemory);
}

TEST(Roofline, ThresholdsPerBackend) {
  EXPECT_DOUBLE_EQ(LatencyThresholdSeconds("cpu"), 5e-6);
  EXPECT_DOUBLE_EQ(LatencyThresholdSeconds("cuda"), 10e-6);
}

TEST(Roofline, EfficiencyAboveOneWhenFasterThanTheDramRoof) {
  const RooflinePlacement p = PlaceOnRoofline(1000000, 8000000, 2e-5, kPeak, kBandwidth, 5e-6);
  EXPECT_GT(p.efficiency, 1.0);  // 80 µs floor, 20 µs measured: served from cache
}

TEST(Roofline, MissingCeilingsLeaveTheBoundUnknown) {
  const RooflinePlacement p = PlaceOnRoofline(1000, 1000, 1e-3, 0, 0, 5e-6);
  EXPECT_EQ(p.floor_seconds, 0);
  EXPECT_EQ(p.efficiency, 0);
  EXPECT_EQ(p.bound, Bound::kUnknown);
  EXPECT_EQ(BoundName(p.bound), "");
}

TEST(Roofline, AttainableAndRidge) {
  EXPECT_DOUBLE_EQ(RidgeIntensity(kPeak, kBandwidth), 10);
  EXPECT_DOUBLE_EQ(AttainableFlops(1, kPeak, kBandwidth), 1e11);
  EXPECT_DOUBLE_EQ(AttainableFlops(100, kPeak, kBandwidth), kPeak);
  EXPECT_DOUBLE_EQ(RidgeIntensity(kPeak, 0), 0);
}

}  // namespace
}  // namespace flopd
