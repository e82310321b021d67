// Limits of issue 9 in one process: a job's bounded event channel, the
// stream registry (a cap on open streams and the reaper of streams whose
// reader fell behind), and the scheduler's bounds on threads per job and on
// the client label.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/job.h"
#include "server/scheduler.h"
#include "server/stream_registry.h"
#include "tests/server/fake_device.h"

namespace flopd {
namespace {

using std::chrono::milliseconds;

JobEvent ResultWithSamples(int samples) {
  JobEvent event;
  event.kind = JobEvent::Kind::kResult;
  event.result.samples.assign(samples, 1e-6);
  return event;
}

TEST(EventChannel, AReaderTooFarBehindLosesTheBufferAndIsToldSo) {
  EventChannel channel;
  const int64_t one = EventChannel::ApproximateBytes(ResultWithSamples(100));
  channel.Bound(3 * one);
  for (int i = 0; i < 3; ++i) channel.Push(ResultWithSamples(100));
  EXPECT_FALSE(channel.overflowed());
  channel.Push(ResultWithSamples(100));  // a fourth would exceed the bound
  EXPECT_TRUE(channel.overflowed());
  JobEvent event;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(channel.PopFor(&event, milliseconds(5000)));  // at once, not after 5 s
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
  channel.Push(ResultWithSamples(1));  // nothing more is kept
  EXPECT_FALSE(channel.PopFor(&event, milliseconds(0)));
}

TEST(EventChannel, AReaderThatKeepsUpNeverOverflowsAndOneBigEventAlwaysFits) {
  EventChannel channel;
  channel.Bound(EventChannel::ApproximateBytes(ResultWithSamples(10)));
  JobEvent event;
  for (int i = 0; i < 1000; ++i) {
    channel.Push(ResultWithSamples(10));
    ASSERT_TRUE(channel.PopFor(&event, milliseconds(0)));
  }
  channel.Push(ResultWithSamples(100000));  // bigger than the bound, alone
  EXPECT_FALSE(channel.overflowed());
  ASSERT_TRUE(channel.PopFor(&event, milliseconds(0)));
  EXPECT_EQ(event.result.samples.size(), 100000u);
}

TEST(EventChannel, UnboundedByDefault) {
  EventChannel channel;
  for (int i = 0; i < 2000; ++i) channel.Push(ResultWithSamples(1000));
  EXPECT_FALSE(channel.overflowed());
}

TEST(StreamRegistry, RefusesStreamsBeyondTheCapNamingTheFlagAndFreesAPlaceOnClose) {
  StreamRegistry registry({2, milliseconds(1000), milliseconds(10)});
  auto first = registry.Open("Run");
  auto second = registry.Open("WatchResults");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(registry.open(), 2);
  const auto third = registry.Open("Run");
  ASSERT_FALSE(third.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(third.status()));
  EXPECT_EQ(third.status().message(),
            "Run: 2 Run and WatchResults streams are open on this flopd, its limit "
            "(--max-streams); try again when one has ended");
  first->reset();
  EXPECT_EQ(registry.open(), 1);
  EXPECT_TRUE(registry.Open("Run").ok());
}

TEST(StreamRegistry, EndsAStreamBehindForLongerThanTheGraceOnlyOnce) {
  StreamRegistry registry({4, milliseconds(200), milliseconds(10)});
  auto slot = registry.Open("Run");
  ASSERT_TRUE(slot.ok());
  std::atomic<bool> behind{false};
  std::atomic<int> ended{0};
  (*slot)->Watch([&] { return behind.load(); }, [&] { ++ended; });
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(ended.load(), 0);  // never behind
  behind = true;
  const auto start = std::chrono::steady_clock::now();
  while (ended.load() == 0 && std::chrono::steady_clock::now() - start < milliseconds(5000)) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(ended.load(), 1);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(150));  // the grace
  EXPECT_TRUE((*slot)->ended_by_reaper());
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(ended.load(), 1);
}

TEST(StreamRegistry, AStreamThatCatchesUpWithinTheGraceIsLeftAlone) {
  StreamRegistry registry({4, milliseconds(300), milliseconds(10)});
  auto slot = registry.Open("WatchResults");
  ASSERT_TRUE(slot.ok());
  std::atomic<bool> behind{true};
  std::atomic<int> ended{0};
  (*slot)->Watch([&] { return behind.load(); }, [&] { ++ended; });
  std::this_thread::sleep_for(milliseconds(100));
  behind = false;
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_EQ(ended.load(), 0);
  EXPECT_FALSE((*slot)->ended_by_reaper());
}

JobSubmission Small() {
  JobSubmission s;
  s.request.ops = {"matvec"};
  s.request.impls = {"gemv"};
  s.request.sizes = "64";
  s.measure.max_time_s = 0.02;
  s.measure.min_time_s = 0.0;
  s.measure.min_samples = 3;
  return s;
}

TEST(SchedulerLimits, AJobAskingForMoreThreadsThanTheLimitIsRefusedNamingFieldAndFlag) {
  SchedulerLimits limits;
  limits.max_threads_per_job = 4;
  Scheduler scheduler(FakeDevices(), {}, limits);
  JobSubmission too_many = Small();
  too_many.measure.cpu_threads = 5;
  const auto refused = scheduler.Submit(too_many);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status()));
  EXPECT_EQ(refused.status().message(),
            "settings.cpu_threads: 5 is out of range; this flopd allows 1..4 threads per job "
            "(--max-threads-per-job; 0 = its default)");
  JobSubmission at_limit = Small();
  at_limit.measure.cpu_threads = 4;
  EXPECT_TRUE(scheduler.Submit(at_limit).ok());
}

TEST(SchedulerLimits, ALongClientLabelIsRefusedQuotingABoundedPrefix) {
  Scheduler scheduler(FakeDevices());
  JobSubmission labelled = Small();
  labelled.client = std::string(1 << 20, 'x');
  const auto refused = scheduler.Submit(labelled);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status()));
  EXPECT_TRUE(absl::StartsWith(refused.status().message(), "client: 'xxxx"));
  EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                absl::StrCat("' is ", 1 << 20, " bytes; allowed at most 256")));
  EXPECT_LT(refused.status().message().size(), 200u);
  labelled.client = std::string(256, 'x');
  EXPECT_TRUE(scheduler.Submit(labelled).ok());
}

TEST(SchedulerLimits, EachJobsChannelIsBoundedByTheLimit) {
  SchedulerLimits limits;
  limits.max_stream_buffer_bytes = 1;  // one event at a time
  Scheduler scheduler(FakeDevices(), {}, limits);
  auto submitted = scheduler.Submit(Small());
  ASSERT_TRUE(submitted.ok());
  // Nobody reads: the started event waits, the first result overflows.
  ASSERT_TRUE(submitted->job->WaitEnded(milliseconds(30000)));
  EXPECT_TRUE(submitted->job->events().overflowed());
  EXPECT_EQ(submitted->job->record().state, JobState::kFinished);  // the job itself went on
}

}  // namespace
}  // namespace flopd
