// Attention kernels; see attention_kernels.cuh for the contracts.
#include "server/backend/cuda/attention_kernels.cuh"

#include <cublas_v2.h>
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>

#include "server/backend/cuda/cublas_calls.h"
#include "server/backend/cuda/kernel_common.cuh"
#include "server/backend/cuda/split_plan.h"

namespace flopd {
namespace kernels {
namespace {

// scale = T(1 / sqrt(d)): computed in double, rounded to T once.
template <typename T>
T AttentionScale(int d) {
  return static_cast<T>(1.0 / std::sqrt(static_cast<double>(d)));
}

__device__ __forceinline__ float Exp(float x) { return expf(x); }
__device__ __forceinline__ double Exp(double x) { return exp(x); }
__device__ __forceinline__ float Max(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ double Max(double a, double b) { return fmax(a, b); }
// A multiply that is never contracted into an FMA.
__device__ __forceinline__ float Mul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double Mul(double a, double b) { return __dmul_rn(a, b); }

template <typename T>
__device__ __forceinline__ T NegativeInfinity() {
  return static_cast<T>(-INFINITY);
}

// ---------------------------------------------------------------------------
// The materialized form: the kernels between and after the two gemms.

// The max (kMax) or sum of `value` over the block, in every thread; `shared`
// holds kBlockWarps values. Warps reduce with a shuffle tree, then every
// thread combines the warps' results in warp order.
template <bool kMax, typename T>
__device__ __forceinline__ T BlockReduce(T value, T* shared) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    const T other = __shfl_xor_sync(0xffffffffu, value, offset);
    value = kMax ? Max(value, other) : value + other;
  }
  if ((threadIdx.x & 31) == 0) shared[threadIdx.x >> 5] = value;
  __syncthreads();
  T total = shared[0];
#pragma unroll
  for (int w = 1; w < kBlockWarps; ++w) total = kMax ? Max(total, shared[w]) : total + shared[w];
  __syncthreads();  // `shared` is free again
  return total;
}

// One block per row of S: s = S_ij * scale, m = max, e = exp(s - m) written
// over S, l[row] = sum e.
template <typename T>
__global__ void __launch_bounds__(kBlockThreads)
    SoftmaxRowsKernel(T* __restrict__ s, int64_t n, T scale, T* __restrict__ l) {
  __shared__ T warp_values[kBlockWarps];
  T* row = s + static_cast<int64_t>(blockIdx.x) * n;
  T m = NegativeInfinity<T>();
  for (int64_t j = threadIdx.x; j < n; j += kBlockThreads) {
    const T x = Mul(row[j], scale);
    row[j] = x;
    m = Max(m, x);
  }
  m = BlockReduce<true>(m, warp_values);
  T sum = 0;
  for (int64_t j = threadIdx.x; j < n; j += kBlockThreads) {
    const T e = Exp(row[j] - m);
    row[j] = e;
    sum += e;
  }
  sum = BlockReduce<false>(sum, warp_values);
  if (threadIdx.x == 0) l[blockIdx.x] = sum;
}

// out[i * d + c] /= l[i].
template <typename T>
__global__ void __launch_bounds__(kBlockThreads)
    DivideRowsKernel(T* __restrict__ out, int64_t count, int d, const T* __restrict__ l) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kBlockThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kBlockThreads + threadIdx.x; i < count;
       i += stride) {
    out[i] = out[i] / l[i / d];
  }
}

CudaKernelStatus Failed(cudaError_t e, const char* what) {
  return CudaKernelStatus::Launch(e, what);
}
CudaKernelStatus Failed(cublasStatus_t s, const char* what) {
  return CudaKernelStatus::Library(s, what);
}

// ---------------------------------------------------------------------------
// The fused form.

// 16-byte vectors of T.
template <typename T>
struct Vec16Of;
template <>
struct Vec16Of<float> {
  using Type = float4;
};
template <>
struct Vec16Of<double> {
  using Type = double2;
};

// Element t of a vector in registers (t is a compile-time constant after
// unrolling).
__device__ __forceinline__ float Lane(const float4& v, int t) {
  return t == 0 ? v.x : t == 1 ? v.y : t == 2 ? v.z : v.w;
}
__device__ __forceinline__ double Lane(const double2& v, int t) { return t == 0 ? v.x : v.y; }
__device__ __forceinline__ void SetLane(float4& v, int t, float x) {
  if (t == 0) v.x = x;
  else if (t == 1) v.y = x;
  else if (t == 2) v.z = x;
  else v.w = x;
}
__device__ __forceinline__ void SetLane(double2& v, int t, double x) {
  if (t == 0) v.x = x;
  else v.y = x;
}
template <typename V>
__device__ __forceinline__ V ZeroVec();
template <>
__device__ __forceinline__ float4 ZeroVec<float4>() {
  return make_float4(0.f, 0.f, 0.f, 0.f);
}
template <>
__device__ __forceinline__ double2 ZeroVec<double2>() {
  return make_double2(0.0, 0.0);
}

// How a group's K and V tiles reach shared memory.
enum class KvCopy {
  // One buffer, loaded through registers between two barriers.
  kRegisters,
  // Two buffers: the next tile copied asynchronously (cp.async) while this
  // one is used.
  kDoubleBuffer,
  // One buffer each, copied asynchronously as soon as the last tile's reads
  // of it are done: the next K during this tile's softmax and P V, this
  // tile's V during its scores. Needs kWarpP (P may not overlay K).
  kSplit,
};

// A group's thread layout: kTx threads across keys (scores) and output
// columns, kTy across query rows, over a tile of kBr query rows; kCopy: how
// K and V are loaded (above); kGroupBarriers: the loop's barriers are per
// group (bar.sync on the group's own barrier), so that the groups of a block
// drift apart instead of waiting for each other, else block-wide.
// (Per-group barriers measured on an H200: 32-row f32 tiles 3-5% faster at
// N = 4096; the 64-row tiles within 1% either way.) kWarpP and kTyFastest:
// below; both on, measured on an H200 against both off
// (docs/results/h200_attention_lanes.md): f64 0.85 x the time, f32
// 0.96-1.00 x, except 64 rows x 1 group at d = 128 (1.03 x: it keeps both
// off). kKeyRows: the K/V tile height, 0 for KeyRows<T, kD>() below.
template <int kTxValue, int kTyValue, int kBrValue, KvCopy kCopyValue, bool kGroupBarriersValue,
          int kScoresUnrollValue, int kPvUnrollValue, bool kWarpPValue, bool kTyFastestValue,
          int kKeyRowsValue = 0>
