// The CUDA backend's kernel file: the dispatch (every case of every op the
// backend runs, cuBLAS calls included) and flopd's memory-bound kernels under
// test. See cuda_kernels.cuh for the contracts; the comments here are about
// how each kernel reaches its roofline. The fused kernel's body is in
// outer_fused_kernel.cu; the kernels that time nothing themselves (inputs,
// references, clock probe, FMA peak) are in support_kernels.cu.
#include "server/backend/cuda/cuda_kernels.cuh"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "server/backend/cuda/attention_kernels.cuh"
#include "server/backend/cuda/cublas_calls.h"
#include "server/backend/cuda/kernel_common.cuh"
#include "server/backend/cuda/support_kernels.cuh"

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


template <typename T>
__device__ __forceinline__ T WarpSum(T value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  }
  return value;
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
// Batched row dot products: y_b = A x_b for kBatch vectors.
//
// Memory-bound up to B = 16 in f32 (intensity B/2 FLOP/byte against the
// H200's ridge of ~15), so the matrix is streamed once, as RowDot streams it
// for one vector. What grows with B is the traffic of x: read straight from
// L1/L2 by every warp, x's loads outgrew A's bytes from B = 4 on (x does not
// stay in L1: B x N elements) and the kernel fell to 1.25-21x its floor. So
// the block walks the columns in steps: each step its threads first issue
// their loads of A (kRows rows per lane group, kUnroll 16-byte loads per row
// and lane, 8 in flight as in RowDot), then copy the step's piece of every
// x_b into shared memory, and after one barrier every warp's FMAs read x
// from there: x crosses L2 once per block and one 16-byte shared load of x_b
// feeds kRows rows. kRows x kBatch accumulators per lane (64 at most).
//
// With all 32 lanes across the columns (kLanes = 32), a warp's load of x_b
// is 512 distinct bytes, 4 shared-memory wavefronts for 16 kRows FMAs per
// lane: from B = 8 on, shared memory and the FMA pipe tie and the kernel
// stalled at 1.2-1.4x its floor. With kLanes = 8 the warp's 4 lane groups
// take different rows and read the same 128 bytes of x (one wavefront), at
// the price of 4x the rows per block, hence the grid-size rule at launch.

// Loads of A per lane and row in a step: 8 per lane, but a step's x (kBatch x
// kLanes kUnroll 16-byte vectors, two buffers) within 64 KB of shared memory.
template <int kLanes, int kRows, int kBatch>
inline constexpr int kBatchedUnroll = kBatch * kLanes * (8 / kRows) * 16 <= 32 * 1024
                                          ? 8 / kRows
                                          : 32 * 1024 / (kBatch * kLanes * 16);

// The sum over the kLanes lanes of a group (aligned, contiguous lanes), in
// all of them: a butterfly within the group.
template <int kLanes, typename T>
__device__ __forceinline__ T GroupSum(T value) {
#pragma unroll
  for (int offset = kLanes / 2; offset > 0; offset /= 2) {
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  }
  return value;
}

template <typename T, int kV, int kLanes, int kRows, int kBatch>
__global__ void __launch_bounds__(kBlockThreads)
    BatchedRowDotKernel(const T* __restrict__ a, const T* __restrict__ x, T* __restrict__ y,
                        int64_t n) {
  using Vec = typename VecN<T, kV>::Type;
  constexpr int kGroups = 32 / kLanes;           // row groups per warp
  constexpr int kWarpRows = kGroups * kRows;
  constexpr int kUnroll = kBatchedUnroll<kLanes, kRows, kBatch>;
  constexpr int kStepVecs = kLanes * kUnroll;    // vectors of a row per step
  constexpr int kXVecs = kBatch * kStepVecs;     // x's vectors per step
  constexpr int kXPerThread = (kXVecs + kBlockThreads - 1) / kBlockThreads;
  extern __shared__ __align__(16) unsigned char batched_shared[];
  // Two buffers of [kBatch][kStepVecs]: a step reads one while the next
  // step's x is copied into the other.
  Vec* x_steps = reinterpret_cast<Vec*>(batched_shared);
  const int lane = threadIdx.x & 31;
  const int column_lane = lane % kLanes;
  const int group = lane / kLanes;
  const int64_t warp_first_row =
      (static_cast<int64_t>(blockIdx.x) * kBlockWarps + (threadIdx.x >> 5)) * kWarpRows;
  // This lane's rows: warp_first_row + group + kGroups r. Rows past the end
  // repeat the last row (loaded, never stored): every warp takes part in the
  // block's barriers.
  const T* rows[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    rows[r] = a + min(warp_first_row + group + kGroups * r, n - 1) * n;
  }
  const int64_t vecs = n / kV;  // n is a multiple of kV

  // One step's loads: A into registers, x into registers (stored to shared
  // memory after the current step's FMAs).
  Vec av[kRows][kUnroll];
  Vec xr[kXPerThread];
  auto load_step = [&](int64_t base) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t k = base + column_lane + kLanes * u;
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (k < vecs) av[r][u] = LoadStreaming(reinterpret_cast<const Vec*>(rows[r]) + k);
      }
    }
