// flopctl ops and flopctl info: what a host can run and what it runs on.
#include "client/info_commands.h"

#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/commands.h"
#include "client/host_client.h"
#include "client/host_list.h"
#include "common/command_line.h"
#include "common/roofline.h"

namespace flopd {
namespace {

const std::vector<FlagSpec>& HostFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"host", "H[,H...]", "flopd hosts; port 50051 is added when missing; also a hostlist gpu[01-16], @FILE, dns:NAME[:PORT] or slurm", "127.0.0.1"},
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
  absl::StatusOr<std::vector<std::string>> expanded =
      ExpandHostAddresses(flags->Get("host", "127.0.0.1"));
  if (!expanded.ok()) {
    *exit_code = UsageError(std::string(expanded.status().message()));
    return false;
  }
  *hosts = *std::move(expanded);
  return true;
}

}  // namespace

// The device's ceilings, measured beside derived, with their age, or why
// there are none.
std::string CeilingsText(const v1::DeviceInfo& d, int64_t now_unix_ms,
                         int64_t flopd_started_unix_ms) {
  if (!d.has_ceilings()) {
    return absl::StrCat("    ceilings: ",
                        d.ceilings_status().empty() ? "not measured" : d.ceilings_status(),
                        d.ceilings_status() == "not measured yet"
                            ? " (measured on the first job, or now with --ceilings)"
                            : "",
                        "\n");
  }
  const v1::DeviceCeilings& c = d.ceilings();
  const std::string age =
      CeilingsAgeText(c.measured_unix_ms(), now_unix_ms, flopd_started_unix_ms);
  std::string out = absl::StrFormat(
      "    ceilings (%s%sUTC in %.2f s%s):\n      memory bandwidth  %.4g GB/s measured%s\n",
      age.empty() ? "measured " : absl::StrCat(age, "; at "),
      absl::FormatTime("%Y-%m-%d %H:%M:%S ", absl::FromUnixMillis(c.measured_unix_ms()),
                       absl::UTCTimeZone()),
      c.seconds_spent(),
      c.attempts() > 1 ? absl::StrFormat(", %d attempts: the first was doubtful", c.attempts())
                       : "",
      c.bandwidth_bytes_per_s() / 1e9,
      c.derived_bandwidth_bytes_per_s() > 0
          ? absl::StrFormat(", %.4g GB/s theoretical (%.0f%% of it)",
                            c.derived_bandwidth_bytes_per_s() / 1e9,
                            100 * c.bandwidth_bytes_per_s() / c.derived_bandwidth_bytes_per_s())
          : "");
  std::map<std::string, double> peaks(c.peak_flops_per_s().begin(), c.peak_flops_per_s().end());
  for (const auto& [dtype, flops] : peaks) {
    auto derived = c.derived_peak_flops_per_s().find(dtype);
    absl::StrAppend(
        &out, absl::StrFormat("      peak %-4s         %.4g GFLOP/s measured", dtype, flops / 1e9),
        derived == c.derived_peak_flops_per_s().end()
            ? ""
            : absl::StrFormat(", %.4g GFLOP/s derived (%.0f%% of it)", derived->second / 1e9,
                              100 * flops / derived->second),
        c.bandwidth_bytes_per_s() > 0
            ? absl::StrFormat(", ridge %.3g FLOP/byte", flops / c.bandwidth_bytes_per_s())
            : "",
        "\n");
  }
  absl::StrAppend(&out, absl::StrFormat("      clock             %.3f GHz\n", c.clock_hz() / 1e9),
                  "      latency bound below ", absl::StrFormat("%.3g", c.latency_threshold_seconds() * 1e6),
                  " µs (time > 4x floor)\n", "      how: ", c.method(), "\n      clock: ",
                  c.clock_method(), "\n");
  if (!c.derived_method().empty()) absl::StrAppend(&out, "      derived: ", c.derived_method(), "\n");
  for (const auto& [dtype, flops] : c.kernel_isa_peak_flops_per_s()) {
    absl::StrAppend(&out, absl::StrFormat("      peak %-4s         %.4g GFLOP/s with %s (flopd's own kernels' roof)\n",
                                          dtype, flops / 1e9, c.kernel_isa()));
  }
  for (const std::string& doubt : c.doubts()) absl::StrAppend(&out, "      DOUBTFUL: ", doubt, "\n");
  return out;
}

