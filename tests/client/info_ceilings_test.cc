// flopctl info's ceilings: their age, attempts and the memory's theoretical
// bandwidth (issue 11: ceilings carry their age).
#include <cstdint>
#include <string>

#include "client/info_commands.h"
#include "common/roofline.h"
#include "flopd/v1/flopd.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace flopd {

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kStart = 1764547200000;  // 2025-12-01 00:00:00 UTC
constexpr int64_t kMinute = 60000;

v1::DeviceInfo CpuWithCeilings(int64_t measured_unix_ms) {
  v1::DeviceInfo d;
  v1::DeviceCeilings* c = d.mutable_ceilings();
  c->set_bandwidth_bytes_per_s(20e9);
  (*c->mutable_peak_flops_per_s())["f32"] = 100e9;
  c->set_clock_hz(2.1e9);
  c->set_measured_unix_ms(measured_unix_ms);
  c->set_seconds_spent(1.25);
  c->set_attempts(1);
  return d;
}

TEST(CeilingsAgeText, SaysHowLongAgoAndWhenAfterTheStart) {
  EXPECT_EQ(CeilingsAgeText(kStart + 2000, kStart + 192 * kMinute, kStart),
            "measured 3 h 11 min ago, at flopd's start");
  EXPECT_EQ(CeilingsAgeText(kStart + 125 * kMinute, kStart + 137 * kMinute, kStart),
            "measured 12 min ago, 2 h 5 min after flopd started");
  EXPECT_EQ(CeilingsAgeText(kStart, kStart + 40000, 0), "measured 40 s ago");
  EXPECT_EQ(CeilingsAgeText(kStart, kStart + (49 * 60) * kMinute, 0), "measured 2 d 1 h ago");
  EXPECT_EQ(CeilingsAgeText(kStart + 10 * kMinute, kStart, 0),
            "measured in the future (clocks differ)");
  EXPECT_EQ(CeilingsAgeText(0, kStart, kStart), "");
}

TEST(InfoCeilingsText, ShowsTheCeilingsAge) {
  const std::string text =
      CeilingsText(CpuWithCeilings(kStart + 3000), kStart + 192 * kMinute + 3000, kStart);
  EXPECT_THAT(text, HasSubstr("ceilings (measured 3 h 12 min ago, at flopd's start; at "
                              "2025-12-01 00:00:03 UTC in 1.25 s):"));
  EXPECT_THAT(text, Not(HasSubstr("attempts")));
}

TEST(InfoCeilingsText, ShowsARepeatedMeasurementAndTheTheoreticalBandwidth) {
  v1::DeviceInfo d = CpuWithCeilings(kStart + 30 * kMinute);
  d.mutable_ceilings()->set_attempts(2);
  d.mutable_ceilings()->set_derived_bandwidth_bytes_per_s(25e9);
  d.mutable_ceilings()->add_doubts("other processes used 38% of the 2 CPU(s)");
  const std::string text = CeilingsText(d, kStart + 45 * kMinute, kStart);
  EXPECT_THAT(text, HasSubstr("measured 15 min ago, 30 min after flopd started; at "
                              "2025-12-01 00:30:00 UTC in 1.25 s, 2 attempts: the first was "
                              "doubtful):"));
  EXPECT_THAT(text, HasSubstr("memory bandwidth  20 GB/s measured, 25 GB/s theoretical (80% of "
                              "it)"));
  EXPECT_THAT(text, HasSubstr("DOUBTFUL: other processes used 38% of the 2 CPU(s)"));
}

}  // namespace
}  // namespace flopd
