#include "server/backend/cuda/split_plan.h"

#include <algorithm>

namespace flopd {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

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

bool BlocksFillTheSms(int64_t blocks, int sm_count) {
  return blocks * 16 >= static_cast<int64_t>(std::max(1, sm_count)) * 15;
}

SplitPlan PlanFusedOnePerSm(int64_t n, int sm_count, const std::vector<int64_t>& tile_widths,
                            int warps, int64_t chunk_multiple, double fmas_per_cycle) {
  constexpr double kBlockOverheadCycles = 2000;  // ~1 us at ~2 GHz
  constexpr double kSplitOverheadCycles = 2000;
  const int64_t summed = std::max<int64_t>(1, n);
  const int64_t warp_count = std::max(1, warps);
  const int64_t multiple = std::max<int64_t>(warp_count, chunk_multiple);
  const int64_t step = std::max<int64_t>(1, multiple / warp_count);
  const int64_t sms = std::max(1, sm_count);
  const double rate = fmas_per_cycle > 0 ? fmas_per_cycle : 1;
  SplitPlan best;
  double best_cost = -1;
  for (int64_t width : tile_widths) {
    const int64_t tile_width = std::max<int64_t>(1, width);
    const int64_t tiles = CeilDiv(summed, tile_width);
    int64_t last_chunk = -1;
    for (int64_t wanted = 1; wanted <= 256; ++wanted) {
      const int64_t chunk = CeilDiv(CeilDiv(summed, wanted), multiple) * multiple;
      if (chunk == last_chunk) continue;
      last_chunk = chunk;
      const int64_t splits = CeilDiv(summed, chunk);
      const int64_t share = CeilDiv(CeilDiv(std::min(chunk, summed), warp_count), step) * step;
      if (splits > 1 && share < 2 * step) break;
      const int64_t waves = CeilDiv(tiles * splits, sms);
      const double cost =
          static_cast<double>(waves) *
          (static_cast<double>(tile_width * warp_count * share) / rate + kBlockOverheadCycles +
           (splits > 1 ? kSplitOverheadCycles : 0));
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
