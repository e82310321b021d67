#include "client/host_client.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/credentials.h"
#include "common/address.h"
#include "common/sanitize.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
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
  if (absl::StartsWith(host, "unix:")) return host;
  if (host.front() == '[') {  // [v6] or [v6]:port
    return absl::StrContains(host, "]:") ? host : absl::StrCat(host, ":", kDefaultPort);
  }
  if (host.find(':') == std::string::npos) return absl::StrCat(host, ":", kDefaultPort);
  return host;
}

absl::StatusOr<std::string> DialAddress(const std::string& host) {
  if (absl::StartsWith(host, "unix:") && host.size() > 5) return host;
  std::string address = WithDefaultPort(host);
  absl::StatusOr<HostPort> parsed = ParseHostPort(address);
  if (!parsed.ok() || parsed->port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--host: '", Sanitized(host, kQuotedValueBytes),
                     "' is not allowed; allowed: HOST, HOST:PORT, [IPV6] or [IPV6]:PORT with "
                     "PORT 1..65535, or unix:PATH"));
  }
  return address;
}

HostClient::HostClient(const std::string& address) : address_(WithDefaultPort(address)) {
  const ClientCredentials& credentials = CurrentClientCredentials();
  const bool unix_socket = absl::StartsWith(address_, "unix:");
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials;
  if (credentials.tls && !unix_socket) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = credentials.ca_pem;  // empty: the system's roots
    options.pem_private_key = credentials.key_pem;
    options.pem_cert_chain = credentials.certificate_pem;
    channel_credentials = grpc::SslCredentials(options);
    if (!credentials.token.empty()) {
      // gRPC's own call credentials: "authorization: Bearer TOKEN" on every
      // call, sent only over the TLS channel.
      channel_credentials = grpc::CompositeChannelCredentials(
          channel_credentials, grpc::AccessTokenCredentials(credentials.token));
    }
  } else {
    channel_credentials = grpc::InsecureChannelCredentials();
    if (!credentials.token.empty()) {
      absl::StatusOr<HostPort> parsed = ParseHostPort(address_);
      if (unix_socket || (parsed.ok() && IsLoopbackHost(parsed->host))) {
        plaintext_token_ = credentials.token;  // this machine: the same metadata, by hand
      } else {
        dial_error_ = absl::FailedPreconditionError(absl::StrCat(
            "not sending the bearer token in the clear to ", Sanitized(address_, kQuotedValueBytes),
            ": connect with TLS (--tls-ca FILE or FLOPD_TLS_CA), or reach it on a loopback "
            "address or unix:PATH"));
      }
    }
  }
  // Keepalive pings find a daemon that stopped answering (SIGSTOP, a cut
  // link, a frozen machine) in about 20 s even while its job is silent: the
  // stream then fails and only that host is lost. flopd accepts pings this
  // often (server/main.cc).
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  arguments.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  if (credentials.tls && !unix_socket && !credentials.server_name.empty()) {
    arguments.SetSslTargetNameOverride(credentials.server_name);
  }
  channel_ = grpc::CreateCustomChannel(address_, channel_credentials, arguments);
  stub_ = v1::Flopd::NewStub(channel_);
}

absl::Status HostClient::Prepare(grpc::ClientContext* context) const {
  if (!dial_error_.ok()) return dial_error_;
  if (!plaintext_token_.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", plaintext_token_));
  }
  return absl::OkStatus();
}

absl::Status HostClient::Convert(const grpc::Status& grpc_status, bool got_any_event) const {
  const absl::Status status = FromGrpcStatus(grpc_status);
  if (status.ok()) return status;
  const absl::StatusCode code = status.code();
  const std::string message(status.message());
  // flopd's own UNAVAILABLE ("flopd is shutting down", "flopd is draining:
  // ...") says what the daemon decided; only the transport's is rephrased.
  const bool from_daemon = absl::StartsWith(message, "flopd is ");
  if (code == absl::StatusCode::kUnavailable && !got_any_event && !from_daemon) {
    return absl::UnavailableError(absl::StrCat("unreachable (", LastClause(message), ")"));
  }
  if (code == absl::StatusCode::kUnavailable && !from_daemon) {
    return absl::UnavailableError(absl::StrCat("connection lost (", LastClause(message), ")"));
  }
  if (code == absl::StatusCode::kDeadlineExceeded) {
    return absl::DeadlineExceededError(absl::StrCat("no answer in time (", message, ")"));
  }
  return status;
}

absl::Status HostClient::AwaitConnection(absl::Time connect_by, absl::Time done_by,
                                         const std::string& deadline_flag) {
  if (connect_by == absl::InfiniteFuture()) return absl::OkStatus();
  // Wait for the connection while it is being made (a daemon that accepts
  // TCP but never answers stays here); a refused or failed one goes on to
  // the call, which fails at once with the real reason.
  const absl::Time start = absl::Now();
  const auto wait_until = absl::ToChronoTime(std::min(connect_by, done_by));
  grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY && state != GRPC_CHANNEL_TRANSIENT_FAILURE &&
         state != GRPC_CHANNEL_SHUTDOWN) {
    if (!channel_->WaitForStateChange(state, wait_until)) {
      return absl::UnavailableError(absl::StrCat(
          "no connection within ",
          absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Seconds(1))), " (",
          done_by < connect_by ? deadline_flag : "--connect-timeout", ")"));
    }
    state = channel_->GetState(/*try_to_connect=*/true);
  }
  return absl::OkStatus();
}

