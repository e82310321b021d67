// The split plans decide how the CUDA backend's split kernels cut their
// work; they are plain arithmetic, tested here without a GPU.
#include "server/backend/cuda/split_plan.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/backend/cuda/cuda_kernels.cuh"

namespace flopd {
namespace {

// The fused kernel's variants and block shape, as the launcher has them
// (cuda_kernels.cuh): tile widths in steps of 8 (f64 also 76 and 100).
const std::vector<int64_t> kTilesF32(std::begin(kernels::kFusedTileWidthsF32),
                                     std::end(kernels::kFusedTileWidthsF32));
const std::vector<int64_t> kTilesF64(std::begin(kernels::kFusedTileWidthsF64),
                                     std::end(kernels::kFusedTileWidthsF64));
constexpr int kWarpsF32 = kernels::kFusedWarpsF32;
constexpr int kWarpsF64 = kernels::kFusedWarpsF64;
constexpr int64_t kChunkMultiple = kernels::kFusedChunkMultiple;

SplitPlan PlanF32(int64_t n, int sms = 132) {
  return PlanFusedOnePerSm(n, sms, kTilesF32, kWarpsF32, kChunkMultiple, 128);
}
SplitPlan PlanF64(int64_t n, int sms = 132) {
  return PlanFusedOnePerSm(n, sms, kTilesF64, kWarpsF64, kChunkMultiple, 64);
}

// Every summed element lies in exactly one chunk, and no chunk is empty.
void ExpectCovers(const SplitPlan& plan, int64_t summed) {
  EXPECT_GE(plan.splits, 1);
  EXPECT_GE(plan.chunk * plan.splits, summed);
  EXPECT_LT(plan.chunk * (plan.splits - 1), summed);
}

// What LaunchOuterFused accepts.
void ExpectValidFusedPlan(const SplitPlan& plan, int64_t n, const std::vector<int64_t>& widths) {
  EXPECT_NE(std::find(widths.begin(), widths.end(), plan.tile_width), widths.end())
      << plan.tile_width;
  EXPECT_EQ(plan.tiles, (n + plan.tile_width - 1) / plan.tile_width);
  EXPECT_EQ(plan.chunk % kChunkMultiple, 0);
  ExpectCovers(plan, n);
}

TEST(FusedPlanTest, OneWaveAtTheSeedsLargestSize) {
  // 132 SMs. Tiles of 152 (lanes in groups of 8, kJ = 19) give 132 blocks,
  // every SM within 0.3% of an even share (160 would leave 7 SMs idle: 125
  // blocks; 144 would need 139, two waves). f32 has 152 since its blocks have
  // 8 warps (with 32, kJ = 19 needed every register and ran slower).
  const SplitPlan plan = PlanF32(20000);
  ExpectValidFusedPlan(plan, 20000, kTilesF32);
  EXPECT_EQ(plan.tile_width, 152);
  EXPECT_EQ(plan.tiles, 132);
  EXPECT_EQ(plan.splits, 1);
  EXPECT_EQ(plan.PartialElements(), 0);
  EXPECT_EQ(plan.CounterCount(), 0);
  const SplitPlan f64 = PlanF64(20000);
  ExpectValidFusedPlan(f64, 20000, kTilesF64);
  EXPECT_EQ(f64.tile_width, 152);
  EXPECT_EQ(f64.tiles, 132);
  EXPECT_EQ(f64.splits, 1);
}

TEST(FusedPlanTest, PicksWhatWasFastestOnTheGpus) {
  // The bench's winners among all tile widths and splits (NOTES.md; H100),
  // and at 4100 tiles of 40 (100 blocks), which an H200 ran 2.6% faster than
  // the H100's winner 64 (63 blocks) at N = 4000 (h200_fused_widths.md).
  EXPECT_EQ(PlanF32(12000).tile_width, 96);
  EXPECT_EQ(PlanF32(12000).splits, 1);
  EXPECT_EQ(PlanF32(8000).tile_width, 64);
  EXPECT_EQ(PlanF32(8000).splits, 1);
  EXPECT_EQ(PlanF32(4100).tile_width, 40);
  EXPECT_EQ(PlanF32(4100).splits, 1);
}

TEST(FusedPlanTest, EverySizeGetsAValidPlanInOneWaveWhereItFits) {
  for (int f64 = 0; f64 < 2; ++f64) {
    const std::vector<int64_t>& widths = f64 ? kTilesF64 : kTilesF32;
    for (int64_t n = 1; n <= 40000; n += (n < 300 ? 1 : 97)) {
      SCOPED_TRACE(n);
      const SplitPlan plan = f64 ? PlanF64(n) : PlanF32(n);
      ExpectValidFusedPlan(plan, n, widths);
      // The widest tile covers 132 * width outputs in one wave.
      if (n <= 132 * widths.back()) {
        EXPECT_LE(plan.tiles * plan.splits, 132);
      }
      if (plan.splits > 1) {
        EXPECT_GE(plan.chunk, 16 * (f64 ? kWarpsF64 : kWarpsF32));
      }
    }
  }
}

// Issue 12's smoothness: with widths in steps of 8, from N = 8000 (where
// tiles of 64 fill the SMs) every size of the seed's sweep keeps the busiest
// SM within 12% of an even share (N^2 / 132 FMAs) in one wave; widths in
// steps of 16-32 (session 8) left up to a third of it idle (N = 8500: tiles
// of 96, 89 blocks).
TEST(FusedPlanTest, TilesInStepsOf8KeepTheSmsEvenlyBusyAcrossTheSeedsSweep) {
  for (int f64 = 0; f64 < 2; ++f64) {
    for (int64_t n = 8000; n <= 20000; n += 500) {
      SCOPED_TRACE(absl::StrCat(f64 ? "f64" : "f32", " N=", n));
      const SplitPlan plan = f64 ? PlanF64(n) : PlanF32(n);
      ASSERT_LE(plan.tiles * plan.splits, 132);
      const double busiest = static_cast<double>(plan.tile_width) * std::min(plan.chunk, n);
      EXPECT_LT(busiest / (static_cast<double>(n) * n / 132), 1.12)
          << "tile " << plan.tile_width << " x " << plan.tiles << " tiles x " << plan.splits;
    }
  }
}

TEST(FusedPlanTest, F64FillsEverySmAtTenThousand) {
  // 9500 fills 132 SMs with 72-wide tiles; 10000 would need 80 (125 blocks)
  // without the 4-step widths: a 6% drop measured on an H200 (session 9).
  const SplitPlan plan = PlanF64(10000);
  ExpectValidFusedPlan(plan, 10000, kTilesF64);
  EXPECT_EQ(plan.tile_width, 76);
  EXPECT_EQ(plan.tiles, 132);
  EXPECT_EQ(plan.splits, 1);
  // 11000 takes 88 x 125: with 8-warp blocks the 84-wide variant (lanes in
  // groups of 4) ran slower than 88's 5% more work per block (round 7).
  const SplitPlan eleven = PlanF64(11000);
  ExpectValidFusedPlan(eleven, 11000, kTilesF64);
  EXPECT_EQ(eleven.tile_width, 88);
  EXPECT_EQ(eleven.tiles, 125);
  EXPECT_EQ(eleven.splits, 1);
}

TEST(FusedPlanTest, SplitsOnlyWhenTheyPay) {
  // A GPU with many SMs for few outputs: splitting the summed axis fills it.
  const SplitPlan wide = PlanF32(20000, 1000);
  ExpectValidFusedPlan(wide, 20000, kTilesF32);
  EXPECT_GT(wide.splits, 1);
  EXPECT_GT(wide.tiles * wide.splits, 132);
  EXPECT_LE(wide.tiles * wide.splits, 1000);
  // Tiny sizes are all overhead: one block, no split.
  const SplitPlan tiny = PlanF32(33);
  EXPECT_EQ(tiny.tiles, 1);
  EXPECT_EQ(tiny.splits, 1);
}

TEST(FusedPlanTest, ManyWavesStayBalanced) {
  const SplitPlan plan = PlanF32(1000000);
  ExpectValidFusedPlan(plan, 1000000, kTilesF32);
  // The busiest SM does at most 2% more than an even share.
  const int64_t waves = (plan.tiles * plan.splits + 131) / 132;
  const double busiest = static_cast<double>(waves * plan.tile_width * plan.chunk);
  EXPECT_LT(busiest / (1e12 / 132), 1.02);
}

TEST(SplitPlanTest, StreamingSplitAimsAtBlocksPerSm) {
  SplitShape shape;
  shape.outputs = 20000;
  shape.summed = 20000;
  shape.tile_width = 1024;
  shape.chunk_multiple = 8;
  shape.min_chunk = 32;
  const SplitPlan plan = PlanStreamingSplit(shape, 132, 1.5);
  EXPECT_EQ(plan.tiles, 20);
  EXPECT_EQ(plan.splits, 10);  // 200 blocks for 198 wanted
  ExpectCovers(plan, 20000);
  EXPECT_EQ(plan.chunk % 8, 0);
  for (int64_t n : {1, 2, 33, 1000, 1023, 4097}) {
    SCOPED_TRACE(n);
    shape.outputs = shape.summed = n;
    const SplitPlan small = PlanStreamingSplit(shape, 132, 1.5);
    ExpectCovers(small, n);
    if (small.splits > 1) {
      EXPECT_GE(small.chunk, 32);
    }
  }
}

TEST(SplitPlanTest, BlocksFillTheSmsFromFifteenSixteenthsOfABlockPerSm) {
  EXPECT_TRUE(BlocksFillTheSms(124, 132));   // 1984 >= 1980
  EXPECT_FALSE(BlocksFillTheSms(123, 132));  // 1968 < 1980
  EXPECT_TRUE(BlocksFillTheSms(15, 16));     // exactly 15/16
  EXPECT_FALSE(BlocksFillTheSms(14, 16));
  EXPECT_TRUE(BlocksFillTheSms(1, 0));       // sm_count 0 read as 1
}

}  // namespace
}  // namespace flopd
