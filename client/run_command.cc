// flopctl run: parse the command line into a plan, fan the job out to every
// host (and device) concurrently while streaming results, render at the end.
#include "client/run_command.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/commands.h"
#include "client/fleet_view.h"
#include "client/host_client.h"
#include "client/host_list.h"
#include "client/output_file.h"
#include "client/param_flags.h"
#include "client/plot_svg.h"
#include "client/result_files.h"
#include "client/result_format.h"
#include "client/run_fan_out.h"
#include "client/text_wrap.h"
#include "common/command_line.h"
#include "common/job_plan.h"
#include "common/job_record.h"
#include "common/measure_settings.h"
#include "common/op_catalog.h"
#include "common/sanitize.h"
#include "common/size_spec.h"
#include "proto/wire/wire.h"

namespace flopd {
namespace {

// Every impl name of the catalog on `backend`, in catalog order.
std::string ImplNamesOn(const std::string& backend) {
  std::vector<std::string> names;
  for (const OpSpec& op : OpCatalog()) {
    for (const std::string& name : op.ImplNames(backend)) {
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  return absl::StrJoin(names, ", ");
}

const std::vector<FlagSpec>& RunFlags() {
  static const auto* flags = [] {
    auto* list = new std::vector<FlagSpec>{
      {"host", "H[,H...]", "flopd hosts, run concurrently; port 50051 is added when missing; also a hostlist gpu[01-16], @FILE, dns:NAME[:PORT] or slurm",
       "127.0.0.1"},
      {"op", "OP[,OP...]", absl::StrCat("ops to run: ", AllowedOps(), " (flopctl ops lists them)"), ""},
      {"impl", "I[,I...]", absl::StrCat("implementations (cpu: ", ImplNamesOn("cpu"), "; cuda: ",
                                        ImplNamesOn("cuda"), ")"),
       "all of each op's impls on the device"},
    };
    // One flag per param of the catalog (--axis, --k, --B, ...).
    for (FlagSpec& param : CatalogParamFlags()) list->push_back(param);
    list->insert(list->end(), {
      {"dtype", "D[,D...]", "f32, f64", "f32"},
      {"sizes", "SPEC", kSizeSpecHelp, "each op's default on the device (flopctl ops)"},
      {"device", "DEV", "cpu:0, cuda:0, ..., or all (every device of every host)",
       "each host's GPUs (all of its cuda devices), else its cpu:0"},
      {"noise-target", "X", "stop sampling a point at this relative noise, (0, 0.5]", "0.005"},
      {"min-samples", "K", "samples before the noise rule may stop, 3..100000", "10"},
      {"max-time", "SECONDS", "time budget per point, (0, 3600]", "device default"},
      {"min-time", "SECONDS", "minimum sampling time per point", "device default"},
      {"iterations", "K", "executions per timed sample, 1..1000000", "automatic"},
      {"samples", "K", "take exactly K samples (no noise rule); --iterations 1000 --samples 1 "
                       "times 1000 back-to-back executions once", ""},
      {"timing", "MODE", "hot (back-to-back), cold (caches flushed), graph (GPU: CUDA graph)",
       "hot"},
      {"threads", "T", "CPU threads for this job", "the daemon's setting"},
      {"format", "FMT", "final output on stdout: table, csv, json, jsonl", "table"},
      {"out", "FILE",
       "also write every result to FILE as it arrives: .csv, .json, else JSON Lines; missing "
       "directories are created; an existing FILE is replaced at the end (or on Ctrl-C, with "
       "what arrived), never left half-written, and flopctl says what it held. - is stdout "
       "(--format's csv, json or jsonl, else JSON Lines; the table then goes to stderr)",
       ""},
      {"append", "", "with --out FILE: add the results to FILE's instead of replacing it", ""},
      {"plot", "FILE.svg", "at the end, draw the results as flopctl plot does", ""},
      {"quiet", "", "no live progress on stderr", ""},
      {"connect-timeout", "DURATION",
       "a host not connected within it fails alone (e.g. 10s, 1m; 0 = wait as long as the run)",
       "10s"},
      {"host-timeout", "DURATION", "a host whose job is not done within it fails alone", "none"},
      {"deadline", "DURATION",
       "the whole run's deadline: hosts not done by then fail, the others' results print",
       "none"},
      {"parallel", "N", "hosts run at once, 1..10000 (the others wait for a slot)", "64"},
      {"run-id", "ID", "label tying this run's jobs together in every host's history "
                       "(flopctl history --run ID)", "a fresh r-... id"},
      {"help", "", "show this help", ""},
  });
    return list;
  }();
  return *flags;
}

// Parses a number flag when present; INVALID_ARGUMENT naming the flag otherwise.
template <typename T>
absl::Status ParseNumber(const ParsedFlags& flags, const std::string& name, std::optional<T>* out) {
  if (!flags.Has(name)) return absl::OkStatus();
  T value{};
  bool ok = false;
  if constexpr (std::is_floating_point_v<T>) {
    ok = absl::SimpleAtod(flags.Get(name), &value);
  } else {
    ok = absl::SimpleAtoi(flags.Get(name), &value);
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": '", flags.Get(name), "' is not a number"));
  }
  *out = value;
  return absl::OkStatus();
}

// The job of the flags, checked with the daemon's own rules (PlanJob) on an
// unknown backend: what any device would refuse.
absl::StatusOr<JobRequest> ParseJob(const ParsedFlags& flags) {
  JobRequest job;
  job.ops = SplitList(flags.Get("op"));
  job.impls = SplitList(flags.Get("impl"));
  absl::StatusOr<std::vector<std::pair<std::string, std::vector<int64_t>>>> params =
      ParseCatalogParams(flags);
  if (!params.ok()) return params.status();
  for (auto& param : *params) job.params.push_back(std::move(param));
  job.dtypes = SplitList(flags.Get("dtype"));
  job.sizes = flags.Get("sizes");
  if (flags.Has("sizes") && job.sizes.empty()) {
    return absl::InvalidArgumentError("sizes: malformed size spec '': it is empty");
  }
  if (absl::StatusOr<JobPlan> plan = PlanJob(job, /*backend=*/"", /*default_sizes=*/"1");
      !plan.ok()) {
    return absl::InvalidArgumentError(plan.status().message());
  }
  return job;
}

// The measurement settings of the flags, range-checked without the device's
// defaults (which are not known here).
absl::StatusOr<MeasureRequest> ParseMeasure(const ParsedFlags& flags) {
  MeasureRequest measure;
  for (absl::Status st : {ParseNumber(flags, "noise-target", &measure.noise_target),
                          ParseNumber(flags, "min-samples", &measure.min_samples),
                          ParseNumber(flags, "max-time", &measure.max_time_s),
                          ParseNumber(flags, "min-time", &measure.min_time_s),
                          ParseNumber(flags, "iterations", &measure.iterations_per_sample),
                          ParseNumber(flags, "samples", &measure.fixed_samples),
                          ParseNumber(flags, "threads", &measure.cpu_threads)}) {
    if (!st.ok()) return st;
  }
  if (measure.iterations_per_sample && *measure.iterations_per_sample == 0) {
    return absl::InvalidArgumentError(
        "settings.iterations_per_sample: 0 is out of range; allowed 1..1000000");
  }
  if (flags.Has("timing")) measure.timing = flags.Get("timing");
  MeasureSettings checked;
  MeasureSettings range_check_defaults;
  range_check_defaults.min_time_s = 0;  // the device's own default is not known here
  if (absl::Status st = ResolveMeasureSettings(measure, range_check_defaults, &checked); !st.ok()) {
    return absl::InvalidArgumentError(st.message());
  }
  return measure;
}

int g_run_pipe[2] = {-1, -1};

extern "C" void OnRunSignal(int signal_number) {
  const int saved_errno = errno;
  (void)!write(g_run_pipe[1], &signal_number, sizeof(signal_number));
  errno = saved_errno;
}

}  // namespace

absl::StatusOr<RunPlan> ParseRunCommand(const std::vector<std::string>& args) {
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, RunFlags());
  if (!flags.ok()) return absl::InvalidArgumentError(flags.status().message());
  RunPlan plan;
  if (flags->Has("help")) {
    plan.help = true;
    return plan;
  }
  if (!flags->positional.empty()) {
    return absl::InvalidArgumentError("unexpected argument '" + flags->positional[0] +
                                      "'; see --help");
  }
  absl::StatusOr<JobRequest> job = ParseJob(*flags);
  if (!job.ok()) return job.status();
  absl::StatusOr<MeasureRequest> measure = ParseMeasure(*flags);
  if (!measure.ok()) return measure.status();
  absl::StatusOr<ResultFormat> format = ParseResultFormat(flags->Get("format", "table"));
  if (!format.ok()) return format.status();
  absl::StatusOr<std::vector<HostEntry>> hosts =
      ExpandHosts(flags->Get("host", "127.0.0.1"), SystemHostSources());
  if (!hosts.ok()) return hosts.status();
  for (const HostEntry& host : *hosts) {
    plan.hosts.push_back(host.address);
    if (!host.label.empty()) plan.host_labels[host.address] = host.label;
  }

