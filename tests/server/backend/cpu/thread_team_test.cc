#include "server/backend/cpu/thread_team.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace flopd {
namespace {

TEST(ThreadTeamTest, RunsEveryPartOnceWithItsCount) {
  for (int parts : {1, 2, 3, 8, 2, 1, 5}) {
    std::vector<std::atomic<int>> calls(parts);
    std::atomic<int> wrong_count{0};
    ThreadTeam::Shared().Run(parts, [&](int part, int count) {
      if (count != parts) wrong_count.fetch_add(1);
      calls[part].fetch_add(1);
    });
    EXPECT_EQ(wrong_count.load(), 0) << parts;
    for (int part = 0; part < parts; ++part)
      EXPECT_EQ(calls[part].load(), 1) << part << "/" << parts;
  }
}

TEST(ThreadTeamTest, PartZeroRunsOnTheCallerAndEachPartKeepsItsThread) {
  std::vector<std::thread::id> first(4), second(4);
  ThreadTeam::Shared().Run(4, [&](int part, int) { first[part] = std::this_thread::get_id(); });
  ThreadTeam::Shared().Run(4, [&](int part, int) { second[part] = std::this_thread::get_id(); });
  EXPECT_EQ(first[0], std::this_thread::get_id());
  EXPECT_EQ(first, second);
  EXPECT_EQ(std::set<std::thread::id>(first.begin(), first.end()).size(), 4u);
}

int ThreadsOfThisProcess() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    ++count;
  }
  return count;
}

// The team grows to the largest part count asked for, never beyond, and
// later calls reuse its threads (a bound on the threads a job may ask for
// therefore bounds the team).
TEST(ThreadTeamTest, ReserveStartsWorkersOnceAndLaterCallsReuseThem) {
  EXPECT_EQ(ThreadTeam::Shared().Reserve(5), 5);
  const int after_reserve = ThreadsOfThisProcess();
  for (int parts : {5, 3, 5, 2}) {
    EXPECT_EQ(ThreadTeam::Shared().Reserve(parts), parts);
    std::atomic<int> ran{0};
    ThreadTeam::Shared().Run(parts, [&](int, int) { ++ran; });
    EXPECT_EQ(ran.load(), parts);
  }
  EXPECT_EQ(ThreadsOfThisProcess(), after_reserve);
}

// Many short runs with changing part counts: a worker that missed a job, ran
// one twice or read a half-published job would break the sums.
TEST(ThreadTeamTest, ManyShortRunsStayExact) {
  int64_t expected = 0;
  std::atomic<int64_t> total{0};
  for (int run = 0; run < 20000; ++run) {
    const int parts = 1 + run % 4;
    ThreadTeam::Shared().Run(parts, [&](int part, int) { total.fetch_add(part + 1); });
    expected += parts * (parts + 1) / 2;
  }
  EXPECT_EQ(total.load(), expected);
}

// Workers fall asleep after a while idle and must wake for the next job.
TEST(ThreadTeamTest, WakesSleepingWorkers) {
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::atomic<int> calls{0};
  ThreadTeam::Shared().Run(3, [&](int, int) { calls.fetch_add(1); });
  EXPECT_EQ(calls.load(), 3);
}

TEST(ThreadTeamTest, CallsFromSeveralThreadsAreSerialized) {
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int64_t> total{0};
  auto caller = [&] {
    for (int run = 0; run < 2000; ++run) {
      ThreadTeam::Shared().Run(2, [&](int part, int) {
        if (part == 0 && inside.fetch_add(1) != 0) overlaps.fetch_add(1);
        total.fetch_add(1);
        if (part == 0) inside.fetch_sub(1);
      });
    }
  };
  std::thread a(caller), b(caller);
  a.join();
  b.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(total.load(), 2 * 2000 * 2);
}

}  // namespace
}  // namespace flopd
