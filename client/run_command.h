// flopctl run in three steps: ParseRunCommand turns the command line into a
// RunPlan and checks it with the daemon's own rules (nothing is dialled);
// the plan's job then fans out to every (host, device) target concurrently,
// streaming each result into the --out file as it arrives; at the end the
// results are rendered once on stdout (--format), drawn (--plot) and
// summed up in the exit status. RunCommand (commands.h) runs the three.
//
// Thread-safe: ParseRunCommand is a pure function.
#ifndef FLOPD_CLIENT_RUN_COMMAND_H_
#define FLOPD_CLIENT_RUN_COMMAND_H_

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/result_sink.h"
#include "common/job.h"
#include "flopd/v1/flopd.pb.h"

namespace flopd {

struct RunPlan {
  bool help = false;  // --help: print the help and do nothing else
  // What every target is asked to run; `device` is set per target.
  JobSubmission submission;
  std::vector<std::string> hosts;  // as dialled: each with its port
  // A hosts file's labels (--host @FILE), by address; results from those
  // hosts carry theirs as Result.host_label.
  std::map<std::string, std::string> host_labels;
  // --device: one device id, or "all" of every host; empty (no --device):
  // each host's own default, ChooseDefaultDevices (run_fan_out.h).
  std::string device;
  // Columns the table fits (AggregateTable's max_width; 0 = no limit):
  // RunCommand sets it from stdout (OutputWidth), not the command line.
  size_t table_width = 0;
  ResultFormat format = ResultFormat::kTable;  // --format, on stdout at the end
  std::string out_path;                        // --out; empty: none; "-": stdout
  bool out_append = false;                     // --append
  std::optional<std::string> plot_path;        // --plot
  bool quiet = false;                          // --quiet
  // Deadlines (seconds; 0 = none). A host that does not connect within
  // connect_timeout, or whose job is not done within host_timeout or by the
  // run's deadline, fails alone: the other hosts' results still print.
  double connect_timeout_s = 10;  // --connect-timeout
  double host_timeout_s = 0;      // --host-timeout
  double deadline_s = 0;          // --deadline, from the start of the run
  int parallel = 64;              // --parallel: streams open at once
  // submission.run_id: --run-id, else a fresh NewRunId per invocation.
};

// The plan of `flopctl run ARGS` (the arguments after "run"). INVALID_ARGUMENT
// with the line flopctl prints (after "flopctl: ", exit status 2) for an
// unknown flag, a malformed value, or a job the daemon would refuse whatever
// its device.
absl::StatusOr<RunPlan> ParseRunCommand(const std::vector<std::string>& args);

// `flopctl run --help`: the usage, the flags and the exit statuses.
std::string RunHelp();

// What the fan-out (run_fan_out.h) brought back.
struct RunOutcome {
  std::vector<std::string> host_order;  // the targets' hosts, each once, in target order
  std::vector<v1::Result> results;      // in arrival order, host_address set to the host dialled
  // One line per host whose devices could not be listed (--device all or
  // none given: "LABEL: CODE: message"), and one per target whose job
  // failed: "LABEL: CODE: message (after K results)".
  std::vector<std::string> failures;
  // The signal (SIGINT, SIGTERM) that interrupted the run, or 0. The targets
  // it cut short are among `failures` ("CANCELLED: interrupted").
  int interrupted_by = 0;
};

// The end of a run: every result on `out` in plan.format, the fleet view
// (fleet_view.h) when the results come from two or more (host, device)
// members (on `out` beside a table, else on `err`), the plot when
// plan.plot_path is set, the --out file ended (`out_file`, when given:
// ResultFile::Close, which replaces its path unless the run failed before
// any result arrived) and its line, then on `err` one line per failure and
// the number of results that FAILED verification. Returns flopctl's exit
// status: 0 when every target finished (and the plot was written) and every
// result passed verification, 128 + the signal when interrupted, else 1.
int RenderRun(const RunPlan& plan, RunOutcome outcome, std::ostream& out, std::ostream& err,
              ResultFile* out_file = nullptr);

// What `flopctl run` prints of its results at the end, and `flopctl show`
// of saved ones: `results` on `out` in `format`; a table (AggregateTable
// within `table_width`, 0 = no limit) is followed by the results' warnings
// (WarningsText); then, when the results come from two or more (host,
// device) members, the fleet view (on `out` beside a table, else on `err`).
void RenderResults(const std::vector<v1::Result>& results,
                   const std::vector<std::string>& host_order, ResultFormat format,
                   size_t table_width, std::ostream& out, std::ostream& err);

// flopctl show FILE... [--format F]: RenderResults of saved results files
// (ReadResultsFile) on `out`, within `table_width`. Exit status 0, or 2
// (after "flopctl: ..." on `err`) for a bad command line or a file that
// cannot be read as results.
int ShowCommand(const std::vector<std::string>& args, size_t table_width, std::ostream& out,
                std::ostream& err);

}  // namespace flopd

#endif  // FLOPD_CLIENT_RUN_COMMAND_H_
