// The wire layer: every conversion between flopd.v1 messages and the domain
// types of common/, in both directions, used by flopd and flopctl alike.
// Nothing else reads or writes proto fields of requests, events and results,
// and nothing here decides anything (which GFLOP/s, which roofline, which
// label): conversions only. Op and impl names cross the wire as strings;
// ResultPoint resolves them against this build's catalog where it can.
//
// Thread-safe: free functions without shared state.
#ifndef FLOPD_PROTO_WIRE_WIRE_H_
#define FLOPD_PROTO_WIRE_WIRE_H_

#include <string>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "common/device_description.h"
#include "common/history_query.h"
#include "common/job.h"
#include "common/job_record.h"
#include "common/measure_settings.h"
#include "common/op_catalog.h"
#include "common/point.h"
#include "common/point_outcome.h"
#include "common/roofline.h"
#include "common/store_health.h"
#include "flopd/v1/flopd.pb.h"
#include "grpcpp/support/status.h"

namespace flopd {

// absl::Status <-> grpc::Status, keeping the canonical code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Run requests. Unset optional settings stay unset both ways.
v1::RunRequest ToProto(const JobSubmission& submission);
JobSubmission FromProto(const v1::RunRequest& request);

v1::MeasureSettings ToProto(const MeasureSettings& settings);

// A job's events. Results carry `origin`'s job, host and device.
// REQUIRES: origin.device != nullptr.
v1::RunEvent ToProto(const JobEvent& event, const JobOrigin& origin);
v1::Result ToProto(const PointOutcome& outcome, const JobOrigin& origin);

// The domain view of a received result: its point (kernel resolved when this
// build's catalog knows the op and impl, kNone otherwise).
PointSpec ResultPoint(const v1::Result& result);
// Where a result was grouped or matched: the point's identity.
PointKey ResultKey(const v1::Result& result);
// The host a result came from, as flopctl names it: the address it dialled,
// else the hostname the daemon reported.
std::string ResultHost(const v1::Result& result);

// History (common/history_query.h, common/job_record.h). Filters convert
// field by field, unchecked (NormalizeResultFilter checks them).
v1::ResultFilter ToProto(const ResultFilter& filter);
ResultFilter FromProto(const v1::ResultFilter& filter);
v1::JobFilter ToProto(const JobFilter& filter);
JobFilter FromProto(const v1::JobFilter& filter);
PageRequest PageOf(const v1::ListResultsRequest& request);
PageRequest PageOf(const v1::ListJobsRequest& request);
// The fields of a result that filters and the store's indexes look at.
ResultIndex IndexOf(const v1::Result& result);

// A message in protobuf's JSON mapping as flopd writes it everywhere (results
// files, HTTP's /api/v1): proto field names, every field printed, 64-bit
// integers as strings; one line.
std::string ToJson(const google::protobuf::Message& message);
// A job as the history API shows it, `hostname` being the daemon's.
v1::JobInfo ToProto(const JobRecord& job, const std::string& hostname);
v1::StoreStatus ToProto(const StoreHealth& health);

v1::OpInfo ToProto(const OpSpec& op);
v1::DeviceCeilings ToProto(const DeviceCeilings& ceilings);
v1::DeviceInfo ToProto(const DeviceDescription& device, int64_t memory_limit_bytes, bool healthy,
                       const std::string& health_detail, int queued_jobs);

}  // namespace flopd

#endif  // FLOPD_PROTO_WIRE_WIRE_H_
