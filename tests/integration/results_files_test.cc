// End to end (issue 11): every format `flopctl run --out` writes is read by
// plot, report, compare and fleet; `--out -` is stdout; missing directories
// are created; --append adds and a replaced file is named.
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/result_files.h"
#include "gtest/gtest.h"
#include "tests/integration/process_harness.h"

namespace flopd::testing {
namespace {

std::vector<std::string> RunArgs(const Daemon& daemon, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"run",        "--host", daemon.address(), "--op",
                                   "matvec",     "--impl", "gemv,gemm",      "--sizes",
                                   "32,64",      "--samples", "5",           "--iterations",
                                   "2",          "--quiet"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// `flopctl plot r.json` said "not a flopd result": every format reads back.
TEST(ResultsFiles, EveryFormatRunWritesIsReadByEveryCommandThatReadsResults) {
  auto daemon = Daemon::Start("files");
  const std::string dir = TempDir() + "/files-" + std::to_string(::getpid());
  std::vector<std::string> paths;
  for (const char* name : {"r.csv", "r.json", "r.jsonl"}) {
    const std::string path = dir + "/new/dirs/" + name;  // created on the way
    CommandResult run = RunFlopctl(RunArgs(*daemon, {"--out", path}));
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_TRUE(absl::StrContains(run.err, "flopctl: wrote 4 results to " + path)) << run.err;
    absl::StatusOr<std::vector<v1::Result>> back = ReadResultsFile(path);
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ(back->size(), 4u) << name;
    EXPECT_EQ((*back)[0].hostname(), "files");
    EXPECT_EQ((*back)[0].samples(), 5);
    EXPECT_EQ((*back)[0].sample_seconds_size(), 5) << name << ": the raw samples";
    EXPECT_GT((*back)[0].measured_unix_ms(), 0) << name;
    paths.push_back(path);
  }
  for (const std::string& path : paths) {
    CommandResult plot = RunFlopctl({"plot", path, "-o", path + ".svg"});
    EXPECT_EQ(plot.exit_code, 0) << path << "\n" << plot.err;
    CommandResult report = RunFlopctl({"report", path, "-o", path + ".html"});
    EXPECT_EQ(report.exit_code, 0) << path << "\n" << report.err;
    CommandResult fleet = RunFlopctl({"fleet", path});
    EXPECT_EQ(fleet.exit_code, 0) << path << "\n" << fleet.err;
    CommandResult compare = RunFlopctl({"compare", paths[2], path});
    EXPECT_TRUE(compare.exit_code == 0 || compare.exit_code == 1) << compare.err;
    EXPECT_TRUE(absl::StrContains(compare.out, "4 matching points")) << path << "\n"
                                                                       << compare.out
                                                                       << compare.err;
  }
}

// `--out -` made a file named "-". It is stdout now: the results alone (the
// table on stderr), read back by a pipe into another flopctl.
TEST(ResultsFiles, OutDashWritesTheResultsToStdoutAndTheTableToStderr) {
  auto daemon = Daemon::Start("dash");
  CommandResult run = RunFlopctl(RunArgs(*daemon, {"--out", "-"}));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  absl::StatusOr<std::vector<v1::Result>> lines = ParseResults(run.out, "stdout");
  ASSERT_TRUE(lines.ok()) << lines.status() << "\n" << run.out;
  EXPECT_EQ(lines->size(), 4u);
  EXPECT_TRUE(absl::StrContains(run.err, "matvec  gemv")) << "the table\n" << run.err;
  EXPECT_TRUE(absl::StrContains(run.err, "flopctl: wrote 4 results to stdout")) << run.err;

  CommandResult csv = RunFlopctl(RunArgs(*daemon, {"--out", "-", "--format", "csv"}));
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_TRUE(absl::StartsWith(csv.out, CsvHeader() + "\n")) << csv.out;
  EXPECT_EQ(ParseResults(csv.out, "stdout")->size(), 4u);
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(csv.out, '\n', absl::SkipEmpty())).size(),
            5u)
      << "one header, four rows, nothing else\n"
      << csv.out;
}

TEST(ResultsFiles, AppendAddsAndReplacingSaysWhatTheFileHeld) {
  auto daemon = Daemon::Start("append");
  const std::string dir = TempDir() + "/append-" + std::to_string(::getpid());
  for (const char* name : {"r.csv", "r.jsonl", "r.json"}) {
    const std::string path = dir + "/" + name;
    ASSERT_EQ(RunFlopctl(RunArgs(*daemon, {"--out", path})).exit_code, 0);
    CommandResult more = RunFlopctl(RunArgs(*daemon, {"--out", path, "--append"}));
    ASSERT_EQ(more.exit_code, 0) << more.err;
    EXPECT_TRUE(absl::StrContains(
        more.err, "flopctl: wrote 4 results to " + path + " (after its 4 earlier results)"))
        << more.err;
    EXPECT_EQ(ReadResultsFile(path)->size(), 8u) << name;
    CommandResult replace = RunFlopctl(RunArgs(*daemon, {"--out", path}));
    ASSERT_EQ(replace.exit_code, 0) << replace.err;
    EXPECT_TRUE(absl::StrContains(
        replace.err, "flopctl: wrote 4 results to " + path +
                         " (replaced the file, which held 8 results; --append adds instead)"))
        << replace.err;
    EXPECT_EQ(ReadResultsFile(path)->size(), 4u) << name;
  }
}

}  // namespace
}  // namespace flopd::testing
