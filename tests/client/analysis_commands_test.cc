// flopctl compare, plot and report in process: files in, the table and
// summary (or the SVG and HTML) out, exactly; and the aggregated table's
// "vs" column.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "client/commands.h"
#include "client/result_format.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

// Captures a stream (std::cout, std::cerr) for the lifetime of the object.
class CaptureStream {
 public:
  explicit CaptureStream(std::ostream& stream)
      : stream_(stream), old_(stream.rdbuf(buffer_.rdbuf())) {}
  ~CaptureStream() { stream_.rdbuf(old_); }
  std::string str() const { return buffer_.str(); }

 private:
  std::ostream& stream_;
  std::ostringstream buffer_;
  std::streambuf* old_;
};
class CaptureStdout : public CaptureStream {
 public:
  CaptureStdout() : CaptureStream(std::cout) {}
};

class AnalysisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flopd-compare-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::vector<v1::Result>& results) {
    const std::string path = dir_ + "/" + name;
    std::ofstream out(path);
    for (const v1::Result& r : results) out << ToJsonLine(r) << "\n";
    return path;
  }

  // Runs compare; returns the exit status, stdout in *out (and stderr in
  // *err when given).
  int Compare(const std::vector<std::string>& args, std::string* out, std::string* err = nullptr) {
    return Run(&CompareCommand, args, out, err);
  }
  int Run(int (*command)(const std::vector<std::string>&), const std::vector<std::string>& args,
          std::string* out, std::string* err = nullptr) {
    CaptureStdout capture;
    CaptureStream capture_err(std::cerr);
    const int status = command(args);
    *out = capture.str();
    if (err != nullptr) *err = capture_err.str();
    return status;
  }
  std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string dir_;
};

v1::Result Point(const std::string& op, const std::string& impl, double median,
                 const std::vector<double>& samples) {
  v1::Result r;
  r.set_host_address("h:1");
  r.set_device("cpu:0");
  r.set_op(op);
  r.set_impl(impl);
  if (op == "outer") (*r.mutable_params())["axis"] = 0;
  r.set_dtype("f32");
  r.set_n(1000);
  r.mutable_time()->set_median(median);
  r.set_relative_noise(0.002);
  for (double s : samples) r.add_sample_seconds(s);
  r.set_samples(static_cast<int>(samples.size()));
  r.mutable_verification()->set_passed(true);
  return r;
}

// The table row whose first cells are `op impl`, split on spaces.
std::vector<std::string> Row(const std::string& text, const std::string& op,
                             const std::string& impl) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<std::string> cells = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (cells.size() > 2 && cells[0] == op && cells[1] == impl) return cells;
  }
  return {};
}

// B/A of a row compared by the noise intervals (no raw samples): the cells
// from the end are verdict, p, "intervals", "noise", B/A.
std::string Ratio(const std::vector<std::string>& cells) {
  return cells.size() < 5 ? "" : cells[cells.size() - 5];
}

// B is 10% slower at both points, every B sample above every A sample. The
// point with 5 raw samples a side goes to the U test, whose p (0.0122) is
// not below alpha (0.01): "same". The point with 4 a side goes to the noise
// intervals, which are disjoint: "slower".
TEST_F(AnalysisTest, UsesTheUTestFromFiveSamplesAndItsPValueGatesTheVerdict) {
  const std::vector<double> a = {1.000e-3, 1.001e-3, 0.999e-3, 1.002e-3, 0.998e-3};
  const std::vector<double> b = {1.100e-3, 1.101e-3, 1.099e-3, 1.102e-3, 1.098e-3};
  const std::vector<double> a4(a.begin(), a.begin() + 4), b4(b.begin(), b.begin() + 4);
  const std::string path_a =
      Write("a.jsonl", {Point("outer", "fused", 1e-3, a), Point("matvec", "gemv", 1e-3, a4)});
  const std::string path_b = Write(
      "b.jsonl", {Point("outer", "fused", 1.1e-3, b), Point("matvec", "gemv", 1.1e-3, b4)});
  std::string out;
  EXPECT_EQ(Compare({path_a, path_b}, &out), 0);
  const std::vector<std::string> five = Row(out, "outer", "fused");
  ASSERT_FALSE(five.empty()) << out;
  // ... A median, B median, B/A, test, p, verdict
  const size_t last = five.size() - 1;
  EXPECT_EQ(five[last], "same") << out;
  EXPECT_EQ(five[last - 1], "0.0122") << out;
  EXPECT_EQ(five[last - 2], "mann-whitney") << out;
  EXPECT_EQ(five[last - 3], "1.100x") << out;
  const std::vector<std::string> four = Row(out, "matvec", "gemv");
  ASSERT_FALSE(four.empty()) << out;
  EXPECT_EQ(four.back(), "slower") << out;
  EXPECT_EQ(four[four.size() - 2], "-") << out;
  EXPECT_TRUE(absl::StrContains(out, "noise intervals")) << out;
  EXPECT_TRUE(absl::StrContains(out, "2 matching points: 1 slower, 0 faster, 1 same (alpha 0.01, "
                                     "min effect 1%); geometric mean of B/A = 1.1000x"))
      << out;
  EXPECT_EQ(Compare({path_a, path_b, "--fail-on-slower"}, &out), 1);
  // B against A: the mirror image.
  EXPECT_EQ(Compare({path_b, path_a, "--fail-on-slower"}, &out), 0);
  EXPECT_EQ(Row(out, "matvec", "gemv").back(), "faster") << out;
  EXPECT_EQ(Row(out, "outer", "fused").back(), "same") << out;
}

