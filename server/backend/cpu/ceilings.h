// Measures the CPU's ceilings for the roofline (common/roofline.h):
//
//  - memory bandwidth: STREAM-style copy (a = b) and triad (a = b + s c) over
//    three f64 arrays each >= 4x the last-level cache, on the kernel thread
//    team, each thread on its own slice (first touched by that thread);
//    bytes are counted the STREAM way (copy 16, triad 24 bytes per element:
//    no write-allocate traffic, as flopd's min_bytes models count a write
//    once). The ceiling is the best pass of either kernel.
//  - peak FLOP rate per dtype: every thread runs a loop of independent FMA
//    chains (12 accumulators of the widest vector ISA the CPU has: AVX-512F,
//    else AVX2+FMA, else SSE2 mul+add), whose values feed a checksum, so it
//    can be neither dropped nor shortened; best of 3 timed runs per dtype,
//    f32 and f64 alternating so that both see the same load. kernel_isa
//    names the ISA flopd's own kernels use (cpu_kernels.h's BestKernelIsa:
//    AVX-512F, AVX2+FMA or generic), normally the peak's own; only where it
//    is narrower (e.g. a build without their AVX-512F variant on an AVX-512
//    CPU) is its loop timed too (kernel_isa_peak_flops): their lower roof.
//  - the clock: right after the FMA runs, every thread times a chain of
//    dependent 64-bit integer multiplies written in assembly (3 cycles each
//    on Intel since Nehalem and AMD since Zen; add chains are folded by newer
//    Intel cores), and the median over threads is reported; elsewhere
//    /proc/cpuinfo's "cpu MHz" (what the kernel last saw) is used. The
//    method text says which.
//
// Every measurement is checked (CeilingsDoubts), including what the rest of
// the machine did meanwhile (other processes' CPU time and steal, read from
// /proc/stat around it); a doubtful one is measured once more after a short
// pause (MeasureCeilingsWithRetry, common/roofline.h) and the better attempt
// kept, its doubts saying why and DeviceCeilings::attempts how many.
//
// Takes about a second on a 2-core VM (two when repeated). Not thread-safe
// against other work on the CPU device: the scheduler runs it on the
// device's worker.
#ifndef FLOPD_SERVER_BACKEND_CPU_CEILINGS_H_
#define FLOPD_SERVER_BACKEND_CPU_CEILINGS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/roofline.h"
#include "server/backend/cpu/cpu_kernels.h"

namespace flopd {

struct CpuCeilingsConfig {
  int threads = 1;                  // the kernel thread team's size
  int64_t llc_bytes = 0;            // last-level cache, all instances
  int64_t memory_limit_bytes = 0;   // the arrays stay within half of it (0 = no limit)
  double fma_seconds = 0.03;        // length of one timed FMA run
  int bandwidth_passes = 5;         // timed passes of each STREAM kernel
  // When set (not owned), checked between timed runs: CANCELLED soon after
  // it becomes true (flopd stopping), within one run (~0.1 s).
  const std::atomic<bool>* stop = nullptr;
  // A doubtful measurement is repeated after this pause, unless it took
  // longer than retry_within_seconds (callers wait for the ceilings with a
  // budget: flopctl info --ceilings 30 s).
  bool remeasure_doubtful = true;
  double retry_pause_seconds = 0.5;
  double retry_within_seconds = 10;
  // The ISA flopd's own kernels use (kernel_isa); tests set a narrower one
  // than the CPU's widest to have its peak measured apart. REQUIRES: the CPU
  // runs it.
  KernelIsa kernel_isa = BestKernelIsa();
};

// Measures (and re-measures when doubtful, see above). RESOURCE_EXHAUSTED
// when the STREAM arrays cannot be allocated; CANCELLED once config.stop is
// set.
absl::StatusOr<DeviceCeilings> MeasureCpuCeilings(const CpuCeilingsConfig& config);

// One measurement, never repeated, with its doubts and run spread.
absl::StatusOr<CeilingsAttempt> MeasureCpuCeilingsOnce(const CpuCeilingsConfig& config);

// Other processes' share of the usable CPUs and CPU steal above these make a
// measurement doubtful (the thresholds of server/machine_state.h's points).
// A measured peak below this share of the derived one is doubted (seen on
// a 16-core Xeon VM: 47% on 16 threads, 95-100% on one).
inline constexpr double kCeilingsLowPeakShare = 0.5;
inline constexpr double kCeilingsOtherProcessesShare = 0.10;
inline constexpr double kCeilingsStealShare = 0.02;

// What the sanity checks of a CPU measurement look at.
struct CeilingsCheckInputs {
  std::map<std::string, double> peak_flops;          // measured, by dtype
  std::map<std::string, double> derived_peak_flops;  // from the clock, by dtype
  std::map<std::string, double> peak_run_spread;     // by dtype: best / worst of its timed runs
  double clock_hz = 0;                               // measured
  double cpuinfo_mhz = 0;                            // /proc/cpuinfo "cpu MHz"; 0 unknown
  // While it was measured (-1 unknown): other processes' CPU time as a share
  // of the `cpus_usable` CPUs flopd may use, and the hypervisor's steal as a
  // share of all CPU time.
  double other_cpu_share = -1;
  double steal_share = -1;
  int cpus_usable = 0;
};
// Why the figures may not be true (DeviceCeilings::doubts); empty when
// every check passes:
//   - a measured peak more than 10% above the derived one (the clock reading
//     or the assumed FMA pipes are off: one of the two figures is false),
//     or below kCeilingsLowPeakShare of it (the loops ran slow);
//   - a measured clock below 60% or above 200% of /proc/cpuinfo's;
//   - a dtype's timed runs more than 15% apart (the machine was busy or its
//     clock moved while the peak was measured);
//   - other processes using more than kCeilingsOtherProcessesShare of the
//     usable CPUs, or steal above kCeilingsStealShare, meanwhile.
std::vector<std::string> CeilingsDoubts(const CeilingsCheckInputs& in);

// The clock of `threads` busy threads in Hz (0 when unknown); *method says
// how it was obtained.
double MeasureCpuClockHz(int threads, std::string* method);

// Physical cores among the CPUs this process may run on (SMT siblings
// counted once), from sysfs topology; 0 when unknown.
int PhysicalCoresUsable();

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CPU_CEILINGS_H_
