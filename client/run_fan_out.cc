#include "client/run_fan_out.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/host_client.h"
#include "client/result_format.h"
#include "proto/wire/wire.h"

namespace flopd {
namespace {

struct Target {  // one (host, device) stream
  std::string host;
  std::string device;
};

// The live view of a run on stderr, and where its results go. Every member
// is guarded by mu_ except the constants.
class RunState {
 public:
  RunState(bool live, bool quiet, const std::vector<ResultSink*>& sinks)
      : live_(live), quiet_(quiet), sinks_(sinks) {}

  void AddTarget(const std::string& label) {
    std::lock_guard<std::mutex> lock(mu_);
    progress_[label] = "connecting";
    order_.push_back(label);
  }

  void Progress(const std::string& label, const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    progress_[label] = text;
    if (live_) Redraw();
  }

  void AddResult(const std::string& label, v1::Result result, int done, int total) {
    std::lock_guard<std::mutex> lock(mu_);
    for (ResultSink* sink : sinks_) sink->Add(result);
    if (live_) {
      progress_[label] = absl::StrCat(done, "/", total, " points, last: ", result.op(), "/",
                                      result.impl(), " N=", result.n(), " ",
                                      FormatSeconds(result.time().median()));
      Redraw();
    } else if (!quiet_) {
      std::cerr << ResultLine(result) << "\n";
    }
    results_.push_back(std::move(result));
  }

  void Message(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    if (live_) {
      ClearLive();
      std::cerr << line << "\n";
      drawn_ = 0;
      Redraw();
    } else {
      std::cerr << line << "\n";
    }
  }

  void AddFailure(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.push_back(line);
  }

  // Hands the results and failures over. REQUIRES: every target is done.
  void Finish(RunOutcome* outcome) {
    std::lock_guard<std::mutex> lock(mu_);
    if (live_) Redraw();
    outcome->results = std::move(results_);
    outcome->failures.insert(outcome->failures.end(), failures_.begin(), failures_.end());
  }

 private:
  void ClearLive() {
    for (int i = 0; i < drawn_; ++i) std::cerr << "\x1b[1A\x1b[2K";
  }
  void Redraw() {
    ClearLive();
    for (const std::string& label : order_) std::cerr << label << ": " << progress_[label] << "\n";
    drawn_ = static_cast<int>(order_.size());
    std::cerr << std::flush;
  }

