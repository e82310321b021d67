// --out and --append of run, history and watch (issue 11): "-" is stdout,
// --append needs a file.
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "client/history_command.h"
#include "client/result_files.h"
#include "client/run_command.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

v1::Result Passed(int64_t n) {
  v1::Result r;
  r.set_host_address("h:1");
  r.set_device("cpu:0");
  r.set_op("matvec");
  r.set_impl("gemv");
  r.set_dtype("f32");
  r.set_n(n);
  r.set_flops(2 * n * n - n);
  r.mutable_time()->set_median(1e-3);
  r.mutable_verification()->set_passed(true);
  return r;
}

TEST(OutFlag, AppendNeedsAFileAndAnEmptyOutIsRefused) {
  absl::StatusOr<RunPlan> run = ParseRunCommand({"--op", "matvec", "--append"});
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().message(), "--append: adds to the file of --out FILE; give --out");
  run = ParseRunCommand({"--op", "matvec", "--out", ""});
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().message(), "--out: '' is not a file; give FILE, or - for stdout");
  run = ParseRunCommand({"--op", "matvec", "--out", "r.csv", "--append"});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->out_append);

  absl::StatusOr<HistoryPlan> history = ParseHistoryCommand({"--append"}, 0);
  ASSERT_FALSE(history.ok());
  EXPECT_EQ(history.status().message(), "--append: adds to the file of --out FILE; give --out");
  history = ParseHistoryCommand({"--out", "-", "--append"}, 0);
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->out_path, "-");
  EXPECT_TRUE(history->out_append);
  absl::StatusOr<WatchPlan> watch = ParseWatchCommand({"--append"}, 0);
  ASSERT_FALSE(watch.ok());
  watch = ParseWatchCommand({"--out", "w.jsonl", "--append"}, 0);
  ASSERT_TRUE(watch.ok()) << watch.status();
  EXPECT_TRUE(watch->out_append);
}

// `run --out -`: stdout carries the results file alone; the table goes to
// stderr beside it, and a results --format is the file's own, not repeated.
TEST(OutFlag, RunWithOutDashKeepsStdoutForTheResults) {
  RunOutcome outcome;
  outcome.host_order = {"h:1"};
  outcome.results = {Passed(64), Passed(128)};
  absl::StatusOr<RunPlan> table = ParseRunCommand({"--op", "matvec", "--quiet", "--out", "-"});
  ASSERT_TRUE(table.ok()) << table.status();
  std::ostringstream out, err;
  EXPECT_EQ(RenderRun(*table, outcome, out, err), 0);
  EXPECT_EQ(out.str(), "");
  EXPECT_TRUE(absl::StrContains(err.str(), "matvec  gemv")) << err.str();

  absl::StatusOr<RunPlan> csv =
      ParseRunCommand({"--op", "matvec", "--quiet", "--out", "-", "--format", "csv"});
  ASSERT_TRUE(csv.ok()) << csv.status();
  std::ostringstream csv_out, csv_err;
  EXPECT_EQ(RenderRun(*csv, outcome, csv_out, csv_err), 0);
  EXPECT_EQ(csv_out.str(), "") << "the --out - stream already carried the CSV";
  EXPECT_FALSE(absl::StrContains(csv_err.str(), CsvHeader())) << csv_err.str();
}

}  // namespace
}  // namespace flopd
