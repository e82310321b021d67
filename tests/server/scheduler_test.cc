#include "server/scheduler.h"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "server/job.h"
#include "tests/server/fake_device.h"

namespace flopd {
namespace {

using std::chrono::milliseconds;

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

// The next event of a job that is not a status (the first job on a device
// says first that it measures the device's ceilings).
bool PopNonStatus(Job& job, JobEvent* event, milliseconds timeout) {
  while (job.events().PopFor(event, timeout)) {
    if (event->kind != JobEvent::Kind::kStatus) return true;
  }
  return false;
}

// Drains a job's events until it finishes or fails; status events only when
// `keep_status`.
std::vector<JobEvent> Drain(Job& job, bool keep_status = false) {
  std::vector<JobEvent> events;
  JobEvent event;
  while (job.events().PopFor(&event, milliseconds(30000))) {
    if (event.kind == JobEvent::Kind::kStatus && !keep_status) continue;
    events.push_back(event);
    if (event.kind == JobEvent::Kind::kFinished || event.kind == JobEvent::Kind::kError) break;
  }
  return events;
}

// Polls `condition` every millisecond for up to 10 s.
bool WaitUntil(const std::function<bool()>& condition) {
  for (int i = 0; i < 10000; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return condition();
}

// A device whose every TimeBatch takes `seconds` of real time.
DeviceSet SlowDevice(double seconds) {
  FakeDeviceOptions options;
  options.wall_seconds_per_batch = seconds;
  return FakeDevices(options);
}

TEST(Scheduler, StreamsStartedResultsFinishedInOrder) {
  Scheduler scheduler(FakeDevices());
  absl::StatusOr<SubmittedJob> job = scheduler.Submit(Small("32,48,64"));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->queue_position, 0);
  EXPECT_EQ(job->device, "cpu:0");
  const JobEvent accepted = AcceptedEvent(*job);
  EXPECT_EQ(accepted.kind, JobEvent::Kind::kAccepted);
  EXPECT_EQ(accepted.points_total, 3);
  EXPECT_EQ(accepted.sizes, (std::vector<int64_t>{32, 48, 64}));
  std::vector<JobEvent> events = Drain(*job->job, /*keep_status=*/true);
  ASSERT_EQ(events.size(), 6u);
  // The device's first job says it measures the ceilings, before it starts.
  EXPECT_EQ(events[0].kind, JobEvent::Kind::kStatus);
  EXPECT_EQ(events[0].status_phase, "measuring_ceilings");
  EXPECT_TRUE(absl::StrContains(events[0].status_message, "cpu:0")) << events[0].status_message;
  events.erase(events.begin());
  EXPECT_EQ(events[0].kind, JobEvent::Kind::kStarted);
  std::vector<int64_t> sizes;
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(events[i].kind, JobEvent::Kind::kResult);
    sizes.push_back(events[i].result.point.n);
    EXPECT_DOUBLE_EQ(events[i].result.summary.median, 1e-6 * events[i].result.point.n);
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{32, 48, 64}));
  EXPECT_EQ(events[4].kind, JobEvent::Kind::kFinished);
  EXPECT_EQ(events[4].points_measured, 3);
  EXPECT_EQ(events[4].points_failed_verification, 0);
}

TEST(Scheduler, CountsPointsThatFailVerification) {
  FakeDeviceOptions options;
  options.wrong_output = true;
  Scheduler scheduler(FakeDevices(options));
  absl::StatusOr<SubmittedJob> job = scheduler.Submit(Small("16,32"));
  ASSERT_TRUE(job.ok()) << job.status();
  std::vector<JobEvent> events = Drain(*job->job);
  ASSERT_EQ(events.back().kind, JobEvent::Kind::kFinished);
  EXPECT_EQ(events.back().points_measured, 2);
  EXPECT_EQ(events.back().points_failed_verification, 2);
}

