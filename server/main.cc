// flopd: the benchmarking daemon. Serves flopd.v1.Flopd, the standard gRPC
// health service and server reflection on one address, and keeps every job
// and result in its store (SQLite in the state directory).
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/address.h"
#include "common/command_line.h"
#include "common/sanitize.h"
#include "grpc/support/log.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "proto/wire/wire.h"
#include "server/backend/registry.h"
#include "server/flopd_service.h"
#include "server/history_api.h"
#include "server/history_recorder.h"
#include "server/http/http_server.h"
#include "server/http/metrics.h"
#include "server/log.h"
#include "server/result_hub.h"
#include "server/scheduler.h"
#include "server/store/result_store.h"

namespace flopd {
namespace {

const std::vector<FlagSpec>& Flags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"listen", "ADDR:PORT", "address to serve on; port 0 picks a free port (printed on stdout)",
       "127.0.0.1:50051"},
      {"threads", "N", "CPU threads for OpenBLAS and flopd's CPU kernels, 1..1024", "the CPUs flopd may run on"},
      {"memory-limit-mib", "MiB", "most host memory one CPU point may allocate",
       "half of physical memory"},
      {"hostname", "NAME", "name reported as the host in results", "the machine's hostname"},
      {"no-cuda", "", "do not probe for GPUs", ""},
      {"state-dir", "DIR", "where the result store (flopd.db) lives; created if missing",
       "$STATE_DIRECTORY, else $XDG_STATE_HOME/flopd, else ~/.local/state/flopd"},
      {"retain", "AGE|COUNT|AGE,COUNT",
       "keep results measured within AGE (30d; units s, m, h, d, w) and/or the newest COUNT; "
       "older ones are pruned in the background",
       "keep everything"},
      {"no-store", "", "keep no history (results are only streamed)", ""},
      {"http-listen", "ADDR:PORT",
       "HTTP for dashboards (docs/HTTP.md): the built-in dashboard at /, /metrics, /healthz, "
       "/readyz and the read-only JSON API /api/v1; port 0 picks a free port (printed on stdout)",
       HttpOptions::kDefaultAddress},
      {"no-http", "", "serve no HTTP (gRPC only)", ""},
      {"metrics-points", "N",
       "most points exported in /metrics (the least recently measured leave first), 1..1000000",
       "4096"},
      {"http-dashboard-dir", "DIR",
       "serve the dashboard's files from DIR instead of the built-in copy (for working on the "
       "page)",
       ""},
      {"max-queued-jobs", "N", "jobs that may wait for one device, 1..100000; more are refused",
       "64"},
      {"max-points-per-job", "N", "points one job may have, 1..10000000", "100000"},
      {"max-job-time", "DURATION",
       "longest a job may run (e.g. 90m, 6h; units s, m, h, d); it then ends with "
       "DEADLINE_EXCEEDED, its results so far kept",
       "6h"},
      {"help", "", "show this help", ""},
  };
  return *flags;
}

// The health service name that reports the store: SERVING while results are
// being stored, NOT_SERVING when they are not (flopd itself, "", keeps
// serving).
constexpr char kStoreHealthService[] = "flopd.store";

int g_signal_pipe[2] = {-1, -1};

// Async-signal-safe: only write(2).
extern "C" void OnSignal(int signal_number) {
  const int saved_errno = errno;
  (void)!write(g_signal_pipe[1], &signal_number, sizeof(signal_number));
  errno = saved_errno;
}

int Fail(const std::string& message) {
  std::cerr << "flopd: " << message << "\n";
  return 2;
}

// gRPC's own log lines go to flopd's log (server/log.h), except while the
// gRPC listener is being bound: then they are kept, so that a failed start
// says what went wrong in one line of its own.
std::mutex g_grpc_log_mu;
std::string* g_grpc_log_kept = nullptr;  // guarded by g_grpc_log_mu

void GrpcLog(gpr_log_func_args* args) {
  {
    std::lock_guard<std::mutex> lock(g_grpc_log_mu);
    if (g_grpc_log_kept != nullptr) {
      absl::StrAppend(g_grpc_log_kept, args->message, "\n");
      return;
    }
  }
  LogLine(absl::StrCat("grpc: ", gpr_log_severity_string(args->severity), " ", args->file, ":",
                       args->line, ": ", args->message));
}