namespace {

std::string Bytes(int64_t bytes) { return absl::StrFormat("%.1f GiB", bytes / 1073741824.0); }

// The result store: where, how much, what is kept, and anything lost.
std::string StoreText(const v1::StoreStatus& s) {
  if (s.state().empty()) return "";  // a flopd older than the store
  std::string out = absl::StrCat("  store: ", s.state());
  if (s.state() == "ok" || s.state() == "degraded") {
    absl::StrAppend(&out, ", ", s.path(), ", ", s.results(), " results, ", s.jobs(), " jobs, ",
                    absl::StrFormat("%.1f MiB", s.bytes() / 1048576.0), ", retention ",
                    s.retention());
  }
  if (!s.detail().empty()) absl::StrAppend(&out, "\n    ", s.detail());
  if (s.results_not_stored() > 0) {
    absl::StrAppend(&out, "\n    ", s.results_not_stored(),
                    " result(s) measured since flopd started were NOT stored");
  }
  return out + "\n";
}

// What one job or caller may take (HostInfo.limits), or "" from a flopd
// that does not say.
std::string LimitsText(const v1::Limits& l) {
  if (l.max_points_per_job() == 0) return "";
  return absl::StrFormat(
      "  limits: %d jobs waiting per device, %d per caller, %d points and %.4g h per job\n",
      l.max_queued_jobs_per_device(), l.max_queued_jobs_per_identity(), l.max_points_per_job(),
      l.max_job_seconds() / 3600);
}

// How the host is protected and who flopctl is to it: "  security: TLS,
// client certificates, tokens; you are token:alice (run)" and any warning.
std::string SecurityText(const v1::Security& s) {
  std::vector<std::string> parts;
  if (s.tls()) parts.push_back("TLS");
  if (s.client_certificates()) parts.push_back("client certificates");
  if (s.tokens()) parts.push_back("tokens");
  if (!s.unix_socket().empty()) parts.push_back(absl::StrCat("unix socket ", s.unix_socket()));
  if (parts.empty()) parts.push_back("no TLS, no tokens");
  std::string out = absl::StrCat("  security: ", absl::StrJoin(parts, ", "));
  if (!s.you().empty()) absl::StrAppend(&out, "; you are ", s.you(), " (", s.your_role(), ")");
  out += "\n";
  for (const std::string& warning : s.warnings()) absl::StrAppend(&out, "    WARNING: ", warning, "\n");
  return out;
}

}  // namespace

int UsageError(const std::string& message) {
  std::cerr << "flopctl: " << message << "\n";
  return 2;
}

std::string CatalogText(const v1::ListOpsResponse& ops) {
  std::string out;
  for (const v1::OpInfo& op : ops.ops()) {
    absl::StrAppend(&out, op.name(), ": ", op.description(), "\n", "  FLOPs:       ",
                    op.flop_formula(), "\n", "  min bytes:   ", op.min_bytes_formula(),
                    " (the op itself)\n");
    if (!op.n_meaning().empty()) absl::StrAppend(&out, "  N:           ", op.n_meaning(), "\n");
    if (!op.default_sizes().empty()) {
      // Sorted by backend: the map's order is not the wire's.
      std::map<std::string, std::string> sizes(op.default_sizes().begin(),
                                               op.default_sizes().end());
      std::vector<std::string> parts;
      for (const auto& [backend, spec] : sizes) parts.push_back(absl::StrCat(backend, " ", spec));
      absl::StrAppend(&out, "  sizes:       ", absl::StrJoin(parts, "; "),
                      " (default; other backends: the device's)\n");
    }
    if (!op.baseline().empty()) absl::StrAppend(&out, "  vs:          ", op.baseline(), "\n");
    for (const v1::OpParam& param : op.params()) {
      absl::StrAppend(&out, "  param ", param.name(), " in {",
                      absl::StrJoin(param.allowed_values(), ", "), "}: ", param.description(),
                      "\n");
    }
    for (const v1::OpImpl& impl : op.impls()) {
      absl::StrAppend(&out, absl::StrFormat("  %-5s %-12s bytes %-30s %s\n", impl.backend(),
                                            impl.name(), impl.min_bytes_formula(),
                                            impl.description()));
    }
    out += "\n";
  }
  return out;
}

