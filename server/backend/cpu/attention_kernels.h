// Single-head scaled dot-product attention on the CPU, f32 and f64, in two
// forms: "materialized" (OpenBLAS gemms around an N x N score matrix kept in
// scratch) and "fused" (flopd's own streaming kernel with an online softmax,
// no N x N buffer). The catalog's attention op runs them (cpu_kernels.cc).
//
// The op. Q, K, V and the output O are N x d, row-major (element (i, c) at
// i * d + c), d = 64 or 128, N >= 1. With scale = T(1 / sqrt(d)) (computed in
// double, rounded to T once):
//   s_ij = (sum_c q_ic * k_jc) * scale   d multiplies, d-1 adds, 1 multiply
//   m_i  = max_j s_ij                    N-1 comparisons
//   e_ij = exp(s_ij - m_i)               1 subtract, 1 exp
//   l_i  = sum_j e_ij                    N-1 adds
//   o_ic = (sum_j e_ij * v_jc) / l_i     N multiplies, N-1 adds, 1 divide
// 4dN^2 + 4N^2 - 2N FLOPs (exp and comparisons counted as 1). Both forms do
// exactly these operations; the fused one adds the online softmax's rescale
// (see AttentionFused). As in cpu_kernels.h: no algebraic shortcut, no
// fast-math; the compiler may contract a multiply and an add into one FMA
// (still one multiply and one add), and exp is the C library's.
//
// Threads: `threads` parts of the rows on the shared ThreadTeam (part 0 on
// the caller), as in cpu_kernels.h. OpenBLAS's own thread count is the
// caller's (openblas_set_num_threads).
//
// Thread-safety: stateless; calls from several threads are safe.
#ifndef FLOPD_SERVER_BACKEND_CPU_ATTENTION_KERNELS_H_
#define FLOPD_SERVER_BACKEND_CPU_ATTENTION_KERNELS_H_

#include <cstdint>

#include "server/backend/cpu/cpu_kernels.h"

namespace flopd {

// Elements of the scratch AttentionMaterialized needs: the N x N scores
// (row-major, N * N elements), then the N row sums l_i.
inline int64_t AttentionMaterializedScratch(int64_t n) { return n * n + n; }

// The materialized form:
//   1. S = Q K^T              cblas ?gemm (alpha 1, beta 0) into scratch[0, N^2)
//   2. per row (threaded):    s = S_ij * scale, written back; m_i = max;
//                             e = exp(s - m_i), written back over S;
//                             l_i = sum_j e_ij (16 lane partials that start at
//                             their first term, combined pairwise) into
//                             scratch[N^2 + i]
//   3. O = E V                cblas ?gemm (alpha 1, beta 0) into `out`
//   4. per row (threaded):    o_ic /= l_i
// REQUIRES: n >= 1, d is 64 or 128, threads >= 1, scratch holds
// AttentionMaterializedScratch(n) elements, nothing overlaps.
template <typename T>
void AttentionMaterialized(const T* q, const T* k, const T* v, int64_t n, int d, T* scratch,
                           T* out, int threads);

// The fused form: each thread owns contiguous tiles of kAttentionTileRows
// query rows and streams K and V through them in blocks of
// AttentionBlockRows<T>(d) rows (16 KiB of K: 64 f32 / 32 f64 rows for
// d = 64, 32 / 16 for d = 128), K transposed into a stack buffer that stays
// in L1 while the tile's rows use it, V read in place (L1/L2); 64 KiB blocks
// ran f64 d = 128 2x slower on a Zen 3. Per query row and block:
//   scores  s_j = dot(q_i, k_j) * scale for the block's j, the dot in c order
//           (the first product a multiply, then multiply-adds);
//   max     b = max_j s_j; m = b on the first block, else max(m, b);
//   rescale only when the max grew (not on the first block): alpha =
//           exp(m_old - m) (1 subtract, 1 exp), l *= alpha (1 multiply),
//           o_c *= alpha (d multiplies). These are the extra operations.
//   exp     e_j = exp(s_j - m), the block's sum in j order;
//           l = that sum on the first block, else l + sum (N-1 adds in all);
//   o       o_c += e_j * v_jc in j order (the very first term a multiply).
// Finally o_c / l. Every output takes N multiplies and N-1 adds; with R the
// blocks where the row's max grew after its first block, the row's extra work
// is R * (d + 3) operations.
// The scores are computed 4 query rows x 16 (f32) or 8 (f64) keys at a time
// in vector registers, the o updates 4 rows x 16 (f32) or 8 (f64) columns at
// a time; `isa` picks the AVX2+FMA or the baseline build of the same code
// (the two round differently: FMAs vs separate multiply and add); kAvx512F
// runs the AVX2+FMA build.
// REQUIRES: n >= 1, d is 64 or 128, threads >= 1, `out` overlaps no input.
inline constexpr int kAttentionTileRows = 16;
template <typename T>
constexpr int AttentionBlockRows(int d) {
  return static_cast<int>(16384 / (d * sizeof(T)));
}
template <typename T>
void AttentionFused(const T* q, const T* k, const T* v, int64_t n, int d, T* out, int threads,
                    KernelIsa isa = BestKernelIsa());

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CPU_ATTENTION_KERNELS_H_
