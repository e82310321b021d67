#include "server/machine_state.h"

#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace flopd {
namespace {

std::string ReadLineOf(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::vector<int> UsableCpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
  }
  return cpus;
}

double MeanCpuMhz(const std::vector<int>& cpus) {
  double sum = 0;
  int read = 0;
  for (int cpu : cpus) {
    const std::string khz =
        ReadLineOf(absl::StrCat("/sys/devices/system/cpu/cpu", cpu, "/cpufreq/scaling_cur_freq"));
    double value = 0;
    if (absl::SimpleAtod(khz, &value) && value > 0) {
      sum += value / 1000;
      ++read;
    }
  }
  return read > 0 ? sum / read : 0;
}

std::string Percent(double share) { return absl::StrFormat("%.1f%%", 100 * share); }

}  // namespace

int UsableCpuCount() { return std::max<int>(1, static_cast<int>(UsableCpus().size())); }

MachineSnapshot TakeMachineSnapshot() {
  MachineSnapshot s;
  s.monotonic_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice
  const std::string cpu_line = ReadLineOf("/proc/stat");
  std::vector<absl::string_view> fields = absl::StrSplit(cpu_line, ' ', absl::SkipEmpty());
  if (fields.size() >= 9 && fields[0] == "cpu") {
    uint64_t v[8] = {};
    bool ok = true;
    for (int i = 0; i < 8; ++i) ok = ok && absl::SimpleAtoi(fields[i + 1], &v[i]);
    if (ok) {
      // guest time is already inside user; total = the first eight fields.
      for (uint64_t x : v) s.cpu_total_ticks += x;
      s.cpu_idle_ticks = v[3] + v[4];
      s.cpu_steal_ticks = v[7];
    }
  }
  // /proc/self/stat: fields 14 and 15 (utime, stime) after the ")" of comm.
  const std::string self = ReadLineOf("/proc/self/stat");
  const size_t paren = self.rfind(')');
  if (paren != std::string::npos) {
    std::vector<absl::string_view> rest =
        absl::StrSplit(absl::string_view(self).substr(paren + 1), ' ', absl::SkipEmpty());
    // rest[0] is field 3 (state); utime is field 14 -> rest[11], stime rest[12].
    uint64_t utime = 0, stime = 0;
    if (rest.size() > 12 && absl::SimpleAtoi(rest[11], &utime) &&
        absl::SimpleAtoi(rest[12], &stime)) {
      s.self_ticks = utime + stime;
    }
  }
  double load[1];
  if (getloadavg(load, 1) == 1) s.load_1m = load[0];
  s.cpu_mhz = MeanCpuMhz(UsableCpus());
  return s;
}

CpuShares CpuSharesDuring(const MachineSnapshot& before, const MachineSnapshot& after,
                          int cpus_usable) {
  CpuShares shares;
  const uint64_t total = after.cpu_total_ticks - before.cpu_total_ticks;
  if (before.cpu_total_ticks == 0 || after.cpu_total_ticks < before.cpu_total_ticks ||
      total < 20) {
    return shares;
  }
  const double busy = static_cast<double>(total - (after.cpu_idle_ticks - before.cpu_idle_ticks) -
                                          (after.cpu_steal_ticks - before.cpu_steal_ticks));
  const double ours = static_cast<double>(after.self_ticks - before.self_ticks);
  // /proc/stat counts every CPU of the host; the share is of the CPUs flopd
  // may use (the ticks those CPUs had in the interval).
  const long hz = sysconf(_SC_CLK_TCK);
  const double seconds = after.monotonic_seconds - before.monotonic_seconds;
  const double usable_ticks = std::max(1.0, seconds * hz * std::max(1, cpus_usable));
  shares.other_processes = std::clamp((busy - ours) / usable_ticks, 0.0, 1.0);
  shares.steal = static_cast<double>(after.cpu_steal_ticks - before.cpu_steal_ticks) / total;
  return shares;
}

void DescribeMachineDuring(const MachineSnapshot& before, const MachineSnapshot& after,
                           int cpus_usable, std::map<std::string, std::string>* observations,
                           std::vector<std::string>* warnings) {
  const CpuShares shares = CpuSharesDuring(before, after, cpus_usable);
  if (shares.other_processes >= 0) {
    const double others = shares.other_processes;
    (*observations)["other_cpu_share"] = Percent(others);
    if (others > kOtherProcessesShare) {
      warnings->push_back(absl::StrCat("busy machine: other processes used ", Percent(others),
                                       " of the ", cpus_usable,
                                       " CPU(s) flopd may use while this point was measured"));
    }
    const double steal = shares.steal;
    (*observations)["cpu_steal_share"] = Percent(steal);
    if (steal > kStealShare) {
      warnings->push_back(absl::StrCat("CPU steal ", Percent(steal),
                                       ": the hypervisor ran other guests on this host's CPUs "
                                       "while this point was measured"));
    }
  }
  if (after.load_1m >= 0) {
    (*observations)["load_avg_1m"] = absl::StrFormat("%.2f", after.load_1m);
    // flopd's own CPU threads are part of the load: only a load beyond every
    // usable CPU (plus one, for rounding and flopd's service threads) means
    // something else wanted the CPUs.
    if (after.load_1m > cpus_usable + 1.0) {
      warnings->push_back(absl::StrFormat(
          "busy machine: 1-minute load average %.2f on %d usable CPU(s)", after.load_1m,
          cpus_usable));
    }
  }
  if (before.cpu_mhz > 0 && after.cpu_mhz > 0) {
    (*observations)["cpu_mhz_before"] = absl::StrFormat("%.0f", before.cpu_mhz);
    (*observations)["cpu_mhz_after"] = absl::StrFormat("%.0f", after.cpu_mhz);
    const double change = std::abs(after.cpu_mhz - before.cpu_mhz) / before.cpu_mhz;
    if (change > kClockChangeShare) {
      warnings->push_back(absl::StrFormat(
          "CPU clock changed from %.0f to %.0f MHz (mean over flopd's CPUs) during this point",
          before.cpu_mhz, after.cpu_mhz));
    }
  }
}

const std::map<std::string, std::string>& HostIdentityObservations() {
  static const std::map<std::string, std::string>* identity = [] {
    auto* id = new std::map<std::string, std::string>;
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
      if (absl::StartsWith(line, "model name")) {
        const size_t colon = line.find(':');
        if (colon != std::string::npos) {
          (*id)["cpu_model"] =
              std::string(absl::StripAsciiWhitespace(absl::string_view(line).substr(colon + 1)));
        }
        break;
      }
    }
    const std::vector<int> cpus = UsableCpus();
    const std::string governor = ReadLineOf(absl::StrCat(
        "/sys/devices/system/cpu/cpu", cpus.empty() ? 0 : cpus.front(), "/cpufreq/scaling_governor"));
    if (!governor.empty()) (*id)["cpu_governor"] = governor;
    return id;
  }();
  return *identity;
}

}  // namespace flopd
