// The gRPC service: translates requests to the scheduler and scheduler
// events to stream messages, and forwards the history calls to the history
// API (server/history_api.h). It measures and stores nothing itself.
//
// Thread-safe: gRPC calls its methods concurrently.
#ifndef FLOPD_SERVER_FLOPD_SERVICE_H_
#define FLOPD_SERVER_FLOPD_SERVICE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "flopd/v1/flopd.grpc.pb.h"
#include "grpcpp/server_builder.h"
#include "server/auth/access_control.h"
#include "server/history_api.h"
#include "server/host_info.h"
#include "server/scheduler.h"
#include "server/stream_registry.h"

namespace flopd {

class FlopdService final : public v1::Flopd::Service {
 public:
  // `scheduler` and `history` must outlive the service. `hostname` is what
  // results and GetHostInfo report. Without `history` the history calls are
  // FAILED_PRECONDITION and HostInfo.store says "off". `access` (not owned;
  // null = authorization off) decides who may call what (docs/SECURITY.md);
  // `security` is what HostInfo.security reports.
  // `limits` bound the streams open at once (RESOURCE_EXHAUSTED naming
  // --max-streams) and say how long a stream whose reader fell behind may
  // stay open (server/stream_registry.h); HostInfo.limits reports them.
  FlopdService(Scheduler* scheduler, std::string hostname, HistoryApi* history = nullptr,
               const AccessControl* access = nullptr, v1::Security security = {},
               ServiceLimits limits = {});
  ~FlopdService() override;

  grpc::Status Run(grpc::ServerContext* context, const v1::RunRequest* request,
                   grpc::ServerWriter<v1::RunEvent>* writer) override;
  grpc::Status ListOps(grpc::ServerContext* context, const v1::ListOpsRequest* request,
                       v1::ListOpsResponse* response) override;
  grpc::Status GetHostInfo(grpc::ServerContext* context, const v1::GetHostInfoRequest* request,
                           v1::HostInfo* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                      v1::JobInfo* response) override;
  grpc::Status ListResults(grpc::ServerContext* context, const v1::ListResultsRequest* request,
                           v1::ListResultsResponse* response) override;
  grpc::Status WatchResults(grpc::ServerContext* context, const v1::WatchResultsRequest* request,
                            grpc::ServerWriter<v1::WatchEvent>* writer) override;
  grpc::Status Drain(grpc::ServerContext* context, const v1::DrainRequest* request,
                     v1::DrainResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::JobInfo* response) override;

  // The host as this service reports it (other front ends share it).
  const HostIdentity& host() const { return host_; }

 private:
  // Who the call is from, if it may do what needs `needed`; denials are
  // logged.
  absl::StatusOr<Caller> Authorize(grpc::ServerContext* context, Role needed,
                                   absl::string_view what) const;

  Scheduler* const scheduler_;
  HistoryApi* const history_;
  const AccessControl* const access_;
  const HostIdentity host_;
  const std::unique_ptr<StreamRegistry> streams_;
};

// Sets what `limits` bound on the server being built: the largest request
// message (gRPC answers RESOURCE_EXHAUSTED above it) and, through a
// resource quota, the threads the synchronous server may run handlers on
// (max_streams plus room for unary calls).
void ApplyServiceLimits(const ServiceLimits& limits, grpc::ServerBuilder* builder);

}  // namespace flopd

#endif  // FLOPD_SERVER_FLOPD_SERVICE_H_
