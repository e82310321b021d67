#include "server/measure_point.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/op_catalog.h"
#include "server/machine_state.h"

namespace flopd {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Warm-up: at least this many executions and this much time, at most the cap.
constexpr int kMinWarmupRuns = 2;
constexpr double kMinWarmupSeconds = 0.005;
constexpr double kMaxWarmupSeconds = 1.0;
constexpr int64_t kMaxAutoIterations = 1000000;

// One sample of `iterations` executions, in slices of at most about
// kMaxSliceSeconds of wall time each (from `wall_per_execution`, the
// warm-up's estimate), with a look at `cancelled` between slices: however
// many iterations a sample has, a cancel, a deadline or SIGTERM stops it
// within a slice (or one execution, when one is longer). A sample short
// enough is one TimeBatch, as before; a sliced sample's time is the sum of
// its slices' device-timed times (the device's per-call overhead, microseconds
// on a slice of a quarter second, is the only difference).
absl::StatusOr<double> TimeSample(PreparedPoint& prepared, int64_t iterations,
                                  double wall_per_execution, const std::atomic<bool>& cancelled) {
  const int64_t slice = std::clamp<int64_t>(
      static_cast<int64_t>(kMaxSliceSeconds / std::max(wall_per_execution, 1e-12)), 1,
      iterations);
  double seconds = 0;
  for (int64_t done = 0; done < iterations; done += slice) {
    if (done > 0 && cancelled.load()) return absl::CancelledError("job cancelled");
    absl::StatusOr<double> part = prepared.TimeBatch(std::min(slice, iterations - done));
    if (!part.ok()) return part.status();
    seconds += *part;
  }
  return seconds;
}

// Automatic iterations per sample (K). One execution's time from the warm-up
// is only a first guess: it can carry a fixed cost that back-to-back
// executions do not (a GPU's launch gap before the first kernel, OpenBLAS
// waking its threads, a cold cache). So K is calibrated on batches of
// back-to-back executions, each timed as a sample would be (fastest of
// kCalibrationRepeats), until
//   1. a batch of K lasts at least `min_sample_seconds`, and
//   2. the fixed cost per batch, the intercept of time against K measured at
//      K and 2K, is at most kMaxFixedCostShare of the batch
// (K grows to make it so, while a sample stays within kMaxSampleSeconds),
// or until calibrating has taken `budget_seconds` of wall time (a tenth of the
// point's time budget, at most kMaxCalibrationSeconds): on a busy machine the
// intercept is mostly noise, and chasing it must not cost more than the
// point itself. Returns K, or the backend's error / CANCELLED.
constexpr int kCalibrationRepeats = 3;
constexpr double kMaxFixedCostShare = 0.01;
constexpr double kMaxSampleSeconds = 0.25;
constexpr int kMaxCalibrationRounds = 12;
constexpr double kMaxCalibrationSeconds = 0.25;

// The fastest of kCalibrationRepeats samples of k executions; also refines
// *wall_per_execution (how TimeSample slices) from them.
absl::StatusOr<double> FastestBatch(PreparedPoint& prepared, int64_t k, double* wall_per_execution,
                                    const std::atomic<bool>& cancelled) {
  double best = std::numeric_limits<double>::infinity();
  double best_wall = std::numeric_limits<double>::infinity();
  for (int i = 0; i < kCalibrationRepeats; ++i) {
    const Clock::time_point start = Clock::now();
    absl::StatusOr<double> t = TimeSample(prepared, k, *wall_per_execution, cancelled);
    if (!t.ok()) return t.status();
    best = std::min(best, *t);
    best_wall = std::min(best_wall, std::max(*t, SecondsSince(start)));
  }
  *wall_per_execution = best_wall / static_cast<double>(k);
  return best;
}

absl::StatusOr<int64_t> CalibrateIterations(PreparedPoint& prepared, double min_sample_seconds,
                                            double per_execution, double* wall_per_execution,
                                            double budget_seconds,
                                            const std::atomic<bool>& cancelled,
                                            std::vector<std::string>* warnings) {
  const Clock::time_point start = Clock::now();
  const auto cap_for = [&](double seconds_per_execution) {
    return std::clamp<int64_t>(
        static_cast<int64_t>(kMaxSampleSeconds / std::max(seconds_per_execution, 1e-12)), 1,
        kMaxAutoIterations);
  };
  int64_t k = std::clamp<int64_t>(
      static_cast<int64_t>(std::ceil(min_sample_seconds / std::max(per_execution, 1e-12))), 1,
      cap_for(per_execution));
  for (int round = 0; round < kMaxCalibrationRounds; ++round) {
    if (cancelled.load()) return absl::CancelledError("job cancelled");
    absl::StatusOr<double> t_k = FastestBatch(prepared, k, wall_per_execution, cancelled);
    if (!t_k.ok()) return t_k.status();
    const double per = *t_k / static_cast<double>(k);
    if (*t_k < min_sample_seconds && k < cap_for(per)) {
      // Too short: scale up with 20% to spare.
      k = std::min(cap_for(per), std::max(k + 1, static_cast<int64_t>(std::ceil(
                                                      1.2 * min_sample_seconds / std::max(per, 1e-12)))));
      continue;
    }
    if (2 * k > kMaxAutoIterations || SecondsSince(start) >= budget_seconds) return k;
    absl::StatusOr<double> t_2k = FastestBatch(prepared, 2 * k, wall_per_execution, cancelled);
    if (!t_2k.ok()) return t_2k.status();
    const double slope = (*t_2k - *t_k) / static_cast<double>(k);
    const double fixed = *t_k - slope * static_cast<double>(k);
    // A slope of zero or less is timing noise on a batch too short to tell:
    // nothing more can be learned from it.
    if (slope <= 0 || fixed <= kMaxFixedCostShare * *t_k) return k;
    const int64_t needed =
        static_cast<int64_t>(std::ceil(fixed / (kMaxFixedCostShare * slope)));
    const int64_t cap = cap_for(slope);
    if (k >= cap) {
      warnings->push_back(absl::StrFormat(
          "each sample carries a fixed cost of %.3g s (%.1f%% of a sample of %d executions, "
          "which is as long as a sample may be)",
          fixed, 100 * fixed / *t_k, k));
      return k;
    }
    k = std::min({needed, 16 * k, cap});
    if (SecondsSince(start) >= budget_seconds) return k;
  }
  return k;
}

std::string GiB(int64_t bytes) { return absl::StrFormat("%.2f GiB", bytes / 1073741824.0); }

}  // namespace