#pragma unroll
    for (int j = 0; j < kXPerThread; ++j) {
      const int i = threadIdx.x + j * kBlockThreads;
      const int64_t k = base + i % kStepVecs;
      if (i < kXVecs && k < vecs) {
        xr[j] = __ldg(reinterpret_cast<const Vec*>(x + (i / kStepVecs) * n) + k);
      }
    }
  };
  auto store_x = [&](Vec* buffer) {
#pragma unroll
    for (int j = 0; j < kXPerThread; ++j) {
      const int i = threadIdx.x + j * kBlockThreads;
      if (i < kXVecs) buffer[i] = xr[j];
    }
  };

  T acc[kRows][kBatch];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int b = 0; b < kBatch; ++b) acc[r][b] = 0;
  }
  load_step(0);
  store_x(x_steps);
  __syncthreads();
  int buffer = 0;
  for (int64_t base = 0; base < vecs; base += kStepVecs) {
    Vec a_now[kRows][kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) a_now[r][u] = av[r][u];
    }
    const bool more = base + kStepVecs < vecs;
    if (more) load_step(base + kStepVecs);  // in flight during this step's FMAs
    const Vec* x_now = x_steps + buffer * kXVecs;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (base + column_lane + kLanes * u >= vecs) continue;
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        const Vec xv = x_now[b * kStepVecs + column_lane + kLanes * u];
#pragma unroll
        for (int c = 0; c < kV; ++c) {
#pragma unroll
          for (int r = 0; r < kRows; ++r) {
            acc[r][b] = Fma(Element(a_now[r][u], c), Element(xv, c), acc[r][b]);
          }
        }
      }
    }
    if (more) {
      buffer ^= 1;
      store_x(x_steps + buffer * kXVecs);  // the other buffer: read two steps ago
      __syncthreads();
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int64_t row = warp_first_row + group + kGroups * r;
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const T sum = GroupSum<kLanes>(acc[r][b]);
      if (column_lane == (r * kBatch + b) % kLanes && row < n) y[b * n + row] = sum;
    }
  }
}

template <typename T, int kV, int kLanes, int kRows, int kBatch>
cudaError_t LaunchBatchedRowDotKernel(const T* a, const T* x, T* y, int64_t n,
                                      cudaStream_t stream) {
  using Vec = typename VecN<T, kV>::Type;
  const auto kernel = BatchedRowDotKernel<T, kV, kLanes, kRows, kBatch>;
  constexpr int kShared =
      2 * kBatch * kLanes * kBatchedUnroll<kLanes, kRows, kBatch> * sizeof(Vec);
  if (kShared > 48 * 1024) {
    // Above the default 48 KB: opt in (idempotent and cheap; per device).
    const cudaError_t e =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kShared);
    if (e != cudaSuccess) return e;
  }
  const int64_t rows_per_block = kBlockWarps * (32 / kLanes) * kRows;
  const dim3 grid(static_cast<unsigned>((n + rows_per_block - 1) / rows_per_block));
  kernel<<<grid, kBlockThreads, kShared, stream>>>(a, x, y, n);
  return cudaGetLastError();
}

template <typename T, int kLanes, int kRows, int kBatch>
cudaError_t LaunchBatchedRowDotShape(const T* a, const T* x, T* y, int64_t n,
                                     cudaStream_t stream) {
  constexpr int kVector = 16 / sizeof(T);
  return n % kVector == 0
             ? LaunchBatchedRowDotKernel<T, kVector, kLanes, kRows, kBatch>(a, x, y, n, stream)
             : LaunchBatchedRowDotKernel<T, 1, kLanes, kRows, kBatch>(a, x, y, n, stream);
}

