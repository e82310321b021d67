// flopctl history, jobs, watch and cancel (history_command.h).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/commands.h"
#include "client/history_command.h"
#include "client/host_client.h"
#include "client/host_list.h"
#include "client/output_file.h"
#include "client/param_flags.h"
#include "client/result_format.h"
#include "client/result_sink.h"
#include "common/command_line.h"
#include "common/job_record.h"
#include "common/op_catalog.h"
#include "google/protobuf/util/json_util.h"
#include "proto/wire/wire.h"

namespace flopd {
namespace {

constexpr char kTimeHelp[] =
    "an age (2h, 30m, 7d), a UTC date (2024-05-01), RFC 3339 (2024-05-01T12:00:00Z) or Unix ms";

// Every impl name of the catalog, each once: "gemv, gemm, custom, ...".
std::string ImplNames() {
  std::vector<std::string> names;
  for (const OpSpec& op : OpCatalog()) {
    for (const ImplSpec& impl : op.impls) {
      if (std::find(names.begin(), names.end(), impl.name) == names.end()) {
        names.push_back(impl.name);
      }
    }
  }
  return absl::StrJoin(names, ", ");
}

FlagSpec HostFlag() {
  return {"host", "H[,H...]", "flopd hosts, asked concurrently; port 50051 is added when missing; also a hostlist gpu[01-16], @FILE, dns:NAME[:PORT] or slurm",
          "127.0.0.1"};
}

// The result filter flags of history and watch (watch has no --until).
std::vector<FlagSpec> FilterFlags(bool with_until) {
  std::vector<FlagSpec> flags = {
      {"job", "ID[,ID...]", "results of these jobs", ""},
      {"run", "RUN[,RUN...]", "results of these runs (flopctl run prints its run id)", ""},
      {"device", "DEV[,DEV...]", "cpu:0, cuda:0, ...", "every device"},
      {"op", "OP[,OP...]", AllowedOps(), "every op"},
      {"impl", "I[,I...]", ImplNames(), "every impl"},
      {"dtype", "D[,D...]", "f32, f64", "both"},
      {"min-n", "N", "only N >= this", ""},
      {"max-n", "N", "only N <= this", ""},
      {"since", "TIME",
       with_until ? absl::StrCat("measured at or after TIME: ", kTimeHelp)
                  : absl::StrCat("first replay stored results measured since "
                                 "TIME: ",
                                 kTimeHelp),
       with_until ? "" : "live results only"},
  };
  if (with_until) flags.push_back({"until", "TIME", "measured before TIME", ""});
  // One filter per param of the catalog (--axis, --k, --B, ...).
  for (FlagSpec& param : CatalogParamFlags()) {
    param.default_text = "every value";
    flags.push_back(param);
  }
  return flags;
}

absl::StatusOr<std::vector<std::string>> Hosts(const ParsedFlags& flags) {
  return ExpandHostAddresses(flags.Get("host", "127.0.0.1"));
}

absl::Status ParseCount(const ParsedFlags& flags, const std::string& name, int64_t* out) {
  if (!flags.Has(name)) return absl::OkStatus();
  if (!absl::SimpleAtoi(flags.Get(name), out) || *out < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, ": '", flags.Get(name), "' is not allowed; expected a whole number >= 0"));
  }
  return absl::OkStatus();
}

absl::Status ParseTime(const ParsedFlags& flags, const std::string& name, int64_t now_ms,
                       int64_t* out) {
  if (!flags.Has(name)) return absl::OkStatus();
  absl::StatusOr<int64_t> t = ParseTimeFlag(name, flags.Get(name), now_ms);
  if (!t.ok()) return t.status();
  *out = *t;
  return absl::OkStatus();
}

// The filter of the flags, checked as the daemon checks it.
absl::StatusOr<ResultFilter> ParseResultFilter(const ParsedFlags& flags, int64_t now_ms) {
  ResultFilter filter;
  filter.job_ids = SplitList(flags.Get("job"));
  filter.run_ids = SplitList(flags.Get("run"));
  if (flags.Get("device") != "all") filter.devices = SplitList(flags.Get("device"));
  filter.ops = SplitList(flags.Get("op"));
  filter.impls = SplitList(flags.Get("impl"));
  // Any catalog param (--axis 1, --k 4,8): results whose label has it.
  for (const FlagSpec& param : CatalogParamFlags()) {
    for (const std::string& value : SplitList(flags.Get(param.name))) {
      filter.params.push_back(absl::StrCat(param.name, "=", value));
    }
  }
  filter.dtypes = SplitList(flags.Get("dtype"));
  for (absl::Status st :
       {ParseCount(flags, "min-n", &filter.min_n), ParseCount(flags, "max-n", &filter.max_n),
        ParseTime(flags, "since", now_ms, &filter.since_unix_ms),
        ParseTime(flags, "until", now_ms, &filter.until_unix_ms)}) {
    if (!st.ok()) return st;
  }
  if (absl::Status st = NormalizeResultFilter(&filter); !st.ok()) return st;
  return filter;
}