// One job holds the device (its first batch waits for the test to open a
// gate); three more are submitted behind it and must be told positions 1, 2
// and 3, then run in that order: the order in which the device sees their
// points (sizes 11, 12, 13) is recorded by the device itself, not by clocks.
TEST(Scheduler, ThreeQueuedJobsAreToldPositionsOneTwoThreeAndRunFirstInFirstOut) {
  std::mutex mu;
  std::condition_variable cv;
  bool gate_open = false;
  std::vector<int64_t> order;  // each point's N, once, when the device first times it
  FakeDeviceOptions options;
  options.on_time_batch = [&](const PointSpec& point) {
    std::unique_lock<std::mutex> lock(mu);
    if (order.empty() || order.back() != point.n) order.push_back(point.n);
    cv.wait(lock, [&] { return gate_open; });
  };
  Scheduler scheduler(FakeDevices(options));
  absl::StatusOr<SubmittedJob> running = scheduler.Submit(Small("10"));
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ(running->queue_position, 0);
  JobEvent started;
  ASSERT_TRUE(PopNonStatus(*running->job, &started, milliseconds(10000)));
  ASSERT_EQ(started.kind, JobEvent::Kind::kStarted) << "the first job holds the device";
  std::vector<SubmittedJob> queued;
  for (const char* size : {"11", "12", "13"}) {
    absl::StatusOr<SubmittedJob> job = scheduler.Submit(Small(size));
    ASSERT_TRUE(job.ok()) << job.status();
    queued.push_back(*job);
  }
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(queued[i].queue_position, i + 1) << i;
    EXPECT_EQ(AcceptedEvent(queued[i]).queue_position, i + 1) << i;
  }
  EXPECT_EQ(scheduler.pending_jobs(0), 4);
  {
    std::lock_guard<std::mutex> lock(mu);
    gate_open = true;
  }
  cv.notify_all();
  std::vector<JobEvent> first = Drain(*running->job);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first.back().kind, JobEvent::Kind::kFinished);
  for (SubmittedJob& job : queued) {
    std::vector<JobEvent> events = Drain(*job.job);
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events.front().kind, JobEvent::Kind::kStarted);
    EXPECT_EQ(events.back().kind, JobEvent::Kind::kFinished);
  }
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(order, (std::vector<int64_t>{10, 11, 12, 13})) << "first in, first out";
}