struct FusedLayout {
  static constexpr int kTx = kTxValue;
  static constexpr int kTy = kTyValue;
  static constexpr int kBr = kBrValue;
  static constexpr KvCopy kCopy = kCopyValue;
  static constexpr bool kGroupBarriers = kGroupBarriersValue;
  // Unroll factors of the scores loop (over 16-byte vectors of a row) and of
  // the P V loop (over 16-byte vectors of keys).
  static constexpr int kScoresUnroll = kScoresUnrollValue;
  static constexpr int kPvUnroll = kPvUnrollValue;
  // P (the tile's e) in a buffer of the group's own, where each warp writes
  // and reads only its own rows: __syncwarp between the two, and one barrier
  // per K/V tile (two when K/V go through registers or are split). Else P
  // overlays K, which costs two more barriers a tile.
  static constexpr bool kWarpP = kWarpPValue;
  // Lane order within a warp: ty fastest (lane = ty % (32 / kTx) + (32 / kTx)
  // * tx), so that a quarter-warp holds 32 / kTx rows x 8 / (32 / kTx) key
  // or column positions: the P V loop's V reads then cost 2 shared-memory
  // wavefronts per 16-byte load instead of 4 (all 4 quarter-warps read the
  // same V bytes with tx fastest). Else tx fastest. The arithmetic is the
  // same either way (same threads' work, same butterfly over tx).
  static constexpr bool kTyFastest = kTyFastestValue;
  static constexpr int kKeyRows = kKeyRowsValue;
};
// f64: 128 threads a group, 32 rows.
using Layout16x8 = FusedLayout<16, 8, 32, KvCopy::kRegisters, false, 4, 2, true, true>;
// f32: 64 threads a group, 32 rows.
using Layout8x8 = FusedLayout<8, 8, 32, KvCopy::kRegisters, true, 8, 4, true, true>;
// f32: 128 threads a group, 64 rows, for d = 64 and for d = 128 with one
// group; d = 128 unrolls further (measured: 16 and 8 were 4% faster there
// than 8 and 4, which d = 64 prefers). With one group a block at d = 128, P
// over K and tx fastest (measured faster).
template <int kD, int kGroups>
using Layout8x16 = FusedLayout<8, 16, 64, KvCopy::kDoubleBuffer, false, kD == 128 ? 16 : 8,
                               kD == 128 ? 8 : 4, kGroups == 2 || kD == 64,
                               kGroups == 2 || kD == 64>;

// f32 d = 128 with two groups: 64-key K/V tiles (a thread's scores are 4
// rows x 8 keys: 12 shared-memory loads per 128 FMAs instead of 16), K and V
// copied apart (two 64-key buffers a group do not fit in shared memory).
// Measured on an H200 against the 32-key double-buffered Layout8x16<128, 2>
// in one run: 0.904-0.907 x the time at N = 4096-16384, and against K/V
// through registers at 64 keys (255 registers) 0.96 x; unrolls 8 and 8
// beat 16/8, 8/4 and 4/8 by 0.4-1.5% (docs/results/h200_attention_keys64.md).
using Layout8x16Keys64 = FusedLayout<8, 16, 64, KvCopy::kSplit, false, 8, 8, true, true, 64>;

// The default K/V tile height by element type and d: 16 KiB of K in every shape
// (64 keys f32 d = 64; 32 keys f32 d = 128 and f64 d = 64; 16 keys f64
// d = 128). Shared memory of a block: the query tile plus, per group and
// buffer, a K and a V tile (FusedShape::kBytes; at most 227 KiB).
template <typename T, int kD>
constexpr int KeyRows() {
  return sizeof(T) == 4 ? (kD == 64 ? 64 : 32) : (kD == 64 ? 32 : 16);
}

template <typename T, int kD, int kGroups, typename L>
struct FusedShape {
  static constexpr int kTx = L::kTx;
  static constexpr int kTy = L::kTy;
  static constexpr int kGroupThreads = kTx * kTy;
  static constexpr int kBr = L::kBr;
  static constexpr int kBc = L::kKeyRows > 0 ? L::kKeyRows : KeyRows<T, kD>();
  static constexpr int kVec = static_cast<int>(16 / sizeof(T));  // T per 16-byte vector
  static constexpr int kRowVecs = kD / kVec;                      // vectors per row of Q, K, V
  static constexpr int kRm = kBr / kTy;                           // query rows per thread
  static constexpr int kSn = kBc / kTx;                           // keys per thread
  static constexpr int kOg = kD / (kTx * kVec);                   // output vectors per row
  static constexpr int kOn = kOg * kVec;                          // output columns per row
  // Shared-memory row strides (elements). Q and K rows are padded by one
  // vector so that the kTx lanes reading kTx rows (K) or the 32 / kTx rows
  // of a warp (Q) hit distinct banks; V rows are read along the row (no
  // pad); P rows (the tile's e, overlaying K) are read by row.
  static constexpr int kQStride = kD + kVec;
  static constexpr int kKStride = kD + kVec;
  static constexpr int kVStride = kD;
  static constexpr int kPStride = kBc + kVec;
  static constexpr int kGroupElements = kBc * (kKStride + kVStride);
  static constexpr int kStages = L::kCopy == KvCopy::kDoubleBuffer ? 2 : 1;  // K/V buffers
  static constexpr int kPElements = L::kWarpP ? kBr * kPStride : 0;  // a group's own P
  static constexpr int kElements =
      kBr * kQStride + kGroups * kStages * kGroupElements + kGroups * kPElements;
  static constexpr size_t kBytes = static_cast<size_t>(kElements) * sizeof(T);
  static constexpr int kThreads = kGroups * kGroupThreads;