// Common prologue: parse, --help, no positional arguments.
absl::StatusOr<ParsedFlags> ParseCommandFlags(const std::vector<std::string>& args,
                                              const std::vector<FlagSpec>& specs) {
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, specs);
  if (!flags.ok()) return absl::InvalidArgumentError(flags.status().message());
  if (!flags->Has("help") && !flags->positional.empty()) {
    return absl::InvalidArgumentError("unexpected argument '" + flags->positional[0] +
                                      "'; see --help");
  }
  return flags;
}

// --out and --append, as history and watch take them.
void AddOutFlags(std::vector<FlagSpec>* f) {
  f->push_back({"out", "FILE",
                "also write every result to FILE: .csv, .json, else JSON Lines; an existing "
                "FILE is replaced; - is stdout (--format's csv, json or jsonl, else JSON "
                "Lines; the rest goes to stderr)",
                ""});
  f->push_back({"append", "", "with --out FILE: add to FILE's results instead", ""});
}

const std::vector<FlagSpec>& HistoryFlags() {
  static const auto* flags = [] {
    auto* f = new std::vector<FlagSpec>{HostFlag()};
    for (FlagSpec& spec : FilterFlags(true)) f->push_back(spec);
    f->push_back({"limit", "K", "the newest K results per host; 0 = all", "1000"});
    f->push_back({"format", "FMT",
                  "on stdout: table (the latest result of each point), csv, json, jsonl (every "
                  "result)",
                  "table"});
    AddOutFlags(f);
    f->push_back({"help", "", "show this help", ""});
    return f;
  }();
  return *flags;
}

const std::vector<FlagSpec>& WatchFlags() {
  static const auto* flags = [] {
    auto* f = new std::vector<FlagSpec>{HostFlag()};
    for (FlagSpec& spec : FilterFlags(false)) f->push_back(spec);
    f->push_back({"format", "FMT", "on stdout as results arrive: line, jsonl, csv", "line"});
    AddOutFlags(f);
    f->push_back({"help", "", "show this help", ""});
    return f;
  }();
  return *flags;
}

const std::vector<FlagSpec>& JobsFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      HostFlag(),
      {"run", "RUN[,RUN...]", "jobs of these runs", ""},
      {"device", "DEV[,DEV...]", "cpu:0, cuda:0, ...", "every device"},
      {"state", "S[,S...]", absl::StrCat("job states: ", AllowedJobStates()), "every state"},
      {"since", "TIME", absl::StrCat("created at or after TIME: ", kTimeHelp), ""},
      {"until", "TIME", "created before TIME", ""},
      {"limit", "K", "the newest K jobs per host; 0 = all", "20"},
      {"format", "FMT", "table, or jsonl (one flopd.v1.JobInfo per line)", "table"},
      {"help", "", "show this help", ""},
  };
  return *flags;
}

int64_t NowMillis() { return absl::ToUnixMillis(absl::Now()); }

std::string FormatUnixMillis(int64_t ms) {
  if (ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

// Left-aligned columns, two spaces apart.
std::string Columns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      std::string cell = row[i];
      if (i + 1 < row.size()) cell.resize(widths[i], ' ');
      absl::StrAppend(&line, i ? "  " : "", cell);
    }
    absl::StrAppend(&out, absl::StripTrailingAsciiWhitespace(line), "\n");
  }
  return out;
}

// Runs `fetch(host, index)` for every host on its own thread.
void ForEachHost(const std::vector<std::string>& hosts,
                 const std::function<void(const std::string&, size_t)>& fetch) {
  std::vector<std::thread> threads;
  for (size_t i = 0; i < hosts.size(); ++i) {
    threads.emplace_back([&, i] { fetch(hosts[i], i); });
  }
  for (std::thread& t : threads) t.join();
}

