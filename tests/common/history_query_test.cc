#include "common/history_query.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/job_record.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

ResultIndex Index() {
  ResultIndex r;
  r.job_id = "j-01hv3k7q2m-x7k2pq";
  r.run_id = "r-1";
  r.device = "cpu:0";
  r.op = "outer";
  r.impl = "fused";
  r.params = "axis=1";
  r.dtype = "f32";
  r.n = 1000;
  r.measured_unix_ms = 5000;
  return r;
}

TEST(ResultFilter, EmptyMatchesEverythingAndEachFieldNarrows) {
  const ResultIndex r = Index();
  EXPECT_TRUE(ResultFilter().Matches(r));
  ResultFilter f;
  f.ops = {"matvec", "outer"};
  EXPECT_TRUE(f.Matches(r));
  f.ops = {"matvec"};
  EXPECT_FALSE(f.Matches(r));
  f = {};
  f.params = {"axis=0"};
  EXPECT_FALSE(f.Matches(r));
  f = {};
  f.min_n = 1000;
  f.max_n = 1000;
  EXPECT_TRUE(f.Matches(r));
  f.min_n = 1001;
  EXPECT_FALSE(f.Matches(r));
  f = {};
  f.since_unix_ms = 5000;  // inclusive
  f.until_unix_ms = 5001;  // exclusive
  EXPECT_TRUE(f.Matches(r));
  f.until_unix_ms = 5000;
  EXPECT_FALSE(f.Matches(r));
  f = {};
  f.run_ids = {"r-2"};
  EXPECT_FALSE(f.Matches(r));
}

TEST(ResultFilter, CanonicalTextIgnoresOrderAndRepeatsButNotValues) {
  ResultFilter a, b;
  a.ops = {"outer", "matvec"};
  b.ops = {"matvec", "outer", "matvec"};
  EXPECT_EQ(a.Canonical(), b.Canonical());
  b.impls = {"fused"};
  EXPECT_NE(a.Canonical(), b.Canonical());
  ResultFilter c;
  c.impls = {"outer"};  // the same word in another field
  ResultFilter d;
  d.ops = {"outer"};
  EXPECT_NE(c.Canonical(), d.Canonical());
}

TEST(NormalizeResultFilter, NormalizesSpellingsAndParamOrder) {
  ResultFilter f;
  f.dtypes = {"float64"};
  f.params = {"axis=1"};
  ASSERT_TRUE(NormalizeResultFilter(&f).ok());
  EXPECT_EQ(f.dtypes, (std::vector<std::string>{"f64"}));
  EXPECT_EQ(f.params, (std::vector<std::string>{"axis=1"}));
}

TEST(NormalizeResultFilter, RefusesBadValuesNamingTheField) {
  struct Case {
    std::function<void(ResultFilter*)> set;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](ResultFilter* f) { f->ops = {"conv"}; }, "filter.ops: unknown op 'conv'; allowed: "},
      {[](ResultFilter* f) { f->impls = {"cudnn"}; }, "filter.impls: unknown impl 'cudnn'"},
      {[](ResultFilter* f) { f->dtypes = {"f16"}; }, "filter.dtypes: unknown dtype 'f16'"},
      {[](ResultFilter* f) { f->params = {"axis=2"}; }, "filter.params: axis=2 is not allowed"},
      {[](ResultFilter* f) { f->params = {"q=2"}; }, "filter.params: unknown param 'q'"},
      {[](ResultFilter* f) { f->params = {"axis"}; },
       "filter.params: 'axis' is not a params label"},
      {[](ResultFilter* f) { f->devices = {"gpu0"}; }, "filter.devices: 'gpu0' is not a device id"},
      {[](ResultFilter* f) { f->job_ids = {"job-1"}; }, "filter.job_ids: 'job-1' is not a job id"},
      {[](ResultFilter* f) { f->run_ids = {"a b"}; }, "filter.run_ids: character 2"},
      {[](ResultFilter* f) { f->min_n = -1; }, "filter.min_n: -1 is out of range"},
      {[](ResultFilter* f) {
         f->min_n = 10;
         f->max_n = 5;
       },
       "filter.min_n: 10 is above filter.max_n (5)"},
      {[](ResultFilter* f) {
         f->since_unix_ms = 20;
         f->until_unix_ms = 10;
       },
       "filter.since_unix_ms: 20 is not before filter.until_unix_ms (10)"},
      {[](ResultFilter* f) { f->until_unix_ms = -3; }, "filter.until_unix_ms: -3 is out of range"},
      {[](ResultFilter* f) { f->ops = std::vector<std::string>(101, "outer"); },
       "filter.ops: 101 values; allowed at most 100"},
  };
  for (const Case& c : cases) {
    ResultFilter f;
    c.set(&f);
    absl::Status st = NormalizeResultFilter(&f);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.expected;
    EXPECT_TRUE(absl::StrContains(st.message(), c.expected))
        << "expected '" << c.expected << "' in: " << st.message();
  }
}

TEST(NormalizeJobFilter, RefusesUnknownStatesAndBackwardsTimes) {
  JobFilter f;
  f.states = {"running", "done"};
  absl::Status st = NormalizeJobFilter(&f);
  EXPECT_TRUE(absl::StrContains(st.message(),
                                "filter.states: unknown state 'done'; allowed: "
                                "queued, running, finished, failed, cancelled, "
                                "interrupted"))
      << st;
  f = {};
  f.since_unix_ms = 5;
  f.until_unix_ms = 5;
  EXPECT_EQ(NormalizeJobFilter(&f).code(), absl::StatusCode::kInvalidArgument);
  f = {};
  f.states = {"interrupted"};
  f.devices = {"cuda:1"};
  EXPECT_TRUE(NormalizeJobFilter(&f).ok());
}

TEST(EffectivePageSize, DefaultsClampsAndRefusesNegative) {
  EXPECT_EQ(*EffectivePageSize(0), kDefaultPageSize);
  EXPECT_EQ(*EffectivePageSize(7), 7);
  EXPECT_EQ(*EffectivePageSize(kMaxPageSize), kMaxPageSize);
  EXPECT_EQ(*EffectivePageSize(1 << 30), kMaxPageSize);
  absl::StatusOr<int> negative = EffectivePageSize(-1);
  ASSERT_FALSE(negative.ok());
  EXPECT_TRUE(absl::StartsWith(negative.status().message(), "page_size: -1 is out of range"));
}

TEST(IsDeviceId, AcceptsBackendColonIndexOnly) {
  EXPECT_TRUE(IsDeviceId("cpu:0"));
  EXPECT_TRUE(IsDeviceId("cuda:12"));
  for (const char* bad : {"", "cpu", "cpu:", ":0", "CPU:0", "cpu:x", "cpu:0:1"}) {
    EXPECT_FALSE(IsDeviceId(bad)) << bad;
  }
}

}  // namespace
}  // namespace flopd