TEST_F(AnalysisTest, AlphaAndMinEffectFlagsMoveTheGates) {
  const std::vector<double> a = {1.000e-3, 1.001e-3, 0.999e-3, 1.002e-3, 0.998e-3};
  const std::vector<double> b = {1.100e-3, 1.101e-3, 1.099e-3, 1.102e-3, 1.098e-3};
  const std::string path_a = Write("a.jsonl", {Point("outer", "fused", 1e-3, a)});
  const std::string path_b = Write("b.jsonl", {Point("outer", "fused", 1.1e-3, b)});
  std::string out;
  EXPECT_EQ(Compare({path_a, path_b, "--alpha", "0.05", "--fail-on-slower"}, &out), 1);
  EXPECT_EQ(Row(out, "outer", "fused").back(), "slower") << out;
  EXPECT_EQ(Compare({path_a, path_b, "--alpha", "0.05", "--min-effect", "0.2"}, &out), 0);
  EXPECT_EQ(Row(out, "outer", "fused").back(), "same") << out;
}

// A result of `host` (its hosts-file label; the address differs between
// the two runs, as when a host was reached another way).
v1::Result OnHost(const std::string& host, const std::string& address, double median,
                  const std::string& impl = "gemv", int64_t n = 1000) {
  v1::Result r = Point("matvec", impl, median, {});
  r.set_host_address(address);
  r.set_host_label(host);
  r.set_n(n);
  r.set_flops(2 * n * n - n);
  r.set_min_bytes((n * n + 2 * n) * 4);
  return r;
}

// Issue 11 item 8: two runs of three hosts pair host by host without
// --by-host. Before, every host's point had the same key, "48 point(s) appear
// more than once ... the last one is used", and host-c's time was divided by
// host-b's.
TEST_F(AnalysisTest, CompareFilesOfTheSameHostsPairsHostByHost) {
  const std::string a = Write("run1.jsonl", {OnHost("host-a", "10.0.0.1:1", 40e-6),
                                             OnHost("host-b", "10.0.0.2:1", 43e-6),
                                             OnHost("host-c", "10.0.0.3:1", 77e-6)});
  const std::string b = Write("run5.jsonl", {OnHost("host-c", "10.0.1.3:1", 77e-6),
                                             OnHost("host-a", "10.0.1.1:1", 40e-6),
                                             OnHost("host-b", "10.0.1.2:1", 43e-6)});
  std::string out, err;
  EXPECT_EQ(Compare({a, b}, &out, &err), 0) << err;
  EXPECT_EQ(err, "");
  EXPECT_TRUE(absl::StrContains(out, "paired host by host: host-a, host-b, host-c\n")) << out;
  for (const std::string host : {"host-a", "host-b", "host-c"}) {
    const std::vector<std::string> row = Row(out, host, "matvec");
    ASSERT_FALSE(row.empty()) << host << "\n" << out;
    EXPECT_EQ(Ratio(row), "1.000x") << out;
  }
  EXPECT_TRUE(absl::StrContains(out, "3 matching points: 0 slower, 0 faster, 3 same")) << out;
  // --by-host, the old way to ask for it, still works and means the same.
  std::string by_host;
  EXPECT_EQ(Compare({a, b, "--by-host"}, &by_host), 0);
  EXPECT_EQ(by_host, out);
}

