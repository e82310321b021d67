#include "client/run_command.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
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

TEST(ParseRunCommand, DefaultsToOneLocalCpuAndTheTable) {
  absl::StatusOr<RunPlan> plan = ParseRunCommand({"--op", "matvec"});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->hosts, (std::vector<std::string>{"127.0.0.1:50051"}));
  EXPECT_EQ(plan->device, "cpu:0");
  EXPECT_EQ(plan->format, ResultFormat::kTable);
  EXPECT_TRUE(plan->out_path.empty());
  EXPECT_FALSE(plan->plot_path.has_value());
  EXPECT_FALSE(plan->quiet);
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
      {{"--op", "matvec", "--host", ","}, "host: no host given; expected H[,H...]"},
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

}  // namespace
}  // namespace flopd
