#include "server/history_api.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/job_record.h"
#include "common/sanitize.h"
#include "proto/wire/wire.h"
#include "server/log.h"

namespace flopd {
namespace {

absl::Status CheckJobId(const std::string& job_id) {
  if (job_id.empty()) return absl::InvalidArgumentError("job_id: empty; give a job id");
  if (!IsJobId(job_id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job_id: '", Sanitized(job_id, kQuotedValueBytes),
        "' is not a job id; expected one like j-01hv3k7q2m-x7k2pq (JobAccepted.job_id)"));
  }
  return absl::OkStatus();
}

}  // namespace

HistoryApi::HistoryApi(Scheduler* scheduler, ResultStore* store, ResultHub* hub,
                       std::string hostname, StoreHealth no_store)
    : scheduler_(scheduler),
      store_(store),
      hub_(hub),
      hostname_(std::move(hostname)),
      no_store_(std::move(no_store)) {}

StoreHealth HistoryApi::StoreState() const {
  if (store_ != nullptr) return store_->Health();
  StoreHealth health = no_store_;
  if (health.state.empty()) health.state = "off";
  return health;
}

absl::Status HistoryApi::NeedStore() const {
  if (store_ != nullptr) return absl::OkStatus();
  const StoreHealth health = StoreState();
  return absl::FailedPreconditionError(
      absl::StrCat("this flopd keeps no history: its store is ", health.state,
                   health.detail.empty() ? "" : absl::StrCat(" (", health.detail, ")")));
}

absl::StatusOr<v1::ListJobsResponse> HistoryApi::ListJobs(
    const v1::ListJobsRequest& request) const {
  JobFilter filter = FromProto(request.filter());
  if (absl::Status st = NormalizeJobFilter(&filter); !st.ok()) return st;
  if (absl::StatusOr<int> size = EffectivePageSize(request.page_size()); !size.ok()) {
    return size.status();
  }
  if (absl::Status st = NeedStore(); !st.ok()) return st;
  absl::StatusOr<JobPage> page = store_->ListJobs(filter, PageOf(request));
  if (!page.ok()) return page.status();
  v1::ListJobsResponse response;
  for (const JobRecord& job : page->jobs) *response.add_jobs() = ToProto(job, hostname_);
  response.set_next_page_token(page->next_page_token);
  return response;
}

absl::StatusOr<v1::JobInfo> HistoryApi::GetJob(const v1::GetJobRequest& request) const {
  if (absl::Status st = CheckJobId(request.job_id()); !st.ok()) return st;
  if (absl::Status st = NeedStore(); !st.ok()) return st;
  absl::StatusOr<JobRecord> job = store_->GetJob(request.job_id());
  if (!job.ok()) return job.status();
  return ToProto(*job, hostname_);
}

absl::StatusOr<v1::ListResultsResponse> HistoryApi::ListResults(
    const v1::ListResultsRequest& request) const {
  ResultFilter filter = FromProto(request.filter());
  if (absl::Status st = NormalizeResultFilter(&filter); !st.ok()) return st;
  if (absl::StatusOr<int> size = EffectivePageSize(request.page_size()); !size.ok()) {
    return size.status();
  }
  if (absl::Status st = NeedStore(); !st.ok()) return st;
  absl::StatusOr<ResultPage> page = store_->ListResults(filter, PageOf(request));
  if (!page.ok()) return page.status();
  v1::ListResultsResponse response;
  for (v1::Result& result : page->results) {
    if (request.omit_samples()) result.clear_sample_seconds();
    *response.add_results() = std::move(result);
  }
  response.set_next_page_token(page->next_page_token);
  return response;
}

