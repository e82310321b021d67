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
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/host_client.h"
#include "client/result_format.h"
#include "proto/wire/wire.h"

namespace flopd {
namespace {

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

  // A host's line becomes one line per device it runs on, in its place.
  void ReplaceTarget(const std::string& label, const std::vector<std::string>& labels) {
    std::lock_guard<std::mutex> lock(mu_);
    auto at = std::find(order_.begin(), order_.end(), label);
    const std::string text = progress_[label];
    progress_.erase(label);
    if (at != order_.end()) at = order_.erase(at);
    order_.insert(at, labels.begin(), labels.end());
    for (const std::string& l : labels) progress_[l] = text;
    if (live_) Redraw();
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

// When a host's work must be connected and done, from when it started.
struct Deadlines {
  absl::Time connect_by = absl::InfiniteFuture();
  absl::Time done_by = absl::InfiniteFuture();
  std::string flag;  // what set done_by: "--host-timeout" or "--deadline"
};

Deadlines DeadlinesOf(const RunPlan& plan, absl::Time start, absl::Time run_deadline) {
  Deadlines d;
  if (plan.connect_timeout_s > 0) d.connect_by = start + absl::Seconds(plan.connect_timeout_s);
  const absl::Time host_done_by = plan.host_timeout_s > 0
                                      ? start + absl::Seconds(plan.host_timeout_s)
                                      : absl::InfiniteFuture();
  d.done_by = std::min(host_done_by, run_deadline);
  d.flag = host_done_by <= run_deadline ? "--host-timeout" : "--deadline";
  return d;
}

// Runs the job on one (host, device), reporting its events to `state`.
void RunTarget(const RunPlan& plan, const std::string& host, const std::string& device,
               const std::string& label, bool live, RunState* state, RunInterrupt* interrupt,
               const Deadlines& deadlines) {
  JobSubmission submission = plan.submission;
  submission.device = device;
  HostClient client(host);
  if (interrupt != nullptr) interrupt->Add(&client);
  int total = 0;
  int done = 0;
  std::string job_id;    // from the accepted event
  std::string hostname;  // as the daemon reports it, from its first result
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
      case v1::RunEvent::kStatus: {
        // Why no result comes yet (e.g. the device's ceilings are being
        // measured): on stderr, on a terminal and in a log alike.
        const std::string line = JobStatusLine(label, device, event.status());
        if (line.empty()) break;
        // The line without the label the progress line starts with.
        std::string text = line.substr(label.size());
        text.erase(0, text.find_first_not_of(": "));
        state->Progress(label, text);
        if (!plan.quiet) state->Message(line);
        break;
      }
      case v1::RunEvent::kResult: {
        v1::Result result = event.result();
        if (hostname.empty()) hostname = result.hostname();
        result.set_host_address(host);
        if (auto it = plan.host_labels.find(host); it != plan.host_labels.end()) {
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
        break;  // errors arrive as the final status too; newer events are skipped
    }
  };
  absl::Status status = client.Run(ToProto(submission), on_event, deadlines.connect_by,
                                   deadlines.done_by, deadlines.flag);
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
                      ": flopctl history --host ", host, " --job ", job_id,
                      " shows what the daemon kept");
    }
    if (!after.empty()) after += ")";
    state->AddFailure(absl::StrCat(name, ": ", absl::StatusCodeToString(status.code()), ": ",
                                   status.message(), after));
  }
}

// A host as progress and failures name it: its hosts-file label and address.
std::string HostLabelOf(const RunPlan& plan, const std::string& host) {
  auto label = plan.host_labels.find(host);
  return label == plan.host_labels.end() ? host : absl::StrCat(label->second, " (", host, ")");
}

