// The measurement loop shared by every backend: verify, warm up, pick the
// iterations per sample, then sample until the stopping rule says done.
// Backends only provide PreparedPoint::Verify/TimeBatch (how to execute and
// time); when to stop and how samples become statistics lives here and in
// common/.
#ifndef FLOPD_SERVER_MEASURE_POINT_H_
#define FLOPD_SERVER_MEASURE_POINT_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/measure_settings.h"
#include "common/point.h"
#include "common/roofline.h"
#include "common/statistics.h"
#include "common/verification.h"
#include "server/backend/device.h"

namespace flopd {

struct PointOutcome {
  PointSpec point;
  MeasureSettings settings;
  std::vector<double> samples;  // seconds per execution, in the order taken
  int64_t iterations_per_sample = 0;
  SampleSummary summary;
  std::string stop_reason;
  VerificationResult verification;
  std::vector<std::string> warnings;
  std::map<std::string, std::string> observations;  // device readings around the point
  int threads = 0;
  double wall_seconds = 0;      // whole point: prepare, verify, warm-up, sampling
  int64_t measured_unix_ms = 0;  // when sampling ended
  // Set by the scheduler when the device's ceilings are known.
  std::optional<RooflinePlacement> roofline;
  double latency_threshold_seconds = 0;
  int64_t ceilings_measured_unix_ms = 0;
};

// Measures one point on `device`. Returns CANCELLED as soon as `cancelled`
// is seen set (checked between samples), RESOURCE_EXHAUSTED when the point no
// longer fits the device, and the backend's error otherwise. A point whose
// verification fails is still measured and returned (verification.passed is
// false), so the caller can report it.
absl::StatusOr<PointOutcome> MeasurePoint(Device& device, const PointSpec& point,
                                          const MeasureSettings& settings,
                                          const std::atomic<bool>& cancelled);

// RESOURCE_EXHAUSTED naming the size, the bytes needed and the bytes the
// device allows, or OK.
absl::Status CheckPointFits(const Device& device, const PointSpec& point, TimingMode timing);

}  // namespace flopd

#endif  // FLOPD_SERVER_MEASURE_POINT_H_
