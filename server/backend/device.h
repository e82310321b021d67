// The backend seam (target flopd::device, which links no backend). A Device is one thing flopd can benchmark on (the host's
// CPU, one GPU). The scheduler owns devices and never runs two points on one
// device at once; a Device therefore need not be thread-safe for Prepare and
// what it returns, but Describe() and BytesAvailable() may be called from any
// thread at any time.
//
// No CUDA or BLAS type appears here: backends hide theirs in their own .cc.
#ifndef FLOPD_SERVER_BACKEND_DEVICE_H_
#define FLOPD_SERVER_BACKEND_DEVICE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/device_description.h"
#include "common/measure_settings.h"
#include "common/point.h"
#include "common/roofline.h"
#include "common/verification.h"

namespace flopd {

// One point with its buffers allocated and inputs filled; owned by the
// measurement loop for the life of the point.
class PreparedPoint {
 public:
  virtual ~PreparedPoint() = default;

  // Poisons the output, executes the op once, and compares with the fp64
  // reference. Doubles as the first warm-up. A non-OK status is a device
  // failure (INTERNAL with the library's error text), not a wrong result.
  virtual absl::StatusOr<VerificationResult> Verify() = 0;

  // Executes the op `iterations` times and returns the elapsed seconds of all
  // of them, as measured by the device's own timer (host steady clock after
  // the work finished on a CPU; events on the stream on a GPU). Hot mode runs
  // the executions back to back in one timed region; cold mode flushes the
  // caches before each execution and sums separately timed executions.
  // REQUIRES: iterations >= 1.
  virtual absl::StatusOr<double> TimeBatch(int64_t iterations) = 0;

  // Called once after sampling ends; appends device observations (clock
  // drops, throttling) as human-readable warnings. Default: none.
  virtual void CollectWarnings(std::vector<std::string>* warnings) { (void)warnings; }

  // Called once after sampling ends; records device readings taken around
  // the point (e.g. "sm_clock_mhz_before", "sm_clock_mhz_after") so that
  // every result carries them. Default: none.
  virtual void CollectObservations(std::map<std::string, std::string>* observations) {
    (void)observations;
  }

  // Thread count the point ran with (CPU) or 0.
  virtual int threads() const { return 0; }
};

class Device {
 public:
  virtual ~Device() = default;

  virtual const DeviceDescription& Describe() const = 0;

  // Bytes flopd allows itself to allocate for one point on this device now.
  virtual int64_t BytesAvailable() const = 0;
  // Bytes the point would allocate on this device (buffers plus the backend's
  // own extras, e.g. a cache-flush buffer or the fp64 reference).
  virtual int64_t BytesNeeded(const PointSpec& point, TimingMode timing) const = 0;

  // Whether the device can still run work; false after an unrecoverable
  // error, with the reason in *detail.
  virtual bool Healthy(std::string* detail) const {
    (void)detail;
    return true;
  }

  // Allocates and fills the point's buffers. REQUIRES: the point is resolved
  // (point.kernel) to a kernel the catalog lists for Describe().backend, its
  // params are allowed, its timing mode is in Describe().timing_modes and it
  // fits BytesAvailable() (the planner and the measurement loop check all of
  // these once, before this call). RESOURCE_EXHAUSTED when allocation fails.
  virtual absl::StatusOr<std::unique_ptr<PreparedPoint>> Prepare(const PointSpec& point,
                                                                 const MeasureSettings& settings) = 0;

  // Measures the device's ceilings: peak memory bandwidth, peak FLOP rate
  // per dtype and the clock it ran at (see common/roofline.h). Takes the
  // device for up to a few seconds; the scheduler calls it on the device's
  // worker, never beside a point. Once `stop` is set (flopd shutting down) it
  // returns CANCELLED within one of its timed runs (well under a second).
  // Default: UNIMPLEMENTED (the backend cannot measure them yet), and
  // results then carry no roofline.
  virtual absl::StatusOr<DeviceCeilings> MeasureCeilings(const std::atomic<bool>& stop) {
    (void)stop;
    return absl::UnimplementedError("this backend does not measure its ceilings yet");
  }
};

// The devices a flopd serves, and why others are not offered.
struct DeviceSet {
  std::vector<std::unique_ptr<Device>> devices;
  // Backends or devices that could not be offered, each with the reason,
  // e.g. "cuda: flopd was built without CUDA".
  std::vector<std::string> unavailable;
};

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_DEVICE_H_
