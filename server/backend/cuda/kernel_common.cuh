// Device helpers shared by the split kernels of the CUDA backend
// (cuda_kernels.cu's column sums, outer_fused_kernel.cu's fused kernel):
// fma by element type and the end of every split kernel. Device code only,
// included by those .cu files; nothing here is a host API.
#ifndef FLOPD_SERVER_BACKEND_CUDA_KERNEL_COMMON_CUH_
#define FLOPD_SERVER_BACKEND_CUDA_KERNEL_COMMON_CUH_

#include <cuda_runtime.h>

#include <cstdint>

namespace flopd {
namespace kernels {

__device__ __forceinline__ float Fma(float a, float b, float c) { return fmaf(a, b, c); }
__device__ __forceinline__ double Fma(double a, double b, double c) { return fma(a, b, c); }

// The end of every split kernel: each thread hands in its kCount outputs
// (global indices < tiles * tile_width; an index >= that, e.g. INT64_MAX,
// marks "no output") and their sums over this block's chunk. With one split
// they are the results. Otherwise they go to this split's row of `partials`;
// the last block of the tile to arrive (counted on counters[tile]) adds the
// rows in split order and writes the outputs, then rewinds the counter for
// the next launch. Every thread of the block must call this.
template <typename T, int kCount>
__device__ __forceinline__ void StoreSplitResult(const int64_t (&index)[kCount],
                                                 const T (&value)[kCount], T* out, int64_t n,
                                                 int splits, int64_t padded, T* partials,
                                                 uint32_t* counters) {
  if (splits == 1) {
#pragma unroll
    for (int i = 0; i < kCount; ++i) {
      if (index[i] < n) out[index[i]] = value[i];
    }
    return;
  }
  T* mine = partials + static_cast<int64_t>(blockIdx.y) * padded;
#pragma unroll
  for (int i = 0; i < kCount; ++i) {
    if (index[i] < padded) mine[index[i]] = value[i];
  }
  // Publish the block's partials device-wide and count the block in: the
  // barrier orders every thread's stores before thread 0's fence, and the
  // fence before the arrival (the pattern of cooperative groups' grid sync;
  // one fence per block instead of one per thread).
  __shared__ bool is_last;
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    is_last = atomicAdd(&counters[blockIdx.x], 1u) == static_cast<uint32_t>(splits - 1);
    if (is_last) __threadfence();  // acquire: the other blocks' partials
  }
  __syncthreads();
  if (!is_last) return;
  // Add the splits in order, reading through L2 (__ldcg: other SMs wrote
  // them) with 8 loads in flight per thread. Sums start at 0; 0 + p is exact.
  constexpr int kBatch = kCount >= 8 ? 1 : 8 / kCount;
  T sum[kCount];
#pragma unroll
  for (int i = 0; i < kCount; ++i) sum[i] = 0;
  for (int first = 0; first < splits; first += kBatch) {
    T v[kBatch][kCount];
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const T* row = partials + static_cast<int64_t>(first + u) * padded;
#pragma unroll
      for (int i = 0; i < kCount; ++i) {
        v[u][i] = first + u < splits && index[i] < n ? __ldcg(row + index[i]) : T(0);
      }
    }
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
#pragma unroll
      for (int i = 0; i < kCount; ++i) {
        if (first + u < splits) sum[i] += v[u][i];
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kCount; ++i) {
    if (index[i] < n) out[index[i]] = sum[i];
  }
  if (threadIdx.x == 0) counters[blockIdx.x] = 0;
}

}  // namespace kernels
}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CUDA_KERNEL_COMMON_CUH_