// The operating system's reason in gRPC's error text ("Address already in
// use"), or empty.
std::string OsError(const std::string& grpc_log) {
  const std::string key = "os_error:\"";
  const size_t start = grpc_log.find(key);
  if (start == std::string::npos) return "";
  const size_t end = grpc_log.find('"', start + key.size());
  if (end == std::string::npos) return "";
  return grpc_log.substr(start + key.size(), end - start - key.size());
}

// "90", "90s", "15m", "6h", "2d" in seconds.
absl::StatusOr<double> ParseDurationSeconds(const std::string& text) {
  if (text.empty()) return absl::InvalidArgumentError("empty");
  double scale = 1;
  std::string number = text;
  switch (text.back()) {
    case 's': scale = 1; number.pop_back(); break;
    case 'm': scale = 60; number.pop_back(); break;
    case 'h': scale = 3600; number.pop_back(); break;
    case 'd': scale = 86400; number.pop_back(); break;
    default: break;
  }
  double value = 0;
  if (!absl::SimpleAtod(number, &value) || !(value > 0) || value > 1e9) {
    return absl::InvalidArgumentError("not a duration");
  }
  return value * scale;
}

std::string MachineHostname() {
  char name[256] = {0};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

int Main(int argc, char** argv) {
  absl::StatusOr<ParsedFlags> flags =
      ParseFlags(std::vector<std::string>(argv + 1, argv + argc), Flags());
  if (!flags.ok()) return Fail(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << "usage: flopd [flags]\n\nRuns flopctl's benchmark jobs on this host's devices, "
                 "streams the results back over gRPC,\nand keeps every job and result in its "
                 "store (the state directory) for the history API.\n\n"
              << FlagsHelp(Flags());
    return 0;
  }
  if (!flags->positional.empty()) return Fail("unexpected argument '" + flags->positional[0] + "'");

  BackendConfig config;
  if (flags->Has("threads")) {
    if (!absl::SimpleAtoi(flags->Get("threads"), &config.cpu_threads) || config.cpu_threads < 1 ||
        config.cpu_threads > 1024) {
      return Fail("--threads: '" + flags->Get("threads") + "' is not allowed; allowed 1..1024");
    }
  }
  if (flags->Has("memory-limit-mib")) {
    int64_t mib = 0;
    if (!absl::SimpleAtoi(flags->Get("memory-limit-mib"), &mib) || mib < 1) {
      return Fail("--memory-limit-mib: '" + flags->Get("memory-limit-mib") +
                  "' is not allowed; allowed: a whole number of MiB >= 1");
    }
    config.cpu_memory_limit = mib * 1024 * 1024;
  }
  config.enable_cuda = !flags->Has("no-cuda");
  const std::string listen = flags->Get("listen", "127.0.0.1:50051");
  if (absl::StatusOr<HostPort> parsed = ParseHostPort(listen); !parsed.ok()) {
    return Fail(absl::StrCat("--listen: ", parsed.status().message()));
  }
  const std::string hostname = flags->Get("hostname", MachineHostname());
  StoreOptions store_options;
  store_options.dir = flags->Get("state-dir", DefaultStateDir());
  if (flags->Has("state-dir") && store_options.dir.empty()) {
    return Fail("--state-dir: empty; give a directory (or --no-store)");
  }
  if (absl::StatusOr<RetentionPolicy> retain = ParseRetention(flags->Get("retain"));
      retain.ok()) {
    store_options.retention = *retain;
  } else {
    return Fail(std::string(retain.status().message()));
  }
  if (flags->Has("no-store") && (flags->Has("state-dir") || flags->Has("retain"))) {
    return Fail("--no-store: cannot be combined with --state-dir or --retain");
  }
  SchedulerLimits limits;
  if (flags->Has("max-queued-jobs") &&
      (!absl::SimpleAtoi(flags->Get("max-queued-jobs"), &limits.max_waiting_jobs_per_device) ||
       limits.max_waiting_jobs_per_device < 1 || limits.max_waiting_jobs_per_device > 100000)) {
    return Fail("--max-queued-jobs: '" + Sanitized(flags->Get("max-queued-jobs"), kQuotedValueBytes) +
                "' is not allowed; allowed 1..100000");
  }
  if (flags->Has("max-points-per-job") &&
      (!absl::SimpleAtoi(flags->Get("max-points-per-job"), &limits.max_points_per_job) ||
       limits.max_points_per_job < 1 || limits.max_points_per_job > 10000000)) {
    return Fail("--max-points-per-job: '" +
                Sanitized(flags->Get("max-points-per-job"), kQuotedValueBytes) +
                "' is not allowed; allowed 1..10000000");
  }
  if (flags->Has("max-job-time")) {
    absl::StatusOr<double> seconds = ParseDurationSeconds(flags->Get("max-job-time"));
    if (!seconds.ok() || *seconds < 1) {
      return Fail("--max-job-time: '" + Sanitized(flags->Get("max-job-time"), kQuotedValueBytes) +
                  "' is not allowed; allowed: a duration of at least 1 s, e.g. 90m or 6h (units s, "
                  "m, h, d)");
    }
    limits.max_job_seconds = *seconds;
  }
  const bool serve_http = !flags->Has("no-http");
  if (!serve_http && (flags->Has("http-listen") || flags->Has("http-dashboard-dir"))) {
    return Fail("--no-http: cannot be combined with --http-listen or --http-dashboard-dir");
  }
  HttpOptions http_options;
  http_options.address = flags->Get("http-listen", HttpOptions::kDefaultAddress);
  http_options.dashboard_dir = flags->Get("http-dashboard-dir");
  if (absl::StatusOr<HostPort> parsed = ParseHostPort(http_options.address);
      serve_http && !parsed.ok()) {
    return Fail(absl::StrCat("--http-listen: ", parsed.status().message()));
  }
  int metrics_points = FlopdMetrics::kDefaultMaxPoints;
  if (flags->Has("metrics-points") &&
      (!absl::SimpleAtoi(flags->Get("metrics-points"), &metrics_points) || metrics_points < 1 ||
       metrics_points > 1000000)) {
    return Fail("--metrics-points: '" + flags->Get("metrics-points") +
                "' is not allowed; allowed 1..1000000");
  }

  // SIGINT/SIGTERM only wake the thread below, which shuts down in order.
  // (A blocked-mask + sigwait scheme would miss signals delivered to threads
  // that libraries start before main, such as OpenBLAS's pool.)
  if (pipe(g_signal_pipe) != 0) return Fail("cannot create the signal pipe");
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a reader that went away is an error from write(), not a signal

  DeviceSet devices = CreateDevices(config);
  for (const std::string& reason : devices.unavailable) {
    std::cerr << "flopd: not offered: " << reason << "\n";
  }
  // The store first: it outlives everything that writes to it. When it
  // cannot be opened flopd still measures and streams, and says why.
  std::unique_ptr<ResultStore> store;
  StoreHealth no_store;
  if (flags->Has("no-store")) {
    no_store.state = "off";
    no_store.detail = "started with --no-store";
    std::cerr << "flopd: store off (--no-store): results are streamed, not kept\n";
  } else {
    absl::StatusOr<std::unique_ptr<ResultStore>> opened = ResultStore::Open(store_options);
    if (opened.ok()) {
      store = *std::move(opened);
      const StoreHealth health = store->Health();
      std::cerr << "flopd: store " << health.path << ": " << health.results << " results, "
                << health.jobs << " jobs, retention: " << health.retention << "\n";
    } else {
      no_store.state = "unavailable";
      no_store.detail = std::string(opened.status().message());
      no_store.path = store_options.dir.empty()
                          ? ""
                          : store_options.dir + "/" + ResultStore::kFileName;
      std::cerr << "flopd: store unavailable: " << no_store.detail
                << "\nflopd: running without history: results are streamed, not kept\n";
    }
  }
  // Metrics start from the newest stored result of each point, so a restart
  // does not blank a dashboard; then every result reaches them through the
  // hub, and every job's end as an observer.
  FlopdMetrics metrics(hostname, kFlopdVersion, metrics_points);
  if (store) {
    absl::StatusOr<std::vector<v1::Result>> latest = store->LatestPerPoint(metrics_points);
    if (latest.ok()) {
      for (auto it = latest->rbegin(); it != latest->rend(); ++it) {
        metrics.Restore(*it, IndexOf(*it));
      }
    } else {
      std::cerr << "flopd: /metrics starts empty: reading the store: "
                << latest.status().message() << "\n";
    }
  }
  ResultHub hub;
  hub.AddListener([&metrics](const HubResult& r) { metrics.Record(*r.result, r.index); });
  HistoryRecorder recorder(store.get(), &hub, hostname, kFlopdVersion);
  Scheduler scheduler(std::move(devices), {&recorder, &metrics}, limits);
  HistoryApi history(&scheduler, store.get(), &hub, hostname, no_store);
  FlopdService service(&scheduler, hostname, &history);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &bound_port);
  // No SO_REUSEPORT: a second flopd on an address in use fails to start
  // instead of sharing the port (and the devices) with the first.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&service);
  gpr_set_log_function(GrpcLog);
  std::string grpc_log;
  {
    std::lock_guard<std::mutex> lock(g_grpc_log_mu);
    g_grpc_log_kept = &grpc_log;
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  {
    std::lock_guard<std::mutex> lock(g_grpc_log_mu);
    g_grpc_log_kept = nullptr;
  }
  if (!server || bound_port == 0) {
    const std::string why = OsError(grpc_log);
    return Fail("--listen: cannot listen on " + listen +
                (why.empty() ? " (in use, or not an address of this host)" : ": " + why) +
                "; pick another with --listen");
  }
  // The store's health is its own service name: flopd itself ("") keeps
  // serving whatever the store does.
  // (Guarded: a device's worker may report a failing write while the server
  // is being torn down.)
  struct StoreHealthReport {
    std::mutex mu;
    grpc::HealthCheckServiceInterface* service = nullptr;
  };
  auto store_health = std::make_shared<StoreHealthReport>();
  store_health->service = server->GetHealthCheckService();
  store_health->service->SetServingStatus(kStoreHealthService,
                                          store != nullptr && store->Health().ok());
  if (store) {
    store->SetWritableListener([store_health](bool writable) {
      std::lock_guard<std::mutex> lock(store_health->mu);
      if (store_health->service) {
        store_health->service->SetServingStatus(kStoreHealthService, writable);
      }
    });
  }

  // Both listeners are bound before flopd says it listens: a start that
  // fails never claims to.
  std::unique_ptr<HttpServer> http;
  if (serve_http) {
    absl::StatusOr<std::unique_ptr<HttpServer>> started = HttpServer::Start(
        http_options, {&scheduler, &history, &metrics, service.host()});
    if (!started.ok()) {
      std::cerr << "flopd: " << started.status().message() << "\n";
      scheduler.Shutdown();
      hub.Shutdown();
      server->Shutdown();
      return 2;
    }
    http = *std::move(started);
  }
  const std::string host_part = listen.substr(0, listen.rfind(':'));
  std::cout << "flopd " << kFlopdVersion << " listening on " << host_part << ":" << bound_port
            << " as " << hostname << std::endl;
  if (http) std::cout << "flopd http serving on http://" << http->address() << "/" << std::endl;
  for (int slot = 0; slot < scheduler.device_count(); ++slot) {
    const DeviceDescription& d = scheduler.device(slot).Describe();
    std::cout << "flopd device " << d.id << ": " << d.name << " (" << d.library << ")"
              << std::endl;
  }

  std::thread signal_waiter([&] {
    int signal_number = 0;
    while (read(g_signal_pipe[0], &signal_number, sizeof(signal_number)) < 0 && errno == EINTR) {
    }
    const auto stop_start = std::chrono::steady_clock::now();
    auto elapsed = [&] {
      return absl::StrFormat(
          "%.2f s",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - stop_start).count());
    };
    std::cerr << "flopd: received " << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
              << ", shutting down\n";
    server->GetHealthCheckService()->Shutdown();
    scheduler.Shutdown();  // running jobs end their streams with UNAVAILABLE
    hub.Shutdown();        // watches end with UNAVAILABLE
    if (http) http->Stop();
    std::cerr << "flopd: jobs, watches and HTTP stopped after " << elapsed() << "\n";
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
    std::cerr << "flopd: gRPC stopped after " << elapsed() << "\n";
  });
  server->Wait();
  signal_waiter.join();
  {
    std::lock_guard<std::mutex> lock(store_health->mu);
    store_health->service = nullptr;  // it goes with the server
  }
  std::cerr << "flopd: stopped\n";
  return 0;
}

}  // namespace
}  // namespace flopd

int main(int argc, char** argv) { return flopd::Main(argc, argv); }
