// The sanity checks of the CUDA backend's ceilings, with made-up figures: no
// GPU needed (issue 11: ceilings that cannot be true).
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/backend/cuda/cuda_ceilings.h"

namespace flopd {
namespace {

using ::testing::HasSubstr;

// An H100 SXM as measured on a quiet host: 132 SMs x 128 FP32 lanes x 2 x
// 1.98 GHz = 66.9 TFLOP/s derived, 61 measured; HBM3 2619 MHz x 5120 bits
// x 2 = 3.35 TB/s theoretical, 2.9 measured.
CudaCeilingsCheckInputs SaneH100() {
  CudaCeilingsCheckInputs in;
  in.peak_flops = {{"f32", 61e12}, {"f64", 31e12}};
  in.derived_peak_flops = {{"f32", 66.9e12}, {"f64", 33.45e12}};
  in.run_spread = {{"f32", 1.01}, {"f64", 1.02}, {"bandwidth", 1.01}};
  in.bandwidth_bytes_per_s = 2.9e12;
  in.theoretical_bandwidth_bytes_per_s = TheoreticalBandwidth(2619000, 5120);
  in.clock_mhz = 1980;
  in.nvml_clock_mhz = 1980;
  in.compute_processes = 1;  // flopd itself
  return in;
}

TEST(TheoreticalBandwidth, IsMemoryClockTimesBusWidthTimesTwo) {
  EXPECT_NEAR(TheoreticalBandwidth(2619000, 5120), 3.352e12, 0.001e12);  // H100 SXM, HBM3
  EXPECT_NEAR(TheoreticalBandwidth(10501000, 384), 1.008e12, 0.001e12);  // RTX 4090, GDDR6X
  EXPECT_EQ(TheoreticalBandwidth(0, 5120), 0);
  EXPECT_EQ(TheoreticalBandwidth(2619000, 0), 0);
}

TEST(CudaCeilingsDoubts, SaneFiguresAreNotDoubted) {
  EXPECT_THAT(CudaCeilingsDoubts(SaneH100()), ::testing::IsEmpty());
}

TEST(CudaCeilingsDoubts, APeakAboveOrFarBelowTheDerivedOneIsDoubted) {
  CudaCeilingsCheckInputs in = SaneH100();
  in.peak_flops["f32"] = 90e12;  // 135%: lanes or clock wrong
  in.peak_flops["f64"] = 10e12;  // 30%: shared or throttled
  const std::vector<std::string> doubts = CudaCeilingsDoubts(in);
  ASSERT_EQ(doubts.size(), 2u);
  EXPECT_THAT(doubts[0], HasSubstr("f32 peak 90 TFLOP/s measured is 135% of the 66.9 derived"));
  EXPECT_THAT(doubts[1], HasSubstr("f64 peak 10 TFLOP/s measured is only 30% of the 33.45"));
}

TEST(CudaCeilingsDoubts, BandwidthBeyondOrFarBelowTheMemorysIsDoubted) {
  CudaCeilingsCheckInputs in = SaneH100();
  in.bandwidth_bytes_per_s = 4.0e12;
  std::vector<std::string> doubts = CudaCeilingsDoubts(in);
  ASSERT_EQ(doubts.size(), 1u);
  EXPECT_THAT(doubts[0], HasSubstr("memory bandwidth 4000 GB/s measured is 119% of the memory's "
                                   "theoretical 3352 GB/s"));
  EXPECT_THAT(doubts[0], HasSubstr("more than the memory can move"));
  in.bandwidth_bytes_per_s = 1.0e12;
  doubts = CudaCeilingsDoubts(in);
  ASSERT_EQ(doubts.size(), 1u);
  EXPECT_THAT(doubts[0], HasSubstr("is 30% of the memory's"));
  // Unknown memory clock: the check is skipped.
  in.theoretical_bandwidth_bytes_per_s = 0;
  EXPECT_THAT(CudaCeilingsDoubts(in), ::testing::IsEmpty());
}

TEST(CudaCeilingsDoubts, DisagreeingRunsClocksAndOtherProcessesAreDoubted) {
  CudaCeilingsCheckInputs in = SaneH100();
  in.run_spread["f64"] = 1.4;
  in.run_spread["bandwidth"] = 1.2;
  in.nvml_clock_mhz = 1500;  // the kernel saw 1980
  in.compute_processes = 3;
  const std::vector<std::string> doubts = CudaCeilingsDoubts(in);
  ASSERT_EQ(doubts.size(), 4u);
  EXPECT_THAT(doubts[0], HasSubstr("the copies' timed runs were 20% apart (best vs median)"));
  EXPECT_THAT(doubts[1], HasSubstr("the f64 peak's timed runs were 40% apart (best vs worst)"));
  EXPECT_THAT(doubts[2], HasSubstr("1980 MHz (clock64() / %globaltimer) and NVML's 1500 MHz"));
  EXPECT_THAT(doubts[3], HasSubstr("2 other process(es) had a compute context on the GPU"));
}

TEST(CudaCeilingsDoubts, UnknownFiguresSkipTheirChecks) {
  CudaCeilingsCheckInputs in;
  in.peak_flops = {{"f32", 90e12}};  // nothing derived to compare with
  in.clock_mhz = 1980;
  in.nvml_clock_mhz = -1;
  EXPECT_THAT(CudaCeilingsDoubts(in), ::testing::IsEmpty());
}

}  // namespace
}  // namespace flopd
