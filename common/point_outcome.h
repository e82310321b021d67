// A measured point: what the measurement loop (server/measure_point.h)
// produces, what the wire layer sends as a flopd.v1.Result, and what
// flopctl's renderers read back. Plain data.
#ifndef FLOPD_COMMON_POINT_OUTCOME_H_
#define FLOPD_COMMON_POINT_OUTCOME_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/measure_settings.h"
#include "common/point.h"
#include "common/roofline.h"
#include "common/statistics.h"
#include "common/verification.h"

namespace flopd {

struct PointOutcome {
  PointSpec point;
  MeasureSettings settings;
  std::vector<double> samples;  // seconds per execution, in the order taken
  int64_t iterations_per_sample = 0;
  SampleSummary summary;
  // The catalog's models for the point and the rates they give at the
  // median: FLOPs / median, minimum bytes / median (0 when the median is 0).
  int64_t flops = 0;
  int64_t min_bytes = 0;
  double flops_per_s = 0;
  double bytes_per_s = 0;
  std::string stop_reason;
  VerificationResult verification;
  std::vector<std::string> warnings;
  std::map<std::string, std::string> observations;  // device readings around the point
  int threads = 0;
  double wall_seconds = 0;       // whole point: prepare, verify, warm-up, sampling
  int64_t measured_unix_ms = 0;  // when sampling ended
  // Set when the device's ceilings were known: where the median sits on the
  // device's roofline (common/roofline.h).
  std::optional<RooflinePlacement> roofline;
  double latency_threshold_seconds = 0;
  int64_t ceilings_measured_unix_ms = 0;
};

}  // namespace flopd

#endif  // FLOPD_COMMON_POINT_OUTCOME_H_
