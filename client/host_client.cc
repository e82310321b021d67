#include "client/host_client.h"

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "common/sanitize.h"
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

absl::StatusOr<std::string> DialAddress(const std::string& host) {
  std::string address = WithDefaultPort(host);
  absl::StatusOr<HostPort> parsed = ParseHostPort(address);
  if (!parsed.ok() || parsed->port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--host: '", Sanitized(host, kQuotedValueBytes),
                     "' is not allowed; allowed: HOST, HOST:PORT, [IPV6] or [IPV6]:PORT with "
                     "PORT 1..65535"));
  }
  return address;
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
  const absl::Status interrupted = absl::CancelledError("interrupted");
  grpc::ClientContext context;
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    if (stream_cancelled_) return interrupted;
    stream_context_ = &context;
  }
  std::unique_ptr<grpc::ClientReader<v1::RunEvent>> reader = stub_->Run(&context, request);
  v1::RunEvent event;
  bool got_any_event = false;
  while (reader->Read(&event)) {
    got_any_event = true;
    on_event(event);
  }
  const grpc::Status status = reader->Finish();
  bool cancelled;
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    stream_context_ = nullptr;
    cancelled = stream_cancelled_;
  }
  if (cancelled && status.error_code() == grpc::StatusCode::CANCELLED) return interrupted;
  return Convert(status, got_any_event);
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

absl::StatusOr<std::string> HostClient::Health(const std::string& service) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  absl::Status status = Convert(health->Check(&context, request, &response), false);
  if (!status.ok()) return status;
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

absl::StatusOr<v1::ListResultsResponse> HostClient::ListResults(
    const v1::ListResultsRequest& request) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::ListResultsResponse response;
  absl::Status status = Convert(stub_->ListResults(&context, request, &response), false);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::ListJobsResponse> HostClient::ListJobs(const v1::ListJobsRequest& request) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::ListJobsResponse response;
  absl::Status status = Convert(stub_->ListJobs(&context, request, &response), false);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::JobInfo> HostClient::GetJob(const std::string& job_id) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::JobInfo response;
  absl::Status status = Convert(stub_->GetJob(&context, request, &response), false);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::JobInfo> HostClient::CancelJob(const std::string& job_id) {
  grpc::ClientContext context;
  SetDeadline(&context);  // the daemon waits at most 10 s for the job to stop
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  v1::JobInfo response;
  absl::Status status = Convert(stub_->CancelJob(&context, request, &response), false);
  if (!status.ok()) return status;
  return response;
}

absl::Status HostClient::Watch(const v1::WatchResultsRequest& request,
                               const std::function<void(const v1::WatchEvent&)>& on_event) {
  grpc::ClientContext context;
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    if (stream_cancelled_) return absl::OkStatus();
    stream_context_ = &context;
  }
  std::unique_ptr<grpc::ClientReader<v1::WatchEvent>> reader = stub_->WatchResults(&context, request);
  v1::WatchEvent event;
  bool got_any_event = false;
  while (reader->Read(&event)) {
    got_any_event = true;
    on_event(event);
  }
  const grpc::Status status = reader->Finish();
  bool cancelled;
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    stream_context_ = nullptr;
    cancelled = stream_cancelled_;
  }
  if (cancelled && status.error_code() == grpc::StatusCode::CANCELLED) return absl::OkStatus();
  return Convert(status, got_any_event);
}

void HostClient::CancelStream() {
  std::lock_guard<std::mutex> lock(stream_mu_);
  stream_cancelled_ = true;
  if (stream_context_ != nullptr) stream_context_->TryCancel();
}

}  // namespace flopd
