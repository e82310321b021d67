// The roofline model: where a measured point sits relative to what its
// device can do at best. Pure domain code (no gRPC, no CUDA), shared by flopd
// (which places every result when its device's ceilings are known) and
// flopctl (which can place older results from ceilings given separately).
//
//   intensity      = FLOPs / minimum bytes                       [FLOP/byte]
//   compute time   = FLOPs / peak FLOP rate of the dtype          [s]
//   memory time    = minimum bytes / peak memory bandwidth        [s]
//   floor          = max(compute time, memory time)               [s]
//   efficiency     = floor / measured median                      (1 = at the roof)
//
// Bound (which limit explains the measured time):
//   latency  when measured > kLatencyFloorFactor x floor AND measured is below
//            the device's fixed-overhead threshold (CPU 5 µs, GPU 10 µs: a
//            call, thread wake-up or kernel launch costs about that much on its
//            own), i.e. the point is too small for either roof to matter;
//   memory   otherwise, when memory time >= compute time;
//   compute  otherwise.
// Efficiency above 1 is possible and honest: the ceilings are DRAM bandwidth
// and the FMA peak, and a hot-timed point whose data fits in cache beats the
// DRAM roof.
//
// Thread-safe: free functions without shared state.
#ifndef FLOPD_COMMON_ROOFLINE_H_
#define FLOPD_COMMON_ROOFLINE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace flopd {

// A device's measured limits. Zero means "not measured".
struct DeviceCeilings {
  double bandwidth_bytes_per_s = 0;            // peak memory bandwidth (measured)
  std::map<std::string, double> peak_flops;    // dtype name ("f32", "f64") -> FLOP/s (measured)
  double clock_hz = 0;                         // the clock the FMA kernel ran at
  std::string clock_method;                    // how clock_hz was obtained
  std::string method;                          // how bandwidth and peaks were measured
  int64_t measured_unix_ms = 0;
  double seconds_spent = 0;                    // wall time the measurement took
  // Datasheet-style figures derived from the hardware description (cores x
  // FMA lanes x 2 FLOP x FMA pipes x clock); empty when not derivable.
  std::map<std::string, double> derived_peak_flops;
  std::string derived_method;
  // Measured times below this are dominated by fixed per-call overhead.
  double latency_threshold_seconds = 0;
  // The vector ISA flopd's own kernels use (CPU: "avx512f", "avx2+fma" or
  // "generic"; empty for other devices), and the peaks measured with it
  // when it is narrower than the widest one `peak_flops` was measured with
  // (e.g. "avx2+fma" on an AVX-512 machine); the peaks are empty otherwise.
  std::string kernel_isa;
  std::map<std::string, double> kernel_isa_peak_flops;
  // Sanity checks that failed (see v1::DeviceCeilings.doubts); empty = none.
  std::vector<std::string> doubts;
  // Measurements made to arrive at these figures: 1, or 2 when the first
  // failed a sanity check and was repeated (MeasureCeilingsWithRetry).
  int attempts = 1;
  // The memory's theoretical bandwidth (GPU: memory clock x bus width x 2
  // transfers per clock); 0 when unknown.
  double derived_bandwidth_bytes_per_s = 0;
};

enum class Bound { kUnknown, kMemory, kCompute, kLatency };

// "memory" | "compute" | "latency" | "" (unknown).
absl::string_view BoundName(Bound bound);

// A measured time above this multiple of the floor, and below the device's
// fixed-overhead threshold, is classified "latency".
inline constexpr double kLatencyFloorFactor = 4.0;

// The fixed-overhead threshold of a backend: "cuda" 10 µs, anything else
// (the CPU) 5 µs.
double LatencyThresholdSeconds(absl::string_view backend);

