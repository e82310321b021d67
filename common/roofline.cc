#include "common/roofline.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

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

}  // namespace flopd
