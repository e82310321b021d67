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
#include "common/point_outcome.h"
#include "common/point.h"
#include "common/roofline.h"
#include "common/statistics.h"
#include "common/verification.h"
#include "server/backend/device.h"

namespace flopd {

// The longest stretch of work MeasurePoint runs without looking at its
// `cancelled` flag: a sample longer than this is timed in slices (one
// execution at least), so cancelling, a deadline or SIGTERM stops any point
// within about this long (or one execution of the op, when one is longer).
inline constexpr double kMaxSliceSeconds = 0.25;

// Measures one point on `device` and, when `ceilings` is given, places it on
// the device's roofline. Returns CANCELLED as soon as `cancelled` is seen set
// (checked between samples and between a long sample's slices: see
// kMaxSliceSeconds), RESOURCE_EXHAUSTED when the point no longer
// fits the device (checked here, once, before anything is allocated), and
// the backend's error otherwise. A point whose verification fails is still
// measured and returned (verification.passed is false), so the caller can
// report it. REQUIRES: point resolved (point.kernel).
absl::StatusOr<PointOutcome> MeasurePoint(Device& device, const PointSpec& point,
                                          const MeasureSettings& settings,
                                          const DeviceCeilings* ceilings,
                                          const std::atomic<bool>& cancelled);

// A point faster than this times the measured compute peak gets a warning:
// the ceilings, not the point, are wrong.
inline constexpr double kAboveComputeRoof = 1.05;

// Sets outcome->roofline (and the threshold and age fields beside it) from
// the device's ceilings: FLOPs and minimum bytes from the catalog, the peak of
// the point's dtype, the measured median. Adds the ceilings' doubts as
// warnings, and one when the point ran above kAboveComputeRoof x the peak.
void PlaceOnRoofline(const DeviceCeilings& ceilings, const std::string& backend,
                     PointOutcome* outcome);

// RESOURCE_EXHAUSTED naming the size, the bytes needed and the bytes the
// device allows, or OK. The one memory check: at submission for every point,
// and again by MeasurePoint before the point allocates.
absl::Status CheckPointFits(const Device& device, const PointSpec& point, TimingMode timing);

}  // namespace flopd

#endif  // FLOPD_SERVER_MEASURE_POINT_H_