struct RooflinePlacement {
  double intensity = 0;         // FLOP/byte; 0 when min_bytes is 0
  double compute_seconds = 0;
  double memory_seconds = 0;
  double floor_seconds = 0;
  double efficiency = 0;        // floor / measured; 0 when measured <= 0
  Bound bound = Bound::kUnknown;
  double peak_flops_per_s = 0;
  double peak_bandwidth_bytes_per_s = 0;
};

// Places a point. A zero peak (or bandwidth) leaves its side of the floor at
// zero; with both zero, floor and efficiency are 0 and the bound is unknown.
// REQUIRES: flops >= 0, min_bytes >= 0.
RooflinePlacement PlaceOnRoofline(int64_t flops, int64_t min_bytes, double measured_seconds,
                                  double peak_flops_per_s, double peak_bandwidth_bytes_per_s,
                                  double latency_threshold_seconds);

// The attainable FLOP rate at `intensity`: min(peak, intensity x bandwidth).
double AttainableFlops(double intensity, double peak_flops_per_s,
                       double peak_bandwidth_bytes_per_s);

// The intensity at which the two roofs meet: peak / bandwidth (0 when
// bandwidth is 0).
double RidgeIntensity(double peak_flops_per_s, double peak_bandwidth_bytes_per_s);

// A re-measurement may replace `previous` ceilings only when each figure
// (bandwidth, every dtype's peak) is within kPlausibleCeilingsFactor of the
// one it replaces: a device does not halve or double its limits, but a
// measurement disturbed by other load on the host does. FAILED_PRECONDITION
// naming the first figure out of range otherwise.
inline constexpr double kPlausibleCeilingsFactor = 2.0;
absl::Status CheckPlausibleRemeasurement(const DeviceCeilings& previous,
                                         const DeviceCeilings& fresh);

// One measurement of a device's ceilings, its doubts already checked, and
// how far apart its timed runs were: the largest best / worst (or best /
// median) ratio over its figures, 1 = every run alike.
struct CeilingsAttempt {
  DeviceCeilings ceilings;
  double run_spread = 1;
};

// Re-measuring doubtful ceilings (issue 11): `measure` is called once; when
// that attempt has doubts, `pause_seconds` later once more (unless the first
// took longer than `retry_within_seconds`: the callers wait for ceilings
// with a budget). The result is the first attempt without doubts, else
// ChooseCeilings of both. `stop` (may be null) is checked during the pause:
// CANCELLED once it is set, as is any CANCELLED attempt. Any other error of
// the first attempt is returned; of the second, the first is kept and its
// doubts say that the repeat failed.
absl::StatusOr<DeviceCeilings> MeasureCeilingsWithRetry(
    const std::function<absl::StatusOr<CeilingsAttempt>()>& measure,
    const std::atomic<bool>* stop, double pause_seconds, double retry_within_seconds);

// The ceilings kept from doubtful attempts (at least one, in the order
// measured): the one whose timed runs agreed best (smallest run_spread;
// within 1% of each other, the one with fewer doubts, then the earlier). Its
// doubts stay, followed by a summary naming every attempt's doubts, and one
// for each figure (bandwidth, a dtype's peak) on which the attempts differ by
// more than kCeilingsRepeatSpread. attempts = their count; seconds_spent the
// sum of theirs.
inline constexpr double kCeilingsRepeatSpread = 1.15;
DeviceCeilings ChooseCeilings(const std::vector<CeilingsAttempt>& attempts);

// How old ceilings are, for people: "measured 3 h 12 min ago, at flopd's
// start" when measured within a minute of `flopd_started_unix_ms`, else "...
// ago, 2 h 5 min after flopd started" ("" after it when the start is
// unknown, i.e. 0). "measured in the future (clocks differ)" when now is
// earlier; "" when measured_unix_ms is 0.
std::string CeilingsAgeText(int64_t measured_unix_ms, int64_t now_unix_ms,
                            int64_t flopd_started_unix_ms);

}  // namespace flopd

#endif  // FLOPD_COMMON_ROOFLINE_H_
