// flopd: the benchmarking daemon. Serves flopd.v1.Flopd, the standard gRPC
// health service and server reflection on one address.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/command_line.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "server/backend/registry.h"
#include "server/flopd_service.h"
#include "server/scheduler.h"

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
      {"help", "", "show this help", ""},
  };
  return *flags;
}

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
    std::cout << "usage: flopd [flags]\n\nRuns flopctl's benchmark jobs on this host's devices "
                 "and streams the results back over gRPC.\n\n"
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
  const std::string hostname = flags->Get("hostname", MachineHostname());

  // SIGINT/SIGTERM only wake the thread below, which shuts down in order.
  // (A blocked-mask + sigwait scheme would miss signals delivered to threads
  // that libraries start before main, such as OpenBLAS's pool.)
  if (pipe(g_signal_pipe) != 0) return Fail("cannot create the signal pipe");
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  DeviceSet devices = CreateDevices(config);
  for (const std::string& reason : devices.unavailable) {
    std::cerr << "flopd: not offered: " << reason << "\n";
  }
  Scheduler scheduler(std::move(devices));
  FlopdService service(&scheduler, hostname);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &bound_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) return Fail("cannot listen on " + listen);

  const std::string host_part = listen.substr(0, listen.rfind(':'));
  std::cout << "flopd " << kFlopdVersion << " listening on " << host_part << ":" << bound_port
            << " as " << hostname << std::endl;
  for (int slot = 0; slot < scheduler.device_count(); ++slot) {
    const DeviceDescription& d = scheduler.device(slot).Describe();
    std::cout << "flopd device " << d.id << ": " << d.name << " (" << d.library << ")"
              << std::endl;
  }

  std::thread signal_waiter([&] {
    int signal_number = 0;
    while (read(g_signal_pipe[0], &signal_number, sizeof(signal_number)) < 0 && errno == EINTR) {
    }
    std::cerr << "flopd: received " << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
              << ", shutting down\n";
    server->GetHealthCheckService()->Shutdown();
    scheduler.Shutdown();  // running jobs end their streams with UNAVAILABLE
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
  });
  server->Wait();
  signal_waiter.join();
  std::cerr << "flopd: stopped\n";
  return 0;
}

}  // namespace
}  // namespace flopd

int main(int argc, char** argv) { return flopd::Main(argc, argv); }
