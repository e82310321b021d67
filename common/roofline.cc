#include "common/roofline.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace flopd {

absl::string_view BoundName(Bound bound) {
  switch (bound) {
    case Bound::kMemory:
      return "memory";
    case Bound::kCompute:
      return "compute";
    case Bound::kLatency:
      return "latency";
    case Bound::kUnknown:
      break;
  }
  return "";
}

double LatencyThresholdSeconds(absl::string_view backend) {
  return backend == "cuda" ? 10e-6 : 5e-6;
}

RooflinePlacement PlaceOnRoofline(int64_t flops, int64_t min_bytes, double measured_seconds,
                                  double peak_flops_per_s, double peak_bandwidth_bytes_per_s,
                                  double latency_threshold_seconds) {
  RooflinePlacement p;
  p.peak_flops_per_s = peak_flops_per_s;
  p.peak_bandwidth_bytes_per_s = peak_bandwidth_bytes_per_s;
  if (min_bytes > 0) p.intensity = static_cast<double>(flops) / static_cast<double>(min_bytes);
  if (peak_flops_per_s > 0) p.compute_seconds = static_cast<double>(flops) / peak_flops_per_s;
  if (peak_bandwidth_bytes_per_s > 0) {
    p.memory_seconds = static_cast<double>(min_bytes) / peak_bandwidth_bytes_per_s;
  }
  p.floor_seconds = std::max(p.compute_seconds, p.memory_seconds);
  if (p.floor_seconds <= 0) return p;
  if (measured_seconds > 0) p.efficiency = p.floor_seconds / measured_seconds;
  if (measured_seconds > 0 && measured_seconds > kLatencyFloorFactor * p.floor_seconds &&
      measured_seconds < latency_threshold_seconds) {
    p.bound = Bound::kLatency;
  } else if (p.memory_seconds >= p.compute_seconds) {
    p.bound = Bound::kMemory;
  } else {
    p.bound = Bound::kCompute;
  }
  return p;
}

double AttainableFlops(double intensity, double peak_flops_per_s,
                       double peak_bandwidth_bytes_per_s) {
  return std::min(peak_flops_per_s, intensity * peak_bandwidth_bytes_per_s);
}

double RidgeIntensity(double peak_flops_per_s, double peak_bandwidth_bytes_per_s) {
  return peak_bandwidth_bytes_per_s > 0 ? peak_flops_per_s / peak_bandwidth_bytes_per_s : 0;
}

