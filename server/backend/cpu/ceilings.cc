#include "server/backend/cpu/ceilings.h"

#include <immintrin.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/backend/cpu/cpu_kernels.h"
#include "server/backend/cpu/thread_team.h"
#include "server/machine_state.h"

namespace flopd {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Keeps a value alive in the compiler's eyes. Atomic, relaxed: the clock's
// chains store to it from every thread at once (as a volatile that was a data
// race, found by ThreadSanitizer: deploy/sanitize.sh).
std::atomic<double> g_sink{0};

// ---------------------------------------------------------------------------
// Bandwidth.

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Array = std::unique_ptr<double[], FreeDeleter>;

Array AllocateArray(int64_t count) {
  const size_t alignment = size_t{2} << 20;
  const size_t bytes = (static_cast<size_t>(count) * sizeof(double) + alignment - 1) /
                       alignment * alignment;
  return Array(static_cast<double*>(std::aligned_alloc(alignment, bytes)));
}

void CopyPart(double* __restrict a, const double* __restrict b, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) a[i] = b[i];
}

void TriadPart(double* __restrict a, const double* __restrict b, const double* __restrict c,
               double s, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) a[i] = b[i] + s * c[i];
}

// ---------------------------------------------------------------------------
// FMA-bound loops: 12 independent accumulators x = x * m + a (m just below
// 1, so x converges to a / (1 - m) = 1 and never overflows or goes
// denormal). Returns the sum of the accumulators.

constexpr int kChains = 12;

// GCC 12 warns about the deliberately undefined upper parts inside its own
// _mm512 intrinsics (a known false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) double FmaAvx512F32(int64_t iterations, float seed) {
  __m512 acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm512_set1_ps(seed + 0.001f * k);
  const __m512 m = _mm512_set1_ps(0.999999f);
  const __m512 a = _mm512_set1_ps(0.000001f);
  for (int64_t i = 0; i < iterations; ++i) {
    for (int k = 0; k < kChains; ++k) acc[k] = _mm512_fmadd_ps(acc[k], m, a);
  }
  double sum = 0;
  for (int k = 0; k < kChains; ++k) sum += _mm512_reduce_add_ps(acc[k]);
  return sum;
}

__attribute__((target("avx512f"))) double FmaAvx512F64(int64_t iterations, double seed) {
  __m512d acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm512_set1_pd(seed + 0.001 * k);
  const __m512d m = _mm512_set1_pd(0.999999);
  const __m512d a = _mm512_set1_pd(0.000001);
  for (int64_t i = 0; i < iterations; ++i) {
    for (int k = 0; k < kChains; ++k) acc[k] = _mm512_fmadd_pd(acc[k], m, a);
  }
  double sum = 0;
  for (int k = 0; k < kChains; ++k) sum += _mm512_reduce_add_pd(acc[k]);
  return sum;
}

#pragma GCC diagnostic pop

__attribute__((target("avx2,fma"))) double FmaAvx2F32(int64_t iterations, float seed) {
  __m256 acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm256_set1_ps(seed + 0.001f * k);
  const __m256 m = _mm256_set1_ps(0.999999f);
  const __m256 a = _mm256_set1_ps(0.000001f);
  for (int64_t i = 0; i < iterations; ++i) {
    for (int k = 0; k < kChains; ++k) acc[k] = _mm256_fmadd_ps(acc[k], m, a);
  }
  alignas(32) float lanes[8];
  double sum = 0;
  for (int k = 0; k < kChains; ++k) {
    _mm256_store_ps(lanes, acc[k]);
    for (float v : lanes) sum += v;
  }
  return sum;
}

__attribute__((target("avx2,fma"))) double FmaAvx2F64(int64_t iterations, double seed) {
  __m256d acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm256_set1_pd(seed + 0.001 * k);
  const __m256d m = _mm256_set1_pd(0.999999);
  const __m256d a = _mm256_set1_pd(0.000001);
  for (int64_t i = 0; i < iterations; ++i) {
    for (int k = 0; k < kChains; ++k) acc[k] = _mm256_fmadd_pd(acc[k], m, a);
  }
  alignas(32) double lanes[4];
  double sum = 0;
  for (int k = 0; k < kChains; ++k) {
    _mm256_store_pd(lanes, acc[k]);
    for (double v : lanes) sum += v;
  }
  return sum;
}