struct HostResults {
  std::vector<v1::Result> results;  // oldest first, host_address set
  bool more = false;                // the limit cut some off
  absl::Status status;
};

HostResults FetchResults(const HistoryPlan& plan, const std::string& host) {
  HostResults out;
  HostClient client(host);
  v1::ListResultsRequest request;
  *request.mutable_filter() = ToProto(plan.filter);
  request.set_newest_first(plan.limit > 0);
  while (true) {
    const int64_t left =
        plan.limit > 0 ? plan.limit - static_cast<int64_t>(out.results.size()) : kMaxPageSize;
    request.set_page_size(static_cast<int>(std::min<int64_t>(left, kMaxPageSize)));
    absl::StatusOr<v1::ListResultsResponse> page = client.ListResults(request);
    if (!page.ok()) {
      out.status = page.status();
      break;
    }
    for (v1::Result& r : *page->mutable_results()) {
      r.set_host_address(host);
      out.results.push_back(std::move(r));
    }
    if (page->next_page_token().empty()) break;
    if (plan.limit > 0 && static_cast<int64_t>(out.results.size()) >= plan.limit) {
      out.more = true;
      break;
    }
    request.set_page_token(page->next_page_token());
  }
  if (request.newest_first()) std::reverse(out.results.begin(), out.results.end());
  return out;
}

std::string Failure(const std::string& host, const absl::Status& status) {
  return absl::StrCat(host, ": ", absl::StatusCodeToString(status.code()), ": ", status.message());
}

// SIGINT/SIGTERM end a watch: the handler only writes to a pipe; a thread
// reading it cancels the streams.
int g_watch_pipe[2] = {-1, -1};

extern "C" void OnWatchSignal(int) {
  const int saved_errno = errno;
  const char byte = 's';
  (void)!write(g_watch_pipe[1], &byte, 1);
  errno = saved_errno;
}

}  // namespace

absl::StatusOr<int64_t> ParseTimeFlag(const std::string& flag, const std::string& text,
                                      int64_t now_ms) {
  const absl::Status bad = absl::InvalidArgumentError(
      absl::StrCat("--", flag, ": '", text, "' is not a time; expected ", kTimeHelp));
  if (text.empty()) return bad;
  int64_t value = 0;
  if (std::all_of(text.begin(), text.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    if (!absl::SimpleAtoi(text, &value)) return bad;
    return value;
  }
  const char unit = text.back();
  if (absl::SimpleAtoi(text.substr(0, text.size() - 1), &value) && value >= 0) {
    int64_t unit_ms = 0;
    switch (unit) {
      case 's':
        unit_ms = 1000;
        break;
      case 'm':
        unit_ms = 60 * 1000;
        break;
      case 'h':
        unit_ms = 3600 * 1000;
        break;
      case 'd':
        unit_ms = 86400 * 1000;
        break;
      case 'w':
        unit_ms = 7 * 86400 * 1000;
        break;
      default:
        return bad;
    }
    if (value > now_ms / unit_ms) return bad;
    return now_ms - value * unit_ms;
  }
  absl::Time t;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &error) ||
      absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), &t, &error)) {
    if (absl::ToUnixMillis(t) < 0) return bad;
    return absl::ToUnixMillis(t);
  }
  return bad;
}

absl::StatusOr<HistoryPlan> ParseHistoryCommand(const std::vector<std::string>& args,
                                                int64_t now_ms) {
  absl::StatusOr<ParsedFlags> flags = ParseCommandFlags(args, HistoryFlags());
  if (!flags.ok()) return flags.status();
  HistoryPlan plan;
  if (flags->Has("help")) {
    plan.help = true;
    return plan;
  }
  absl::StatusOr<std::vector<std::string>> hosts = Hosts(*flags);
  if (!hosts.ok()) return hosts.status();
  plan.hosts = *std::move(hosts);
  absl::StatusOr<ResultFilter> filter = ParseResultFilter(*flags, now_ms);
  if (!filter.ok()) return filter.status();
  plan.filter = *std::move(filter);
  if (absl::Status st = ParseCount(*flags, "limit", &plan.limit); !st.ok()) return st;
  absl::StatusOr<ResultFormat> format = ParseResultFormat(flags->Get("format", "table"));
  if (!format.ok()) return format.status();
  plan.format = *format;
  plan.out_path = flags->Get("out");
  plan.out_append = flags->Has("append");
  if (plan.out_append && plan.out_path.empty()) {
    return absl::InvalidArgumentError("--append: adds to the file of --out FILE; give --out");
  }
  return plan;
}

