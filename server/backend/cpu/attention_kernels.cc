#include "server/backend/cpu/attention_kernels.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "server/backend/cpu/thread_team.h"

// As in cpu_kernels.cc: the fused body is written once, as an always-inline
// template, and compiled into a wrapper built for AVX2+FMA and one built for
// the baseline target; each call picks one by its KernelIsa argument.
#if defined(__x86_64__) || defined(__i386__)
#define FLOPD_ATTENTION_AVX2_VARIANT 1
#define FLOPD_ATTENTION_TARGET_AVX2_FMA __attribute__((target("avx2,fma")))
#else
#define FLOPD_ATTENTION_AVX2_VARIANT 0
#define FLOPD_ATTENTION_TARGET_AVX2_FMA
#endif
#define FLOPD_ATTENTION_INLINE inline __attribute__((always_inline))

// The 32-byte vectors below never cross a non-inlined call, so the ABI note
// GCC gives for them in the baseline build does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace flopd {
namespace {

// scale = T(1 / sqrt(d)): computed in double, rounded to T once.
template <typename T>
T AttentionScale(int d) {
  return static_cast<T>(1.0 / std::sqrt(static_cast<double>(d)));
}

// ---------------------------------------------------------------------------
// The materialized form's passes between the gemms.

// Lane partials of the row sums: each starts at its first term.
constexpr int kSumLanes = 16;

// Rows [r0, r1) of S (n x n): S_ij <- s = S_ij * scale, m_i = max_j s,
// S_ij <- e = exp(s - m_i), l[i] = sum_j e (kSumLanes partials in j order,
// combined pairwise: N-1 adds).
template <typename T>
void SoftmaxRows(T* s, int64_t n, T scale, int64_t r0, int64_t r1, T* l) {
  for (int64_t i = r0; i < r1; ++i) {
    T* __restrict row = s + i * n;
    for (int64_t j = 0; j < n; ++j) row[j] *= scale;
    T m = row[0];
    for (int64_t j = 1; j < n; ++j) m = std::max(m, row[j]);
    for (int64_t j = 0; j < n; ++j) row[j] = std::exp(row[j] - m);
    if (n < kSumLanes) {
      T sum = row[0];
      for (int64_t j = 1; j < n; ++j) sum += row[j];
      l[i] = sum;
      continue;
    }
    T acc[kSumLanes];
    for (int u = 0; u < kSumLanes; ++u) acc[u] = row[u];
    int64_t j = kSumLanes;
    for (; j + kSumLanes <= n; j += kSumLanes) {
      for (int u = 0; u < kSumLanes; ++u) acc[u] += row[j + u];
    }
    for (int u = 0; j + u < n; ++u) acc[u] += row[j + u];
    for (int width = kSumLanes / 2; width >= 1; width /= 2) {
      for (int u = 0; u < width; ++u) acc[u] += acc[u + width];
    }
    l[i] = acc[0];
  }
}

// o_ic /= l_i for rows [r0, r1).
template <typename T>
void DivideRows(T* out, int d, const T* l, int64_t r0, int64_t r1) {
  for (int64_t i = r0; i < r1; ++i) {
    T* __restrict row = out + i * d;
    const T li = l[i];
    for (int c = 0; c < d; ++c) row[c] /= li;
  }
}

void Gemm(CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}
void Gemm(CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
}

// ---------------------------------------------------------------------------
// The fused form.

// 32-byte vectors (GCC vector extensions: one AVX register, or two SSE
// registers in the baseline build).
template <typename T>
struct Vec32;
template <>
struct Vec32<float> {
  typedef float V __attribute__((vector_size(32)));
};
template <>
struct Vec32<double> {
  typedef double V __attribute__((vector_size(32)));
};

template <typename V, typename T>
FLOPD_ATTENTION_INLINE V LoadV(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <typename V, typename T>
FLOPD_ATTENTION_INLINE void StoreV(T* p, const V& v) {
  std::memcpy(p, &v, sizeof(V));
}

// Query rows whose scores and o updates are computed together (their
// accumulators stay in registers; each vector of K or V loaded serves all of
// them), and vectors of keys (scores) or of output columns (o) per step:
// 4 x 2 = 8 accumulator registers.
constexpr int kGroupRows = 4;
constexpr int kStepVectors = 2;
static_assert(kAttentionTileRows % kGroupRows == 0, "a tile is whole groups");

// Rows [r0, r1) of the output; see AttentionFused for the arithmetic.
template <typename T, int kD>
FLOPD_ATTENTION_INLINE void FusedRowsBody(const T* __restrict q, const T* __restrict k,
                                          const T* __restrict v, int64_t n, int64_t r0,
                                          int64_t r1, T* __restrict out) {
  using V = typename Vec32<T>::V;
  constexpr int kW = static_cast<int>(32 / sizeof(T));
  constexpr int kStep = kStepVectors * kW;  // keys or columns per step
  constexpr int kTile = kAttentionTileRows;
  constexpr int kBlock = AttentionBlockRows<T>(kD);
  static_assert(kBlock % kStep == 0 && kD % kStep == 0, "whole steps");
  const T scale = AttentionScale<T>(kD);

  alignas(64) T kt[kD * kBlock];    // kt[c * kBlock + jj] = k[(j0 + jj) * kD + c]
  alignas(64) T s[kTile][kBlock];   // the block's scores, then its e
  alignas(64) T o[kTile][kD];       // unnormalized outputs
  T m[kTile];
  T l[kTile];

  for (int64_t i0 = r0; i0 < r1; i0 += kTile) {
    const int rows = static_cast<int>(std::min<int64_t>(kTile, r1 - i0));
    // A group past `rows` repeats the tile's last row; its results are
    // never used.
    const T* qrow[kTile];
    for (int r = 0; r < kTile; ++r) qrow[r] = q + (i0 + std::min(r, rows - 1)) * kD;

    for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
      const int nb = static_cast<int>(std::min<int64_t>(kBlock, n - j0));
      const bool first = j0 == 0;
      for (int jj = 0; jj < nb; ++jj) {
        const T* krow = k + (j0 + jj) * kD;
        for (int c = 0; c < kD; ++c) kt[c * kBlock + jj] = krow[c];
      }
      // Keys past N in the last step: zeros, so its unused lanes stay finite.
      const int steps_end = (nb + kStep - 1) / kStep * kStep;
      for (int c = 0; c < kD; ++c) {
        for (int jj = nb; jj < steps_end; ++jj) kt[c * kBlock + jj] = 0;
      }

      // Scores: s[r][jj] = (sum_c q_rc * k_jc) * scale, c in order.
      for (int g0 = 0; g0 < rows; g0 += kGroupRows) {
        const T* qg[kGroupRows];
        for (int r = 0; r < kGroupRows; ++r) qg[r] = qrow[g0 + r];
        for (int jc = 0; jc < nb; jc += kStep) {
          V acc[kGroupRows][kStepVectors];
          for (int u = 0; u < kStepVectors; ++u) {
            const V kv = LoadV<V>(kt + jc + u * kW);
            for (int r = 0; r < kGroupRows; ++r) acc[r][u] = qg[r][0] * kv;
          }
          for (int c = 1; c < kD; ++c) {
            for (int u = 0; u < kStepVectors; ++u) {
              const V kv = LoadV<V>(kt + c * kBlock + jc + u * kW);
              for (int r = 0; r < kGroupRows; ++r) acc[r][u] += qg[r][c] * kv;
            }
          }
          for (int r = 0; r < kGroupRows; ++r) {
            for (int u = 0; u < kStepVectors; ++u) {
              StoreV(&s[g0 + r][jc + u * kW], acc[r][u] * scale);
            }
          }
        }
      }

      // Online softmax, row by row: the block's max, the rescale when the
      // max grew, e = exp(s - m) in place, l.
      for (int r = 0; r < rows; ++r) {
        T* __restrict sr = s[r];
        T b = sr[0];
        for (int jj = 1; jj < nb; ++jj) b = std::max(b, sr[jj]);
        if (first) {
          m[r] = b;
        } else if (b > m[r]) {
          const T alpha = std::exp(m[r] - b);
          l[r] *= alpha;
          for (int c = 0; c < kD; ++c) o[r][c] *= alpha;
          m[r] = b;
        }
        const T mr = m[r];
        for (int jj = 0; jj < nb; ++jj) sr[jj] = std::exp(sr[jj] - mr);
        T sum = sr[0];
        for (int jj = 1; jj < nb; ++jj) sum += sr[jj];
        l[r] = first ? sum : l[r] + sum;
      }

      // o_rc += e_rj * v_jc, j in order (the first block's first term a
      // multiply).
      for (int g0 = 0; g0 < rows; g0 += kGroupRows) {
        for (int cc = 0; cc < kD; cc += kStep) {
          V acc[kGroupRows][kStepVectors];
          int jj = 0;
          if (first) {
            const T* vr = v + j0 * kD + cc;
            for (int u = 0; u < kStepVectors; ++u) {
              const V vv = LoadV<V>(vr + u * kW);
              for (int r = 0; r < kGroupRows; ++r) acc[r][u] = s[g0 + r][0] * vv;
            }
            jj = 1;
          } else {
            for (int r = 0; r < kGroupRows; ++r) {
              for (int u = 0; u < kStepVectors; ++u) acc[r][u] = LoadV<V>(&o[g0 + r][cc + u * kW]);
            }
          }
          for (; jj < nb; ++jj) {
            const T* vr = v + (j0 + jj) * kD + cc;
            for (int u = 0; u < kStepVectors; ++u) {
              const V vv = LoadV<V>(vr + u * kW);
              for (int r = 0; r < kGroupRows; ++r) acc[r][u] += s[g0 + r][jj] * vv;
            }
          }
          for (int r = 0; r < kGroupRows; ++r) {
            for (int u = 0; u < kStepVectors; ++u) StoreV(&o[g0 + r][cc + u * kW], acc[r][u]);
          }
        }
      }
    }

    for (int r = 0; r < rows; ++r) {
      T* __restrict orow = out + (i0 + r) * kD;
      const T lr = l[r];
      for (int c = 0; c < kD; ++c) orow[c] = o[r][c] / lr;
    }
  }
}

template <typename T, int kD>
void FusedRowsGeneric(const T* q, const T* k, const T* v, int64_t n, int64_t r0, int64_t r1,
                      T* out) {
  FusedRowsBody<T, kD>(q, k, v, n, r0, r1, out);
}

#if FLOPD_ATTENTION_AVX2_VARIANT
template <typename T, int kD>
FLOPD_ATTENTION_TARGET_AVX2_FMA void FusedRowsAvx2(const T* q, const T* k, const T* v, int64_t n,
                                                   int64_t r0, int64_t r1, T* out) {
  FusedRowsBody<T, kD>(q, k, v, n, r0, r1, out);
}
#endif

template <typename T>
auto PickFusedRows(int d, KernelIsa isa) {
  auto body = d == 64 ? &FusedRowsGeneric<T, 64> : &FusedRowsGeneric<T, 128>;
#if FLOPD_ATTENTION_AVX2_VARIANT
  // kAvx512F runs the AVX2+FMA build too: this kernel has no AVX-512 one.
  if (isa != KernelIsa::kGeneric) body = d == 64 ? &FusedRowsAvx2<T, 64> : &FusedRowsAvx2<T, 128>;
#else
  (void)isa;
#endif
  return body;
}

}  // namespace

