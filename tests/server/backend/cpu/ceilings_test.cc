#include "server/backend/cpu/ceilings.h"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "server/backend/cpu/thread_team.h"

namespace flopd {
namespace {

// The test's own bandwidth reference, taken the way STREAM's copy is and
// independent of ceilings.cc's loops: memcpy of 32 MiB f64 arrays, each
// thread of the team on its own slice (first touched by that thread), 16
// bytes counted per element, best of `passes`.
double ReferenceCopyBandwidth(int threads, int passes) {
  constexpr int64_t kCount = int64_t{32} << 20 >> 3;
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<double[], FreeDeleter> a(
      static_cast<double*>(std::aligned_alloc(size_t{2} << 20, kCount * sizeof(double))));
  std::unique_ptr<double[], FreeDeleter> b(
      static_cast<double*>(std::aligned_alloc(size_t{2} << 20, kCount * sizeof(double))));
  auto slice = [](int part, int parts, int64_t* begin, int64_t* end) {
    *begin = kCount * part / parts;
    *end = kCount * (part + 1) / parts;
  };
  ThreadTeam::Shared().Run(threads, [&](int part, int parts) {
    int64_t begin, end;
    slice(part, parts, &begin, &end);
    for (int64_t i = begin; i < end; ++i) {
      a[i] = 0;
      b[i] = 1.0 + static_cast<double>(i & 7);
    }
  });
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    ThreadTeam::Shared().Run(threads, [&](int part, int parts) {
      int64_t begin, end;
      slice(part, parts, &begin, &end);
      std::memcpy(a.get() + begin, b.get() + begin, (end - begin) * sizeof(double));
    });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 16.0 * kCount / seconds);
  }
  volatile double sink = a[kCount / 3];
  (void)sink;
  return best;
}

// Each figure is checked against something independent of the code that
// made it, with bounds tight enough that a factor-of-two slip (bytes or
// lanes counted wrong, a dtype's kernel run for the other) fails: the f32
// peak is twice f64's (twice the lanes, the same FMA instructions), the
// bandwidth agrees with the test's own STREAM copy, and the FMA peak does
// not beat the datasheet figure from the measured clock by much. A run of a
// few milliseconds on a shared machine is easily disturbed (ctest -j2 runs a
// second test beside it; on this VM, with other builds running, single 10 ms
// runs were seen anywhere from a third to the whole of their quiet rate),
// and a disturbance only ever makes a run slower. So every figure is its
// best over repeated measurements, and the measuring goes on until no best
// has improved by more than 3% for three measurements in a row (at least
// four, at most twenty): on a quiet machine that is four (about 2 s); on a
// busy one it waits for the quiet moments that every best needs.
TEST(CpuCeilings, PeaksBandwidthAndClockAgreeWithIndependentFigures) {
  CpuCeilingsConfig config;
  // One thread: a neighbour busy on one of two cores then leaves it the
  // other core, where two threads would share a core with it and the slower
  // one would set each run's time. No ratio below depends on the thread
  // count (both sides of each use the same).
  config.threads = 1;
  config.llc_bytes = 0;  // smallest arrays (32 MiB each): a quick test
  config.fma_seconds = 0.01;
  config.bandwidth_passes = 1;  // the best over the measurements below
  double f32 = 0, f64 = 0, bandwidth = 0, reference = 0, clock = 0, derived_f32 = 0;
  std::string detail;
  int unimproved = 0;  // measurements in a row that raised no best by more than 3%
  for (int attempt = 0; attempt < 20 && (attempt < 4 || unimproved < 3); ++attempt) {
    // One measurement each (no repeat when doubtful): this loop is the repeat.
    absl::StatusOr<CeilingsAttempt> measured = MeasureCpuCeilingsOnce(config);
    ASSERT_TRUE(measured.ok()) << measured.status();
    const DeviceCeilings* c = &measured->ceilings;
    EXPECT_GE(measured->run_spread, 1.0);
    ASSERT_EQ(c->peak_flops.count("f32"), 1u);
    ASSERT_EQ(c->peak_flops.count("f64"), 1u);
    EXPECT_FALSE(c->method.empty());
    EXPECT_FALSE(c->clock_method.empty());
    EXPECT_GT(c->measured_unix_ms, 0);
    EXPECT_DOUBLE_EQ(c->latency_threshold_seconds, 5e-6);
    // flopd's own kernels use the widest ISA the CPU has (this GCC build has
    // all their variants: AVX-512F included), so the peak is their roof and
    // no other is measured (ANarrowerKernelIsaGetsItsOwnPeak below).
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    EXPECT_EQ(c->kernel_isa, !avx2                               ? "generic"
                             : __builtin_cpu_supports("avx512f") ? "avx512f"
                                                                 : "avx2+fma");
    EXPECT_TRUE(c->kernel_isa_peak_flops.empty());
    const double copy = ReferenceCopyBandwidth(config.threads, 2);
    bool improved = false;
    auto raise = [&improved](double* best, double value) {
      improved = improved || value > 1.03 * *best;
      *best = std::max(*best, value);
    };
    raise(&f32, c->peak_flops.at("f32"));
    raise(&f64, c->peak_flops.at("f64"));
    raise(&bandwidth, c->bandwidth_bytes_per_s);
    raise(&reference, copy);
    absl::StrAppendFormat(&detail, "\n f32 %.4g f64 %.4g FLOP/s, bandwidth %.4g vs %.4g B/s",
                          c->peak_flops.at("f32"), c->peak_flops.at("f64"),
                          c->bandwidth_bytes_per_s, copy);
#if defined(__x86_64__)
    raise(&clock, c->clock_hz);
    ASSERT_EQ(c->derived_peak_flops.count("f32"), 1u) << c->derived_method;
    raise(&derived_f32, c->derived_peak_flops.at("f32"));
    absl::StrAppendFormat(&detail, ", clock %.4g Hz, derived f32 %.4g FLOP/s", c->clock_hz,
                          c->derived_peak_flops.at("f32"));
#endif
    unimproved = improved ? 0 : unimproved + 1;
  }
  EXPECT_GT(f32 / f64, 1.6) << detail;
  EXPECT_LT(f32 / f64, 2.5) << detail;
  EXPECT_GT(bandwidth / reference, 0.5) << detail;
  EXPECT_LT(bandwidth / reference, 2.0) << detail;
#if defined(__x86_64__)
  EXPECT_GT(clock, 3e8) << detail;
  EXPECT_LT(clock, 1e10) << detail;
  // The clock and the FMA runs are timed apart, so a disturbance can skew
  // them apart: a wide bound.
  EXPECT_LT(f32 / derived_f32, 2.5) << detail;
#endif
}

