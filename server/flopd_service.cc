#include "server/flopd_service.h"

#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/op_catalog.h"
#include "common/sanitize.h"
#include "proto/wire/wire.h"
#include "server/log.h"

namespace flopd {

namespace {

// How often a waiting Run handler looks at its client's connection.
constexpr std::chrono::milliseconds kPollInterval(50);

void Log(const std::string& line) { LogLine(line); }

// A client's string as it goes into a log line: escaped and bounded.
std::string Field(const std::string& text) { return Sanitized(text, kLogFieldBytes); }

// A unary call's answer from the history API: the message, or the status.
template <typename Message>
grpc::Status Answer(absl::StatusOr<Message> answer, Message* response) {
  if (!answer.ok()) return ToGrpcStatus(answer.status());
  *response = *std::move(answer);
  return grpc::Status::OK;
}

grpc::Status NoHistory() {
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      "this flopd keeps no history: its store is off");
}

}  // namespace

FlopdService::FlopdService(Scheduler* scheduler, std::string hostname, HistoryApi* history)
    : scheduler_(scheduler),
      history_(history),
      host_{std::move(hostname), absl::ToUnixMillis(absl::Now())} {}

grpc::Status FlopdService::Run(grpc::ServerContext* context, const v1::RunRequest* request,
                               grpc::ServerWriter<v1::RunEvent>* writer) {
  const JobSubmission submission = FromProto(*request);
  absl::StatusOr<SubmittedJob> submitted = scheduler_->Submit(submission, context->peer());
  if (!submitted.ok()) {
    Log(absl::StrCat("rejected a job from ", Field(context->peer()), ": ",
                     submitted.status().ToString()));
    return ToGrpcStatus(submitted.status());
  }
  Job& job = *submitted->job;
  const DeviceDescription& device = scheduler_->device(job.device_slot()).Describe();
  Log(absl::StrCat(job.id(), " from ", Field(context->peer()),
                   submission.client.empty()
                       ? ""
                       : absl::StrCat(" (", Field(submission.client), ")"),
                   submission.run_id.empty() ? "" : absl::StrCat(" run ", Field(submission.run_id)),
                   ": ", job.plan().points.size(), " points on ", device.id, ", queue position ",
                   submitted->queue_position));

  // Through the scheduler, so that a queued job leaves its queue at once
  // (it no longer counts in queued_jobs or in later jobs' queue positions);
  // a running one stops within one sample.
  auto cancel = [&](absl::Status reason) {
    if (!scheduler_->Cancel(job.id(), reason).ok()) job.Cancel(reason);
  };
  const JobOrigin origin{job.id(), host_.hostname, kFlopdVersion, &device, job.run_id()};
  if (!writer->Write(ToProto(AcceptedEvent(*submitted), origin))) {
    cancel(absl::CancelledError("client went away"));
    return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }

  while (true) {
    if (context->IsCancelled()) {
      cancel(absl::CancelledError("client cancelled"));
      Log(absl::StrCat(job.id(), ": cancelled by the client"));
      return grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled");
    }
    JobEvent event;
    if (!job.events().PopFor(&event, kPollInterval)) continue;
    const bool delivered = writer->Write(ToProto(event, origin));
    switch (event.kind) {
      case JobEvent::Kind::kFinished:
        Log(absl::StrCat(job.id(), ": finished, ", event.points_measured, " points in ",
                         event.wall_seconds, " s"));
        return grpc::Status::OK;
      case JobEvent::Kind::kError:
        Log(absl::StrCat(job.id(), ": ended with ", event.error.ToString()));
        return ToGrpcStatus(event.error);
      default:
        break;
    }
    if (!delivered) {
      cancel(absl::CancelledError("client went away"));
      Log(absl::StrCat(job.id(), ": the client went away; job cancelled"));
      return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
  }
}

grpc::Status FlopdService::ListOps(grpc::ServerContext*, const v1::ListOpsRequest*,
                                   v1::ListOpsResponse* response) {
  for (const OpSpec& op : OpCatalog()) *response->add_ops() = ToProto(op);
  return grpc::Status::OK;
}

grpc::Status FlopdService::GetHostInfo(grpc::ServerContext*, const v1::GetHostInfoRequest* request,
                                       v1::HostInfo* response) {
  *response = DescribeHost(*scheduler_, host_, history_, *request);
  return grpc::Status::OK;
}

grpc::Status FlopdService::ListJobs(grpc::ServerContext*, const v1::ListJobsRequest* request,
                                    v1::ListJobsResponse* response) {
  if (history_ == nullptr) return NoHistory();
  return Answer(history_->ListJobs(*request), response);
}

grpc::Status FlopdService::GetJob(grpc::ServerContext*, const v1::GetJobRequest* request,
                                  v1::JobInfo* response) {
  if (history_ == nullptr) return NoHistory();
  return Answer(history_->GetJob(*request), response);
}

grpc::Status FlopdService::ListResults(grpc::ServerContext*,
                                       const v1::ListResultsRequest* request,
                                       v1::ListResultsResponse* response) {
  if (history_ == nullptr) return NoHistory();
  return Answer(history_->ListResults(*request), response);
}

grpc::Status FlopdService::WatchResults(grpc::ServerContext* context,
                                        const v1::WatchResultsRequest* request,
                                        grpc::ServerWriter<v1::WatchEvent>* writer) {
  if (history_ == nullptr) return NoHistory();
  Log(absl::StrCat("watch from ", Field(context->peer())));
  const absl::Status status = history_->WatchResults(
      *request, [&](const v1::WatchEvent& event) { return writer->Write(event); },
      [&] { return context->IsCancelled(); });
  Log(absl::StrCat("watch from ", Field(context->peer()), " ended: ", status.ToString()));
  return ToGrpcStatus(status);
}

grpc::Status FlopdService::CancelJob(grpc::ServerContext* context,
                                     const v1::CancelJobRequest* request,
                                     v1::JobInfo* response) {
  if (history_ == nullptr) {
    // Without a history API there is still the scheduler to ask.
    absl::StatusOr<std::shared_ptr<Job>> job = scheduler_->Cancel(
        request->job_id(),
        absl::CancelledError(absl::StrCat("cancelled by CancelJob from ", context->peer())));
    if (!job.ok()) return ToGrpcStatus(job.status());
    (*job)->WaitEnded(HistoryApi::kCancelWait);
    *response = ToProto((*job)->record(), host_.hostname);
    return grpc::Status::OK;
  }
  return Answer(history_->CancelJob(*request, context->peer()), response);
}

}  // namespace flopd
