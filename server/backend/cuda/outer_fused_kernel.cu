// outer/fused's kernel: the fused outer product and sum, its compiled
// variants, its launcher and its planner (declared in cuda_kernels.cuh,
// which holds the contracts; the comments here are about how the kernel
// reaches its roofline). The dispatch that calls it is cuda_kernels.cu's.
#include <cuda_runtime.h>

#include <cstdint>
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
// owns kTile = 16 kJ outputs; lanes l and l + 16 of every warp own outputs
// tile_base + l % 16 + 16 m (m < kJ) in registers, with their owned values.
// Warp w takes the w-th share of the block's chunk of the summed axis (a
// multiple of 8 elements) and streams it through two private shared-memory
// stages of kPiece elements (cp.async: the next piece is in flight while the
// current one is consumed; __syncwarp only, no block barrier). In each step
// of 8 elements, half-warp h reads elements 4h..4h+3 with one broadcast
// LDS.128 (f32; two for f64), which feeds 4 kJ independent FMAs: 40 FFMA per
// load at kJ = 10, with 10 independent accumulator chains per lane. A full
// piece is one fully unrolled run of steps, no branches. Afterwards the two
// halves' sums are added (shuffle), the warps' sums go through shared memory
// (rows padded by one element: no bank conflicts) and are added with a
// shuffle tree over the warps; with splits > 1 the chunks' sums are added in
// split order by the last block (StoreSplitResult).
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

template <typename T, int kJ>
__global__ void __launch_bounds__(32 * kFusedWarps<T>, 1)
    OuterFusedKernel(const T* __restrict__ owned, const T* __restrict__ summed, T* __restrict__ out,
                     int64_t n, int64_t chunk, int splits, int64_t padded, T* __restrict__ partials,
                     uint32_t* __restrict__ counters) {
  constexpr int kWarps = kFusedWarps<T>;
  constexpr int kTile = kFusedLaneGroup * kJ;
  constexpr int kRow = kTile + 1;
  constexpr int kPerWarp = kTile / kWarps;  // outputs each warp adds up at the end
  static_assert(kTile % kWarps == 0, "the final sums must split evenly over the warps");
  static_assert(kFusedChunkMultiple % (kWarps * kFusedStep) == 0, "shares must be whole steps");
  constexpr int kStageElements = 2 * kFusedPiece * kWarps;
  constexpr int kReduceElements = kWarps * kRow;
  constexpr int kShared = kStageElements > kReduceElements ? kStageElements : kReduceElements;
  // The stages while summing, then the warps' partial sums.
  __shared__ __align__(16) T shared[kShared];
  __shared__ T block_sums[kTile];

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int half = lane >> 4;
  const int64_t tile_base = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * chunk;
  // From here on, offsets within the chunk: int (n < 2^31).
  const int chunk_len = static_cast<int>(min(n, begin + chunk) - begin);
  const int share =
      (chunk_len + kWarps * kFusedStep - 1) / (kWarps * kFusedStep) * kFusedStep;
  const int first = min(chunk_len, warp * share);
  const int len = min(chunk_len, first + share) - first;
  const T* source = summed + begin + first;
  T* stage = shared + warp * 2 * kFusedPiece;

  if (len > 0) StagePiece(stage, source, min(len, kFusedPiece), lane);

  T own[kJ];
  T acc[kJ];
#pragma unroll
  for (int m = 0; m < kJ; ++m) {
    const int64_t k = tile_base + (lane & (kFusedLaneGroup - 1)) + kFusedLaneGroup * m;
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
      ConsumeFullPiece<T, kJ>(current + 4 * half, own, acc);
    } else {
      ConsumePartialPiece<T, kJ>(current, piece_len, half, own, acc);
    }
    __syncwarp();  // `current` is consumed before it is refilled
  }

  // Half 0 adds half 1's sums of the same outputs.