  static_assert(kBr % kTy == 0 && kBc % kTx == 0 && kD % (kTx * kVec) == 0, "whole tiles");
  static_assert(L::kWarpP || kBr * kPStride <= kBc * kKStride, "P overlays K");
  static_assert(L::kWarpP || L::kCopy != KvCopy::kSplit, "split copies need P apart from K");
  static_assert(kBr * kD <= kGroupElements, "a group's o fits its K/V buffers for the merge");
  static_assert(2 * kBr * kGroups <= kBr * kQStride, "the merge's m and l fit the Q buffer");
  static_assert((kBc * kRowVecs) % kGroupThreads == 0, "K/V tile loads are whole rounds");
  static_assert((kBr * kRowVecs) % kThreads == 0, "Q tile loads are whole rounds");
  static_assert(kBytes <= 227 * 1024, "fits an H100/H200 SM's shared memory");
  static_assert(!L::kWarpP || (32 % kTx == 0 && kGroupThreads % 32 == 0),
                "a P row's writers and readers (the kTx lanes of one ty) share a warp");
};

// The max (kMax) or sum of `value` over the kTx adjacent lanes of one ty
// (the lanes tx of a row), in all of them: a butterfly, whose results are the
// same bits in every lane (x + y == y + x).
template <int kTx, bool kMax, typename T, int kLaneStride = 1>
__device__ __forceinline__ T RowLanesReduce(T value) {
#pragma unroll
  for (int offset = kTx / 2 * kLaneStride; offset >= kLaneStride; offset /= 2) {
    const T other = __shfl_xor_sync(0xffffffffu, value, offset);
    value = kMax ? Max(value, other) : value + other;
  }
  return value;
}

// Rows [j0, j0 + kBc) of the N x kD matrix `x` into shared memory at `tile`
// (row stride `stride`), rows past N zero; by the threads of a group, in
// batches of kBatch 16-byte loads per thread, all issued before the batch's
// stores. (f64 d = 128 holds 64 registers of o: batches of 4 cut its spills
// to a few dozen bytes, from ~100 with batches of 8.)
template <typename T, int kD, int kGroups, typename L>
__device__ __forceinline__ void LoadTile(const T* __restrict__ x, int64_t j0, int64_t n, int gtid,
                                         T* tile, int stride) {
  using S = FusedShape<T, kD, kGroups, L>;
  using Vec = typename Vec16Of<T>::Type;
  constexpr int kGroupThreads = S::kGroupThreads;
  constexpr int kRounds = S::kBc * S::kRowVecs / kGroupThreads;
  constexpr int kBatch = sizeof(T) == 8 && kD == 128 ? 4 : 8;
  static_assert(kRounds % kBatch == 0, "whole batches");
#pragma unroll
  for (int first = 0; first < kRounds; first += kBatch) {
    Vec value[kBatch];
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int index = (first + b) * kGroupThreads + gtid;
      const int r = index / S::kRowVecs;
      const int cv = index % S::kRowVecs;
      value[b] = ZeroVec<Vec>();
      if (j0 + r < n) value[b] = __ldg(reinterpret_cast<const Vec*>(x + (j0 + r) * kD) + cv);
    }
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int index = (first + b) * kGroupThreads + gtid;
      const int r = index / S::kRowVecs;
      const int cv = index % S::kRowVecs;
      *reinterpret_cast<Vec*>(tile + r * stride + cv * S::kVec) = value[b];
    }
  }
}

// Ampere+ asynchronous copies (global to shared, bypassing registers).
__device__ __forceinline__ void CpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int kPending>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}
// 16 bytes from global `src` to shared `dst`, or 16 zero bytes when !valid
// (cp.async with a source size of 0 reads nothing and fills zeros).
__device__ __forceinline__ void CpAsync16(void* dst, const void* src, bool valid) {
  const unsigned dst_shared = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst_shared), "l"(src),
               "r"(valid ? 16 : 0));
}

// Vector `index` of rows [j0, j0 + kBc) of the N x kD matrix `x` (row
// index / kRowVecs, column vector index % kRowVecs) into `tile` at row
// stride `stride`, zeros for rows past N, with an asynchronous copy.
template <typename T, int kD, int kGroups, typename L>
__device__ __forceinline__ void CopyVectorAsync(const T* __restrict__ x, int64_t j0, int64_t n,
                                                int index, T* tile, int stride) {
  using S = FusedShape<T, kD, kGroups, L>;
  const int r = index / S::kRowVecs;
  const int cv = index % S::kRowVecs;
  const bool valid = j0 + r < n;
  const int64_t offset = valid ? (j0 + r) * kD + cv * S::kVec : 0;
  CpAsync16(tile + r * stride + cv * S::kVec, x + offset, valid);
}

// The K and V tiles of keys [j0, j0 + kBc) into a group's buffer `tiles` (K
// at row stride kKStride, then V), keys past N zero, with asynchronous
// copies that bypass registers: the caller commits and waits.
template <typename T, int kD, int kGroups, typename L>
__device__ __forceinline__ void LoadTilesAsync(const T* __restrict__ k, const T* __restrict__ v,
                                               int64_t j0, int64_t n, int gtid, T* tiles) {
  using S = FusedShape<T, kD, kGroups, L>;
  constexpr int kRounds = S::kBc * S::kRowVecs / S::kGroupThreads;
  T* const vs = tiles + S::kBc * S::kKStride;
#pragma unroll
  for (int round = 0; round < kRounds; ++round) {
    const int index = round * S::kGroupThreads + gtid;
    CopyVectorAsync<T, kD, kGroups, L>(k, j0, n, index, tiles, S::kKStride);
    CopyVectorAsync<T, kD, kGroups, L>(v, j0, n, index, vs, S::kVStride);
  }
}

