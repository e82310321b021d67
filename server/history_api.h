// The history API of flopd.v1 (ListJobs, GetJob, ListResults, WatchResults,
// CancelJob, and HostInfo.store) as plain calls from request messages to
// response messages and an absl::Status: the gRPC service forwards to it,
// and any other front end (HTTP/JSON through the protobuf JSON mapping)
// can call the very same functions, so both serve one schema with one set
// of checks. Conversions go through the wire layer; queries through the
// store; live results come from the hub.
//
// Thread-safe: every method may be called concurrently.
#ifndef FLOPD_SERVER_HISTORY_API_H_
#define FLOPD_SERVER_HISTORY_API_H_

#include <chrono>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/store_health.h"
#include "flopd/v1/flopd.pb.h"
#include "server/result_hub.h"
#include "server/scheduler.h"
#include "server/store/result_store.h"

namespace flopd {

class HistoryApi {
 public:
  // None is owned; all must outlive the API. `store` may be null: then
  // `no_store` says why (state "off" or "unavailable", and the detail),
  // and every read that needs the store is FAILED_PRECONDITION with it.
  HistoryApi(Scheduler* scheduler, ResultStore* store, ResultHub* hub, std::string hostname,
             StoreHealth no_store = {});

  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request) const;
  absl::StatusOr<v1::JobInfo> GetJob(const v1::GetJobRequest& request) const;
  absl::StatusOr<v1::ListResultsResponse> ListResults(const v1::ListResultsRequest& request) const;
  // `who` is who asked (logged, and part of the job's final status); with
  // `only_owner` only that owner's jobs may be cancelled (PERMISSION_DENIED).
  absl::StatusOr<v1::JobInfo> CancelJob(const v1::CancelJobRequest& request,
                                        const std::string& who,
                                        const std::string* only_owner = nullptr) const;
  // The checks WatchResults makes before it sends anything: the filter it
  // will apply, or INVALID_ARGUMENT / FAILED_PRECONDITION. For front ends
  // that must answer an error before they start a stream (HTTP).
  absl::StatusOr<ResultFilter> CheckWatch(const v1::WatchResultsRequest& request) const;
  // Streams the watch (see flopd.proto) through `send`, which returns false
  // when the reader is gone; `stopped` is polled (every `poll`) for the
  // reader cancelling. Returns the status the stream ends with: CANCELLED
  // when the reader went away, UNAVAILABLE on shutdown (ResultHub::Shutdown),
  // RESOURCE_EXHAUSTED when the reader fell behind, INVALID_ARGUMENT /
  // FAILED_PRECONDITION before anything is sent. `fell_behind`, if given,
  // is called (once, on a publishing thread, quick; see
  // ResultHub::Subscribe) as soon as the reader's buffer overflows, even
  // while `send` is blocked: a front end can then end a stream whose reader
  // does not read (server/stream_registry.h).
  absl::Status WatchResults(const v1::WatchResultsRequest& request,
                            const std::function<bool(const v1::WatchEvent&)>& send,
                            const std::function<bool()>& stopped,
                            std::chrono::milliseconds poll = std::chrono::milliseconds(50),
                            std::function<void()> fell_behind = nullptr) const;

  StoreHealth StoreState() const;

  // How long CancelJob waits for a running job to stop.
  static constexpr std::chrono::seconds kCancelWait{10};

 private:
  // OK when the store can be read; FAILED_PRECONDITION saying why not.
  absl::Status NeedStore() const;

  Scheduler* const scheduler_;
  ResultStore* const store_;
  ResultHub* const hub_;
  const std::string hostname_;
  const StoreHealth no_store_;
};

}  // namespace flopd

#endif  // FLOPD_SERVER_HISTORY_API_H_