// SSE2 (every x86-64): separate multiply and add, 2 FLOPs per lane each step.
double FmaSse2F32(int64_t iterations, float seed) {
  __m128 acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm_set1_ps(seed + 0.001f * k);
  const __m128 m = _mm_set1_ps(0.999999f);
  const __m128 a = _mm_set1_ps(0.000001f);
  for (int64_t i = 0; i < iterations; ++i) {
    for (int k = 0; k < kChains; ++k) acc[k] = _mm_add_ps(_mm_mul_ps(acc[k], m), a);
  }
  alignas(16) float lanes[4];
  double sum = 0;
  for (int k = 0; k < kChains; ++k) {
    _mm_store_ps(lanes, acc[k]);
    for (float v : lanes) sum += v;
  }
  return sum;
}

double FmaSse2F64(int64_t iterations, double seed) {
  __m128d acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm_set1_pd(seed + 0.001 * k);
  const __m128d m = _mm_set1_pd(0.999999);
  const __m128d a = _mm_set1_pd(0.000001);
  for (int64_t i = 0; i < iterations; ++i) {
    for (int k = 0; k < kChains; ++k) acc[k] = _mm_add_pd(_mm_mul_pd(acc[k], m), a);
  }
  alignas(16) double lanes[2];
  double sum = 0;
  for (int k = 0; k < kChains; ++k) {
    _mm_store_pd(lanes, acc[k]);
    for (double v : lanes) sum += v;
  }
  return sum;
}

struct FmaIsa {
  std::string name;
  int bits = 128;
  bool fused = false;
  double (*f32)(int64_t, float) = nullptr;
  double (*f64)(int64_t, double) = nullptr;
};

// The loop of the vector ISA a KernelIsa of cpu_kernels.h names.
FmaIsa FmaIsaOf(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kAvx512F:
      return {"AVX-512F FMA", 512, true, FmaAvx512F32, FmaAvx512F64};
    case KernelIsa::kAvx2Fma:
      return {"AVX2 FMA", 256, true, FmaAvx2F32, FmaAvx2F64};
    case KernelIsa::kGeneric:
      break;
  }
  return {"SSE2 mul+add", 128, false, FmaSse2F32, FmaSse2F64};
}

// The widest the CPU has, whatever flopd's kernels are built for.
FmaIsa BestFmaIsa() {
  if (__builtin_cpu_supports("avx512f")) return FmaIsaOf(KernelIsa::kAvx512F);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return FmaIsaOf(KernelIsa::kAvx2Fma);
  }
  return FmaIsaOf(KernelIsa::kGeneric);
}

// FLOPs of one iteration of a loop on one thread.
double FlopsPerIteration(const FmaIsa& isa, int element_bytes) {
  return kChains * (isa.bits / 8.0 / element_bytes) * 2;
}

// Runs the loop on every thread with `iterations` each; wall seconds.
double TimeFma(const FmaIsa& isa, bool f64, int threads, int64_t iterations) {
  std::vector<double> sums(static_cast<size_t>(std::max(1, threads)), 0);
  const Clock::time_point start = Clock::now();
  ThreadTeam::Shared().Run(threads, [&](int part, int) {
    const double seed = g_sink.load(std::memory_order_relaxed) * 0 + 0.5 + 0.01 * part;
    sums[part] = f64 ? isa.f64(iterations, seed) : isa.f32(iterations, static_cast<float>(seed));
  });
  const double seconds = Seconds(start);
  double total = 0;
  for (double s : sums) total += s;
  g_sink.store(total, std::memory_order_relaxed);
  return seconds;
}

// Iterations of one dtype's FMA loop that take about `target` seconds. The
// calibration keeps the fastest of three runs at its final count: one run
// stretched by a preemption on a busy machine would otherwise shrink the
// timed runs to a few microseconds, which measure the thread team's wake-up
// instead of the FMA units (seen: an f32 "peak" 260x below f64's).
int64_t CalibrateFma(const FmaIsa& isa, bool f64, int threads, double target,
                     const std::function<bool()>& stopped) {
  int64_t iterations = 20000;
  double seconds = TimeFma(isa, f64, threads, iterations);
  while (seconds < target / 8 && iterations < (int64_t{1} << 40) && !stopped()) {
    iterations *= 4;
    seconds = TimeFma(isa, f64, threads, iterations);
  }
  for (int rep = 0; rep < 2; ++rep) {
    seconds = std::min(seconds, TimeFma(isa, f64, threads, iterations));
  }
  return std::max<int64_t>(1, static_cast<int64_t>(iterations * target / seconds));
}