// Where flopd's kernels use a narrower ISA than the CPU's widest (a build
// without their AVX-512F variant on an AVX-512 CPU, here set in the config),
// their roof is measured too, labelled: AVX2+FMA has half the lanes, so
// about half the peak (never above it).
TEST(CpuCeilings, ANarrowerKernelIsaGetsItsOwnPeak) {
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx2") ||
      !__builtin_cpu_supports("fma")) {
    GTEST_SKIP() << "this CPU lacks AVX-512F (or AVX2/FMA): no narrower vector ISA to measure";
  }
  CpuCeilingsConfig config;
  config.threads = 1;
  config.llc_bytes = 0;
  config.fma_seconds = 0.01;
  config.bandwidth_passes = 1;
  config.kernel_isa = KernelIsa::kAvx2Fma;
  absl::StatusOr<CeilingsAttempt> measured = MeasureCpuCeilingsOnce(config);
  ASSERT_TRUE(measured.ok()) << measured.status();
  const DeviceCeilings& c = measured->ceilings;
  EXPECT_EQ(c.kernel_isa, "avx2+fma");
  for (const char* dtype : {"f32", "f64"}) {
    ASSERT_EQ(c.peak_flops.count(dtype), 1u) << dtype;
    ASSERT_EQ(c.kernel_isa_peak_flops.count(dtype), 1u) << dtype;
    EXPECT_GT(c.kernel_isa_peak_flops.at(dtype), 0.2 * c.peak_flops.at(dtype)) << dtype;
    EXPECT_LT(c.kernel_isa_peak_flops.at(dtype), 1.15 * c.peak_flops.at(dtype)) << dtype;
  }
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FLOPD_CLANG_SANITIZED 1
#endif
#endif
#ifndef FLOPD_CLANG_SANITIZED
#define FLOPD_CLANG_SANITIZED 0
#endif