#pragma unroll
  for (int m = 0; m < kJ; ++m) acc[m] += __shfl_down_sync(0xffffffffu, acc[m], kFusedLaneGroup);
  __syncthreads();  // every warp is done with its stages
  T* rows = shared;
  if (half == 0) {
#pragma unroll
    for (int m = 0; m < kJ; ++m) rows[warp * kRow + lane + kFusedLaneGroup * m] = acc[m];
  }
  __syncthreads();
  // Warp w adds up the kWarps partials of outputs w kPerWarp ..., lane l
  // holding warp l's: a fixed shuffle tree over lanes < kWarps, the same in
  // every run (lanes >= kWarps never feed lane 0).
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
  __syncthreads();
  int64_t index[1] = {INT64_MAX};
  T value[1] = {T(0)};
  if (threadIdx.x < kTile) {
    index[0] = tile_base + threadIdx.x;
    value[0] = block_sums[threadIdx.x];
  }
  StoreSplitResult<T, 1>(index, value, out, n, splits, padded, partials, counters);
}

template <typename T, int kJ>
void LaunchFusedVariant(const T* owned, const T* summed, T* out, int64_t n, const SplitPlan& plan,
                        T* partials, uint32_t* counters, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(plan.tiles), static_cast<unsigned>(plan.splits));
  OuterFusedKernel<T, kJ><<<grid, 32 * kFusedWarps<T>, 0, stream>>>(
      owned, summed, out, n, plan.chunk, static_cast<int>(plan.splits),
      plan.tiles * plan.tile_width, partials, counters);
}

}  // namespace

template <typename T>
SplitPlan PlanOuterFused(int64_t n, int sm_count) {
  std::vector<int64_t> widths;
  if constexpr (sizeof(T) == 4) {
    for (int kj : kFusedLanesF32) widths.push_back(int64_t{kFusedLaneGroup} * kj);
  } else {
    for (int kj : kFusedLanesF64) widths.push_back(int64_t{kFusedLaneGroup} * kj);
  }
  // FMA lanes per SM on Hopper: 128 FP32, 64 FP64.
  return PlanFusedOnePerSm(n, sm_count, widths, kFusedWarps<T>, kFusedChunkMultiple,
                           sizeof(T) == 4 ? 128.0 : 64.0);
}

template <typename T>
cudaError_t LaunchOuterFused(const T* owned, const T* summed, T* out, int64_t n,
                             const SplitPlan& plan, T* partials, uint32_t* counters,
                             cudaStream_t stream) {
  if (n < 1 || n > INT32_MAX || plan.tiles < 1 || plan.splits < 1 || plan.chunk < 1 ||
      plan.chunk % kFusedChunkMultiple != 0 || plan.tile_width % kFusedLaneGroup != 0 ||
      plan.tiles * plan.tile_width < n || plan.splits * plan.chunk < n ||
      (plan.splits - 1) * plan.chunk >= n) {
    return cudaErrorInvalidValue;
  }
  if (plan.splits > 1 && (partials == nullptr || counters == nullptr)) return cudaErrorInvalidValue;
  const int kj = static_cast<int>(plan.tile_width / kFusedLaneGroup);
  if constexpr (sizeof(T) == 4) {
    switch (kj) {
      case 4: LaunchFusedVariant<T, 4>(owned, summed, out, n, plan, partials, counters, stream); break;
      case 6: LaunchFusedVariant<T, 6>(owned, summed, out, n, plan, partials, counters, stream); break;
      case 8: LaunchFusedVariant<T, 8>(owned, summed, out, n, plan, partials, counters, stream); break;
      case 10: LaunchFusedVariant<T, 10>(owned, summed, out, n, plan, partials, counters, stream); break;
      case 12: LaunchFusedVariant<T, 12>(owned, summed, out, n, plan, partials, counters, stream); break;
      case 16: LaunchFusedVariant<T, 16>(owned, summed, out, n, plan, partials, counters, stream); break;
      default: return cudaErrorInvalidValue;
    }
  } else {
    switch (kj) {
      case 4: LaunchFusedVariant<T, 4>(owned, summed, out, n, plan, partials, counters, stream); break;
      case 6: LaunchFusedVariant<T, 6>(owned, summed, out, n, plan, partials, counters, stream); break;
      case 8: LaunchFusedVariant<T, 8>(owned, summed, out, n, plan, partials, counters, stream); break;
      case 10: LaunchFusedVariant<T, 10>(owned, summed, out, n, plan, partials, counters, stream); break;
      default: return cudaErrorInvalidValue;
    }
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
