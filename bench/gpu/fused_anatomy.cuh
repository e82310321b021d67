// GPU host: bin/flopd_gpu_kernel_bench --anatomy   (from a deploy/bundle.sh bundle)
//
// outer/fused's kernel with stages left out or done twice, for timing only
// (issue 12: "where ncu can't, time variants that leave one stage out or do it
// twice and take differences"); timed by flopd_gpu_kernel_bench --anatomy
// (kernel_bench.cu). Not part of flopd.
//
// The steps (staging, loads, FMA runs) are the production ones
// (server/backend/cuda/outer_fused_steps.cuh); the kernel body is copied from
// outer_fused_kernel.cu (as of 850174a): OuterFusedAnatomyKernel<T, kJ, kToday> is the
// production OuterFusedKernel<T, kJ> (same statements; the variant branches
// are if constexpr and vanish), and the bench times it next to the production
// LaunchOuterFused to show the copy's fidelity. The other variants:
//   kNoFma   : no FMA loop. Everything else as today: owned loads, the cp.async
//              staging of every piece with its waits and __syncwarps, the
//              half/warp reduction, StoreSplitResult. Each piece adds its
//              first staged element to acc[0] and the owned values are added
//              to the sums at the end (kJ adds), so nothing is dropped.
//   kFmaX2   : every piece consumed twice into the same accumulators (twice
//              the FMAs; the result is wrong, which is fine for timing).
//   kFmaOnly : the first piece of the warp's share staged once (one cp.async
//              group, waited for before the loop); then the same number of
//              elements consumed as today, piece by piece, always from that
//              one stage, no cp.async and no __syncwarp in the loop (a
//              compiler-only memory barrier per piece keeps the shared loads
//              in the loop); then the reduction. The FMA loop at its best.
// EmptyKernel<T>: the same grid, block size, launch bounds and shared memory
// per block, one store per block (the launch + block-scheduling floor).
#ifndef FLOPD_BENCH_GPU_FUSED_ANATOMY_CUH_
#define FLOPD_BENCH_GPU_FUSED_ANATOMY_CUH_

#include <cuda_runtime.h>

#include <cstdint>

#include "server/backend/cuda/cuda_kernels.cuh"
#include "server/backend/cuda/kernel_common.cuh"
#include "server/backend/cuda/outer_fused_steps.cuh"
#include "server/backend/cuda/split_plan.h"

