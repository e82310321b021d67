// End to end: flopctl plot, report and compare on results files, the
// roofline carried by a real run, and the report rendered by headless
// Chromium.
#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/result_format.h"
#include "gtest/gtest.h"
#include "tests/integration/process_harness.h"

namespace flopd::testing {
namespace {

// A synthetic result with 40 raw samples around `median` (deterministic).
v1::Result Synthetic(const std::string& op, const std::string& impl, int64_t n, double median) {
  v1::Result r;
  r.set_host_address("synthetic:1");
  r.set_hostname("synthetic");
  r.set_device("cpu:0");
  r.set_backend("cpu");
  r.set_op(op);
  r.set_impl(impl);
  if (op == "outer") (*r.mutable_params())["axis"] = 0;
  r.set_dtype("f32");
  r.set_n(n);
  r.set_flops(2 * n * n - n);
  r.set_min_bytes((n * n + 2 * n) * 4);
  for (int i = 0; i < 40; ++i) r.add_sample_seconds(median * (1 + 0.02 * std::sin(1.7 * i + 0.3)));
  r.set_samples(40);
  r.mutable_time()->set_median(median);
  r.set_relative_noise(0.01);
  r.mutable_verification()->set_passed(true);
  v1::Roofline* roof = r.mutable_roofline();
  roof->set_intensity(static_cast<double>(r.flops()) / r.min_bytes());
  roof->set_floor_seconds(r.min_bytes() / 1e10);
  roof->set_efficiency(roof->floor_seconds() / median);
  roof->set_bound("memory");
  roof->set_peak_flops_per_s(1e11);
  roof->set_peak_bandwidth_bytes_per_s(1e10);
  return r;
}

// Writes a results file whose medians are scaled by `slowdown`.
std::string WriteRun(const std::string& name, double slowdown) {
  const std::string path = TempDir() + "/" + name;
  std::ofstream out(path);
  for (int64_t n : {1000, 2000, 4000}) {
    out << ToJsonLine(Synthetic("matvec", "gemv", n, 1e-9 * n * n * slowdown)) << "\n";
    out << ToJsonLine(Synthetic("outer", "library", n, 3e-9 * n * n * slowdown)) << "\n";
  }
  return path;
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

TEST(FlopctlCompare, CallsIdenticalRunsTheSameAndFlagsASlowedRun) {
  const std::string a = WriteRun("a.jsonl", 1.0);
  const std::string b = WriteRun("b.jsonl", 1.0);
  const std::string slow = WriteRun("slow.jsonl", 1.10);
  CommandResult same = RunFlopctl({"compare", a, b});
  ASSERT_EQ(same.exit_code, 0) << same.err;
  EXPECT_TRUE(absl::StrContains(same.out, "6 matching points: 0 slower, 0 faster, 6 same"))
      << same.out;
  EXPECT_TRUE(absl::StrContains(same.out, "geometric mean of B/A = 1.0000x")) << same.out;
  EXPECT_TRUE(absl::StrContains(same.out, "mann-whitney")) << same.out;

  CommandResult slower = RunFlopctl({"compare", a, slow, "--fail-on-slower"});
  EXPECT_EQ(slower.exit_code, 1) << slower.out << slower.err;
  EXPECT_TRUE(absl::StrContains(slower.out, "6 matching points: 6 slower, 0 faster, 0 same"))
      << slower.out;
  EXPECT_TRUE(absl::StrContains(slower.out, "geometric mean of B/A = 1.1000x")) << slower.out;
}

TEST(FlopctlAnalysis, BadInputNamesTheFileAndLineAndExitsTwo) {
  const std::string good = WriteRun("good.jsonl", 1.0);
  const std::string bad = TempDir() + "/bad.jsonl";
  std::ofstream(bad) << ToJsonLine(Synthetic("matvec", "gemv", 10, 1e-6)) << "\nop,impl,n\n";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"plot", good, bad, "-o", TempDir() + "/x.svg"},
        std::vector<std::string>{"report", bad, "-o", TempDir() + "/x.html"},
        std::vector<std::string>{"compare", good, bad}}) {
    CommandResult r = RunFlopctl(args);
    EXPECT_EQ(r.exit_code, 2) << args[0];
    EXPECT_TRUE(absl::StrContains(r.err, bad + ":2: not a flopd result")) << r.err;
  }
  CommandResult missing = RunFlopctl({"plot", TempDir() + "/none.jsonl", "-o", "x.svg"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(missing.err, "none.jsonl: cannot read")) << missing.err;
  CommandResult no_out = RunFlopctl({"plot", good});
  EXPECT_EQ(no_out.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(no_out.err, "-o FILE.svg is required")) << no_out.err;
  for (const char* command : {"plot", "report", "compare"}) {
    CommandResult help = RunFlopctl({command, "--help"});
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_TRUE(absl::StrContains(help.out, "usage: flopctl")) << command;
  }
}

TEST(FlopctlRun, ResultsCarryTheRooflineAndInfoShowsTheCeilings) {
  auto daemon = Daemon::Start("roof");
  const std::string out = TempDir() + "/roof.jsonl";
  const std::string svg = TempDir() + "/roof.svg";
  CommandResult run = RunFlopctl({"run", "--host", daemon->address(), "--op", "matvec", "--impl",
                                  "gemv", "--sizes", "64,512", "--max-time", "0.05", "--min-time",
                                  "0", "--min-samples", "3", "--out", out, "--plot", svg});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  for (const char* column : {"intensity", "floor", "eff.", "bound"}) {
    EXPECT_TRUE(absl::StrContains(run.out, column)) << run.out;
  }
  for (absl::string_view line : absl::StrSplit(ReadFile(out), '\n', absl::SkipEmpty())) {
    absl::StatusOr<v1::Result> r = FromJsonLine(std::string(line));
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r->has_roofline()) << line;
    EXPECT_GT(r->roofline().peak_flops_per_s(), 0);
    EXPECT_GT(r->roofline().peak_bandwidth_bytes_per_s(), 0);
    EXPECT_GT(r->roofline().floor_seconds(), 0);
    EXPECT_NEAR(r->roofline().efficiency(), r->roofline().floor_seconds() / r->time().median(),
                1e-9 * r->roofline().efficiency());
    EXPECT_FALSE(r->roofline().bound().empty());
  }
  EXPECT_TRUE(absl::StrContains(ReadFile(svg), "Roofline: achieved FLOP/s"));
  CommandResult info = RunFlopctl({"info", "--host", daemon->address()});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_TRUE(absl::StrContains(info.out, "ceilings (measured")) << info.out;
  EXPECT_TRUE(absl::StrContains(info.out, "memory bandwidth")) << info.out;
  EXPECT_TRUE(absl::StrContains(info.out, "peak f64")) << info.out;
  EXPECT_TRUE(absl::StrContains(info.out, "derived")) << info.out;
}