absl::StatusOr<v1::JobInfo> HistoryApi::CancelJob(const v1::CancelJobRequest& request,
                                                  const std::string& who,
                                                  const std::string* only_owner) const {
  if (absl::Status st = CheckJobId(request.job_id()); !st.ok()) return st;
  absl::StatusOr<std::shared_ptr<Job>> job = scheduler_->Cancel(
      request.job_id(),
      absl::CancelledError(absl::StrCat("cancelled by CancelJob from ", Sanitized(who, kLogFieldBytes))),
      only_owner);
  if (absl::IsNotFound(job.status())) {  // not queued or running: ended, or unknown
    if (store_ != nullptr) {
      absl::StatusOr<JobRecord> record = store_->GetJob(request.job_id());
      if (record.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "job_id: job ", record->id, " has already ended (", JobStateName(record->state), ")"));
      }
    }
  }
  if (!job.ok()) return job.status();
  LogLine(absl::StrCat((*job)->id(), ": cancel requested by ", Sanitized(who, kLogFieldBytes)));
  (*job)->WaitEnded(kCancelWait);
  return ToProto((*job)->RecordAfterCancel(), hostname_);
}

absl::StatusOr<ResultFilter> HistoryApi::CheckWatch(
    const v1::WatchResultsRequest& request) const {
  ResultFilter filter = FromProto(request.filter());
  if (absl::Status st = NormalizeResultFilter(&filter); !st.ok()) return st;
  if (filter.until_unix_ms != 0) {
    return absl::InvalidArgumentError(
        "filter.until_unix_ms: not allowed in WatchResults (a watch has no end); use "
        "ListResults for a time range");
  }
  if (filter.since_unix_ms > 0) {
    if (absl::Status st = NeedStore(); !st.ok()) return st;
  }
  return filter;
}

absl::Status HistoryApi::WatchResults(const v1::WatchResultsRequest& request,
                                      const std::function<bool(const v1::WatchEvent&)>& send,
                                      const std::function<bool()>& stopped,
                                      std::chrono::milliseconds poll,
                                      std::function<void()> fell_behind) const {
  absl::StatusOr<ResultFilter> checked = CheckWatch(request);
  if (!checked.ok()) return checked.status();
  const ResultFilter& filter = *checked;
  const bool replay = filter.since_unix_ms > 0;
  // Subscribe first, then replay: a result stored during the replay is
  // either in it (and skipped live by its row id) or after it, never lost.
  ResultFilter live = filter;
  live.since_unix_ms = 0;
  std::unique_ptr<ResultHub::Subscription> subscription =
      hub_->Subscribe(live, ResultHub::kDefaultCapacity, std::move(fell_behind));
  const absl::Status gone = absl::CancelledError("the watcher went away");
  int64_t replayed_up_to = 0;
  int replayed = 0;
  if (replay) {
    PageRequest page{kMaxPageSize, "", false};
    while (true) {
      absl::StatusOr<ResultPage> stored = store_->ListResults(filter, page);
      if (!stored.ok()) return stored.status();
      for (size_t i = 0; i < stored->results.size(); ++i) {
        v1::WatchEvent event;
        *event.mutable_result() = std::move(stored->results[i]);
        if (request.omit_samples()) event.mutable_result()->clear_sample_seconds();
        if (stopped() || !send(event)) return gone;
        replayed_up_to = stored->ids[i];
        ++replayed;
      }
      if (stored->next_page_token.empty()) break;
      page.page_token = stored->next_page_token;
    }
  }
  v1::WatchEvent caught_up;
  caught_up.mutable_caught_up()->set_replayed(replayed);
  if (!send(caught_up)) return gone;
  while (true) {
    if (stopped()) return gone;
    HubResult next;
    switch (subscription->Pop(&next, poll)) {
      case ResultHub::Subscription::Next::kTimeout:
        continue;
      case ResultHub::Subscription::Next::kClosed:
        return absl::UnavailableError("flopd is shutting down");
      case ResultHub::Subscription::Next::kOverflow:
        return absl::ResourceExhaustedError(absl::StrCat(
            "the watcher fell behind: more than ", ResultHub::kDefaultCapacity,
            " results waited for it; watch again with filter.since_unix_ms to resume"));
      case ResultHub::Subscription::Next::kResult:
        break;
    }
    if (next.id != 0 && next.id <= replayed_up_to) continue;  // already replayed
    v1::WatchEvent event;
    *event.mutable_result() = *next.result;
    if (request.omit_samples()) event.mutable_result()->clear_sample_seconds();
    if (!send(event)) return gone;
  }
}

}  // namespace flopd