absl::StatusOr<WatchPlan> ParseWatchCommand(const std::vector<std::string>& args, int64_t now_ms) {
  absl::StatusOr<ParsedFlags> flags = ParseCommandFlags(args, WatchFlags());
  if (!flags.ok()) return flags.status();
  WatchPlan plan;
  if (flags->Has("help")) {
    plan.help = true;
    return plan;
  }
  absl::StatusOr<std::vector<std::string>> hosts = Hosts(*flags);
  if (!hosts.ok()) return hosts.status();
  plan.hosts = *std::move(hosts);
  absl::StatusOr<ResultFilter> filter = ParseResultFilter(*flags, now_ms);
  if (!filter.ok()) return filter.status();
  plan.filter = *std::move(filter);
  const std::string format = flags->Get("format", "line");
  if (format == "line") {
    plan.format = WatchFormat::kLine;
  } else if (format == "jsonl") {
    plan.format = WatchFormat::kJsonl;
  } else if (format == "csv") {
    plan.format = WatchFormat::kCsv;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("format: unknown format '", format, "'; allowed: line, jsonl, csv"));
  }
  plan.out_path = flags->Get("out");
  plan.out_append = flags->Has("append");
  if (plan.out_append && plan.out_path.empty()) {
    return absl::InvalidArgumentError("--append: adds to the file of --out FILE; give --out");
  }
  return plan;
}

absl::StatusOr<JobsPlan> ParseJobsCommand(const std::vector<std::string>& args, int64_t now_ms) {
  absl::StatusOr<ParsedFlags> flags = ParseCommandFlags(args, JobsFlags());
  if (!flags.ok()) return flags.status();
  JobsPlan plan;
  if (flags->Has("help")) {
    plan.help = true;
    return plan;
  }
  absl::StatusOr<std::vector<std::string>> hosts = Hosts(*flags);
  if (!hosts.ok()) return hosts.status();
  plan.hosts = *std::move(hosts);
  plan.filter.run_ids = SplitList(flags->Get("run"));
  if (flags->Get("device") != "all") plan.filter.devices = SplitList(flags->Get("device"));
  plan.filter.states = SplitList(flags->Get("state"));
  for (absl::Status st : {ParseTime(*flags, "since", now_ms, &plan.filter.since_unix_ms),
                          ParseTime(*flags, "until", now_ms, &plan.filter.until_unix_ms),
                          ParseCount(*flags, "limit", &plan.limit)}) {
    if (!st.ok()) return st;
  }
  if (absl::Status st = NormalizeJobFilter(&plan.filter); !st.ok()) return st;
  const std::string format = flags->Get("format", "table");
  if (format != "table" && format != "jsonl") {
    return absl::InvalidArgumentError(
        absl::StrCat("format: unknown format '", format, "'; allowed: table, jsonl"));
  }
  plan.jsonl = format == "jsonl";
  return plan;
}

// Says on stderr which hosts had more than `limit` `noun` and which failed;
// the exit status: 1 when any host failed, else 0. Fetched has `more` and
// `status`, one per host in `hosts`' order.
template <typename Fetched>
int ReportFetches(const std::vector<std::string>& hosts, const std::vector<Fetched>& fetched,
                  int64_t limit, const char* noun) {
  int failed = 0;
  for (size_t i = 0; i < fetched.size(); ++i) {
    if (fetched[i].more) {
      std::cerr << "flopctl: " << hosts[i] << ": showing the newest " << limit << " " << noun
                << "; there are more (--limit 0 shows all)\n";
    }
    if (!fetched[i].status.ok()) {
      std::cerr << "flopctl: " << Failure(hosts[i], fetched[i].status) << "\n";
      ++failed;
    }
  }
  return failed ? 1 : 0;
}