TEST(FlopctlReport, HeadlessChromiumRendersIt) {
  const std::string a = WriteRun("report.jsonl", 1.0);
  const std::string html = TempDir() + "/report.html";
  CommandResult report = RunFlopctl({"report", a, "-o", html});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  const std::string text = ReadFile(html);
  EXPECT_TRUE(absl::StrContains(text, "<svg xmlns=")) << text.substr(0, 400);
  const std::string chromium = "/usr/bin/chromium";
  if (FileSize(chromium) < 0) {
    GTEST_SKIP() << chromium << " is absent (Debian package 'chromium', installed by "
                 << "deploy/install_deps.sh); the report was written but not rendered";
  }
  // Chromium as a command: stdout to `out`, stderr added to chromium.log;
  // returns its exit status.
  auto chromium_run = [&](const std::string& args, const std::string& out) {
    const std::string command = absl::StrCat(
        chromium,
        " --headless --no-sandbox --disable-gpu --disable-background-networking"
        " --disable-component-update --disable-sync --no-first-run --user-data-dir=",
        TempDir(), "/chromium-profile ", args, " > ", out, " 2>> ", TempDir(),
        "/chromium.log");
    return std::system(command.c_str());
  };
  // The DOM Chromium built from the file: every inline SVG of the source is
  // an element of it, with its marks (a parse error would drop the rest).
  const std::string dom_path = TempDir() + "/report.dom.html";
  ASSERT_EQ(chromium_run("--dump-dom file://" + html, dom_path), 0)
      << ReadFile(TempDir() + "/chromium.log");
  const std::string dom = ReadFile(dom_path);
  auto count = [](const std::string& haystack, const std::string& what) {
    int n = 0;
    for (size_t at = haystack.find(what); at != std::string::npos;
         at = haystack.find(what, at + 1)) {
      ++n;
    }
    return n;
  };
  ASSERT_GT(count(text, "<svg"), 0) << text.substr(0, 400);
  EXPECT_EQ(count(dom, "<svg"), count(text, "<svg")) << dom.substr(0, 400);
  EXPECT_EQ(count(dom, "<polyline"), count(text, "<polyline"));
  EXPECT_EQ(count(dom, "<tr"), count(text, "<tr"));
  EXPECT_TRUE(absl::StrContains(dom, "outer/library")) << dom.substr(0, 400);
  // A screenshot of it carries far more than one of an empty page of the
  // same size drawn by the same Chromium (PNG compresses a blank page to
  // almost nothing).
  const std::string png = TempDir() + "/report.png";
  const std::string blank_html = TempDir() + "/blank.html";
  const std::string blank_png = TempDir() + "/blank.png";
  std::ofstream(blank_html) << "<!DOCTYPE html><html><body></body></html>\n";
  for (const auto& [page, shot] : {std::pair<std::string, std::string>{html, png},
                                   std::pair<std::string, std::string>{blank_html, blank_png}}) {
    ASSERT_EQ(chromium_run("--screenshot=" + shot + " --window-size=1200,2400 file://" + page,
                           TempDir() + "/chromium.out"),
              0)
        << ReadFile(TempDir() + "/chromium.log");
  }
  ASSERT_GT(FileSize(blank_png), 0);
  EXPECT_GT(FileSize(png), 5 * FileSize(blank_png))
      << "report " << FileSize(png) << " bytes, blank page " << FileSize(blank_png) << " bytes";
}

}  // namespace
}  // namespace flopd::testing
