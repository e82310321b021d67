// Single-head scaled dot-product attention on the GPU, f32 and f64, in two
// forms, and its fp64 reference (defined in attention_kernels.cu); the
// catalog's attention op runs them (cuda_kernels.cu).
//
// The op (the CPU backend's attention_kernels.h has the same contract). Q, K,
// V and the output O are N x d, row-major (element (i, c) at i * d + c),
// d = 64 or 128, N >= 1. With scale = T(1 / sqrt(d)) (computed in double,
// rounded to T once):
//   s_ij = (sum_c q_ic * k_jc) * scale   d multiplies, d-1 adds, 1 multiply
//   m_i  = max_j s_ij                    N-1 comparisons
//   e_ij = exp(s_ij - m_i)               1 subtract, 1 exp
//   l_i  = sum_j e_ij                    N-1 adds
//   o_ic = (sum_j e_ij * v_jc) / l_i     N multiplies, N-1 adds, 1 divide
// 4dN^2 + 4N^2 - 2N FLOPs (exp and comparisons counted as 1).
//
// Conventions of cuda_kernels.cuh: the launchers enqueue work on `stream` of
// the current device and return at once (cudaGetLastError() after the
// launch, or the cuBLAS status); nothing is allocated or synchronized, so
// they may be captured into a CUDA graph. Products are accumulated with
// fma() (one rounding per multiply-add); a sum that starts at 0 adds its
// first term exactly (0 + x, and fma(a, b, 0) rounds a * b once, as a
// multiply would). The multiplies by scale and by the rescale factors are
// __fmul_rn / __dmul_rn, never contracted into an FMA. exp is CUDA's
// accurate expf / exp (no fast-math). No atomics: results are bit-identical
// from run to run. Device pointers must be 16-byte aligned (cudaMalloc's
// are; d * sizeof(T) keeps every row aligned).
//
// Thread-safety: stateless; callers own the stream and the cuBLAS handle.
#ifndef FLOPD_SERVER_BACKEND_CUDA_ATTENTION_KERNELS_CUH_
#define FLOPD_SERVER_BACKEND_CUDA_ATTENTION_KERNELS_CUH_

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "server/backend/cuda/cuda_kernels.cuh"

