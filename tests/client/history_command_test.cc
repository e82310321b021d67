#include "client/history_command.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

constexpr int64_t kNow = 1700000000000;  // 2023-11-14T22:13:20Z

TEST(ParseTimeFlag, AgesDatesRfc3339AndMilliseconds) {
  EXPECT_EQ(*ParseTimeFlag("since", "2h", kNow), kNow - 2 * 3600 * 1000);
  EXPECT_EQ(*ParseTimeFlag("since", "30m", kNow), kNow - 30 * 60 * 1000);
  EXPECT_EQ(*ParseTimeFlag("since", "7d", kNow), kNow - 7 * 86400 * 1000);
  EXPECT_EQ(*ParseTimeFlag("since", "1w", kNow), kNow - 7 * 86400 * 1000);
  EXPECT_EQ(*ParseTimeFlag("since", "2023-11-14", kNow), 1699920000000);
  EXPECT_EQ(*ParseTimeFlag("since", "2023-11-14T22:13:20Z", kNow), kNow);
  EXPECT_EQ(*ParseTimeFlag("since", "2023-11-15T00:13:20+02:00", kNow), kNow);
  EXPECT_EQ(*ParseTimeFlag("since", "1699999999999", kNow), 1699999999999);
  for (const char* bad : {"", "yesterday", "2h ago", "5x", "-3h", "2023-13-45", "99999999w"}) {
    absl::StatusOr<int64_t> t = ParseTimeFlag("since", bad, kNow);
    EXPECT_FALSE(t.ok()) << bad;
    if (!t.ok()) {
      EXPECT_TRUE(absl::StartsWith(t.status().message(), "--since: '")) << t.status();
    }
  }
}

TEST(ParseHistoryCommand, FlagsBecomeTheDaemonsFilter) {
  absl::StatusOr<HistoryPlan> plan =
      ParseHistoryCommand({"--host",  "a,b:7",   "--op",     "outer",
                           "--impl",  "fused",   "--axis",   "0,1",
                           "--dtype", "float64", "--device", "cuda:1",
                           "--run",   "r-x",     "--job",    "j-01hv3k7q2m-x7k2pq",
                           "--min-n", "100",     "--max-n",  "2000",
                           "--since", "2h",      "--until",  "1h",
                           "--limit", "0",       "--format", "csv",
                           "--out",   "h.jsonl"},
                          kNow);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->hosts, (std::vector<std::string>{"a:50051", "b:7"}));
  const ResultFilter& f = plan->filter;
  EXPECT_EQ(f.ops, (std::vector<std::string>{"outer"}));
  EXPECT_EQ(f.impls, (std::vector<std::string>{"fused"}));
  EXPECT_EQ(f.params, (std::vector<std::string>{"axis=0", "axis=1"}));
  EXPECT_EQ(f.dtypes, (std::vector<std::string>{"f64"})) << "normalized";
  EXPECT_EQ(f.devices, (std::vector<std::string>{"cuda:1"}));
  EXPECT_EQ(f.run_ids, (std::vector<std::string>{"r-x"}));
  EXPECT_EQ(f.job_ids, (std::vector<std::string>{"j-01hv3k7q2m-x7k2pq"}));
  EXPECT_EQ(f.min_n, 100);
  EXPECT_EQ(f.max_n, 2000);
  EXPECT_EQ(f.since_unix_ms, kNow - 2 * 3600 * 1000);
  EXPECT_EQ(f.until_unix_ms, kNow - 3600 * 1000);
  EXPECT_EQ(plan->limit, 0);
  EXPECT_EQ(plan->format, ResultFormat::kCsv);
  EXPECT_EQ(plan->out_path, "h.jsonl");

  plan = ParseHistoryCommand({"--device", "all"}, kNow);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->filter.devices.empty());
  EXPECT_EQ(plan->limit, 1000);
  EXPECT_EQ(plan->hosts, (std::vector<std::string>{"127.0.0.1:50051"}));
}

