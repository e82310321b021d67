// The middle step of flopctl run (run_command.h): one job sent to every
// (host, device) target concurrently, one thread per target, with live
// progress on stderr and every result streamed into the caller's sinks as it
// arrives.
//
// Thread-safe: FanOut serializes its calls into the sinks; it blocks until
// every target has finished or failed.
#ifndef FLOPD_CLIENT_RUN_FAN_OUT_H_
#define FLOPD_CLIENT_RUN_FAN_OUT_H_

#include <string>
#include <vector>

#include "client/result_sink.h"
#include "client/run_command.h"

namespace flopd {

// Resolves the plan's targets (one per host, or one per device of each host
// with --device all) and runs them all, calling Add() on each of `sinks`
// (not owned; Begin() and End() are the caller's) for every result.
// Progress goes to stderr: redrawn in place when stderr is a terminal, else
// one line per result unless plan.quiet.
RunOutcome FanOut(const RunPlan& plan, const std::vector<ResultSink*>& sinks);

}  // namespace flopd

#endif  // FLOPD_CLIENT_RUN_FAN_OUT_H_