// flopd stopping mid-measurement (SIGTERM during a device's first job) must
// not wait for the whole measurement: it ends within one timed run.
TEST(CpuCeilings, StopEndsTheMeasurementWithinOneRun) {
  std::atomic<bool> stop{true};
  CpuCeilingsConfig config;
  config.threads = 1;
  config.llc_bytes = int64_t{64} << 20;  // the largest arrays: 3 x 256 MiB, 1.8 s to touch here
  config.stop = &stop;
  absl::StatusOr<DeviceCeilings> stopped = MeasureCpuCeilings(config);
  EXPECT_EQ(stopped.status().code(), absl::StatusCode::kCancelled) << stopped.status();

  // Set while it runs: the full measurement (touching the arrays, 5 passes,
  // FMA calibration) takes seconds; stopped after 50 ms it ends soon.
  stop = false;
  std::thread stopper([&stop] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop = true;
  });
  const auto start = std::chrono::steady_clock::now();
  stopped = MeasureCpuCeilings(config);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stopper.join();
  EXPECT_EQ(stopped.status().code(), absl::StatusCode::kCancelled) << stopped.status();
  // Sanitizers' allocators poison the 768 MiB of shadow memory when the
  // arrays come and go (1.3-1.5 s under ASan, stopped or not): only the
  // plain build's time says anything about the stop.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || FLOPD_CLANG_SANITIZED
  EXPECT_LT(took, 10.0);  // 1.3-1.5 s seen under ASan, 3.9-4.4 s under TSan
#else
  EXPECT_LT(took, 0.75);
#endif
}

}  // namespace
}  // namespace flopd

namespace flopd {
namespace {

// The figures seen on a Xeon host: 224.5 GFLOP/s measured against 67.2
// derived from a clock read as 1.05 GHz while /proc/cpuinfo said 2.1 GHz.
TEST(CeilingsDoubts, APeakAboveTheDerivedOneAndAWrongClockAreDoubted) {
  CeilingsCheckInputs in;
  in.peak_flops = {{"f32", 224.5e9}};
  in.derived_peak_flops = {{"f32", 67.2e9}};
  in.clock_hz = 1.05e9;
  in.cpuinfo_mhz = 2100;
  const std::vector<std::string> doubts = CeilingsDoubts(in);
  ASSERT_EQ(doubts.size(), 2u);
  EXPECT_NE(doubts[0].find("334% of the 67.2 derived"), std::string::npos) << doubts[0];
  EXPECT_NE(doubts[1].find("far from /proc/cpuinfo's 2.100 GHz"), std::string::npos) << doubts[1];
}

// Seen on the H200 host's Xeon with 16 threads: AVX-512 peak 1351 GFLOP/s
// against 2877 derived (47%), while flopd's AVX2 kernel then ran at 1190.
TEST(CeilingsDoubts, APeakFarBelowTheDerivedOneIsDoubted) {
  CeilingsCheckInputs in;
  in.peak_flops = {{"f32", 1351e9}, {"f64", 1100e9}};
  in.derived_peak_flops = {{"f32", 2877e9}, {"f64", 1439e9}};
  in.clock_hz = 2.81e9;
  in.cpuinfo_mhz = 2100;
  const std::vector<std::string> doubts = CeilingsDoubts(in);
  ASSERT_EQ(doubts.size(), 1u) << "f64 at 76% of derived is not doubted";
  EXPECT_NE(doubts[0].find("f32 peak 1351 GFLOP/s measured is only 47% of the 2877 derived"),
            std::string::npos)
      << doubts[0];
}

TEST(CeilingsDoubts, RunsThatDisagreeAreDoubtedAndSaneFiguresAreNot) {
  CeilingsCheckInputs in;
  in.peak_flops = {{"f32", 180e9}, {"f64", 90e9}};
  in.derived_peak_flops = {{"f32", 190e9}, {"f64", 95e9}};
  in.peak_run_spread = {{"f32", 1.02}, {"f64", 1.05}};
  in.clock_hz = 2.9e9;
  in.cpuinfo_mhz = 2450;
  EXPECT_TRUE(CeilingsDoubts(in).empty());
  in.peak_run_spread["f64"] = 1.4;
  const std::vector<std::string> doubts = CeilingsDoubts(in);
  ASSERT_EQ(doubts.size(), 1u);
  EXPECT_NE(doubts[0].find("f64 peak's timed runs were 40% apart"), std::string::npos) << doubts[0];
}

// The machine's load while the ceilings were measured (issue 11: identical
// hosts with 3-4x different floors).
TEST(CeilingsDoubts, OtherProcessesAndStealDuringTheMeasurementAreDoubted) {
  CeilingsCheckInputs in;
  in.cpus_usable = 2;
  in.other_cpu_share = 0.08;
  in.steal_share = 0.01;
  EXPECT_TRUE(CeilingsDoubts(in).empty());
  in.other_cpu_share = 0.38;
  in.steal_share = 0.05;
  const std::vector<std::string> doubts = CeilingsDoubts(in);
  ASSERT_EQ(doubts.size(), 2u);
  EXPECT_EQ(doubts[0],
            "other processes used 38% of the 2 CPU(s) flopd may use while the ceilings were "
            "measured");
  EXPECT_NE(doubts[1].find("CPU steal was 5.0% while the ceilings were measured"),
            std::string::npos)
      << doubts[1];
  in.other_cpu_share = -1;  // unknown (interval too short): not judged
  in.steal_share = -1;
  EXPECT_TRUE(CeilingsDoubts(in).empty());
}

// A real measurement reads the machine's load: processes spinning on half
// of the usable CPUs meanwhile make it doubtful, naming their share.
TEST(CpuCeilings, OtherProcessesBusyDuringTheMeasurementAreDoubted) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  const int cpus = std::max(1, CPU_COUNT(&set));
  std::vector<pid_t> spinners;
  for (int i = 0; i < std::max(1, cpus / 2); ++i) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      for (;;) asm volatile("");  // killed by the parent
    }
    spinners.push_back(pid);
  }
  CpuCeilingsConfig config;
  config.threads = 1;
  config.fma_seconds = 0.005;
  config.bandwidth_passes = 1;
  absl::StatusOr<CeilingsAttempt> measured = MeasureCpuCeilingsOnce(config);
  for (pid_t pid : spinners) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  ASSERT_TRUE(measured.ok()) << measured.status();
  bool named = false;
  for (const std::string& d : measured->ceilings.doubts) {
    named = named || (d.find("other processes used") != std::string::npos &&
                      d.find(absl::StrFormat(" of the %d CPU(s) flopd may use while the ceilings "
                                             "were measured",
                                             cpus)) != std::string::npos);
  }
  EXPECT_TRUE(named) << absl::StrJoin(measured->ceilings.doubts, "\n");
}

