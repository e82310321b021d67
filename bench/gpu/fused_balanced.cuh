// GPU host: bin/flopd_gpu_kernel_bench --balanced [--quick]   (from a deploy/bundle.sh bundle)
//
// A candidate for outer/fused (issue 12): a balanced ("stream-K") version of
// server/backend/cuda/outer_fused_kernel.cu's kernel, timed against it by
// flopd_gpu_kernel_bench --balanced (kernel_bench.cu). Bench-only code: not
// part of flopd until it wins (then it moves to server/backend/cuda).
//
// The work. Outputs come in tiles of kTile = 16 kJ (lanes l and l + 16 of
// every warp own outputs tile_base + l % 16 + 16 m, m < kJ, as today). The
// summed axis of every tile is cut into units of kUnit = 8 elements (one
// step; the last unit of a tile holds the N % 8 leftover elements when N is
// not a multiple of 8): P = ceil(N / 8) units per tile, U = tiles * P units in
// all, flattened tile-major (unit x = tile x / P, elements 8 (x % P) ...).
// The grid has B = min(sm_count * kBlocksPerSm, U) blocks; block b takes the
// units [b U / B, (b + 1) U / B): every block gets floor(U / B) or
// ceil(U / B) units, i.e. the same FMAs to within one step of kTile outputs,
// for every N. A block walks its range as segments, one per tile it touches
// (consecutive tiles); a segment is (tile, summed elements [lo, hi)).
//
// One segment. The warps split [lo, hi) into shares of a whole number of
// steps (share = ceil(len / (8 kWarps)) * 8; the last warps may get less or
// nothing), and each warp streams its share through two private 128-element
// cp.async stages, consuming a full 128-element piece as one unrolled run of
// 16 steps (a broadcast LDS.128 per half-warp feeding 4 kJ FMAs), exactly as
// today's kernel does. Then the halves are added (shuffle), the warps' sums go
// through shared memory and a fixed shuffle tree over the warps (today's
// reduction), giving the block's kTile sums over [lo, hi).
//
// Combining. A segment that covers the whole tile ([0, N): the block's range
// contains the tile) stores its sums as the outputs. Otherwise the block
// writes them to its workspace slot (block b has two slots of kTile elements:
// 0 for its first segment, 1 for its last; a middle segment always covers a
// whole tile), publishes them (barrier, __threadfence, atomicAdd of its
// number of units of the tile on counters[tile]), and the block whose add
// brings the count to P (the last to arrive) adds the slots of the tile's
// blocks b_first ... b_last (the blocks holding the tile's first / last unit;
// every block in between holds part of the tile) in block order, i.e. in
// ascending order of summed range, starting from 0, stores the outputs and
// rewinds the counter to 0 for the next launch (StoreSplitResult's pattern,
// kernel_common.cuh). No block ever waits for another: no spin-wait, no
// assumption that the blocks are co-resident.
// Workspace: 2 B kTile elements; counters: `tiles` uint32, zero before the
// first launch (the combining block leaves them at zero).
//
// Arithmetic: every output still gets N products, each added with one fma
// into a lane's partial sum that starts at 0, then the partial sums added:
// N multiplications and N - 1 non-trivial additions; no fast-math. The order
// is fixed by (N, kJ, kWarps, B): the same bits every run. kFirstPiece and
// kPrefetch change when data arrives, not the order of additions (pieces
// start on multiples of 8 elements, so each half-warp keeps the same elements
// in the same order), so variants that differ only in them give the same bits
// (the bench checks that too).
//
// Switches, to time in one run:
//   kPrefetch (a): issue the first segment's first stage and its owned values
//     before anything else, and, for every later segment, issue its first
//     stage during the previous segment's last piece and its owned values
//     before the previous segment's reduction (so the reduction and the
//     combine overlap the next loads). Without it each segment starts cold:
//     stage, owned values, wait (like today's kernel at its start).
//   kFirstPiece (b): the first piece of every warp's share in a segment is
//     kFirstPiece (32, 64 or 128) elements, the later ones 128.
//   kWarps / kBlocksPerSm (c): 32 or 16 (or 8) warps per block, 1 or 2
//     blocks per SM (the launch bounds and grid follow).
//
// Device helpers copied from server/backend/cuda/outer_fused_kernel.cu's
// anonymous namespace (CopyAsync*, StagePiece, LoadFour, FmaFour,
// ConsumeFullPiece made a template on the piece length, ConsumePartialPiece):
// same code, to be shared if the candidate wins.
#ifndef FLOPD_BENCH_GPU_FUSED_BALANCED_CUH_
#define FLOPD_BENCH_GPU_FUSED_BALANCED_CUH_

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "server/backend/cuda/cuda_kernels.cuh"
#include "server/backend/cuda/kernel_common.cuh"
#include "server/backend/cuda/outer_fused_steps.cuh"

