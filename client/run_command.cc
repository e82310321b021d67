// flopctl run: fans a job out to every host (and device) concurrently,
// streams results as they arrive, and aggregates them at the end.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/commands.h"
#include "client/host_client.h"
#include "client/plot_svg.h"
#include "client/result_format.h"
#include "common/command_line.h"
#include "common/job_plan.h"
#include "common/measure_settings.h"
#include "common/size_spec.h"

namespace flopd {
namespace {

const std::vector<FlagSpec>& RunFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"host", "H[,H...]", "flopd hosts, run concurrently; port 50051 is added when missing",
       "127.0.0.1"},
      {"op", "OP[,OP...]", "ops to run: matvec, outer (flopctl ops lists them)", ""},
      {"impl", "I[,I...]", "implementations (cpu: gemv, gemm, library, fused; cuda adds custom)",
       "all of each op's impls on the device"},
      {"axis", "A[,A...]", "outer's summed axis: 0 = column sums, 1 = row sums", "0,1"},
      {"dtype", "D[,D...]", "f32, f64", "f32"},
      {"sizes", "SPEC", kSizeSpecHelp, "the device's default"},
      {"device", "DEV", "cpu:0, cuda:0, ..., or all (every device of every host)", "cpu:0"},
      {"noise-target", "X", "stop sampling a point at this relative noise, (0, 0.5]", "0.005"},
      {"min-samples", "K", "samples before the noise rule may stop, 3..100000", "10"},
      {"max-time", "SECONDS", "time budget per point, (0, 3600]", "device default"},
      {"min-time", "SECONDS", "minimum sampling time per point", "device default"},
      {"iterations", "K", "executions per timed sample, 1..1000000", "automatic"},
      {"samples", "K", "take exactly K samples (no noise rule); --iterations 1000 --samples 1 "
                       "is the seed's loop", ""},
      {"timing", "MODE", "hot (back-to-back), cold (caches flushed), graph (GPU: CUDA graph)",
       "hot"},
      {"threads", "T", "CPU threads for this job", "the daemon's setting"},
      {"format", "FMT", "final output on stdout: table, csv, json, jsonl", "table"},
      {"out", "FILE", "also write every result to FILE as it arrives: .csv, .json, else JSON Lines",
       ""},
      {"plot", "FILE.svg", "at the end, draw the results as flopctl plot does", ""},
      {"quiet", "", "no live progress on stderr", ""},
      {"help", "", "show this help", ""},
  };
  return *flags;
}

// Parses a number flag; false with a message naming the flag otherwise.
template <typename T>
bool ParseNumber(const ParsedFlags& flags, const std::string& name, std::optional<T>* out,
                 std::string* error) {
  if (!flags.Has(name)) return true;
  T value{};
  bool ok = false;
  if constexpr (std::is_floating_point_v<T>) {
    ok = absl::SimpleAtod(flags.Get(name), &value);
  } else {
    ok = absl::SimpleAtoi(flags.Get(name), &value);
  }
  if (!ok) {
    *error = absl::StrCat("--", name, ": '", flags.Get(name), "' is not a number");
    return false;
  }
  *out = value;
  return true;
}

struct Target {  // one (host, device) stream
  std::string host;
  std::string device;
};

enum class OutFormat { kTable, kCsv, kJson, kJsonl };

// Shared state of a run; every member guarded by mu except the constants.
class RunState {
 public:
  RunState(bool live, bool quiet) : live_(live), quiet_(quiet) {}

  absl::Status OpenOut(const std::string& path) {
    if (path.empty()) return absl::OkStatus();
    out_path_ = path;
    out_format_ = absl::EndsWith(path, ".csv")    ? OutFormat::kCsv
                  : absl::EndsWith(path, ".json") ? OutFormat::kJson
                                                  : OutFormat::kJsonl;
    out_.open(path, std::ios::trunc);
    if (!out_) return absl::InvalidArgumentError(absl::StrCat("--out: cannot write '", path, "'"));
    if (out_format_ == OutFormat::kCsv) out_ << CsvHeader() << "\n" << std::flush;
    return absl::OkStatus();
  }

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
    if (out_.is_open() && out_format_ == OutFormat::kJsonl) out_ << ToJsonLine(result) << "\n" << std::flush;
    if (out_.is_open() && out_format_ == OutFormat::kCsv) out_ << ToCsvRow(result) << "\n" << std::flush;
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

  void Finish() {
    std::lock_guard<std::mutex> lock(mu_);
    if (live_) Redraw();
    if (out_.is_open() && out_format_ == OutFormat::kJson) out_ << ToJsonArray(results_);
    if (out_.is_open()) out_.close();
  }

  const std::vector<v1::Result>& results() const { return results_; }
  const std::string& out_path() const { return out_path_; }

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
  std::mutex mu_;
  std::map<std::string, std::string> progress_;
  std::vector<std::string> order_;
  int drawn_ = 0;
  std::vector<v1::Result> results_;
  std::ofstream out_;
  std::string out_path_;
  OutFormat out_format_ = OutFormat::kJsonl;
};

}  // namespace