// Different host sets of more than one host: no pairing is obvious, so
// compare refuses and says which hosts each file has and how to choose.
TEST_F(AnalysisTest, CompareRefusesFilesOfDifferentHostsAndNamesTheWaysOut) {
  const std::string a = Write("run1.jsonl", {OnHost("host-a", "10.0.0.1:1", 40e-6),
                                             OnHost("host-b", "10.0.0.2:1", 43e-6),
                                             OnHost("host-c", "10.0.0.3:1", 77e-6)});
  const std::string b = Write("run5.jsonl", {OnHost("host-a", "10.0.0.1:1", 44e-6),
                                             OnHost("host-b", "10.0.0.2:1", 43e-6)});
  std::string out, err;
  EXPECT_EQ(Compare({a, b}, &out, &err), 2);
  EXPECT_EQ(out, "");
  EXPECT_TRUE(absl::StrContains(err, a + " has host-a, host-b, host-c; " + b +
                                         " has host-a, host-b."))
      << err;
  for (const char* flag : {"--host NAME", "--host NAME_A,NAME_B", "--by-host", "--pool"}) {
    EXPECT_TRUE(absl::StrContains(err, flag)) << flag << "\n" << err;
  }
  // --host picks one host of each side: host-c of A against host-b of B.
  EXPECT_EQ(Compare({a, b, "--host", "host-c,host-b"}, &out), 0);
  EXPECT_TRUE(absl::StrContains(out, "paired point by point: A on host-c, B on host-b")) << out;
  EXPECT_EQ(Ratio(Row(out, "matvec", "gemv")), "0.558x") << out;  // 43 / 77
  EXPECT_EQ(Compare({a, b, "--host", "host-a"}, &out), 0);
  EXPECT_EQ(Ratio(Row(out, "matvec", "gemv")), "1.100x") << out;
  EXPECT_EQ(Compare({a, b, "--host", "host-z"}, &out, &err), 2);
  EXPECT_TRUE(absl::StrContains(err, "--host: 'host-z' is not a host of " + a +
                                         "; its hosts: host-a, host-b, host-c"))
      << err;
  // --by-host pairs the hosts both have.
  EXPECT_EQ(Compare({a, b, "--by-host"}, &out), 0);
  EXPECT_TRUE(absl::StrContains(
      out, "paired host by host: host-a, host-b (only A: host-c; only B: none)"))
      << out;
  EXPECT_TRUE(absl::StrContains(out, "2 matching points")) << out;
  // --pool: the median of the hosts' medians, median(44, 43) / median(40, 43, 77).
  EXPECT_EQ(Compare({a, b, "--pool"}, &out), 0);
  EXPECT_EQ(Ratio(Row(out, "matvec", "gemv")), "1.012x") << out;
  EXPECT_EQ(Compare({a, b, "--pool", "--by-host"}, &out, &err), 2);
}

// One host a side is the ordinary "before on gpu01, after on gpu02": point
// by point, whatever the names.
TEST_F(AnalysisTest, CompareFilesOfOneHostEachPairsPointByPoint) {
  const std::string a = Write("a.jsonl", {OnHost("gpu01", "10.0.0.1:1", 1e-3)});
  const std::string b = Write("b.jsonl", {OnHost("gpu02", "10.0.0.2:1", 1.1e-3)});
  std::string out;
  EXPECT_EQ(Compare({a, b}, &out), 0);
  EXPECT_TRUE(absl::StrContains(out, "paired point by point: A on gpu01, B on gpu02")) << out;
  EXPECT_EQ(Ratio(Row(out, "matvec", "gemv")), "1.100x") << out;
}