// FLOP/s of one timed run of the loop on every thread.
double FmaRate(const FmaIsa& isa, bool f64, int threads, int64_t iterations) {
  const int element_bytes = f64 ? 8 : 4;
  return static_cast<double>(iterations) * FlopsPerIteration(isa, element_bytes) * threads /
         TimeFma(isa, f64, threads, iterations);
}

// Peak FLOP/s of f32 and f64: each loop calibrated to `target` seconds, then
// three timed runs of each, f32 and f64 alternating, and the best run of
// each. Alternating makes both see the same machine: a busy neighbour slows
// whichever dtype runs while it is busy, and measured one after the other
// the two peaks were seen 1.3x apart instead of 2x (their lanes' ratio).
// Best of 3 runs per dtype; *f32_spread and *f64_spread get best / worst.
std::pair<double, double> PeakFlops(const FmaIsa& isa, int threads, double target,
                                    const std::function<bool()>& stopped, double* f32_spread,
                                    double* f64_spread) {
  const int64_t f32_iterations = CalibrateFma(isa, /*f64=*/false, threads, target, stopped);
  const int64_t f64_iterations = CalibrateFma(isa, /*f64=*/true, threads, target, stopped);
  double f32 = 0, f64 = 0;
  double f32_worst = std::numeric_limits<double>::infinity(), f64_worst = f32_worst;
  for (int rep = 0; rep < 3 && !stopped(); ++rep) {
    const double a = FmaRate(isa, /*f64=*/false, threads, f32_iterations);
    const double b = FmaRate(isa, /*f64=*/true, threads, f64_iterations);
    f32 = std::max(f32, a);
    f64 = std::max(f64, b);
    f32_worst = std::min(f32_worst, a);
    f64_worst = std::min(f64_worst, b);
  }
  *f32_spread = f32_worst > 0 && std::isfinite(f32_worst) ? f32 / f32_worst : 1;
  *f64_spread = f64_worst > 0 && std::isfinite(f64_worst) ? f64 / f64_worst : 1;
  return {f32, f64};
}

// ---------------------------------------------------------------------------
// Clock.

double ProcCpuinfoMhz() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  double sum = 0;
  int count = 0;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (absl::StripAsciiWhitespace(line.substr(0, colon)) != "cpu MHz") continue;
    double mhz = 0;
    if (absl::SimpleAtod(absl::StripAsciiWhitespace(line.substr(colon + 1)), &mhz) && mhz > 0) {
      sum += mhz;
      ++count;
    }
  }
  return count ? sum / count : 0;
}

#if defined(__x86_64__)
// 100 dependent 64-bit multiplies per loop; the loop's own counter runs
// beside the chain. Not adds: Intel cores since Golden Cove fold
// `add reg, imm` chains at rename and ran them ~4x faster than one a cycle
// (seen on a Xeon host: an 8.9 GHz "clock"). imul r64, r64 has a latency of
// 3 cycles on every Intel core since Nehalem and every AMD core since Zen.
constexpr int kMultiplyLatencyCycles = 3;

uint64_t MultiplyChain(int64_t loops) {
  uint64_t x = 1;
  const uint64_t one = 1;
  for (int64_t i = 0; i < loops; ++i) {
    asm volatile(".rept 100\n\timulq %1, %0\n\t.endr" : "+r"(x) : "r"(one));
  }
  return x;
}

// Cycles per second of one thread, timed over about `target` seconds.
double ChainRate(double target) {
  int64_t loops = 1000;
  double seconds = 0;
  while (true) {
    const Clock::time_point start = Clock::now();
    g_sink.store(static_cast<double>(MultiplyChain(loops)), std::memory_order_relaxed);
    seconds = Seconds(start);
    if (seconds >= target || loops > (int64_t{1} << 40)) break;
    loops = seconds > 0 ? std::max(loops * 2, static_cast<int64_t>(loops * target * 1.2 / seconds))
                        : loops * 10;
  }
  return static_cast<double>(loops) * 100 * kMultiplyLatencyCycles / seconds;
}
#endif

