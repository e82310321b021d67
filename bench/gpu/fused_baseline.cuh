// The fused outer kernel as committed in be980db (four 8-warp blocks per SM,
// 16 outputs per lane, split over 13 chunks at N = 20000), copied verbatim
// (helpers included) so that flopd_gpu_kernel_bench can time the current
// kernel against it in the same run on the same card. Bench-only code: not
// part of flopd. See server/backend/cuda/NOTES.md.
#ifndef FLOPD_BENCH_GPU_FUSED_BASELINE_CUH_
#define FLOPD_BENCH_GPU_FUSED_BASELINE_CUH_

#include <cuda_runtime.h>

#include <cstdint>

namespace flopd {
namespace baseline {

constexpr int kBlockThreads = 256;
constexpr int kBlockWarps = kBlockThreads / 32;

__device__ __forceinline__ float Fma(float a, float b, float c) { return fmaf(a, b, c); }
__device__ __forceinline__ double Fma(double a, double b, double c) { return fma(a, b, c); }

template <typename T>
__device__ __forceinline__ T WarpSum(T value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  }
  return value;
}

// ---------------------------------------------------------------------------
// The end of every split kernel: each thread hands in its kCount outputs
// (global indices, all < tiles * tile_width) and their sums over this block's
// chunk. With one split they are the results. Otherwise they go to this
// split's row of `partials`; the last block of the tile to arrive (counted on
// counters[tile]) adds the rows in split order and writes the outputs, then
// rewinds the counter for the next launch. Every thread of the block must
// call this.
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
  for (int i = 0; i < kCount; ++i) mine[index[i]] = value[i];
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

// ---------------------------------------------------------------------------
// The fused outer product and sum: out_k = sum_m owned_k * summed_m.
//
// Compute-bound: N^2 FMAs and only 3N elements of memory traffic. The matrix
// is never formed, so both axes are the same kernel with u and v swapped
// (u_i * v_j == v_j * u_i exactly). Register blocking: lane l of a block owns
// kJ outputs (tile_base + l + 32 m, m < kJ) in registers, with their owned
// values; the block's chunk of the summed vector is staged in shared memory,
// each warp takes an eighth of it and reads it 4 elements at a time with one
// broadcast LDS.128 (all lanes, same address), which feeds 4 * kJ independent
// FMAs: 64 FFMA per load for f32, so the FMA pipe, not the load path, is the
// limit. The 8 warps' partial sums are added in warp order through shared
// memory, the chunks' in split order by the last block (StoreSplitResult).
//
// Arithmetic per output: N products, each added with one fma into a partial
// sum that starts at 0 (adding the first product to 0 is exact), then the
// partial sums added: N multiplications and N - 1 non-trivial additions, as the
// op says; no factoring, no fast-math. Lanes whose outputs fall past N (the
// last tile) compute on zeros and store nothing.
//
// Measured on an H100 SXM at N = 20000 (NOTES.md): 20.7 us per launch in a
// graph, 21.8 us back to back, against 12 us for the FMAs at peak; a pure
// register-FFMA loop of the same shape reaches 89% of peak. The loss is in the
// phases around the loop: with 4 blocks per SM the warps of blocks still
// loading wait behind those already computing (timestamps: ~5 us from block
// start to first FMA, ~6 us of FMAs, ~2 us combining), and the last block of
// each SM runs alone.

constexpr int kFusedPiece = 2048;  // summed elements staged per pass

// cp.async of one element (4 or 8 bytes), global to shared, through L1.
template <typename T>
__device__ __forceinline__ void CopyAsync(T* shared_destination, const T* global_source) {
  const unsigned destination = static_cast<unsigned>(__cvta_generic_to_shared(shared_destination));
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2;" ::"r"(destination), "l"(global_source),
               "n"(sizeof(T))
               : "memory");
}
__device__ __forceinline__ void CopyAsyncWaitAll() {
  asm volatile("cp.async.wait_all;" ::: "memory");
}

template <typename T>
__device__ __forceinline__ void LoadFour(const T* p, T (&v)[4]) {
  if constexpr (sizeof(T) == 4) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x;
    v[1] = q.y;
    v[2] = q.z;
    v[3] = q.w;
  } else {
    const double2 q0 = *reinterpret_cast<const double2*>(p);
    const double2 q1 = *reinterpret_cast<const double2*>(p + 2);
    v[0] = q0.x;
    v[1] = q0.y;
    v[2] = q1.x;
    v[3] = q1.y;
  }
}

