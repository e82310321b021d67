// Request planning from arbitrary flopd.v1.RunRequest bytes: what flopd does
// with a Run call before a job may run. The bytes are parsed as a RunRequest
// (as gRPC does); if they parse, the request goes through the wire layer
// (FromProto) and is checked and planned the way Scheduler::Submit does it
// (server/scheduler.cc): run id, PlanJob against each backend's catalog (and
// against none, as flopctl does before dialing), the cap on points (the
// default --max-points-per-job), the settings and timing mode, and the memory
// check of every point (CheckPointFits) on a device that only answers the
// catalog's byte models; then the accepted event is converted back for the
// stream. No backend, no
// allocation of any point: a huge size spec must be refused, never expanded
// or allocated (libFuzzer's -malloc_limit_mb catches a huge allocation).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/job.h"
#include "common/job_plan.h"
#include "common/job_record.h"
#include "common/measure_settings.h"
#include "common/op_catalog.h"
#include "common/size_spec.h"
#include "flopd/v1/flopd.pb.h"
#include "proto/wire/wire.h"
#include "server/backend/device.h"
#include "server/measure_point.h"
#include "server/scheduler.h"
#include "tests/fuzz/fuzz_check.h"

namespace flopd {
namespace {

// Scheduler::Submit's cap on points per job: flopd's default
// --max-points-per-job.
const int64_t kMaxPointsPerJob = SchedulerLimits{}.max_points_per_job;

// A device that answers only the catalog's byte models (as CpuDevice does:
// the point's buffers plus its fp64 reference) and is never prepared.
class ModelDevice : public Device {
 public:
  explicit ModelDevice(DeviceDescription description) : description_(std::move(description)) {}
  const DeviceDescription& Describe() const override { return description_; }
  int64_t BytesAvailable() const override { return int64_t{64} << 30; }
  int64_t BytesNeeded(const PointSpec& point, TimingMode timing) const override {
    (void)timing;
    return BufferBytes(point) + 8 * OutputCount(point);
  }
  absl::StatusOr<std::unique_ptr<PreparedPoint>> Prepare(const PointSpec&,
                                                         const MeasureSettings&) override {
    return absl::UnimplementedError("fuzz: never prepared");
  }

 private:
  DeviceDescription description_;
};

// The descriptions of cpu_device.cc and cuda_device.cc as far as planning
// reads them.
DeviceDescription Cpu() {
  DeviceDescription d;
  d.id = "cpu:0";
  d.backend = "cpu";
  d.default_sizes = "1000:8001:1000";
  d.timing_modes = {TimingMode::kHot, TimingMode::kCold};
  d.default_settings.noise_target = 0.005;
  d.default_settings.min_samples = 10;
  d.default_settings.min_time_s = 0.05;
  d.default_settings.max_time_s = 1.0;
  return d;
}

DeviceDescription Cuda() {
  DeviceDescription d;
  d.id = "cuda:0";
  d.backend = "cuda";
  d.default_sizes = "1000:20000:500";
  d.timing_modes = {TimingMode::kHot, TimingMode::kCold, TimingMode::kGraph};
  d.default_settings.noise_target = 0.005;
  d.default_settings.min_samples = 10;
  d.default_settings.min_time_s = 0.02;
  d.default_settings.max_time_s = 2.0;
  return d;
}

bool InvalidWith(const absl::Status& status, absl::string_view field_prefix = "") {
  return status.code() == absl::StatusCode::kInvalidArgument &&
         absl::StartsWith(status.message(), field_prefix);
}

// Submit's checks after the device is chosen.
void PlanOn(const JobSubmission& submission, const ModelDevice& device) {
  const DeviceDescription& description = device.Describe();
  absl::StatusOr<JobPlan> plan =
      PlanJob(submission.request, description.backend, description.default_sizes);
  if (!plan.ok()) {
    FUZZ_CHECK(InvalidWith(plan.status()));
    return;
  }
  FUZZ_CHECK(!plan->sizes.empty());
  FUZZ_CHECK(static_cast<int64_t>(plan->sizes.size()) <= kMaxSizesPerSpec);
  if (static_cast<int64_t>(plan->points.size()) > kMaxPointsPerJob) return;

  MeasureSettings settings;
  if (absl::Status st =
          ResolveMeasureSettings(submission.measure, description.default_settings, &settings);
      !st.ok()) {
    FUZZ_CHECK(InvalidWith(st, "settings."));
    return;
  }
  bool timing_ok = false;
  for (TimingMode mode : description.timing_modes) timing_ok = timing_ok || mode == settings.timing;
  if (!timing_ok) return;

  for (const PointSpec& point : plan->points) {
    FUZZ_CHECK(point.kernel != Kernel::kNone);
    FUZZ_CHECK(point.n >= 1 && point.n <= kMaxN);
    // The catalog's models of any plannable point are positive: no overflow.
    FUZZ_CHECK(OpFlops(point) > 0);
    FUZZ_CHECK(MinBytes(point) > 0);
    FUZZ_CHECK(BufferBytes(point) > 0);
    FUZZ_CHECK(OutputCount(point) > 0 && TempCount(point) >= 0);
    for (int64_t count : InputCounts(point)) FUZZ_CHECK(count > 0);
    const absl::Status fits = CheckPointFits(device, point, settings.timing);
    FUZZ_CHECK(fits.ok() == (device.BytesNeeded(point, settings.timing) <=
                             device.BytesAvailable()));
    if (!fits.ok()) {
      FUZZ_CHECK(fits.code() == absl::StatusCode::kResourceExhausted);
      return;
    }
    (void)point.Label();
  }

  // Accepted: the first event of the stream, through the wire layer.
  JobEvent accepted;
  accepted.kind = JobEvent::Kind::kAccepted;
  accepted.points_total = static_cast<int>(plan->points.size());
  accepted.settings = settings;
  accepted.sizes = plan->sizes;
  const JobOrigin origin{"j-01hv3k7q2m-x7k2pq", "fuzzhost", "0.0.0", &description,
                         submission.run_id};
  const v1::RunEvent event = ToProto(accepted, origin);
  FUZZ_CHECK(event.accepted().sizes_size() == static_cast<int>(plan->sizes.size()));
}

}  // namespace
}  // namespace flopd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flopd;
  static const ModelDevice* const cpu = new ModelDevice(Cpu());
  static const ModelDevice* const cuda = new ModelDevice(Cuda());

  v1::RunRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  const JobSubmission submission = FromProto(request);

  // The wire layer is its own inverse on what it carries.
  std::string once, twice;
  FUZZ_CHECK(ToProto(submission).SerializeToString(&once));
  FUZZ_CHECK(ToProto(FromProto(ToProto(submission))).SerializeToString(&twice));
  FUZZ_CHECK(once == twice);

  // flopctl's local check, before it knows the host's devices.
  if (absl::StatusOr<JobPlan> local = PlanJob(submission.request, "", "1000");
      !local.ok()) {
    FUZZ_CHECK(InvalidWith(local.status()));
  }
  if (!CheckRunId(submission.run_id).ok()) return 0;
  PlanOn(submission, *cpu);
  PlanOn(submission, *cuda);
  return 0;
}