namespace flopd {
namespace balanced {

using kernels::Fma;

inline constexpr int kLaneGroup = 16;  // as the production kernel's lanes-of-16 variants
// Elements of one stage (per warp, double-buffered): 128.
inline constexpr int kPiece = 128;
// Elements one warp consumes per step: 4 per half-warp.
inline constexpr int kStep = 8;
// Elements of the summed axis per unit of work (one step).
inline constexpr int kUnit = kStep;

// The production kernel's steps (staging, loads, FMA runs; kPiece and kStep
// above are its kFusedPiece and kFusedStep).
using namespace kernels::fused;
static_assert(kPiece == kFusedPiece && kStep == kFusedStep, "the production steps' sizes");

// ---------------------------------------------------------------------------
// The balanced kernel's own helpers.

// The flattened decomposition of one launch (see the top of this file).
struct Decomposition {
  int64_t units_per_tile;  // P = ceil(n / kUnit)
  int64_t total;           // U = tiles * P
  int64_t blocks;          // B = gridDim.x

  // First unit of block b: floor(b U / B).
  __device__ __forceinline__ int64_t Start(int64_t b) const { return b * total / blocks; }
  // The block holding unit x: the largest b with b U / B <= x, i.e.
  // b U < (x + 1) B.
  __device__ __forceinline__ int64_t BlockOf(int64_t x) const {
    return ((x + 1) * blocks - 1) / total;
  }
};

// The summed elements [lo, hi) of the block's segment of `tile`: the block's
// units run from unit start_off of first_tile to unit end_off - 1 of
// last_tile (offsets within a tile: 32-bit, so that little stays live across
// the inner loop).
__device__ __forceinline__ void SegmentBounds(int tile, int first_tile, int start_off,
                                              int last_tile, int end_off, int units_per_tile,
                                              int n, int* lo, int* hi) {
  *lo = (tile == first_tile ? start_off : 0) * kUnit;
  *hi = min(n, (tile == last_tile ? end_off : units_per_tile) * kUnit);
}

// Warp `warp`'s share of [lo, hi): elements [*first, *first + *len), shares
// of a whole number of steps.
template <int kWarps>
__device__ __forceinline__ void WarpShare(int lo, int hi, int warp, int* first, int* len) {
  const int64_t seg_len = hi - lo;
  const int64_t share = (seg_len + kWarps * kStep - 1) / (kWarps * kStep) * kStep;
  const int64_t a = min(seg_len, warp * share);
  const int64_t b = min(seg_len, a + share);
  *first = lo + static_cast<int>(a);
  *len = static_cast<int>(b - a);
}

template <typename T, int kJ>
__device__ __forceinline__ void LoadOwned(const T* __restrict__ owned, int tile, int n, int lane,
                                          T (&own)[kJ]) {
  const int64_t base =
      static_cast<int64_t>(tile) * (kLaneGroup * kJ) + (lane & (kLaneGroup - 1));
#pragma unroll
  for (int m = 0; m < kJ; ++m) {
    const int64_t k = base + kLaneGroup * m;
    own[m] = k < n ? __ldg(owned + k) : T(0);
  }
}

// Shared memory of one block, in elements of T (dynamic, 16-byte aligned):
// the stages (kWarps x 2 x kPiece), the warps' rows for the reduction
// (kWarps x (kTile + 1): separate from the stages, so the next segment's
// first stage can be in flight during the reduction), the block's sums
// (kTile), then one 32-bit flag (rounded up to 16 bytes).
template <typename T, int kJ, int kWarps>
constexpr size_t BalancedSharedBytes() {
  constexpr int kTile = kLaneGroup * kJ;
  return (static_cast<size_t>(kWarps) * 2 * kPiece + static_cast<size_t>(kWarps) * (kTile + 1) +
          kTile) * sizeof(T) + 16;
}

// ---------------------------------------------------------------------------
// The kernel. Grid: B blocks (1-D), 32 kWarps threads each, dynamic shared
// memory BalancedSharedBytes. n < 2^30, units_per_tile = ceil(n / 8),
// tiles = ceil(n / kTile), B <= tiles * units_per_tile.
template <typename T, int kJ, int kWarps, int kBlocksPerSm, int kFirstPiece, bool kPrefetch>
__global__ void __launch_bounds__(32 * kWarps, kBlocksPerSm)
    OuterFusedBalancedKernel(const T* __restrict__ owned, const T* __restrict__ summed,
                             T* __restrict__ out, int n, int units_per_tile, int tiles,
                             T* __restrict__ workspace, uint32_t* __restrict__ counters) {
  constexpr int kTile = kLaneGroup * kJ;
  constexpr int kRow = kTile + 1;
  constexpr int kPerWarp = kTile / kWarps;  // outputs each warp adds up at the end
  static_assert(kTile % kWarps == 0, "the final sums must split evenly over the warps");
  static_assert(kWarps <= 32 && (kWarps & (kWarps - 1)) == 0, "the shuffle tree needs 2^k <= 32 warps");
  static_assert(kFirstPiece % kStep == 0 && kFirstPiece >= kStep && kFirstPiece <= kPiece,
                "pieces must be whole steps");
  static_assert(kPiece % kStep == 0, "pieces must be whole steps");
  static_assert(kTile <= 32 * kWarps, "one thread per output of the tile at the end");

  extern __shared__ __align__(16) unsigned char shared_bytes[];
  T* const stages = reinterpret_cast<T*>(shared_bytes);
  T* const rows = stages + kWarps * 2 * kPiece;
  T* const block_sums = rows + kWarps * kRow;
  volatile uint32_t* const is_last_flag = reinterpret_cast<uint32_t*>(block_sums + kTile);

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int half = lane >> 4;
  T* const stage = stages + warp * 2 * kPiece;

  const Decomposition d{units_per_tile, static_cast<int64_t>(tiles) * units_per_tile,
                        static_cast<int64_t>(gridDim.x)};
  // The block's units [begin, end) as (tile, unit offset) pairs.
  int first_tile, start_off, last_tile, end_off;
  {
    const int64_t begin = d.Start(blockIdx.x);
    const int64_t end = d.Start(static_cast<int64_t>(blockIdx.x) + 1);
    first_tile = static_cast<int>(begin / units_per_tile);
    start_off = static_cast<int>(begin - static_cast<int64_t>(first_tile) * units_per_tile);
    last_tile = static_cast<int>((end - 1) / units_per_tile);
    end_off = static_cast<int>(end - static_cast<int64_t>(last_tile) * units_per_tile);
  }
  int tile = first_tile;

  // The current segment's part of this warp: [first, first + len).
  int first, len;
  {
    int lo, hi;
    SegmentBounds(tile, first_tile, start_off, last_tile, end_off, units_per_tile, n, &lo, &hi);
    WarpShare<kWarps>(lo, hi, warp, &first, &len);
  }

  T own[kJ];
  int parity = 0;
  if constexpr (kPrefetch) {
    // (a): the first stage and the owned values before anything else.
    StagePiece(stage, summed + first, min(len, kFirstPiece), lane);
    LoadOwned<T, kJ>(owned, tile, n, lane, own);
  }

  for (;;) {
    if constexpr (!kPrefetch) {
      StagePiece(stage + parity * kPiece, summed + first, min(len, kFirstPiece), lane);
      LoadOwned<T, kJ>(owned, tile, n, lane, own);
    }
    const bool has_next = tile < last_tile;
    // The next segment's share (used by the prefetch inside the loop).
    int next_first = 0, next_len = 0;
    if (kPrefetch && has_next) {
      int next_lo, next_hi;
      SegmentBounds(tile + 1, first_tile, start_off, last_tile, end_off, units_per_tile, n,
                    &next_lo, &next_hi);
      WarpShare<kWarps>(next_lo, next_hi, warp, &next_first, &next_len);
    }

    T acc[kJ];
#pragma unroll
    for (int m = 0; m < kJ; ++m) acc[m] = 0;

    // Invariant at the top of each trip: the current piece (piece_len
    // elements at offset `done` of the share) is committed into
    // stage[parity]. Each trip commits exactly one more group (the next
    // piece, the next segment's first piece, or an empty group), so
    // wait_group 1 means "the current piece has landed".
    int done = 0;
    int piece_len = min(len, kFirstPiece);
    while (done < len) {
      T* const current = stage + parity * kPiece;
      T* const other = stage + (parity ^ 1) * kPiece;
      const int next = done + piece_len;
      if (next < len) {
        StagePiece(other, summed + first + next, min(kPiece, len - next), lane);
      } else if (kPrefetch && has_next) {
        StagePiece(other, summed + next_first, min(next_len, kFirstPiece), lane);
      } else {
        CopyAsyncCommit();  // an empty group keeps the count uniform
      }
      CopyAsyncWait<1>();
      __syncwarp();  // every lane's copies of `current` are visible
      if (piece_len == kPiece) {
        ConsumeFullPiece<T, kJ, kPiece>(current + 4 * half, own, acc);
      } else if (kFirstPiece < kPiece && done == 0 && piece_len == kFirstPiece) {
        ConsumeFullPiece<T, kJ, kFirstPiece>(current + 4 * half, own, acc);
      } else {
        ConsumePartialPiece<T, kJ>(current, piece_len, half, own, acc);
      }
      __syncwarp();  // `current` is consumed before it is refilled
      done = next;
      piece_len = min(kPiece, len - next);
      parity ^= 1;
    }
    if (kPrefetch && has_next && len == 0) {
      // This warp had nothing here: its stage[parity] holds no copies.
      StagePiece(stage + parity * kPiece, summed + next_first, min(next_len, kFirstPiece), lane);
    }

    // Half 0 adds half 1's sums of the same outputs.
#pragma unroll
    for (int m = 0; m < kJ; ++m) acc[m] += __shfl_down_sync(0xffffffffu, acc[m], kLaneGroup);
    if (half == 0) {
#pragma unroll
      for (int m = 0; m < kJ; ++m) rows[warp * kRow + lane + kLaneGroup * m] = acc[m];
    }
    if (kPrefetch && has_next) LoadOwned<T, kJ>(owned, tile + 1, n, lane, own);
    __syncthreads();
    // Warp w adds up the kWarps partials of outputs w kPerWarp ..., lane l
    // holding warp l's: a fixed shuffle tree over lanes < kWarps.
    {
      T sum[kPerWarp];
#pragma unroll
      for (int i = 0; i < kPerWarp; ++i) {
        sum[i] = lane < kWarps ? rows[lane * kRow + warp * kPerWarp + i] : T(0);
      }
#pragma unroll
      for (int offset = kWarps / 2; offset > 0; offset /= 2) {
#pragma unroll
        for (int i = 0; i < kPerWarp; ++i) sum[i] += __shfl_xor_sync(0xffffffffu, sum[i], offset);
      }
      if (lane == 0) {
#pragma unroll
        for (int i = 0; i < kPerWarp; ++i) block_sums[warp * kPerWarp + i] = sum[i];
      }
    }
    __syncthreads();

    const int64_t tile_base = static_cast<int64_t>(tile) * kTile;
    int lo, hi;
    SegmentBounds(tile, first_tile, start_off, last_tile, end_off, units_per_tile, n, &lo, &hi);
    if (lo == 0 && hi == n) {
      // The whole summed axis of the tile: these are the outputs.
      if (threadIdx.x < kTile && tile_base + threadIdx.x < n) {
        out[tile_base + threadIdx.x] = block_sums[threadIdx.x];
      }
    } else {
      // A part: to this block's slot, then the last of the tile's blocks adds
      // the slots in block order.
      const int slot = tile == first_tile ? 0 : 1;
      T* const mine = workspace + (static_cast<int64_t>(blockIdx.x) * 2 + slot) * kTile;
      if (threadIdx.x < kTile) mine[threadIdx.x] = block_sums[threadIdx.x];
      // Arrival counts units, not blocks: the block that brings the tile's
      // count to P is the last (no division on this path).
      const uint32_t units =
          static_cast<uint32_t>((tile == last_tile ? end_off : units_per_tile) -
                                (tile == first_tile ? start_off : 0));
      // Barrier: every thread's stores before thread 0's fence; the fence
      // before the arrival (StoreSplitResult's pattern).
      __syncthreads();
      if (threadIdx.x == 0) {
        __threadfence();
        const bool last = atomicAdd(&counters[tile], units) + units ==
                          static_cast<uint32_t>(units_per_tile);
        if (last) __threadfence();  // acquire: the other blocks' slots
        *is_last_flag = last ? 1u : 0u;
      }
      __syncthreads();
      if (*is_last_flag != 0) {
        if (threadIdx.x < kTile) {
          // The tile's blocks b_first ... b_last (those holding its first and
          // last unit; every block in between holds part of it). b_first's
          // part is its last segment (slot 1) unless its range starts at the
          // tile's first unit; every later block's part is its first segment
          // (slot 0). Added in block order (ascending summed range), from 0
          // (0 + p is exact), with 4 loads in flight.
          const int64_t tile_first_unit = static_cast<int64_t>(tile) * units_per_tile;
          const int64_t b_first = d.BlockOf(tile_first_unit);
          const int64_t b_last = d.BlockOf(tile_first_unit + units_per_tile - 1);
          const int s_first = d.Start(b_first) != tile_first_unit ? 1 : 0;
          const T* const column = workspace + threadIdx.x;
          T total = 0;
          total += __ldcg(column + (b_first * 2 + s_first) * kTile);
          for (int64_t b = b_first + 1; b <= b_last; b += 4) {
            T v[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) v[i] = b + i <= b_last ? __ldcg(column + (b + i) * 2 * kTile) : T(0);
#pragma unroll
            for (int i = 0; i < 4; ++i) {
              if (b + i <= b_last) total += v[i];
            }
          }
          if (tile_base + threadIdx.x < n) out[tile_base + threadIdx.x] = total;
        }
        if (threadIdx.x == 0) counters[tile] = 0;
      }
    }

    if (!has_next) break;
    // On to the next tile (its owned values and first stage are already in
    // flight with kPrefetch).
    ++tile;
    if constexpr (kPrefetch) {
      first = next_first;
      len = next_len;
    } else {
      SegmentBounds(tile, first_tile, start_off, last_tile, end_off, units_per_tile, n, &lo, &hi);
      WarpShare<kWarps>(lo, hi, warp, &first, &len);
    }
  }
  // Leave no copy in flight at exit (only empty groups can remain).
  CopyAsyncWait<0>();
}

// ---------------------------------------------------------------------------
// Host side: one compiled variant.

template <typename T, int kJ, int kWarps, int kBlocksPerSm, int kFirstPiece, bool kPrefetch>
struct Balanced {
  static constexpr int kTile = kLaneGroup * kJ;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr size_t kSharedBytes = BalancedSharedBytes<T, kJ, kWarps>();

