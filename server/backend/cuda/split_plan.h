// How a "sum along one axis" kernel of the CUDA backend splits its work
// (the fused outer product and the column sums after the library one).
//
// Outputs come in tiles of `tile_width`; the summed axis is cut into `splits`
// chunks of `chunk` elements (the last may be shorter). One thread block
// handles one (tile, chunk) pair. With splits > 1 each block writes its
// partial sums to a scratch array and the last block of a tile to finish adds
// the partials in split order 0, 1, ... (deterministic: the same bits every
// run) and writes the outputs.
//
// Pure host arithmetic: no CUDA types, testable without a GPU.
#ifndef FLOPD_SERVER_BACKEND_CUDA_SPLIT_PLAN_H_
#define FLOPD_SERVER_BACKEND_CUDA_SPLIT_PLAN_H_

#include <cstdint>
#include <vector>

namespace flopd {

struct SplitPlan {
  int64_t tile_width = 1;
  int64_t tiles = 0;
  int64_t splits = 1;
  int64_t chunk = 0;

  // Scratch partial sums, splits x (tiles * tile_width) elements; 0 when
  // splits == 1 (blocks then write the outputs directly).
  int64_t PartialElements() const { return splits > 1 ? splits * tiles * tile_width : 0; }
  // 32-bit arrival counters, one per tile, zero between launches (the last
  // block of a tile resets its counter); 0 when splits == 1.
  int64_t CounterCount() const { return splits > 1 ? tiles : 0; }
};

struct SplitShape {
  int64_t outputs = 0;         // N
  int64_t summed = 0;          // N
  int64_t tile_width = 1;      // outputs per block
  int64_t chunk_multiple = 1;  // chunks are rounded up to a multiple of this
  int64_t min_chunk = 1;       // never split finer than this (unless summed is smaller)
  int64_t max_splits = 256;
};

// For a memory-bound split kernel: about `blocks_per_sm` blocks per SM in
// total (a fraction is fine), never chunks shorter than shape.min_chunk.
// Fewer, longer streams read DRAM better than many short ones: the column sums
// at N = 20000 f32 on an H100 took 0.984 x the copy-bandwidth floor with 200
// blocks, 1.019 x with 380 and 1.052 x with 1320.
SplitPlan PlanStreamingSplit(const SplitShape& shape, int sm_count, double blocks_per_sm);

// Whether a grid of `blocks` fills `sm_count` SMs (0 read as 1): at least
// 15/16 of a block per SM. The launch-shape planners that trade blocks for
// bigger tiles (batched_mv/custom's narrow layout, attention/fused's 64-row
// tiles) take the bigger tiles only from there.
bool BlocksFillTheSms(int64_t blocks, int sm_count);

// For the fused outer kernel, which runs one block of `warps` warps per SM
// (cuda_kernels.cuh): picks the tile width among `tile_widths` (the compiled
// variants) and the split of the summed axis (chunks a multiple of
// `chunk_multiple`; each warp's share a multiple of chunk_multiple / warps,
// at least two of those unless unsplit) that minimize the modelled time of
// the busiest SM, in SM cycles:
//   waves * (tile_width * warps * share / fmas_per_cycle + overhead)
// waves = ceil(tiles * splits / sm_count), share = one warp's elements of a
// chunk, fmas_per_cycle = the SM's FMA lanes (128 f32, 64 f64 on Hopper).
// Overhead: ~2000 cycles per block (launch, first loads, reduction), as much
// again when split (the partials' round trip through L2). At N = 20000 on an
// H100 this picks tile 160 (125 blocks); measured, the plans it picks were
// the fastest of all tile widths and splits tried at N = 4100 ... 20000
// (NOTES.md). Ties go to the first candidate.
// REQUIRES: n >= 1, sm_count >= 1, warps >= 1, !tile_widths.empty(), every
// tile width >= 1, chunk_multiple a multiple of warps, fmas_per_cycle > 0.
SplitPlan PlanFusedOnePerSm(int64_t n, int sm_count, const std::vector<int64_t>& tile_widths,
                            int warps, int64_t chunk_multiple, double fmas_per_cycle);

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CUDA_SPLIT_PLAN_H_
