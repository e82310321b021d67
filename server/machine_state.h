// What the host was doing while a point was measured, and what it is: read
// from /proc and /sys (Linux), so that a result measured on a busy or
// changing machine says so instead of looking real.
//
// A MachineSnapshot is taken before and after a point's sampling;
// DescribeMachineDuring compares the two and adds observations (readings)
// and warnings (the readings that make the number doubtful):
//   - other processes' CPU time: all CPUs' busy time (/proc/stat) minus
//     flopd's own (/proc/self/stat), as a share of the CPUs flopd may use;
//   - CPU steal (a hypervisor running other guests on our CPUs);
//   - the 1-minute load average against the CPUs flopd may use;
//   - the CPU clock (cpufreq's scaling_cur_freq, mean over flopd's CPUs)
//     changing by more than kClockChangeShare.
// Readings that are unavailable (no /proc/stat, no cpufreq) are skipped.
//
// Thread-safe: free functions reading files.
#ifndef FLOPD_SERVER_MACHINE_STATE_H_
#define FLOPD_SERVER_MACHINE_STATE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace flopd {

struct MachineSnapshot {
  double monotonic_seconds = 0;
  // /proc/stat "cpu" line, in clock ticks; total 0 when unreadable.
  uint64_t cpu_total_ticks = 0;
  uint64_t cpu_idle_ticks = 0;   // idle + iowait
  uint64_t cpu_steal_ticks = 0;
  uint64_t self_ticks = 0;       // this process's user + system time
  double load_1m = -1;           // -1 when unreadable
  double cpu_mhz = 0;            // mean scaling_cur_freq of the usable CPUs; 0 when unreadable
};

MachineSnapshot TakeMachineSnapshot();

// Shares above these become warnings.
inline constexpr double kOtherProcessesShare = 0.10;
inline constexpr double kStealShare = 0.02;
inline constexpr double kClockChangeShare = 0.10;

// The CPU time of the interval between two snapshots: other processes'
// share of the CPUs flopd may use (`cpus_usable`), and steal's share of all
// CPU time. Both -1 when the interval is under 20 clock ticks over all CPUs
// (too coarse to judge) or /proc/stat was unreadable.
struct CpuShares {
  double other_processes = -1;
  double steal = -1;
};
CpuShares CpuSharesDuring(const MachineSnapshot& before, const MachineSnapshot& after,
                          int cpus_usable);

// Compares two snapshots (before -> after one point). `cpus_usable` is the
// number of CPUs flopd may run on. Writes observations "other_cpu_share",
// "cpu_steal_share", "load_avg_1m", "cpu_mhz_before"/"cpu_mhz_after" and
// appends warnings for the readings past the thresholds above. Intervals
// shorter than 20 clock ticks over all CPUs are too coarse to judge CPU
// shares: those are then neither observed nor warned about.
void DescribeMachineDuring(const MachineSnapshot& before, const MachineSnapshot& after,
                           int cpus_usable, std::map<std::string, std::string>* observations,
                           std::vector<std::string>* warnings);

// The host's identity, read once: "cpu_model" (/proc/cpuinfo's model name),
// "cpu_governor" (cpufreq's scaling_governor of the first usable CPU) where
// readable.
const std::map<std::string, std::string>& HostIdentityObservations();

// CPUs this process may run on (sched_getaffinity), at least 1.
int UsableCpuCount();

}  // namespace flopd

#endif  // FLOPD_SERVER_MACHINE_STATE_H_