// A point measured twice on one host of a file (two runs concatenated) is
// never resolved by keeping "the last one": refused, or pooled on request.
TEST_F(AnalysisTest, CompareRefusesAPointMeasuredTwiceOnOneHostUnlessPooled) {
  const std::string a = Write("a.jsonl", {OnHost("gpu01", "10.0.0.1:1", 1e-3),
                                          OnHost("gpu01", "10.0.0.1:1", 3e-3)});
  const std::string b = Write("b.jsonl", {OnHost("gpu01", "10.0.0.1:1", 2e-3)});
  std::string out, err;
  EXPECT_EQ(Compare({a, b}, &out, &err), 2);
  EXPECT_TRUE(absl::StrContains(err, a + ": 1 point(s) measured more than once on one host, "
                                         "e.g. gpu01 cpu:0 matvec/gemv f32 N=1000 hot (2 results)"))
      << err;
  EXPECT_TRUE(absl::StrContains(err, "--pool")) << err;
  EXPECT_EQ(Compare({a, b, "--pool"}, &out), 0);
  const std::vector<std::string> row = Row(out, "matvec", "gemv");
  ASSERT_GE(row.size(), 6u) << out;
  EXPECT_EQ(row[4] + " " + row[5], "2 ms") << out;  // A: the median of 1 ms and 3 ms
  EXPECT_EQ(Ratio(row), "1.000x") << out;
}

// Hot and cold results of one point are two points, not duplicates.
TEST_F(AnalysisTest, CompareKeepsTimingModesApart) {
  v1::Result cold_a = OnHost("gpu01", "10.0.0.1:1", 5e-3);
  cold_a.set_timing("cold");
  v1::Result cold_b = OnHost("gpu01", "10.0.0.1:1", 10e-3);
  cold_b.set_timing("cold");
  const std::string a = Write("a.jsonl", {OnHost("gpu01", "10.0.0.1:1", 1e-3), cold_a});
  const std::string b = Write("b.jsonl", {OnHost("gpu01", "10.0.0.1:1", 1e-3), cold_b});
  std::string out, err;
  EXPECT_EQ(Compare({a, b}, &out, &err), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "timing")) << out;
  EXPECT_TRUE(absl::StrContains(out, "2 matching points")) << out;
  EXPECT_TRUE(absl::StrContains(out, "2.000x")) << out;
}

// Issue 11 item 9: two runs of the same hosts in one plot are two lines per
// panel, labelled by file name (or --label); before, they were one line
// through both runs' points.
TEST_F(AnalysisTest, PlotDrawsEachInputFileAsItsOwnSeries) {
  std::vector<v1::Result> run1, run5;
  for (int64_t n : {1000, 2000, 4000}) {
    run1.push_back(OnHost("host-a", "10.0.0.1:1", 1e-9 * n * n, "gemv", n));
    run5.push_back(OnHost("host-a", "10.0.0.1:1", 2e-9 * n * n, "gemv", n));
  }
  const std::string a = Write("run1.jsonl", run1);
  const std::string b = Write("run5.jsonl", run5);
  const std::string svg = dir_ + "/plot.svg";
  std::string out, err;
  ASSERT_EQ(Run(&PlotCommand, {a, b, "-o", svg, "--kind", "n"}, &out, &err), 0) << err;
  std::string text = ReadFile(svg);
  EXPECT_TRUE(absl::StrContains(text, "class=\"series\" data-series=\"run1: matvec/gemv f32\""))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "class=\"series\" data-series=\"run5: matvec/gemv f32\""))
      << text;
  EXPECT_FALSE(absl::StrContains(text, "data-series=\"matvec/gemv f32\"")) << text;
  ASSERT_EQ(Run(&PlotCommand, {a, b, "-o", svg, "--kind", "n", "--label", "before,after"}, &out,
                &err),
            0)
      << err;
  text = ReadFile(svg);
  EXPECT_TRUE(absl::StrContains(text, "data-series=\"before: matvec/gemv f32\"")) << text;
  EXPECT_TRUE(absl::StrContains(text, "data-series=\"after: matvec/gemv f32\"")) << text;
  // One label per file, or a clear refusal naming the flag.
  EXPECT_EQ(Run(&PlotCommand, {a, b, "-o", svg, "--label", "before"}, &out, &err), 2);
  EXPECT_TRUE(absl::StrContains(err, "--label: 1 label(s) for 2 file(s)")) << err;
  EXPECT_EQ(Run(&PlotCommand, {a, b, "-o", svg, "--label", "x,x"}, &out, &err), 2);
  EXPECT_TRUE(absl::StrContains(err, "--label: 'x' is given twice")) << err;
  // One file draws as it always did: no label.
  ASSERT_EQ(Run(&PlotCommand, {a, "-o", svg, "--kind", "n"}, &out, &err), 0) << err;
  EXPECT_TRUE(absl::StrContains(ReadFile(svg), "data-series=\"matvec/gemv f32\""));
}