// A job cancelled while it waits (Job::Cancel, as the service does when its
// client goes away) counts in no queue: not in the device's queued jobs
// (GetHostInfo's queued_jobs, /metrics) and not in the position of a job
// submitted after it. It still ends, with its reason, and the others run in
// order.
TEST(Scheduler, AJobCancelledWhileQueuedCountsInNoQueueLengthOrPosition) {
  std::mutex mu;
  std::condition_variable cv;
  bool gate_open = false;
  std::vector<int64_t> order;
  FakeDeviceOptions options;
  options.on_time_batch = [&](const PointSpec& point) {
    std::unique_lock<std::mutex> lock(mu);
    if (order.empty() || order.back() != point.n) order.push_back(point.n);
    cv.wait(lock, [&] { return gate_open; });
  };
  Scheduler scheduler(FakeDevices(options));
  struct OpenGate {  // whatever happens, the worker is let go before the scheduler
    std::mutex& mu;
    std::condition_variable& cv;
    bool& open;
    ~OpenGate() {
      std::lock_guard<std::mutex> lock(mu);
      open = true;
      cv.notify_all();
    }
  } open_gate{mu, cv, gate_open};
  absl::StatusOr<SubmittedJob> running = scheduler.Submit(Small("10"));
  ASSERT_TRUE(running.ok()) << running.status();
  JobEvent started;
  ASSERT_TRUE(PopNonStatus(*running->job, &started, milliseconds(10000)));
  ASSERT_EQ(started.kind, JobEvent::Kind::kStarted) << "the first job holds the device";
  absl::StatusOr<SubmittedJob> gone = scheduler.Submit(Small("11"));
  absl::StatusOr<SubmittedJob> kept = scheduler.Submit(Small("12"));
  ASSERT_TRUE(gone.ok() && kept.ok());
  EXPECT_EQ(gone->queue_position, 1);
  EXPECT_EQ(kept->queue_position, 2);

  gone->job->Cancel(absl::CancelledError("client went away"));
  EXPECT_EQ(scheduler.pending_jobs(0), 2) << "the running job and the one still waiting";
  EXPECT_EQ(scheduler.queue_state(0).waiting, 1);
  EXPECT_TRUE(scheduler.queue_state(0).running);
  absl::StatusOr<SubmittedJob> next = scheduler.Submit(Small("13"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->queue_position, 2) << "behind the running job and the one left waiting";

  {
    std::lock_guard<std::mutex> lock(mu);
    gate_open = true;
  }
  cv.notify_all();
  auto last_kind = [](Job& job) {
    std::vector<JobEvent> events = Drain(job);
    return events.empty() ? JobEvent::Kind::kAccepted : events.back().kind;
  };
  EXPECT_EQ(last_kind(*running->job), JobEvent::Kind::kFinished);
  std::vector<JobEvent> cancelled = Drain(*gone->job);
  ASSERT_FALSE(cancelled.empty());
  EXPECT_EQ(cancelled.back().kind, JobEvent::Kind::kError);
  EXPECT_EQ(cancelled.back().error.message(), "client went away");
  EXPECT_EQ(last_kind(*kept->job), JobEvent::Kind::kFinished);
  EXPECT_EQ(last_kind(*next->job), JobEvent::Kind::kFinished);
  // The last event is out before the worker lets go of the job.
  EXPECT_TRUE(WaitUntil([&] { return scheduler.pending_jobs(0) == 0; }))
      << scheduler.pending_jobs(0);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(order, (std::vector<int64_t>{10, 12, 13})) << "the cancelled job never ran";
}

TEST(Scheduler, RejectsWhatTheDeviceCannotRun) {
  DeviceSet devices = FakeDevices();
  devices.unavailable.push_back("cuda: disabled with --no-cuda");
  Scheduler scheduler(std::move(devices));
  JobSubmission unknown_device = Small();
  unknown_device.device = "cuda:0";
  absl::StatusOr<SubmittedJob> job = scheduler.Submit(unknown_device);
  EXPECT_EQ(job.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(job.status().message(),
            "device: unknown device 'cuda:0'; this host has: cpu:0 (not offered: cuda: disabled "
            "with --no-cuda)");

  JobSubmission graph = Small();
  graph.measure.timing = "graph";
  EXPECT_EQ(scheduler.Submit(graph).status().message(),
            "settings.timing: 'graph' is not supported on cpu:0; allowed: hot, cold");

  JobSubmission custom = Small();
  custom.request.impls = {"custom"};  // a cuda impl
  EXPECT_EQ(scheduler.Submit(custom).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Scheduler, RejectsAJobWithAPointThatDoesNotFitBeforeQueueingIt) {
  FakeDeviceOptions options;
  options.bytes_available = 1 << 20;
  Scheduler scheduler(FakeDevices(options));
  absl::StatusOr<SubmittedJob> job = scheduler.Submit(Small("100,1000"));
  EXPECT_EQ(job.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StartsWith(job.status().message(), "sizes: N=1000 is too large for cpu:0"))
      << job.status().message();
  EXPECT_EQ(scheduler.pending_jobs(0), 0);
}

TEST(Scheduler, MeasuresCeilingsOnceBeforeTheFirstJobAndPlacesResults) {
  DeviceCeilings ceilings;
  ceilings.bandwidth_bytes_per_s = 1e10;
  ceilings.peak_flops = {{"f32", 1e11}};
  FakeDeviceOptions options;
  options.ceilings = ceilings;
  auto device = std::make_unique<FakeDevice>(options);
  FakeDevice* fake = device.get();
  DeviceSet set;
  set.devices.push_back(std::move(device));
  Scheduler scheduler(std::move(set));
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<SubmittedJob> job = scheduler.Submit(Small("16"));
    ASSERT_TRUE(job.ok());
    std::vector<JobEvent> events = Drain(*job->job);
    ASSERT_EQ(events.size(), 3u);
    ASSERT_TRUE(events[1].result.roofline.has_value());
    EXPECT_DOUBLE_EQ(events[1].result.roofline->peak_flops_per_s, 1e11);
  }
  EXPECT_EQ(fake->ceilings_measured(), 1);
}

// Re-measured ceilings replace good ones only when plausible next to them:
// a measurement disturbed by other load (half the bandwidth) or a failed one
// leaves the ceilings every roofline uses as they were, and says why.
TEST(Scheduler, AnImplausibleOrFailedRemeasurementKeepsTheCeilingsInUse) {
  auto ceilings = [](double bandwidth, double flops) {
    DeviceCeilings c;
    c.bandwidth_bytes_per_s = bandwidth;
    c.peak_flops = {{"f32", flops}};
    return c;
  };
  FakeDeviceOptions options;
  options.ceilings_of_call = [&](int call) -> absl::StatusOr<DeviceCeilings> {
    switch (call) {
      case 0: return ceilings(1e10, 1e11);
      case 1: return ceilings(1.5e10, 0.9e11);         // plausible: taken
      case 2: return ceilings(0.6e10, 1e11);           // 0.4x the bandwidth: kept
      case 3: return absl::InternalError("fake: lost");  // an error: kept
      default: return ceilings(1e10, 3.5e11);          // 3.9x the peak: kept
    }
  };
  Scheduler scheduler(FakeDevices(options));
  const auto wait = std::chrono::seconds(10);
  ASSERT_EQ(scheduler.MeasureCeilings(0, false, wait)->bandwidth_bytes_per_s, 1e10);
  ASSERT_EQ(scheduler.MeasureCeilings(0, true, wait)->bandwidth_bytes_per_s, 1.5e10);
  EXPECT_EQ(scheduler.ceilings_note(0), "");
  EXPECT_EQ(scheduler.MeasureCeilings(0, true, wait)->bandwidth_bytes_per_s, 1.5e10);
  EXPECT_TRUE(absl::StartsWith(scheduler.ceilings_note(0),
                               "re-measured bandwidth (bytes/s) 6e+09 is 0.40x the 1.5e+10 in use"))
      << scheduler.ceilings_note(0);
  EXPECT_EQ(scheduler.MeasureCeilings(0, true, wait)->bandwidth_bytes_per_s, 1.5e10);
  EXPECT_TRUE(absl::StrContains(scheduler.ceilings_note(0), "re-measurement failed (INTERNAL"))
      << scheduler.ceilings_note(0);
  absl::StatusOr<DeviceCeilings> kept = scheduler.MeasureCeilings(0, true, wait);
  EXPECT_EQ(kept->peak_flops.at("f32"), 0.9e11);
  EXPECT_TRUE(absl::StrContains(scheduler.ceilings_note(0), "peak f32 (FLOP/s)"))
      << scheduler.ceilings_note(0);
}

// Polls `condition` every 5 ms for up to 10 s.
bool WaitFor(const std::function<bool()>& condition) {
  for (int i = 0; i < 2000; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

// Issue 9: a re-measurement asked while jobs wait runs after them and before
// jobs submitted after it (it used to jump the queue: three clients asking
// in a loop held a 0.02 s job back for 31 s). Job A is held inside its first
// batch until B is queued, the request made and C submitted.
TEST(Scheduler, ARemeasurementQueuesLikeAJobAfterTheJobsAlreadyWaiting) {
  std::mutex mu;
  std::condition_variable cv;
  bool release_a = false;
  std::vector<std::string> order;  // guarded by mu
  auto note = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    if (order.empty() || order.back() != what) order.push_back(what);
  };
  FakeDeviceOptions options;
  options.ceilings_of_call = [&](int call) -> absl::StatusOr<DeviceCeilings> {
    note(absl::StrCat("ceilings#", call));
    DeviceCeilings c;
    c.bandwidth_bytes_per_s = 1e10;
    c.peak_flops = {{"f32", 1e11}};
    return c;
  };
  options.on_time_batch = [&](const PointSpec& point) {
    note(absl::StrCat("n", point.n));
    std::unique_lock<std::mutex> lock(mu);
    if (point.n == 16) cv.wait(lock, [&] { return release_a; });
  };
  Scheduler scheduler(FakeDevices(options));
  absl::StatusOr<SubmittedJob> a = scheduler.Submit(Small("16"));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return !order.empty() && order.back() == "n16";
  }));
  absl::StatusOr<SubmittedJob> b = scheduler.Submit(Small("32"));
  ASSERT_TRUE(b.ok());
  // Asked now, answered later: DEADLINE_EXCEEDED, the request stays queued.
  EXPECT_EQ(scheduler.MeasureCeilings(0, true, std::chrono::milliseconds(1)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  absl::StatusOr<SubmittedJob> c = scheduler.Submit(Small("48"));
  ASSERT_TRUE(c.ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    release_a = true;
  }
  cv.notify_all();
  ASSERT_TRUE(c->job->WaitEnded(std::chrono::seconds(20)));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(absl::StrJoin(order, " "), "ceilings#0 n16 n32 ceilings#1 n48");
}

// The trust issue's bound: a cancelled job frees its device within one
// sample. Samples of 0.2 s; the job would take 20 of them (4 s) per point if
// the sampling loop did not look at the flag, and the cancel lands inside
// the sampling (after the warm-up's two batches and the first sample), so
// the warm-up's own check cannot be what stops it. "Free" is seen from the
// outside: the job queued behind it starts.
// CancelJob's answer names who cancelled even while the job is still
// stopping: a job cancelled while its device measures the ceilings (seconds
// under a sanitizer) ends only after them, past CancelJob's wait.
TEST(Job, TheAnswerToACancelCarriesItsReasonBeforeTheJobHasEnded) {
  JobRecord accepted;
  accepted.id = "j-test";
  Job job(accepted, 0, nullptr, JobPlan{}, MeasureSettings{});
  JobEvent started;
  started.kind = JobEvent::Kind::kStarted;
  job.Apply(started, 1);
  job.Cancel(absl::CancelledError("cancelled by CancelJob from token:boss"));
  EXPECT_EQ(job.RecordAfterCancel().state, JobState::kRunning);
  EXPECT_EQ(job.RecordAfterCancel().status.message(), "cancelled by CancelJob from token:boss");
  EXPECT_TRUE(job.record().status.ok()) << "record() stays the job as it stands";
  JobEvent ended;
  ended.kind = JobEvent::Kind::kError;
  ended.error = absl::CancelledError("cancelled by CancelJob from token:boss (after 3 points)");
  job.Apply(ended, 2);
  EXPECT_EQ(job.RecordAfterCancel().state, JobState::kCancelled);
  EXPECT_EQ(job.RecordAfterCancel().status.message(),
            "cancelled by CancelJob from token:boss (after 3 points)")
      << "once ended, as it ended";
}

TEST(Scheduler, CancelFreesTheDeviceWithinOneSample) {
  constexpr double kSampleSeconds = 0.2;
  FakeDeviceOptions options;
  options.wall_seconds_per_batch = kSampleSeconds;
  auto owned = std::make_unique<FakeDevice>(options);
  FakeDevice* device = owned.get();
  DeviceSet set;
  set.devices.push_back(std::move(owned));
  Scheduler scheduler(std::move(set));
  JobSubmission long_job = Small("100:4000:100");
  long_job.measure.min_samples = 20;
  long_job.measure.max_time_s = 60;
  absl::StatusOr<SubmittedJob> job = scheduler.Submit(long_job);
  ASSERT_TRUE(job.ok()) << job.status();
  absl::StatusOr<SubmittedJob> next = scheduler.Submit(Small());
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->queue_position, 1);
  // Batches 1-2 are the warm-up, 3 the first sample; wait into the second.
  ASSERT_TRUE([&] {
    for (int i = 0; i < 10000 && device->batches_timed() < 4; ++i) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    return device->batches_timed() >= 4;
  }()) << "the job never reached its second sample";
  std::this_thread::sleep_for(milliseconds(20));
  const auto start = std::chrono::steady_clock::now();
  job->job->Cancel(absl::CancelledError("test cancelled"));
  JobEvent started;
  ASSERT_TRUE(PopNonStatus(*next->job, &started, milliseconds(30000)));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(started.kind, JobEvent::Kind::kStarted);
  EXPECT_LT(seconds, kSampleSeconds + 0.15) << "one sample plus scheduling slack";
  std::vector<JobEvent> rest = Drain(*job->job);
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back().kind, JobEvent::Kind::kError);
  EXPECT_EQ(rest.back().error.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(rest.back().error.message(), "test cancelled");
  for (const JobEvent& event : rest) {
    EXPECT_NE(event.kind, JobEvent::Kind::kResult) << "the point was cut, not finished";
  }
}

TEST(Scheduler, ShutdownEndsQueuedAndRunningJobsWithUnavailable) {
  Scheduler scheduler(SlowDevice(0.05));
  absl::StatusOr<SubmittedJob> running = scheduler.Submit(Small("100:4000:100"));
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

TEST(Scheduler, LimitsRefuseTooManyWaitingJobsAndTooManyPointsNamingTheFlag) {
  SchedulerLimits limits;
  limits.max_waiting_jobs_per_device = 2;
  limits.max_points_per_job = 3;
  Scheduler scheduler(SlowDevice(0.05), {}, limits);
  absl::StatusOr<SubmittedJob> too_big = scheduler.Submit(Small("16,32,48,64"));
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(too_big.status().message(), "--max-points-per-job"))
      << too_big.status();
  std::vector<SubmittedJob> jobs;
  // One runs (or is about to), two wait; the next is refused.
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<SubmittedJob> job = scheduler.Submit(Small("16,32,48"));
    ASSERT_TRUE(job.ok()) << i << ": " << job.status();
    jobs.push_back(*job);
    // Let the first one leave the queue for the device.
    if (i == 0) {
      ASSERT_TRUE(WaitUntil([&] { return scheduler.queue_state(0).running; }));
    }
  }
  absl::StatusOr<SubmittedJob> refused = scheduler.Submit(Small());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "--max-queued-jobs"))
      << refused.status();
  scheduler.Shutdown();
}

