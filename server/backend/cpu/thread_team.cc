#include "server/backend/cpu/thread_team.h"

#include <algorithm>
#include <chrono>
#include <system_error>

namespace flopd {
namespace {

// How long an idle worker spins (yielding) before it sleeps. Long enough to
// span the library call between two kernel calls of one execution at small
// N, where a futex wake-up would be a visible part of the kernel's time;
// short enough that an idle daemon stops polling quickly. A yielding spin
// costs nothing when another thread wants the core.
constexpr std::chrono::milliseconds kSpinTime{10};

// The job word: generation in the high bits, part count in the low ones, so
// that a worker reads both in one atomic load.
constexpr int kPartBits = 16;
constexpr int kMaxParts = (1 << kPartBits) - 1;

int PartsOf(uint64_t job) { return static_cast<int>(job & kMaxParts); }

}  // namespace

ThreadTeam& ThreadTeam::Shared() {
  static ThreadTeam* const team = new ThreadTeam();
  return *team;
}

int ThreadTeam::StartWorkers(int parts) {
  parts = std::min(std::max(parts, 1), kMaxParts);
  const uint64_t current = generation_.load(std::memory_order_relaxed);
  while (static_cast<int>(workers_.size()) < parts - 1) {
    const int part = static_cast<int>(workers_.size()) + 1;
    try {
      workers_.emplace_back([this, part, current] { WorkerLoop(part, current); });
    } catch (const std::system_error&) {
      // No more threads: run with the ones there are.
      return static_cast<int>(workers_.size()) + 1;
    }
    workers_.back().detach();
  }
  return parts;
}

int ThreadTeam::Reserve(int parts) {
  std::lock_guard<std::mutex> run_lock(run_mutex_);
  return StartWorkers(parts);
}

void ThreadTeam::RunErased(int parts, Function function, const void* body) {
  std::lock_guard<std::mutex> run_lock(run_mutex_);
  parts = StartWorkers(parts);
  const uint64_t current = generation_.load(std::memory_order_relaxed);
  if (parts <= 1) {
    function(body, 0, 1);
    return;
  }
  function_ = function;
  body_ = body;
  pending_.store(parts - 1, std::memory_order_relaxed);
  const uint64_t next = ((current >> kPartBits) + 1) << kPartBits | static_cast<uint64_t>(parts);
  // seq_cst store and load, paired with the worker's seq_cst increment of
  // sleepers_ and load of generation_: either this thread sees the sleeper
  // and wakes it, or the sleeper sees the new job and does not sleep.
  generation_.store(next);
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> sleep_lock(sleep_mutex_);
    wake_.notify_all();
  }
  function(body, 0, parts);
  while (pending_.load(std::memory_order_acquire) > 0) std::this_thread::yield();
}

void ThreadTeam::WorkerLoop(int part, uint64_t seen) {
  using Clock = std::chrono::steady_clock;
  for (;;) {
    uint64_t job = generation_.load(std::memory_order_acquire);
    Clock::time_point spin_start = Clock::now();
    int spins = 0;
    while (job == seen) {
      if (++spins % 256 == 0 && Clock::now() - spin_start > kSpinTime) {
        std::unique_lock<std::mutex> sleep_lock(sleep_mutex_);
        sleepers_.fetch_add(1);
        wake_.wait(sleep_lock, [&] { return generation_.load() != seen; });
        sleepers_.fetch_sub(1);
        spin_start = Clock::now();
      } else {
        std::this_thread::yield();
      }
      job = generation_.load(std::memory_order_acquire);
    }
    seen = job;
    const int parts = PartsOf(job);
    // Parts beyond the job's count skip it without touching function_ or
    // body_, which the next Run() may already be rewriting.
    if (part < parts) {
      function_(body_, part, parts);
      pending_.fetch_sub(1, std::memory_order_release);
    }
  }
}

}  // namespace flopd
