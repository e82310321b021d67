// flopd: the benchmarking daemon. Serves flopd.v1.Flopd, the standard gRPC
// health service and server reflection on one address, and keeps every job
// and result in its store (SQLite in the state directory).
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "server/auth/access_control.h"
#include "server/auth/tls_files.h"
#include "server/backend/cpu/openblas_core.h"
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

#ifndef FLOPD_VERSION
#define FLOPD_VERSION "unknown"
#endif

namespace flopd {
namespace {

const std::vector<FlagSpec>& Flags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"listen", "ADDR:PORT", "address to serve on; port 0 picks a free port (printed on stdout)",
       "127.0.0.1:50051"},
      {"threads", "N",
       "CPU threads for OpenBLAS and flopd's CPU kernels, 1..--max-threads-per-job",
       "the CPUs flopd may run on"},
      {"memory-limit-mib", "MiB", "most host memory one CPU point may allocate",
       "half of physical memory"},
      {"hostname", "NAME", "name reported as the host in results", "the machine's hostname"},
      {"no-cuda", "", "do not probe for GPUs", ""},
      {"openblas-coretype", "auto|library|CORE",
       "OpenBLAS kernels for the CPU rows: auto restarts flopd with the kernels of the CPU's widest "
       "vector ISA when the library fell back to older ones (an unrecognized new CPU); library keeps "
       "its choice; or one of Sandybridge, Haswell, Zen, SkylakeX, Cooperlake. "
       "OPENBLAS_CORETYPE in the environment is kept",
       "auto"},
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
      {"max-threads-per-job", "N",
       "CPU threads one job may ask for (settings.cpu_threads), 1..1024; above it a job is "
       "refused (INVALID_ARGUMENT). flopd's thread pools never grow beyond it and are reused by "
       "later jobs",
       "the CPUs flopd may run on"},
      {"max-streams", "N",
       "Run and WatchResults streams open at once over all callers, 1..10000; more are refused "
       "(RESOURCE_EXHAUSTED). Each holds a server thread; unary calls get 64 more",
       "256"},
      {"max-stream-buffer-kib", "KiB",
       "results one Run stream may hold for a client that reads too slowly, 1..1048576; beyond "
       "it the stream ends with RESOURCE_EXHAUSTED and the job goes on, its results stored "
       "(flopctl history --job ID)",
       "4096"},
      {"max-queued-jobs-per-caller", "N",
       "jobs one caller (token, certificate, or address without --tokens) may have waiting, "
       "over all devices, 1..100000",
       "16"},
      {"tls-cert", "FILE",
       "serve gRPC and HTTP over TLS with this PEM certificate (chain after it); with --tls-key",
       ""},
      {"tls-key", "FILE", "the certificate's PEM private key", ""},
      {"tls-client-ca", "FILE",
       "require a client certificate signed by a CA in this PEM file (mutual TLS)", ""},
      {"tokens", "FILE",
       "bearer tokens and certificate names with roles read, run, admin (docs/SECURITY.md); "
       "without it every caller may do everything",
       ""},
      {"insecure", "", "allow listening off loopback without TLS (warned about at start and in "
                       "HostInfo.security)", ""},
      {"unix-socket", "PATH",
       "also serve gRPC on this Unix socket (mode 0660: the owner and group may connect)", ""},
      {"version", "", "print flopd's version and exit", ""},
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

// An exception nobody caught, in any thread: typically std::system_error
// when a thread cannot be started, or std::bad_alloc, under a tight ulimit.
// One line saying so and exit status 2, instead of abort()'s core dump (and
// without unwinding: threads still running would make it hang).
void OnTerminate() {
  std::string what = "an unknown error";
  if (std::exception_ptr error = std::current_exception()) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
  }
  const std::string line = "flopd: cannot go on: " + what +
                           " (out of memory or threads? see ulimit -v and -u)\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
  _exit(2);
}

// abort() from a library (gRPC, OpenBLAS) that gave up, typically for want
// of memory or threads at start: one line saying so before the default
// action (the core dump, if enabled).
extern "C" void OnAbort(int) {
  static const char kLine[] =
      "flopd: aborted (a library gave up: out of memory or threads? see ulimit -v and -u, and the "
      "lines above)\n";
  (void)!write(STDERR_FILENO, kLine, sizeof(kLine) - 1);
  signal(SIGABRT, SIG_DFL);
  raise(SIGABRT);
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

// How often gRPC re-reads the certificate files (its own file watcher; the
// HTTPS listener reloads on SIGHUP).
constexpr unsigned kCertificateRefreshSeconds = 5;

// A Unix socket at `path` that some process still accepts connections on
// (gRPC would unlink it and take the path over).
bool UnixSocketInUse(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, sizeof(address.sun_path) - 1);
  const bool in_use =
      connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return in_use;
}

