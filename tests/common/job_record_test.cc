#include "common/job_record.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace flopd {
namespace {

TEST(JobIds, AreTimeSortableAndCarryRandomBits) {
  const std::string a = NewJobId(1700000000000, 1);
  const std::string b = NewJobId(1700000000001, 0);
  EXPECT_EQ(a.size(), 19u);
  EXPECT_EQ(a.substr(0, 2), "j-");
  EXPECT_LT(a, b) << "a later millisecond sorts later whatever the random bits";
  EXPECT_NE(NewJobId(1700000000000, 1), NewJobId(1700000000000, 2));
  EXPECT_TRUE(IsJobId(a));
  EXPECT_EQ(NewRunId(1700000000000, 1).substr(0, 2), "r-");
  EXPECT_FALSE(IsJobId(NewRunId(1700000000000, 1)));
  // Crockford's alphabet: no i, l, o, u.
  for (const char* bad : {"job-1", "", "j-01hv3k7q2m-x7k2p", "j-01hv3k7q2m-x7k2pu",
                          "j_01hv3k7q2m-x7k2pq", "j-01HV3K7Q2M-X7K2PQ"}) {
    EXPECT_FALSE(IsJobId(bad)) << bad;
  }
}

TEST(JobIds, ThirtyRandomBitsGiveDistinctIdsInOneMillisecond) {
  std::set<std::string> ids;
  for (uint64_t r = 0; r < 1000; ++r) ids.insert(NewJobId(42, r * 1000003));
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(JobState, NamesRoundTripAndEndStatesFollowTheStatus) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kFinished, JobState::kFailed,
                     JobState::kCancelled, JobState::kInterrupted}) {
    EXPECT_EQ(*ParseJobState(JobStateName(s)), s);
  }
  EXPECT_FALSE(ParseJobState("done").ok());
  EXPECT_EQ(EndStateOf(absl::OkStatus()), JobState::kFinished);
  EXPECT_EQ(EndStateOf(absl::CancelledError("x")), JobState::kCancelled);
  EXPECT_EQ(EndStateOf(absl::UnavailableError("flopd is shutting down")), JobState::kInterrupted);
  EXPECT_EQ(EndStateOf(absl::ResourceExhaustedError("x")), JobState::kFailed);
  EXPECT_FALSE(IsTerminal(JobState::kRunning));
  EXPECT_TRUE(IsTerminal(JobState::kInterrupted));
}

TEST(CheckRunId, PrintableWithoutSpacesUpTo128) {
  EXPECT_TRUE(CheckRunId("").ok());
  EXPECT_TRUE(CheckRunId("nightly-2024-05-01/gpu01").ok());
  EXPECT_TRUE(CheckRunId(std::string(128, 'a')).ok());
  EXPECT_EQ(CheckRunId(std::string(129, 'a')).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckRunId("a b").message(),
            "run_id: character 2 is a space or not printable; allowed: printable ASCII without "
            "spaces");
  EXPECT_FALSE(CheckRunId("tab\there").ok());
}

}  // namespace
}  // namespace flopd