// One tile (K or V: `stride` kKStride or kVStride) of keys [j0, j0 + kBc)
// into `tile`, as LoadTilesAsync does both.
template <typename T, int kD, int kGroups, typename L>
__device__ __forceinline__ void LoadTileAsync(const T* __restrict__ x, int64_t j0, int64_t n,
                                              int gtid, T* tile, int stride) {
  using S = FusedShape<T, kD, kGroups, L>;
  constexpr int kRounds = S::kBc * S::kRowVecs / S::kGroupThreads;
#pragma unroll
  for (int round = 0; round < kRounds; ++round) {
    CopyVectorAsync<T, kD, kGroups, L>(x, j0, n, round * S::kGroupThreads + gtid, tile, stride);
  }
}

// Blocks per SM the registers are bounded for: the 16 x 8 layout two (at
// most 128 registers a thread) below four groups; the f32 layouts one (their
// per-thread tiles want more than 128; shared memory allows two only with
// the smaller group counts).
// kCluster > 1: the blocks of a thread-block cluster share one query tile
// and split its K/V tiles (block r's group g streams tiles r * kGroups + g,
// + kGroups * kCluster, ...); each block merges its groups, then blocks
// 1.. hand their (m, l, o) to block 0's shared memory (distributed shared
// memory) and block 0 merges them in rank order and writes the output.
template <typename T, int kD, int kGroups, typename L, int kCluster>
__global__ void __launch_bounds__(FusedShape<T, kD, kGroups, L>::kThreads,
                                  kGroups == 4 || L::kTx == 8 ? 1 : 2)
    FusedAttentionKernel(const T* __restrict__ q, const T* __restrict__ k,
                         const T* __restrict__ v, int64_t n, T scale, T* __restrict__ out) {
  using S = FusedShape<T, kD, kGroups, L>;
  static_assert((kCluster - 1) * S::kBr * kD <= kGroups * S::kStages * S::kGroupElements,
                "the other blocks' o fit block 0's K/V buffers for the merge");
  static_assert(2 * S::kBr * (kCluster - 1) <= S::kBr * S::kQStride,
                "the other blocks' m and l fit block 0's Q buffer");
  using Vec = typename Vec16Of<T>::Type;
  constexpr int kTx = S::kTx;
  constexpr int kTy = S::kTy;
  constexpr int kGroupThreads = S::kGroupThreads;
  constexpr int kBr = S::kBr;
  constexpr int kBc = S::kBc;
  constexpr int kVec = S::kVec;
  constexpr int kRm = S::kRm;
  constexpr int kSn = S::kSn;
  constexpr int kOg = S::kOg;
  constexpr int kOn = S::kOn;
  constexpr int kRowVecs = S::kRowVecs;

  extern __shared__ __align__(16) unsigned char shared_bytes[];
  T* const qs = reinterpret_cast<T*>(shared_bytes);
  const int group = threadIdx.x / kGroupThreads;
  const int gtid = threadIdx.x % kGroupThreads;
  // A warp holds 32 / kTx rows' threads (whole rows: the P rows and the row
  // reductions stay within it).
  constexpr int kWarpRows = 32 / kTx;
  constexpr int kLaneStride = L::kTyFastest ? kWarpRows : 1;  // between a row's lanes
  const int tx = L::kTyFastest ? (gtid % 32) / kWarpRows : gtid % kTx;
  const int ty = L::kTyFastest ? (gtid / 32) * kWarpRows + gtid % kWarpRows : gtid / kTx;
  T* const group_tiles = qs + kBr * S::kQStride + group * S::kStages * S::kGroupElements;
  T* const group_p =
      qs + kBr * S::kQStride + kGroups * S::kStages * S::kGroupElements + group * S::kPElements;
  const int rank = static_cast<int>(blockIdx.x % kCluster);  // in the cluster (1-D)
  const int64_t i0 = static_cast<int64_t>(blockIdx.x / kCluster) * kBr;

  // The query tile, rows past N zero.
#pragma unroll
  for (int round = 0; round < kBr * kRowVecs / S::kThreads; ++round) {
    const int index = round * S::kThreads + threadIdx.x;
    const int r = index / kRowVecs;
    const int cv = index % kRowVecs;
    Vec value = ZeroVec<Vec>();
    if (i0 + r < n) value = __ldg(reinterpret_cast<const Vec*>(q + (i0 + r) * kD) + cv);
    *reinterpret_cast<Vec*>(qs + r * S::kQStride + cv * kVec) = value;
  }

  T o[kRm][kOn];
  T m[kRm];
  T l[kRm];
#pragma unroll
  for (int r = 0; r < kRm; ++r) {
    m[r] = NegativeInfinity<T>();
    l[r] = 0;
#pragma unroll
    for (int c = 0; c < kOn; ++c) o[r][c] = 0;
  }

  const int64_t tiles = (n + kBc - 1) / kBc;
  constexpr int kStreams = kGroups * kCluster;  // the groups that split the keys
  const int stream = rank * kGroups + group;    // this group's among them
  const int64_t iterations = (tiles + kStreams - 1) / kStreams;
  const auto tile_start = [&](int64_t it) { return (it * kStreams + stream) * kBc; };
  constexpr bool kSplit = L::kCopy == KvCopy::kSplit;
  if constexpr (S::kStages == 2) {
    if (tile_start(0) < n) LoadTilesAsync<T, kD, kGroups, L>(k, v, tile_start(0), n, gtid, group_tiles);
    CpAsyncCommit();
  } else if constexpr (kSplit) {
    if (tile_start(0) < n) {
      LoadTileAsync<T, kD, kGroups, L>(k, tile_start(0), n, gtid, group_tiles, S::kKStride);
    }
    CpAsyncCommit();
  }
  const auto group_sync = [&] {
    if constexpr (L::kGroupBarriers) {
      asm volatile("bar.sync %0, %1;\n" ::"r"(group + 1), "n"(kGroupThreads) : "memory");
    } else {
      __syncthreads();
    }
  };
  if constexpr (L::kGroupBarriers) __syncthreads();  // the Q tile
  for (int64_t it = 0; it < iterations; ++it) {
    const int64_t j0 = tile_start(it);
    const bool active = j0 < n;  // uniform over the group
    const bool first = it == 0;  // the group's first tile
    T* const ks = group_tiles + (it % S::kStages) * S::kGroupElements;
    T* const vs = ks + kBc * S::kKStride;
    T* const ps = L::kWarpP ? group_p : ks;  // the tile's e (over K once the scores are done)
    if constexpr (kSplit) {
      CpAsyncWait<0>();  // this thread's copies of K(it) landed
      group_sync();  // every thread's did; V and P of tile it - 1 are read
      if (active) LoadTileAsync<T, kD, kGroups, L>(v, j0, n, gtid, vs, S::kVStride);
      CpAsyncCommit();
    } else if constexpr (L::kWarpP && S::kStages == 2) {
      CpAsyncWait<0>();  // this thread's copies of tile `it` landed
      group_sync();  // every thread's did; tile it - 1 (the other buffer) and P are read
      if (tile_start(it + 1) < n) {
        LoadTilesAsync<T, kD, kGroups, L>(k, v, tile_start(it + 1), n, gtid,
                                          group_tiles + ((it + 1) % 2) * S::kGroupElements);
      }
      CpAsyncCommit();
    } else {
      group_sync();  // the previous tile's K, V and P are read
      if constexpr (S::kStages == 2) {
        // The next tile into the other buffer while this one is used.
        if (tile_start(it + 1) < n) {
          LoadTilesAsync<T, kD, kGroups, L>(k, v, tile_start(it + 1), n, gtid,
                                            group_tiles + ((it + 1) % 2) * S::kGroupElements);
        }
        CpAsyncCommit();
        CpAsyncWait<1>();  // this thread's copies of tile `it` landed
      } else if (active) {
        // K, then V, keys past N zero (one matrix at a time: fewer registers
        // in flight).
        LoadTile<T, kD, kGroups, L>(k, j0, n, gtid, ks, S::kKStride);
        LoadTile<T, kD, kGroups, L>(v, j0, n, gtid, vs, S::kVStride);
      }
      group_sync();  // Q, K and V tiles in shared memory
    }

    T sc[kRm][kSn];
    if (active) {
      // Scores: one FMA chain per (row, key) over c in order.
#pragma unroll
      for (int r = 0; r < kRm; ++r) {
#pragma unroll
        for (int s = 0; s < kSn; ++s) sc[r][s] = 0;
      }
#pragma unroll (L::kScoresUnroll)
      for (int cv = 0; cv < kRowVecs; ++cv) {
        Vec qv[kRm];
        Vec kvec[kSn];
#pragma unroll
        for (int r = 0; r < kRm; ++r) {
          qv[r] = *reinterpret_cast<const Vec*>(qs + (ty + kTy * r) * S::kQStride + cv * kVec);
        }
#pragma unroll
        for (int s = 0; s < kSn; ++s) {
          kvec[s] = *reinterpret_cast<const Vec*>(ks + (tx + kTx * s) * S::kKStride + cv * kVec);
        }
#pragma unroll
        for (int t = 0; t < kVec; ++t) {
#pragma unroll
          for (int r = 0; r < kRm; ++r) {
#pragma unroll
            for (int s = 0; s < kSn; ++s) {
              sc[r][s] = Fma(Lane(qv[r], t), Lane(kvec[s], t), sc[r][s]);
            }
          }
        }
      }
#pragma unroll
      for (int r = 0; r < kRm; ++r) {
#pragma unroll
        for (int s = 0; s < kSn; ++s) sc[r][s] = Mul(sc[r][s], scale);
      }
    }
    if constexpr (kSplit) {
      CpAsyncWait<0>();  // this thread's copies of V(it) landed
      group_sync();  // every thread's did; every read of K(it) is done
      if (tile_start(it + 1) < n) {
        LoadTileAsync<T, kD, kGroups, L>(k, tile_start(it + 1), n, gtid, ks, S::kKStride);
      }
      CpAsyncCommit();
    } else if constexpr (!L::kWarpP) {
      group_sync();  // every read of K done: P overlays it
    }

    if (active) {
#pragma unroll
      for (int r = 0; r < kRm; ++r) {
        T tile_max = NegativeInfinity<T>();
#pragma unroll
        for (int s = 0; s < kSn; ++s) {
          if (j0 + tx + kTx * s < n) tile_max = Max(tile_max, sc[r][s]);
        }
        tile_max = RowLanesReduce<kTx, true, T, kLaneStride>(tile_max);
        if (first) {
          m[r] = tile_max;
        } else if (tile_max > m[r]) {
          const T alpha = Exp(m[r] - tile_max);
          l[r] = Mul(l[r], alpha);
#pragma unroll
          for (int c = 0; c < kOn; ++c) o[r][c] = Mul(o[r][c], alpha);
          m[r] = tile_max;
        }
        T sum = 0;
#pragma unroll
        for (int s = 0; s < kSn; ++s) {
          const T e = j0 + tx + kTx * s < n ? Exp(sc[r][s] - m[r]) : T(0);
          ps[(ty + kTy * r) * S::kPStride + tx + kTx * s] = e;
          sum += e;
        }
        sum = RowLanesReduce<kTx, false, T, kLaneStride>(sum);
        l[r] = first ? sum : l[r] + sum;
      }
    }
    if constexpr (L::kWarpP) {
      __syncwarp();  // this warp's P rows complete (no other warp reads them)
    } else {
      group_sync();  // P complete
    }

    if (active) {
      // o += P V: per key j, each thread's rows times its output columns.
#pragma unroll (L::kPvUnroll)
      for (int jv = 0; jv < kBc / kVec; ++jv) {
        Vec pv[kRm];
#pragma unroll
        for (int r = 0; r < kRm; ++r) {
          pv[r] = *reinterpret_cast<const Vec*>(ps + (ty + kTy * r) * S::kPStride + jv * kVec);
        }
#pragma unroll
        for (int t = 0; t < kVec; ++t) {
          const T* vrow = vs + (jv * kVec + t) * S::kVStride + tx * kVec;
          Vec vvec[kOg];
#pragma unroll
          for (int g = 0; g < kOg; ++g) {
            vvec[g] = *reinterpret_cast<const Vec*>(vrow + g * kTx * kVec);
          }
#pragma unroll
          for (int r = 0; r < kRm; ++r) {
#pragma unroll
            for (int g = 0; g < kOg; ++g) {
#pragma unroll
              for (int u = 0; u < kVec; ++u) {
                o[r][g * kVec + u] = Fma(Lane(pv[r], t), Lane(vvec[g], u), o[r][g * kVec + u]);
              }
            }
          }
        }
      }
    }
  }

  // Joins the (m, l, o) of another group or block, in shared memory at
  // `other_o` (row stride kD) and `other_ml` (m, then l, kBr each), into
  // this thread's: the side with the smaller max scaled, then added.
  const auto merge_from = [&](const T* other_o, const T* other_ml) {
#pragma unroll
    for (int r = 0; r < kRm; ++r) {
      const int row = ty + kTy * r;
      const T m1 = other_ml[row];
      const T l1 = other_ml[kBr + row];
      T o1[kOn];
#pragma unroll
      for (int g = 0; g < kOg; ++g) {
        const Vec value =
            *reinterpret_cast<const Vec*>(other_o + row * kD + g * kTx * kVec + tx * kVec);
#pragma unroll
        for (int u = 0; u < kVec; ++u) o1[g * kVec + u] = Lane(value, u);
      }
      if (m[r] >= m1) {
        const T alpha = Exp(m1 - m[r]);
        l[r] = l[r] + Mul(l1, alpha);
#pragma unroll
        for (int c = 0; c < kOn; ++c) o[r][c] = o[r][c] + Mul(o1[c], alpha);
      } else {
        const T alpha = Exp(m[r] - m1);
        l[r] = Mul(l[r], alpha) + l1;
#pragma unroll
        for (int c = 0; c < kOn; ++c) o[r][c] = Mul(o[r][c], alpha) + o1[c];
        m[r] = m1;
      }
    }
  };
  // Stores this thread's (m, l, o) where merge_from reads them.
  const auto store_partial = [&](T* to_o, T* to_ml) {
#pragma unroll
    for (int r = 0; r < kRm; ++r) {
      const int row = ty + kTy * r;
#pragma unroll
      for (int g = 0; g < kOg; ++g) {
        Vec value;
#pragma unroll
        for (int u = 0; u < kVec; ++u) SetLane(value, u, o[r][g * kVec + u]);
        *reinterpret_cast<Vec*>(to_o + row * kD + g * kTx * kVec + tx * kVec) = value;
      }
      if (tx == 0) {
        to_ml[row] = m[r];
        to_ml[kBr + row] = l[r];
      }
    }
  };

  if constexpr (kStreams > 1) {
    if constexpr (L::kCopy != KvCopy::kRegisters) CpAsyncWait<0>();
    __syncthreads();  // every read of the tiles done
  }
  if constexpr (kGroups > 1) {
    // Groups 1.. hand (m, l, o) to group 0 through shared memory: o in the
    // group's own K/V buffers (row stride kD), m and l in the Q buffer.
    // A group with no tile (stream >= tiles) takes no part.
    if (group > 0) store_partial(group_tiles, qs + 2 * kBr * (group - 1));
    __syncthreads();  // the other groups' results are in shared memory
    if (group == 0) {
      for (int other = 1; other < kGroups && rank * kGroups + other < tiles; ++other) {
        merge_from(qs + kBr * S::kQStride + other * S::kStages * S::kGroupElements,
                   qs + 2 * kBr * (other - 1));
      }
    }
  }
  if constexpr (kCluster > 1) {
    // Blocks 1.. hand group 0's (m, l, o) to block 0: o one after another
    // in its K/V buffers, m and l in its Q buffer.
    namespace cg = cooperative_groups;
    const cg::cluster_group cluster = cg::this_cluster();
    cluster.sync();  // block 0's own merge has read its buffers
    if (rank > 0 && group == 0 && rank * kGroups < tiles) {
      T* const block0 = cluster.map_shared_rank(qs, 0);
      store_partial(block0 + kBr * S::kQStride + (rank - 1) * kBr * kD,
                    block0 + 2 * kBr * (rank - 1));
    }
    cluster.sync();  // every block's result is in block 0's shared memory
    if (rank > 0) return;
    if (group == 0) {
      for (int other = 1; other < kCluster && other * kGroups < tiles; ++other) {
        merge_from(qs + kBr * S::kQStride + (other - 1) * kBr * kD, qs + 2 * kBr * (other - 1));
      }
    }
  }
  if (group > 0) return;

#pragma unroll
  for (int r = 0; r < kRm; ++r) {
    const int64_t row = i0 + ty + kTy * r;
    if (row >= n) continue;
#pragma unroll
    for (int g = 0; g < kOg; ++g) {
      Vec value;
#pragma unroll
      for (int u = 0; u < kVec; ++u) SetLane(value, u, o[r][g * kVec + u] / l[r]);
      *reinterpret_cast<Vec*>(out + row * kD + g * kTx * kVec + tx * kVec) = value;
    }
  }
}

