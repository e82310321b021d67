// End to end: real flopd daemons on loopback, driven by the real flopctl.
#include <signal.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "client/result_format.h"
#include "gtest/gtest.h"
#include "tests/integration/process_harness.h"

namespace flopd::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Small points and short budgets: these tests check plumbing, not speed.
const std::vector<std::string> kFast = {"--max-time", "0.05", "--min-time", "0", "--min-samples",
                                        "3"};

std::vector<std::string> With(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// Complete lines only: flopctl may be writing the next line while a test
// polls the file, as any `tail -f` reader would see.
std::vector<v1::Result> ReadResults(const std::string& path) {
  std::vector<v1::Result> results;
  std::string text = ReadFile(path);
  text.erase(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    absl::StatusOr<v1::Result> r = FromJsonLine(std::string(line));
    EXPECT_TRUE(r.ok()) << r.status() << " in line: " << line;
    if (r.ok()) results.push_back(*r);
  }
  return results;
}

int CountFrom(const std::vector<v1::Result>& results, const std::string& address) {
  int count = 0;
  for (const v1::Result& r : results) count += r.host_address() == address;
  return count;
}

// Results from the daemon started as `name` (its --hostname) that flopctl
// has reported so far: the --out file appears only when the run ends, so a
// test follows the lines flopctl prints on stderr as results arrive (stderr
// is no terminal here; each line starts with the host's name).
int ArrivedFrom(const BackgroundCommand& run, const std::string& name) {
  int count = 0;
  for (absl::string_view line : absl::StrSplit(run.CurrentErr(), '\n')) {
    count += absl::StartsWith(line, name + " ");
  }
  return count;
}

TEST(FlopctlRun, SingleHostRunsBothOpsAllImplsAndWritesJsonLines) {
  auto daemon = Daemon::Start("alpha");
  const std::string out = TempDir() + "/single.jsonl";
  CommandResult run = RunFlopctl(With({"run", "--host", daemon->address(), "--op", "matvec,outer",
                                       "--sizes", "64,97", "--out", out},
                                      kFast));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // The host's column is headed by the hostname its daemon reports.
  for (const char* word : {"matvec", "gemv", "gemm", "outer", "library", "fused", "axis=0",
                           "axis=1", "vs matvec", "1.00x", "alpha"}) {
    EXPECT_TRUE(absl::StrContains(run.out, word)) << word << " missing from:\n" << run.out;
  }
  std::vector<v1::Result> results = ReadResults(out);
  ASSERT_EQ(results.size(), 12u);  // 2 sizes x (2 matvec impls + 2 outer impls x 2 axes)
  std::set<std::string> variants;
  for (const v1::Result& r : results) {
    EXPECT_EQ(r.host_address(), daemon->address());
    EXPECT_EQ(r.hostname(), "alpha");
    EXPECT_EQ(r.device(), "cpu:0");
    EXPECT_EQ(r.flops(), 2 * r.n() * r.n() - r.n());
    EXPECT_GT(r.min_bytes(), 0);
    EXPECT_GT(r.time().median(), 0);
    EXPECT_GE(r.samples(), 3);
    EXPECT_EQ(static_cast<int>(r.sample_seconds_size()), r.samples());
    EXPECT_FALSE(r.stop_reason().empty());
    EXPECT_TRUE(r.verification().passed()) << r.verification().detail();
    EXPECT_GT(r.gflops_per_s(), 0);
    variants.insert(r.op() + "/" + r.impl() + "/" +
                    (r.params().count("axis") ? std::to_string(r.params().at("axis")) : "-"));
  }
  EXPECT_EQ(variants.size(), 6u);
}

TEST(FlopctlRun, FormatsCsvAndJsonOnStdout) {
  auto daemon = Daemon::Start("formats");
  CommandResult csv = RunFlopctl(With({"run", "--host", daemon->address(), "--op", "outer",
                                       "--impl", "fused", "--axis", "1", "--sizes", "50",
                                       "--format", "csv"},
                                      kFast));
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  std::vector<std::string> lines = absl::StrSplit(csv.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << csv.out;
  EXPECT_TRUE(absl::StartsWith(lines[0], "host_address,hostname,device"));
  EXPECT_TRUE(absl::StrContains(lines[1], ",outer,fused,axis=1,f32,50,4950,")) << lines[1];

  CommandResult json = RunFlopctl(With({"run", "--host", daemon->address(), "--op", "matvec",
                                        "--impl", "gemv", "--sizes", "40", "--format", "json",
                                        "--dtype", "f64"},
                                       kFast));
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_TRUE(absl::StartsWith(json.out, "[\n{")) << json.out;
  EXPECT_TRUE(absl::StrContains(json.out, "\"dtype\":\"f64\"")) << json.out;
}

// Needs the fixed port 50051 on loopback: skipped, not failed, while
// anything holds it (another flopd, another test process, a user's daemon),
// whether that is seen before flopd starts or by flopd failing to bind it.
TEST(FlopctlRun, DefaultPortIsAddedToABareHost) {
  if (!LoopbackPortIsFree(50051)) GTEST_SKIP() << "port 50051 is taken on this machine";
  std::string error;
  auto daemon = Daemon::TryStart("default-port", {"--listen", "127.0.0.1:50051"},
                                 /*probe_cuda=*/false, &error);
  if (daemon == nullptr && !LoopbackPortIsFree(50051)) {
    GTEST_SKIP() << "port 50051 was taken while flopd started: " << error;
  }
  ASSERT_NE(daemon, nullptr) << error;
  ASSERT_EQ(daemon->port(), 50051);
  CommandResult run =
      RunFlopctl(With({"run", "--host", "127.0.0.1", "--op", "outer", "--sizes", "32"}, kFast));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(absl::StrContains(run.out, "default-port")) << run.out;
  const CommandResult jsonl = RunFlopctl(
      With({"run", "--host", "127.0.0.1", "--op", "outer", "--sizes", "32", "--format", "jsonl"},
           kFast));
  EXPECT_TRUE(absl::StrContains(jsonl.out, "\"host_address\":\"127.0.0.1:50051\"")) << jsonl.out;
}

TEST(FlopctlRun, ThreeHostsAreAggregatedIntoOneTable) {
  auto a = Daemon::Start("alpha");
  auto b = Daemon::Start("beta");
  auto c = Daemon::Start("gamma");
  const std::string out = TempDir() + "/three.jsonl";
  CommandResult run = RunFlopctl(
      With({"run", "--host", a->address() + "," + b->address() + "," + c->address(), "--op",
            "matvec,outer", "--impl", "gemv,fused", "--axis", "0", "--sizes", "64,128", "--out",
            out},
           kFast));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(absl::StrContains(run.out, "fleet median")) << run.out;
  for (const char* name : {"alpha", "beta", "gamma"}) {
    EXPECT_TRUE(absl::StrContains(run.out, name)) << run.out;
  }
  EXPECT_TRUE(absl::StrContains(run.out, "Fleet view: 3 host/device member(s)")) << run.out;
  std::vector<v1::Result> results = ReadResults(out);
  ASSERT_EQ(results.size(), 12u);  // 3 hosts x 2 sizes x 2 variants
  std::set<std::string> hostnames;
  for (const v1::Result& r : results) hostnames.insert(r.hostname());
  EXPECT_EQ(hostnames, (std::set<std::string>{"alpha", "beta", "gamma"}));
  // One row per (op, impl, N): 4 rows, each with a median for every host.
  int rows = 0;
  for (absl::string_view line : absl::StrSplit(run.out, '\n')) {
    if (absl::StartsWith(line, "matvec") || absl::StartsWith(line, "outer")) ++rows;
  }
  EXPECT_EQ(rows, 4) << run.out;
}

TEST(FlopctlRun, HostKilledMidRunIsNamedAndOthersResultsSurvive) {
  auto a = Daemon::Start("alpha");
  auto b = Daemon::Start("beta");
  auto c = Daemon::Start("gamma");
  const std::string out = TempDir() + "/killed.jsonl";
  BackgroundCommand run({"run", "--host", a->address() + "," + b->address() + "," + c->address(),
                         "--op", "matvec", "--impl", "gemv", "--sizes", "100:1100:100",
                         "--min-time", "0.1", "--max-time", "0.1", "--min-samples", "3", "--out",
                         out});
  ASSERT_TRUE(WaitFor([&] { return ArrivedFrom(run, "beta") >= 2; }, seconds(60)))
      << run.CurrentErr();
  b->Signal(SIGKILL);
  CommandResult done = run.Wait();
  EXPECT_EQ(done.exit_code, 1) << done.err;
  EXPECT_TRUE(absl::StrContains(done.err,
                                "beta (" + b->address() + "): UNAVAILABLE: connection lost"))
      << done.err;
  std::vector<v1::Result> results = ReadResults(out);
  EXPECT_EQ(CountFrom(results, a->address()), 10);
  EXPECT_EQ(CountFrom(results, c->address()), 10);
  EXPECT_GE(CountFrom(results, b->address()), 2);
  EXPECT_TRUE(absl::StrContains(done.out, "alpha")) << done.out;
  EXPECT_TRUE(absl::StrContains(done.out, "gamma")) << done.out;
}

TEST(FlopctlRun, UnreachableHostIsOneLineAndOthersStillRun) {
  auto a = Daemon::Start("alpha");
  CommandResult run = RunFlopctl(With({"run", "--host", a->address() + ",127.0.0.1:1", "--op",
                                       "matvec", "--impl", "gemv", "--sizes", "32"},
                                      kFast));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(run.err, "127.0.0.1:1: UNAVAILABLE: unreachable (")) << run.err;
  int lines_about_dead_host = 0;
  for (absl::string_view line : absl::StrSplit(run.err, '\n')) {
    lines_about_dead_host += absl::StrContains(line, "127.0.0.1:1");
  }
  EXPECT_EQ(lines_about_dead_host, 1) << run.err;
  EXPECT_TRUE(absl::StrContains(run.out, "alpha")) << run.out;
}

// The first job lasts about 3 s (14 points of 0.2 s): long enough for a second
// flopctl to start and queue behind it even when both are sanitized.
TEST(FlopctlRun, SecondJobQueuesBehindTheFirst) {
  auto daemon = Daemon::Start("queue");
  const std::string first_out = TempDir() + "/first.jsonl";
  BackgroundCommand first({"run", "--host", daemon->address(), "--op", "matvec", "--impl", "gemv",
                           "--sizes", "100:1500:100", "--min-time", "0.2", "--max-time", "0.2",
                           "--out", first_out});
  ASSERT_TRUE(WaitFor([&] { return ArrivedFrom(first, "queue") >= 1; }, seconds(60)));
  CommandResult second = RunFlopctl(
      With({"run", "--host", daemon->address(), "--op", "outer", "--sizes", "32"}, kFast));
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_TRUE(absl::StrContains(second.err, "queued at position 1")) << second.err;
  CommandResult first_done = first.Wait();
  EXPECT_EQ(first_done.exit_code, 0) << first_done.err;
  EXPECT_EQ(ReadResults(first_out).size(), 14u);
}

TEST(FlopctlRun, ClientThatDisconnectsStopsItsJob) {
  auto daemon = Daemon::Start("cancel");
  const std::string out = TempDir() + "/cancel.jsonl";
  BackgroundCommand run({"run", "--host", daemon->address(), "--op", "matvec", "--impl", "gemv",
                         "--sizes", "100:5000:100", "--min-time", "0.2", "--max-time", "0.2",
                         "--out", out});
  ASSERT_TRUE(WaitFor([&] { return ArrivedFrom(run, "cancel") >= 1; }, seconds(60)));
  run.Signal(SIGKILL);
  run.Wait();
  // The job had ~49 points x 0.2 s left; the daemon must notice within a sample.
  EXPECT_TRUE(WaitFor([&] { return absl::StrContains(ReadFile(daemon->log_path()), "cancel"); },
                      seconds(5)))
      << ReadFile(daemon->log_path());
  // The service notices first; the device is free once the worker ends the
  // job, within one 0.2 s sample: the daemon then counts no job.
  EXPECT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(RunFlopctl({"info", "--host", daemon->address()}).out,
                                 "jobs queued or running 0");
      },
      seconds(2)))
      << RunFlopctl({"info", "--host", daemon->address()}).out;
  CommandResult next = RunFlopctl(
      With({"run", "--host", daemon->address(), "--op", "outer", "--sizes", "32"}, kFast));
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_FALSE(absl::StrContains(next.err, "queued at position")) << next.err;
}