std::string CatalogsText(const std::vector<std::pair<std::string, v1::ListOpsResponse>>& hosts) {
  if (hosts.size() == 1) return CatalogText(hosts[0].second);
  std::vector<std::pair<std::string, std::vector<std::string>>> catalogs;  // text, hosts
  for (const auto& [host, ops] : hosts) {
    const std::string text = CatalogText(ops);
    auto it = std::find_if(catalogs.begin(), catalogs.end(),
                           [&](const auto& c) { return c.first == text; });
    if (it == catalogs.end()) it = catalogs.insert(catalogs.end(), {text, {}});
    it->second.push_back(host);
  }
  constexpr size_t kNamed = 8;
  std::string out;
  for (const auto& [text, names] : catalogs) {
    std::vector<std::string> shown(names.begin(), names.begin() + std::min(names.size(), kNamed));
    absl::StrAppend(&out, "catalog of ", absl::StrJoin(shown, ", "),
                    names.size() > kNamed ? absl::StrCat(" and ", names.size() - kNamed, " more")
                                          : "",
                    " (", names.size(), names.size() == 1 ? " host" : " hosts",
                    catalogs.size() == 1 ? ", every host given" : "", "):\n\n", text);
  }
  return out;
}

int OpsCommand(const std::vector<std::string>& args) {
  std::vector<std::string> hosts;
  int exit_code = 0;
  if (!ParseHostFlags(args,
                      "usage: flopctl ops [--host H[,H...]]\n\nLists the op catalog of flopd "
                      "hosts: each distinct catalog once, naming the hosts that have it.",
                      &hosts, &exit_code)) {
    return exit_code;
  }
  // Every host at once, 64 at a time; reported in the order given.
  std::vector<absl::StatusOr<v1::ListOpsResponse>> answers(hosts.size(),
                                                           absl::UnknownError("not asked"));
  std::vector<std::string> addresses(hosts.size());
  constexpr size_t kAtOnce = 64;
  for (size_t begin = 0; begin < hosts.size(); begin += kAtOnce) {
    std::vector<std::thread> threads;
    for (size_t i = begin; i < std::min(hosts.size(), begin + kAtOnce); ++i) {
      threads.emplace_back([&, i] {
        HostClient client(hosts[i]);
        addresses[i] = client.address();
        answers[i] = client.ListOps();
      });
    }
    for (std::thread& t : threads) t.join();
  }
  std::vector<std::pair<std::string, v1::ListOpsResponse>> catalogs;
  int failed = 0;
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (!answers[i].ok()) {
      std::cerr << "flopctl: " << addresses[i] << ": " << answers[i].status().message() << "\n";
      ++failed;
      continue;
    }
    catalogs.emplace_back(addresses[i], *std::move(answers[i]));
  }
  if (!catalogs.empty()) std::cout << CatalogsText(catalogs);
  return failed ? 1 : 0;
}

