// Measurement settings of a job, their defaults and their allowed ranges, and
// the stopping rule that decides when a point has been sampled enough.
#ifndef FLOPD_COMMON_MEASURE_SETTINGS_H_
#define FLOPD_COMMON_MEASURE_SETTINGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"

namespace flopd {

enum class TimingMode {
  kHot,    // back-to-back executions timed together (the seed's method)
  kCold,   // caches flushed before each execution, each timed alone
  kGraph,  // GPU: executions captured in a CUDA graph and replayed
};
absl::string_view TimingModeName(TimingMode mode);
// INVALID_ARGUMENT naming the field and "hot, cold, graph".
absl::Status ParseTimingMode(absl::string_view text, TimingMode* mode);

// What a client may leave unset: the device fills in its defaults.
struct MeasureRequest {
  std::optional<double> noise_target;
  std::optional<int> min_samples;
  std::optional<double> max_time_s;
  std::optional<double> min_time_s;
  std::optional<int64_t> iterations_per_sample;  // 0 = automatic
  std::optional<int> fixed_samples;
  std::optional<std::string> timing;
  std::optional<int> cpu_threads;  // 0 = daemon default
};

// Settings with every default applied.
struct MeasureSettings {
  double noise_target = 0.005;
  int min_samples = 10;
  double max_time_s = 2.0;
  double min_time_s = 0.05;
  int64_t iterations_per_sample = 0;  // 0 = automatic
  int fixed_samples = 0;              // 0 = off (use the noise rule)
  int max_samples = 100000;
  TimingMode timing = TimingMode::kHot;
  int cpu_threads = 0;
};

// Applies `request` over `defaults` and checks every range. Errors are
// INVALID_ARGUMENT naming the field and its allowed range, e.g.
// "settings.noise_target: 0 is out of range; allowed (0, 0.5]".
absl::Status ResolveMeasureSettings(const MeasureRequest& request, const MeasureSettings& defaults,
                                    MeasureSettings* out);

enum class StopReason { kContinue, kNoiseTargetMet, kTimeBudgetSpent, kFixedSamples, kMaxSamples };
// "noise_target_met", ...; kContinue is "".
absl::string_view StopReasonName(StopReason reason);

// Fewest samples a noise figure can be computed from; the time budget never
// stops a point before it has this many.
inline constexpr int kMinSamplesForStatistics = 3;

// Decides after each sample whether sampling a point is done.
// Fixed mode: exactly fixed_samples samples. Otherwise stop when
//   (samples >= min_samples and elapsed >= min_time_s and noise <= target)
//   or (elapsed >= max_time_s and samples >= kMinSamplesForStatistics)
//   or samples >= max_samples.
// `samples` are per-execution times; `elapsed_s` is the wall time spent
// sampling so far.
StopReason CheckStop(const MeasureSettings& settings, const std::vector<double>& samples,
                     double elapsed_s);

}  // namespace flopd

#endif  // FLOPD_COMMON_MEASURE_SETTINGS_H_