  for (const auto& [flag, seconds] :
       {std::pair<const char*, double*>{"connect-timeout", &plan.connect_timeout_s},
        {"host-timeout", &plan.host_timeout_s},
        {"deadline", &plan.deadline_s}}) {
    if (!flags->Has(flag)) continue;
    absl::Duration duration;
    if (!absl::ParseDuration(flags->Get(flag), &duration) || duration < absl::ZeroDuration() ||
        duration > absl::Hours(24 * 365)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag, ": '", Sanitized(flags->Get(flag), kQuotedValueBytes),
          "' is not allowed; allowed: a duration such as 30s, 10m, 2h (0 = none)"));
    }
    *seconds = absl::ToDoubleSeconds(duration);
  }
  if (flags->Has("parallel") &&
      (!absl::SimpleAtoi(flags->Get("parallel"), &plan.parallel) || plan.parallel < 1 ||
       plan.parallel > 10000)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--parallel: '", Sanitized(flags->Get("parallel"), kQuotedValueBytes),
                     "' is not allowed; allowed 1..10000"));
  }

  plan.submission.request = *std::move(job);
  plan.submission.measure = *std::move(measure);
  plan.submission.client = absl::StrCat("flopctl pid ", getpid());
  if (flags->Has("run-id")) {
    plan.submission.run_id = flags->Get("run-id");
    if (plan.submission.run_id.empty()) {
      return absl::InvalidArgumentError("run_id: empty; give a label or leave --run-id out");
    }
    if (absl::Status st = CheckRunId(plan.submission.run_id); !st.ok()) return st;
  } else {
    std::random_device random;
    plan.submission.run_id =
        NewRunId(absl::ToUnixMillis(absl::Now()), (uint64_t{random()} << 32) | random());
  }
  if (flags->Has("device") && flags->Get("device").empty()) {
    return absl::InvalidArgumentError(
        "--device: '' is not allowed; allowed: a device id (cpu:0, cuda:1, ...) or all; leave "
        "it out for each host's GPUs, else its CPU");
  }
  plan.device = flags->Get("device");  // empty: each host's default (FanOut)
  plan.format = *format;
  plan.out_path = flags->Get("out");
  plan.out_append = flags->Has("append");
  if (plan.out_append && plan.out_path.empty()) {
    return absl::InvalidArgumentError("--append: adds to the file of --out FILE; give --out");
  }
  if (flags->Has("out") && plan.out_path.empty()) {
    return absl::InvalidArgumentError("--out: '' is not a file; give FILE, or - for stdout");
  }
  if (flags->Has("plot")) plan.plot_path = flags->Get("plot");
  plan.quiet = flags->Has("quiet");
  return plan;
}

