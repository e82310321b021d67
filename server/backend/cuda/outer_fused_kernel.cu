// outer/fused's kernel: the fused outer product and sum, its compiled
// variants, its launcher and its planner (declared in cuda_kernels.cuh,
// which holds the contracts; the comments here are about how the kernel
// reaches its roofline). The dispatch that calls it is cuda_kernels.cu's.
#include <cuda_runtime.h>

#include <cstdint>
#include <iterator>
#include <utility>
#include <vector>

#include "server/backend/cuda/cuda_kernels.cuh"
#include "server/backend/cuda/kernel_common.cuh"
#include "server/backend/cuda/outer_fused_steps.cuh"

namespace flopd {
namespace kernels {
namespace {

// The fused outer product and sum: out_k = sum_m owned_k * summed_m.
//
// Compute-bound: N^2 FMAs and only 3N elements of memory traffic. The matrix
// is never formed, so both axes are the same kernel with u and v swapped
// (u_i * v_j == v_j * u_i exactly).
//
// One block of kWarps warps per SM (launch bounds kWarps * 32 x 1; the
// launcher's kWarps is kFusedWarps<T>, 8). A block owns kTile = kOutLanes kJ
// outputs (kOutLanes = kFusedLanes<T>, 8, or 4 for widths that are not
// multiples of 8); the lanes of a warp form G = 32 / kOutLanes groups (lane l
// in group l / kOutLanes), and lanes l, l + kOutLanes, ... own outputs
// tile_base + l % kOutLanes + kOutLanes m (m < kJ) in registers, with their
// owned values. (So every multiple of 8 is a tile width, and of 4 with groups
// of 4; the planner sizes tiles to the SM count in those steps.)
// Warp w takes the w-th share of the block's chunk of the summed axis (a
// multiple of 4 G elements): whole pieces of kFusedPiece elements, then a
// shorter rest. It streams them through two private shared-memory stages
// (cp.async: the next piece is in flight while the current one is consumed;
// __syncwarp only, no block barrier). In each step of 4 G elements, group g
// reads elements 4g..4g+3 with one broadcast LDS.128 (f32; two for f64),
// which feeds 4 kJ independent FMAs: 76 FFMA per load at kJ = 19, with kJ
// independent accumulator chains per lane. The loop over whole pieces has no
// branch (each is one unrolled run of steps, staged by one 16-byte copy per
// lane for f32); the rest is unrolled runs of 2^b steps. Afterwards the
// groups' sums are added by shuffles down 16, 8, 4 lanes (G = 2: g0 + g1;
// G = 4: (g0 + g2) + (g1 + g3); G = 8 likewise one level deeper), the
// warps' sums go through shared memory (rows padded by one
// element: no bank conflicts) and are added with a shuffle tree over the
// warps; with splits > 1 the chunks' sums are added in split order by the
// last block (StoreSplitResult).
//
// Arithmetic per output: N products, each added with one fma into a partial
// sum that starts at 0 (adding the first product to 0 is exact), then the
// partial sums added: N multiplications and N - 1 non-trivial additions, as
// the op says; no factoring, no fast-math, no padding of the summed axis.
// Lanes whose outputs fall past N (the last tile) compute on zeros and store
// nothing.
//
// NOTES.md has the measurements and the designs that came before.

using namespace fused;  // the kernel's steps: outer_fused_steps.cuh

template <typename T, int kJ, int kOutLanes, int kWarps>
__global__ void __launch_bounds__(32 * kWarps, 1)
    OuterFusedKernel(const T* __restrict__ owned, const T* __restrict__ summed, T* __restrict__ out,
                     int64_t n, int64_t chunk, int splits, int64_t padded, T* __restrict__ partials,
                     uint32_t* __restrict__ counters) {
  constexpr int kStep = kFusedStepOf<kOutLanes>;
  constexpr int kTile = kOutLanes * kJ;
  constexpr int kRow = kTile + 1;
  // Outputs each warp adds up at the end (the last warps may have fewer).
  constexpr int kPerWarp = (kTile + kWarps - 1) / kWarps;
  static_assert(kOutLanes == 16 || kOutLanes == 8 || kOutLanes == 4, "2, 4 or 8 lane groups");
  static_assert(kFusedChunkMultiple % (kWarps * kStep) == 0, "shares must be whole steps");
  static_assert(kTile <= 32 * kWarps, "one thread stores each of the tile's outputs");
  constexpr int kStageElements = 2 * kFusedPiece * kWarps;
  constexpr int kReduceElements = kWarps * kRow;
  constexpr int kShared = kStageElements > kReduceElements ? kStageElements : kReduceElements;
  // The stages while summing, then the warps' partial sums.
  __shared__ __align__(16) T shared[kShared];
  __shared__ T block_sums[kTile];

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int group = lane / kOutLanes;
  const int64_t tile_base = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * chunk;
  // From here on, offsets within the chunk: int (n < 2^31).
  const int chunk_len = static_cast<int>(min(n, begin + chunk) - begin);
  const int share =
      (chunk_len + kWarps * kStep - 1) / (kWarps * kStep) * kStep;
  const int first = min(chunk_len, warp * share);
  const int len = min(chunk_len, first + share) - first;
  const T* source = summed + begin + first;
  T* stage = shared + warp * 2 * kFusedPiece;

  // The share is `whole` pieces of kFusedPiece elements and a shorter `rest`
  // (whole steps, and at the end of the summed axis a partial step).
  const int whole = len / kFusedPiece;
  const int rest = len - whole * kFusedPiece;
  if (whole > 0) {
    StageWholePiece(stage, source, lane);
  } else if (rest > 0) {
    StagePiece(stage, source, rest, lane);
  }

  T own[kJ];
  T acc[kJ];
#pragma unroll
  for (int m = 0; m < kJ; ++m) {
    const int64_t k = tile_base + (lane & (kOutLanes - 1)) + kOutLanes * m;
    own[m] = k < n ? __ldg(owned + k) : T(0);
    acc[m] = 0;
  }

  // Two stages: piece p + 1 is in flight while piece p is consumed. The loop
  // body has no branch: every piece it stages and consumes is whole.
  int parity = 0;
  for (int p = 0; p + 1 < whole; ++p, parity ^= 1) {
    StageWholePiece(stage + (parity ^ 1) * kFusedPiece, source + (p + 1) * kFusedPiece, lane);
    CopyAsyncWait<1>();
    __syncwarp();  // every lane's copies of the current piece are visible
    ConsumeFullPiece<T, kJ, kFusedPiece, kOutLanes>(stage + parity * kFusedPiece + 4 * group, own,
                                                     acc);
    __syncwarp();  // the current piece is consumed before it is refilled
  }
  if (whole > 0) {  // the last whole piece, with the rest in flight
    if (rest > 0) {
      StagePiece(stage + (parity ^ 1) * kFusedPiece, source + whole * kFusedPiece, rest, lane);
      CopyAsyncWait<1>();
    } else {
      CopyAsyncWait<0>();
    }
    __syncwarp();
    ConsumeFullPiece<T, kJ, kFusedPiece, kOutLanes>(stage + parity * kFusedPiece + 4 * group, own,
                                                     acc);
    __syncwarp();
    parity ^= 1;
  }
  if (rest > 0) {
    CopyAsyncWait<0>();
    __syncwarp();
    ConsumeShortPiece<T, kJ, kOutLanes>(stage + parity * kFusedPiece, rest, group, own, acc);
  }

  // Group 0 adds the other groups' sums of the same outputs: lanes < 16 add
  // lane + 16's, then (four or eight groups) lanes < 8 add lane + 8's, then
  // (eight) lanes < 4 add lane + 4's.
#pragma unroll
  for (int offset = 16; offset >= kOutLanes; offset /= 2) {
#pragma unroll
    for (int m = 0; m < kJ; ++m) acc[m] += __shfl_down_sync(0xffffffffu, acc[m], offset);
  }
  __syncthreads();  // every warp is done with its stages
  T* rows = shared;
  if (group == 0) {
#pragma unroll
    for (int m = 0; m < kJ; ++m) rows[warp * kRow + lane + kOutLanes * m] = acc[m];
  }
  __syncthreads();
  // Warp w adds up the kWarps partials of outputs w kPerWarp ..., lane l
  // holding warp l's: a fixed shuffle tree over lanes < kWarps, the same in
  // every run (lanes >= kWarps never feed lane 0).
  T sum[kPerWarp];
#pragma unroll
  for (int i = 0; i < kPerWarp; ++i) {
    const int o = warp * kPerWarp + i;
    sum[i] = lane < kWarps && o < kTile ? rows[lane * kRow + o] : T(0);
  }
#pragma unroll
  for (int offset = kWarps / 2; offset > 0; offset /= 2) {
#pragma unroll
    for (int i = 0; i < kPerWarp; ++i) sum[i] += __shfl_xor_sync(0xffffffffu, sum[i], offset);
  }
  if (lane == 0) {
#pragma unroll
    for (int i = 0; i < kPerWarp; ++i) {
      if (warp * kPerWarp + i < kTile) block_sums[warp * kPerWarp + i] = sum[i];
    }
  }
  __syncthreads();
  int64_t index[1] = {INT64_MAX};
  T value[1] = {T(0)};
  if (threadIdx.x < kTile) {
    index[0] = tile_base + threadIdx.x;
    value[0] = block_sums[threadIdx.x];
  }
  StoreSplitResult<T, 1>(index, value, out, n, splits, padded, partials, counters);
}

// The variant of tile width kWidth: lanes in groups of kFusedLanes<T> (so
// kWidth / kFusedLanes<T> outputs per lane), or of 4 where kWidth is not a
// multiple of that (f64's 76 and 100).
template <typename T, int kWidth>
void LaunchFusedVariant(const T* owned, const T* summed, T* out, int64_t n, const SplitPlan& plan,
                        T* partials, uint32_t* counters, cudaStream_t stream) {
  constexpr int kOutLanes = kWidth % kFusedLanes<T> == 0 ? kFusedLanes<T> : 4;
  static_assert(kWidth % 4 == 0, "tile widths are multiples of 4");
  const dim3 grid(static_cast<unsigned>(plan.tiles), static_cast<unsigned>(plan.splits));
  OuterFusedKernel<T, kWidth / kOutLanes, kOutLanes, kFusedWarps<T>><<<grid, 32 * kFusedWarps<T>, 0,
                                                                      stream>>>(
      owned, summed, out, n, plan.chunk, static_cast<int>(plan.splits),
      plan.tiles * plan.tile_width, partials, counters);
}

// Launches the variant whose width is plan.tile_width; false when none is.
template <typename T, size_t... kI>
bool LaunchListedWidth(const T* owned, const T* summed, T* out, int64_t n, const SplitPlan& plan,
                       T* partials, uint32_t* counters, cudaStream_t stream,
                       std::index_sequence<kI...>) {
  constexpr const auto& kWidths = FusedTileWidths<T>();
  return ((plan.tile_width == kWidths[kI] &&
           (LaunchFusedVariant<T, kWidths[kI]>(owned, summed, out, n, plan, partials, counters,
                                               stream),
            true)) ||
          ...);
}

}  // namespace

template <typename T>
SplitPlan PlanOuterFused(int64_t n, int sm_count) {
  const auto& listed = FusedTileWidths<T>();
  const std::vector<int64_t> widths(std::begin(listed), std::end(listed));
  // FMA lanes per SM on Hopper: 128 FP32, 64 FP64.
  return PlanFusedOnePerSm(n, sm_count, widths, kFusedWarps<T>, kFusedChunkMultiple,
                           sizeof(T) == 4 ? 128.0 : 64.0);
}

template <typename T>
cudaError_t LaunchOuterFused(const T* owned, const T* summed, T* out, int64_t n,
                             const SplitPlan& plan, T* partials, uint32_t* counters,
                             cudaStream_t stream) {
  if (n < 1 || n > INT32_MAX || plan.tiles < 1 || plan.splits < 1 || plan.chunk < 1 ||
      plan.chunk % kFusedChunkMultiple != 0 || plan.tiles * plan.tile_width < n ||
      plan.splits * plan.chunk < n || (plan.splits - 1) * plan.chunk >= n) {
    return cudaErrorInvalidValue;
  }
  if (plan.splits > 1 && (partials == nullptr || counters == nullptr)) return cudaErrorInvalidValue;
  constexpr size_t kCount = std::size(FusedTileWidths<T>());
  if (!LaunchListedWidth<T>(owned, summed, out, n, plan, partials, counters, stream,
                            std::make_index_sequence<kCount>())) {
    return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

template cudaError_t LaunchOuterFused<float>(const float*, const float*, float*, int64_t,
                                             const SplitPlan&, float*, uint32_t*, cudaStream_t);
template cudaError_t LaunchOuterFused<double>(const double*, const double*, double*, int64_t,
                                              const SplitPlan&, double*, uint32_t*, cudaStream_t);
template SplitPlan PlanOuterFused<float>(int64_t, int);
template SplitPlan PlanOuterFused<double>(int64_t, int);

}  // namespace kernels
}  // namespace flopd
