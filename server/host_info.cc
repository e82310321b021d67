#include "server/host_info.h"

#include <chrono>

#include "common/job_record.h"
#include "proto/wire/wire.h"

namespace flopd {

const char kFlopdVersion[] = FLOPD_VERSION;
// kFlopdBuild is generated at build time (cmake/build_stamp.cmake).

namespace {

// How long a requested ceilings measurement is waited for (the device may
// be busy with a job).
constexpr std::chrono::milliseconds kCeilingsWait(30000);

}  // namespace

v1::HostInfo DescribeHost(Scheduler& scheduler, const HostIdentity& host,
                          const HistoryApi* history, const v1::GetHostInfoRequest& request) {
  v1::HostInfo info;
  info.set_hostname(host.hostname);
  info.set_flopd_version(kFlopdVersion);
  info.set_started_unix_ms(host.started_unix_ms);
  *info.mutable_security() = host.security;
  info.set_draining(scheduler.draining());
  const bool measure = request.measure_ceilings() || request.remeasure_ceilings();
  for (int slot = 0; slot < scheduler.device_count(); ++slot) {
    const Device& device = scheduler.device(slot);
    std::string health_detail;
    const bool healthy = device.Healthy(&health_detail);
    absl::StatusOr<DeviceCeilings> ceilings =
        measure ? scheduler.MeasureCeilings(slot, request.remeasure_ceilings(), kCeilingsWait)
                : scheduler.ceilings(slot);
    if (absl::IsDeadlineExceeded(ceilings.status())) {
      // Still report what was measured before, if anything.
      absl::StatusOr<DeviceCeilings> cached = scheduler.ceilings(slot);
      if (cached.ok()) ceilings = cached;
    }
    v1::DeviceInfo* device_info = info.add_devices();
    *device_info = ToProto(device.Describe(), device.BytesAvailable(), healthy, health_detail,
                           scheduler.pending_jobs(slot));
    if (ceilings.ok()) {
      *device_info->mutable_ceilings() = ToProto(*ceilings);
      device_info->set_ceilings_status(scheduler.ceilings_note(slot));
    } else {
      device_info->set_ceilings_status(
          ceilings.status().code() == absl::StatusCode::kFailedPrecondition
              ? std::string(ceilings.status().message())
              : ceilings.status().ToString());
    }
  }
  for (const std::string& reason : scheduler.unavailable()) info.add_unavailable(reason);
  v1::Limits* limits = info.mutable_limits();
  limits->set_max_queued_jobs_per_device(scheduler.limits().max_waiting_jobs_per_device);
  limits->set_max_points_per_job(scheduler.limits().max_points_per_job);
  limits->set_max_job_seconds(scheduler.limits().max_job_seconds);
  limits->set_max_threads_per_job(scheduler.limits().max_threads_per_job);
  limits->set_max_stream_buffer_bytes(scheduler.limits().max_stream_buffer_bytes);
  limits->set_max_request_bytes(host.limits.max_request_bytes);
  limits->set_max_streams(host.limits.max_streams);
  limits->set_max_watch_buffer_results(host.limits.max_watch_buffer_results);
  limits->set_max_client_label_bytes(static_cast<int32_t>(kMaxClientLabelBytes));
  limits->set_max_queued_jobs_per_identity(scheduler.limits().max_waiting_jobs_per_owner);
  if (history != nullptr) {
    *info.mutable_store() = ToProto(history->StoreState());
  } else {
    info.mutable_store()->set_state("off");
  }
  return info;
}

}  // namespace flopd
