#include "client/run_command.h"

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "proto/wire/wire.h"

namespace flopd {
namespace {

TEST(ParseRunCommand, BuildsTheSubmissionEveryTargetIsSent) {
  absl::StatusOr<RunPlan> plan = ParseRunCommand(
      {"--host", "a,b:7", "--op", "outer", "--impl", "fused", "--axis", "1", "--dtype", "f64",
       "--sizes", "10,20", "--samples", "3", "--timing", "cold", "--format", "csv", "--out",
       "r.jsonl", "--plot", "p.svg", "--device", "all", "--quiet"});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->help);
  EXPECT_EQ(plan->hosts, (std::vector<std::string>{"a:50051", "b:7"}));
  EXPECT_EQ(plan->device, "all");
  EXPECT_EQ(plan->format, ResultFormat::kCsv);
  EXPECT_EQ(plan->out_path, "r.jsonl");
  EXPECT_EQ(plan->plot_path, "p.svg");
  EXPECT_TRUE(plan->quiet);

  const v1::RunRequest request = ToProto(plan->submission);
  EXPECT_EQ(request.ops_size(), 1);
  EXPECT_EQ(request.ops(0), "outer");
  EXPECT_EQ(request.impls(0), "fused");
  ASSERT_EQ(request.params_size(), 1);
  EXPECT_EQ(request.params(0).name(), "axis");
  EXPECT_EQ(request.params(0).values_size(), 1);
  EXPECT_EQ(request.params(0).values(0), 1);
  EXPECT_EQ(request.dtypes(0), "f64");
  EXPECT_EQ(request.sizes(), "10,20");
  EXPECT_TRUE(request.settings().has_fixed_samples());
  EXPECT_EQ(request.settings().fixed_samples(), 3);
  EXPECT_EQ(request.settings().timing(), "cold");
  EXPECT_FALSE(request.settings().has_noise_target());  // unset stays unset
  EXPECT_TRUE(absl::StartsWith(request.client(), "flopctl pid ")) << request.client();
}

// Every param of the catalog is a flag of its own (--k, --B, --d like
// --axis), checked against the catalog before anything is sent.
TEST(ParseRunCommand, EveryCatalogParamIsAFlag) {
  absl::StatusOr<RunPlan> plan =
      ParseRunCommand({"--op", "chain,batched_mv", "--k", "1,256", "--B", "64"});
  ASSERT_TRUE(plan.ok()) << plan.status();
  const v1::RunRequest request = ToProto(plan->submission);
  ASSERT_EQ(request.params_size(), 2);
  EXPECT_EQ(request.params(0).name(), "k");
  EXPECT_EQ(request.params(0).values_size(), 2);
  EXPECT_EQ(request.params(0).values(1), 256);
  EXPECT_EQ(request.params(1).name(), "B");
  EXPECT_EQ(request.params(1).values(0), 64);
  EXPECT_EQ(ParseRunCommand({"--op", "chain", "--k", "3"}).status().message(),
            "k: 3 is not allowed; allowed: 1, 2, 4, 8, 16, 32, 64, 128, 256");
  EXPECT_EQ(ParseRunCommand({"--op", "attention", "--d", "x"}).status().message(),
            "d: 'x' is not allowed; allowed: 64, 128");
  EXPECT_EQ(ParseRunCommand({"--op", "matvec", "--B", "2"}).status().message(),
            "params: unknown param 'B' for ops matvec; allowed: none");
  // The help lists each param with its ops and values.
  const std::string help = RunHelp();
  EXPECT_NE(help.find("-k V[,V...]"), std::string::npos) << help;
  EXPECT_NE(help.find("chain: fused multiply-adds per element"), std::string::npos) << help;
  EXPECT_NE(help.find("-d V[,V...]"), std::string::npos) << help;
}

// No --device: each host's own default (its GPUs, else its CPU), chosen
// once its devices are known (ChooseDefaultDevices), not cpu:0 for all.
TEST(ParseRunCommand, DefaultsToTheLocalHostItsOwnDevicesAndTheTable) {
  absl::StatusOr<RunPlan> plan = ParseRunCommand({"--op", "matvec"});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->hosts, (std::vector<std::string>{"127.0.0.1:50051"}));
  EXPECT_EQ(plan->device, "");
  EXPECT_EQ(ParseRunCommand({"--op", "matvec", "--device", "cuda:1"})->device, "cuda:1");
  EXPECT_EQ(ParseRunCommand({"--op", "matvec", "--device", ""}).status().message(),
            "--device: '' is not allowed; allowed: a device id (cpu:0, cuda:1, ...) or all; "
            "leave it out for each host's GPUs, else its CPU");
  EXPECT_EQ(plan->format, ResultFormat::kTable);
  EXPECT_TRUE(plan->out_path.empty());
  EXPECT_FALSE(plan->plot_path.has_value());
  EXPECT_FALSE(plan->quiet);
}

// `--host h:99999` dialled another port and `h:abc` was "unreachable":
// refused before anything is dialled, naming --host.
TEST(ParseRunCommand, RefusesAHostWhosePortIsOutOfRangeOrNotANumber) {
  for (const std::string host : {"h:99999", "h:65536", "h:abc", "h:-1", "h:0", "h:", "::1",
                                 "[::1]:99999"}) {
    absl::StatusOr<RunPlan> plan = ParseRunCommand({"--op", "outer", "--host", "a," + host});
    ASSERT_FALSE(plan.ok()) << host << " was accepted as " << plan->hosts[1];
    EXPECT_EQ(plan.status().message(),
              "--host: '" + host +
                  "' is not allowed; allowed: HOST, HOST:PORT, [IPV6] or [IPV6]:PORT with PORT "
                  "1..65535, or unix:PATH")
        << host;
  }
  EXPECT_EQ(ParseRunCommand({"--op", "outer", "--host", "[::1"}).status().message(),
            "--host: '[::1': a '[' without its ']'");
  absl::StatusOr<RunPlan> plan =
      ParseRunCommand({"--op", "outer", "--host", "h,h:65535,[::1],[::1]:1"});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->hosts,
            (std::vector<std::string>{"h:50051", "h:65535", "[::1]:50051", "[::1]:1"}));
}