TEST(ParseHistoryCommand, RefusesAHostWhosePortIsOutOfRangeOrNotANumber) {
  for (const std::string host : {"h:99999", "h:abc", "h:0"}) {
    const std::string expected =
        "--host: '" + host +
        "' is not allowed; allowed: HOST, HOST:PORT, [IPV6] or [IPV6]:PORT with PORT 1..65535, or unix:PATH";
    absl::StatusOr<HistoryPlan> history = ParseHistoryCommand({"--host", host}, kNow);
    ASSERT_FALSE(history.ok()) << host;
    EXPECT_EQ(history.status().message(), expected);
    absl::StatusOr<WatchPlan> watch = ParseWatchCommand({"--host", host}, kNow);
    ASSERT_FALSE(watch.ok()) << host;
    EXPECT_EQ(watch.status().message(), expected);
    absl::StatusOr<JobsPlan> jobs = ParseJobsCommand({"--host", host}, kNow);
    ASSERT_FALSE(jobs.ok()) << host;
    EXPECT_EQ(jobs.status().message(), expected);
  }
}

TEST(ParseHistoryCommand, RefusesWhatTheDaemonWouldRefuseInItsWords) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--op", "conv"}, "filter.ops: unknown op 'conv'; allowed: "},
      {{"--axis", "2"}, "filter.params: axis=2 is not allowed; allowed: 0, 1"},
      {{"--job", "job-1"}, "filter.job_ids: 'job-1' is not a job id"},
      {{"--since", "1h", "--until", "2h"}, "filter.since_unix_ms: "},
      {{"--min-n", "-4"}, "--min-n: '-4' is not allowed"},
      {{"--min-n", "50", "--max-n", "10"}, "filter.min_n: 50 is above filter.max_n (10)"},
      {{"--format", "xml"}, "format: unknown format 'xml'"},
      {{"--limit", "many"}, "--limit: 'many' is not allowed"},
      {{"extra"}, "unexpected argument 'extra'"},
  };
  for (const auto& [args, expected] : cases) {
    absl::StatusOr<HistoryPlan> plan = ParseHistoryCommand(args, kNow);
    ASSERT_FALSE(plan.ok()) << expected;
    EXPECT_TRUE(absl::StartsWith(plan.status().message(), expected))
        << "expected '" << expected << "', got: " << plan.status().message();
  }
}

TEST(ParseWatchCommand, SinceMeansReplayAndUntilIsNotAFlag) {
  absl::StatusOr<WatchPlan> plan =
      ParseWatchCommand({"--host", "h1,h2", "--since", "10m", "--format", "jsonl"}, kNow);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->hosts.size(), 2u);
  EXPECT_EQ(plan->filter.since_unix_ms, kNow - 600 * 1000);
  EXPECT_EQ(plan->format, WatchFormat::kJsonl);
  EXPECT_EQ(ParseWatchCommand({}, kNow)->format, WatchFormat::kLine);
  EXPECT_FALSE(ParseWatchCommand({"--until", "1h"}, kNow).ok());
  EXPECT_FALSE(ParseWatchCommand({"--format", "table"}, kNow).ok());
}

TEST(ParseJobsCommand, StatesAreCheckedAndTheNewestTwentyAreTheDefault) {
  absl::StatusOr<JobsPlan> plan = ParseJobsCommand({"--state", "running,queued"}, kNow);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->filter.states, (std::vector<std::string>{"running", "queued"}));
  EXPECT_EQ(plan->limit, 20);
  EXPECT_FALSE(plan->jsonl);
  absl::StatusOr<JobsPlan> bad = ParseJobsCommand({"--state", "done"}, kNow);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StartsWith(bad.status().message(), "filter.states: unknown state 'done'"));
  EXPECT_TRUE(ParseJobsCommand({"--format", "jsonl"}, kNow)->jsonl);
}

}  // namespace
}  // namespace flopd