int HistoryCommand(const std::vector<std::string>& args) {
  absl::StatusOr<HistoryPlan> plan = ParseHistoryCommand(args, NowMillis());
  if (!plan.ok()) return UsageError(std::string(plan.status().message()));
  if (plan->help) {
    std::cout
        << "usage: flopctl history [--host H[,H...]] [filters] [--format FMT] [--out FILE]\n\n"
           "Shows the results each host has stored (every result flopd measured, whoever "
           "asked for it),\nexactly as `flopctl run` received them, oldest first.\n\n"
        << FlagsHelp(HistoryFlags())
        << "\nexit status: 0 ok; 1 a host failed; 2 bad command line\n";
    return 0;
  }
  // The --out file is written once everything is fetched (an interrupted
  // fetch leaves nothing behind); a path it could not be written to is
  // refused before anything is asked.
  if (!plan->out_path.empty() && plan->out_path != "-") {
    if (absl::Status st = CheckReplaceable(plan->out_path); !st.ok()) {
      return UsageError(absl::StrCat("--out: ", st.message()));
    }
  }
  std::vector<HostResults> fetched(plan->hosts.size());
  ForEachHost(plan->hosts,
              [&](const std::string& host, size_t i) { fetched[i] = FetchResults(*plan, host); });

  std::unique_ptr<ResultFile> out_file;
  std::string out_file_error;
  if (!plan->out_path.empty()) {
    ResultFileOptions options;
    options.append = plan->out_append;
    options.stdout_format = plan->format;
    absl::StatusOr<std::unique_ptr<ResultFile>> opened = OpenResultFile(plan->out_path, options);
    if (opened.ok()) {
      out_file = *std::move(opened);
    } else {
      out_file_error = absl::StrCat("--out: ", opened.status().message());
    }
  }
  // --out -: stdout carries the results file; a table goes to stderr, another
  // format is the file's own.
  std::ostream discarded(nullptr);
  std::ostream* shown = &std::cout;
  if (plan->out_path == "-") {
    shown = plan->format == ResultFormat::kTable ? &std::cerr : &discarded;
  }
  std::unique_ptr<ResultSink> out = NewResultSink(plan->format, shown, plan->hosts);
  if (out_file) out_file->Begin();
  out->Begin();
  bool any_failed = false;
  for (const HostResults& host : fetched) {
    for (const v1::Result& r : host.results) {
      if (out_file) out_file->Add(r);
      out->Add(r);
    }
    any_failed = any_failed || !host.status.ok();
  }
  out->End();
  std::cout << std::flush;
  bool out_failed = false;
  if (out_file) {
    std::cerr << "flopctl: " << out_file->Close(any_failed) << "\n";
    out_failed = !out_file->status().ok();
  } else if (!out_file_error.empty()) {
    std::cerr << "flopctl: " << out_file_error << "\n";
    out_failed = true;
  }
  const int status = ReportFetches(plan->hosts, fetched, plan->limit, "results");
  return out_failed ? 1 : status;
}

int JobsCommand(const std::vector<std::string>& args) {
  absl::StatusOr<JobsPlan> plan = ParseJobsCommand(args, NowMillis());
  if (!plan.ok()) return UsageError(std::string(plan.status().message()));
  if (plan->help) {
    std::cout << "usage: flopctl jobs [--host H[,H...]] [--state S] [--run RUN] [--limit K]\n\n"
                 "Lists the jobs each host has stored, newest first: state, device, when, how "
                 "many points,\nwho asked and how each ended.\n\n"
              << FlagsHelp(JobsFlags())
              << "\nexit status: 0 ok; 1 a host failed; 2 bad command line\n";
    return 0;
  }
  struct HostJobs {
    std::vector<v1::JobInfo> jobs;
    bool more = false;
    absl::Status status;
  };
  std::vector<HostJobs> fetched(plan->hosts.size());
  ForEachHost(plan->hosts, [&](const std::string& host, size_t i) {
    HostClient client(host);
    v1::ListJobsRequest request;
    *request.mutable_filter() = ToProto(plan->filter);
    request.set_newest_first(true);
    while (true) {
      const int64_t left = plan->limit > 0
                               ? plan->limit - static_cast<int64_t>(fetched[i].jobs.size())
                               : kMaxPageSize;
      request.set_page_size(static_cast<int>(std::min<int64_t>(left, kMaxPageSize)));
      absl::StatusOr<v1::ListJobsResponse> page = client.ListJobs(request);
      if (!page.ok()) {
        fetched[i].status = page.status();
        return;
      }
      for (v1::JobInfo& job : *page->mutable_jobs()) fetched[i].jobs.push_back(std::move(job));
      if (page->next_page_token().empty()) return;
      if (plan->limit > 0 && static_cast<int64_t>(fetched[i].jobs.size()) >= plan->limit) {
        fetched[i].more = true;
        return;
      }
      request.set_page_token(page->next_page_token());
    }
  });
  std::vector<std::vector<std::string>> rows = {
      {"host", "job", "state", "device", "created (UTC)", "points", "by", "client", "run",
       "status"}};
  for (size_t i = 0; i < fetched.size(); ++i) {
    for (const v1::JobInfo& job : fetched[i].jobs) {
      if (plan->jsonl) {
        google::protobuf::util::JsonPrintOptions options;
        options.preserve_proto_field_names = true;
        std::string json;
        (void)google::protobuf::util::MessageToJsonString(job, &json, options);
        std::cout << json << "\n";
        continue;
      }
      std::string status = job.status_code();
      if (!job.status_message().empty()) absl::StrAppend(&status, ": ", job.status_message());
      rows.push_back({plan->hosts[i], job.job_id(), job.state(), job.device(),
                      FormatUnixMillis(job.created_unix_ms()),
                      absl::StrCat(job.points_measured(), "/", job.points_total(),
                                   job.points_failed_verification()
                                       ? absl::StrCat(" (", job.points_failed_verification(),
                                                      " failed verification)")
                                       : ""),
                      job.owner().empty() ? "-" : job.owner(),
                      job.client().empty() ? "-" : job.client(),
                      job.run_id().empty() ? "-" : job.run_id(), status.empty() ? "-" : status});
    }
  }
  if (!plan->jsonl) std::cout << (rows.size() > 1 ? Columns(rows) : "no jobs\n");
  std::cout << std::flush;
  return ReportFetches(plan->hosts, fetched, plan->limit, "jobs");
}