// The report's rows say which input they came from.
TEST_F(AnalysisTest, ReportRowsNameTheirInputFile) {
  const std::string a = Write("run1.jsonl", {OnHost("host-a", "10.0.0.1:1", 40e-6),
                                             OnHost("host-b", "10.0.0.2:1", 43e-6)});
  const std::string b = Write("run5.jsonl", {OnHost("host-a", "10.0.0.1:1", 41e-6),
                                             OnHost("host-b", "10.0.0.2:1", 90e-6)});
  const std::string html_path = dir_ + "/report.html";
  std::string out, err;
  ASSERT_EQ(Run(&ReportCommand, {a, b, "-o", html_path}, &out, &err), 0) << err;
  const std::string html = ReadFile(html_path);
  // Results: a run column; host table too.
  EXPECT_TRUE(absl::StrContains(html, "<tr><th class=\"l\">run</th><th class=\"l\">host</th>"))
      << html;
  EXPECT_TRUE(absl::StrContains(
      html, "<tr><td class=\"l\">run5</td><td class=\"l\">host-b</td><td class=\"l\">cpu:0</td>"
            "<td class=\"l\">matvec</td>"))
      << html;
  // The fleet view is each run's own.
  EXPECT_TRUE(absl::StrContains(html, "<h2>Fleet view: run1</h2>")) << html;
  EXPECT_TRUE(absl::StrContains(html, "<h2>Fleet view: run5</h2>")) << html;
  EXPECT_TRUE(absl::StrContains(html, "data-series=\"run5: matvec/gemv f32\"")) << html;
}

// Issue 11 item 10: with `--impl fused,gemv` no matvec/gemm was measured,
// and the column was relative to matvec/gemv while the footer named
// matvec/gemm. Now the footer names what was divided by, and each such cell
// carries "*".
TEST(AggregateTableVs, NamesTheBaselineActuallyUsedWhenTheCatalogsWasNotRun) {
  v1::Result gemv = OnHost("h", "h:1", 2e-6);
  v1::Result fused = Point("outer", "fused", 1e-6, {});
  const std::string table = AggregateTable({gemv, fused}, {"h:1"});
  EXPECT_FALSE(absl::StrContains(table, "time of matvec/gemm")) << table;
  EXPECT_TRUE(absl::StrContains(
      table, "\nvs matvec* = time / time of matvec/gemv, the fastest matvec impl measured at the "
             "same N and dtype: matvec/gemm (torch.mm's way, the seed's reference), the catalog's "
             "baseline, was not run.\n"))
      << table;
  EXPECT_TRUE(absl::StrContains(table, " 1.00x* ")) << table;
  EXPECT_TRUE(absl::StrContains(table, " 0.50x* ")) << table;
}

// Where the catalog's baseline ran at one N but not at another, the rows
// say which they are relative to; where no matvec ran at all, "-".
TEST(AggregateTableVs, MixedBaselinesAreMarkedAndMissingOnesAreADash) {
  v1::Result gemm = OnHost("h", "h:1", 4e-6, "gemm", 1000);
  v1::Result gemv1000 = OnHost("h", "h:1", 2e-6, "gemv", 1000);
  v1::Result gemv2000 = OnHost("h", "h:1", 8e-6, "gemv", 2000);
  v1::Result fused4000 = Point("outer", "fused", 1e-6, {});
  fused4000.set_n(4000);
  const std::string table = AggregateTable({gemm, gemv1000, gemv2000, fused4000}, {"h:1"});
  EXPECT_TRUE(absl::StrContains(
      table, "\nvs matvec = time / time of matvec/gemm (torch.mm's way, the seed's reference) at "
             "the same N and dtype.\n* = time / time of matvec/gemv, the fastest matvec impl "
             "measured at that N and dtype, where matvec/gemm was not run.\n"
             "vs matvec is - where no matvec impl was measured at the same N and dtype.\n"))
      << table;
  EXPECT_TRUE(absl::StrContains(table, " 0.50x ")) << table;  // gemv at 1000 vs gemm
  EXPECT_TRUE(absl::StrContains(table, " 1.00x* ")) << table;  // gemv at 2000 vs itself
}

}  // namespace
}  // namespace flopd
