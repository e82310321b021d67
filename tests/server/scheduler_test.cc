#include "server/scheduler.h"

#include <chrono>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

using std::chrono::milliseconds;

DeviceSet CpuOnly() {
  BackendConfig config;
  config.cpu_threads = 2;
  config.enable_cuda = false;
  return CreateDevices(config);
}

JobSubmission Small(const std::string& sizes = "64") {
  JobSubmission s;
  s.request.ops = {"matvec"};
  s.request.impls = {"gemv"};
  s.request.sizes = sizes;
  s.measure.max_time_s = 0.02;
  s.measure.min_time_s = 0.0;
  s.measure.min_samples = 3;
  return s;
}

// Drains a job's events until it finishes or fails.
std::vector<JobEvent> Drain(Job& job) {
  std::vector<JobEvent> events;
  JobEvent event;
  while (job.events().PopFor(&event, milliseconds(30000))) {
    events.push_back(event);
    if (event.kind == JobEvent::Kind::kFinished || event.kind == JobEvent::Kind::kError) break;
  }
  return events;
}

TEST(Scheduler, StreamsStartedResultsFinishedInOrder) {
  Scheduler scheduler(CpuOnly());
  absl::StatusOr<SubmittedJob> job = scheduler.Submit(Small("32,48,64"));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->queue_position, 0);
  EXPECT_EQ(job->device, "cpu:0");
  std::vector<JobEvent> events = Drain(*job->job);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].kind, JobEvent::Kind::kStarted);
  std::vector<int64_t> sizes;
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(events[i].kind, JobEvent::Kind::kResult);
    sizes.push_back(events[i].result.point.n);
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{32, 48, 64}));
  EXPECT_EQ(events[4].kind, JobEvent::Kind::kFinished);
  EXPECT_EQ(events[4].points_measured, 3);
}

TEST(Scheduler, SecondJobOnTheSameDeviceIsToldItsQueuePosition) {
  Scheduler scheduler(CpuOnly());
  absl::StatusOr<SubmittedJob> first = scheduler.Submit(Small("100:600:100"));
  absl::StatusOr<SubmittedJob> second = scheduler.Submit(Small());
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(second->queue_position, 1);
  std::vector<JobEvent> first_events = Drain(*first->job);
  std::vector<JobEvent> second_events = Drain(*second->job);
  EXPECT_EQ(first_events.back().kind, JobEvent::Kind::kFinished);
  EXPECT_EQ(second_events.back().kind, JobEvent::Kind::kFinished);
}

TEST(Scheduler, RejectsWhatTheDeviceCannotRun) {
  Scheduler scheduler(CpuOnly());
  JobSubmission unknown_device = Small();
  unknown_device.device = "cuda:0";
  absl::StatusOr<SubmittedJob> job = scheduler.Submit(unknown_device);
  EXPECT_EQ(job.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(job.status().message(), "this host has: cpu:0"))
      << job.status().message();
  EXPECT_TRUE(absl::StrContains(job.status().message(), "disabled with --no-cuda"))
      << job.status().message();

  JobSubmission graph = Small();
  graph.measure.timing = "graph";
  EXPECT_EQ(scheduler.Submit(graph).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Scheduler, CancelStopsARunningJobWithTheGivenReason) {
  Scheduler scheduler(CpuOnly());
  JobSubmission long_job = Small("100:4000:100");
  long_job.measure.min_time_s = 0.2;
  long_job.measure.max_time_s = 0.2;
  absl::StatusOr<SubmittedJob> job = scheduler.Submit(long_job);
  ASSERT_TRUE(job.ok());
  JobEvent event;
  ASSERT_TRUE(job->job->events().PopFor(&event, milliseconds(10000)));  // started
  const auto start = std::chrono::steady_clock::now();
  job->job->Cancel(absl::CancelledError("test cancelled"));
  std::vector<JobEvent> rest = Drain(*job->job);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back().kind, JobEvent::Kind::kError);
  EXPECT_EQ(rest.back().error.code(), absl::StatusCode::kCancelled);
  EXPECT_LT(seconds, 1.0);  // within one sample, not after the 39 points left
}

TEST(Scheduler, ShutdownEndsQueuedAndRunningJobsWithUnavailable) {
  Scheduler scheduler(CpuOnly());
  JobSubmission long_job = Small("100:4000:100");
  long_job.measure.min_time_s = 0.2;
  long_job.measure.max_time_s = 0.2;
  absl::StatusOr<SubmittedJob> running = scheduler.Submit(long_job);
  absl::StatusOr<SubmittedJob> queued = scheduler.Submit(Small());
  ASSERT_TRUE(running.ok() && queued.ok());
  scheduler.Shutdown();
  for (auto* job : {running->job.get(), queued->job.get()}) {
    std::vector<JobEvent> events = Drain(*job);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().kind, JobEvent::Kind::kError);
    EXPECT_EQ(events.back().error.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(events.back().error.message(), "flopd is shutting down");
  }
  EXPECT_EQ(scheduler.Submit(Small()).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace flopd