int RunCommand(const std::vector<std::string>& args) {
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, RunFlags());
  if (!flags.ok()) return UsageError(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << "usage: flopctl run --op OP[,OP...] [flags]\n\n"
                 "Runs ops x impls x axes x dtypes x sizes on each host's device, streams each "
                 "point's result as it is measured,\nand prints one aggregated table at the end.\n\n"
              << FlagsHelp(RunFlags())
              << "\nexit status: 0 ok; 1 a host failed or a result failed verification; "
                 "2 bad command line\n";
    return 0;
  }
  if (!flags->positional.empty()) {
    return UsageError("unexpected argument '" + flags->positional[0] + "'; see --help");
  }

  // Build the request and check it locally with the daemon's own rules.
  JobRequest job;
  job.ops = SplitList(flags->Get("op"));
  job.impls = SplitList(flags->Get("impl"));
  if (flags->Has("axis")) {
    std::vector<int64_t> axes;
    for (const std::string& text : SplitList(flags->Get("axis"))) {
      int64_t axis = 0;
      if (!absl::SimpleAtoi(text, &axis)) {
        return UsageError("axis: '" + text + "' is not allowed; allowed: 0, 1");
      }
      axes.push_back(axis);
    }
    job.params.emplace_back("axis", axes);
  }
  job.dtypes = SplitList(flags->Get("dtype"));
  job.sizes = flags->Get("sizes");
  if (flags->Has("sizes") && job.sizes.empty()) {
    return UsageError("sizes: malformed size spec '': it is empty");
  }
  if (absl::StatusOr<JobPlan> plan = PlanJob(job, /*backend=*/"", /*default_sizes=*/"1");
      !plan.ok()) {
    return UsageError(std::string(plan.status().message()));
  }

  MeasureRequest measure;
  std::string error;
  if (!ParseNumber(*flags, "noise-target", &measure.noise_target, &error) ||
      !ParseNumber(*flags, "min-samples", &measure.min_samples, &error) ||
      !ParseNumber(*flags, "max-time", &measure.max_time_s, &error) ||
      !ParseNumber(*flags, "min-time", &measure.min_time_s, &error) ||
      !ParseNumber(*flags, "iterations", &measure.iterations_per_sample, &error) ||
      !ParseNumber(*flags, "samples", &measure.fixed_samples, &error) ||
      !ParseNumber(*flags, "threads", &measure.cpu_threads, &error)) {
    return UsageError(error);
  }
  if (measure.iterations_per_sample && *measure.iterations_per_sample == 0) {
    return UsageError("settings.iterations_per_sample: 0 is out of range; allowed 1..1000000");
  }
  if (flags->Has("timing")) measure.timing = flags->Get("timing");
  MeasureSettings checked;
  MeasureSettings range_check_defaults;
  range_check_defaults.min_time_s = 0;  // the device's own default is not known here
  if (absl::Status st = ResolveMeasureSettings(measure, range_check_defaults, &checked); !st.ok()) {
    return UsageError(std::string(st.message()));
  }

  const std::string format_name = flags->Get("format", "table");
  OutFormat format;
  if (format_name == "table") format = OutFormat::kTable;
  else if (format_name == "csv") format = OutFormat::kCsv;
  else if (format_name == "json") format = OutFormat::kJson;
  else if (format_name == "jsonl") format = OutFormat::kJsonl;
  else return UsageError("format: unknown format '" + format_name + "'; allowed: table, csv, json, jsonl");

  std::vector<std::string> hosts = SplitList(flags->Get("host", "127.0.0.1"));
  if (hosts.empty()) return UsageError("host: no host given; expected H[,H...]");
  for (std::string& host : hosts) host = WithDefaultPort(host);

  v1::RunRequest request;
  for (const std::string& op : job.ops) request.add_ops(op);
  for (const std::string& impl : job.impls) request.add_impls(impl);
  for (const auto& [name, values] : job.params) {
    v1::ParamChoice* param = request.add_params();
    param->set_name(name);
    for (int64_t v : values) param->add_values(v);
  }
  for (const std::string& dtype : job.dtypes) request.add_dtypes(dtype);
  request.set_sizes(job.sizes);
  v1::MeasureSettings* s = request.mutable_settings();
  if (measure.noise_target) s->set_noise_target(*measure.noise_target);
  if (measure.min_samples) s->set_min_samples(*measure.min_samples);
  if (measure.max_time_s) s->set_max_time_s(*measure.max_time_s);
  if (measure.min_time_s) s->set_min_time_s(*measure.min_time_s);
  if (measure.iterations_per_sample) s->set_iterations_per_sample(*measure.iterations_per_sample);
  if (measure.fixed_samples) s->set_fixed_samples(*measure.fixed_samples);
  if (measure.timing) s->set_timing(*measure.timing);
  if (measure.cpu_threads) s->set_cpu_threads(*measure.cpu_threads);
  request.set_client(absl::StrCat("flopctl pid ", getpid()));

  const bool live = !flags->Has("quiet") && isatty(STDERR_FILENO);
  RunState state(live, flags->Has("quiet"));
  if (absl::Status st = state.OpenOut(flags->Get("out")); !st.ok()) {
    return UsageError(std::string(st.message()));
  }

  // Resolve targets: one per host, or one per device of each host with --device all.
  const std::string device_flag = flags->Get("device", "cpu:0");
  std::vector<Target> targets;
  std::vector<std::string> failures;
  std::mutex failures_mu;
  for (const std::string& host : hosts) {
    if (device_flag != "all") {
      targets.push_back({host, device_flag});
      continue;
    }
    HostClient client(host);
    absl::StatusOr<v1::HostInfo> info = client.GetHostInfo();
    if (!info.ok()) {
      failures.push_back(absl::StrCat(host, ": ", info.status().message()));
      continue;
    }
    for (const v1::DeviceInfo& device : info->devices()) targets.push_back({host, device.id()});
  }
  auto label_of = [&](const Target& t) {
    return device_flag == "all" ? absl::StrCat(t.host, "/", t.device) : t.host;
  };
  for (const Target& t : targets) state.AddTarget(label_of(t));

  std::vector<std::thread> threads;
  for (const Target& target : targets) {
    threads.emplace_back([&, target] {
      const std::string label = label_of(target);
      v1::RunRequest my_request = request;
      my_request.set_device(target.device);
      HostClient client(target.host);
      int total = 0;
      int done = 0;
      absl::Status status = client.Run(my_request, [&](const v1::RunEvent& event) {
        switch (event.event_case()) {
          case v1::RunEvent::kAccepted:
            total = event.accepted().points_total();
            state.Progress(label, event.accepted().queue_position() > 0
                                      ? absl::StrCat("queued behind ",
                                                     event.accepted().queue_position(), " job(s)")
                                      : absl::StrCat("accepted, ", total, " points"));
            if (event.accepted().queue_position() > 0 && !live) {
              state.Message(absl::StrCat(label, ": ", event.accepted().job_id(), " queued at position ",
                                         event.accepted().queue_position()));
            }
            break;
          case v1::RunEvent::kStarted:
            state.Progress(label, absl::StrCat("running, 0/", total, " points"));
            break;
          case v1::RunEvent::kResult: {
            v1::Result result = event.result();
            result.set_host_address(target.host);
            state.AddResult(label, std::move(result), ++done, total);
            break;
          }
          case v1::RunEvent::kFinished:
            state.Progress(label, absl::StrCat("done, ", done, "/", total, " points in ",
                                               absl::StrFormat("%.1f", event.finished().wall_seconds()),
                                               " s"));
            break;
          default:
            break;  // errors arrive as the final status too
        }
      });
      if (!status.ok()) {
        const std::string line = absl::StrCat(label, ": ", absl::StatusCodeToString(status.code()),
                                              ": ", status.message(),
                                              done ? absl::StrCat(" (after ", done, " results)") : "");
        state.Progress(label, absl::StrCat("FAILED: ", status.message()));
        std::lock_guard<std::mutex> lock(failures_mu);
        failures.push_back(line);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  state.Finish();

  const std::vector<v1::Result>& results = state.results();
  std::vector<std::string> order;
  for (const Target& t : targets) {
    if (std::find(order.begin(), order.end(), t.host) == order.end()) order.push_back(t.host);
  }
  switch (format) {
    case OutFormat::kTable:
      std::cout << AggregateTable(results, order);
      break;
    case OutFormat::kCsv:
      std::cout << CsvHeader() << "\n";
      for (const v1::Result& r : results) std::cout << ToCsvRow(r) << "\n";
      break;
    case OutFormat::kJson:
      std::cout << ToJsonArray(results);
      break;
    case OutFormat::kJsonl:
      for (const v1::Result& r : results) std::cout << ToJsonLine(r) << "\n";
      break;
  }
  std::cout << std::flush;

  if (flags->Has("plot")) {
    std::ofstream plot(flags->Get("plot"), std::ios::trunc | std::ios::binary);
    plot << PlotSvg(results, PlotKind::kAll);
    plot.close();
    if (plot) {
      std::cerr << "flopctl: wrote " << flags->Get("plot") << "\n";
    } else {
      failures.push_back(absl::StrCat("--plot: cannot write '", flags->Get("plot"), "'"));
    }
  }

  int failed_verification = 0;
  for (const v1::Result& r : results) failed_verification += !r.verification().passed();
  if (!state.out_path().empty()) {
    std::cerr << "flopctl: wrote " << results.size() << " results to " << state.out_path() << "\n";
  }
  for (const std::string& line : failures) std::cerr << "flopctl: " << line << "\n";
  if (failed_verification > 0) {
    std::cerr << "flopctl: " << failed_verification << " result(s) FAILED verification\n";
  }
  return failures.empty() && failed_verification == 0 ? 0 : 1;
}

}  // namespace flopd
