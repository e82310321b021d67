#include "server/backend/cuda/split_plan.h"

#include <algorithm>

namespace flopd {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Fraction of the SM's issue rate reached with `resident` blocks of 8 warps.
double Efficiency(int64_t resident) {
  if (resident <= 1) return 0.7;
  if (resident == 2) return 0.9;
  return 1.0;
}

}  // namespace

SplitPlan PlanSplit(const SplitShape& shape, int sm_count, int blocks_per_sm) {
  SplitPlan best;
  best.tile_width = std::max<int64_t>(1, shape.tile_width);
  best.tiles = CeilDiv(std::max<int64_t>(1, shape.outputs), best.tile_width);
  const int64_t summed = std::max<int64_t>(1, shape.summed);
  const int64_t multiple = std::max<int64_t>(1, shape.chunk_multiple);
  double best_cost = -1;
  int64_t last_chunk = -1;
  for (int64_t wanted = 1; wanted <= std::max<int64_t>(1, shape.max_splits); ++wanted) {
    const int64_t chunk = CeilDiv(CeilDiv(summed, wanted), multiple) * multiple;
    if (wanted > 1 && chunk < shape.min_chunk) break;
    if (chunk == last_chunk) continue;
    last_chunk = chunk;
    const int64_t splits = CeilDiv(summed, chunk);  // no empty chunks
    const int64_t blocks = best.tiles * splits;
    // The busiest SM runs per_sm blocks: full waves of blocks_per_sm, then
    // the remainder, each wave at the rate its resident blocks reach.
    const int64_t per_sm = CeilDiv(blocks, sm_count);
    const int64_t full_waves = per_sm / blocks_per_sm;
    const int64_t remainder = per_sm % blocks_per_sm;
    const double block_cost = static_cast<double>(chunk + shape.block_overhead);
    double cost =
        static_cast<double>(full_waves * blocks_per_sm) * block_cost / Efficiency(blocks_per_sm);
    if (remainder > 0) cost += static_cast<double>(remainder) * block_cost / Efficiency(remainder);
    if (best_cost < 0 || cost < best_cost) {
      best_cost = cost;
      best.splits = splits;
      best.chunk = chunk;
    }
  }
  return best;
}

SplitPlan PlanStreamingSplit(const SplitShape& shape, int sm_count, double blocks_per_sm) {
  SplitPlan plan;
  plan.tile_width = std::max<int64_t>(1, shape.tile_width);
  plan.tiles = CeilDiv(std::max<int64_t>(1, shape.outputs), plan.tile_width);
  const int64_t summed = std::max<int64_t>(1, shape.summed);
  const int64_t multiple = std::max<int64_t>(1, shape.chunk_multiple);
  const double wanted_blocks = std::max(1.0, blocks_per_sm * sm_count);
  int64_t wanted = static_cast<int64_t>(wanted_blocks / static_cast<double>(plan.tiles) + 0.5);
  wanted = std::clamp<int64_t>(wanted, 1, std::max<int64_t>(1, shape.max_splits));
  // The shortest chunk allowed bounds the split count.
  const int64_t most = std::max<int64_t>(1, summed / std::max<int64_t>(1, shape.min_chunk));
  wanted = std::min(wanted, most);
  plan.chunk = CeilDiv(CeilDiv(summed, wanted), multiple) * multiple;
  plan.splits = CeilDiv(summed, plan.chunk);
  return plan;
}

SplitPlan PlanFusedOnePerSm(int64_t n, int sm_count, const std::vector<int>& lanes, int warps,
                            int64_t chunk_multiple) {
  constexpr double kBlockOverheadCycles = 2000;  // ~1 us at ~2 GHz
  constexpr double kSplitOverheadCycles = 2000;
  constexpr int64_t kMinWarpShare = 16;
  const int64_t summed = std::max<int64_t>(1, n);
  const int64_t multiple = std::max<int64_t>(1, chunk_multiple);
  const int64_t warp_count = std::max(1, warps);
  const int64_t sms = std::max(1, sm_count);
  SplitPlan best;
  double best_cost = -1;
  for (int kj : lanes) {
    const int64_t tile_width = 32 * static_cast<int64_t>(std::max(1, kj));
    const int64_t tiles = CeilDiv(summed, tile_width);
    const double per_element = std::max((kj + 0.25) / 4.0, 1.0);
    int64_t last_chunk = -1;
    for (int64_t wanted = 1; wanted <= 256; ++wanted) {
      const int64_t chunk = CeilDiv(CeilDiv(summed, wanted), multiple) * multiple;
      if (chunk == last_chunk) continue;
      last_chunk = chunk;
      const int64_t splits = CeilDiv(summed, chunk);
      const int64_t share = CeilDiv(CeilDiv(std::min(chunk, summed), warp_count), 4) * 4;
      if (splits > 1 && share < kMinWarpShare) break;
      const int64_t waves = CeilDiv(tiles * splits, sms);
      const double cost = static_cast<double>(waves) *
                          (static_cast<double>(warp_count * share) * per_element +
                           kBlockOverheadCycles + (splits > 1 ? kSplitOverheadCycles : 0));
      if (best_cost < 0 || cost < best_cost) {
        best_cost = cost;
        best.tile_width = tile_width;
        best.tiles = tiles;
        best.splits = splits;
        best.chunk = chunk;
      }
    }
  }
  return best;
}

}  // namespace flopd