template <typename T, int kBatch>
cudaError_t LaunchBatchedRowDotFor(const T* a, const T* x, T* y, int64_t n, BatchedLayout layout,
                                   cudaStream_t stream) {
  constexpr BatchedShape kWide = BatchedWideShape(kBatch);
  if constexpr (kBatch >= 8) {
    constexpr BatchedShape kNarrow = BatchedNarrowShape(kBatch);
    if (layout == BatchedLayout::kNarrow) {
      return LaunchBatchedRowDotShape<T, kNarrow.lanes, kNarrow.rows, kBatch>(a, x, y, n, stream);
    }
  } else {
    if (layout == BatchedLayout::kNarrow) return cudaErrorInvalidValue;
  }
  return LaunchBatchedRowDotShape<T, kWide.lanes, kWide.rows, kBatch>(a, x, y, n, stream);
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

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <typename T>
__global__ void __launch_bounds__(kBlockThreads)
    ChainKernel(const T* in, T* out, int64_t n, int steps) {
  const T a = static_cast<T>(kChainA);
  const T b = static_cast<T>(kChainB);
  const int64_t base =
      static_cast<int64_t>(blockIdx.x) * (kBlockThreads * kChainPerThread) + threadIdx.x;
  T y[kChainPerThread];
#pragma unroll
  for (int e = 0; e < kChainPerThread; ++e) {
    const int64_t i = base + e * kBlockThreads;
    y[e] = i < n ? in[i] : T(1);
  }
  for (int step = 0; step < steps; ++step) {
#pragma unroll
    for (int e = 0; e < kChainPerThread; ++e) y[e] = fma(a, y[e], b);
  }
#pragma unroll
  for (int e = 0; e < kChainPerThread; ++e) {
    const int64_t i = base + e * kBlockThreads;
    if (i < n) out[i] = y[e];
  }
}

}  // namespace

template <typename T>
cudaError_t LaunchChain(const T* in, T* out, int64_t n, int steps, cudaStream_t stream) {
  const int64_t blocks = CeilDiv(n, kBlockThreads * kChainPerThread);
  if (blocks > std::numeric_limits<int32_t>::max()) return cudaErrorInvalidValue;
  ChainKernel<T><<<static_cast<unsigned>(blocks), kBlockThreads, 0, stream>>>(in, out, n, steps);
  return cudaGetLastError();
}

template cudaError_t LaunchChain<float>(const float*, float*, int64_t, int, cudaStream_t);
template cudaError_t LaunchChain<double>(const double*, double*, int64_t, int, cudaStream_t);

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

BatchedLayout PlanBatchedLayout(int64_t n, int batch, int sm_count) {
  if (batch < 8) return BatchedLayout::kWide;
  const BatchedShape narrow = BatchedNarrowShape(batch);
  const int64_t rows_per_block = static_cast<int64_t>(kBlockWarps) * (32 / narrow.lanes) * narrow.rows;
  const int64_t blocks = (n + rows_per_block - 1) / rows_per_block;
  return BlocksFillTheSms(blocks, sm_count) ? BatchedLayout::kNarrow : BatchedLayout::kWide;
}

template <typename T>
cudaError_t LaunchBatchedRowDot(const T* a, const T* x, T* y, int64_t n, int batch,
                                cudaStream_t stream, BatchedLayout layout) {
  if (n <= 0) return cudaErrorInvalidValue;
  switch (batch) {
    case 1: return LaunchBatchedRowDotFor<T, 1>(a, x, y, n, layout, stream);
    case 2: return LaunchBatchedRowDotFor<T, 2>(a, x, y, n, layout, stream);
    case 4: return LaunchBatchedRowDotFor<T, 4>(a, x, y, n, layout, stream);
    case 8: return LaunchBatchedRowDotFor<T, 8>(a, x, y, n, layout, stream);
    case 16: return LaunchBatchedRowDotFor<T, 16>(a, x, y, n, layout, stream);
    case 32: return LaunchBatchedRowDotFor<T, 32>(a, x, y, n, layout, stream);
    case 64: return LaunchBatchedRowDotFor<T, 64>(a, x, y, n, layout, stream);
    default: return cudaErrorInvalidValue;
  }
}