void RenderResults(const std::vector<v1::Result>& results,
                   const std::vector<std::string>& host_order, ResultFormat format,
                   size_t table_width, std::ostream& out, std::ostream& err) {
  if (format == ResultFormat::kTable) {
    out << WrapLongLines(
        absl::StrCat(AggregateTable(results, host_order, table_width), WarningsText(results)),
        table_width);
  } else {
    std::unique_ptr<ResultSink> sink = NewResultSink(format, &out, host_order);
    sink->Begin();
    for (const v1::Result& r : results) sink->Add(r);
    sink->End();
  }
  out << std::flush;

  // Several hosts or devices: which one is slow. Beside a table on stdout;
  // on stderr when stdout carries a machine-readable format.
  if (CountFleetMembers(results) >= 2) {
    (format == ResultFormat::kTable ? out : err)
        << "\n"
        << FleetViewText(ComputeFleetView(results), /*points=*/false,
                         format == ResultFormat::kTable ? table_width : OutputWidth(STDERR_FILENO))
        << std::flush;
  }
}

int ShowCommand(const std::vector<std::string>& args, size_t table_width, std::ostream& out,
                std::ostream& err) {
  static const auto* specs = new std::vector<FlagSpec>{
      {"format", "FMT", "table, csv, json, jsonl", "table"},
      {"help", "", "show this help", ""},
  };
  auto usage_error = [&](absl::string_view message) {
    err << "flopctl: " << message << "\n";
    return 2;
  };
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, *specs);
  if (!flags.ok()) return usage_error(flags.status().message());
  if (flags->Has("help")) {
    out << "usage: flopctl show RESULTS... [--format FMT]\n\n"
           "Prints saved results (files written by flopctl run --out, or by --format on "
           "stdout)\nas flopctl run does at its end: the table fitted to the terminal, the "
           "results' warnings\nand, for several hosts or devices, the fleet view.\n\n"
        << FlagsHelp(*specs);
    return 0;
  }
  absl::StatusOr<ResultFormat> format = ParseResultFormat(flags->Get("format", "table"));
  if (!format.ok()) return usage_error(absl::StrCat("--", format.status().message()));
  if (flags->positional.empty()) return usage_error("show: no results file given; see --help");
  std::vector<v1::Result> results;
  std::vector<std::string> host_order;  // as the files list them
  for (const std::string& path : flags->positional) {
    absl::StatusOr<std::vector<v1::Result>> loaded = ReadResultsFile(path);
    if (!loaded.ok()) return usage_error(loaded.status().message());
    for (v1::Result& r : *loaded) {
      const std::string host = ResultHost(r);
      if (std::find(host_order.begin(), host_order.end(), host) == host_order.end()) {
        host_order.push_back(host);
      }
      results.push_back(std::move(r));
    }
  }
  RenderResults(results, host_order, *format, table_width, out, err);
  return 0;
}

