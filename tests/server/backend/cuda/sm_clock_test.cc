// The clock-drop rule of the CUDA backend, without a GPU.
#include "server/backend/cuda/sm_clock.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

using ::testing::HasSubstr;

TEST(ClockDropTrackerTest, RisingClockIsNoDrop) {
  ClockDropTracker tracker("probe kernel");
  tracker.Add(1200, "after warm-up");  // still boosting out of idle
  tracker.Add(1980, "during sampling");
  tracker.Add(1980, "after sampling");
  EXPECT_EQ(tracker.DropWarning(), "");
  EXPECT_EQ(tracker.first(), 1200);
  EXPECT_EQ(tracker.last(), 1980);
}

TEST(ClockDropTrackerTest, SmallDipIsNoDrop) {
  ClockDropTracker tracker("NVML");
  tracker.Add(1980, "after warm-up");
  tracker.Add(1900, "after sampling");  // 4%
  EXPECT_EQ(tracker.DropWarning(), "");
}

TEST(ClockDropTrackerTest, DropBelowAnEarlierReadingWarnsWithBothReadings) {
  ClockDropTracker tracker("probe kernel");
  tracker.Add(1500, "after warm-up");
  tracker.Add(1980, "during sampling");
  tracker.Add(1755, "after sampling");  // 11.4% below the earlier 1980
  const std::string warning = tracker.DropWarning();
  EXPECT_THAT(warning, HasSubstr("11.4%"));
  EXPECT_THAT(warning, HasSubstr("1980 MHz (during sampling)"));
  EXPECT_THAT(warning, HasSubstr("1755 MHz (after sampling)"));
  EXPECT_THAT(warning, HasSubstr("probe kernel"));
  EXPECT_EQ(tracker.min(), 1500);
  EXPECT_EQ(tracker.max(), 1980);
}

TEST(ClockDropTrackerTest, FailedReadsAreIgnored) {
  ClockDropTracker tracker("NVML");
  tracker.Add(-1, "after warm-up");
  tracker.Add(0, "after sampling");
  EXPECT_TRUE(tracker.empty());
  EXPECT_EQ(tracker.DropWarning(), "");
}

TEST(NvmlClockTest, OpenSaysWhyNotOrReads) {
  std::string why_not;
  auto nvml = NvmlClock::Open("GPU-00000000-0000-0000-0000-000000000000", "", &why_not);
  // No GPU has this UUID: either NVML is missing or the lookup fails, and
  // either way the reason is given.
  EXPECT_EQ(nvml, nullptr);
  EXPECT_FALSE(why_not.empty());
}

}  // namespace
}  // namespace flopd
