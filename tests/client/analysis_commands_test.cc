// flopctl compare in process: files in, the table and summary out, exactly.
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

// Captures std::cout for the lifetime of the object.
class CaptureStdout {
 public:
  CaptureStdout() : old_(std::cout.rdbuf(buffer_.rdbuf())) {}
  ~CaptureStdout() { std::cout.rdbuf(old_); }
  std::string str() const { return buffer_.str(); }

 private:
  std::ostringstream buffer_;
  std::streambuf* old_;
};

class CompareCommandTest : public ::testing::Test {
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

  // Runs compare; returns the exit status, stdout in *out.
  int Compare(const std::vector<std::string>& args, std::string* out) {
    CaptureStdout capture;
    const int status = CompareCommand(args);
    *out = capture.str();
    return status;
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

// B is 10% slower at both points, every B sample above every A sample. The
// point with 5 raw samples a side goes to the U test, whose p (0.0122) is
// not below alpha (0.01): "same". The point with 4 a side goes to the noise
// intervals, which are disjoint: "slower".
TEST_F(CompareCommandTest, UsesTheUTestFromFiveSamplesAndItsPValueGatesTheVerdict) {
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

TEST_F(CompareCommandTest, AlphaAndMinEffectFlagsMoveTheGates) {
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

}  // namespace
}  // namespace flopd