absl::Status CheckPointFits(const Device& device, const PointSpec& point, TimingMode timing) {
  const int64_t needed = device.BytesNeeded(point, timing);
  const int64_t available = device.BytesAvailable();
  if (needed <= available) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "sizes: N=", point.n, " is too large for ", device.Describe().id, ": ", point.op, "/",
      point.impl, " ", DTypeName(point.dtype), " needs ", needed, " bytes (", GiB(needed),
      ") but flopd allows itself ", available, " bytes (", GiB(available), ") on this device"));
}

absl::StatusOr<PointOutcome> MeasurePoint(Device& device, const PointSpec& point,
                                          const MeasureSettings& settings,
                                          const DeviceCeilings* ceilings,
                                          const std::atomic<bool>& cancelled) {
  const Clock::time_point point_start = Clock::now();
  if (absl::Status fits = CheckPointFits(device, point, settings.timing); !fits.ok()) return fits;

  absl::StatusOr<std::unique_ptr<PreparedPoint>> prepared = device.Prepare(point, settings);
  if (!prepared.ok()) return prepared.status();

  PointOutcome outcome;
  outcome.point = point;
  outcome.settings = settings;

  absl::StatusOr<VerificationResult> verification = (*prepared)->Verify();
  if (!verification.ok()) return verification.status();
  outcome.verification = *verification;
  if (!verification->passed) {
    outcome.warnings.push_back(absl::StrCat("verification FAILED: ", verification->detail));
  }

  // Warm-up, which also estimates one execution's time (as the device times
  // it, and in wall time, flushes of cold mode included): the fastest run of
  // each, so that one run stretched by a busy machine (preempted, interrupted)
  // does not shrink every sample to a single execution.
  double per_execution = std::numeric_limits<double>::infinity();
  double wall_per_execution = std::numeric_limits<double>::infinity();
  const Clock::time_point warmup_start = Clock::now();
  for (int run = 0;; ++run) {
    if (cancelled.load()) return absl::CancelledError("job cancelled");
    const Clock::time_point run_start = Clock::now();
    absl::StatusOr<double> seconds = (*prepared)->TimeBatch(1);
    if (!seconds.ok()) return seconds.status();
    per_execution = std::min(per_execution, *seconds);
    wall_per_execution = std::min(wall_per_execution, std::max(*seconds, SecondsSince(run_start)));
    const double elapsed = SecondsSince(warmup_start);
    if ((run + 1 >= kMinWarmupRuns && elapsed >= kMinWarmupSeconds) ||
        elapsed >= kMaxWarmupSeconds) {
      break;
    }
  }

  int64_t iterations = settings.iterations_per_sample;
  if (iterations <= 0) {
    absl::StatusOr<int64_t> calibrated =
        CalibrateIterations(**prepared, device.Describe().min_sample_seconds, per_execution,
                            &wall_per_execution,
                            std::min(kMaxCalibrationSeconds, 0.1 * settings.max_time_s), cancelled,
                            &outcome.warnings);
    if (!calibrated.ok()) return calibrated.status();
    iterations = *calibrated;
  }
  outcome.iterations_per_sample = iterations;

  const MachineSnapshot machine_before = TakeMachineSnapshot();
  const Clock::time_point sampling_start = Clock::now();
  StopReason reason = StopReason::kContinue;
  while (reason == StopReason::kContinue) {
    if (cancelled.load()) return absl::CancelledError("job cancelled");
    absl::StatusOr<double> seconds =
        TimeSample(**prepared, iterations, wall_per_execution, cancelled);
    if (!seconds.ok()) return seconds.status();
    outcome.samples.push_back(*seconds / static_cast<double>(iterations));
    reason = CheckStop(settings, outcome.samples, SecondsSince(sampling_start));
  }
  outcome.stop_reason = std::string(StopReasonName(reason));
  outcome.summary = Summarize(outcome.samples);
  outcome.flops = OpFlops(point);
  outcome.min_bytes = MinBytes(point);
  if (outcome.summary.median > 0) {
    outcome.flops_per_s = static_cast<double>(outcome.flops) / outcome.summary.median;
    outcome.bytes_per_s = static_cast<double>(outcome.min_bytes) / outcome.summary.median;
  }
  if (reason == StopReason::kTimeBudgetSpent) {
    outcome.warnings.push_back(absl::StrFormat(
        "noise %.2f%% above the %.2f%% target when the %.3g s time budget ran out",
        100 * outcome.summary.relative_noise, 100 * settings.noise_target, settings.max_time_s));
  }
  (*prepared)->CollectWarnings(&outcome.warnings);
  (*prepared)->CollectObservations(&outcome.observations);
  DescribeMachineDuring(machine_before, TakeMachineSnapshot(), UsableCpuCount(),
                        &outcome.observations, &outcome.warnings);
  for (const auto& [key, value] : HostIdentityObservations()) {
    outcome.observations.emplace(key, value);  // a backend's own reading wins
  }
  outcome.threads = (*prepared)->threads();
  outcome.wall_seconds = SecondsSince(point_start);
  outcome.measured_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  if (ceilings != nullptr) PlaceOnRoofline(*ceilings, device.Describe().backend, &outcome);
  return outcome;
}