TEST(Scheduler, AJobPastTheTimeLimitEndsWithDeadlineExceededKeepingItsResults) {
  SchedulerLimits limits;
  limits.max_job_seconds = 1.5;
  // 0.1 s an execution, really (one per sample): a point is its warm-up and
  // 3 samples, about 0.5 s, so the job (ten points) outlives the limit after
  // a few points.
  FakeDeviceOptions options;
  options.seconds_per_execution = [](const PointSpec&) { return 0.1; };
  options.wall_seconds_per_batch = 0.1;
  Scheduler scheduler(FakeDevices(options), {}, limits);
  JobSubmission long_job = Small("16:161:16");
  long_job.measure.max_time_s = 0.3;
  long_job.measure.min_time_s = 0.2;
  absl::StatusOr<SubmittedJob> job = scheduler.Submit(long_job);
  ASSERT_TRUE(job.ok()) << job.status();
  const std::vector<JobEvent> events = Drain(*job->job);
  ASSERT_FALSE(events.empty());
  const JobEvent& last = events.back();
  ASSERT_EQ(last.kind, JobEvent::Kind::kError);
  EXPECT_EQ(last.error.code(), absl::StatusCode::kDeadlineExceeded) << last.error;
  EXPECT_TRUE(absl::StrContains(last.error.message(), "--max-job-time")) << last.error;
  int results = 0;
  for (const JobEvent& e : events) results += e.kind == JobEvent::Kind::kResult;
  EXPECT_GE(results, 1);
  EXPECT_LT(results, 10);
  EXPECT_EQ(last.points_measured, results);
}

}  // namespace
}  // namespace flopd
