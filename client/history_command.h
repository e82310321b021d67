// flopctl's history commands, each as run is built: parse the command line
// into a plan (checked with the daemon's own rules, nothing dialled), fan
// out to every host concurrently, render at the end (or, for watch, as
// results arrive).
//
//   history  stored results (ListResults), in run's output formats and sinks
//   jobs     stored jobs (ListJobs), newest first
//   watch    live results of every job on several hosts (WatchResults) until
//            Ctrl-C
//   cancel   a queued or running job (CancelJob)
//
// The commands themselves are in commands.h. Thread-safe: the Parse
// functions are pure.
#ifndef FLOPD_CLIENT_HISTORY_COMMAND_H_
#define FLOPD_CLIENT_HISTORY_COMMAND_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/result_sink.h"
#include "common/history_query.h"

namespace flopd {

// A time on the command line, as Unix milliseconds: an age before `now_ms`
// ("2h", "30m", "7d"; units s, m, h, d, w), a UTC date ("2024-05-01"), an
// RFC 3339 time ("2024-05-01T12:00:00Z", "...+02:00"), or Unix milliseconds.
// INVALID_ARGUMENT "--FLAG: ..." otherwise.
absl::StatusOr<int64_t> ParseTimeFlag(const std::string& flag, const std::string& text,
                                      int64_t now_ms);

struct HistoryPlan {
  bool help = false;
  std::vector<std::string> hosts;  // as dialled: each with its port
  ResultFilter filter;             // normalized
  int64_t limit = 1000;            // per host, the newest; 0 = all
  ResultFormat format = ResultFormat::kTable;
  std::string out_path;     // --out; "-": stdout
  bool out_append = false;  // --append
};
absl::StatusOr<HistoryPlan> ParseHistoryCommand(const std::vector<std::string>& args,
                                                int64_t now_ms);

enum class WatchFormat { kLine, kJsonl, kCsv };

struct WatchPlan {
  bool help = false;
  std::vector<std::string> hosts;
  ResultFilter filter;  // since_unix_ms = replay from then
  WatchFormat format = WatchFormat::kLine;
  std::string out_path;     // --out; "-": stdout
  bool out_append = false;  // --append
};
absl::StatusOr<WatchPlan> ParseWatchCommand(const std::vector<std::string>& args, int64_t now_ms);

struct JobsPlan {
  bool help = false;
  std::vector<std::string> hosts;
  JobFilter filter;    // normalized
  int64_t limit = 20;  // per host, the newest; 0 = all
  bool jsonl = false;  // --format jsonl: one flopd.v1.JobInfo per line
};
absl::StatusOr<JobsPlan> ParseJobsCommand(const std::vector<std::string>& args, int64_t now_ms);

}  // namespace flopd

#endif  // FLOPD_CLIENT_HISTORY_COMMAND_H_