  static int64_t Tiles(int64_t n) { return (n + kTile - 1) / kTile; }
  static int64_t UnitsPerTile(int64_t n) { return (n + kUnit - 1) / kUnit; }
  static int64_t Blocks(int64_t n, int sm_count) {
    const int64_t total = Tiles(n) * UnitsPerTile(n);
    const int64_t wanted = static_cast<int64_t>(sm_count) * kBlocksPerSm;
    return total < wanted ? total : wanted;
  }
  // Workspace elements and counters for any n on `sm_count` SMs.
  static int64_t WorkspaceElements(int sm_count) {
    return int64_t{2} * sm_count * kBlocksPerSm * kTile;
  }
  static int64_t CounterCount(int64_t n) { return Tiles(n); }

  // Once per device, before the first launch (not inside a graph capture):
  // the shared-memory opt-in above 48 KB. Returns the resident blocks per SM
  // the occupancy calculator gives (should be >= kBlocksPerSm).
  static cudaError_t Prepare(int* blocks_per_sm) {
    auto kernel = OuterFusedBalancedKernel<T, kJ, kWarps, kBlocksPerSm, kFirstPiece, kPrefetch>;
    cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(kSharedBytes));
    if (e != cudaSuccess) return e;
    return cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks_per_sm, kernel, kThreads,
                                                         kSharedBytes);
  }

  // `workspace`: WorkspaceElements(sm_count); `counters`: CounterCount(n),
  // zero before the first launch. summed must be 16-byte aligned.
  static cudaError_t Launch(const T* owned, const T* summed, T* out, int64_t n, int sm_count,
                            T* workspace, uint32_t* counters, cudaStream_t stream) {
    if (n < 1 || n > (int64_t{1} << 30) || sm_count < 1 || workspace == nullptr ||
        counters == nullptr || reinterpret_cast<uintptr_t>(summed) % 16 != 0) {
      return cudaErrorInvalidValue;
    }
    const int64_t blocks = Blocks(n, sm_count);
    OuterFusedBalancedKernel<T, kJ, kWarps, kBlocksPerSm, kFirstPiece, kPrefetch>
        <<<static_cast<unsigned>(blocks), kThreads, kSharedBytes, stream>>>(
            owned, summed, out, static_cast<int>(n), static_cast<int>(UnitsPerTile(n)),
            static_cast<int>(Tiles(n)), workspace, counters);
    return cudaGetLastError();
  }
};

}  // namespace balanced
}  // namespace flopd

#endif  // FLOPD_BENCH_GPU_FUSED_BALANCED_CUH_
