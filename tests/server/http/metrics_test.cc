// /metrics' content: per-point gauges from results (live and restored), the
// bound on points, counters from results and job ends, and the scrape-time
// gauges read from a scheduler over the fake device.
#include "server/http/metrics.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proto/wire/wire.h"
#include "tests/server/fake_device.h"
#include "tests/server/store/store_test_util.h"

namespace flopd {
namespace {

using testing::MakeResult;

// The sample line of `metric` whose labels include every one of `labels`
// ("name=\"value\"" each), or "" when there is none.
std::string Sample(const std::string& text, const std::string& metric,
                   const std::vector<std::string>& labels = {}) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (!absl::StartsWith(line, metric + "{") && !absl::StartsWith(line, metric + " ")) continue;
    bool all = true;
    for (const std::string& label : labels) all = all && absl::StrContains(line, label);
    if (all) return line;
  }
  return "";
}

double Value(const std::string& sample) {
  return sample.empty() ? -1 : std::stod(sample.substr(sample.rfind(' ') + 1));
}

struct MetricsTest : ::testing::Test {
  FlopdMetrics metrics{"host-a", "9.9.9", 3};
  Scheduler scheduler{FakeDevices()};
  std::string Render() { return metrics.Render(scheduler, StoreHealth{"ok"}); }
};

TEST_F(MetricsTest, PointGaugesHoldTheLatestResult) {
  v1::Result r = MakeResult("j-1", "outer", "fused", 1, "f32", 2000, 1700000000123);
  r.mutable_time()->set_median(0.25);
  r.set_gflops_per_s(16);
  r.set_gbytes_per_s(0.5);
  metrics.Record(r, IndexOf(r));
  r.mutable_time()->set_median(0.5);  // a newer measurement of the same point
  metrics.Record(r, IndexOf(r));
  const std::string text = Render();
  const std::vector<std::string> point = {"device=\"cpu:0\"", "op=\"outer\"", "impl=\"fused\"",
                                          "params=\"axis=1\"", "dtype=\"f32\"", "n=\"2000\"",
                                          "timing=\"hot\""};
  EXPECT_EQ(Value(Sample(text, "flopd_point_median_seconds", point)), 0.5) << text;
  EXPECT_EQ(Value(Sample(text, "flopd_point_flops_per_second", point)), 16e9);
  EXPECT_EQ(Value(Sample(text, "flopd_point_bytes_per_second", point)), 0.5e9);
  EXPECT_EQ(Value(Sample(text, "flopd_point_measured_timestamp_seconds", point)), 1700000000.123);
  EXPECT_EQ(Value(Sample(text, "flopd_point_relative_noise_ratio", point)), 0.004);
  // No ceilings, no efficiency.
  EXPECT_EQ(Sample(text, "flopd_point_efficiency_ratio"), "");
  EXPECT_EQ(Value(Sample(text, "flopd_results_total", {"device=\"cpu:0\""})), 2);
  EXPECT_EQ(Value(Sample(text, "flopd_build_info", {"version=\"9.9.9\"", "hostname=\"host-a\""})),
            1);
  // No job or run ids as labels.
  EXPECT_FALSE(absl::StrContains(text, "j-1")) << text;
  EXPECT_FALSE(absl::StrContains(text, "r-test")) << text;
}

TEST_F(MetricsTest, EfficiencyFollowsTheRoofline) {
  v1::Result r = MakeResult("j-1", "matvec", "gemv", 0, "f32", 100, 1);
  r.mutable_roofline()->set_efficiency(0.75);
  metrics.Record(r, IndexOf(r));
  EXPECT_EQ(Value(Sample(Render(), "flopd_point_efficiency_ratio", {"op=\"matvec\""})), 0.75);
  r.clear_roofline();
  metrics.Record(r, IndexOf(r));
  EXPECT_EQ(Sample(Render(), "flopd_point_efficiency_ratio"), "");
}

TEST_F(MetricsTest, RestoredPointsHaveGaugesButNoCounts) {
  const v1::Result r = MakeResult("j-1", "matvec", "gemv", 0, "f32", 100, 1);
  metrics.Restore(r, IndexOf(r));
  const std::string text = Render();
  EXPECT_NE(Sample(text, "flopd_point_median_seconds", {"n=\"100\""}), "");
  EXPECT_EQ(Sample(text, "flopd_results_total", {"device="}), "");
}