template cudaError_t LaunchBatchedRowDot<float>(const float*, const float*, float*, int64_t, int,
                                                cudaStream_t, BatchedLayout);
template cudaError_t LaunchBatchedRowDot<double>(const double*, const double*, double*, int64_t,
                                                 int, cudaStream_t, BatchedLayout);
template cudaError_t LaunchRowDot<float>(const float*, const float*, float*, int64_t, cudaStream_t);
template cudaError_t LaunchRowDot<double>(const double*, const double*, double*, int64_t,
                                          cudaStream_t);
template cudaError_t LaunchColumnSums<float>(const float*, float*, int64_t, const SplitPlan&,
                                             float*, uint32_t*, cudaStream_t);
template cudaError_t LaunchColumnSums<double>(const double*, double*, int64_t, const SplitPlan&,
                                              double*, uint32_t*, cudaStream_t);

}  // namespace kernels

// ---------------------------------------------------------------------------
// The dispatch. Buffers by op (the catalog's order): matvec reads A (N x N)
// and x, outer reads u and v; both write N outputs; outer/library's scratch
// is the N x N product P.

namespace {

// Blocks per SM of the library's column sums: see PlanStreamingSplit.
constexpr double kColumnSumsBlocksPerSm = 1.5;

CudaKernelStatus Launched(cudaError_t e, const char* what) {
  return CudaKernelStatus::Launch(e, what);
}
CudaKernelStatus Cublas(cublasStatus_t s, const char* what) {
  return CudaKernelStatus::Library(s, what);
}

}  // namespace

bool CudaImplements(Kernel kernel) {
  switch (kernel) {
    case Kernel::kMatvecGemv:
    case Kernel::kMatvecGemm:
    case Kernel::kMatvecCustom:
    case Kernel::kOuterLibrary:
    case Kernel::kOuterFused:
    case Kernel::kChainUnfused:
    case Kernel::kChainFused:
    case Kernel::kBatchedMvLoop:
    case Kernel::kBatchedMvGemm:
    case Kernel::kBatchedMvCustom:
    case Kernel::kAttentionMaterialized:
    case Kernel::kAttentionFused:
      return true;
    case Kernel::kNone:
      break;
  }
  return false;
}

int64_t CudaMaxN(Kernel kernel) {
  return kernel == Kernel::kOuterFused ? std::numeric_limits<int32_t>::max()
                                       : std::numeric_limits<int64_t>::max();
}

CudaKernelPlan PlanCudaKernel(const PointSpec& point, int sm_count) {
  const bool f32 = point.dtype == DType::kF32;
  CudaKernelPlan plan;
  plan.split.tiles = 0;
  switch (point.kernel) {
    case Kernel::kOuterFused:
      plan.variant = static_cast<int>(point.Param("axis"));
      plan.split = f32 ? kernels::PlanOuterFused<float>(point.n, sm_count)
                       : kernels::PlanOuterFused<double>(point.n, sm_count);
      break;
    case Kernel::kOuterLibrary:
      plan.variant = static_cast<int>(point.Param("axis"));
      if (plan.variant == 0) {
        SplitShape shape;
        shape.outputs = point.n;
        shape.summed = point.n;
        shape.tile_width = f32 ? kernels::ColumnSumsTileWidth<float>(point.n)
                               : kernels::ColumnSumsTileWidth<double>(point.n);
        shape.chunk_multiple = 8;
        shape.min_chunk = 32;
        plan.split = PlanStreamingSplit(shape, sm_count, kColumnSumsBlocksPerSm);
      }
      break;
    case Kernel::kChainUnfused:
      plan.launches = static_cast<int>(point.Param("k", 1));
      break;
    case Kernel::kBatchedMvLoop:
      plan.launches = static_cast<int>(point.Param("B", 1));
      break;
    case Kernel::kBatchedMvCustom:
      plan.batched_layout =
          kernels::PlanBatchedLayout(point.n, static_cast<int>(point.Param("B", 1)), sm_count);
      break;
    case Kernel::kAttentionFused: {
      const int d = static_cast<int>(point.Param("d"));
      plan.attention = f32 ? kernels::PlanAttentionFused<float>(point.n, d, sm_count)
                           : kernels::PlanAttentionFused<double>(point.n, d, sm_count);
      break;
    }
    case Kernel::kAttentionMaterialized:
      plan.launches = 4;  // gemm, softmax, gemm, division
      break;
    default:
      break;
  }
  return plan;
}

