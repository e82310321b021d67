// flopd's CUDA kernels. See cuda_kernels.cuh for the contracts; the comments
// here are about how each kernel reaches its roofline.
#include <cuda_runtime.h>

#include <cstdint>

#include "server/backend/cuda/cuda_kernels.cuh"

namespace flopd {
namespace kernels {
namespace {

// ---------------------------------------------------------------------------
// Loads.

template <typename T>
struct Vec16;  // the 16-byte vector of T
template <>
struct Vec16<float> {
  using Type = float4;
  static constexpr int kWidth = 4;
};
template <>
struct Vec16<double> {
  using Type = double2;
  static constexpr int kWidth = 2;
};

// A vector of kWidth T: Vec16 when kWidth fills 16 bytes, else one T.
template <typename T, int kWidth>
struct VecN {
  using Type = typename Vec16<T>::Type;
};
template <typename T>
struct VecN<T, 1> {
  using Type = T;
};

// Streaming loads for data read exactly once (the N x N matrix): through the
// non-coherent path, not allocated in L1 (which keeps x there), with a 256-byte
// L2 prefetch. `volatile` so that guarded loads are never speculated past
// their bounds check.
__device__ __forceinline__ float4 LoadStreaming(const float4* p) {
  float4 v;
  asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.f32 {%0, %1, %2, %3}, [%4];"
               : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
               : "l"(p));
  return v;
}
__device__ __forceinline__ double2 LoadStreaming(const double2* p) {
  double2 v;
  asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v2.f64 {%0, %1}, [%2];"
               : "=d"(v.x), "=d"(v.y)
               : "l"(p));
  return v;
}
__device__ __forceinline__ float LoadStreaming(const float* p) {
  float v;
  asm volatile("ld.global.nc.L1::no_allocate.L2::256B.f32 %0, [%1];" : "=f"(v) : "l"(p));
  return v;
}
__device__ __forceinline__ double LoadStreaming(const double* p) {
  double v;
  asm volatile("ld.global.nc.L1::no_allocate.L2::256B.f64 %0, [%1];" : "=d"(v) : "l"(p));
  return v;
}

// Element c of a vector held in registers (c is a compile-time constant after
// unrolling; no pointer casts, which can push the vector to local memory).
__device__ __forceinline__ float Element(const float4& v, int c) {
  return c == 0 ? v.x : c == 1 ? v.y : c == 2 ? v.z : v.w;
}
__device__ __forceinline__ double Element(const double2& v, int c) { return c == 0 ? v.x : v.y; }
__device__ __forceinline__ float Element(float v, int) { return v; }
__device__ __forceinline__ double Element(double v, int) { return v; }

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
// Row dot products: y_i = sum_j A_ij x_j, or sum_j A_ij without x.
//
// Memory-bound: A is read once (N^2 elements), x stays in L1/L2. One warp per
// row; each lane keeps kRowUnroll 16-byte loads of A in flight (4 KB per warp),
// which with ~24 resident warps per SM is several times the bytes-in-flight
// that HBM3 needs (bandwidth x latency ~ 20 KB per SM). Blocks are not
// persistent: the hardware scheduler hands out rows as warps finish, so
// the tail stays short. A row that does not start on a 16-byte boundary (N
// not a multiple of the vector width) takes a scalar head and tail, and then
// x is read element by element.

constexpr int kRowUnroll = 8;

template <typename T, bool kHasX, bool kVectorX>
__device__ __forceinline__ void RowAccumulate(const typename Vec16<T>::Type& av, const T* x,
                                              int64_t vec_index, T (&acc)[Vec16<T>::kWidth]) {
  using Vec = typename Vec16<T>::Type;
  constexpr int kW = Vec16<T>::kWidth;
  if constexpr (!kHasX) {
#pragma unroll
    for (int c = 0; c < kW; ++c) acc[c] += Element(av, c);
  } else if constexpr (kVectorX) {
    const Vec xv = __ldg(reinterpret_cast<const Vec*>(x) + vec_index);
#pragma unroll
    for (int c = 0; c < kW; ++c) acc[c] = Fma(Element(av, c), Element(xv, c), acc[c]);
  } else {
#pragma unroll
    for (int c = 0; c < kW; ++c) {
      acc[c] = Fma(Element(av, c), __ldg(x + vec_index * kW + c), acc[c]);
    }
  }
}

// The vector body of one row: `vecs` 16-byte vectors at `row`, x (when used)
// at the matching offset.
template <typename T, bool kHasX, bool kVectorX>
__device__ __forceinline__ void RowBody(const typename Vec16<T>::Type* row, const T* x,
                                        int64_t vecs, int lane, T (&acc)[Vec16<T>::kWidth]) {
  using Vec = typename Vec16<T>::Type;
  int64_t base = 0;
  for (; base + 32 * kRowUnroll <= vecs; base += 32 * kRowUnroll) {
    Vec av[kRowUnroll];
#pragma unroll
    for (int u = 0; u < kRowUnroll; ++u) av[u] = LoadStreaming(row + base + lane + 32 * u);
#pragma unroll
    for (int u = 0; u < kRowUnroll; ++u) {
      RowAccumulate<T, kHasX, kVectorX>(av[u], x, base + lane + 32 * u, acc);
    }
  }
  // The remainder (< 32 * kRowUnroll vectors), still all in flight at once.
  Vec av[kRowUnroll];
#pragma unroll
  for (int u = 0; u < kRowUnroll; ++u) {
    const int64_t k = base + lane + 32 * u;
    if (k < vecs) av[u] = LoadStreaming(row + k);
  }
#pragma unroll
  for (int u = 0; u < kRowUnroll; ++u) {
    const int64_t k = base + lane + 32 * u;
    if (k < vecs) RowAccumulate<T, kHasX, kVectorX>(av[u], x, k, acc);
  }
}

template <typename T, bool kHasX>
__global__ void __launch_bounds__(kBlockThreads)
    RowDotKernel(const T* __restrict__ a, const T* __restrict__ x, T* __restrict__ y, int64_t n) {
  using Vec = typename Vec16<T>::Type;
  constexpr int kW = Vec16<T>::kWidth;
  const int lane = threadIdx.x & 31;
  const int64_t row_index = static_cast<int64_t>(blockIdx.x) * kBlockWarps + (threadIdx.x >> 5);
  if (row_index >= n) return;
  const T* row = a + row_index * n;
  // Elements before the row's first 16-byte boundary.
  const int misalign = static_cast<int>((reinterpret_cast<uintptr_t>(row) / sizeof(T)) % kW);
  const int64_t head = misalign == 0 ? 0 : min(n, static_cast<int64_t>(kW - misalign));
  const int64_t vecs = (n - head) / kW;
  const int64_t tail = head + vecs * kW;

  T scalar_sum = 0;
  if (lane < head) scalar_sum = kHasX ? row[lane] * x[lane] : row[lane];
  T acc[kW];
#pragma unroll
  for (int c = 0; c < kW; ++c) acc[c] = 0;
  const Vec* body = reinterpret_cast<const Vec*>(row + head);
  if (head == 0) {
    RowBody<T, kHasX, true>(body, x, vecs, lane, acc);
  } else {
    RowBody<T, kHasX, false>(body, kHasX ? x + head : x, vecs, lane, acc);
  }
  if (lane < n - tail) {
    const int64_t j = tail + lane;
    scalar_sum = kHasX ? Fma(row[j], x[j], scalar_sum) : scalar_sum + row[j];
  }
  T sum = scalar_sum;
#pragma unroll
  for (int c = 0; c < kW; ++c) sum += acc[c];
  sum = WarpSum(sum);
  if (lane == 0) y[row_index] = sum;
}

// ---------------------------------------------------------------------------
// Column sums of the N x N product: out_j = sum_i P_ij.
//
// Memory-bound like the row sums, but the summed axis is the strided one: a
// thread owns kVecs groups of kV adjacent columns (16-byte vectors when rows
// are aligned), 256 * kV apart, so that each warp load is one contiguous
// 512-byte stretch of a row and a block covers 256 * kV * kVecs columns. It
// walks the rows of its chunk with 8 loads in flight. The rows are split
// into chunks across blocks (PlanStreamingSplit) so that enough blocks exist to fill
// every SM; the partials are combined by the last block.

constexpr int kColumnLoads = 8;  // loads in flight per thread

template <typename T, int kV, int kVecs>
__global__ void __launch_bounds__(kBlockThreads, 4)
    ColumnSumsKernel(const T* __restrict__ p, T* __restrict__ out, int64_t n, int64_t chunk,
                     int splits, int64_t padded, T* __restrict__ partials,
                     uint32_t* __restrict__ counters) {
  // (The bound of 4 blocks per SM: without it ptxas capped the f64 variant at
  // 32 registers and spilled.)
  using Vec = typename VecN<T, kV>::Type;
  constexpr int kRows = kColumnLoads / kVecs;  // rows per step
  static_assert(kColumnLoads % kVecs == 0, "kVecs must divide the loads in flight");
  const int64_t tile_base = static_cast<int64_t>(blockIdx.x) * (kBlockThreads * kV * kVecs);
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t end = min(n, begin + chunk);
  int64_t column[kVecs];
#pragma unroll
  for (int q = 0; q < kVecs; ++q) {
    column[q] = tile_base + (static_cast<int64_t>(q) * kBlockThreads + threadIdx.x) * kV;
  }
  T acc[kVecs][kV];
#pragma unroll
  for (int q = 0; q < kVecs; ++q) {
#pragma unroll
    for (int c = 0; c < kV; ++c) acc[q][c] = 0;
  }
  // With n a multiple of kV (or kV = 1), column < n means the whole vector is.
  int64_t r = begin;
  for (; r + kRows <= end; r += kRows) {
    Vec v[kRows][kVecs];
#pragma unroll
    for (int u = 0; u < kRows; ++u) {
#pragma unroll
      for (int q = 0; q < kVecs; ++q) {
        if (column[q] < n)
          v[u][q] = LoadStreaming(reinterpret_cast<const Vec*>(p + (r + u) * n + column[q]));
      }
    }
#pragma unroll
    for (int u = 0; u < kRows; ++u) {
#pragma unroll
      for (int q = 0; q < kVecs; ++q) {
        if (column[q] < n) {
#pragma unroll
          for (int c = 0; c < kV; ++c) acc[q][c] += Element(v[u][q], c);
        }
      }
    }
  }
  for (; r < end; ++r) {
#pragma unroll
    for (int q = 0; q < kVecs; ++q) {
      if (column[q] < n) {
        const Vec v = LoadStreaming(reinterpret_cast<const Vec*>(p + r * n + column[q]));
#pragma unroll
        for (int c = 0; c < kV; ++c) acc[q][c] += Element(v, c);
      }
    }
  }
  int64_t index[kVecs * kV];
  T value[kVecs * kV];
#pragma unroll
  for (int q = 0; q < kVecs; ++q) {
#pragma unroll
    for (int c = 0; c < kV; ++c) {
      index[q * kV + c] = column[q] + c;
      value[q * kV + c] = acc[q][c];
    }
  }
  StoreSplitResult<T, kVecs * kV>(index, value, out, n, splits, padded, partials, counters);
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

// ---------------------------------------------------------------------------
// The SM clock: cycles of clock64() over nanoseconds of %globaltimer.

__device__ __forceinline__ unsigned long long GlobalTimer() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void ClockProbeKernel(int64_t spin_ns, unsigned long long* out) {
  const unsigned long long t0 = GlobalTimer();
  const long long c0 = clock64();
  unsigned long long t1 = t0;
  while (static_cast<int64_t>(t1 - t0) < spin_ns) t1 = GlobalTimer();
  const long long c1 = clock64();
  out[0] = t1 - t0;
  out[1] = static_cast<unsigned long long>(c1 - c0);
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

cudaError_t QueryKernelOccupancy(KernelOccupancy* occupancy) {
  const cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(
      &occupancy->fused_f32, OuterFusedKernel<float, FusedOutputsPerLane<float>()>, kBlockThreads,
      0);
  if (e != cudaSuccess) return e;
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(
      &occupancy->fused_f64, OuterFusedKernel<double, FusedOutputsPerLane<double>()>, kBlockThreads,
      0);
}

template <typename T>
cudaError_t LaunchRowDot(const T* a, const T* x, T* y, int64_t n, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(CeilDiv(n, kBlockWarps)));
  if (x != nullptr) {
    RowDotKernel<T, true><<<grid, kBlockThreads, 0, stream>>>(a, x, y, n);
  } else {
    RowDotKernel<T, false><<<grid, kBlockThreads, 0, stream>>>(a, nullptr, y, n);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t LaunchOuterFused(const T* owned, const T* summed, T* out, int64_t n,
                             const SplitPlan& plan, T* partials, uint32_t* counters,
                             cudaStream_t stream) {
  if (plan.tile_width != FusedTileWidth<T>()) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(plan.tiles), static_cast<unsigned>(plan.splits));
  OuterFusedKernel<T, FusedOutputsPerLane<T>()><<<grid, kBlockThreads, 0, stream>>>(
      owned, summed, out, n, plan.chunk, static_cast<int>(plan.splits),
      plan.tiles * plan.tile_width, partials, counters);
  return cudaGetLastError();
}

template <typename T>
cudaError_t LaunchColumnSums(const T* p, T* out, int64_t n, const SplitPlan& plan, T* partials,
                             uint32_t* counters, cudaStream_t stream) {
  constexpr int kVector = 16 / sizeof(T);
  constexpr int kVecs = kColumnSumsVectorsPerThread;
  const int64_t vector = ColumnSumsVector<T>(n);
  if (plan.tile_width != ColumnSumsTileWidth<T>(n)) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(plan.tiles), static_cast<unsigned>(plan.splits));
  const int64_t padded = plan.tiles * plan.tile_width;
  const int splits = static_cast<int>(plan.splits);
  if (vector == kVector) {
    ColumnSumsKernel<T, kVector, kVecs><<<grid, kBlockThreads, 0, stream>>>(
        p, out, n, plan.chunk, splits, padded, partials, counters);
  } else {
    ColumnSumsKernel<T, 1, kVecs><<<grid, kBlockThreads, 0, stream>>>(p, out, n, plan.chunk, splits,
                                                                      padded, partials, counters);
  }
  return cudaGetLastError();
}

cudaError_t LaunchClockProbe(int64_t spin_ns, unsigned long long* out, cudaStream_t stream) {
  ClockProbeKernel<<<1, 1, 0, stream>>>(spin_ns, out);
  return cudaGetLastError();
}

template cudaError_t LaunchRowDot<float>(const float*, const float*, float*, int64_t, cudaStream_t);
template cudaError_t LaunchRowDot<double>(const double*, const double*, double*, int64_t,
                                          cudaStream_t);
template cudaError_t LaunchOuterFused<float>(const float*, const float*, float*, int64_t,
                                             const SplitPlan&, float*, uint32_t*, cudaStream_t);
template cudaError_t LaunchOuterFused<double>(const double*, const double*, double*, int64_t,
                                              const SplitPlan&, double*, uint32_t*, cudaStream_t);
template cudaError_t LaunchColumnSums<float>(const float*, float*, int64_t, const SplitPlan&,
                                             float*, uint32_t*, cudaStream_t);
template cudaError_t LaunchColumnSums<double>(const double*, double*, int64_t, const SplitPlan&,
                                              double*, uint32_t*, cudaStream_t);

}  // namespace kernels
}  // namespace flopd