TEST(FlopctlRun, SigtermEndsTheStreamWithAnErrorAndKeepsMeasuredResults) {
  auto daemon = Daemon::Start("sigterm");
  const std::string out = TempDir() + "/sigterm.jsonl";
  BackgroundCommand run({"run", "--host", daemon->address(), "--op", "matvec", "--impl", "gemv",
                         "--sizes", "100:5000:100", "--min-time", "0.2", "--max-time", "0.2",
                         "--out", out});
  ASSERT_TRUE(WaitFor([&] { return ArrivedFrom(run, "sigterm") >= 1; }, seconds(60)));
  daemon->Signal(SIGTERM);
  CommandResult done = run.Wait(seconds(20));
  EXPECT_EQ(done.exit_code, 1) << done.err;
  EXPECT_TRUE(absl::StrContains(done.err, "UNAVAILABLE: flopd is shutting down")) << done.err;
  EXPECT_FALSE(ReadResults(out).empty());
  EXPECT_EQ(daemon->Wait(seconds(15)), 0) << ReadFile(daemon->log_path());
}

// Without --device a host runs on its GPUs, else its CPU, and flopctl says
// which (flopctl measured cpu:0 on GPU nodes without a word); these daemons
// are started with --no-cuda.
TEST(FlopctlRun, WithoutDeviceEachHostSaysWhichDevicesItRunsOn) {
  auto a = Daemon::Start("defaults-a");
  auto b = Daemon::Start("defaults-b");
  CommandResult run = RunFlopctl(
      With({"run", "--host", a->address() + "," + b->address(), "--op", "matvec", "--impl",
            "gemv", "--sizes", "32", "--format", "jsonl", "--quiet"},
           kFast));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  for (const auto* daemon : {a.get(), b.get()}) {
    EXPECT_TRUE(absl::StrContains(
        run.err, daemon->address() + ": no --device given: measuring cpu:0 (it has no GPU; "
                                     "--device all measures every device it has)\n"))
        << run.err;
  }
  int results = 0;
  for (absl::string_view line : absl::StrSplit(run.out, '\n', absl::SkipEmpty())) {
    absl::StatusOr<v1::Result> r = FromJsonLine(std::string(line));
    ASSERT_TRUE(r.ok()) << line;
    EXPECT_EQ(r->device(), "cpu:0");
    ++results;
  }
  EXPECT_EQ(results, 2) << run.out;

  // `ops` over both: which hosts the catalog is of, shown once.
  CommandResult ops = RunFlopctl({"ops", "--host", a->address() + "," + b->address()});
  ASSERT_EQ(ops.exit_code, 0) << ops.err;
  EXPECT_TRUE(absl::StartsWith(ops.out, "catalog of " + a->address() + ", " + b->address() +
                                            " (2 hosts, every host given):\n"))
      << ops.out;

  // `show` prints a saved run as `run` printed it.
  const std::string saved = TempDir() + "/defaults.jsonl";
  {
    std::ofstream file(saved);
    file << run.out;
  }
  CommandResult shown = RunFlopctl({"show", saved});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_TRUE(absl::StrContains(shown.out, "defaults-a")) << shown.out;
  EXPECT_TRUE(absl::StrContains(shown.out, "fleet median")) << shown.out;

  CommandResult version = RunFlopctl({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_TRUE(absl::StartsWith(version.out, "flopctl 0.")) << version.out;
}

}  // namespace
}  // namespace flopd::testing