absl::Status CheckPlausibleRemeasurement(const DeviceCeilings& previous,
                                         const DeviceCeilings& fresh) {
  auto check = [](absl::string_view what, double before, double now) {
    if (before <= 0) return absl::OkStatus();  // nothing to compare with
    const double ratio = now / before;
    if (ratio >= 1 / kPlausibleCeilingsFactor && ratio <= kPlausibleCeilingsFactor) {
      return absl::OkStatus();
    }
    return absl::FailedPreconditionError(absl::StrFormat(
        "re-measured %s %.4g is %.2fx the %.4g in use (allowed %.1fx..%.1fx); the previous "
        "ceilings are kept (was the host busy?)",
        what, now, ratio, before, 1 / kPlausibleCeilingsFactor, kPlausibleCeilingsFactor));
  };
  if (absl::Status st = check("bandwidth (bytes/s)", previous.bandwidth_bytes_per_s,
                              fresh.bandwidth_bytes_per_s);
      !st.ok()) {
    return st;
  }
  for (const auto& [dtype, flops] : previous.peak_flops) {
    auto it = fresh.peak_flops.find(dtype);
    if (absl::Status st = check(absl::StrCat("peak ", dtype, " (FLOP/s)"), flops,
                                it == fresh.peak_flops.end() ? 0 : it->second);
        !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

namespace {

// "3 h 12 min", "12 min", "40 s", "2 d 3 h".
std::string Duration(int64_t ms) {
  const int64_t s = ms / 1000;
  if (s < 60) return absl::StrCat(s, " s");
  if (s < 3600) return absl::StrCat(s / 60, " min");
  if (s < 86400) {
    return s % 3600 >= 60 ? absl::StrCat(s / 3600, " h ", s % 3600 / 60, " min")
                          : absl::StrCat(s / 3600, " h");
  }
  return s % 86400 >= 3600 ? absl::StrCat(s / 86400, " d ", s % 86400 / 3600, " h")
                           : absl::StrCat(s / 86400, " d");
}

}  // namespace

absl::StatusOr<DeviceCeilings> MeasureCeilingsWithRetry(
    const std::function<absl::StatusOr<CeilingsAttempt>()>& measure,
    const std::atomic<bool>* stop, double pause_seconds, double retry_within_seconds) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  absl::StatusOr<CeilingsAttempt> first = measure();
  if (!first.ok()) return first.status();
  first->ceilings.attempts = 1;
  if (first->ceilings.doubts.empty()) return std::move(first->ceilings);
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  if (took > retry_within_seconds) {
    first->ceilings.doubts.push_back(absl::StrFormat(
        "not measured again: the measurement took %.1f s (a repeat is made within %.0f s)", took,
        retry_within_seconds));
    return std::move(first->ceilings);
  }
  // The pause lets a passing burst of other work end, in slices so that a
  // stop is noticed within 10 ms.
  const absl::Status cancelled = absl::CancelledError("ceilings not measured: flopd is stopping");
  const Clock::time_point resume =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(std::max(0.0, pause_seconds)));
  while (Clock::now() < resume) {
    if (stop != nullptr && stop->load()) return cancelled;
    std::this_thread::sleep_for(
        std::min<Clock::duration>(std::chrono::milliseconds(10), resume - Clock::now()));
  }
  if (stop != nullptr && stop->load()) return cancelled;
  absl::StatusOr<CeilingsAttempt> second = measure();
  if (!second.ok()) {
    if (second.status().code() == absl::StatusCode::kCancelled) return second.status();
    first->ceilings.doubts.push_back(
        absl::StrCat("measuring again failed: ", second.status().ToString()));
    first->ceilings.attempts = 2;
    return std::move(first->ceilings);
  }
  if (second->ceilings.doubts.empty()) {
    second->ceilings.attempts = 2;
    second->ceilings.seconds_spent += first->ceilings.seconds_spent;
    return std::move(second->ceilings);
  }
  return ChooseCeilings({*std::move(first), *std::move(second)});
}

DeviceCeilings ChooseCeilings(const std::vector<CeilingsAttempt>& attempts) {
  if (attempts.empty()) return DeviceCeilings{};
  size_t kept = 0;
  for (size_t i = 1; i < attempts.size(); ++i) {
    const CeilingsAttempt& a = attempts[i];
    const CeilingsAttempt& b = attempts[kept];
    if (a.run_spread < b.run_spread / 1.01 ||
        (a.run_spread <= b.run_spread * 1.01 && a.ceilings.doubts.size() < b.ceilings.doubts.size())) {
      kept = i;
    }
  }
  DeviceCeilings c = attempts[kept].ceilings;
  c.attempts = static_cast<int>(attempts.size());
  c.seconds_spent = 0;
  std::vector<std::string> each;
  for (size_t i = 0; i < attempts.size(); ++i) {
    c.seconds_spent += attempts[i].ceilings.seconds_spent;
    each.push_back(absl::StrFormat(
        "attempt %d (runs %.0f%% apart): %s", i + 1, 100 * (attempts[i].run_spread - 1),
        attempts[i].ceilings.doubts.empty() ? "no doubt"
                                            : absl::StrJoin(attempts[i].ceilings.doubts, "; ")));
  }
  if (attempts.size() > 1) {
    c.doubts.push_back(absl::StrFormat(
        "measured %d times and doubtful each time; kept attempt %d, whose timed runs agreed best. "
        "%s",
        attempts.size(), kept + 1, absl::StrJoin(each, ". ")));
  }
  // The same device measured twice a moment apart: figures far apart mean
  // at least one of them was disturbed.
  auto compare = [&](const std::string& what, const std::vector<double>& values) {
    double lo = 0, hi = 0;
    for (double v : values) {
      if (v <= 0) return;
      lo = lo == 0 ? v : std::min(lo, v);
      hi = std::max(hi, v);
    }
    if (values.size() > 1 && hi > kCeilingsRepeatSpread * lo) {
      c.doubts.push_back(absl::StrFormat("the attempts' %s were %.0f%% apart (%.4g vs %.4g)",
                                         what, 100 * (hi / lo - 1), hi, lo));
    }
  };
  std::vector<double> bandwidths;
  for (const CeilingsAttempt& a : attempts) bandwidths.push_back(a.ceilings.bandwidth_bytes_per_s);
  compare("memory bandwidths (B/s)", bandwidths);
  for (const auto& [dtype, unused] : c.peak_flops) {
    std::vector<double> peaks;
    for (const CeilingsAttempt& a : attempts) {
      auto it = a.ceilings.peak_flops.find(dtype);
      peaks.push_back(it == a.ceilings.peak_flops.end() ? 0 : it->second);
    }
    compare(absl::StrCat(dtype, " peaks (FLOP/s)"), peaks);
  }
  return c;
}

std::string CeilingsAgeText(int64_t measured_unix_ms, int64_t now_unix_ms,
                            int64_t flopd_started_unix_ms) {
  if (measured_unix_ms <= 0) return "";
  if (now_unix_ms < measured_unix_ms - 5000) return "measured in the future (clocks differ)";
  std::string out =
      absl::StrCat("measured ", Duration(std::max<int64_t>(0, now_unix_ms - measured_unix_ms)),
                   " ago");
  if (flopd_started_unix_ms > 0) {
    const int64_t after = measured_unix_ms - flopd_started_unix_ms;
    absl::StrAppend(&out, after < 60000 ? ", at flopd's start"
                                        : absl::StrCat(", ", Duration(after), " after flopd started"));
  }
  return out;
}

}  // namespace flopd
