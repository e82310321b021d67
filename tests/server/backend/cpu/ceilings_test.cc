#include "server/backend/cpu/ceilings.h"

#include <string>

#include "gtest/gtest.h"

namespace flopd {
namespace {

TEST(CpuCeilings, MeasuresPlausibleBandwidthPeaksAndClock) {
  CpuCeilingsConfig config;
  config.threads = 2;
  config.llc_bytes = 0;  // smallest arrays (32 MiB each): a quick test
  config.fma_seconds = 0.01;
  config.bandwidth_passes = 2;
  absl::StatusOr<DeviceCeilings> c = MeasureCpuCeilings(config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_GT(c->bandwidth_bytes_per_s, 1e8);
  EXPECT_LT(c->bandwidth_bytes_per_s, 1e13);
  ASSERT_EQ(c->peak_flops.count("f32"), 1u);
  ASSERT_EQ(c->peak_flops.count("f64"), 1u);
  EXPECT_GT(c->peak_flops.at("f64"), 1e8);
  // Twice the lanes in f32: about 2x f64. The bounds are wide because CI
  // machines are shared and the two runs may see different loads.
  const double ratio = c->peak_flops.at("f32") / c->peak_flops.at("f64");
  EXPECT_GT(ratio, 1.0);
  EXPECT_LT(ratio, 4.0);
  EXPECT_FALSE(c->method.empty());
  EXPECT_FALSE(c->clock_method.empty());
  EXPECT_GT(c->measured_unix_ms, 0);
  EXPECT_DOUBLE_EQ(c->latency_threshold_seconds, 5e-6);
#if defined(__x86_64__)
  EXPECT_GT(c->clock_hz, 3e8);
  EXPECT_LT(c->clock_hz, 1e10);
  // The measured peak cannot beat the datasheet figure by much (the clock and
  // the FMA run are timed separately, so a loaded machine skews them apart).
  ASSERT_EQ(c->derived_peak_flops.count("f32"), 1u);
  EXPECT_LT(c->peak_flops.at("f32"), 2.5 * c->derived_peak_flops.at("f32")) << c->derived_method;
#endif
}

}  // namespace
}  // namespace flopd