int WatchCommand(const std::vector<std::string>& args) {
  absl::StatusOr<WatchPlan> plan = ParseWatchCommand(args, NowMillis());
  if (!plan.ok()) return UsageError(std::string(plan.status().message()));
  if (plan->help) {
    std::cout
        << "usage: flopctl watch [--host H[,H...]] [filters] [--since TIME] [--format FMT]\n\n"
           "Prints every result the hosts measure, from every job whoever started it, as "
           "it is measured,\nuntil Ctrl-C. --since first replays what was stored since "
           "then.\n\n"
        << FlagsHelp(WatchFlags())
        << "\nexit status: 0 ended with Ctrl-C; 1 a host failed or ended the watch; 2 bad "
           "command line\n";
    return 0;
  }
  std::unique_ptr<ResultFile> out_file;
  const ResultFormat stdout_format =
      plan->format == WatchFormat::kCsv ? ResultFormat::kCsv : ResultFormat::kJsonl;
  // --out -: stdout carries the results file (csv with --format csv, else
  // JSON Lines); the lines of --format line go to stderr.
  const bool out_is_stdout = plan->out_path == "-";
  if (!plan->out_path.empty()) {
    ResultFileOptions options;
    options.append = plan->out_append;
    options.stdout_format = stdout_format;
    absl::StatusOr<std::unique_ptr<ResultFile>> opened = OpenResultFile(plan->out_path, options);
    if (!opened.ok()) return UsageError(absl::StrCat("--out: ", opened.status().message()));
    out_file = *std::move(opened);
    out_file->Begin();
  }
  std::unique_ptr<ResultSink> stdout_sink;
  if (plan->format != WatchFormat::kLine && !out_is_stdout) {
    stdout_sink = NewResultSink(
        plan->format == WatchFormat::kCsv ? ResultFormat::kCsv : ResultFormat::kJsonl, &std::cout);
    stdout_sink->Begin();
  }

  if (pipe(g_watch_pipe) != 0) {
    std::cerr << "flopctl: cannot create a pipe\n";
    return 1;
  }
  struct sigaction action = {};
  action.sa_handler = OnWatchSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  std::vector<std::unique_ptr<HostClient>> clients;
  for (const std::string& host : plan->hosts) clients.push_back(std::make_unique<HostClient>(host));
  bool interrupted = false;
  std::thread waiter([&] {
    char byte = 0;
    while (read(g_watch_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    interrupted = byte == 's';
    for (auto& client : clients) client->CancelStream();
  });

  std::mutex out_mu;
  std::vector<absl::Status> statuses(plan->hosts.size());
  v1::WatchResultsRequest request;
  *request.mutable_filter() = ToProto(plan->filter);
  ForEachHost(plan->hosts, [&](const std::string& host, size_t i) {
    statuses[i] = clients[i]->Watch(request, [&](const v1::WatchEvent& event) {
      std::lock_guard<std::mutex> lock(out_mu);
      if (event.has_caught_up()) {
        std::cerr << "flopctl: " << host << ": watching"
                  << (plan->filter.since_unix_ms > 0
                          ? absl::StrCat(" (replayed ", event.caught_up().replayed(),
                                         " stored results)")
                          : "")
                  << "\n";
        return;
      }
      if (!event.has_result()) return;
      v1::Result result = event.result();
      result.set_host_address(host);
      if (stdout_sink) {
        stdout_sink->Add(result);
      } else if (plan->format == WatchFormat::kLine) {
        (out_is_stdout ? std::cerr : std::cout) << ResultLine(result) << std::endl;
      }
      if (out_file) out_file->Add(result);
    });
  });
  const char done = 'q';
  (void)!write(g_watch_pipe[1], &done, 1);  // releases the waiter when no signal came
  waiter.join();
  if (stdout_sink) stdout_sink->End();
  int failed = 0;
  for (size_t i = 0; i < statuses.size(); ++i) failed += !statuses[i].ok();
  if (out_file) {
    std::cerr << "flopctl: " << out_file->Close(failed > 0) << "\n";
    if (!out_file->status().ok()) ++failed;
  }
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i].ok() && interrupted) continue;
    std::cerr << "flopctl: "
              << (statuses[i].ok() ? absl::StrCat(plan->hosts[i], ": the watch ended")
                                   : Failure(plan->hosts[i], statuses[i]))
              << "\n";
    if (statuses[i].ok()) ++failed;
  }
  return failed ? 1 : 0;
}

