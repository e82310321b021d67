// A job as both sides of the wire see it: what a client submits and the
// events its stream carries, from acceptance to the final status. The wire
// layer (proto/wire.h) converts these to and from flopd.v1 messages; the
// scheduler (server/) produces the events. Plain data.
#ifndef FLOPD_COMMON_JOB_H_
#define FLOPD_COMMON_JOB_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/device_description.h"
#include "common/job_plan.h"
#include "common/measure_settings.h"
#include "common/point_outcome.h"

namespace flopd {

// What a client asked for, before validation against a device.
struct JobSubmission {
  JobRequest request;
  MeasureRequest measure;
  std::string device;  // empty = "cpu:0"
  std::string client;  // a free-form label of the client ("flopctl pid 123")
  // A client-chosen label tying together the jobs of one `flopctl run` on
  // many hosts and devices; empty = none. Checked by CheckRunId.
  std::string run_id;
};

// One event of a job's stream. Which fields are set depends on `kind`.
struct JobEvent {
  enum class Kind { kAccepted, kStarted, kResult, kFinished, kError, kStatus };
  Kind kind = Kind::kStarted;
  // kAccepted: where the job waits and what it will measure.
  int queue_position = 0;
  int points_total = 0;
  MeasureSettings settings;
  std::vector<int64_t> sizes;
  int64_t started_unix_ms = 0;         // kStarted
  // kStatus: what the job does before its points (RunEvent.status).
  std::string status_phase;            // "measuring_ceilings"
  std::string status_message;
  double status_expected_seconds = 0;  // 0 = unknown
  PointOutcome result;                 // kResult
  absl::Status error;                  // kError: the job's final status
  int points_measured = 0;             // kFinished, kError
  int points_failed_verification = 0;  // kFinished
  double wall_seconds = 0;             // kFinished
};

// Where a job's events come from: the job and the device and host that run it.
struct JobOrigin {
  std::string job_id;
  std::string hostname;
  std::string flopd_version;
  const DeviceDescription* device = nullptr;  // not owned; outlives the job
  std::string run_id = "";                    // the job's JobSubmission::run_id
  std::string flopd_build = "";               // see Result.flopd_build
};

}  // namespace flopd

#endif  // FLOPD_COMMON_JOB_H_
