// The middle step of flopctl run (run_command.h): one job sent to every
// (host, device) target concurrently, one thread per target, with live
// progress on stderr and every result streamed into the caller's sinks as it
// arrives.
//
// Thread-safe: FanOut serializes its calls into the sinks; it blocks until
// every target has finished or failed.
#ifndef FLOPD_CLIENT_RUN_FAN_OUT_H_
#define FLOPD_CLIENT_RUN_FAN_OUT_H_

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "client/host_client.h"
#include "client/result_sink.h"
#include "client/run_command.h"

namespace flopd {

// Ends a fan-out early (flopctl run on SIGINT or SIGTERM): every stream in
// progress is cancelled, and every one that would start after it ends at
// once, each as CANCELLED "interrupted"; what arrived before is kept.
// Thread-safe.
class RunInterrupt {
 public:
  void Interrupt(int signal_number);
  // The signal Interrupt() was given; 0 before.
  int signal() const;

  // For FanOut: the client of a stream about to start, until Remove(). Its
  // stream is cancelled at once when the fan-out is already interrupted.
  void Add(HostClient* client);
  void Remove(HostClient* client);

 private:
  mutable std::mutex mu_;
  int signal_ = 0;                // guarded by mu_
  std::set<HostClient*> clients_;  // guarded by mu_
};

// The devices `flopctl run` measures on a host when no --device is given:
// every healthy CUDA device of the host (every CUDA device when none is
// healthy, so that the daemon says what is wrong), else cpu:0, else the
// host's first device. `note` says so for people, without the host's name:
// "no --device given: measuring cuda:0, cuda:1 (its GPUs; --device cpu:0
// measures its CPU)".
struct DeviceChoice {
  std::vector<std::string> devices;  // never empty
  std::string note;
};
DeviceChoice ChooseDefaultDevices(const v1::HostInfo& info);

// The stderr line for a RunEvent.status of the target `label` (which may
// already end in "/DEVICE"): "LABEL DEVICE: measuring the device's ceilings
// (about 30 s; once per daemon start)" for phase "measuring_ceilings";
// for a phase this client does not know, the daemon's own message; "" when
// there is nothing to say.
std::string JobStatusLine(const std::string& label, const std::string& device,
                          const v1::JobStatus& status);

// Resolves the plan's targets and runs them all, calling Add() on each of
// `sinks` (not owned; Begin() and End() are the caller's) for every result.
// A host runs on plan.device; with "all" on every device it lists, and
// with none given on ChooseDefaultDevices (said on stderr, one line per
// host); its devices are listed when it starts, within its deadlines. At
// most plan.parallel hosts run at once, each with all its devices.
// Progress goes to stderr: redrawn in place when stderr is a terminal, else
// one line per result unless plan.quiet. `interrupt` (not owned; may be
// null) can end it early; the outcome then says so (interrupted_by).
RunOutcome FanOut(const RunPlan& plan, const std::vector<ResultSink*>& sinks,
                  RunInterrupt* interrupt = nullptr);

}  // namespace flopd

#endif  // FLOPD_CLIENT_RUN_FAN_OUT_H_
