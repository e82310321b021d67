#include "server/measure_point.h"

#include <atomic>
#include <memory>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "server/backend/registry.h"

namespace flopd {
namespace {

std::unique_ptr<Device> CpuDevice(int64_t memory_limit = 0) {
  BackendConfig config;
  config.cpu_threads = 2;
  config.cpu_memory_limit = memory_limit;
  auto devices = CreateCpuDevices(config);
  EXPECT_TRUE(devices.ok()) << devices.status();
  return std::move((*devices)[0]);
}

MeasureSettings Quick() {
  MeasureSettings s;
  s.max_time_s = 0.05;
  s.min_time_s = 0;
  s.min_samples = 3;
  return s;
}

TEST(MeasurePoint, SamplesVerifiesAndSaysWhyItStopped) {
  auto device = CpuDevice();
  std::atomic<bool> cancelled{false};
  PointSpec point{"outer", "fused", {{"axis", 1}}, DType::kF32, 300};
  absl::StatusOr<PointOutcome> outcome = MeasurePoint(*device, point, Quick(), cancelled);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->verification.passed) << outcome->verification.detail;
  EXPECT_GE(outcome->samples.size(), 3u);
  EXPECT_EQ(outcome->summary.count, static_cast<int>(outcome->samples.size()));
  EXPECT_GT(outcome->summary.median, 0);
  EXPECT_TRUE(outcome->stop_reason == "noise_target_met" ||
              outcome->stop_reason == "time_budget_spent")
      << outcome->stop_reason;
  // Automatic iterations are chosen from the warm-up; how many depends on the
  // machine's load (a preempted warm-up run overestimates one execution), so
  // only their presence is checked here.
  EXPECT_GE(outcome->iterations_per_sample, 1);
  EXPECT_GT(outcome->wall_seconds, 0);
  EXPECT_GT(outcome->threads, 0);
}

TEST(MeasurePoint, FixedModeTakesExactlyTheSamplesAndIterationsAsked) {
  auto device = CpuDevice();
  std::atomic<bool> cancelled{false};
  MeasureSettings settings = Quick();
  settings.fixed_samples = 4;
  settings.iterations_per_sample = 7;
  PointSpec point{"matvec", "gemv", {}, DType::kF64, 200};
  absl::StatusOr<PointOutcome> outcome = MeasurePoint(*device, point, settings, cancelled);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->samples.size(), 4u);
  EXPECT_EQ(outcome->iterations_per_sample, 7);
  EXPECT_EQ(outcome->stop_reason, "fixed_samples");
}

TEST(MeasurePoint, CancelledBeforeSamplingReturnsCancelled) {
  auto device = CpuDevice();
  std::atomic<bool> cancelled{true};
  PointSpec point{"matvec", "gemm", {}, DType::kF32, 100};
  absl::StatusOr<PointOutcome> outcome = MeasurePoint(*device, point, Quick(), cancelled);
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kCancelled);
}

TEST(MeasurePoint, TooLargeForTheMemoryLimitIsResourceExhausted) {
  auto device = CpuDevice(/*memory_limit=*/1 << 20);
  PointSpec point{"matvec", "gemv", {}, DType::kF32, 1000};  // 4 MB matrix
  absl::Status fits = CheckPointFits(*device, point, TimingMode::kHot);
  EXPECT_EQ(fits.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(fits.message(), "N=1000")) << fits.message();
  EXPECT_TRUE(absl::StrContains(fits.message(), "allows itself 1048576 bytes")) << fits.message();
  std::atomic<bool> cancelled{false};
  EXPECT_EQ(MeasurePoint(*device, point, Quick(), cancelled).status().code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace flopd