template <typename T>
void AttentionMaterialized(const T* q, const T* k, const T* v, int64_t n, int d, T* scratch,
                           T* out, int threads) {
  T* s = scratch;
  T* l = scratch + n * n;
  Gemm(CblasTrans, n, n, d, q, d, k, d, s, n);  // S = Q K^T
  const T scale = AttentionScale<T>(d);
  ParallelParts(n, 1, threads,
                [&](int64_t begin, int64_t end) { SoftmaxRows(s, n, scale, begin, end, l); });
  Gemm(CblasNoTrans, n, d, n, s, n, v, d, out, d);  // O = E V
  ParallelParts(n, 1, threads,
                [&](int64_t begin, int64_t end) { DivideRows(out, d, l, begin, end); });
}

template <typename T>
void AttentionFused(const T* q, const T* k, const T* v, int64_t n, int d, T* out, int threads,
                    KernelIsa isa) {
  const auto body = PickFusedRows<T>(d, isa);
  ParallelParts(n, kAttentionTileRows, threads,
                [&](int64_t begin, int64_t end) { body(q, k, v, n, begin, end, out); });
}

template void AttentionMaterialized<float>(const float*, const float*, const float*, int64_t, int,
                                           float*, float*, int);
template void AttentionMaterialized<double>(const double*, const double*, const double*, int64_t,
                                            int, double*, double*, int);
template void AttentionFused<float>(const float*, const float*, const float*, int64_t, int, float*,
                                    int, KernelIsa);
template void AttentionFused<double>(const double*, const double*, const double*, int64_t, int,
                                     double*, int, KernelIsa);

}  // namespace flopd