TEST(ParseRunCommand, HelpNeedsNothingElse) {
  absl::StatusOr<RunPlan> plan = ParseRunCommand({"--help"});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->help);
}

// The first error in command-line order is the one reported, word for word.
TEST(ParseRunCommand, ReportsTheFirstBadFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--op", "matvec", "extra"}, "unexpected argument 'extra'; see --help"},
      {{"--op", "outer", "--axis", "x"}, "axis: 'x' is not allowed; allowed: 0, 1"},
      {{"--op", "matvec", "--sizes", ""}, "sizes: malformed size spec '': it is empty"},
      {{"--op", "matvec", "--min-samples", "many", "--max-time", "long"},
       "--min-samples: 'many' is not a number"},
      {{"--op", "matvec", "--iterations", "0"},
       "settings.iterations_per_sample: 0 is out of range; allowed 1..1000000"},
      {{"--op", "matvec", "--format", "xml"},
       "format: unknown format 'xml'; allowed: table, csv, json, jsonl"},
      {{"--op", "matvec", "--host", ","},
       "--host: no host given; expected H[,H...], a hostlist such as gpu[01-04], @FILE, "
       "dns:NAME or slurm"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<RunPlan> plan = ParseRunCommand(c.args);
    ASSERT_FALSE(plan.ok()) << c.message;
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(plan.status().message(), c.message);
  }
  EXPECT_TRUE(absl::StartsWith(ParseRunCommand({"--op", "nope"}).status().message(),
                               "op: unknown op 'nope'"));
}

v1::Result Passed(const std::string& op, const std::string& impl, int64_t n) {
  v1::Result r;
  r.set_host_address("h:1");
  r.set_device("cpu:0");
  r.set_op(op);
  r.set_impl(impl);
  if (op == "outer") (*r.mutable_params())["axis"] = 1;
  r.set_dtype("f32");
  r.set_n(n);
  r.set_flops(2 * n * n - n);
  r.set_min_bytes(3 * n * 4);
  r.mutable_time()->set_median(1e-3);
  r.mutable_verification()->set_passed(true);
  return r;
}

// The last cell of the table row whose first cells are `op impl`.
std::string VerifiedCell(const std::string& table, const std::string& op,
                         const std::string& impl) {
  for (absl::string_view line : absl::StrSplit(table, '\n')) {
    std::vector<std::string> cells = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (cells.size() > 2 && cells[0] == op && cells[1] == impl) return cells.back();
  }
  return "";
}

RunPlan Plan(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"--op", "matvec,outer", "--quiet"};
  args.insert(args.end(), extra.begin(), extra.end());
  absl::StatusOr<RunPlan> plan = ParseRunCommand(args);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *plan;
}

TEST(RenderRun, AResultThatFailedVerificationIsFailInTheTableAndExitStatusOne) {
  RunOutcome outcome;
  outcome.host_order = {"h:1"};
  outcome.results = {Passed("matvec", "gemm", 100), Passed("outer", "fused", 100)};
  outcome.results[1].mutable_verification()->set_passed(false);
  outcome.results[1].mutable_verification()->set_detail("element 0: 2 vs 1");
  std::ostringstream out, err;
  EXPECT_EQ(RenderRun(Plan(), outcome, out, err), 1);
  EXPECT_EQ(VerifiedCell(out.str(), "outer", "fused"), "FAIL") << out.str();
  EXPECT_EQ(VerifiedCell(out.str(), "matvec", "gemm"), "ok") << out.str();
  EXPECT_EQ(err.str(), "flopctl: 1 result(s) FAILED verification\n");

  // The exit status does not depend on the format the results are shown in.
  std::ostringstream csv, csv_err;
  EXPECT_EQ(RenderRun(Plan({"--format", "csv"}), outcome, csv, csv_err), 1);
  EXPECT_EQ(csv_err.str(), "flopctl: 1 result(s) FAILED verification\n");
}

TEST(RenderRun, ExitStatusIsZeroOnlyWhenEveryTargetFinishedAndEveryResultPassed) {
  RunOutcome ok;
  ok.host_order = {"h:1"};
  ok.results = {Passed("matvec", "gemm", 100), Passed("outer", "fused", 100)};
  std::ostringstream out, err;
  EXPECT_EQ(RenderRun(Plan(), ok, out, err), 0);
  EXPECT_EQ(err.str(), "");
  EXPECT_EQ(VerifiedCell(out.str(), "outer", "fused"), "ok") << out.str();

  RunOutcome host_failed = ok;
  host_failed.failures = {"h:2: UNAVAILABLE: unreachable (after 0 results)"};
  std::ostringstream out2, err2;
  EXPECT_EQ(RenderRun(Plan(), host_failed, out2, err2), 1);
  EXPECT_EQ(err2.str(), "flopctl: h:2: UNAVAILABLE: unreachable (after 0 results)\n");

  RunOutcome nothing;  // every host failed: no results, still a failure
  nothing.failures = {"h:1: UNAVAILABLE: connection lost"};
  std::ostringstream out3, err3;
  EXPECT_EQ(RenderRun(Plan(), nothing, out3, err3), 1);
  EXPECT_EQ(out3.str(), "no results\n");
}

}  // namespace
}  // namespace flopd
