// A process-wide team of worker threads for flopd's CPU kernels, with the
// waiting manners of OpenBLAS's own pool: an idle worker spins with
// sched_yield() for up to 10 ms (so back-to-back kernel calls start in about
// a microsecond) and then sleeps on a condition variable; a thread waiting
// for the others always yields its core.
//
// Why not OpenMP: the kernels run right after OpenBLAS calls (outer/library is
// a k=1 gemm followed by a reduction), so two pools share the cores. libgomp's
// default wait policy spins without yielding for milliseconds after each
// region, taking a core from OpenBLAS's threads. Measured on a 2-core EPYC VM:
// gemm + reduction took 1.3-3x the sum of the two timed alone at N=1000-4000,
// and while another process was busy every 50 us reduction took 4-8 ms (a
// scheduler slice). OMP_WAIT_POLICY=passive cures both, but only when set in
// the environment before the process starts, and then each region pays a
// futex wake-up (+35 us on a 50 us reduction). This pool costs neither: with
// it, gemm + reduction equals the sum of its parts.
//
// Thread-safety: Run() may be called from any thread; calls of more than one
// part are serialized (a one-part call just runs on the caller).
// Worker t (t >= 1) is always the same OS thread, so memory first touched by
// part t of a Run() is placed near the thread that part t of later Run()s
// executes on.
#ifndef FLOPD_SERVER_BACKEND_CPU_THREAD_TEAM_H_
#define FLOPD_SERVER_BACKEND_CPU_THREAD_TEAM_H_

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace flopd {

class ThreadTeam {
 public:
  // The team every kernel uses. Never destroyed (its threads live as long
  // as the process).
  static ThreadTeam& Shared();

  ThreadTeam(const ThreadTeam&) = delete;
  ThreadTeam& operator=(const ThreadTeam&) = delete;

  // Calls body(part, parts) for every part in [0, parts), part 0 on the
  // calling thread and the others on workers (started on first need), and
  // returns when all have returned. `parts` is capped at 65535, and at the
  // threads that could be started; body sees the count actually used.
  // `body` must not throw and must not call Run() itself.
  // REQUIRES: parts >= 1.
  // Starts workers until `parts` parts can run (capped at 65535) and
  // returns how many can: fewer only when the system refuses a thread.
  // Workers are never stopped, and later calls reuse them: the team holds
  // as many threads as the largest part count ever asked for, less one (so
  // a bound on the parts asked for bounds the team). REQUIRES: parts >= 1.
  int Reserve(int parts);

  template <typename Body>
  void Run(int parts, const Body& body) {
    if (parts <= 1) {
      body(0, 1);
      return;
    }
    RunErased(parts, &Invoke<Body>, &body);
  }

 private:
  using Function = void (*)(const void* body, int part, int parts);

  ThreadTeam() = default;

  template <typename Body>
  static void Invoke(const void* body, int part, int parts) {
    (*static_cast<const Body*>(body))(part, parts);
  }

  void RunErased(int parts, Function function, const void* body);
  // Reserve's work. REQUIRES: run_mutex_.
  int StartWorkers(int parts);
  // `seen` is the job word before the Run() that started the worker: the
  // worker takes part in that Run() even if it starts after the publish.
  void WorkerLoop(int part, uint64_t seen);

  std::mutex run_mutex_;              // serializes Run()
  std::vector<std::thread> workers_;  // worker i runs part i + 1; guarded by run_mutex_

  // The current job: function_ and body_, published by storing a new job
  // word (generation << 16 | parts) in generation_.
  Function function_ = nullptr;
  const void* body_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};  // parts of the current job still running

  // Sleeping workers wait on wake_ under sleep_mutex_.
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
};

// Runs body(begin, end) on `threads` parts of the shared team, each over its
// own contiguous part of [0, total); part boundaries are multiples of
// `align`. Static and equal parts: the work per element is uniform, and part
// t always runs on the same thread, the one that first touched its memory.
template <typename Body>
void ParallelParts(int64_t total, int64_t align, int threads, const Body& body) {
  const int64_t chunks = (total + align - 1) / align;
  const auto part_body = [&](int64_t index, int64_t parts) {
    const int64_t begin = std::min(total, chunks * index / parts * align);
    const int64_t end = std::min(total, chunks * (index + 1) / parts * align);
    if (begin < end) body(begin, end);
  };
  ThreadTeam::Shared().Run(threads, part_body);
}

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CPU_THREAD_TEAM_H_