// The real measurement, repeated when doubtful: how many attempts it took,
// and a doubtful result says why it was kept.
TEST(CpuCeilings, AMeasurementSaysHowManyAttemptsItTook) {
  CpuCeilingsConfig config;
  config.threads = 1;
  config.fma_seconds = 0.005;
  config.bandwidth_passes = 1;
  config.retry_pause_seconds = 0.01;
  absl::StatusOr<DeviceCeilings> c = MeasureCpuCeilings(config);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_GE(c->attempts, 1);
  ASSERT_LE(c->attempts, 2);
  if (c->doubts.empty()) return;  // one attempt passed every check
  const std::string all = absl::StrJoin(c->doubts, "\n");
  if (c->attempts == 1) {
    EXPECT_NE(all.find("not measured again"), std::string::npos) << all;
  } else {
    EXPECT_TRUE(all.find("measured 2 times and doubtful each time") != std::string::npos ||
                all.find("measuring again failed") != std::string::npos)
        << all;
  }
}

CeilingsAttempt Attempt(double f32, double spread, std::vector<std::string> doubts,
                        double seconds = 1) {
  CeilingsAttempt a;
  a.ceilings.peak_flops["f32"] = f32;
  a.ceilings.bandwidth_bytes_per_s = 10e9;
  a.ceilings.doubts = std::move(doubts);
  a.ceilings.seconds_spent = seconds;
  a.run_spread = spread;
  return a;
}

// Re-measuring (issue 11: "re-measured or marked doubtful when they fail"),
// with the measurement injected: no timing involved.
TEST(MeasureCeilingsWithRetry, ADoubtFreeFirstAttemptIsKeptAlone) {
  int calls = 0;
  absl::StatusOr<DeviceCeilings> c = MeasureCeilingsWithRetry(
      [&]() -> absl::StatusOr<CeilingsAttempt> {
        ++calls;
        return Attempt(100e9, 1.01, {});
      },
      nullptr, 0, 10);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(c->attempts, 1);
  EXPECT_TRUE(c->doubts.empty());
}

