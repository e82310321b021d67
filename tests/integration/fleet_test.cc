// A fleet as users name it and as it fails (issue 10): --host expanded from
// hostlists, hosts files and the Slurm allocation, duplicates dialed once,
// and a hung or unreachable host costing only itself, within its deadline.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
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

}  // namespace
}  // namespace flopd::testing
