// The gRPC service: translates requests to the scheduler and scheduler
// events to stream messages, and forwards the history calls to the history
// API (server/history_api.h). It measures and stores nothing itself.
//
// Thread-safe: gRPC calls its methods concurrently.
#ifndef FLOPD_SERVER_FLOPD_SERVICE_H_
#define FLOPD_SERVER_FLOPD_SERVICE_H_

#include <cstdint>
#include <string>

#include "flopd/v1/flopd.grpc.pb.h"
#include "server/history_api.h"
#include "server/host_info.h"
#include "server/scheduler.h"

namespace flopd {

class FlopdService final : public v1::Flopd::Service {
 public:
  // `scheduler` and `history` must outlive the service. `hostname` is what
  // results and GetHostInfo report. Without `history` the history calls are
  // FAILED_PRECONDITION and HostInfo.store says "off".
  FlopdService(Scheduler* scheduler, std::string hostname, HistoryApi* history = nullptr);

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
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::JobInfo* response) override;

  // The host as this service reports it (other front ends share it).
  const HostIdentity& host() const { return host_; }

 private:
  Scheduler* const scheduler_;
  HistoryApi* const history_;
  const HostIdentity host_;
};

}  // namespace flopd

#endif  // FLOPD_SERVER_FLOPD_SERVICE_H_
