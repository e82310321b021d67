// The gRPC service: translates requests to the scheduler and scheduler
// events to stream messages. It measures nothing itself.
//
// Thread-safe: gRPC calls its methods concurrently.
#ifndef FLOPD_SERVER_FLOPD_SERVICE_H_
#define FLOPD_SERVER_FLOPD_SERVICE_H_

#include <cstdint>
#include <string>

#include "flopd/v1/flopd.grpc.pb.h"
#include "server/scheduler.h"

namespace flopd {

extern const char kFlopdVersion[];

class FlopdService final : public v1::Flopd::Service {
 public:
  // `scheduler` must outlive the service. `hostname` is what results and
  // GetHostInfo report.
  FlopdService(Scheduler* scheduler, std::string hostname);

  grpc::Status Run(grpc::ServerContext* context, const v1::RunRequest* request,
                   grpc::ServerWriter<v1::RunEvent>* writer) override;
  grpc::Status ListOps(grpc::ServerContext* context, const v1::ListOpsRequest* request,
                       v1::ListOpsResponse* response) override;
  grpc::Status GetHostInfo(grpc::ServerContext* context, const v1::GetHostInfoRequest* request,
                           v1::HostInfo* response) override;

 private:
  Scheduler* const scheduler_;
  const std::string hostname_;
  const int64_t started_unix_ms_;
};

}  // namespace flopd

#endif  // FLOPD_SERVER_FLOPD_SERVICE_H_
