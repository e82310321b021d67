#include "client/host_client.h"

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "proto/wire/wire.h"

namespace flopd {
namespace {

constexpr std::chrono::seconds kUnaryDeadline(20);

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() + kUnaryDeadline);
}

// gRPC's connection errors carry a chain of causes; the last clause is the
// one a person needs ("Connection refused", "Socket closed", "DNS ...").
std::string LastClause(const std::string& message) {
  size_t pos = message.rfind(": ");
  return pos == std::string::npos ? message : message.substr(pos + 2);
}

}  // namespace

std::string WithDefaultPort(const std::string& host) {
  if (host.empty()) return absl::StrCat("127.0.0.1:", kDefaultPort);
  if (host.front() == '[') {  // [v6] or [v6]:port
    return absl::StrContains(host, "]:") ? host : absl::StrCat(host, ":", kDefaultPort);
  }
  if (host.find(':') == std::string::npos) return absl::StrCat(host, ":", kDefaultPort);
  return host;
}

HostClient::HostClient(const std::string& address)
    : address_(WithDefaultPort(address)),
      channel_(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials())),
      stub_(v1::Flopd::NewStub(channel_)) {}

absl::Status HostClient::Convert(const grpc::Status& grpc_status, bool got_any_event) const {
  const absl::Status status = FromGrpcStatus(grpc_status);
  if (status.ok()) return status;
  const absl::StatusCode code = status.code();
  const std::string message(status.message());
  if (code == absl::StatusCode::kUnavailable && !got_any_event &&
      !absl::StrContains(message, "shutting down")) {
    return absl::UnavailableError(absl::StrCat("unreachable (", LastClause(message), ")"));
  }
  if (code == absl::StatusCode::kUnavailable && !absl::StrContains(message, "shutting down")) {
    return absl::UnavailableError(absl::StrCat("connection lost (", LastClause(message), ")"));
  }
  if (code == absl::StatusCode::kDeadlineExceeded) {
    return absl::DeadlineExceededError(absl::StrCat("no answer in time (", message, ")"));
  }
  return status;
}

absl::Status HostClient::Run(const v1::RunRequest& request,
                             const std::function<void(const v1::RunEvent&)>& on_event) {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::RunEvent>> reader = stub_->Run(&context, request);
  v1::RunEvent event;
  bool got_any_event = false;
  while (reader->Read(&event)) {
    got_any_event = true;
    on_event(event);
  }
  return Convert(reader->Finish(), got_any_event);
}

absl::StatusOr<v1::ListOpsResponse> HostClient::ListOps() {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::ListOpsResponse response;
  absl::Status status = Convert(stub_->ListOps(&context, v1::ListOpsRequest(), &response), false);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::HostInfo> HostClient::GetHostInfo() {
  return GetHostInfo(v1::GetHostInfoRequest());
}

absl::StatusOr<v1::HostInfo> HostClient::GetHostInfo(const v1::GetHostInfoRequest& request) {
  grpc::ClientContext context;
  if (request.measure_ceilings() || request.remeasure_ceilings()) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  } else {
    SetDeadline(&context);
  }
  v1::HostInfo response;
  absl::Status status = Convert(stub_->GetHostInfo(&context, request, &response), false);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<std::string> HostClient::Health() {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::health::v1::HealthCheckResponse response;
  absl::Status status =
      Convert(health->Check(&context, grpc::health::v1::HealthCheckRequest(), &response), false);
  if (!status.ok()) return status;
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

}  // namespace flopd
