// One flopd host as flopctl sees it: dialing, the RPCs, and turning gRPC
// failures into one readable line.
//
// Thread-compatible: use one HostClient per thread, except CancelStream(),
// which any thread may call.
#ifndef FLOPD_CLIENT_HOST_CLIENT_H_
#define FLOPD_CLIENT_HOST_CLIENT_H_

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "flopd/v1/flopd.grpc.pb.h"

namespace flopd {

inline constexpr int kDefaultPort = 50051;

// "gpu01" -> "gpu01:50051"; "[::1]" -> "[::1]:50051"; "h:123" unchanged.
std::string WithDefaultPort(const std::string& host);

// A --host value as flopctl dials it: WithDefaultPort(host), checked with
// the parser flopd's --listen uses (common/address.h). INVALID_ARGUMENT
// "--host: 'H' is not allowed; allowed: HOST, HOST:PORT, [IPV6] or
// [IPV6]:PORT with PORT 1..65535" for a port out of range or not a number
// (h:99999, h:abc, h:0), an unbracketed IPv6 address or a stray bracket.
absl::StatusOr<std::string> DialAddress(const std::string& host);

class HostClient {
 public:
  // `address` as the user typed it (HOST[:PORT], [V6][:PORT], unix:PATH);
  // the default port is added when missing. Dials with
  // CurrentClientCredentials() (client/credentials.h).
  explicit HostClient(const std::string& address);

  const std::string& address() const { return address_; }

  // Runs a job, calling `on_event` for every event as it arrives (from this
  // thread). Returns the stream's final status; connection failures become
  // UNAVAILABLE "unreachable (...)" or "connection lost (...)" with the
  // cause's last clause, not gRPC's whole chain; CancelStream() ends it with
  // CANCELLED "interrupted" (the daemon cancels the job).
  // With `connect_by`, a host not connected by then fails with UNAVAILABLE
  // "no connection within ..."; with `done_by`, the stream ends then with
  // DEADLINE_EXCEEDED (a daemon that still hears the stream end cancels the
  // job; one cut off finishes it and keeps its results). Either may be
  // InfiniteFuture. `deadline_flag` names what set done_by in the message.
  absl::Status Run(const v1::RunRequest& request,
                   const std::function<void(const v1::RunEvent&)>& on_event,
                   absl::Time connect_by = absl::InfiniteFuture(),
                   absl::Time done_by = absl::InfiniteFuture(),
                   const std::string& deadline_flag = "");

  absl::StatusOr<v1::ListOpsResponse> ListOps();
  absl::StatusOr<v1::HostInfo> GetHostInfo();
  // With request.measure_ceilings the daemon measures each device's ceilings
  // first (seconds; longer when a device is busy), so the deadline is longer.
  absl::StatusOr<v1::HostInfo> GetHostInfo(const v1::GetHostInfoRequest& request);
  // GetHostInfo() within a run's deadlines, as Run keeps them: UNAVAILABLE
  // "no connection within ..." when not connected by `connect_by`,
  // DEADLINE_EXCEEDED "no answer by its deadline (FLAG)" past `done_by`
  // (either may be InfiniteFuture; at most 20 s in any case); CancelStream()
  // ends it with CANCELLED "interrupted".
  absl::StatusOr<v1::HostInfo> GetHostInfo(absl::Time connect_by, absl::Time done_by,
                                           const std::string& deadline_flag);
  // "SERVING", "NOT_SERVING", ... from the standard health service, for
  // flopd itself (service "") or a named part of it ("flopd.store").
  absl::StatusOr<std::string> Health(const std::string& service = "");

  // The history API (flopd.proto). Errors as the daemon sent them, with
  // connection failures shortened as for Run.
  absl::StatusOr<v1::ListResultsResponse> ListResults(const v1::ListResultsRequest& request);
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request);
  absl::StatusOr<v1::JobInfo> GetJob(const std::string& job_id);
  absl::StatusOr<v1::JobInfo> CancelJob(const std::string& job_id);
  absl::StatusOr<v1::DrainResponse> Drain(bool resume);
  // Watches until the stream ends or CancelStream() is called (then OK),
  // calling `on_event` for every event from this thread.
  absl::Status Watch(const v1::WatchResultsRequest& request,
                     const std::function<void(const v1::WatchEvent&)>& on_event);
  // Ends the Run or Watch in progress (or the next one, at once).
  // Thread-safe.
  void CancelStream();

 private:
  absl::Status Convert(const grpc::Status& status, bool got_any_event) const;
  // Waits while the connection is being made, until min(connect_by,
  // done_by); OK once it is ready or has failed (the call then says why).
  absl::Status AwaitConnection(absl::Time connect_by, absl::Time done_by,
                               const std::string& deadline_flag);
  // Adds the token to a plaintext call to this machine; dial_error_ if the
  // credentials cannot be used with this host.
  absl::Status Prepare(grpc::ClientContext* context) const;
  // Makes `context` the call CancelStream() cancels; false (nothing held)
  // when CancelStream() came first. Pair with EndCancellableCall(), which
  // lets go of it and says whether CancelStream() came meanwhile.
  bool BeginCancellableCall(grpc::ClientContext* context);
  bool EndCancellableCall();

  std::string address_;
  absl::Status dial_error_;      // e.g. a token that would go in the clear
  std::string plaintext_token_;  // sent by hand: no TLS, but a loopback or unix: host
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Flopd::Stub> stub_;
  std::mutex stream_mu_;
  grpc::ClientContext* stream_context_ = nullptr;  // guarded by stream_mu_
  bool stream_cancelled_ = false;                  // guarded by stream_mu_
};

}  // namespace flopd

#endif  // FLOPD_CLIENT_HOST_CLIENT_H_
