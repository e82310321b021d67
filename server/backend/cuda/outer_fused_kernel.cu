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
// One block of kWarps warps per SM (launch bounds kWarps * 32 x 1). A block
// owns kTile = kOutLanes kJ outputs (kOutLanes = 16, 8 or 4); the lanes of a
// warp form G = 32 / kOutLanes groups (lane l in group l / kOutLanes), and
// lanes l, l + kOutLanes, ... own outputs tile_base + l % kOutLanes +
// kOutLanes m (m < kJ) in registers, with their owned values. (The group
// sizes make every multiple of 8 a tile width: 16 kJ, and 8 kJ for odd kJ;
// f64 also 4 kJ for kJ = 19, 21, 25; so the planner can size tiles to the
// SM count in steps of 8 or 4 outputs.)
// Warp w takes the w-th share of the block's chunk of the summed axis (a
// multiple of 4 G elements) and streams it through two private shared-memory
// stages of kPiece elements (cp.async: the next piece is in flight while the
// current one is consumed; __syncwarp only, no block barrier). In each step
// of 4 G elements, group g reads elements 4g..4g+3 with one broadcast
// LDS.128 (f32; two for f64), which feeds 4 kJ independent FMAs: 40 FFMA per
// load at kJ = 10, with kJ independent accumulator chains per lane. A full
// piece is one fully unrolled run of steps, no branches. Afterwards the
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

template <typename T, int kJ, int kOutLanes>
__global__ void __launch_bounds__(32 * kFusedWarps<T>, 1)
    OuterFusedKernel(const T* __restrict__ owned, const T* __restrict__ summed, T* __restrict__ out,
                     int64_t n, int64_t chunk, int splits, int64_t padded, T* __restrict__ partials,
                     uint32_t* __restrict__ counters) {
  constexpr int kWarps = kFusedWarps<T>;
  constexpr int kStep = kFusedStepOf<kOutLanes>;
  constexpr int kTile = kOutLanes * kJ;
  constexpr int kRow = kTile + 1;
  // Outputs each warp adds up at the end (the last warps may have fewer).
  constexpr int kPerWarp = (kTile + kWarps - 1) / kWarps;
  static_assert(kOutLanes == 16 || kOutLanes == 8 || kOutLanes == 4, "2, 4 or 8 lane groups");
  static_assert(kFusedChunkMultiple % (kWarps * kStep) == 0, "shares must be whole steps");
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

  if (len > 0) StagePiece(stage, source, min(len, kFusedPiece), lane);

  T own[kJ];
  T acc[kJ];
#pragma unroll
  for (int m = 0; m < kJ; ++m) {
    const int64_t k = tile_base + (lane & (kOutLanes - 1)) + kOutLanes * m;
    own[m] = k < n ? __ldg(owned + k) : T(0);
    acc[m] = 0;
  }

  int parity = 0;
  for (int done = 0; done < len; done += kFusedPiece, parity ^= 1) {
    T* current = stage + parity * kFusedPiece;
    const int piece_len = min(kFusedPiece, len - done);
    if (done + kFusedPiece < len) {
      StagePiece(stage + (parity ^ 1) * kFusedPiece, source + done + kFusedPiece,
                 min(kFusedPiece, len - done - kFusedPiece), lane);
      CopyAsyncWait<1>();
    } else {
      CopyAsyncWait<0>();
    }
    __syncwarp();  // every lane's copies of `current` are visible
    if (piece_len == kFusedPiece) {
      ConsumeFullPiece<T, kJ, kFusedPiece, kOutLanes>(current + 4 * group, own, acc);
    } else {
      ConsumePartialPiece<T, kJ, kOutLanes>(current, piece_len, group, own, acc);
    }
    __syncwarp();  // `current` is consumed before it is refilled
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

// The variant of tile width kWidth: 16 kJ with lanes in groups of 16 when
// kWidth is a multiple of 16, else 8 kJ (groups of 8) when a multiple of 8,
// else 4 kJ (groups of 4; f64 only: f32's 32 warps would need chunks of
// 1024).
template <typename T, int kWidth>
void LaunchFusedVariant(const T* owned, const T* summed, T* out, int64_t n, const SplitPlan& plan,
                        T* partials, uint32_t* counters, cudaStream_t stream) {
  constexpr int kOutLanes = kWidth % 16 == 0 ? 16 : kWidth % 8 == 0 ? 8 : 4;
  static_assert(kWidth % 4 == 0, "tile widths are multiples of 4");
  const dim3 grid(static_cast<unsigned>(plan.tiles), static_cast<unsigned>(plan.splits));
  OuterFusedKernel<T, kWidth / kOutLanes, kOutLanes><<<grid, 32 * kFusedWarps<T>, 0, stream>>>(
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