  const bool live_;
  const bool quiet_;
  const std::vector<ResultSink*> sinks_;
  std::mutex mu_;
  std::map<std::string, std::string> progress_;
  std::vector<std::string> order_;
  int drawn_ = 0;
  std::vector<v1::Result> results_;
  std::vector<std::string> failures_;
};

// Runs the job on one target, reporting its events to `state`.
// `run_deadline`: the whole run's (InfiniteFuture = none).
void RunTarget(const RunPlan& plan, const Target& target, const std::string& label, bool live,
               RunState* state, RunInterrupt* interrupt, absl::Time run_deadline) {
  JobSubmission submission = plan.submission;
  submission.device = target.device;
  HostClient client(target.host);
  if (interrupt != nullptr) interrupt->Add(&client);
  int total = 0;
  int done = 0;
  std::string job_id;    // from the accepted event
  std::string hostname;  // as the daemon reports it, from its first result
  const absl::Time start = absl::Now();
  const absl::Time connect_by = plan.connect_timeout_s > 0
                                    ? start + absl::Seconds(plan.connect_timeout_s)
                                    : absl::InfiniteFuture();
  const absl::Time host_done_by = plan.host_timeout_s > 0
                                      ? start + absl::Seconds(plan.host_timeout_s)
                                      : absl::InfiniteFuture();
  const absl::Time done_by = std::min(host_done_by, run_deadline);
  const std::string deadline_flag = host_done_by <= run_deadline ? "--host-timeout" : "--deadline";
  auto on_event = [&](const v1::RunEvent& event) {
    switch (event.event_case()) {
      case v1::RunEvent::kAccepted:
        total = event.accepted().points_total();
        job_id = event.accepted().job_id();
        state->Progress(label, event.accepted().queue_position() > 0
                                   ? absl::StrCat("queued behind ",
                                                  event.accepted().queue_position(), " job(s)")
                                   : absl::StrCat("accepted, ", total, " points"));
        if (event.accepted().queue_position() > 0 && !live) {
          state->Message(absl::StrCat(label, ": ", event.accepted().job_id(),
                                      " queued at position ", event.accepted().queue_position()));
        }
        break;
      case v1::RunEvent::kStarted:
        state->Progress(label, absl::StrCat("running, 0/", total, " points"));
        break;
      case v1::RunEvent::kResult: {
        v1::Result result = event.result();
        if (hostname.empty()) hostname = result.hostname();
        result.set_host_address(target.host);
        if (auto it = plan.host_labels.find(target.host); it != plan.host_labels.end()) {
          result.set_host_label(it->second);
        }
        state->AddResult(label, std::move(result), ++done, total);
        break;
      }
      case v1::RunEvent::kFinished:
        state->Progress(label, absl::StrCat("done, ", done, "/", total, " points in ",
                                            absl::StrFormat("%.1f", event.finished().wall_seconds()),
                                            " s"));
        break;
      default:
        break;  // errors arrive as the final status too
    }
  };
  absl::Status status =
      client.Run(ToProto(submission), on_event, connect_by, done_by, deadline_flag);
  if (interrupt != nullptr) interrupt->Remove(&client);
  if (!status.ok()) {
    state->Progress(label, absl::StrCat("FAILED: ", status.message()));
    // Named as the results name it, where some arrived: with dns: or a
    // hostlist the address alone does not say which machine failed.
    const std::string name = hostname.empty() || label.find(hostname) != std::string::npos
                                 ? label
                                 : absl::StrCat(hostname, " (", label, ")");
    std::string after;
    if (done > 0) after = absl::StrCat(" (after ", done, done == 1 ? " result" : " results");
    if (!job_id.empty() && status.code() != absl::StatusCode::kCancelled) {
      absl::StrAppend(&after, after.empty() ? " (" : "; ", "its job ", job_id,
                      ": flopctl history --host ", target.host, " --job ", job_id,
                      " shows what the daemon kept");
    }
    if (!after.empty()) after += ")";
    state->AddFailure(absl::StrCat(name, ": ", absl::StatusCodeToString(status.code()), ": ",
                                   status.message(), after));
  }
}

}  // namespace

void RunInterrupt::Interrupt(int signal_number) {
  std::lock_guard<std::mutex> lock(mu_);
  if (signal_ == 0) signal_ = signal_number;
  for (HostClient* client : clients_) client->CancelStream();
}

int RunInterrupt::signal() const {
  std::lock_guard<std::mutex> lock(mu_);
  return signal_;
}

void RunInterrupt::Add(HostClient* client) {
  std::lock_guard<std::mutex> lock(mu_);
  clients_.insert(client);
  if (signal_ != 0) client->CancelStream();
}

void RunInterrupt::Remove(HostClient* client) {
  std::lock_guard<std::mutex> lock(mu_);
  clients_.erase(client);
}

RunOutcome FanOut(const RunPlan& plan, const std::vector<ResultSink*>& sinks,
                  RunInterrupt* interrupt) {
  const bool live = !plan.quiet && isatty(STDERR_FILENO);
  RunState state(live, plan.quiet, sinks);
  RunOutcome outcome;
  std::vector<Target> targets;
  for (const std::string& host : plan.hosts) {
    if (plan.device != "all") {
      targets.push_back({host, plan.device});
      continue;
    }
    HostClient client(host);
    absl::StatusOr<v1::HostInfo> info = client.GetHostInfo();
    if (!info.ok()) {
      outcome.failures.push_back(absl::StrCat(host, ": ", info.status().message()));
      continue;
    }
    for (const v1::DeviceInfo& device : info->devices()) targets.push_back({host, device.id()});
  }
  // Progress and failures name a target by its hosts-file label and address.
  auto label_of = [&](const Target& t) {
    auto label = plan.host_labels.find(t.host);
    const std::string host = label == plan.host_labels.end()
                                 ? t.host
                                 : absl::StrCat(label->second, " (", t.host, ")");
    return plan.device == "all" ? absl::StrCat(host, "/", t.device) : host;
  };
  for (const Target& t : targets) state.AddTarget(label_of(t));

  // At most plan.parallel streams at once; the others wait for a slot (and
  // still fail by the run's deadline).
  const absl::Time run_deadline = plan.deadline_s > 0 ? absl::Now() + absl::Seconds(plan.deadline_s)
                                                      : absl::InfiniteFuture();
  std::mutex slots_mu;
  std::condition_variable slot_freed;
  int slots = plan.parallel;
  std::vector<std::thread> threads;
  for (const Target& target : targets) {
    threads.emplace_back([&, target] {
      {
        std::unique_lock<std::mutex> lock(slots_mu);
        slot_freed.wait(lock, [&] { return slots > 0; });
        --slots;
      }
      RunTarget(plan, target, label_of(target), live, &state, interrupt, run_deadline);
      {
        std::lock_guard<std::mutex> lock(slots_mu);
        ++slots;
      }
      slot_freed.notify_one();
    });
  }
  for (std::thread& t : threads) t.join();
  state.Finish(&outcome);
  if (interrupt != nullptr) outcome.interrupted_by = interrupt->signal();
  for (const Target& t : targets) {
    if (std::find(outcome.host_order.begin(), outcome.host_order.end(), t.host) ==
        outcome.host_order.end()) {
      outcome.host_order.push_back(t.host);
    }
  }
  return outcome;
}

}  // namespace flopd