int CancelCommand(const std::vector<std::string>& args) {
  static const auto* specs = new std::vector<FlagSpec>{
      {"host", "H[,H...]", "the hosts to look for the jobs on; port 50051 is added when missing; also a hostlist gpu[01-16], @FILE, dns:NAME[:PORT] or slurm",
       "127.0.0.1"},
      {"help", "", "show this help", ""},
  };
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, *specs);
  if (!flags.ok()) return UsageError(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << "usage: flopctl cancel JOB_ID [JOB_ID...] [--host H[,H...]]\n\n"
                 "Cancels queued or running jobs (yours; anyone's with the admin role): a queued job ends at "
                 "once, a running one\nwithin one sample; its own client sees CANCELLED.\n\n"
              << FlagsHelp(*specs)
              << "\nexit status: 0 every job cancelled; 1 a job could not be cancelled (not "
                 "found, already ended);\n2 bad command line\n";
    return 0;
  }
  if (flags->positional.empty()) return UsageError("cancel: no job id given; see --help");
  for (const std::string& id : flags->positional) {
    if (!IsJobId(id)) {
      return UsageError(absl::StrCat("job_id: '", id,
                                     "' is not a job id; expected one like j-01hv3k7q2m-x7k2pq"));
    }
  }
  absl::StatusOr<std::vector<std::string>> hosts = Hosts(*flags);
  if (!hosts.ok()) return UsageError(std::string(hosts.status().message()));
  int failed = 0;
  for (const std::string& id : flags->positional) {
    // The job lives on one host: NOT_FOUND elsewhere is expected, so the
    // error shown is the first other one, if any.
    absl::Status error;
    std::string error_host;
    bool done = false;
    for (const std::string& host : *hosts) {
      HostClient client(host);
      absl::StatusOr<v1::JobInfo> job = client.CancelJob(id);
      if (job.ok()) {
        std::cout << host << ": " << id << ": " << job->state() << " (" << job->points_measured()
                  << "/" << job->points_total() << " points measured"
                  << (job->state() == "running" ? "; it stops after its current sample" : "")
                  << ")\n";
        done = true;
        break;
      }
      if (error.ok() || (absl::IsNotFound(error) && !absl::IsNotFound(job.status()))) {
        error = job.status();
        error_host = host;
      }
    }
    if (!done) {
      if (hosts->size() > 1 && absl::IsNotFound(error)) {
        std::cerr << "flopctl: " << id << ": NOT_FOUND: none of " << absl::StrJoin(*hosts, ", ")
                  << " has a queued or running job of that id\n";
      } else {
        std::cerr << "flopctl: " << Failure(error_host, error) << "\n";
      }
      ++failed;
    }
  }
  return failed ? 1 : 0;
}

}  // namespace flopd