TEST(MeasureCeilingsWithRetry, ADoubtfulAttemptIsRepeatedAndTheDoubtFreeOneKept) {
  int calls = 0;
  absl::StatusOr<DeviceCeilings> c = MeasureCeilingsWithRetry(
      [&]() -> absl::StatusOr<CeilingsAttempt> {
        ++calls;
        return calls == 1 ? Attempt(60e9, 1.4, {"the f32 peak's timed runs were 40% apart"}, 1.0)
                          : Attempt(100e9, 1.02, {}, 1.5);
      },
      nullptr, 0, 10);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(c->attempts, 2);
  EXPECT_TRUE(c->doubts.empty());
  EXPECT_DOUBLE_EQ(c->peak_flops.at("f32"), 100e9);
  EXPECT_DOUBLE_EQ(c->seconds_spent, 2.5);  // both attempts' time
}

TEST(MeasureCeilingsWithRetry, TwoDoubtfulAttemptsKeepTheBetterAgreeingOneAndSayWhy) {
  int calls = 0;
  absl::StatusOr<DeviceCeilings> c = MeasureCeilingsWithRetry(
      [&]() -> absl::StatusOr<CeilingsAttempt> {
        ++calls;
        return calls == 1 ? Attempt(90e9, 1.05, {"other processes used 38% of the 2 CPU(s)"})
                          : Attempt(60e9, 1.4, {"the f32 peak's timed runs were 40% apart"});
      },
      nullptr, 0, 10);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(c->attempts, 2);
  EXPECT_DOUBLE_EQ(c->peak_flops.at("f32"), 90e9);  // its runs agreed best
  ASSERT_EQ(c->doubts.size(), 3u);
  EXPECT_EQ(c->doubts[0], "other processes used 38% of the 2 CPU(s)");
  EXPECT_NE(c->doubts[1].find("measured 2 times and doubtful each time; kept attempt 1"),
            std::string::npos)
      << c->doubts[1];
  EXPECT_NE(c->doubts[1].find("attempt 2 (runs 40% apart): the f32 peak's timed runs were 40% "
                              "apart"),
            std::string::npos)
      << c->doubts[1];
  EXPECT_NE(c->doubts[2].find("the attempts' f32 peaks (FLOP/s) were 50% apart"),
            std::string::npos)
      << c->doubts[2];
}

TEST(MeasureCeilingsWithRetry, AStopDuringThePauseCancelsPromptly) {
  std::atomic<bool> stop{false};
  int calls = 0;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<DeviceCeilings> c = MeasureCeilingsWithRetry(
      [&]() -> absl::StatusOr<CeilingsAttempt> {
        ++calls;
        stop = true;  // SIGTERM arrives while the first attempt ends
        return Attempt(60e9, 1.4, {"doubtful"});
      },
      &stop, /*pause_seconds=*/30, 10);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kCancelled) << c.status();
  EXPECT_EQ(calls, 1);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

TEST(MeasureCeilingsWithRetry, NoRepeatBeyondTheBudgetOrAfterAFailedRepeat) {
  int calls = 0;
  absl::StatusOr<DeviceCeilings> c = MeasureCeilingsWithRetry(
      [&]() -> absl::StatusOr<CeilingsAttempt> {
        ++calls;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return Attempt(60e9, 1.4, {"doubtful"});
      },
      nullptr, 0, /*retry_within_seconds=*/0.001);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(c->attempts, 1);
  ASSERT_EQ(c->doubts.size(), 2u);
  EXPECT_NE(c->doubts[1].find("not measured again"), std::string::npos) << c->doubts[1];

  calls = 0;
  c = MeasureCeilingsWithRetry(
      [&]() -> absl::StatusOr<CeilingsAttempt> {
        if (++calls == 2) return absl::ResourceExhaustedError("no memory");
        return Attempt(60e9, 1.4, {"doubtful"});
      },
      nullptr, 0, 10);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->attempts, 2);
  ASSERT_EQ(c->doubts.size(), 2u);
  EXPECT_NE(c->doubts[1].find("measuring again failed: RESOURCE_EXHAUSTED: no memory"),
            std::string::npos)
      << c->doubts[1];
}

}  // namespace
}  // namespace flopd
