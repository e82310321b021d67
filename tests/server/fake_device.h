// A Device for tests of the scheduler, the measurement loop and the service:
// deterministic and fast, with no BLAS, no GPU and no clock in its timings.
//
// TimeBatch(k) reports exactly fixed_seconds_per_batch + k x
// seconds_per_execution(point) (and, when
// `wall_seconds_per_batch` > 0, also sleeps that long for real, so that
// queueing and cancellation can be observed), so every statistic of a point
// is known in advance. Verify() builds the point's real inputs and fp64
// reference (common/verification.h) and checks an output that is either the
// reference itself or, with `wrong_output`, the reference with element 0
// doubled: the verification path under test is the real one.
//
// Thread-safety: as the Device contract asks; counters are atomic.
#ifndef FLOPD_TESTS_SERVER_FAKE_DEVICE_H_
#define FLOPD_TESTS_SERVER_FAKE_DEVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/backend/device.h"

namespace flopd {

struct FakeDeviceOptions {
  std::string id = "cpu:0";
  std::string backend = "cpu";  // selects the catalog's impls
  // Reported seconds of one execution of a point; default 1 µs x N.
  std::function<double(const PointSpec&)> seconds_per_execution;
  double wall_seconds_per_batch = 0;  // real sleep per TimeBatch call
  // Reported seconds added once to every TimeBatch, whatever its size: a
  // fixed cost per sample such as a GPU's launch gap.
  double fixed_seconds_per_batch = 0;
  // Called at the start of every TimeBatch, before the sleep, on the worker
  // thread: lets a test see which point runs and hold it there.
  std::function<void(const PointSpec&)> on_time_batch;
  bool wrong_output = false;
  int64_t bytes_available = int64_t{1} << 30;
  // What MeasureCeilings returns; UNIMPLEMENTED when unset.
  absl::StatusOr<DeviceCeilings> ceilings = absl::UnimplementedError("fake: no ceilings");
  // When set, what the k-th MeasureCeilings call (from 0) returns instead.
  std::function<absl::StatusOr<DeviceCeilings>(int)> ceilings_of_call;
  std::string default_sizes = "16,32";
};

class FakeDevice : public Device {
 public:
  explicit FakeDevice(FakeDeviceOptions options = {});

  const DeviceDescription& Describe() const override { return description_; }
  int64_t BytesAvailable() const override { return options_.bytes_available; }
  int64_t BytesNeeded(const PointSpec& point, TimingMode timing) const override;
  absl::StatusOr<std::unique_ptr<PreparedPoint>> Prepare(const PointSpec& point,
                                                         const MeasureSettings& settings) override;
  absl::StatusOr<DeviceCeilings> MeasureCeilings(const std::atomic<bool>& stop) override;

  // How many points were prepared and how many TimeBatch calls were made.
  int points_prepared() const { return points_prepared_.load(); }
  int64_t batches_timed() const { return batches_timed_.load(); }
  int ceilings_measured() const { return ceilings_measured_.load(); }

 private:
  friend class FakePoint;
  FakeDeviceOptions options_;
  DeviceDescription description_;
  std::atomic<int> points_prepared_{0};
  std::atomic<int64_t> batches_timed_{0};
  std::atomic<int> ceilings_measured_{0};
};

// The devices of a fake host, for Scheduler's constructor.
DeviceSet FakeDevices(FakeDeviceOptions options = {});

}  // namespace flopd

#endif  // FLOPD_TESTS_SERVER_FAKE_DEVICE_H_