int RenderRun(const RunPlan& plan, RunOutcome outcome, std::ostream& out, std::ostream& err,
              ResultFile* out_file) {
  // --out -: stdout carries the results file; a table goes to stderr beside
  // it, another format is the file's own (ResultFileOptions::stdout_format).
  const bool out_is_stdout = plan.out_path == "-";
  if (!out_is_stdout || plan.format == ResultFormat::kTable) {
    RenderResults(outcome.results, outcome.host_order, plan.format, plan.table_width,
                  out_is_stdout ? err : out, err);
  }

  if (plan.plot_path) {
    if (absl::Status st = WritePlotFile(outcome.results, *plan.plot_path, PlotKind::kAll);
        st.ok()) {
      err << "flopctl: wrote " << *plan.plot_path << "\n";
    } else {
      outcome.failures.push_back(absl::StrCat("--plot: ", st.message()));
    }
  }

  int failed_verification = 0;
  for (const v1::Result& r : outcome.results) failed_verification += !r.verification().passed();
  bool out_failed = false;
  if (out_file != nullptr) {
    err << "flopctl: " << out_file->Close(!outcome.failures.empty() || outcome.interrupted_by != 0)
        << "\n";
    out_failed = !out_file->status().ok();
  }
  for (const std::string& line : outcome.failures) err << "flopctl: " << line << "\n";
  if (failed_verification > 0) {
    err << "flopctl: " << failed_verification << " result(s) FAILED verification\n";
  }
  if (outcome.interrupted_by != 0) return 128 + outcome.interrupted_by;
  return outcome.failures.empty() && failed_verification == 0 && !out_failed ? 0 : 1;
}

