// PlanSplit decides how the CUDA backend's split kernels cut their work; it
// is plain arithmetic, tested here without a GPU.
#include "server/backend/cuda/split_plan.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace flopd {
namespace {

SplitShape FusedShape(int64_t n) {
  SplitShape shape;
  shape.outputs = n;
  shape.summed = n;
  shape.tile_width = 512;
  shape.chunk_multiple = 32;
  shape.min_chunk = 64;
  shape.block_overhead = 256;
  return shape;
}

// Every summed element lies in exactly one chunk, and no chunk is empty.
void ExpectCovers(const SplitPlan& plan, int64_t summed) {
  EXPECT_GE(plan.splits, 1);
  EXPECT_GE(plan.chunk * plan.splits, summed);
  EXPECT_LT(plan.chunk * (plan.splits - 1), summed);
}

TEST(SplitPlanTest, FillsAnH100AtTheSeedsLargestSize) {
  // 132 SMs, 5 resident blocks of the f32 fused kernel: 40 tiles of 512.
  const SplitPlan plan = PlanSplit(FusedShape(20000), 132, 5);
  EXPECT_EQ(plan.tiles, 40);
  ExpectCovers(plan, 20000);
  const int64_t blocks = plan.tiles * plan.splits;
  // At least 3 blocks per SM (full issue rate) and at most a few waves.
  EXPECT_GE(blocks, 3 * 132);
  EXPECT_LE(blocks, 132 * 5 * 4);
  // The busiest SM does at most 5% more than an even share.
  const int64_t per_sm = (blocks + 131) / 132;
  const double busiest = static_cast<double>(per_sm * plan.chunk);
  const double even = 40.0 * 20000 / 132;
  EXPECT_LT(busiest / even, 1.05);
  EXPECT_EQ(plan.PartialElements(), plan.splits * 40 * 512);
  EXPECT_EQ(plan.CounterCount(), 40);
}

TEST(SplitPlanTest, SmallSizesStillCoverEverything) {
  for (int64_t n : {1, 2, 33, 64, 65, 1023, 4097}) {
    SCOPED_TRACE(n);
    const SplitPlan plan = PlanSplit(FusedShape(n), 132, 5);
    EXPECT_EQ(plan.tiles, (n + 511) / 512);
    ExpectCovers(plan, n);
    EXPECT_EQ(plan.chunk % 32, 0);
    if (plan.splits > 1) {
      EXPECT_GE(plan.chunk, 64);
    }
  }
}

TEST(SplitPlanTest, OneSplitNeedsNoScratch) {
  SplitShape shape = FusedShape(100);
  shape.min_chunk = 1000;  // forbids splitting
  const SplitPlan plan = PlanSplit(shape, 132, 5);
  EXPECT_EQ(plan.splits, 1);
  EXPECT_EQ(plan.PartialElements(), 0);
  EXPECT_EQ(plan.CounterCount(), 0);
}

TEST(SplitPlanTest, ManyTilesStayBalanced) {
  // A million outputs already give 1954 blocks; a split is worth it only to
  // even out the last wave, and never by much.
  const SplitPlan plan = PlanSplit(FusedShape(1000000), 132, 5);
  ExpectCovers(plan, 1000000);
  EXPECT_LE(plan.splits, 8);
  const int64_t per_sm = (plan.tiles * plan.splits + 131) / 132;
  const double even = static_cast<double>(plan.tiles) * 1000000 / 132;
  EXPECT_LT(static_cast<double>(per_sm * plan.chunk) / even, 1.02);
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

}  // namespace
}  // namespace flopd
