// A fleet as users name it and as it fails (issue 10): --host expanded from
// hostlists, hosts files and the Slurm allocation, duplicates dialed once,
// and a hung or unreachable host costing only itself, within its deadline.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/integration/process_harness.h"

namespace flopd::testing {
namespace {

using std::chrono::seconds;

const std::vector<std::string> kTinyJob = {"--op", "matvec", "--impl", "gemv", "--sizes", "16",
                                           "--samples", "1", "--iterations", "1", "--quiet",
                                           "--format", "jsonl"};

std::vector<std::string> RunArgs(const std::string& hosts, std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"run", "--host", hosts};
  args.insert(args.end(), kTinyJob.begin(), kTinyJob.end());
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

int ResultLines(const std::string& out) {
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(out, '\n')) lines += absl::StrContains(line, "\"op\"");
  return lines;
}

TEST(Fleet, HostlistsHostsFilesAndSlurmNameTheDaemonsAndEachRunsOnce) {
  auto a = Daemon::Start("fleet-a");
  auto b = Daemon::Start("fleet-b");
  // One hostlist expression over both ports, the same daemons again by
  // address: two jobs, not four.
  const std::string both = absl::StrCat("127.0.0.1:[", a->port(), ",", b->port(), "]");
  const CommandResult expression = RunFlopctl(RunArgs(absl::StrCat(both, ",", a->address(), ",",
                                                               b->address())));
  EXPECT_EQ(expression.exit_code, 0) << expression.err;
  EXPECT_EQ(ResultLines(expression.out), 2) << expression.out;
  EXPECT_TRUE(absl::StrContains(expression.out, "\"hostname\":\"fleet-a\"")) << expression.out;
  EXPECT_TRUE(absl::StrContains(expression.out, "\"hostname\":\"fleet-b\"")) << expression.out;

  const std::string file = TempDir() + "/hosts.txt";
  std::ofstream(file) << "# two daemons\n" << a->address() << "  first\n"
                      << b->address() << "\n" << a->address() << "\n";
  const CommandResult from_file = RunFlopctl(RunArgs("@" + file));
  EXPECT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_EQ(ResultLines(from_file.out), 2) << from_file.out;

  setenv("SLURM_JOB_NODELIST", "127.0.0.1", 1);
  const CommandResult slurm = RunFlopctl(RunArgs(absl::StrCat("slurm:", a->port())));
  unsetenv("SLURM_JOB_NODELIST");
  EXPECT_EQ(slurm.exit_code, 0) << slurm.err;
  EXPECT_EQ(ResultLines(slurm.out), 1) << slurm.out;

  // Malformed: exit 2, nothing sent.
  const CommandResult bad = RunFlopctl(RunArgs("gpu[3-1]"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad.err, "--host: 'gpu[3-1]': range 3-1 runs backwards"))
      << bad.err;
}

TEST(Fleet, AHungHostAndAnUnreachableOneCostOnlyThemselvesWithinTheirDeadlines) {
  auto healthy = Daemon::Start("healthy");
  auto hung = Daemon::Start("hung");
  hung->Signal(SIGSTOP);
  const auto start = std::chrono::steady_clock::now();
  // 127.0.0.1:1 refuses at once; the stopped daemon accepts TCP (its kernel
  // does) and never answers.
  const CommandResult result = RunFlopctl(
      RunArgs(absl::StrCat(healthy->address(), ",", hung->address(), ",127.0.0.1:1"),
          {"--connect-timeout", "3s", "--host-timeout", "20s"}),
      seconds(120));
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  hung->Signal(SIGCONT);
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_EQ(ResultLines(result.out), 1) << result.out;  // the healthy host's
  EXPECT_TRUE(absl::StrContains(result.out, "\"hostname\":\"healthy\"")) << result.out;
  EXPECT_TRUE(absl::StrContains(result.err, hung->address())) << result.err;
  EXPECT_TRUE(absl::StrContains(result.err, "127.0.0.1:1")) << result.err;
  // Bounded by the deadlines (20 s) plus start-up, not by the hung host.
  EXPECT_LT(wall, 40) << result.err;

  // The whole-run deadline ends what is left.
  hung->Signal(SIGSTOP);
  const CommandResult by_deadline =
      RunFlopctl(RunArgs(absl::StrCat(healthy->address(), ",", hung->address()),
                     {"--connect-timeout", "0", "--deadline", "5s"}),
                 seconds(120));
  hung->Signal(SIGCONT);
  EXPECT_EQ(by_deadline.exit_code, 1) << by_deadline.err;
  EXPECT_EQ(ResultLines(by_deadline.out), 1) << by_deadline.out;
  EXPECT_TRUE(absl::StrContains(by_deadline.err, "--deadline")) << by_deadline.err;
}

// `flopctl run` over a hosts file with labels: the table's columns are the
// labels (else the daemons' hostnames), and the fleet view after it flags a
// host throttled on purpose, and nothing when every host is alike.
TEST(Fleet, TheFleetViewNamesHostsAndFlagsAThrottledOne) {
  std::vector<std::unique_ptr<Daemon>> daemons;
  const std::string file = TempDir() + "/fleet-hosts.txt";
  {
    std::ofstream hosts(file);
    // Seven: with an odd count the slow member's own deviation is never part
    // of the MAD, which the others' spread sets; alike daemons run one after
    // another on a quiet 2-core VM were seen 25% apart.
    for (int i = 1; i <= 7; ++i) {
      daemons.push_back(Daemon::Start(absl::StrCat("node", i), {"--threads", "1"}));
      hosts << daemons.back()->address() << (i == 3 ? "  rack3-top" : "") << "\n";
    }
  }
  // One host at a time (--parallel 1), so that they do not slow each other.
  auto job = [&](const std::string& sizes) {
    return std::vector<std::string>{"run", "--host", "@" + file, "--op", "matvec", "--impl",
                                    "gemv", "--sizes", sizes, "--samples", "5", "--iterations",
                                    "40", "--parallel", "1", "--quiet"};
  };
  auto run = [&] { return RunFlopctl(job("1024,1536,2048,2560"), seconds(240)); };

  // Alike hosts: nothing flagged. A busy CI machine can slow one host's
  // points by itself; a flag then gets one more chance.
  CommandResult quiet = run();
  if (absl::StrContains(quiet.out, "SLOW") || absl::StrContains(quiet.out, "FAST")) quiet = run();
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_TRUE(absl::StrContains(quiet.out, "Fleet view: 7 host/device member(s), 4 point(s)"))
      << quiet.out;
  EXPECT_FALSE(absl::StrContains(quiet.out, "SLOW")) << quiet.out;
  EXPECT_FALSE(absl::StrContains(quiet.out, "FAST")) << quiet.out;
  // Named by label, else hostname; never by address alone.
  const std::string header = quiet.out.substr(0, quiet.out.find('\n'));
  for (const char* name : {"node1", "node2", "rack3-top", "node4", "node5", "node6", "node7"}) {
    EXPECT_TRUE(absl::StrContains(header, name)) << header;
  }
  EXPECT_FALSE(absl::StrContains(header, "127.0.0.1")) << header;

  // node2 throttled: stopped for about eight of every nine milliseconds, so
  // that every sample (40 executions, 3 ms or more of CPU time) spans several
  // stops and its median grows about 9x, as a GPU's would at a ninth of its
  // clock (stops much longer than a sample would hit only some samples,
  // which the median shrugs off). It must come first, flagged SLOW. On a
  // loaded 2-core CI machine (sanitizer builds, ctest -j2) the throttling
  // thread itself wakes late and the others' spread widens, so a run that
  // does not flag it gets one more chance, as the quiet run does.
  auto throttled_run = [&] {
    std::atomic<bool> throttling{true};
    std::thread throttle([&] {
      while (throttling.load()) {
        daemons[1]->Signal(SIGSTOP);
        std::this_thread::sleep_for(std::chrono::microseconds(8000));
        daemons[1]->Signal(SIGCONT);
        std::this_thread::sleep_for(std::chrono::microseconds(1000));
      }
    });
    CommandResult result = run();
    throttling = false;
    throttle.join();
    daemons[1]->Signal(SIGCONT);
    return result;
  };
  auto first_member_row = [](const std::string& out) {
    const size_t view = out.find("Fleet view:");
    if (view == std::string::npos) return std::string();
    // The first member row, after the explanation and the column header.
    std::vector<std::string> lines = absl::StrSplit(out.substr(view), '\n');
    return lines.size() > 3 ? lines[2] : std::string();
  };
  CommandResult slow = throttled_run();
  if (!absl::StrContains(first_member_row(slow.out), "SLOW")) slow = throttled_run();
  ASSERT_EQ(slow.exit_code, 0) << slow.err;
  const std::string row = first_member_row(slow.out);
  ASSERT_FALSE(row.empty()) << slow.out;
  EXPECT_TRUE(absl::StartsWith(row, "node2 ")) << slow.out;
  EXPECT_TRUE(absl::StrContains(row, "SLOW")) << slow.out;
  // (Whether another member is flagged too is left to the quiet run above: a
  // busy VM was seen to slow one alike daemon by 37% in the same run.)

  // The same view from the saved results, as its own command.
  const std::string saved = TempDir() + "/fleet.jsonl";
  std::vector<std::string> with_out = job("512");
  with_out.insert(with_out.end(), {"--out", saved});
  ASSERT_EQ(RunFlopctl(with_out, seconds(120)).exit_code, 0);
  const CommandResult offline = RunFlopctl({"fleet", saved, "--points"});
  EXPECT_EQ(offline.exit_code, 0) << offline.err;
  EXPECT_TRUE(absl::StrContains(offline.out, "each point's time / fleet median")) << offline.out;
  EXPECT_TRUE(absl::StrContains(offline.out, "rack3-top/cpu:0")) << offline.out;
}

}  // namespace
}  // namespace flopd::testing