void PlaceOnRoofline(const DeviceCeilings& ceilings, const std::string& backend,
                     PointOutcome* outcome) {
  auto peak = ceilings.peak_flops.find(std::string(DTypeName(outcome->point.dtype)));
  outcome->latency_threshold_seconds = ceilings.latency_threshold_seconds > 0
                                           ? ceilings.latency_threshold_seconds
                                           : LatencyThresholdSeconds(backend);
  outcome->ceilings_measured_unix_ms = ceilings.measured_unix_ms;
  for (const std::string& doubt : ceilings.doubts) {
    outcome->warnings.push_back(absl::StrCat("roofline from doubtful ceilings: ", doubt));
  }
  const double peak_flops = peak == ceilings.peak_flops.end() ? 0 : peak->second;
  outcome->roofline =
      PlaceOnRoofline(outcome->flops, outcome->min_bytes, outcome->summary.median, peak_flops,
                      ceilings.bandwidth_bytes_per_s, outcome->latency_threshold_seconds);
  // Faster than the memory roof is a cache; faster than the compute roof is
  // impossible: the peak was measured too low (seen on a 16-core Xeon VM,
  // whose FMA loops ran at half their one-thread rate per thread on 16).
  const double rate = outcome->summary.median > 0
                          ? static_cast<double>(outcome->flops) / outcome->summary.median
                          : 0;
  if (peak_flops > 0 && rate > kAboveComputeRoof * peak_flops) {
    outcome->warnings.push_back(absl::StrFormat(
        "ran at %.4g GFLOP/s, %.0f%% of the measured %s peak (%.4g GFLOP/s): the ceilings are too "
        "low, so this point's floor and efficiency are not to be trusted; `flopctl info "
        "--remeasure` measures them again",
        rate / 1e9, 100 * rate / peak_flops, DTypeName(outcome->point.dtype), peak_flops / 1e9));
  }
}

}  // namespace flopd
