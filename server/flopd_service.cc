#include "server/flopd_service.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/op_catalog.h"
#include "common/sanitize.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/auth_context.h"
#include "proto/wire/wire.h"
#include "server/log.h"

namespace flopd {

namespace {

// How often a waiting Run handler looks at its client's connection.
constexpr std::chrono::milliseconds kPollInterval(50);

// Threads of the synchronous server beyond one per open stream: unary calls
// (info, history, cancel, health) and gRPC's pollers. Past the quota gRPC
// answers RESOURCE_EXHAUSTED "Server Threadpool Exhausted" itself.
constexpr int kUnaryThreads = 64;

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

// What a gRPC call tells authorization: the "authorization: Bearer T"
// metadata, the transport (gRPC's auth context), the peer,
// and the common name of a client certificate TLS verified.
CallFacts FactsOf(const grpc::ServerContext& context) {
  CallFacts call;
  call.peer = context.peer();
  call.local_peer = IsLocalPeer(call.peer);
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    const absl::string_view value(it->second.data(), it->second.size());
    call.has_token = true;
    call.token = std::string(absl::StartsWithIgnoreCase(value, "bearer ") ? value.substr(7) : "");
  }
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth != nullptr) {
    for (const grpc::string_ref& type :
         auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME)) {
      // "ssl" from SslServerCredentials, "tls" from TlsServerCredentials.
      if (type == GRPC_SSL_TRANSPORT_SECURITY_TYPE || type == "tls") call.tls = true;
    }
    if (call.tls && auth->IsPeerAuthenticated()) {
      for (const grpc::string_ref& name : auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) {
        call.certificate_name.assign(name.data(), name.size());
      }
    }
  }
  return call;
}

grpc::Status NoHistory() {
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      "this flopd keeps no history: its store is off");
}

}  // namespace

FlopdService::FlopdService(Scheduler* scheduler, std::string hostname, HistoryApi* history,
                           const AccessControl* access, v1::Security security,
                           ServiceLimits limits)
    : scheduler_(scheduler),
      history_(history),
      access_(access),
      host_{std::move(hostname), absl::ToUnixMillis(absl::Now()), std::move(security), limits},
      streams_(std::make_unique<StreamRegistry>(
          StreamRegistry::Options{limits.max_streams, limits.behind_grace})) {}

FlopdService::~FlopdService() = default;

void ApplyServiceLimits(const ServiceLimits& limits, grpc::ServerBuilder* builder) {
  builder->SetMaxReceiveMessageSize(static_cast<int>(limits.max_request_bytes));
  // Without a quota every concurrent call gets a thread of its own (the
  // probe's 300 queued jobs took 300); with one, the open streams (bounded
  // by --max-streams with a message of our own) plus kUnaryThreads is the
  // most threads gRPC will run handlers on.
  grpc::ResourceQuota quota("flopd");
  quota.SetMaxThreads(limits.max_streams + kUnaryThreads);
  builder->SetResourceQuota(quota);
}

absl::StatusOr<Caller> FlopdService::Authorize(grpc::ServerContext* context, Role needed,
                                               absl::string_view what) const {
  static const AccessControl* const kOff = new AccessControl();
  const CallFacts call = FactsOf(*context);
  absl::StatusOr<Caller> caller = (access_ != nullptr ? access_ : kOff)->Authorize(call, needed, what);
  if (!caller.ok()) {
    Log(absl::StrCat("refused ", what, " from ", Field(call.peer), ": ",
                     Field(std::string(caller.status().message()))));
  }
  return caller;
}

