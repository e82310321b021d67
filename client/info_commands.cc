// flopctl ops and flopctl info: what a host can run and what it runs on.
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/commands.h"
#include "client/host_client.h"
#include "common/command_line.h"

namespace flopd {
namespace {

const std::vector<FlagSpec>& HostFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"host", "H[,H...]", "flopd hosts; port 50051 is added when missing", "127.0.0.1"},
      {"help", "", "show this help", ""},
  };
  return *flags;
}

// Parses the shared flags; returns false after printing help or an error
// (then *exit_code is set).
bool ParseHostFlags(const std::vector<std::string>& args, const std::string& usage,
                    std::vector<std::string>* hosts, int* exit_code) {
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, HostFlags());
  if (!flags.ok()) {
    *exit_code = UsageError(std::string(flags.status().message()));
    return false;
  }
  if (flags->Has("help")) {
    std::cout << usage << "\n" << FlagsHelp(HostFlags());
    *exit_code = 0;
    return false;
  }
  if (!flags->positional.empty()) {
    *exit_code = UsageError("unexpected argument '" + flags->positional[0] + "'; see --help");
    return false;
  }
  *hosts = SplitList(flags->Get("host", "127.0.0.1"));
  if (hosts->empty()) {
    *exit_code = UsageError("host: no host given; expected H[,H...]");
    return false;
  }
  return true;
}

std::string Bytes(int64_t bytes) { return absl::StrFormat("%.1f GiB", bytes / 1073741824.0); }

}  // namespace

int UsageError(const std::string& message) {
  std::cerr << "flopctl: " << message << "\n";
  return 2;
}

int OpsCommand(const std::vector<std::string>& args) {
  std::vector<std::string> hosts;
  int exit_code = 0;
  if (!ParseHostFlags(args, "usage: flopctl ops [--host H]\n\nLists the op catalog of a flopd host.",
                      &hosts, &exit_code)) {
    return exit_code;
  }
  HostClient client(hosts[0]);
  absl::StatusOr<v1::ListOpsResponse> ops = client.ListOps();
  if (!ops.ok()) {
    std::cerr << "flopctl: " << client.address() << ": " << ops.status().message() << "\n";
    return 1;
  }
  for (const v1::OpInfo& op : ops->ops()) {
    std::cout << op.name() << ": " << op.description() << "\n"
              << "  FLOPs:       " << op.flop_formula() << "\n"
              << "  min bytes:   " << op.min_bytes_formula() << " (the op itself)\n";
    for (const v1::OpParam& param : op.params()) {
      std::cout << "  param " << param.name() << " in {" << absl::StrJoin(param.allowed_values(), ", ")
                << "}: " << param.description() << "\n";
    }
    for (const v1::OpImpl& impl : op.impls()) {
      std::cout << absl::StrFormat("  %-5s %-8s bytes %-28s %s\n", impl.backend(), impl.name(),
                                   impl.min_bytes_formula(), impl.description());
    }
    std::cout << "\n";
  }
  return 0;
}

int InfoCommand(const std::vector<std::string>& args) {
  std::vector<std::string> hosts;
  int exit_code = 0;
  if (!ParseHostFlags(args, "usage: flopctl info [--host H[,H...]]\n\nShows each host's flopd, "
                            "health and devices.",
                      &hosts, &exit_code)) {
    return exit_code;
  }
  int failed = 0;
  for (const std::string& host : hosts) {
    HostClient client(host);
    absl::StatusOr<v1::HostInfo> info = client.GetHostInfo();
    if (!info.ok()) {
      std::cerr << "flopctl: " << client.address() << ": " << info.status().message() << "\n";
      ++failed;
      continue;
    }
    absl::StatusOr<std::string> health = client.Health();
    std::cout << client.address() << ": host " << info->hostname() << ", flopd "
              << info->flopd_version() << ", health "
              << (health.ok() ? *health : std::string(health.status().message())) << "\n";
    for (const v1::DeviceInfo& d : info->devices()) {
      std::cout << "  " << d.id() << "  " << d.name() << "  " << d.cores()
                << (d.backend() == "cpu" ? " threads" : " SMs") << ", memory "
                << Bytes(d.memory_bytes()) << " (flopd may use " << Bytes(d.memory_limit_bytes())
                << ")" << (d.healthy() ? "" : absl::StrCat("  UNHEALTHY: ", d.health_detail()))
                << "\n    default sizes " << d.default_sizes() << ", timing modes "
                << absl::StrJoin(d.timing_modes(), ", ") << ", jobs queued or running "
                << d.queued_jobs() << "\n";
      std::map<std::string, std::string> sorted(d.properties().begin(), d.properties().end());
      for (const auto& [key, value] : sorted) std::cout << "    " << key << ": " << value << "\n";
    }
    for (const std::string& reason : info->unavailable()) {
      std::cout << "  not offered: " << reason << "\n";
    }
  }
  return failed ? 1 : 0;
}

}  // namespace flopd