namespace flopd {
namespace anatomy {

using kernels::Fma;
using kernels::kFusedChunkMultiple;
// The lane groups of the kernel this is a copy of (16 lanes own distinct
// outputs; production has 8-lane groups and 8-warp blocks since round 7, so
// this copy is round 5/6's kernel, not today's).
inline constexpr int kFusedLaneGroup = 16;
// The warps per block of the kernel this is a copy of (production has 8
// since round 7); this name hides kernels::fused::kFusedWarps below.
template <typename T>
inline constexpr int kFusedWarps = sizeof(T) == 4 ? 32 : 16;
using kernels::StoreSplitResult;

enum Variant : int { kToday = 0, kNoFma = 1, kFmaX2 = 2, kFmaOnly = 3 };

// The kernel's steps, the production ones (server/backend/cuda/outer_fused_steps.cuh).
using namespace kernels::fused;

// Production's OuterFusedKernel<T, kJ> plus the variant branches (marked
// "anatomy:"). With kVariant == kToday every branch is production's code.
template <typename T, int kJ, int kVariant>
__global__ void __launch_bounds__(32 * kFusedWarps<T>, 1)
    OuterFusedAnatomyKernel(const T* __restrict__ owned, const T* __restrict__ summed,
                            T* __restrict__ out, int64_t n, int64_t chunk, int splits,
                            int64_t padded, T* __restrict__ partials,
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

  if constexpr (kVariant == kFmaOnly) {
    // anatomy: the first piece, staged once, consumed len / kFusedPiece times.
    CopyAsyncWait<0>();
    __syncwarp();
    for (int done = 0; done < len; done += kFusedPiece) {
      const int piece_len = min(kFusedPiece, len - done);
      if (piece_len == kFusedPiece) {
        ConsumeFullPiece<T, kJ>(stage + 4 * half, own, acc);
      } else {
        ConsumePartialPiece<T, kJ>(stage, piece_len, half, own, acc);
      }
      asm volatile("" ::: "memory");  // reload the stage next piece (no instruction)
    }
  } else {
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
    if constexpr (kVariant == kNoFma) {
      acc[0] += current[0];  // anatomy: one staged element per piece instead of the FMAs
    } else {
    if constexpr (kVariant == kFmaX2) {
      // anatomy: each piece twice; a rolled loop of 2 (unrolled, ptxas
      // interleaves the two passes' loads and spills at kJ >= 4).
#pragma unroll 1
      for (int twice = 0; twice < 2; ++twice) {
        if (piece_len == kFusedPiece) {
          ConsumeFullPiece<T, kJ>(current + 4 * half, own, acc);
        } else {
          ConsumePartialPiece<T, kJ>(current, piece_len, half, own, acc);
        }
      }
    } else {
    if (piece_len == kFusedPiece) {
      ConsumeFullPiece<T, kJ>(current + 4 * half, own, acc);
    } else {
      ConsumePartialPiece<T, kJ>(current, piece_len, half, own, acc);
    }
    }
    }
    __syncwarp();  // `current` is consumed before it is refilled
  }
  }
  if constexpr (kVariant == kNoFma) {
#pragma unroll
    for (int m = 0; m < kJ; ++m) acc[m] += own[m];  // anatomy: keep the owned loads
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

// The launch floor: the same block size and launch bounds as the fused
// kernel; thread 0 of each block writes one value.
template <typename T>
__global__ void __launch_bounds__(32 * kFusedWarps<T>, 1) EmptyKernel(T* __restrict__ out, int64_t n) {
  if (threadIdx.x == 0) {
    const int64_t b = static_cast<int64_t>(blockIdx.y) * gridDim.x + blockIdx.x;
    out[b % n] = T(b);
  }
}

template <typename T, int kJ, int kVariant>
void LaunchAnatomyVariant(const T* owned, const T* summed, T* out, int64_t n, const SplitPlan& plan,
                          T* partials, uint32_t* counters, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(plan.tiles), static_cast<unsigned>(plan.splits));
  OuterFusedAnatomyKernel<T, kJ, kVariant><<<grid, 32 * kFusedWarps<T>, 0, stream>>>(
      owned, summed, out, n, plan.chunk, static_cast<int>(plan.splits),
      plan.tiles * plan.tile_width, partials, counters);
}

// Launches `variant` with production's plan checks. Compiled tile widths:
// kJ 4, 6, 8, 10 (what PlanOuterFused picks for f32 and f64 at N <= 20000 on
// 132 SMs); another kJ returns cudaErrorNotSupported.
template <typename T>
cudaError_t LaunchAnatomy(int variant, const T* owned, const T* summed, T* out, int64_t n,
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
#define FLOPD_ANATOMY_CASE(KJ)                                                                  \
  case KJ:                                                                                      \
    switch (variant) {                                                                          \
      case kToday: LaunchAnatomyVariant<T, KJ, kToday>(owned, summed, out, n, plan, partials, counters, stream); break; \
      case kNoFma: LaunchAnatomyVariant<T, KJ, kNoFma>(owned, summed, out, n, plan, partials, counters, stream); break; \
      case kFmaX2: LaunchAnatomyVariant<T, KJ, kFmaX2>(owned, summed, out, n, plan, partials, counters, stream); break; \
      case kFmaOnly: LaunchAnatomyVariant<T, KJ, kFmaOnly>(owned, summed, out, n, plan, partials, counters, stream); break; \
      default: return cudaErrorInvalidValue;                                                    \
    }                                                                                           \
    break;
  switch (kj) {
    FLOPD_ANATOMY_CASE(4)
    FLOPD_ANATOMY_CASE(6)
    FLOPD_ANATOMY_CASE(8)
    FLOPD_ANATOMY_CASE(10)
    default: return cudaErrorNotSupported;
  }
#undef FLOPD_ANATOMY_CASE
  return cudaGetLastError();
}

// The empty kernel on the plan's grid, with as much (dynamic, unused) shared
// memory per block as the fused kernel's static arrays (< 48 KB, no opt-in).
template <typename T>
cudaError_t LaunchEmpty(T* out, int64_t n, const SplitPlan& plan, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(plan.tiles), static_cast<unsigned>(plan.splits));
  const size_t stages = size_t{2} * kFusedPiece * kFusedWarps<T>;
  const size_t rows = static_cast<size_t>(kFusedWarps<T>) * (plan.tile_width + 1);
  const size_t shared = ((stages > rows ? stages : rows) + plan.tile_width) * sizeof(T);
  EmptyKernel<T><<<grid, 32 * kFusedWarps<T>, shared, stream>>>(out, n);
  return cudaGetLastError();
}

}  // namespace anatomy
}  // namespace flopd

#endif  // FLOPD_BENCH_GPU_FUSED_ANATOMY_CUH_