std::string RunHelp() {
  return absl::StrCat(
      "usage: flopctl run --op OP[,OP...] [flags]\n\n"
      "Runs ops x impls x axes x dtypes x sizes on each host's devices (its GPUs, else its "
      "CPU,\nunless --device says), streams each point's result as it is measured, and "
      "prints one\naggregated table at the end, fitted to the terminal.\n\n",
      FlagsHelp(RunFlags()),
      "\nexit status: 0 ok; 1 a host failed or a result failed verification; "
      "2 bad command line;\n128+signal interrupted by SIGINT or SIGTERM (what "
      "arrived is shown and kept)\n");
}

int RunCommand(const std::vector<std::string>& args) {
  absl::StatusOr<RunPlan> plan = ParseRunCommand(args);
  if (!plan.ok()) return UsageError(std::string(plan.status().message()));
  if (plan->help) {
    std::cout << RunHelp();
    return 0;
  }
  std::unique_ptr<ResultFile> out_file;
  std::vector<ResultSink*> streams;
  if (!plan->out_path.empty()) {
    ResultFileOptions options;
    options.append = plan->out_append;
    options.stdout_format = plan->format;
    absl::StatusOr<std::unique_ptr<ResultFile>> opened =
        OpenResultFile(plan->out_path, options);
    if (!opened.ok()) return UsageError(absl::StrCat("--out: ", opened.status().message()));
    out_file = *std::move(opened);
    out_file->Begin();
    streams.push_back(out_file.get());
  }

  // SIGINT/SIGTERM end the run early and keep what arrived: the handler only
  // writes the signal's number to a pipe; a thread reading it interrupts the
  // fan-out, whose streams then end at once, and the run ends as usual
  // (the table and the --out file of the results so far, exit 128+signal).
  RunInterrupt interrupt;
  if (pipe(g_run_pipe) != 0) {
    std::cerr << "flopctl: cannot create a pipe\n";
    return 1;
  }
  struct sigaction action = {};
  action.sa_handler = OnRunSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::thread waiter([&interrupt] {
    int signal_number = 0;
    while (read(g_run_pipe[0], &signal_number, sizeof(signal_number)) < 0 && errno == EINTR) {
    }
    if (signal_number != 0) interrupt.Interrupt(signal_number);
  });
  RunOutcome outcome = FanOut(*plan, streams, &interrupt);
  const int done = 0;  // releases the waiter when no signal came
  (void)!write(g_run_pipe[1], &done, sizeof(done));
  waiter.join();

  if (!plan->quiet) {
    std::cerr << "flopctl: run " << plan->submission.run_id << " (flopctl history --run "
              << plan->submission.run_id << " shows it again)\n";
  }
  plan->table_width = OutputWidth(STDOUT_FILENO);
  return RenderRun(*plan, std::move(outcome), std::cout, std::cerr, out_file.get());
}

}  // namespace flopd