namespace flopd {
namespace kernels {

// Elements of the scratch the materialized form needs: the N x N scores
// (row-major, N * N elements), then the N row sums l_i.
inline int64_t AttentionScratchElements(int64_t n) { return n * n + n; }

// The materialized form, four steps on `stream`:
//   1. S = Q K^T       cublas?gemm (alpha 1, beta 0): column-major S^T = K Q^T
//                      is row-major S, into scratch[0, N^2)
//   2. softmax         one 256-thread block per row: s = S_ij * scale written
//                      back; m_i = max (shuffle tree); e = exp(s - m_i)
//                      written back over S; l_i = sum_j e (each thread adds
//                      its columns j = t, t + 256, ... in order from 0, then
//                      a shuffle tree per warp and the 8 warps in order) into
//                      scratch[N^2 + i]
//   3. O = E V         cublas?gemm (alpha 1, beta 0) into `out`
//   4. o_ic /= l_i     one thread per element
// The handle must be set to `stream` and to CUBLAS_DEFAULT_MATH (full FP32,
// no TF32). The result carries the first failing launch or cuBLAS call.
// REQUIRES: n >= 1, n < 2^31, d is 64 or 128, scratch holds
// AttentionScratchElements(n) elements, nothing overlaps.
template <typename T>
CudaKernelStatus LaunchAttentionMaterialized(cublasHandle_t handle, const T* q, const T* k,
                                             const T* v, int64_t n, int d, T* scratch, T* out,
                                             cudaStream_t stream);

// The fused form, flash-attention style on the CUDA cores (no tensor cores,
// no N x N buffer). A block owns a tile of config.tile_rows query rows
// (staged in shared memory) and config.groups groups of threads; group g
// streams the K/V tiles g, g + groups, ... (64 keys each for f32 d = 64
// and for f32 64 rows x 2 groups at d = 128, else 32 for f32 d = 128 and
// f64 d = 64, 16 for f64 d = 128) through its own shared-memory buffers. Within a group, a kTx x kTy
// grid of threads computes the rows x keys score tile (thread (tx, ty): rows
// ty + kTy r, keys tx + kTx s) with one FMA chain per score in c order,
// keeps an online softmax per row and accumulates O (rows ty + kTy r,
// 16-byte vectors of columns tx, tx + kTx, ...) in registers. The shapes:
//   f32, 32 rows: 8 x 8 threads per group (4 rows x 4 or 8 keys and 4 x 16
//        or 8 outputs a thread), K/V loaded through registers, each group
//        synchronized on its own barrier in the loop;
//   f32, 64 rows: 8 x 16 threads, the same per-thread tile, K/V copied with
//        cp.async into two buffers per group, the next tile's copy in flight
//        while this one is used; groups 1 or 2 (4 does not fit); at d = 128
//        with 2 groups, 64-key tiles (4 rows x 8 keys a thread) in one K
//        and one V buffer per group, each copied with cp.async as soon as
//        the last tile's reads of it are done (the next K during this
//        tile's softmax and P V, this tile's V during its scores); this
//        form alone is also offered as clusters of 2 or 4 blocks per query
//        tile (config.cluster), which split the tile's keys;
//   f64, 32 rows: 16 x 8 threads (4 rows x 2 keys at d = 64, x 1 at
//        d = 128), K/V through registers; 64 rows is not offered.
// A warp holds whole rows' threads, ty fastest in the lane order, and the
// tile's e (P) goes to a buffer of the group's own that only the row's warp
// reads: one barrier per K/V tile with two cp.async buffers, two through
// registers or with K and V copied apart (except f32 64 rows x 1 group at
// d = 128: P over K, tx fastest, four).
// Per row and K/V tile:
//   scores  s_j = (fma chain over c) * scale;
//   max     b = tile max (shuffle tree); m = b on the group's first tile,
//           else max(m, b);
//   rescale only when the max grew after the group's first tile:
//           alpha = exp(m_old - m) (1 subtract, 1 exp), l *= alpha
//           (1 multiply), o_c *= alpha (d multiplies);
//   exp     e_j = exp(s_j - m), staged in shared memory; the tile's sum
//           (each thread's keys in order from 0, then a kTx-lane shuffle
//           tree); l = that sum on the first tile, else l + sum;
//   o       o_c = fma(e_j, v_jc, o_c) in j order, from 0.
// Then group 0 merges the other groups' (m, l, o) in group order: with m'
// the larger max and alpha = exp(m_small - m') (1 subtract, 1 exp), the side
// with the smaller max is scaled by alpha (d + 1 multiplies) and added (the
// d + 1 adds that join the partial sums, part of the N-1); with a cluster
// (config.cluster blocks per query tile, block r's group g streaming tiles
// r * groups + g, + groups * cluster, ...), block 0's group 0 then merges
// the other blocks' merged results the same way, in block order, taken from
// its shared memory where they wrote them (distributed shared memory). Then
// o_c / l. Extra work per row: (d + 3) per max increase after a group's
// first tile, plus (d + 3) per merged group (min(groups * cluster, tiles) - 1
// of them: a group with no tile takes no part). In the
// last K/V tile the keys past N are zero rows: their scores are left out of
// the max, their e is 0, and the sums and FMAs over them add exact zeros.
// REQUIRES: n >= 1, d is 64 or 128, config one of the shapes above;
// cudaErrorInvalidValue otherwise.
template <typename T>
cudaError_t LaunchAttentionFused(const T* q, const T* k, const T* v, int64_t n, int d, T* out,
                                 cudaStream_t stream, AttentionFusedConfig config);

// The fused form's launch shape for `sm_count` SMs and head size d.
// f32 d = 128: always 64 rows x 2 groups (64-key tiles, one block per SM),
// as clusters of 2 blocks per query tile when those blocks (each half the
// keys) need fewer than twice the waves of unclustered ones: ceil(2B / S')
// < 2 ceil(B / S), B = ceil(N / 64), S' = the SMs rounded down to even.
// Otherwise f32 takes 64-row tiles when their ceil(N / 64) blocks fill the
// GPU (at least 15/16 of a block per SM) - 2 groups when the blocks fit one
// per SM, else 1 (two 128-thread blocks per SM) - and 32-row tiles below
// that; with 32-row tiles (and f64 always), 4 groups when the ceil(N / 32)
// blocks fit one per SM, else 2. Measured on an H200, f32 d = 128, ms
// (docs/results/h200_attention_keys64.md): at N = 1024 / 2048 / 4096 / 6144 /
// 8192 / 12288 / 16384, 64 x 2 0.128 / 0.251 / 0.495 / 0.738 / 0.985 / 2.930
// / 3.912, clusters of 2 0.070 / 0.131 / 0.254 / 0.749 / 1.002 / 2.231 /
// 3.952, of 4 0.041 / 0.138 / 0.388 / 0.760 / 1.258 / 2.618 / 4.466, 32 x 4
// 0.084 / 0.162 / 0.312 / 0.916 / 1.242 / 2.780 / 4.924. Clusters of 4 win
// only at N = 1024; fewer of them are co-resident than S / 4 (their times
// at 2048-4096 look like an extra wave), so the rule above would need the
// device's count to plan them.
template <typename T>
AttentionFusedConfig PlanAttentionFused(int64_t n, int d, int sm_count);

// fp64 reference, plain and sharing no code with the kernels above:
// reference[i * d + c] = o_ic computed in double from the T inputs, with
// scale = double(T(1 / sqrt(d))). One block of 128 threads per row: the max
// over the scores (each a d-term double dot product), then the scores again
// in chunks of 128 keys, e = exp(s - m) into shared memory, thread c adding
// e_j * v_jc and thread 0 adding l in j order; o / l.
// REQUIRES: n >= 1, d is 64 or 128 (at most 128).
template <typename T>
cudaError_t LaunchReferenceAttention(const T* q, const T* k, const T* v, int64_t n, int d,
                                     double* reference, cudaStream_t stream);

}  // namespace kernels
}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CUDA_ATTENTION_KERNELS_CUH_