TEST_F(MetricsTest, AtMostMaxPointsTheLeastRecentlyMeasuredLeave) {
  for (int n : {10, 20, 30}) {
    const v1::Result r = MakeResult("j", "matvec", "gemv", 0, "f32", n, n);
    metrics.Record(r, IndexOf(r));
  }
  // 10 is measured again: 20 is now the least recent.
  const v1::Result again = MakeResult("j", "matvec", "gemv", 0, "f32", 10, 40);
  metrics.Record(again, IndexOf(again));
  const v1::Result fourth = MakeResult("j", "matvec", "gemv", 0, "f32", 50, 50);
  metrics.Record(fourth, IndexOf(fourth));
  const std::string text = Render();
  EXPECT_EQ(metrics.points(), 3);
  EXPECT_EQ(Sample(text, "flopd_point_median_seconds", {"n=\"20\""}), "") << text;
  EXPECT_EQ(Sample(text, "flopd_point_measured_timestamp_seconds", {"n=\"20\""}), "");
  for (const char* n : {"n=\"10\"", "n=\"30\"", "n=\"50\""}) {
    EXPECT_NE(Sample(text, "flopd_point_median_seconds", {n}), "") << n;
  }
  EXPECT_EQ(Value(Sample(text, "flopd_metrics_points")), 3);
  EXPECT_EQ(Value(Sample(text, "flopd_metrics_points_evicted_total")), 1);
}

TEST_F(MetricsTest, VerificationFailuresAreCountedByKind) {
  v1::Result bad = MakeResult("j", "outer", "library", 0, "f64", 64, 1);
  bad.mutable_verification()->set_passed(false);
  metrics.Record(bad, IndexOf(bad));
  const std::string text = Render();
  EXPECT_EQ(Value(Sample(text, "flopd_verification_failures_total",
                         {"op=\"outer\"", "impl=\"library\"", "dtype=\"f64\""})),
            1)
      << text;
}

TEST(MetricsScrapeTest, JobsQueuesCeilingsAndStore) {
  FakeDeviceOptions options;
  DeviceCeilings ceilings;
  ceilings.bandwidth_bytes_per_s = 2e11;
  ceilings.peak_flops["f32"] = 3e12;
  options.ceilings = ceilings;
  FlopdMetrics metrics("h", "v");
  Scheduler scheduler(FakeDevices(options), {&metrics});
  JobSubmission submission;
  submission.request.ops = {"matvec"};
  submission.request.impls = {"gemv"};
  submission.request.sizes = "16";
  submission.measure.max_time_s = 0.01;
  submission.measure.min_samples = 3;
  absl::StatusOr<SubmittedJob> job = scheduler.Submit(submission);
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(job->job->WaitEnded(std::chrono::seconds(30)));
  // WaitEnded wakes when the job's record ends, before the worker has told
  // the observers (the metrics) and freed the device: wait for that too (seen
  // failing under ASan, deploy/sanitize.sh).
  for (int i = 0; i < 3000 && scheduler.pending_jobs(0) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(scheduler.pending_jobs(0), 0);
  StoreHealth store{"degraded"};
  store.results = 12;
  store.bytes = 4096;
  store.results_not_stored = 2;
  const std::string text = metrics.Render(scheduler, store);
  EXPECT_EQ(Value(Sample(text, "flopd_jobs_total", {"device=\"cpu:0\"", "state=\"finished\""})), 1)
      << text;
  EXPECT_EQ(Value(Sample(text, "flopd_queue_length", {"device=\"cpu:0\""})), 0);
  EXPECT_EQ(Value(Sample(text, "flopd_jobs_running", {"device=\"cpu:0\""})), 0);
  EXPECT_EQ(Value(Sample(text, "flopd_device_healthy", {"device=\"cpu:0\""})), 1);
  EXPECT_EQ(Value(Sample(text, "flopd_device_peak_flops_per_second", {"dtype=\"f32\""})), 3e12);
  EXPECT_EQ(Value(Sample(text, "flopd_device_memory_bandwidth_bytes_per_second")), 2e11);
  EXPECT_EQ(Value(Sample(text, "flopd_store_up")), 0);
  EXPECT_EQ(Value(Sample(text, "flopd_store_results")), 12);
  EXPECT_EQ(Value(Sample(text, "flopd_store_bytes")), 4096);
  EXPECT_EQ(Value(Sample(text, "flopd_store_results_not_stored_total")), 2);
  // A counter read again does not count twice.
  store.results_not_stored = 3;
  EXPECT_EQ(Value(Sample(metrics.Render(scheduler, store), "flopd_store_results_not_stored_total")),
            3);
}

}  // namespace
}  // namespace flopd
