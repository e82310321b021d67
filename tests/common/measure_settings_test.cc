#include "common/measure_settings.h"

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "common/statistics.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

void ExpectSameSettings(const MeasureSettings& a, const MeasureSettings& b) {
  EXPECT_EQ(a.noise_target, b.noise_target);
  EXPECT_EQ(a.min_samples, b.min_samples);
  EXPECT_EQ(a.max_time_s, b.max_time_s);
  EXPECT_EQ(a.min_time_s, b.min_time_s);
  EXPECT_EQ(a.iterations_per_sample, b.iterations_per_sample);
  EXPECT_EQ(a.fixed_samples, b.fixed_samples);
  EXPECT_EQ(a.max_samples, b.max_samples);
  EXPECT_EQ(a.timing, b.timing);
  EXPECT_EQ(a.cpu_threads, b.cpu_threads);
}

// Resolves a request that must be rejected; checks the code, that the message
// names `field` and states `allowed`, and that `out` is left alone.
void ExpectRejected(const MeasureRequest& request, const std::string& field,
                    const std::string& allowed) {
  MeasureSettings out;
  out.min_samples = 777;  // a sentinel: a rejected request must not write `out`
  const absl::Status status = ResolveMeasureSettings(request, MeasureSettings{}, &out);
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << field << ": " << status;
  const std::string message(status.message());
  EXPECT_EQ(message.rfind(field + ":", 0), 0u) << message;
  EXPECT_NE(message.find(allowed), std::string::npos)
      << "expected '" << allowed << "' in: " << message;
  EXPECT_EQ(out.min_samples, 777);
}

TEST(TimingModeTest, NamesRoundTrip) {
  for (TimingMode mode : {TimingMode::kHot, TimingMode::kCold, TimingMode::kGraph}) {
    TimingMode parsed = mode == TimingMode::kHot ? TimingMode::kCold : TimingMode::kHot;
    ASSERT_TRUE(ParseTimingMode(TimingModeName(mode), &parsed).ok());
    EXPECT_EQ(parsed, mode);
  }
  EXPECT_EQ(std::string(TimingModeName(TimingMode::kHot)), "hot");
  EXPECT_EQ(std::string(TimingModeName(TimingMode::kCold)), "cold");
  EXPECT_EQ(std::string(TimingModeName(TimingMode::kGraph)), "graph");
}

TEST(TimingModeTest, RejectsUnknownListingAllowedModes) {
  TimingMode mode = TimingMode::kCold;
  const absl::Status status = ParseTimingMode("warm", &mode);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(status.message()),
            "settings.timing: unknown timing mode 'warm'; allowed: hot, cold, graph");
  EXPECT_EQ(mode, TimingMode::kCold);
  EXPECT_FALSE(ParseTimingMode("", &mode).ok());
  EXPECT_FALSE(ParseTimingMode("HOT", &mode).ok());
}

TEST(ResolveMeasureSettingsTest, EmptyRequestGivesTheDefaults) {
  MeasureSettings out;
  out.noise_target = 0.3;
  ASSERT_TRUE(ResolveMeasureSettings(MeasureRequest{}, MeasureSettings{}, &out).ok());
  ExpectSameSettings(out, MeasureSettings{});
  EXPECT_EQ(out.noise_target, 0.005);
  EXPECT_EQ(out.min_samples, 10);
  EXPECT_EQ(out.max_time_s, 2.0);
  EXPECT_EQ(out.min_time_s, 0.05);
  EXPECT_EQ(out.iterations_per_sample, 0);
  EXPECT_EQ(out.fixed_samples, 0);
  EXPECT_EQ(out.timing, TimingMode::kHot);
}

TEST(ResolveMeasureSettingsTest, EmptyRequestKeepsTheDevicesDefaults) {
  MeasureSettings defaults;
  defaults.noise_target = 0.02;
  defaults.max_time_s = 10;
  defaults.max_samples = 500;
  defaults.timing = TimingMode::kGraph;
  defaults.cpu_threads = 16;
  MeasureSettings out;
  ASSERT_TRUE(ResolveMeasureSettings(MeasureRequest{}, defaults, &out).ok());
  ExpectSameSettings(out, defaults);
}