// Fills the load fields of `in` from two snapshots (server/machine_state.h);
// left unknown (negative) when the interval was too short to judge.
void DescribeLoad(const MachineSnapshot& before, const MachineSnapshot& after,
                  CeilingsCheckInputs* in) {
  in->cpus_usable = UsableCpuCount();
  const CpuShares shares = CpuSharesDuring(before, after, in->cpus_usable);
  if (shares.other_processes < 0) return;
  in->other_cpu_share = shares.other_processes;
  in->steal_share = shares.steal;
}

// The largest best / worst ratio of a map of spreads (1 when empty).
double WorstSpread(const std::map<std::string, double>& spreads) {
  double worst = 1;
  for (const auto& [unused, spread] : spreads) worst = std::max(worst, spread);
  return worst;
}

}  // namespace

int PhysicalCoresUsable() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  std::set<std::pair<std::string, std::string>> cores;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    const std::string dir = absl::StrCat("/sys/devices/system/cpu/cpu", cpu, "/topology/");
    std::string package, core;
    std::ifstream(dir + "physical_package_id") >> package;
    std::ifstream(dir + "core_id") >> core;
    if (package.empty() || core.empty()) return 0;
    cores.emplace(package, core);
  }
  return static_cast<int>(cores.size());
}

double MeasureCpuClockHz(int threads, std::string* method) {
#if defined(__x86_64__)
  std::vector<double> rates(static_cast<size_t>(std::max(1, threads)), 0);
  ThreadTeam::Shared().Run(threads, [&](int part, int) { rates[part] = ChainRate(0.02); });
  std::sort(rates.begin(), rates.end());
  const double hz = rates[rates.size() / 2];
  const double mhz = ProcCpuinfoMhz();
  *method = absl::StrFormat(
      "timed a chain of dependent 64-bit integer multiplies (3 cycles each) on %d busy thread(s) right "
      "after the FMA runs, median over threads%s",
      threads, mhz > 0 ? absl::StrFormat("; /proc/cpuinfo says %.0f MHz", mhz) : "");
  return hz;
#else
  const double mhz = ProcCpuinfoMhz();
  *method = mhz > 0 ? "/proc/cpuinfo \"cpu MHz\" (mean over CPUs)" : "unknown";
  return mhz * 1e6;
#endif
}

absl::StatusOr<DeviceCeilings> MeasureCpuCeilings(const CpuCeilingsConfig& config) {
  auto once = [&config] { return MeasureCpuCeilingsOnce(config); };
  if (!config.remeasure_doubtful) {
    absl::StatusOr<CeilingsAttempt> attempt = once();
    if (!attempt.ok()) return attempt.status();
    return std::move(attempt->ceilings);
  }
  absl::StatusOr<DeviceCeilings> c = MeasureCeilingsWithRetry(
      once, config.stop, config.retry_pause_seconds, config.retry_within_seconds);
  if (!c.ok() && c.status().code() == absl::StatusCode::kCancelled) {
    return absl::CancelledError("cpu:0: ceilings not measured: flopd is stopping");
  }
  return c;
}