// gRPC's credentials for the TCP listener: TLS from the files (re-read by
// gRPC's FileWatcherCertificateProvider), requiring a verified client
// certificate with a client CA; plaintext without TLS.
std::shared_ptr<grpc::ServerCredentials> GrpcCredentials(const TlsFiles* tls) {
  if (tls == nullptr) return grpc::InsecureServerCredentials();
  using grpc::experimental::FileWatcherCertificateProvider;
  const TlsPaths& paths = tls->paths();
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider =
      tls->requires_client_certificates()
          ? std::make_shared<FileWatcherCertificateProvider>(
                paths.private_key, paths.certificate, paths.client_ca, kCertificateRefreshSeconds)
          : std::make_shared<FileWatcherCertificateProvider>(paths.private_key, paths.certificate,
                                                             kCertificateRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (tls->requires_client_certificates()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
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
  if (flags->Has("version")) {
    std::cout << "flopd " << FLOPD_VERSION << "\n";
    return 0;
  }
  if (flags->Has("help")) {
    std::cout << "usage: flopd [flags]\n\nRuns flopctl's benchmark jobs on this host's devices, "
                 "streams the results back over gRPC,\nand keeps every job and result in its "
                 "store (the state directory) for the history API.\n\n"
              << FlagsHelp(Flags());
    return 0;
  }
  if (!flags->positional.empty()) return Fail("unexpected argument '" + flags->positional[0] + "'");
  // Before any thread starts: this may restart flopd with other OpenBLAS kernels.
  if (absl::Status core = ApplyOpenBlasCoreChoice(
          flags->Has("openblas-coretype") ? flags->Get("openblas-coretype") : "auto", argv);
      !core.ok()) {
    return Fail(std::string(core.message()));
  }

  BackendConfig config;
  // Threads: a job may ask for up to --max-threads-per-job (default the
  // CPUs flopd may run on: more only time-slices them), and so may flopd's
  // own default; 1024 is the most flopd will ever start for one job.
  const int usable_cpus = UsableCpus();
  int max_threads_per_job = std::min(usable_cpus, 1024);
  if (flags->Has("max-threads-per-job") &&
      (!absl::SimpleAtoi(flags->Get("max-threads-per-job"), &max_threads_per_job) ||
       max_threads_per_job < 1 || max_threads_per_job > 1024)) {
    return Fail("--max-threads-per-job: '" +
                Sanitized(flags->Get("max-threads-per-job"), kQuotedValueBytes) +
                "' is not allowed; allowed 1..1024");
  }
  if (flags->Has("threads")) {
    if (!absl::SimpleAtoi(flags->Get("threads"), &config.cpu_threads) || config.cpu_threads < 1 ||
        config.cpu_threads > max_threads_per_job) {
      return Fail(absl::StrCat("--threads: '", Sanitized(flags->Get("threads"), kQuotedValueBytes),
                               "' is not allowed; allowed 1..", max_threads_per_job,
                               flags->Has("max-threads-per-job")
                                   ? " (--max-threads-per-job)"
                                   : absl::StrCat(" (the ", usable_cpus,
                                                  " CPUs flopd may run on; raise "
                                                  "--max-threads-per-job, up to 1024, to "
                                                  "oversubscribe them)")));
    }
  } else if (max_threads_per_job < usable_cpus) {
    config.cpu_threads = max_threads_per_job;
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
  limits.max_threads_per_job = max_threads_per_job;
  ServiceLimits service_limits;
  if (flags->Has("max-streams") &&
      (!absl::SimpleAtoi(flags->Get("max-streams"), &service_limits.max_streams) ||
       service_limits.max_streams < 1 || service_limits.max_streams > 10000)) {
    return Fail("--max-streams: '" + Sanitized(flags->Get("max-streams"), kQuotedValueBytes) +
                "' is not allowed; allowed 1..10000");
  }
  if (flags->Has("max-stream-buffer-kib")) {
    int64_t kib = 0;
    if (!absl::SimpleAtoi(flags->Get("max-stream-buffer-kib"), &kib) || kib < 1 ||
        kib > 1048576) {
      return Fail("--max-stream-buffer-kib: '" +
                  Sanitized(flags->Get("max-stream-buffer-kib"), kQuotedValueBytes) +
                  "' is not allowed; allowed 1..1048576");
    }
    limits.max_stream_buffer_bytes = kib * 1024;
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
  if (flags->Has("max-queued-jobs-per-caller") &&
      (!absl::SimpleAtoi(flags->Get("max-queued-jobs-per-caller"),
                         &limits.max_waiting_jobs_per_owner) ||
       limits.max_waiting_jobs_per_owner < 1 || limits.max_waiting_jobs_per_owner > 100000)) {
    return Fail("--max-queued-jobs-per-caller: '" +
                Sanitized(flags->Get("max-queued-jobs-per-caller"), kQuotedValueBytes) +
                "' is not allowed; allowed 1..100000");
  }

  // Security (docs/SECURITY.md): TLS, who may do what, and where plaintext
  // may listen. Every file is read now: a bad one stops the start.
  v1::Security security;
  std::unique_ptr<TlsFiles> tls;
  if (flags->Has("tls-cert") != flags->Has("tls-key")) {
    return Fail("--tls-cert and --tls-key go together: give both or neither");
  }
  if (flags->Has("tls-client-ca") && !flags->Has("tls-cert")) {
    return Fail("--tls-client-ca: needs --tls-cert and --tls-key (mutual TLS is TLS)");
  }
  if (flags->Has("tls-cert")) {
    absl::StatusOr<std::unique_ptr<TlsFiles>> loaded = TlsFiles::Load(
        {flags->Get("tls-cert"), flags->Get("tls-key"), flags->Get("tls-client-ca")});
    if (!loaded.ok()) return Fail(std::string(loaded.status().message()));
    tls = *std::move(loaded);
  }
  std::unique_ptr<AccessControl> access;
  if (flags->Has("tokens")) {
    absl::StatusOr<std::unique_ptr<AccessControl>> loaded =
        AccessControl::FromFile(flags->Get("tokens"));
    if (!loaded.ok()) return Fail(absl::StrCat("--tokens: ", loaded.status().message()));
    access = *std::move(loaded);
    struct stat st;
    if (stat(flags->Get("tokens").c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      security.add_warnings(absl::StrFormat(
          "--tokens: %s may be read or changed by other users (mode %04o); chmod 600 it",
          flags->Get("tokens"), st.st_mode & 07777));
    }
  }
  const bool insecure = flags->Has("insecure");
  security.set_tls(tls != nullptr);
  security.set_client_certificates(tls != nullptr && tls->requires_client_certificates());
  security.set_tokens(access != nullptr);
  security.set_insecure(insecure);
  std::vector<std::pair<std::string, std::string>> listeners = {{"listen", listen}};
  if (serve_http) listeners.emplace_back("http-listen", http_options.address);
  for (const auto& [flag, address] : listeners) {
    if (IsLoopbackHost(ParseHostPort(address)->host)) continue;
    if (tls == nullptr && !insecure) {
      return Fail(absl::StrCat(
          "--", flag, ": ", address,
          " can be reached from other machines and would be served without TLS: anyone who can "
          "reach it could run jobs here and read every result. Give --tls-cert and --tls-key "
          "(and --tokens), or --insecure to accept that"));
    }
    if (tls == nullptr) {
      security.add_warnings(absl::StrCat(
          "serving ", address, " (--", flag, ") without TLS (--insecure): traffic can be read and "
          "changed on the network; ",
          access ? "bearer tokens from other machines are refused"
                 : "anyone who can reach it may run jobs and read results"));
    } else if (access == nullptr && !tls->requires_client_certificates()) {
      security.add_warnings(absl::StrCat(
          "serving ", address, " (--", flag, ") over TLS but without --tokens or "
          "--tls-client-ca: anyone who can reach it may run jobs and read results"));
    }
  }
  const std::string unix_socket = flags->Get("unix-socket");
  if (flags->Has("unix-socket")) {
    if (unix_socket.empty() || unix_socket.size() >= sizeof(sockaddr_un::sun_path)) {
      return Fail(absl::StrCat("--unix-socket: a path of 1..", sizeof(sockaddr_un::sun_path) - 1,
                               " bytes is needed"));
    }
    if (UnixSocketInUse(unix_socket)) {
      return Fail(absl::StrCat("--unix-socket: ", unix_socket,
                               " is in use by a running process (another flopd?); pick another"));
    }
    security.set_unix_socket(unix_socket);
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
  sigaction(SIGHUP, &action, nullptr);  // reloads the tokens and certificates
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
  FlopdService service(&scheduler, hostname, &history, access.get(), security, service_limits);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(listen, GrpcCredentials(tls.get()), &bound_port);
  // Local only: plaintext, tokens accepted (a local peer), the socket's
  // mode 0660 deciding who may connect at all.
  if (!unix_socket.empty()) {
    builder.AddListeningPort("unix:" + unix_socket, grpc::InsecureServerCredentials());
  }
  // No SO_REUSEPORT: a second flopd on an address in use fails to start
  // instead of sharing the port (and the devices) with the first.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // flopctl pings every 10 s to find a daemon that stopped answering while a
  // job is silent; accept pings that often, with or without calls (gRPC's
  // default would answer them with GOAWAY "too_many_pings").
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  ApplyServiceLimits(service_limits, &builder);
  builder.RegisterService(&service);
  gpr_set_log_function(GrpcLog);
  std::string grpc_log;
  {
    std::lock_guard<std::mutex> lock(g_grpc_log_mu);
    g_grpc_log_kept = &grpc_log;
  }
  const mode_t old_umask = umask(0117);  // the Unix socket: rw for owner and group
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  umask(old_umask);
  {
    std::lock_guard<std::mutex> lock(g_grpc_log_mu);
    g_grpc_log_kept = nullptr;
  }
  if (!server || bound_port == 0) {
    const std::string why = OsError(grpc_log);
    if (!unix_socket.empty() && grpc_log.find(unix_socket) != std::string::npos) {
      return Fail("--unix-socket: cannot listen on " + unix_socket + ": " +
                  (OsError(grpc_log).empty() ? "see the log" : OsError(grpc_log)));
    }
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
    http_options.tls = tls.get();
    http_options.access = access.get();
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
  for (const std::string& warning : security.warnings()) {
    std::cerr << "flopd: WARNING: " << warning << "\n";
  }
  std::cerr << "flopd: " << (tls ? absl::StrCat("TLS ", tls->Describe(),
                                                 tls->requires_client_certificates()
                                                     ? ", client certificates required"
                                                     : "")
                                  : std::string("no TLS"))
            << "; " << (access ? absl::StrCat("tokens from ", access->tokens_file(), ": ",
                                              access->Summary())
                               : std::string("no --tokens: every caller may do everything"))
            << "\n";
  std::thread signal_waiter([&] {
    int signal_number = 0;
    while (true) {
      if (read(g_signal_pipe[0], &signal_number, sizeof(signal_number)) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (signal_number != SIGHUP) break;
      // SIGHUP: the tokens and the HTTPS certificates now (gRPC re-reads its
      // certificate files itself); what fails to load is reported and the
      // old one kept.
      std::cerr << "flopd: received SIGHUP, reloading\n";
      if (access) {
        const absl::Status reloaded = access->Reload();
        LogLine(reloaded.ok() ? absl::StrCat("tokens reloaded: ", access->Summary())
                              : absl::StrCat("tokens NOT reloaded, the old ones stay: ",
                                             reloaded.message()));
      }
      if (tls) {
        const absl::Status reloaded = tls->Reload();
        LogLine(reloaded.ok()
                    ? absl::StrCat("certificates reloaded: ", tls->Describe(),
                                   " (gRPC re-reads them within ", kCertificateRefreshSeconds,
                                   " s)")
                    : absl::StrCat("certificates NOT reloaded, the old ones stay: ",
                                   reloaded.message()));
      }
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
  // Every thread flopd needs to run is started by now: a start that fails
  // for want of threads or memory never claims to listen (see OnTerminate).
  const std::string host_part = listen.substr(0, listen.rfind(':'));
  std::cout << "flopd " << kFlopdVersion << " listening on " << host_part << ":" << bound_port
            << " as " << hostname << std::endl;
  if (!unix_socket.empty()) std::cout << "flopd listening on unix:" << unix_socket << std::endl;
  if (http) {
    std::cout << "flopd http serving on " << (tls ? "https://" : "http://") << http->address()
              << "/" << std::endl;
  }
  for (int slot = 0; slot < scheduler.device_count(); ++slot) {
    const DeviceDescription& d = scheduler.device(slot).Describe();
    std::cout << "flopd device " << d.id << ": " << d.name << " (" << d.library << ")"
              << std::endl;
  }
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

int main(int argc, char** argv) {
  std::set_terminate(flopd::OnTerminate);
  std::signal(SIGABRT, flopd::OnAbort);
  return flopd::Main(argc, argv);
}