TEST(ResolveMeasureSettingsTest, AppliesEveryField) {
  MeasureRequest request;
  request.noise_target = 0.02;
  request.min_samples = 5;
  request.max_time_s = 10;
  request.min_time_s = 1;
  request.iterations_per_sample = 100;
  request.fixed_samples = 7;
  request.timing = "cold";
  request.cpu_threads = 8;
  MeasureSettings out;
  ASSERT_TRUE(ResolveMeasureSettings(request, MeasureSettings{}, &out).ok());
  EXPECT_EQ(out.noise_target, 0.02);
  EXPECT_EQ(out.min_samples, 5);
  EXPECT_EQ(out.max_time_s, 10);
  EXPECT_EQ(out.min_time_s, 1);
  EXPECT_EQ(out.iterations_per_sample, 100);
  EXPECT_EQ(out.fixed_samples, 7);
  EXPECT_EQ(out.timing, TimingMode::kCold);
  EXPECT_EQ(out.cpu_threads, 8);
  EXPECT_EQ(out.max_samples, MeasureSettings{}.max_samples);
}

TEST(ResolveMeasureSettingsTest, AcceptsTheEndsOfEveryRange) {
  using Setter = std::function<void(MeasureRequest&)>;
  const std::vector<std::pair<std::string, Setter>> cases = {
      {"noise_target 0.5", [](MeasureRequest& r) { r.noise_target = 0.5; }},
      {"noise_target 1e-9", [](MeasureRequest& r) { r.noise_target = 1e-9; }},
      {"min_samples 3", [](MeasureRequest& r) { r.min_samples = 3; }},
      {"min_samples 100000", [](MeasureRequest& r) { r.min_samples = 100000; }},
      {"max_time_s 3600", [](MeasureRequest& r) { r.max_time_s = 3600; }},
      {"min_time_s 0", [](MeasureRequest& r) { r.min_time_s = 0; }},
      {"min_time_s == default max_time_s", [](MeasureRequest& r) { r.min_time_s = 2; }},
      {"iterations_per_sample 0", [](MeasureRequest& r) { r.iterations_per_sample = 0; }},
      {"iterations_per_sample 1e6", [](MeasureRequest& r) { r.iterations_per_sample = 1000000; }},
      {"fixed_samples 1", [](MeasureRequest& r) { r.fixed_samples = 1; }},
      {"fixed_samples 100000", [](MeasureRequest& r) { r.fixed_samples = 100000; }},
      {"cpu_threads 0", [](MeasureRequest& r) { r.cpu_threads = 0; }},
      {"cpu_threads 1024", [](MeasureRequest& r) { r.cpu_threads = 1024; }},
      {"timing hot", [](MeasureRequest& r) { r.timing = "hot"; }},
      {"timing cold", [](MeasureRequest& r) { r.timing = "cold"; }},
      {"timing graph", [](MeasureRequest& r) { r.timing = "graph"; }},
  };
  for (const auto& [name, set] : cases) {
    MeasureRequest request;
    set(request);
    MeasureSettings out;
    const absl::Status status = ResolveMeasureSettings(request, MeasureSettings{}, &out);
    EXPECT_TRUE(status.ok()) << name << ": " << status;
  }
}

TEST(ResolveMeasureSettingsTest, RejectsNoiseTargetOutOfRange) {
  MeasureRequest r;
  r.noise_target = 0;
  MeasureSettings out;
  const absl::Status status = ResolveMeasureSettings(r, MeasureSettings{}, &out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(status.message()),
            "settings.noise_target: 0 is out of range; allowed (0, 0.5]");
  for (double bad : {-1.0, 0.6, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity()}) {
    r.noise_target = bad;
    ExpectRejected(r, "settings.noise_target", "(0, 0.5]");
  }
}