int InfoCommand(const std::vector<std::string>& args) {
  static const auto* specs = new std::vector<FlagSpec>{
      HostFlags()[0],
      {"ceilings", "", "measure each device's ceilings now if not measured yet (seconds)", ""},
      {"remeasure", "", "measure the ceilings again even when cached", ""},
      HostFlags()[1],
  };
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, *specs);
  if (!flags.ok()) return UsageError(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << "usage: flopctl info [--host H[,H...]] [--ceilings]\n\nShows each host's flopd, "
                 "health and devices, with each device's measured ceilings\n(peak bandwidth, "
                 "peak FLOP/s per dtype, clock: measured on its first job or with --ceilings)\n"
                 "beside the datasheet-style figures derived from cores x FMA lanes x clock.\n\n"
              << FlagsHelp(*specs);
    return 0;
  }
  if (!flags->positional.empty()) {
    return UsageError("unexpected argument '" + flags->positional[0] + "'; see --help");
  }
  absl::StatusOr<std::vector<std::string>> expanded =
      ExpandHostAddresses(flags->Get("host", "127.0.0.1"));
  if (!expanded.ok()) return UsageError(std::string(expanded.status().message()));
  const std::vector<std::string>& hosts = *expanded;
  v1::GetHostInfoRequest request;
  request.set_measure_ceilings(flags->Has("ceilings"));
  request.set_remeasure_ceilings(flags->Has("remeasure"));
  int failed = 0;
  for (const std::string& host : hosts) {
    HostClient client(host);
    absl::StatusOr<v1::HostInfo> info = client.GetHostInfo(request);
    if (!info.ok()) {
      std::cerr << "flopctl: " << client.address() << ": " << info.status().message() << "\n";
      ++failed;
      continue;
    }
    absl::StatusOr<std::string> health = client.Health();
    std::cout << client.address() << ": host " << info->hostname() << ", flopd "
              << info->flopd_version() << ", health "
              << (health.ok() ? *health : std::string(health.status().message()))
              << (info->draining() ? ", DRAINING (no new job; flopctl drain --resume)" : "")
              << "\n";
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
      std::cout << CeilingsText(d, absl::ToUnixMillis(absl::Now()), info->started_unix_ms());
    }
    for (const std::string& reason : info->unavailable()) {
      std::cout << "  not offered: " << reason << "\n";
    }
    std::cout << StoreText(info->store()) << LimitsText(info->limits())
              << SecurityText(info->security());
  }
  return failed ? 1 : 0;
}

int DrainCommand(const std::vector<std::string>& args) {
  static const auto* specs = new std::vector<FlagSpec>{
      HostFlags()[0],
      {"resume", "", "take new jobs again", ""},
      {"help", "", "show this help", ""},
  };
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, *specs);
  if (!flags.ok()) return UsageError(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << "usage: flopctl drain [--host H[,H...]] [--resume]\n\nStops the hosts taking new "
                 "jobs (Run answers UNAVAILABLE, /readyz 503) while\ntheir queued and running "
                 "jobs go on; --resume takes jobs again. Needs the admin role.\n\n"
              << FlagsHelp(*specs);
    return 0;
  }
  if (!flags->positional.empty()) {
    return UsageError("unexpected argument '" + flags->positional[0] + "'; see --help");
  }
  absl::StatusOr<std::vector<std::string>> hosts =
      ExpandHostAddresses(flags->Get("host", "127.0.0.1"));
  if (!hosts.ok()) return UsageError(std::string(hosts.status().message()));
  int failed = 0;
  for (const std::string& host : *hosts) {
    HostClient client(host);
    absl::StatusOr<v1::DrainResponse> drained = client.Drain(flags->Has("resume"));
    if (!drained.ok()) {
      std::cerr << "flopctl: " << client.address() << ": " << drained.status().message() << "\n";
      ++failed;
      continue;
    }
    std::cout << client.address() << ": "
              << (drained->draining() ? "draining (no new job)" : "taking jobs") << ", "
              << drained->jobs_left() << " job(s) queued or running\n";
  }
  return failed ? 1 : 0;
}

}  // namespace flopd