absl::Status HostClient::Run(const v1::RunRequest& request,
                             const std::function<void(const v1::RunEvent&)>& on_event,
                             absl::Time connect_by, absl::Time done_by,
                             const std::string& deadline_flag) {
  const absl::Status interrupted = absl::CancelledError("interrupted");
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(&context); !ready.ok()) return ready;
  if (absl::Status connected = AwaitConnection(connect_by, done_by, deadline_flag);
      !connected.ok()) {
    return connected;
  }
  if (done_by != absl::InfiniteFuture()) context.set_deadline(absl::ToChronoTime(done_by));
  if (!BeginCancellableCall(&context)) return interrupted;
  std::unique_ptr<grpc::ClientReader<v1::RunEvent>> reader = stub_->Run(&context, request);
  v1::RunEvent event;
  bool got_any_event = false;
  while (reader->Read(&event)) {
    got_any_event = true;
    on_event(event);
  }
  const grpc::Status status = reader->Finish();
  const bool cancelled = EndCancellableCall();
  if (cancelled && status.error_code() == grpc::StatusCode::CANCELLED) return interrupted;
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && done_by <= absl::Now()) {
    return absl::DeadlineExceededError(
        absl::StrCat("not done by its deadline (", deadline_flag,
                     "); flopctl ended the stream, which cancels the job on a daemon that can "
                     "still hear it"));
  }
  return Convert(status, got_any_event);
}

absl::StatusOr<v1::ListOpsResponse> HostClient::ListOps() {
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(&context); !ready.ok()) return ready;
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
  if (absl::Status ready = Prepare(&context); !ready.ok()) return ready;
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

absl::StatusOr<v1::HostInfo> HostClient::GetHostInfo(absl::Time connect_by, absl::Time done_by,
                                                     const std::string& deadline_flag) {
  const absl::Status interrupted = absl::CancelledError("interrupted");
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(&context); !ready.ok()) return ready;
  {
    std::lock_guard<std::mutex> lock(stream_mu_);
    if (stream_cancelled_) return interrupted;
  }
  if (absl::Status connected = AwaitConnection(connect_by, done_by, deadline_flag);
      !connected.ok()) {
    return connected;
  }
  const absl::Time deadline =
      std::min(done_by, absl::Now() + absl::FromChrono(kUnaryDeadline));
  context.set_deadline(absl::ToChronoTime(deadline));
  if (!BeginCancellableCall(&context)) return interrupted;
  v1::HostInfo response;
  const grpc::Status status = stub_->GetHostInfo(&context, v1::GetHostInfoRequest(), &response);
  const bool cancelled = EndCancellableCall();
  if (cancelled && status.error_code() == grpc::StatusCode::CANCELLED) return interrupted;
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && done_by <= absl::Now()) {
    return absl::DeadlineExceededError(
        absl::StrCat("no answer by its deadline (", deadline_flag, ")"));
  }
  if (absl::Status converted = Convert(status, false); !converted.ok()) return converted;
  return response;
}

absl::StatusOr<std::string> HostClient::Health(const std::string& service) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(&context); !ready.ok()) return ready;
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
  if (absl::Status ready = Prepare(&context); !ready.ok()) return ready;
  SetDeadline(&context);
  v1::ListResultsResponse response;
  absl::Status status = Convert(stub_->ListResults(&context, request, &response), false);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::ListJobsResponse> HostClient::ListJobs(const v1::ListJobsRequest& request) {
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(&context); !ready.ok()) return ready;
  SetDeadline(&context);
  v1::ListJobsResponse response;
  absl::Status status = Convert(stub_->ListJobs(&context, request, &response), false);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::JobInfo> HostClient::GetJob(const std::string& job_id) {
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(&context); !ready.ok()) return ready;
  SetDeadline(&context);
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::JobInfo response;
  absl::Status status = Convert(stub_->GetJob(&context, request, &response), false);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::DrainResponse> HostClient::Drain(bool resume) {
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(&context); !ready.ok()) return ready;
  SetDeadline(&context);
  v1::DrainRequest request;
  request.set_resume(resume);
  v1::DrainResponse response;
  absl::Status status = Convert(stub_->Drain(&context, request, &response), false);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::JobInfo> HostClient::CancelJob(const std::string& job_id) {
  grpc::ClientContext context;
  if (absl::Status ready = Prepare(&context); !ready.ok()) return ready;
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
  if (absl::Status ready = Prepare(&context); !ready.ok()) return ready;
  if (!BeginCancellableCall(&context)) return absl::OkStatus();
  std::unique_ptr<grpc::ClientReader<v1::WatchEvent>> reader = stub_->WatchResults(&context, request);
  v1::WatchEvent event;
  bool got_any_event = false;
  while (reader->Read(&event)) {
    got_any_event = true;
    on_event(event);
  }
  const grpc::Status status = reader->Finish();
  const bool cancelled = EndCancellableCall();
  if (cancelled && status.error_code() == grpc::StatusCode::CANCELLED) return absl::OkStatus();
  return Convert(status, got_any_event);
}

bool HostClient::BeginCancellableCall(grpc::ClientContext* context) {
  std::lock_guard<std::mutex> lock(stream_mu_);
  if (stream_cancelled_) return false;
  stream_context_ = context;
  return true;
}

bool HostClient::EndCancellableCall() {
  std::lock_guard<std::mutex> lock(stream_mu_);
  stream_context_ = nullptr;
  return stream_cancelled_;
}

void HostClient::CancelStream() {
  std::lock_guard<std::mutex> lock(stream_mu_);
  stream_cancelled_ = true;
  if (stream_context_ != nullptr) stream_context_->TryCancel();
}

}  // namespace flopd