TEST(ResolveMeasureSettingsTest, RejectsMinSamplesOutOfRange) {
  for (int bad : {2, 0, -1, 100001}) {
    MeasureRequest r;
    r.min_samples = bad;
    ExpectRejected(r, "settings.min_samples", "3..100000");
  }
}

TEST(ResolveMeasureSettingsTest, RejectsMaxTimeOutOfRange) {
  for (double bad : {0.0, -1.0, 4000.0, std::numeric_limits<double>::quiet_NaN()}) {
    MeasureRequest r;
    r.max_time_s = bad;
    ExpectRejected(r, "settings.max_time_s", "(0, 3600]");
  }
}

TEST(ResolveMeasureSettingsTest, RejectsMinTimeOutOfRange) {
  for (double bad : {-0.1, 4000.0}) {
    MeasureRequest r;
    r.min_time_s = bad;
    ExpectRejected(r, "settings.min_time_s", "[0, 3600]");
  }
}

TEST(ResolveMeasureSettingsTest, RejectsMinTimeAboveMaxTime) {
  MeasureRequest r;
  r.min_time_s = 3;
  r.max_time_s = 2;
  ExpectRejected(r, "settings.min_time_s", "settings.max_time_s");
  // Also against the default max_time_s (2 s).
  MeasureRequest only_min;
  only_min.min_time_s = 2.5;
  ExpectRejected(only_min, "settings.min_time_s", "settings.max_time_s");
}

TEST(ResolveMeasureSettingsTest, RejectsIterationsPerSampleOutOfRange) {
  for (int64_t bad : {int64_t{-1}, int64_t{1000001}, int64_t{2000000}}) {
    MeasureRequest r;
    r.iterations_per_sample = bad;
    ExpectRejected(r, "settings.iterations_per_sample", "1..1000000");
  }
}

TEST(ResolveMeasureSettingsTest, RejectsFixedSamplesOutOfRange) {
  for (int bad : {0, -3, 100001}) {
    MeasureRequest r;
    r.fixed_samples = bad;
    ExpectRejected(r, "settings.fixed_samples", "1..100000");
  }
}

TEST(ResolveMeasureSettingsTest, RejectsUnknownTiming) {
  MeasureRequest r;
  r.timing = "warm";
  ExpectRejected(r, "settings.timing", "hot, cold, graph");
}

TEST(ResolveMeasureSettingsTest, RejectsCpuThreadsOutOfRange) {
  for (int bad : {-1, 1025}) {
    MeasureRequest r;
    r.cpu_threads = bad;
    ExpectRejected(r, "settings.cpu_threads", "1..1024");
  }
}

TEST(StopReasonTest, Names) {
  EXPECT_EQ(std::string(StopReasonName(StopReason::kContinue)), "");
  EXPECT_EQ(std::string(StopReasonName(StopReason::kNoiseTargetMet)), "noise_target_met");
  EXPECT_EQ(std::string(StopReasonName(StopReason::kTimeBudgetSpent)), "time_budget_spent");
  EXPECT_EQ(std::string(StopReasonName(StopReason::kFixedSamples)), "fixed_samples");
  EXPECT_EQ(std::string(StopReasonName(StopReason::kMaxSamples)), "max_samples");
}

// Samples with ~50% spread: the noise target is never met.
std::vector<double> Noisy(int n) {
  std::vector<double> samples;
  for (int i = 0; i < n; ++i) samples.push_back(i % 2 == 0 ? 1.0 : 2.0);
  return samples;
}

std::vector<double> Steady(int n) { return std::vector<double>(n, 1e-3); }

TEST(CheckStopTest, FixedModeStopsAtExactlyFixedSamples) {
  MeasureSettings s;
  s.fixed_samples = 20;
  for (int n = 0; n < 20; ++n) {
    // Neither a met noise target nor a spent time budget ends fixed mode early.
    EXPECT_EQ(CheckStop(s, Steady(n), 1e6), StopReason::kContinue) << n;
  }
  EXPECT_EQ(CheckStop(s, Steady(20), 0.0), StopReason::kFixedSamples);
  EXPECT_EQ(CheckStop(s, Noisy(20), 1e6), StopReason::kFixedSamples);
}

