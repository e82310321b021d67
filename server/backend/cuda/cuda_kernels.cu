// flopd's CUDA kernels. See cuda_kernels.cuh for the contracts; the comments
// here are about how each kernel reaches its roofline.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/uniform_input.h"
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
// (global indices < tiles * tile_width; an index >= that, e.g. INT64_MAX,
// marks "no output") and their sums over this block's chunk. With one split they are the results. Otherwise they go to this
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

template <typename T>
inline constexpr int kFusedWarps = sizeof(T) == 4 ? kFusedWarpsF32 : kFusedWarpsF64;
// Elements of one stage: 128 (512 bytes of f32, 1 KB of f64).
inline constexpr int kFusedPiece = 128;
// Elements one warp consumes per step: 4 per half-warp.
inline constexpr int kFusedStep = 8;

// cp.async global -> shared: 16 bytes (through L2 only) or one element.
template <typename T>
__device__ __forceinline__ void CopyAsync16(T* shared_destination, const T* global_source) {
  const unsigned destination = static_cast<unsigned>(__cvta_generic_to_shared(shared_destination));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(destination), "l"(global_source)
               : "memory");
}
template <typename T>
__device__ __forceinline__ void CopyAsyncElement(T* shared_destination, const T* global_source) {
  const unsigned destination = static_cast<unsigned>(__cvta_generic_to_shared(shared_destination));
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2;" ::"r"(destination), "l"(global_source),
               "n"(sizeof(T))
               : "memory");
}
__device__ __forceinline__ void CopyAsyncCommit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void CopyAsyncWait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(kPending) : "memory");
}

// Copies `len` (<= kFusedPiece) elements from `source` (16-byte aligned) to
// `stage` in 16-byte pieces, plus single elements for a ragged end, as one
// commit group of the calling lane. Every lane of the warp calls it.
template <typename T>
__device__ __forceinline__ void StagePiece(T* stage, const T* source, int len, int lane) {
  constexpr int kV = 16 / static_cast<int>(sizeof(T));
  constexpr int kMaxVectors = kFusedPiece / kV;
  const int vectors = len / kV;
#pragma unroll
  for (int v = lane; v < kMaxVectors; v += 32) {
    if (v < vectors) CopyAsync16(stage + v * kV, source + v * kV);
  }
  const int rest = len - vectors * kV;
  if (lane < rest) CopyAsyncElement(stage + vectors * kV + lane, source + vectors * kV + lane);
  CopyAsyncCommit();
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

// A full piece: kFusedPiece / 8 steps, unrolled. `mine` = piece + 4 * half.
template <typename T, int kJ>
__device__ __forceinline__ void ConsumeFullPiece(const T* mine, const T (&own)[kJ], T (&acc)[kJ]) {
#pragma unroll
  for (int i = 0; i < kFusedPiece / kFusedStep; ++i) {
    T s[4];
    LoadFour(mine + kFusedStep * i, s);
    FmaFour<T, kJ>(own, s, acc);
  }
}

// A shorter piece (the end of a share): whole steps, then the elements past
// the last whole step, each taken by the half-warp whose 4-element group it
// falls in (element e belongs to half (e / 4) % 2).
template <typename T, int kJ>
__device__ __forceinline__ void ConsumePartialPiece(const T* piece, int len, int half,
                                                    const T (&own)[kJ], T (&acc)[kJ]) {
  const int steps = len / kFusedStep;
  for (int i = 0; i < steps; ++i) {
    T s[4];
    LoadFour(piece + kFusedStep * i + 4 * half, s);
    FmaFour<T, kJ>(own, s, acc);
  }
  for (int e = steps * kFusedStep; e < len; ++e) {
    if (((e >> 2) & 1) != half) continue;
    const T s = piece[e];
#pragma unroll
    for (int m = 0; m < kJ; ++m) acc[m] = Fma(own[m], s, acc[m]);
  }
}

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

// ---------------------------------------------------------------------------
// Inputs and fp64 references (Prepare). Not timed; plain code.

template <typename T>
__global__ void FillUniformKernel(T* __restrict__ data, int64_t count, uint64_t seed) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    data[i] = UniformInputAs<T>(seed, i);
  }
}

// One warp per row: lane l adds columns l, l + 32, ...; then a shuffle tree.
template <typename T>
__global__ void ReferenceMatvecKernel(const T* __restrict__ a, const T* __restrict__ x,
                                      double* __restrict__ y, int64_t n) {
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  if (row >= n) return;
  const T* a_row = a + row * n;
  double sum = 0;
#pragma unroll 4
  for (int64_t j = lane; j < n; j += 32) {
    sum += static_cast<double>(a_row[j]) * static_cast<double>(x[j]);
  }
  sum = WarpSum(sum);
  if (lane == 0) y[row] = sum;
}

// One thread per output, all N terms in order.
template <typename T>
__global__ void ReferenceOuterKernel(const T* __restrict__ owned, const T* __restrict__ summed,
                                     double* __restrict__ out, int64_t n) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= n) return;
  const double scale = static_cast<double>(owned[k]);
  double sum = 0;
  for (int64_t m = 0; m < n; ++m) sum += scale * static_cast<double>(summed[m]);
  out[k] = sum;
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