template <typename T>
CudaKernelStatus RunCudaKernel(const CudaKernelArgs<T>& args) {
  const int64_t n = args.point->n;
  const int ni = static_cast<int>(n);  // cuBLAS's 32-bit API, as PyTorch calls it
  constexpr bool kF32 = sizeof(T) == 4;
  const std::vector<const T*>& in = args.inputs;
  switch (args.point->kernel) {
    case Kernel::kMatvecGemm:
      // Column-major view: y (N x 1) = (A^T)^T x, x an N x 1 matrix.
      return Cublas(CublasGemm(args.cublas, CUBLAS_OP_T, CUBLAS_OP_N, ni, 1, ni, in[0], ni, in[1],
                               ni, args.out, ni),
                    kF32 ? "cublasSgemm" : "cublasDgemm");
    case Kernel::kMatvecGemv:
      return Cublas(CublasGemv(args.cublas, CUBLAS_OP_T, ni, ni, in[0], ni, in[1], args.out),
                    kF32 ? "cublasSgemv" : "cublasDgemv");
    case Kernel::kMatvecCustom:
      return Launched(kernels::LaunchRowDot(in[0], in[1], args.out, n, args.stream),
                      "row-dot kernel launch");
    case Kernel::kOuterLibrary: {
      // Row-major P = u v^T is column-major P^T = v u^T: m = n = N, k = 1,
      // A = v (N x 1). B = u^T (1 x N) is handed over either as a 1 x N
      // matrix (ldb 1, op N) or as the N x 1 matrix u with op T (ldb N): the
      // same operands and the same P, but cuBLAS picks different kernels. On
      // an H100 at N = 20000 the f32 GEMM wrote P in 548 us with op T and
      // 590 us with op N (write floor 531 us; NOTES.md); f64 keeps op N
      // (already at 0.97 x its floor with the reduction).
      const T* u = in[0];
      const T* v = in[1];
      T* product = args.temp;
      const CudaKernelStatus gemm = Cublas(
          kF32 ? CublasGemm(args.cublas, CUBLAS_OP_N, CUBLAS_OP_T, ni, ni, 1, v, ni, u, ni,
                            product, ni)
               : CublasGemm(args.cublas, CUBLAS_OP_N, CUBLAS_OP_N, ni, ni, 1, v, ni, u, 1,
                            product, ni),
          kF32 ? "cublasSgemm (k=1)" : "cublasDgemm (k=1)");
      if (!gemm.ok()) return gemm;
      if (args.plan.variant == 0) {
        return Launched(kernels::LaunchColumnSums<T>(product, args.out, n, args.plan.split,
                                                     args.partials, args.counters, args.stream),
                        "column-sum kernel launch");
      }
      return Launched(kernels::LaunchRowDot<T>(product, nullptr, args.out, n, args.stream),
                      "row-sum kernel launch");
    }
    case Kernel::kOuterFused: {
      // axis 0: out_j = sum_i u_i v_j (v owned, u summed); axis 1: swapped.
      const bool column_sums = args.plan.variant == 0;
      return Launched(kernels::LaunchOuterFused<T>(column_sums ? in[1] : in[0],
                                                   column_sums ? in[0] : in[1], args.out, n,
                                                   args.plan.split, args.partials, args.counters,
                                                   args.stream),
                      "fused kernel launch");
    }
    case Kernel::kChainFused:
      return Launched(kernels::LaunchChain<T>(in[0], args.out, n,
                                              static_cast<int>(args.point->Param("k")),
                                              args.stream),
                      "chain kernel launch");
    case Kernel::kChainUnfused: {
      // k launches of one step each: x into out, then out in place.
      const int64_t steps = args.point->Param("k");
      for (int64_t step = 0; step < steps; ++step) {
        const cudaError_t e =
            kernels::LaunchChain<T>(step == 0 ? in[0] : args.out, args.out, n, 1, args.stream);
        if (e != cudaSuccess) return Launched(e, "chain step kernel launch");
      }
      return Launched(cudaSuccess, "");
    }
    case Kernel::kBatchedMvLoop: {
      // Vector b at offset b N of X and Y; each call as matvec/gemv's.
      for (int64_t b = 0; b < args.point->Param("B"); ++b) {
        const cublasStatus_t status = CublasGemv(args.cublas, CUBLAS_OP_T, ni, ni, in[0], ni,
                                                 in[1] + b * n, args.out + b * n);
        if (status != CUBLAS_STATUS_SUCCESS) {
          return Cublas(status, kF32 ? "cublasSgemv" : "cublasDgemv");
        }
      }
      return Launched(cudaSuccess, "");
    }
    case Kernel::kBatchedMvGemm: {
      // Column-major view: Y (N x B, columns y_b) = (A^T)^T X (N x B, columns x_b).
      const int batch = static_cast<int>(args.point->Param("B"));
      return Cublas(CublasGemm(args.cublas, CUBLAS_OP_T, CUBLAS_OP_N, ni, batch, ni, in[0], ni,
                               in[1], ni, args.out, ni),
                    kF32 ? "cublasSgemm" : "cublasDgemm");
    }
    case Kernel::kBatchedMvCustom:
      return Launched(kernels::LaunchBatchedRowDot<T>(in[0], in[1], args.out, n,
                                                      static_cast<int>(args.point->Param("B")),
                                                      args.stream, args.plan.batched_layout),
                      "batched row-dot kernel launch");
    case Kernel::kAttentionMaterialized:  // the scores and l in the catalog's scratch
      return kernels::LaunchAttentionMaterialized<T>(
          args.cublas, in[0], in[1], in[2], n, static_cast<int>(args.point->Param("d")),
          args.temp, args.out, args.stream);
    case Kernel::kAttentionFused:
      return Launched(kernels::LaunchAttentionFused<T>(in[0], in[1], in[2], n,
                                                       static_cast<int>(args.point->Param("d")),
                                                       args.out, args.stream,
                                                       args.plan.attention),
                      "attention kernel launch");
    case Kernel::kNone:
      break;
  }
  return Launched(cudaErrorNotSupported, "dispatch: kernel not implemented on cuda");
}