TEST(CheckStopTest, NoiseRuleWaitsForMinSamples) {
  MeasureSettings s;  // min_samples 10, min_time_s 0.05, max_time_s 2
  for (int n = 0; n < 10; ++n) {
    EXPECT_EQ(CheckStop(s, Steady(n), 1.0), StopReason::kContinue) << n;
  }
  EXPECT_EQ(CheckStop(s, Steady(10), 1.0), StopReason::kNoiseTargetMet);
}

TEST(CheckStopTest, NoiseRuleWaitsForMinTime) {
  MeasureSettings s;
  EXPECT_EQ(CheckStop(s, Steady(50), 0.0), StopReason::kContinue);
  EXPECT_EQ(CheckStop(s, Steady(50), 0.049), StopReason::kContinue);
  EXPECT_EQ(CheckStop(s, Steady(50), 0.05), StopReason::kNoiseTargetMet);
}

TEST(CheckStopTest, NoiseTargetIsInclusive) {
  std::vector<double> samples;
  for (int i = 0; i < 30; ++i) samples.push_back(1.0 + 0.001 * ((i * 7) % 30));
  const double noise = RelativeNoise(samples);
  ASSERT_GT(noise, 0);
  MeasureSettings s;
  s.noise_target = noise;
  EXPECT_EQ(CheckStop(s, samples, 0.1), StopReason::kNoiseTargetMet);
  s.noise_target = std::nextafter(noise, 0.0);
  EXPECT_EQ(CheckStop(s, samples, 0.1), StopReason::kContinue);
}

TEST(CheckStopTest, TimeBudgetStopsNoisySampling) {
  MeasureSettings s;
  EXPECT_EQ(CheckStop(s, Noisy(100), 1.99), StopReason::kContinue);
  EXPECT_EQ(CheckStop(s, Noisy(100), 2.0), StopReason::kTimeBudgetSpent);
  // Below min_samples (10) the budget still stops, once a noise figure
  // exists (3 samples)...
  EXPECT_EQ(CheckStop(s, Noisy(3), 2.5), StopReason::kTimeBudgetSpent);
  // ...but not before: one or two slow samples say nothing about noise.
  EXPECT_EQ(CheckStop(s, Noisy(1), 2.5), StopReason::kContinue);
  EXPECT_EQ(CheckStop(s, Noisy(2), 100.0), StopReason::kContinue);
  EXPECT_EQ(CheckStop(s, {}, 100.0), StopReason::kContinue);
}

TEST(CheckStopTest, NoiseTargetMetWinsOverTimeBudget) {
  MeasureSettings s;
  EXPECT_EQ(CheckStop(s, Steady(10), 5.0), StopReason::kNoiseTargetMet);
}

TEST(CheckStopTest, MaxSamples) {
  MeasureSettings s;
  s.max_samples = 50;
  EXPECT_EQ(CheckStop(s, Noisy(49), 0.1), StopReason::kContinue);
  EXPECT_EQ(CheckStop(s, Noisy(50), 0.1), StopReason::kMaxSamples);
}

TEST(CheckStopTest, ManySamplesStillStopSoonAfterTheTargetIsMet) {
  // Past 256 samples the noise is re-checked only every ~n/64 samples.
  MeasureSettings s;
  s.min_samples = 1000;
  std::vector<double> samples = Steady(999);
  int stopped_at = 0;
  for (int n = 1000; n <= 1100 && stopped_at == 0; ++n) {
    samples.push_back(1e-3);
    if (CheckStop(s, samples, 1.0) == StopReason::kNoiseTargetMet) stopped_at = n;
  }
  EXPECT_GE(stopped_at, 1000);
  EXPECT_LE(stopped_at, 1000 + 1000 / 64);
}

}  // namespace
}  // namespace flopd
