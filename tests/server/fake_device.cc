#include "tests/server/fake_device.h"

#include <chrono>
#include <thread>
#include <utility>
#include <vector>

#include "common/op_catalog.h"
#include "common/verification.h"

namespace flopd {

class FakePoint : public PreparedPoint {
 public:
  FakePoint(FakeDevice* device, PointSpec point) : device_(device), point_(std::move(point)) {}

  absl::StatusOr<VerificationResult> Verify() override {
    const std::vector<int64_t> counts = InputCounts(point_);
    std::vector<double> first(counts[0]);
    std::vector<double> second(counts[1]);
    FillUniform(first.data(), counts[0], kInputSeed + 0);
    FillUniform(second.data(), counts[1], kInputSeed + 1);
    const std::vector<double> reference =
        ReferenceResult<double>(point_, {first.data(), second.data()});
    std::vector<double> out = reference;
    if (device_->options_.wrong_output) out[0] *= 2;
    return flopd::Verify<double>(point_, out.data(), reference);
  }

  absl::StatusOr<double> TimeBatch(int64_t iterations) override {
    ++device_->batches_timed_;
    if (device_->options_.on_time_batch) device_->options_.on_time_batch(point_);
    if (device_->options_.wall_seconds_per_batch > 0) {
      std::this_thread::sleep_for(
          std::chrono::duration<double>(device_->options_.wall_seconds_per_batch));
    }
    const auto& per = device_->options_.seconds_per_execution;
    const double seconds = per ? per(point_) : 1e-6 * static_cast<double>(point_.n);
    return device_->options_.fixed_seconds_per_batch + seconds * static_cast<double>(iterations);
  }

 private:
  FakeDevice* const device_;
  const PointSpec point_;
};

FakeDevice::FakeDevice(FakeDeviceOptions options) : options_(std::move(options)) {
  description_.id = options_.id;
  description_.backend = options_.backend;
  description_.name = "fake device";
  description_.cores = 1;
  description_.memory_bytes = options_.bytes_available;
  description_.library = "none";
  description_.default_sizes = options_.default_sizes;
  description_.timing_modes = {TimingMode::kHot, TimingMode::kCold};
  description_.default_settings.noise_target = 0.005;
  description_.default_settings.min_samples = 3;
  description_.default_settings.min_time_s = 0;
  description_.default_settings.max_time_s = 1.0;
  description_.min_sample_seconds = 1e-3;
}

int64_t FakeDevice::BytesNeeded(const PointSpec& point, TimingMode) const {
  return BufferBytes(point);
}

absl::StatusOr<std::unique_ptr<PreparedPoint>> FakeDevice::Prepare(const PointSpec& point,
                                                                   const MeasureSettings&) {
  ++points_prepared_;
  return std::make_unique<FakePoint>(this, point);
}

absl::StatusOr<DeviceCeilings> FakeDevice::MeasureCeilings(const std::atomic<bool>& stop) {
  (void)stop;
  const int call = ceilings_measured_++;
  return options_.ceilings_of_call ? options_.ceilings_of_call(call) : options_.ceilings;
}

DeviceSet FakeDevices(FakeDeviceOptions options) {
  DeviceSet set;
  set.devices.push_back(std::make_unique<FakeDevice>(std::move(options)));
  return set;
}

}  // namespace flopd
