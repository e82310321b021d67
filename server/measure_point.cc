#include "server/measure_point.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/op_catalog.h"

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
    const double wanted = device.Describe().min_sample_seconds / std::max(per_execution, 1e-9);
    iterations = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(wanted)), 1, kMaxAutoIterations);
  }
  outcome.iterations_per_sample = iterations;

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
  outcome->roofline = PlaceOnRoofline(
      outcome->flops, outcome->min_bytes, outcome->summary.median,
      peak == ceilings.peak_flops.end() ? 0 : peak->second, ceilings.bandwidth_bytes_per_s,
      outcome->latency_threshold_seconds);
}

}  // namespace flopd