// Runs the job on one host: on plan.device, or on the devices it lists
// (--device all) or ChooseDefaultDevices picks (none given), each at once.
void RunHost(const RunPlan& plan, const std::string& host, bool live, RunState* state,
             RunInterrupt* interrupt, absl::Time run_deadline) {
  const Deadlines deadlines = DeadlinesOf(plan, absl::Now(), run_deadline);
  const std::string label = HostLabelOf(plan, host);
  if (!plan.device.empty() && plan.device != "all") {
    RunTarget(plan, host, plan.device, label, live, state, interrupt, deadlines);
    return;
  }
  HostClient client(host);
  if (interrupt != nullptr) interrupt->Add(&client);
  absl::StatusOr<v1::HostInfo> info =
      client.GetHostInfo(deadlines.connect_by, deadlines.done_by, deadlines.flag);
  if (interrupt != nullptr) interrupt->Remove(&client);
  if (!info.ok()) {
    state->Progress(label, absl::StrCat("FAILED: ", info.status().message()));
    state->AddFailure(absl::StrCat(label, ": ", absl::StatusCodeToString(info.status().code()),
                                   ": ", info.status().message()));
    return;
  }
  std::vector<std::string> devices;
  if (plan.device == "all") {
    for (const v1::DeviceInfo& device : info->devices()) devices.push_back(device.id());
    if (devices.empty()) {
      state->Progress(label, "FAILED: it offers no device");
      state->AddFailure(absl::StrCat(label, ": NOT_FOUND: it offers no device (--device all)"));
      return;
    }
  } else {
    DeviceChoice choice = ChooseDefaultDevices(*info);
    devices = std::move(choice.devices);
    state->Message(absl::StrCat(label, ": ", choice.note));
  }
  const bool with_device = plan.device == "all" || devices.size() > 1;
  std::vector<std::string> labels;
  for (const std::string& device : devices) {
    labels.push_back(with_device ? absl::StrCat(label, "/", device) : label);
  }
  state->ReplaceTarget(label, labels);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < devices.size(); ++i) {
    threads.emplace_back([&, i] {
      RunTarget(plan, host, devices[i], labels[i], live, state, interrupt, deadlines);
    });
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace

DeviceChoice ChooseDefaultDevices(const v1::HostInfo& info) {
  std::vector<std::string> healthy, unhealthy;
  for (const v1::DeviceInfo& d : info.devices()) {
    if (d.backend() == "cuda") (d.healthy() ? healthy : unhealthy).push_back(d.id());
  }
  DeviceChoice choice;
  if (!healthy.empty() || !unhealthy.empty()) {
    choice.devices = healthy.empty() ? unhealthy : healthy;
    choice.note = absl::StrCat(
        "no --device given: measuring ", absl::StrJoin(choice.devices, ", "), " (its GPU",
        choice.devices.size() > 1 ? "s" : "",
        healthy.empty() ? ", none of them healthy" : "",
        !healthy.empty() && !unhealthy.empty()
            ? absl::StrCat("; left out as unhealthy: ", absl::StrJoin(unhealthy, ", "))
            : "",
        "; --device cpu:0 measures its CPU)");
    return choice;
  }
  std::string device = "cpu:0";
  bool has_cpu0 = false;
  for (const v1::DeviceInfo& d : info.devices()) has_cpu0 = has_cpu0 || d.id() == "cpu:0";
  if (!has_cpu0 && info.devices_size() > 0) device = info.devices(0).id();
  choice.devices = {device};
  choice.note = absl::StrCat("no --device given: measuring ", device,
                             " (it has no GPU; --device all measures every device it has)");
  return choice;
}

std::string JobStatusLine(const std::string& label, const std::string& device,
                          const v1::JobStatus& status) {
  std::string text;
  if (status.phase() == "measuring_ceilings") {
    text = absl::StrCat(
        "measuring the device's ceilings (",
        status.expected_seconds() > 0
            ? absl::StrFormat("about %.0f s; ", std::max(1.0, status.expected_seconds()))
            : "",
        "once per daemon start)");
  } else {
    text = status.message();  // a phase this client does not know: the daemon's words
  }
  if (text.empty()) return "";
  const std::string shown_device = status.device().empty() ? device : status.device();
  const bool label_names_device =
      absl::EndsWith(label, absl::StrCat("/", shown_device)) || shown_device.empty();
  return absl::StrCat(label, label_names_device ? "" : absl::StrCat(" ", shown_device), ": ",
                      text);
}

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
  for (const std::string& host : plan.hosts) {
    if (std::find(outcome.host_order.begin(), outcome.host_order.end(), host) ==
        outcome.host_order.end()) {
      outcome.host_order.push_back(host);
    }
  }
  for (const std::string& host : outcome.host_order) state.AddTarget(HostLabelOf(plan, host));

  // At most plan.parallel hosts at once; the others wait for a slot (and
  // still fail by the run's deadline).
  const absl::Time run_deadline = plan.deadline_s > 0 ? absl::Now() + absl::Seconds(plan.deadline_s)
                                                      : absl::InfiniteFuture();
  std::mutex slots_mu;
  std::condition_variable slot_freed;
  int slots = plan.parallel;
  std::vector<std::thread> threads;
  for (const std::string& host : outcome.host_order) {
    threads.emplace_back([&, host] {
      {
        std::unique_lock<std::mutex> lock(slots_mu);
        slot_freed.wait(lock, [&] { return slots > 0; });
        --slots;
      }
      RunHost(plan, host, live, &state, interrupt, run_deadline);
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
  return outcome;
}

}  // namespace flopd