grpc::Status FlopdService::Run(grpc::ServerContext* context, const v1::RunRequest* request,
                               grpc::ServerWriter<v1::RunEvent>* writer) {
  absl::StatusOr<Caller> caller = Authorize(context, Role::kRun, "Run");
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<std::unique_ptr<StreamRegistry::Slot>> slot = streams_->Open("Run");
  if (!slot.ok()) {
    Log(absl::StrCat("refused Run from ", Field(caller->identity), ": ", slot.status().message()));
    return ToGrpcStatus(slot.status());
  }
  const JobSubmission submission = FromProto(*request);
  absl::StatusOr<SubmittedJob> submitted =
      scheduler_->Submit(submission, context->peer(), caller->identity);
  if (!submitted.ok()) {
    Log(absl::StrCat("rejected a job from ", Field(caller->identity), " at ",
                     Field(context->peer()), ": ", submitted.status().ToString()));
    return ToGrpcStatus(submitted.status());
  }
  Job& job = *submitted->job;
  const DeviceDescription& device = scheduler_->device(job.device_slot()).Describe();
  Log(absl::StrCat(job.id(), " from ", Field(caller->identity), " at ", Field(context->peer()),
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
  // A reader that falls more than --max-stream-buffer-kib behind loses its
  // stream (RESOURCE_EXHAUSTED), not the job: every result is stored as it
  // is measured (the recorder hears each event before the channel does),
  // the device time was queued for, and the job is bounded anyway
  // (--max-points-per-job, --max-job-time); ending it would make a slow link
  // cost the results. Without a store nothing would keep them: then the job
  // is cancelled.
  std::shared_ptr<Job> watched = submitted->job;
  (*slot)->Watch([watched] { return watched->events().overflowed(); },
                 [context] { context->TryCancel(); });
  auto fell_behind = [&] {
    const StoreHealth store = history_ != nullptr ? history_->StoreState() : StoreHealth{};
    const bool kept = history_ != nullptr && store.ok();
    if (!kept) {
      cancel(absl::ResourceExhaustedError(
          "the client fell behind and this flopd stores no results: job cancelled"));
    }
    const absl::Status status = absl::ResourceExhaustedError(absl::StrCat(
        "stream: the client fell behind: more than ",
        scheduler_->limits().max_stream_buffer_bytes / 1024,
        " KiB of results waited for it, this flopd's limit (--max-stream-buffer-kib); ",
        kept ? absl::StrCat("job ", job.id(),
                            " goes on and its results are stored: get them with flopctl "
                            "history --job ",
                            job.id(), " (ListResults with filter.job_ids)")
             : absl::StrCat("job ", job.id(), " was cancelled, as this flopd stores no results (",
                            store.state.empty() ? "off" : store.state, ")")));
    Log(absl::StrCat(job.id(), " of ", Field(caller->identity), ": ", status.message(),
                     (*slot)->ended_by_reaper() ? " (its stream was cancelled: the client read nothing)"
                                                : ""));
    return ToGrpcStatus(status);
  };
  const JobOrigin origin{job.id(), host_.hostname, kFlopdVersion, &device, job.run_id(),
                         kFlopdBuild};
  if (!writer->Write(ToProto(AcceptedEvent(*submitted), origin))) {
    cancel(absl::CancelledError("client went away"));
    return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }

  while (true) {
    if (job.events().overflowed()) return fell_behind();
    if (context->IsCancelled()) {
      cancel(absl::CancelledError("client cancelled"));
      Log(absl::StrCat(job.id(), " of ", Field(caller->identity), ": cancelled by the client"));
      return grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled");
    }
    JobEvent event;
    if (!job.events().PopFor(&event, kPollInterval)) continue;
    const bool delivered = writer->Write(ToProto(event, origin));
    switch (event.kind) {
      case JobEvent::Kind::kFinished:
        Log(absl::StrCat(job.id(), " of ", Field(caller->identity), ": finished, ", event.points_measured, " points in ",
                         event.wall_seconds, " s"));
        return grpc::Status::OK;
      case JobEvent::Kind::kError:
        Log(absl::StrCat(job.id(), " of ", Field(caller->identity), ": ended with ", event.error.ToString()));
        return ToGrpcStatus(event.error);
      default:
        break;
    }
    if (!delivered) {
      if (job.events().overflowed()) return fell_behind();
      cancel(absl::CancelledError("client went away"));
      Log(absl::StrCat(job.id(), " of ", Field(caller->identity), ": the client went away; job cancelled"));
      return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
  }
}

grpc::Status FlopdService::ListOps(grpc::ServerContext* context, const v1::ListOpsRequest*,
                                   v1::ListOpsResponse* response) {
  if (absl::StatusOr<Caller> caller = Authorize(context, Role::kRead, "ListOps"); !caller.ok()) {
    return ToGrpcStatus(caller.status());
  }
  for (const OpSpec& op : OpCatalog()) *response->add_ops() = ToProto(op);
  return grpc::Status::OK;
}

grpc::Status FlopdService::GetHostInfo(grpc::ServerContext* context,
                                       const v1::GetHostInfoRequest* request,
                                       v1::HostInfo* response) {
  // Measuring ceilings that are missing is part of running; measuring them
  // again replaces what every user's roofline rests on.
  const Role needed = request->remeasure_ceilings() ? Role::kAdmin
                      : request->measure_ceilings() ? Role::kRun
                                                    : Role::kRead;
  absl::StatusOr<Caller> caller =
      Authorize(context, needed,
                request->remeasure_ceilings() ? "GetHostInfo(remeasure_ceilings)"
                : request->measure_ceilings() ? "GetHostInfo(measure_ceilings)"
                                              : "GetHostInfo");
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (request->remeasure_ceilings()) {
    Log(absl::StrCat("ceilings re-measurement asked by ", Field(caller->identity)));
  }
  *response = DescribeHost(*scheduler_, host_, history_, *request);
  response->mutable_security()->set_you(caller->identity);
  response->mutable_security()->set_your_role(RoleName(caller->role));
  return grpc::Status::OK;
}

grpc::Status FlopdService::ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                                    v1::ListJobsResponse* response) {
  if (absl::StatusOr<Caller> caller = Authorize(context, Role::kRead, "ListJobs"); !caller.ok()) {
    return ToGrpcStatus(caller.status());
  }
  if (history_ == nullptr) return NoHistory();
  return Answer(history_->ListJobs(*request), response);
}

grpc::Status FlopdService::GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                                  v1::JobInfo* response) {
  if (absl::StatusOr<Caller> caller = Authorize(context, Role::kRead, "GetJob"); !caller.ok()) {
    return ToGrpcStatus(caller.status());
  }
  if (history_ == nullptr) return NoHistory();
  return Answer(history_->GetJob(*request), response);
}

grpc::Status FlopdService::ListResults(grpc::ServerContext* context,
                                       const v1::ListResultsRequest* request,
                                       v1::ListResultsResponse* response) {
  if (absl::StatusOr<Caller> caller = Authorize(context, Role::kRead, "ListResults"); !caller.ok()) {
    return ToGrpcStatus(caller.status());
  }
  if (history_ == nullptr) return NoHistory();
  return Answer(history_->ListResults(*request), response);
}

grpc::Status FlopdService::WatchResults(grpc::ServerContext* context,
                                        const v1::WatchResultsRequest* request,
                                        grpc::ServerWriter<v1::WatchEvent>* writer) {
  absl::StatusOr<Caller> caller = Authorize(context, Role::kRead, "WatchResults");
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (history_ == nullptr) return NoHistory();
  absl::StatusOr<std::unique_ptr<StreamRegistry::Slot>> slot = streams_->Open("WatchResults");
  if (!slot.ok()) {
    Log(absl::StrCat("refused WatchResults from ", Field(caller->identity), ": ",
                     slot.status().message()));
    return ToGrpcStatus(slot.status());
  }
  Log(absl::StrCat("watch from ", Field(caller->identity), " at ", Field(context->peer())));
  // The hub's buffer for this watcher is bounded; when it overflows while
  // the handler is blocked writing to a reader that does not read, the
  // registry's reaper ends the stream.
  auto behind = std::make_shared<std::atomic<bool>>(false);
  (*slot)->Watch([behind] { return behind->load(); }, [context] { context->TryCancel(); });
  absl::Status status = history_->WatchResults(
      *request, [&](const v1::WatchEvent& event) { return writer->Write(event); },
      [&] { return context->IsCancelled(); }, kPollInterval, [behind] { behind->store(true); });
  if ((*slot)->ended_by_reaper()) {
    status = absl::ResourceExhaustedError(absl::StrCat(
        "the watcher fell behind: more than ", host_.limits.max_watch_buffer_results,
        " results waited for it and it read nothing; its stream was cancelled"));
  }
  Log(absl::StrCat("watch from ", Field(context->peer()), " ended: ", status.ToString()));
  return ToGrpcStatus(status);
}

grpc::Status FlopdService::CancelJob(grpc::ServerContext* context,
                                     const v1::CancelJobRequest* request,
                                     v1::JobInfo* response) {
  absl::StatusOr<Caller> caller = Authorize(context, Role::kRun, "CancelJob");
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  // Below admin, only one's own jobs.
  const std::string* only_owner = caller->role == Role::kAdmin ? nullptr : &caller->identity;
  if (history_ == nullptr) {
    // Without a history API there is still the scheduler to ask.
    absl::StatusOr<std::shared_ptr<Job>> job = scheduler_->Cancel(
        request->job_id(),
        absl::CancelledError(absl::StrCat("cancelled by CancelJob from ", Field(caller->identity))),
        only_owner);
    if (!job.ok()) return ToGrpcStatus(job.status());
    (*job)->WaitEnded(HistoryApi::kCancelWait);
    *response = ToProto((*job)->RecordAfterCancel(), host_.hostname);
    return grpc::Status::OK;
  }
  return Answer(history_->CancelJob(*request, caller->identity, only_owner), response);
}

grpc::Status FlopdService::Drain(grpc::ServerContext* context, const v1::DrainRequest* request,
                                 v1::DrainResponse* response) {
  absl::StatusOr<Caller> caller =
      Authorize(context, Role::kAdmin, request->resume() ? "Drain(resume)" : "Drain");
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (scheduler_->draining() == request->resume()) {
    Log(absl::StrCat(request->resume() ? "resumed taking jobs" : "draining: no new job is taken",
                     ", asked by ", Field(caller->identity)));
  }
  scheduler_->SetDraining(!request->resume());
  int jobs_left = 0;
  for (int slot = 0; slot < scheduler_->device_count(); ++slot) {
    jobs_left += scheduler_->pending_jobs(slot);
  }
  response->set_draining(scheduler_->draining());
  response->set_jobs_left(jobs_left);
  return grpc::Status::OK;
}

}  // namespace flopd
