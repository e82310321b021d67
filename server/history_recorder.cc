#include "server/history_recorder.h"

#include <memory>
#include <utility>

#include "proto/wire/wire.h"
#include "server/host_info.h"

namespace flopd {

HistoryRecorder::HistoryRecorder(ResultStore* store, ResultHub* hub, std::string hostname,
                                 std::string flopd_version)
    : store_(store),
      hub_(hub),
      hostname_(std::move(hostname)),
      flopd_version_(std::move(flopd_version)) {}

void HistoryRecorder::OnJobAccepted(const Job& job, const JobEvent&) {
  // Failures are the store's to count and report; the job goes on.
  if (store_ != nullptr) store_->RecordJob(job.record()).IgnoreError();
}

void HistoryRecorder::OnJobEvent(const Job& job, const JobEvent& event) {
  if (event.kind != JobEvent::Kind::kResult) {
    if (store_ != nullptr) store_->RecordJob(job.record()).IgnoreError();
    return;
  }
  const JobOrigin origin{job.id(), hostname_, flopd_version_, &job.device(), job.run_id(),
                         kFlopdBuild};
  auto result = std::make_shared<const v1::Result>(ToProto(event.result, origin));
  HubResult published;
  if (store_ != nullptr) {
    absl::StatusOr<int64_t> id = store_->RecordResult(*result, job.record());
    if (id.ok()) published.id = *id;
  }
  published.index = IndexOf(*result);
  published.result = std::move(result);
  hub_->Publish(published);
}

}  // namespace flopd