template <typename T>
__global__ void __launch_bounds__(kFmaPeakThreads)
    FmaPeakKernel(int iterations, T multiplier, T addend, T* sink,
                  unsigned long long* clock_words) {
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  T acc[kFmaPeakChains];
#pragma unroll
  for (int c = 0; c < kFmaPeakChains; ++c) {
    // Distinct starting values in (0, 0.1): the chains converge towards
    // addend / (1 - multiplier) without overflow or subnormals.
    acc[c] = static_cast<T>((thread & 63) * kFmaPeakChains + c + 1) * static_cast<T>(1e-4);
  }
  const bool timer = blockIdx.x == 0 && threadIdx.x == 0;
  unsigned long long t0 = 0;
  long long c0 = 0;
  if (timer) {
    t0 = GlobalTimer();
    c0 = clock64();
  }
  for (int i = 0; i < iterations; ++i) {
#pragma unroll
    for (int u = 0; u < kFmaPeakUnroll; ++u) {
#pragma unroll
      for (int c = 0; c < kFmaPeakChains; ++c) acc[c] = fma(acc[c], multiplier, addend);
    }
  }
  if (timer) {
    const long long c1 = clock64();
    const unsigned long long t1 = GlobalTimer();
    clock_words[0] = t1 - t0;
    clock_words[1] = static_cast<unsigned long long>(c1 - c0);
  }
  T sum = 0;
#pragma unroll
  for (int c = 0; c < kFmaPeakChains; ++c) sum += acc[c];
  sink[thread] = sum;
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

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

template <typename T>
cudaError_t LaunchFillUniform(T* data, int64_t count, uint64_t seed, cudaStream_t stream) {
  if (count < 1) return cudaSuccess;
  // Enough blocks for every SM several times over; each thread then loops.
  const int64_t blocks = std::min<int64_t>(CeilDiv(count, kBlockThreads), 8192);
  FillUniformKernel<T><<<static_cast<unsigned>(blocks), kBlockThreads, 0, stream>>>(data, count,
                                                                                    seed);
  return cudaGetLastError();
}

template <typename T>
cudaError_t LaunchReferenceMatvec(const T* a, const T* x, double* y, int64_t n,
                                  cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(CeilDiv(n, kBlockWarps)));
  ReferenceMatvecKernel<T><<<grid, kBlockThreads, 0, stream>>>(a, x, y, n);
  return cudaGetLastError();
}

template <typename T>
cudaError_t LaunchReferenceOuter(const T* owned, const T* summed, double* out, int64_t n,
                                 cudaStream_t stream) {
  // Small blocks: N threads spread over as many SMs as possible.
  constexpr int kThreads = 64;
  const dim3 grid(static_cast<unsigned>(CeilDiv(n, kThreads)));
  ReferenceOuterKernel<T><<<grid, kThreads, 0, stream>>>(owned, summed, out, n);
  return cudaGetLastError();
}

cudaError_t LaunchClockProbe(int64_t spin_ns, unsigned long long* out, cudaStream_t stream) {
  ClockProbeKernel<<<1, 1, 0, stream>>>(spin_ns, out);
  return cudaGetLastError();
}

template <typename T>
cudaError_t FmaPeakBlocksPerSm(int* blocks_per_sm) {
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks_per_sm, FmaPeakKernel<T>,
                                                       kFmaPeakThreads, 0);
}

template <typename T>
cudaError_t LaunchFmaPeak(int blocks, int iterations, T multiplier, T addend, T* sink,
                          unsigned long long* clock_words, cudaStream_t stream) {
  if (blocks < 1 || iterations < 1) return cudaErrorInvalidValue;
  FmaPeakKernel<T><<<blocks, kFmaPeakThreads, 0, stream>>>(iterations, multiplier, addend, sink,
                                                          clock_words);
  return cudaGetLastError();
}

template cudaError_t FmaPeakBlocksPerSm<float>(int*);
template cudaError_t FmaPeakBlocksPerSm<double>(int*);
template cudaError_t LaunchFmaPeak<float>(int, int, float, float, float*, unsigned long long*,
                                          cudaStream_t);
template cudaError_t LaunchFmaPeak<double>(int, int, double, double, double*,
                                           unsigned long long*, cudaStream_t);
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
template SplitPlan PlanOuterFused<float>(int64_t, int);
template SplitPlan PlanOuterFused<double>(int64_t, int);
template cudaError_t LaunchFillUniform<float>(float*, int64_t, uint64_t, cudaStream_t);
template cudaError_t LaunchFillUniform<double>(double*, int64_t, uint64_t, cudaStream_t);
template cudaError_t LaunchReferenceMatvec<float>(const float*, const float*, double*, int64_t,
                                                  cudaStream_t);
template cudaError_t LaunchReferenceMatvec<double>(const double*, const double*, double*, int64_t,
                                                   cudaStream_t);
template cudaError_t LaunchReferenceOuter<float>(const float*, const float*, double*, int64_t,
                                                 cudaStream_t);
template cudaError_t LaunchReferenceOuter<double>(const double*, const double*, double*, int64_t,
                                                  cudaStream_t);

}  // namespace kernels
}  // namespace flopd