absl::StatusOr<CeilingsAttempt> MeasureCpuCeilingsOnce(const CpuCeilingsConfig& config) {
  const Clock::time_point start = Clock::now();
  const MachineSnapshot load_before = TakeMachineSnapshot();
  const int threads = std::max(1, config.threads);
  const std::function<bool()> stopped = [&config] {
    return config.stop != nullptr && config.stop->load();
  };
  const absl::Status cancelled =
      absl::CancelledError("cpu:0: ceilings not measured: flopd is stopping");
  DeviceCeilings c;
  c.latency_threshold_seconds = LatencyThresholdSeconds("cpu");

  // Bandwidth: arrays >= 4x LLC and >= 32 MiB each, at most 256 MiB each and
  // within half the memory limit together.
  int64_t array_bytes = std::max<int64_t>(4 * config.llc_bytes, int64_t{32} << 20);
  array_bytes = std::min<int64_t>(array_bytes, int64_t{256} << 20);
  if (config.memory_limit_bytes > 0) {
    array_bytes = std::min<int64_t>(array_bytes, config.memory_limit_bytes / 6);
  }
  const int64_t n = std::max<int64_t>(1024, array_bytes / 8);
  Array a = AllocateArray(n), b = AllocateArray(n), cc = AllocateArray(n);
  if (a == nullptr || b == nullptr || cc == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cpu:0: ceilings: allocating 3 x ", n * 8, " bytes failed"));
  }
  ThreadTeam& team = ThreadTeam::Shared();
  auto slice = [n](int part, int parts, int64_t* begin, int64_t* end) {
    *begin = n * part / parts;
    *end = n * (part + 1) / parts;
  };
  // First touch, each thread on its own slice, in rounds: touching 768 MiB
  // took 1.8 s on a 2-core VM, and a stop must not wait for all of it.
  constexpr int kFillRounds = 16;
  for (int round = 0; round < kFillRounds; ++round) {
    if (stopped()) return cancelled;
    team.Run(threads, [&](int part, int parts) {
      int64_t begin, end;
      slice(part, parts, &begin, &end);
      const int64_t from = begin + (end - begin) * round / kFillRounds;
      const int64_t to = begin + (end - begin) * (round + 1) / kFillRounds;
      for (int64_t i = from; i < to; ++i) {
        a[i] = 0;
        b[i] = 1.0 + 1e-9 * static_cast<double>(i & 1023);
        cc[i] = 2.0;
      }
    });
  }
  double best_copy = 0, best_triad = 0;
  for (int pass = 0; pass < std::max(1, config.bandwidth_passes); ++pass) {
    if (stopped()) return cancelled;
    Clock::time_point t = Clock::now();
    team.Run(threads, [&](int part, int parts) {
      int64_t begin, end;
      slice(part, parts, &begin, &end);
      CopyPart(a.get(), b.get(), begin, end);
    });
    best_copy = std::max(best_copy, 16.0 * static_cast<double>(n) / Seconds(t));
    if (stopped()) return cancelled;
    t = Clock::now();
    team.Run(threads, [&](int part, int parts) {
      int64_t begin, end;
      slice(part, parts, &begin, &end);
      TriadPart(a.get(), b.get(), cc.get(), 0.5, begin, end);
    });
    best_triad = std::max(best_triad, 24.0 * static_cast<double>(n) / Seconds(t));
  }
  g_sink.store(a[n / 3] + a[n - 1], std::memory_order_relaxed);
  a.reset();
  b.reset();
  cc.reset();
  c.bandwidth_bytes_per_s = std::max(best_copy, best_triad);

  // Peak FLOP rate per dtype, then the clock the threads run at.
  const FmaIsa isa = BestFmaIsa();
  double f32_spread = 1, f64_spread = 1;
  const auto [f32_peak, f64_peak] =
      PeakFlops(isa, threads, config.fma_seconds, stopped, &f32_spread, &f64_spread);
  if (stopped()) return cancelled;
  c.peak_flops["f32"] = f32_peak;
  c.peak_flops["f64"] = f64_peak;
  c.clock_hz = MeasureCpuClockHz(threads, &c.clock_method);
  // The ISA flopd's own CPU kernels (cpu_kernels.cc) use: the peak's own
  // where the CPU has it (AVX-512F included). Where they use a narrower one
  // (a build without their AVX-512F variant on an AVX-512 CPU, say), their
  // roof is lower, so it is measured too, labelled.
  c.kernel_isa = std::string(KernelIsaName(config.kernel_isa));
  const FmaIsa kernels = FmaIsaOf(config.kernel_isa);
  if (kernels.bits != isa.bits) {
    double s32 = 1, s64 = 1;
    const auto [k32, k64] = PeakFlops(kernels, threads, config.fma_seconds, stopped, &s32, &s64);
    if (stopped()) return cancelled;
    c.kernel_isa_peak_flops["f32"] = k32;
    c.kernel_isa_peak_flops["f64"] = k64;
  }

  c.method = absl::StrFormat(
      "bandwidth: STREAM copy (%.1f GB/s, 16 B/elem) and triad (%.1f GB/s, 24 B/elem) over 3 "
      "f64 arrays of %d MiB, %d thread(s), best of %d passes each; peak: %d independent %s "
      "chains per thread (%d-bit vectors), %d thread(s), best of 3 runs of ~%.0f ms",
      best_copy / 1e9, best_triad / 1e9, static_cast<int>(n * 8 >> 20), threads,
      std::max(1, config.bandwidth_passes), kChains, isa.name, isa.bits, threads,
      config.fma_seconds * 1e3);

  // Datasheet-style: physical cores x 2 FMA pipes x lanes x 2 FLOP x clock.
  const int physical = PhysicalCoresUsable();
  const int cores = physical > 0 ? std::min(physical, threads) : threads;
  const int pipes = 2;
  if (c.clock_hz > 0) {
    for (const auto& [dtype, bytes] : {std::pair<std::string, int>{"f32", 4}, {"f64", 8}}) {
      c.derived_peak_flops[dtype] =
          cores * pipes * (isa.bits / 8.0 / bytes) * (isa.fused ? 2 : 1) * c.clock_hz;
    }
    c.derived_method = absl::StrFormat(
        "%d core(s) (physical, of the %d thread(s)) x %d %s pipes x %d-bit lanes x %d FLOP x "
        "measured clock %.3f GHz; assumes %d vector FMA pipes per core",
        cores, threads, pipes, isa.fused ? "FMA" : "mul+add", isa.bits, isa.fused ? 2 : 1,
        c.clock_hz / 1e9, pipes);
  }
  CeilingsCheckInputs check;
  check.peak_flops = c.peak_flops;
  check.derived_peak_flops = c.derived_peak_flops;
  check.peak_run_spread = {{"f32", f32_spread}, {"f64", f64_spread}};
  check.clock_hz = c.clock_hz;
  check.cpuinfo_mhz = ProcCpuinfoMhz();
  DescribeLoad(load_before, TakeMachineSnapshot(), &check);
  c.doubts = CeilingsDoubts(check);
  c.measured_unix_ms = UnixMillis();
  c.seconds_spent = Seconds(start);
  CeilingsAttempt attempt;
  attempt.ceilings = std::move(c);
  attempt.run_spread = WorstSpread(check.peak_run_spread);
  return attempt;
}

