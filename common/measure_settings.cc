#include "common/measure_settings.h"

#include "absl/strings/str_cat.h"
#include "common/sanitize.h"
#include "common/statistics.h"

namespace flopd {
namespace {

template <typename T>
absl::Status OutOfRange(absl::string_view field, T value, absl::string_view allowed) {
  return absl::InvalidArgumentError(
      absl::StrCat("settings.", field, ": ", value, " is out of range; allowed ", allowed));
}

}  // namespace

absl::string_view TimingModeName(TimingMode mode) {
  switch (mode) {
    case TimingMode::kHot: return "hot";
    case TimingMode::kCold: return "cold";
    case TimingMode::kGraph: return "graph";
  }
  return "hot";
}

absl::Status ParseTimingMode(absl::string_view text, TimingMode* mode) {
  for (TimingMode m : {TimingMode::kHot, TimingMode::kCold, TimingMode::kGraph}) {
    if (text == TimingModeName(m)) {
      *mode = m;
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("settings.timing: unknown timing mode '",
                   Sanitized(text, kQuotedValueBytes), "'; allowed: hot, cold, graph"));
}

absl::Status ResolveMeasureSettings(const MeasureRequest& request, const MeasureSettings& defaults,
                                    MeasureSettings* out) {
  MeasureSettings s = defaults;
  if (request.noise_target) {
    const double v = *request.noise_target;
    if (!(v > 0 && v <= 0.5)) return OutOfRange("noise_target", v, "(0, 0.5]");
    s.noise_target = v;
  }
  if (request.min_samples) {
    const int v = *request.min_samples;
    if (v < 3 || v > 100000) return OutOfRange("min_samples", v, "3..100000");
    s.min_samples = v;
  }
  if (request.max_time_s) {
    const double v = *request.max_time_s;
    if (!(v > 0 && v <= 3600)) return OutOfRange("max_time_s", v, "(0, 3600] seconds");
    s.max_time_s = v;
  }
  if (request.min_time_s) {
    const double v = *request.min_time_s;
    if (!(v >= 0 && v <= 3600)) return OutOfRange("min_time_s", v, "[0, 3600] seconds");
    s.min_time_s = v;
  }
  if (s.min_time_s > s.max_time_s) {
    return absl::InvalidArgumentError(absl::StrCat(
        "settings.min_time_s: ", s.min_time_s, " exceeds settings.max_time_s (", s.max_time_s,
        "); allowed [0, max_time_s]"));
  }
  if (request.iterations_per_sample) {
    const int64_t v = *request.iterations_per_sample;
    if (v < 0 || v > 1000000) {
      return OutOfRange("iterations_per_sample", v, "1..1000000 (0 = automatic)");
    }
    s.iterations_per_sample = v;
  }
  if (request.fixed_samples) {
    const int v = *request.fixed_samples;
    if (v < 1 || v > 100000) return OutOfRange("fixed_samples", v, "1..100000");
    s.fixed_samples = v;
  }
  if (request.timing) {
    if (absl::Status st = ParseTimingMode(*request.timing, &s.timing); !st.ok()) return st;
  }
  if (request.cpu_threads) {
    const int v = *request.cpu_threads;
    if (v < 0 || v > 1024) return OutOfRange("cpu_threads", v, "1..1024 (0 = daemon default)");
    s.cpu_threads = v;
  }
  *out = s;
  return absl::OkStatus();
}

absl::string_view StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kContinue: return "";
    case StopReason::kNoiseTargetMet: return "noise_target_met";
    case StopReason::kTimeBudgetSpent: return "time_budget_spent";
    case StopReason::kFixedSamples: return "fixed_samples";
    case StopReason::kMaxSamples: return "max_samples";
  }
  return "";
}

StopReason CheckStop(const MeasureSettings& settings, const std::vector<double>& samples,
                     double elapsed_s) {
  const int n = static_cast<int>(samples.size());
  if (settings.fixed_samples > 0) {
    return n >= settings.fixed_samples ? StopReason::kFixedSamples : StopReason::kContinue;
  }
  if (n == 0) return StopReason::kContinue;
  if (n >= settings.max_samples) return StopReason::kMaxSamples;
  if (n >= settings.min_samples && elapsed_s >= settings.min_time_s) {
    // Sorting every sample is O(n^2 log n) over a point; past 256 samples
    // re-check only when the count has grown by about 1/64.
    const bool check_now = n < 256 || n % (n / 64) == 0;
    if (check_now && RelativeNoise(samples) <= settings.noise_target) {
      return StopReason::kNoiseTargetMet;
    }
  }
  if (elapsed_s >= settings.max_time_s && n >= kMinSamplesForStatistics) {
    return StopReason::kTimeBudgetSpent;
  }
  return StopReason::kContinue;
}

}  // namespace flopd
