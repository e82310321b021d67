#include "server/machine_state.h"

#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

// One second on 2 usable CPUs of a 2-CPU host, at `hz` ticks a second.
MachineSnapshot Before() {
  MachineSnapshot s;
  s.monotonic_seconds = 100;
  s.cpu_total_ticks = 10000;
  s.cpu_idle_ticks = 5000;
  s.cpu_steal_ticks = 0;
  s.self_ticks = 1000;
  s.load_1m = 0.5;
  s.cpu_mhz = 3000;
  return s;
}

TEST(MachineState, AQuietPointIsObservedAndNotWarnedAbout) {
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  MachineSnapshot before = Before(), after = Before();
  after.monotonic_seconds += 1;
  after.cpu_total_ticks += static_cast<uint64_t>(2 * hz);  // 2 CPUs x 1 s
  after.self_ticks += static_cast<uint64_t>(2 * hz);       // all of it flopd's own
  after.load_1m = 2.0;
  std::map<std::string, std::string> observations;
  std::vector<std::string> warnings;
  DescribeMachineDuring(before, after, 2, &observations, &warnings);
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  EXPECT_EQ(observations["other_cpu_share"], "0.0%");
  EXPECT_EQ(observations["cpu_steal_share"], "0.0%");
  EXPECT_EQ(observations["load_avg_1m"], "2.00");
  EXPECT_EQ(observations["cpu_mhz_before"], "3000");
}

TEST(MachineState, OtherProcessesStealLoadAndAClockChangeAreWarnings) {
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  MachineSnapshot before = Before(), after = Before();
  after.monotonic_seconds += 1;
  after.cpu_total_ticks += static_cast<uint64_t>(2 * hz);
  after.cpu_steal_ticks += static_cast<uint64_t>(0.2 * hz);  // 10% of the ticks stolen
  after.self_ticks += static_cast<uint64_t>(1.0 * hz);        // flopd: half; others: 0.8 CPU-s
  after.load_1m = 4.5;                                         // > 2 CPUs + 1
  after.cpu_mhz = 2000;                                        // -33%
  std::map<std::string, std::string> observations;
  std::vector<std::string> warnings;
  DescribeMachineDuring(before, after, 2, &observations, &warnings);
  ASSERT_EQ(warnings.size(), 4u);
  EXPECT_TRUE(absl::StrContains(warnings[0], "other processes used 40.0% of the 2 CPU(s)")) << warnings[0];
  EXPECT_TRUE(absl::StrContains(warnings[1], "CPU steal 10.0%")) << warnings[1];
  EXPECT_TRUE(absl::StrContains(warnings[2], "load average 4.50 on 2 usable CPU(s)")) << warnings[2];
  EXPECT_TRUE(absl::StrContains(warnings[3], "from 3000 to 2000 MHz")) << warnings[3];
}

TEST(MachineState, AnIntervalTooShortToJudgeSaysNothingOfCpuShares) {
  MachineSnapshot before = Before(), after = Before();
  after.cpu_total_ticks += 5;  // < 20 ticks
  after.load_1m = -1;          // unreadable
  after.cpu_mhz = 0;           // no cpufreq
  std::map<std::string, std::string> observations;
  std::vector<std::string> warnings;
  DescribeMachineDuring(before, after, 2, &observations, &warnings);
  EXPECT_TRUE(observations.empty());
  EXPECT_TRUE(warnings.empty());
}

TEST(MachineState, TheRealMachineIsReadable) {
  const MachineSnapshot now = TakeMachineSnapshot();
  EXPECT_GT(now.cpu_total_ticks, 0u) << "/proc/stat";
  EXPECT_GE(now.load_1m, 0);
  EXPECT_GE(UsableCpuCount(), 1);
  EXPECT_FALSE(HostIdentityObservations().at("cpu_model").empty());
}

}  // namespace
}  // namespace flopd