template <typename T>
bool LaunchGpuReference(const PointSpec& point, const std::vector<const T*>& inputs,
                        double* reference, cudaStream_t stream, cudaError_t* launched) {
  switch (point.kernel) {
    case Kernel::kMatvecGemv:
    case Kernel::kMatvecGemm:
    case Kernel::kMatvecCustom:
      *launched =
          kernels::LaunchReferenceMatvec<T>(inputs[0], inputs[1], reference, point.n, stream);
      return true;
    case Kernel::kOuterLibrary:
    case Kernel::kOuterFused: {
      // axis 0: out_j = sum_i u_i v_j (v owned, u summed); axis 1: swapped.
      const bool column_sums = point.Param("axis") == 0;
      *launched = kernels::LaunchReferenceOuter<T>(column_sums ? inputs[1] : inputs[0],
                                                   column_sums ? inputs[0] : inputs[1], reference,
                                                   point.n, stream);
      return true;
    }
    case Kernel::kChainUnfused:
    case Kernel::kChainFused:
      *launched = kernels::LaunchReferenceChain<T>(inputs[0], reference, point.n,
                                                   point.Param("k"), stream);
      return true;
    case Kernel::kBatchedMvLoop:
    case Kernel::kBatchedMvGemm:
    case Kernel::kBatchedMvCustom:
      *launched = cudaSuccess;
      for (int64_t b = 0; b < point.Param("B") && *launched == cudaSuccess; ++b) {
        *launched = kernels::LaunchReferenceMatvec<T>(inputs[0], inputs[1] + b * point.n,
                                                      reference + b * point.n, point.n, stream);
      }
      return true;
    case Kernel::kAttentionMaterialized:
    case Kernel::kAttentionFused:
      *launched = kernels::LaunchReferenceAttention<T>(inputs[0], inputs[1], inputs[2], point.n,
                                                       static_cast<int>(point.Param("d")),
                                                       reference, stream);
      return true;
    case Kernel::kNone:
      break;
  }
  return false;
}

template CudaKernelStatus RunCudaKernel<float>(const CudaKernelArgs<float>&);
template CudaKernelStatus RunCudaKernel<double>(const CudaKernelArgs<double>&);
template bool LaunchGpuReference<float>(const PointSpec&, const std::vector<const float*>&, double*,
                                        cudaStream_t, cudaError_t*);
template bool LaunchGpuReference<double>(const PointSpec&, const std::vector<const double*>&,
                                         double*, cudaStream_t, cudaError_t*);

}  // namespace flopd