std::vector<std::string> CeilingsDoubts(const CeilingsCheckInputs& in) {
  std::vector<std::string> doubts;
  for (const auto& [dtype, measured] : in.peak_flops) {
    auto derived = in.derived_peak_flops.find(dtype);
    if (derived != in.derived_peak_flops.end() && derived->second > 0 &&
        measured > 1.10 * derived->second) {
      doubts.push_back(absl::StrFormat(
          "%s peak %.4g GFLOP/s measured is %.0f%% of the %.4g derived from the measured clock "
          "(%.3f GHz): the clock reading or the assumed FMA pipes are off",
          dtype, measured / 1e9, 100 * measured / derived->second, derived->second / 1e9,
          in.clock_hz / 1e9));
    } else if (derived != in.derived_peak_flops.end() && derived->second > 0 &&
               measured < kCeilingsLowPeakShare * derived->second) {
      doubts.push_back(absl::StrFormat(
          "%s peak %.4g GFLOP/s measured is only %.0f%% of the %.4g derived from the measured "
          "clock (%.3f GHz): the FMA loops did not run at the cores' rate (threads sharing "
          "cores, a power limit while they ran) or the cores have fewer FMA pipes than assumed",
          dtype, measured / 1e9, 100 * measured / derived->second, derived->second / 1e9,
          in.clock_hz / 1e9));
    }
  }
  if (in.clock_hz > 0 && in.cpuinfo_mhz > 0 &&
      (in.clock_hz < 0.6e6 * in.cpuinfo_mhz || in.clock_hz > 2.0e6 * in.cpuinfo_mhz)) {
    doubts.push_back(absl::StrFormat(
        "measured clock %.3f GHz is far from /proc/cpuinfo's %.3f GHz", in.clock_hz / 1e9,
        in.cpuinfo_mhz / 1e3));
  }
  for (const auto& [dtype, spread] : in.peak_run_spread) {
    if (spread > 1.15) {
      doubts.push_back(absl::StrFormat(
          "the %s peak's timed runs were %.0f%% apart (best vs worst): the machine was busy or "
          "its clock moved",
          dtype, 100 * (spread - 1)));
    }
  }
  if (in.other_cpu_share > kCeilingsOtherProcessesShare) {
    doubts.push_back(absl::StrFormat(
        "other processes used %.0f%% of the %d CPU(s) flopd may use while the ceilings were "
        "measured",
        100 * in.other_cpu_share, in.cpus_usable));
  }
  if (in.steal_share > kCeilingsStealShare) {
    doubts.push_back(absl::StrFormat(
        "CPU steal was %.1f%% while the ceilings were measured: the hypervisor ran other guests "
        "on this host's CPUs",
        100 * in.steal_share));
  }
  return doubts;
}

}  // namespace flopd