// kCluster blocks per query tile (FusedAttentionKernel), launched as
// thread-block clusters of that size.
template <typename T, int kD, int kGroups, typename L, int kCluster = 1>
cudaError_t LaunchFusedShape(const T* q, const T* k, const T* v, int64_t n, T* out,
                             cudaStream_t stream) {
  using S = FusedShape<T, kD, kGroups, L>;
  const auto kernel = &FusedAttentionKernel<T, kD, kGroups, L, kCluster>;
  // Above the 48 KiB default: a host-side attribute of the function on the
  // current device, set once per device (not on every execution's launch).
  static std::atomic<uint64_t> set_on_devices{0};
  int device = 0;
  if (const cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
  const uint64_t bit = device < 64 ? uint64_t{1} << device : 0;
  if (bit == 0 || (set_on_devices.load(std::memory_order_acquire) & bit) == 0) {
    const cudaError_t e = cudaFuncSetAttribute(
        kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(S::kBytes));
    if (e != cudaSuccess) return e;
    set_on_devices.fetch_or(bit, std::memory_order_release);
  }
  const int64_t blocks = (n + S::kBr - 1) / S::kBr * kCluster;
  if constexpr (kCluster == 1) {
    kernel<<<static_cast<unsigned>(blocks), S::kThreads, S::kBytes, stream>>>(
        q, k, v, n, AttentionScale<T>(kD), out);
    return cudaGetLastError();
  } else {
    cudaLaunchConfig_t launch = {};
    launch.gridDim = dim3(static_cast<unsigned>(blocks));
    launch.blockDim = dim3(S::kThreads);
    launch.dynamicSmemBytes = S::kBytes;
    launch.stream = stream;
    cudaLaunchAttribute cluster = {};
    cluster.id = cudaLaunchAttributeClusterDimension;
    cluster.val.clusterDim.x = kCluster;
    cluster.val.clusterDim.y = 1;
    cluster.val.clusterDim.z = 1;
    launch.attrs = &cluster;
    launch.numAttrs = 1;
    return cudaLaunchKernelEx(&launch, kernel, q, k, v, n, AttentionScale<T>(kD), out);
  }
}

template <typename T, int kD, typename L>
cudaError_t LaunchFusedGroups(const T* q, const T* k, const T* v, int64_t n, T* out,
                              cudaStream_t stream, int groups) {
  switch (groups) {
    case 1:
      return LaunchFusedShape<T, kD, 1, L>(q, k, v, n, out, stream);
    case 2:
      return LaunchFusedShape<T, kD, 2, L>(q, k, v, n, out, stream);
    case 4:
      return LaunchFusedShape<T, kD, 4, L>(q, k, v, n, out, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

// The thread layout of a query-tile height: f32 32 rows by 8 x 8 threads
// per group (K/V loaded through registers), 64 rows by 8 x 16 (K/V copied
// asynchronously, two buffers); f64 32 rows by 16 x 8 only.
template <typename T, int kD>
cudaError_t LaunchFusedD(const T* q, const T* k, const T* v, int64_t n, T* out,
                         cudaStream_t stream, AttentionFusedConfig config) {
  // Clusters only for the f32 64-row 2-group form at d = 128.
  if (config.cluster != 1 &&
      (sizeof(T) != 4 || kD != 128 || config.tile_rows != 64 || config.groups != 2)) {
    return cudaErrorInvalidValue;
  }
  if constexpr (sizeof(T) == 4) {
    if (config.tile_rows == 32) {
      return LaunchFusedGroups<T, kD, Layout8x8>(q, k, v, n, out, stream, config.groups);
    }
    if (config.tile_rows == 64) {
      // 4 groups with two K/V buffers each would not fit in shared memory.
      if (config.groups == 1) {
        return LaunchFusedShape<T, kD, 1, Layout8x16<kD, 1>>(q, k, v, n, out, stream);
      }
      if (config.groups == 2) {
        if constexpr (kD == 128) {
          switch (config.cluster) {
            case 1:
              return LaunchFusedShape<T, kD, 2, Layout8x16Keys64>(q, k, v, n, out, stream);
            case 2:
              return LaunchFusedShape<T, kD, 2, Layout8x16Keys64, 2>(q, k, v, n, out, stream);
            case 4:
              return LaunchFusedShape<T, kD, 2, Layout8x16Keys64, 4>(q, k, v, n, out, stream);
            default:
              return cudaErrorInvalidValue;
          }
        }
        return LaunchFusedShape<T, kD, 2, Layout8x16<kD, 2>>(q, k, v, n, out, stream);
      }
      return cudaErrorInvalidValue;
    }
  } else {
    if (config.tile_rows == 32) {
      return LaunchFusedGroups<T, kD, Layout16x8>(q, k, v, n, out, stream, config.groups);
    }
  }
  return cudaErrorInvalidValue;
}

// ---------------------------------------------------------------------------
// The fp64 reference: plain code, nothing shared with the kernels above.

constexpr int kReferenceThreads = 128;
constexpr int kReferenceMaxD = 128;

// The row's score for key j: double dot product in c order, times scale.
template <typename T>
__device__ double ReferenceScore(const double* q_row, const T* __restrict__ k, int64_t j, int d,
                                 double scale) {
  double dot = 0;
  for (int c = 0; c < d; ++c) dot += q_row[c] * static_cast<double>(k[j * d + c]);
  return dot * scale;
}

template <typename T>
__global__ void __launch_bounds__(kReferenceThreads)
    ReferenceAttentionKernel(const T* __restrict__ q, const T* __restrict__ k,
                             const T* __restrict__ v, int64_t n, int d, double scale,
                             double* __restrict__ out) {
  __shared__ double q_row[kReferenceMaxD];
  __shared__ double e[kReferenceThreads];
  __shared__ double warp_max[kReferenceThreads / 32];
  __shared__ double row_sum;
  const int64_t i = blockIdx.x;
  const int t = threadIdx.x;
  for (int c = t; c < d; c += kReferenceThreads) q_row[c] = static_cast<double>(q[i * d + c]);
  __syncthreads();

  double m = -INFINITY;
  for (int64_t j = t; j < n; j += kReferenceThreads) m = fmax(m, ReferenceScore(q_row, k, j, d, scale));
  for (int offset = 16; offset > 0; offset /= 2) {
    m = fmax(m, __shfl_xor_sync(0xffffffffu, m, offset));
  }
  if (t % 32 == 0) warp_max[t / 32] = m;
  __syncthreads();
  m = warp_max[0];
  for (int w = 1; w < kReferenceThreads / 32; ++w) m = fmax(m, warp_max[w]);

  double o = 0;
  double l = 0;
  for (int64_t j0 = 0; j0 < n; j0 += kReferenceThreads) {
    const int64_t j = j0 + t;
    e[t] = j < n ? exp(ReferenceScore(q_row, k, j, d, scale) - m) : 0.0;
    __syncthreads();
    const int count = n - j0 < kReferenceThreads ? static_cast<int>(n - j0) : kReferenceThreads;
    if (t < d) {
      for (int u = 0; u < count; ++u) o += e[u] * static_cast<double>(v[(j0 + u) * d + t]);
    }
    if (t == 0) {
      for (int u = 0; u < count; ++u) l += e[u];
    }
    __syncthreads();
  }
  if (t == 0) row_sum = l;
  __syncthreads();
  if (t < d) out[i * d + t] = o / row_sum;
}

}  // namespace

template <typename T>
CudaKernelStatus LaunchAttentionMaterialized(cublasHandle_t handle, const T* q, const T* k,
                                             const T* v, int64_t n, int d, T* scratch, T* out,
                                             cudaStream_t stream) {
  constexpr bool kF32 = sizeof(T) == 4;
  if (n < 1 || n > INT32_MAX || (d != 64 && d != 128)) {
    return Failed(cudaErrorInvalidValue, "attention/materialized: bad shape");
  }
  const int ni = static_cast<int>(n);
  T* s = scratch;
  T* l = scratch + n * n;
  // Column-major S^T (n x n, ld n) = K'^T Q', where K' and Q' are the
  // row-major K and Q read as column-major d x n: element (j, i) of S^T,
  // at j + i * n, is k_j . q_i = s_ij, row-major S.
  cublasStatus_t st =
      CublasGemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, ni, ni, d, k, d, q, d, s, ni);
  if (st != CUBLAS_STATUS_SUCCESS) return Failed(st, kF32 ? "cublasSgemm (Q K^T)" : "cublasDgemm (Q K^T)");
  SoftmaxRowsKernel<T><<<static_cast<unsigned>(n), kBlockThreads, 0, stream>>>(
      s, n, AttentionScale<T>(d), l);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return Failed(e, "attention softmax kernel");
  // Column-major O' (d x n, ld d: row-major O) = V' E', with V' the
  // row-major V read as column-major d x n and E' the row-major E read as
  // column-major n x n (E^T): O'(c, i) = sum_j v_jc e_ij.
  st = CublasGemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, d, ni, ni, v, d, s, ni, out, d);
  if (st != CUBLAS_STATUS_SUCCESS) return Failed(st, kF32 ? "cublasSgemm (E V)" : "cublasDgemm (E V)");
  const int64_t count = n * d;
  const int64_t blocks = std::min<int64_t>((count + kBlockThreads - 1) / kBlockThreads, 1 << 20);
  DivideRowsKernel<T><<<static_cast<unsigned>(blocks), kBlockThreads, 0, stream>>>(out, count, d, l);
  e = cudaGetLastError();
  if (e != cudaSuccess) return Failed(e, "attention divide kernel");
  return CudaKernelStatus{};
}

template <typename T>
AttentionFusedConfig PlanAttentionFused(int64_t n, int d, int sm_count) {
  const int64_t sms = std::max(1, sm_count);
  const auto blocks = [n](int64_t rows) { return (n + rows - 1) / rows; };
  const auto waves = [](int64_t count, int64_t slots) { return (count + slots - 1) / slots; };
  if (sizeof(T) == 4 && d == 128) {
    // 64 rows x 2 groups, one block per SM: a cluster of 2 when its blocks
    // of half the keys need fewer than twice the waves (clusters of 2 need
    // 2 SMs; 4 is offered, not planned: see the header).
    const int64_t pair_slots = sms / 2 * 2;
    const bool pairs = pair_slots > 0 && waves(2 * blocks(64), pair_slots) < 2 * waves(blocks(64), sms);
    return AttentionFusedConfig{64, 2, pairs ? 2 : 1};
  }
  if (sizeof(T) == 4 && BlocksFillTheSms(blocks(64), sm_count)) {
    return AttentionFusedConfig{64, blocks(64) <= sms ? 2 : 1};
  }
  return AttentionFusedConfig{32, blocks(32) <= sms ? 4 : 2};
}

template <typename T>
cudaError_t LaunchAttentionFused(const T* q, const T* k, const T* v, int64_t n, int d, T* out,
                                 cudaStream_t stream, AttentionFusedConfig config) {
  if (n < 1 || n > (int64_t{1} << 36) || (d != 64 && d != 128)) return cudaErrorInvalidValue;
  return d == 64 ? LaunchFusedD<T, 64>(q, k, v, n, out, stream, config)
                 : LaunchFusedD<T, 128>(q, k, v, n, out, stream, config);
}

template <typename T>
cudaError_t LaunchReferenceAttention(const T* q, const T* k, const T* v, int64_t n, int d,
                                     double* reference, cudaStream_t stream) {
  if (n < 1 || n > INT32_MAX || d < 1 || d > kReferenceMaxD) return cudaErrorInvalidValue;
  const double scale = static_cast<double>(AttentionScale<T>(d));
  ReferenceAttentionKernel<T><<<static_cast<unsigned>(n), kReferenceThreads, 0, stream>>>(
      q, k, v, n, d, scale, reference);
  return cudaGetLastError();
}

template CudaKernelStatus LaunchAttentionMaterialized<float>(cublasHandle_t, const float*,
                                                             const float*, const float*, int64_t,
                                                             int, float*, float*, cudaStream_t);
template CudaKernelStatus LaunchAttentionMaterialized<double>(cublasHandle_t, const double*,
                                                              const double*, const double*,
                                                              int64_t, int, double*, double*,
                                                              cudaStream_t);
template AttentionFusedConfig PlanAttentionFused<float>(int64_t, int, int);
template AttentionFusedConfig PlanAttentionFused<double>(int64_t, int, int);
template cudaError_t LaunchAttentionFused<float>(const float*, const float*, const float*, int64_t,
                                                 int, float*, cudaStream_t, AttentionFusedConfig);
template cudaError_t LaunchAttentionFused<double>(const double*, const double*, const double*,
                                                  int64_t, int, double*, cudaStream_t,
                                                  AttentionFusedConfig);
template cudaError_t LaunchReferenceAttention<float>(const float*, const float*, const float*,
                                                     int64_t, int, double*, cudaStream_t);
template cudaError_t LaunchReferenceAttention<double>(const double*, const double*, const double*,
                                                      int64_t, int, double*, cudaStream_t);

}  // namespace kernels
}  // namespace flopd