// acc[m] += own[m] * s[q] for q = 0..3 in order, each m independent.
template <typename T, int kJ>
__device__ __forceinline__ void FmaFour(const T (&own)[kJ], const T (&s)[4], T (&acc)[kJ]) {
#pragma unroll
  for (int q = 0; q < 4; ++q) {
#pragma unroll
    for (int m = 0; m < kJ; ++m) acc[m] = Fma(own[m], s[q], acc[m]);
  }
}

template <typename T, int kJ>
__global__ void __launch_bounds__(kBlockThreads, 4)
    OuterFusedKernel(const T* __restrict__ owned, const T* __restrict__ summed, T* __restrict__ out,
                     int64_t n, int64_t chunk, int splits, int64_t padded, T* __restrict__ partials,
                     uint32_t* __restrict__ counters) {
  constexpr int kTile = 32 * kJ;
  constexpr int kPerThread = kTile / kBlockThreads;
  static_assert(kTile % kBlockThreads == 0, "tile must be a multiple of the block");
  __shared__ __align__(16) T piece[kFusedPiece];
  __shared__ T warp_sums[kBlockWarps][kTile];

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int64_t tile_base = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t end = min(n, begin + chunk);

  T own[kJ];
  T acc[kJ];
#pragma unroll
  for (int m = 0; m < kJ; ++m) {
    const int64_t k = tile_base + lane + 32 * m;
    own[m] = k < n ? __ldg(owned + k) : T(0);
    acc[m] = 0;
  }

  for (int64_t piece_begin = begin; piece_begin < end; piece_begin += kFusedPiece) {
    const int len = static_cast<int>(min(static_cast<int64_t>(kFusedPiece), end - piece_begin));
    // The piece goes straight from global to shared memory (cp.async): every
    // element's copy in flight at once, no registers held, instead of a
    // load-store chain per element that waits out one L2 latency each.
    __syncthreads();  // the previous piece is consumed
    for (int t = threadIdx.x; t < len; t += kBlockThreads) {
      CopyAsync(piece + t, summed + piece_begin + t);
    }
    CopyAsyncWaitAll();
    __syncthreads();
    // This warp's share: a multiple of 4 elements, so its LDS.128 are aligned.
    const int share = ((len + kBlockWarps - 1) / kBlockWarps + 3) & ~3;
    const int first = min(len, warp * share);
    const int last = min(len, first + share);
    int t = first;
    if (t + 4 <= last) {
      // Software-pipelined: the next four summed values are loaded while
      // the FMAs on the current four run, so a warp does not wait out the
      // shared-memory latency at every step.
      T s[4];
      LoadFour(piece + t, s);
#pragma unroll 2
      for (; t + 8 <= last; t += 4) {
        T next[4];
        LoadFour(piece + t + 4, next);
        FmaFour<T, kJ>(own, s, acc);
#pragma unroll
        for (int q = 0; q < 4; ++q) s[q] = next[q];
      }
      FmaFour<T, kJ>(own, s, acc);
      t += 4;
    }
    for (; t < last; ++t) {
      const T s = piece[t];
#pragma unroll
      for (int m = 0; m < kJ; ++m) acc[m] = Fma(own[m], s, acc[m]);
    }
  }

#pragma unroll
  for (int m = 0; m < kJ; ++m) warp_sums[warp][lane + 32 * m] = acc[m];
  __syncthreads();
  int64_t index[kPerThread];
  T value[kPerThread];
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int o = threadIdx.x + i * kBlockThreads;
    T sum = warp_sums[0][o];
#pragma unroll
    for (int w = 1; w < kBlockWarps; ++w) sum += warp_sums[w][o];
    index[i] = tile_base + o;
    value[i] = sum;
  }
  StoreSplitResult<T, kPerThread>(index, value, out, n, splits, padded, partials, counters);
}

// The committed plan at N = 20000 f32 on a 132-SM H100: 40 tiles of 512,
// 13 splits of 1568 (520 blocks).
inline cudaError_t LaunchBaselineFused(const float* owned, const float* summed, float* out,
                                       int64_t n, int64_t tiles, int64_t splits, int64_t chunk,
                                       float* partials, uint32_t* counters, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(splits));
  OuterFusedKernel<float, 16><<<grid, kBlockThreads, 0, stream>>>(
      owned, summed, out, n, chunk, static_cast<int>(splits), tiles * 512, partials, counters);
  return cudaGetLastError();
}

}  // namespace baseline
}  // namespace flopd

#endif  // FLOPD_BENCH_GPU_FUSED_BASELINE_CUH_
