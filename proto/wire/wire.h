// The one seam between wire messages (flopd.v1) and domain structs. Nothing
// else in the server reads or writes proto fields, and nothing here decides
// anything: conversions only.
#ifndef FLOPD_SERVER_PROTO_CONVERT_H_
#define FLOPD_SERVER_PROTO_CONVERT_H_

#include <string>

#include "absl/status/status.h"
#include "common/measure_settings.h"
#include "common/op_catalog.h"
#include "flopd/v1/flopd.pb.h"
#include "grpcpp/support/status.h"
#include "server/backend/device.h"
#include "server/scheduler.h"

namespace flopd {

// absl::Status -> grpc::Status, keeping the canonical code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

JobSubmission FromProto(const v1::RunRequest& request);
v1::MeasureSettings ToProto(const MeasureSettings& settings);

// What a Result says about where it was measured.
struct ResultOrigin {
  std::string job_id;
  std::string hostname;
  std::string flopd_version;
  const DeviceDescription* device = nullptr;
};
v1::Result ToProto(const PointOutcome& outcome, const ResultOrigin& origin);

v1::OpInfo ToProto(const OpSpec& op);
v1::DeviceCeilings ToProto(const DeviceCeilings& ceilings);
v1::DeviceInfo ToProto(const DeviceDescription& device, int64_t memory_limit_bytes, bool healthy,
                       const std::string& health_detail, int queued_jobs);

}  // namespace flopd

#endif  // FLOPD_SERVER_PROTO_CONVERT_H_
