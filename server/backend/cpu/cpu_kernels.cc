#include "server/backend/cpu/cpu_kernels.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "common/op_catalog.h"
#include "server/backend/cpu/attention_kernels.h"
#include "server/backend/cpu/thread_team.h"

// Each kernel body below is written once, as an always-inline template, and
// compiled into one wrapper per ISA: the baseline target, AVX2+FMA and (the
// compute-bound fused outer sum and chain) AVX-512F. Each call picks a
// wrapper by its KernelIsa argument (BestKernelIsa() by default), so tests
// can run every variant on one machine, which target_clones' hidden dispatch
// would not allow.
//
// The vector bodies (FusedBlockSimd, ChainBodySimd) are templates over a
// struct of vector operations, Avx2<T> or Avx512<T>. A body has no target
// attribute of its own: GCC inlines a function into one whose ISA includes
// the callee's, so the always-inline body goes into each ISA's wrapper. The
// vector operations carry their ISA's target; they are plain inline (as
// always_inline they would be an error in the body's own baseline context)
// and the wrappers are `flatten`, so GCC inlines them into the wrapper too
// (checked with objdump: the wrappers call none of them). The bodies'
// vectors therefore never cross a non-inlined call, so the ABI note GCC gives
// for them (-Wpsabi) does not apply. Clang rejects such vectors in a baseline
// function outright, so a clang build (flopd's is GCC's; clang builds only the
// fuzz targets, which do not link this file) gets the generic variant alone.
#if (defined(__x86_64__) || defined(__i386__)) && !defined(__clang__)
#define FLOPD_HAVE_AVX2_VARIANT 1
#define FLOPD_HAVE_AVX512_VARIANT 1
#define FLOPD_TARGET_AVX2_FMA __attribute__((target("avx2,fma")))
// With AVX2 and FMA, which every AVX-512F CPU has (BestKernelIsa checks all
// three; GCC's avx512f implies avx2 but not fma).
#define FLOPD_TARGET_AVX512F __attribute__((target("avx512f,avx2,fma")))
#else
#define FLOPD_HAVE_AVX2_VARIANT 0
#define FLOPD_HAVE_AVX512_VARIANT 0
#define FLOPD_TARGET_AVX2_FMA
#define FLOPD_TARGET_AVX512F
#endif
#define FLOPD_ALWAYS_INLINE inline __attribute__((always_inline))
// A wrapper whose vector operations must all be inlined (see above).
#define FLOPD_FLATTEN __attribute__((flatten))

#pragma GCC diagnostic ignored "-Wpsabi"

namespace flopd {
namespace {

// Independent accumulators per sum: 256 bytes, i.e. 8 AVX2 registers, enough
// to cover the add/FMA latency (4 cycles at 2 per cycle) and to keep loads
// streaming. 64 for float, 32 for double.
template <typename T>
constexpr int64_t kLanes = 256 / sizeof(T);

// Column sums: width of the block of accumulators that stays in L1 (half of
// a 32 KiB L1d) while the rows stream through it, and rows added per pass
// over the block. Chosen by measurement on a 2-core EPYC (Zen 3): 4 and 8
// KiB blocks and 4 or 8 rows per pass were no faster.
constexpr int64_t kColumnBlockBytes = 16384;
constexpr int kColumnRows = 2;

// Elements per 64-byte cache line: thread ranges of an output start on a line
// so that two threads never write the same line.
template <typename T>
constexpr int64_t kLineElements = 64 / sizeof(T);

// sum_{j<n} term(j) with exactly n-1 additions: kLanes<T> lanes each start at
// their first term, the remaining terms are added lane by lane, and the lanes
// are combined pairwise. The compiler vectorizes the lane loops.
template <typename T, typename Term>
FLOPD_ALWAYS_INLINE T SumLanes(int64_t n, Term term) {
  constexpr int64_t kL = kLanes<T>;
  if (n < kL) {
    T sum = term(0);
    for (int64_t j = 1; j < n; ++j) sum += term(j);
    return sum;
  }
  T acc[kL];
  for (int64_t l = 0; l < kL; ++l) acc[l] = term(l);
  int64_t j = kL;
  for (; j + kL <= n; j += kL) {
    for (int64_t l = 0; l < kL; ++l) acc[l] += term(j + l);
  }
  for (int64_t l = 0; j + l < n; ++l) acc[l] += term(j + l);
  for (int64_t width = kL / 2; width >= 1; width /= 2) {
    for (int64_t l = 0; l < width; ++l) acc[l] += acc[l + width];
  }
  return acc[0];
}

// out[j] = sum_i p[i*n + j] for j in [c0, c1).
template <typename T>
FLOPD_ALWAYS_INLINE void ColumnSumsBody(const T* __restrict p, int64_t n, int64_t c0, int64_t c1,
                                        T* __restrict out) {
  constexpr int64_t kBlock = kColumnBlockBytes / sizeof(T);
  for (int64_t jb = c0; jb < c1; jb += kBlock) {
    const int64_t width = std::min(kBlock, c1 - jb);
    T* __restrict acc = out + jb;
    const T* __restrict row = p + jb;
    for (int64_t j = 0; j < width; ++j) acc[j] = row[j];
    int64_t i = 1;
    // kColumnRows rows per pass: (((acc + r0) + r1) + ...) is the order of
    // single-row passes, with fewer accumulator loads and stores.
    for (; i + kColumnRows <= n; i += kColumnRows) {
      const T* __restrict rows = p + i * n + jb;
      for (int64_t j = 0; j < width; ++j) {
        T sum = acc[j];
        for (int r = 0; r < kColumnRows; ++r) sum += rows[r * n + j];
        acc[j] = sum;
      }
    }
    for (; i < n; ++i) {
      const T* __restrict r = p + i * n + jb;
      for (int64_t j = 0; j < width; ++j) acc[j] += r[j];
    }
  }
}

// Sums of kRows rows at once, each with kLanes<T> / kRows lanes, exactly
// n-1 additions per row: term(r, j) is term j of row r. Several rows at once
// give the hardware prefetcher several streams to follow, which a single
// thread needs to approach the memory bandwidth.
// REQUIRES: n >= kLanes<T> / kRows.
template <typename T, int kRows, typename Term>
FLOPD_ALWAYS_INLINE void SumRowsLanes(int64_t n, Term term, T* sums) {
  constexpr int64_t kL = kLanes<T> / kRows;
  T acc[kRows][kL];
  for (int r = 0; r < kRows; ++r) {
    for (int64_t l = 0; l < kL; ++l) acc[r][l] = term(r, l);
  }
  int64_t j = kL;
  for (; j + kL <= n; j += kL) {
    for (int r = 0; r < kRows; ++r) {
      for (int64_t l = 0; l < kL; ++l) acc[r][l] += term(r, j + l);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int64_t l = 0; j + l < n; ++l) acc[r][l] += term(r, j + l);
  }
  for (int r = 0; r < kRows; ++r) {
    for (int64_t width = kL / 2; width >= 1; width /= 2) {
      for (int64_t l = 0; l < width; ++l) acc[r][l] += acc[r][l + width];
    }
    sums[r] = acc[r][0];
  }
}

// Row sums: rows summed at once. Two rows of 4 AVX2 registers each keep 8
// chains in flight; with four rows GCC 12 no longer keeps the accumulators in
// registers and the kernel runs several times slower.
constexpr int kRowsPerPass = 2;

// out[i] = sum_j p[i*n + j] for i in [r0, r1).
template <typename T>
FLOPD_ALWAYS_INLINE void RowSumsBody(const T* __restrict p, int64_t n, int64_t r0, int64_t r1,
                                     T* __restrict out) {
  int64_t i = r0;
  if (n >= kLanes<T> / kRowsPerPass) {
    for (; i + kRowsPerPass <= r1; i += kRowsPerPass) {
      const T* __restrict rows = p + i * n;
      SumRowsLanes<T, kRowsPerPass>(
          n, [rows, n](int r, int64_t j) { return rows[r * n + j]; }, out + i);
    }
  }
  for (; i < r1; ++i) {
    const T* __restrict row = p + i * n;
    out[i] = SumLanes<T>(n, [row](int64_t j) { return row[j]; });
  }
}

// The fused outer sum, both axes, as one kernel: out[o] = sum_k s[k] * x[o]
// for the owned outputs o in [o0, o1), where x is the vector whose elements
// own the outputs and s the vector summed over. Axis 0 (out[j] = sum_i u_i
// v_j) is x = v, s = u; axis 1 (out[i] = sum_j u_i v_j) is x = u, s = v. A
// product is the same rounded number either way round (u_i * v_j ==
// v_j * u_i exactly, and an FMA rounds only its sum), so the two axes run
// the same instructions on the same kind of data, at the same speed.
//
// The sum order, the same for every output, both axes, every ISA, every
// thread count: the N products s[k] * x[o] go to kFusedSums partial sums by
// k mod kFusedSums; partial r starts at its first product (k = r, a
// multiplication) and adds the others in increasing k (one fused multiply-
// add each in the AVX2+FMA and AVX-512F variants, so those two give the same
// bits; a multiplication then an addition in the generic one); the partials
// are combined as (p0 + p1) + (p2 + p3) (with N < 4 only the first N
// partials exist: p0, p0 + p1, (p0 + p1) + p2).
// Additions per output: (N - 4) + 3 = N - 1 (N - 1 for N < 4 too).
//
// The vector variants keep a block of W registers of owned outputs (x) in
// registers and W * kFusedSums accumulators, so each step is one broadcast
// of s[k] (streamed from L1) and W independent FMAs (kFusedRegisters below):
//  - AVX2 (16 ymm registers): W = 3, 12 independent FMA chains (2 FMA pipes
//    x 4-5 cycles of latency need 8-10): 12 accumulators, 3 of x, 1
//    broadcast.
//  - AVX-512F (32 zmm registers): W = 6, 24 chains in 31 registers (24
//    accumulators, 6 of x, 1 broadcast): three times the chains the FMA
//    latency needs, which also hides the broadcasts' loads. Measured on a
//    16-core Xeon (two 512-bit FMA units), medians of 6 runs, 1 and 16
//    threads, N = 4000 and 8000, f32 and f64: W = 6 was the fastest in 7 of
//    the 8 cases (16 threads, GFLOP/s for W = 3 / 4 / 6: f32 N = 4000 1203 /
//    1101 / 1260, f64 N = 8000 645 / 582 / 686; f32 N = 8000 1302 / 1350 /
//    1327) and the steadiest; on a Zen 4 all three run at its peak.
constexpr int kFusedSums = 4;
static_assert(kFusedSums == 4, "CombinePartials and FusedBlockSimd combine exactly four partials");

// p0 + p1, (p0 + p1) + p2 or (p0 + p1) + (p2 + p3) for `used` partials.
template <typename T>
FLOPD_ALWAYS_INLINE T CombinePartials(T p0, T p1, T p2, T p3, int64_t used) {
  if (used == 1) return p0;
  const T low = p0 + p1;
  if (used == 2) return low;
  if (used == 3) return low + p2;
  return low + (p2 + p3);
}

// The generic variant: B owned outputs (B lanes for the vectorizer, plain
// mul and add, so the baseline target contracts nothing).
template <typename T>
constexpr int64_t kGenericOwned = 32 / sizeof(T);

template <typename T, int64_t B>
FLOPD_ALWAYS_INLINE void FusedBlockGeneric(const T* __restrict s, int64_t n,
                                           const T* __restrict x, T* __restrict out) {
  T acc[kFusedSums][B] = {};  // the partials past N (N < 4) stay unused
  const int64_t used = std::min<int64_t>(n, kFusedSums);
  for (int64_t r = 0; r < used; ++r) {
    const T sk = s[r];
    for (int64_t l = 0; l < B; ++l) acc[r][l] = sk * x[l];
  }
  int64_t k = kFusedSums;
  for (; k + kFusedSums <= n; k += kFusedSums) {
    for (int r = 0; r < kFusedSums; ++r) {
      const T sk = s[k + r];
      for (int64_t l = 0; l < B; ++l) acc[r][l] += sk * x[l];
    }
  }
  for (int r = 0; k + r < n; ++r) {
    const T sk = s[k + r];
    for (int64_t l = 0; l < B; ++l) acc[r][l] += sk * x[l];
  }
  for (int64_t l = 0; l < B; ++l) {
    out[l] = CombinePartials(acc[0][l], acc[1][l], acc[2][l], acc[3][l], used);
  }
}

// The owned range [o0, o1) in blocks of B, the ragged end through a
// zero-padded copy (its extra lanes are computed and dropped).
template <typename T>
FLOPD_ALWAYS_INLINE void FusedOuterBodyGeneric(const T* __restrict s, const T* __restrict x,
                                               int64_t n, int64_t o0, int64_t o1,
                                               T* __restrict out) {
  constexpr int64_t kB = kGenericOwned<T>;
  int64_t o = o0;
  for (; o + kB <= o1; o += kB) FusedBlockGeneric<T, kB>(s, n, x + o, out + o);
  if (o < o1) {
    T xs[kB] = {};
    T os[kB];
    for (int64_t l = 0; o + l < o1; ++l) xs[l] = x[o + l];
    FusedBlockGeneric<T, kB>(s, n, xs, os);
    for (int64_t l = 0; o + l < o1; ++l) out[o + l] = os[l];
  }
}

#if FLOPD_HAVE_AVX2_VARIANT
// Vector operations on T, one struct per ISA: 256-bit AVX2+FMA and 512-bit
// AVX-512F. Each operation carries its ISA's target (see the top of the file).
template <typename T>
struct Avx2;
template <>
struct Avx2<float> {
  using V = __m256;
  static constexpr int64_t kLanes = 8;
  FLOPD_TARGET_AVX2_FMA static V Load(const float* p) { return _mm256_loadu_ps(p); }
  FLOPD_TARGET_AVX2_FMA static void Store(float* p, V a) { _mm256_storeu_ps(p, a); }
  FLOPD_TARGET_AVX2_FMA static V Broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  FLOPD_TARGET_AVX2_FMA static V Mul(V a, V b) { return _mm256_mul_ps(a, b); }
  FLOPD_TARGET_AVX2_FMA static V Fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  FLOPD_TARGET_AVX2_FMA static V Add(V a, V b) { return _mm256_add_ps(a, b); }
};
template <>
struct Avx2<double> {
  using V = __m256d;
  static constexpr int64_t kLanes = 4;
  FLOPD_TARGET_AVX2_FMA static V Load(const double* p) { return _mm256_loadu_pd(p); }
  FLOPD_TARGET_AVX2_FMA static void Store(double* p, V a) { _mm256_storeu_pd(p, a); }
  FLOPD_TARGET_AVX2_FMA static V Broadcast(const double* p) { return _mm256_broadcast_sd(p); }
  FLOPD_TARGET_AVX2_FMA static V Mul(V a, V b) { return _mm256_mul_pd(a, b); }
  FLOPD_TARGET_AVX2_FMA static V Fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  FLOPD_TARGET_AVX2_FMA static V Add(V a, V b) { return _mm256_add_pd(a, b); }
};
#endif  // FLOPD_HAVE_AVX2_VARIANT

#if FLOPD_HAVE_AVX512_VARIANT
template <typename T>
struct Avx512;
template <>
struct Avx512<float> {
  using V = __m512;
  static constexpr int64_t kLanes = 16;
  FLOPD_TARGET_AVX512F static V Load(const float* p) { return _mm512_loadu_ps(p); }
  FLOPD_TARGET_AVX512F static void Store(float* p, V a) { _mm512_storeu_ps(p, a); }
  FLOPD_TARGET_AVX512F static V Broadcast(const float* p) { return _mm512_set1_ps(*p); }
  FLOPD_TARGET_AVX512F static V Mul(V a, V b) { return _mm512_mul_ps(a, b); }
  FLOPD_TARGET_AVX512F static V Fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  FLOPD_TARGET_AVX512F static V Add(V a, V b) { return _mm512_add_ps(a, b); }
};
template <>
struct Avx512<double> {
  using V = __m512d;
  static constexpr int64_t kLanes = 8;
  FLOPD_TARGET_AVX512F static V Load(const double* p) { return _mm512_loadu_pd(p); }
  FLOPD_TARGET_AVX512F static void Store(double* p, V a) { _mm512_storeu_pd(p, a); }
  FLOPD_TARGET_AVX512F static V Broadcast(const double* p) { return _mm512_set1_pd(*p); }
  FLOPD_TARGET_AVX512F static V Mul(V a, V b) { return _mm512_mul_pd(a, b); }
  FLOPD_TARGET_AVX512F static V Fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  FLOPD_TARGET_AVX512F static V Add(V a, V b) { return _mm512_add_pd(a, b); }
};
#endif  // FLOPD_HAVE_AVX512_VARIANT

// Registers of owned outputs per block of the fused outer sum, per ISA (W in
// the comment above).
template <template <typename> class Vec>
constexpr int kFusedRegisters = 0;
#if FLOPD_HAVE_AVX2_VARIANT
template <>
constexpr int kFusedRegisters<Avx2> = 3;
#endif
#if FLOPD_HAVE_AVX512_VARIANT
template <>
constexpr int kFusedRegisters<Avx512> = 6;
#endif

// W registers of owned outputs: out[0, W * lanes) = sum_k s[k] * x[...].
template <template <typename> class Vec, typename T, int W>
FLOPD_ALWAYS_INLINE void FusedBlockSimd(const T* __restrict s, int64_t n, const T* __restrict x,
                                        T* __restrict out) {
  using A = Vec<T>;
  using V = typename A::V;
  V xv[W];
  V acc[kFusedSums][W];
#pragma GCC unroll 16
  for (int w = 0; w < W; ++w) xv[w] = A::Load(x + w * A::kLanes);
  const int64_t used = std::min<int64_t>(n, kFusedSums);
  if (used == kFusedSums) {
#pragma GCC unroll 16
    for (int r = 0; r < kFusedSums; ++r) {
      const V b = A::Broadcast(s + r);
#pragma GCC unroll 16
      for (int w = 0; w < W; ++w) acc[r][w] = A::Mul(b, xv[w]);
    }
  } else {  // N < 4: the partials past N stay unused (zeroed only to be defined)
#pragma GCC unroll 16
    for (int r = 0; r < kFusedSums; ++r) {
      const V b = r < used ? A::Broadcast(s + r) : V{};
#pragma GCC unroll 16
      for (int w = 0; w < W; ++w) acc[r][w] = r < used ? A::Mul(b, xv[w]) : V{};
    }
  }
  int64_t k = kFusedSums;
  for (; k + kFusedSums <= n; k += kFusedSums) {
#pragma GCC unroll 16
    for (int r = 0; r < kFusedSums; ++r) {
      const V b = A::Broadcast(s + k + r);
#pragma GCC unroll 16
      for (int w = 0; w < W; ++w) acc[r][w] = A::Fma(b, xv[w], acc[r][w]);
    }
  }
  // The last N mod 4 products (constant indices after unrolling, so the
  // accumulators stay in registers).
#pragma GCC unroll 16
  for (int r = 0; r < kFusedSums - 1; ++r) {
    if (k + r < n) {
      const V b = A::Broadcast(s + k + r);
#pragma GCC unroll 16
      for (int w = 0; w < W; ++w) acc[r][w] = A::Fma(b, xv[w], acc[r][w]);
    }
  }
  // CombinePartials, on vectors.
#pragma GCC unroll 16
  for (int w = 0; w < W; ++w) {
    V sum = acc[0][w];
    if (used >= 2) sum = A::Add(acc[0][w], acc[1][w]);
    if (used == 3) sum = A::Add(sum, acc[2][w]);
    if (used == 4) sum = A::Add(sum, A::Add(acc[2][w], acc[3][w]));
    A::Store(out + w * A::kLanes, sum);
  }
}

// The rest of an owned range (fewer than W registers, in `registers`
// registers) through its zero-padded copy xs, as that many registers but at
// least 2 (one register gives 4 chains, half the FMA rate, for the same time
// as two); the padding lanes are computed and dropped.
template <template <typename> class Vec, typename T, int W>
FLOPD_ALWAYS_INLINE void FusedTailSimd(const T* __restrict s, int64_t n, const T* __restrict xs,
                                       T* __restrict os, int64_t registers) {
  if constexpr (W > 2) {
    if (registers < W) {
      FusedTailSimd<Vec, T, W - 1>(s, n, xs, os, registers);
      return;
    }
  }
  FusedBlockSimd<Vec, T, W>(s, n, xs, os);
}

template <template <typename> class Vec, typename T>
FLOPD_ALWAYS_INLINE void FusedOuterBodySimd(const T* __restrict s, const T* __restrict x,
                                            int64_t n, int64_t o0, int64_t o1,
                                            T* __restrict out) {
  constexpr int kW = kFusedRegisters<Vec>;
  static_assert(kW >= 2, "kFusedRegisters has no entry for this ISA");
  constexpr int64_t kL = Vec<T>::kLanes;
  constexpr int64_t kB = kW * kL;
  int64_t o = o0;
  for (; o + kB <= o1; o += kB) FusedBlockSimd<Vec, T, kW>(s, n, x + o, out + o);
  const int64_t rest = o1 - o;
  if (rest > 0) {
    alignas(64) T xs[kB] = {};
    alignas(64) T os[kB];
    for (int64_t l = 0; l < rest; ++l) xs[l] = x[o + l];
    FusedTailSimd<Vec, T, kW>(s, n, xs, os, (rest + kL - 1) / kL);
    for (int64_t l = 0; l < rest; ++l) out[o + l] = os[l];
  }
}

// The compiled variants of each body (the reductions: generic and AVX2+FMA).
template <typename T>
void ColumnSumsGeneric(const T* p, int64_t n, int64_t c0, int64_t c1, T* out) {
  ColumnSumsBody(p, n, c0, c1, out);
}
template <typename T>
FLOPD_TARGET_AVX2_FMA void ColumnSumsAvx2(const T* p, int64_t n, int64_t c0, int64_t c1, T* out) {
  ColumnSumsBody(p, n, c0, c1, out);
}
template <typename T>
void RowSumsGeneric(const T* p, int64_t n, int64_t r0, int64_t r1, T* out) {
  RowSumsBody(p, n, r0, r1, out);
}
template <typename T>
FLOPD_TARGET_AVX2_FMA void RowSumsAvx2(const T* p, int64_t n, int64_t r0, int64_t r1, T* out) {
  RowSumsBody(p, n, r0, r1, out);
}
template <typename T>
void FusedOuterGeneric(const T* s, const T* x, int64_t n, int64_t o0, int64_t o1, T* out) {
  FusedOuterBodyGeneric(s, x, n, o0, o1, out);
}
#if FLOPD_HAVE_AVX2_VARIANT
template <typename T>
FLOPD_TARGET_AVX2_FMA FLOPD_FLATTEN void FusedOuterAvx2(const T* s, const T* x, int64_t n,
                                                        int64_t o0, int64_t o1, T* out) {
  FusedOuterBodySimd<Avx2>(s, x, n, o0, o1, out);
}
#endif
#if FLOPD_HAVE_AVX512_VARIANT
template <typename T>
FLOPD_TARGET_AVX512F FLOPD_FLATTEN void FusedOuterAvx512(const T* s, const T* x, int64_t n,
                                                         int64_t o0, int64_t o1, T* out) {
  FusedOuterBodySimd<Avx512>(s, x, n, o0, o1, out);
}
#endif

// ---------------------------------------------------------------------------
// chain: out[i] = x[i] taken through `steps` steps y <- a y + b (kChainA,
// kChainB), for i in [begin, end). `in` may be `out` (the unfused passes work
// in place after the first).

// Generic: one multiplication and one addition per step (two roundings; the
// compiler contracts them into an FMA where the target has one).
template <typename T>
FLOPD_ALWAYS_INLINE void ChainBodyGeneric(const T* in, T* out, int64_t begin, int64_t end,
                                          int64_t steps) {
  const T a = static_cast<T>(kChainA);
  const T b = static_cast<T>(kChainB);
  constexpr int64_t kB = 32 / sizeof(T);
  int64_t i = begin;
  for (; i + kB <= end; i += kB) {
    T y[kB];
    for (int64_t e = 0; e < kB; ++e) y[e] = in[i + e];
    for (int64_t step = 0; step < steps; ++step) {
      for (int64_t e = 0; e < kB; ++e) y[e] = a * y[e] + b;
    }
    for (int64_t e = 0; e < kB; ++e) out[i + e] = y[e];
  }
  for (; i < end; ++i) {
    T y = in[i];
    for (int64_t step = 0; step < steps; ++step) y = a * y + b;
    out[i] = y;
  }
}

template <typename T>
void ChainGeneric(const T* in, T* out, int64_t begin, int64_t end, int64_t steps) {
  ChainBodyGeneric(in, out, begin, end, steps);
}

// AVX2+FMA and AVX-512F: one fused multiply-add per step (one rounding), so
// the two give the same bits. kChainRegisters vectors of the block stay in
// registers through all the steps: 12 chains cover the FMA latency (4 cycles
// at 2 per cycle) with room to spare, and leave registers for a and b.
constexpr int kChainRegisters = 12;

template <template <typename> class Vec, typename T>
FLOPD_ALWAYS_INLINE void ChainBodySimd(const T* in, T* out, int64_t begin, int64_t end,
                                       int64_t steps) {
  using A = Vec<T>;
  constexpr int64_t kL = A::kLanes;
  const T ta = static_cast<T>(kChainA);
  const T tb = static_cast<T>(kChainB);
  const typename A::V a = A::Broadcast(&ta);
  const typename A::V b = A::Broadcast(&tb);
  int64_t i = begin;
  for (; i + kChainRegisters * kL <= end; i += kChainRegisters * kL) {
    typename A::V y[kChainRegisters];
    for (int r = 0; r < kChainRegisters; ++r) y[r] = A::Load(in + i + r * kL);
    for (int64_t step = 0; step < steps; ++step) {
      for (int r = 0; r < kChainRegisters; ++r) y[r] = A::Fma(a, y[r], b);
    }
    for (int r = 0; r < kChainRegisters; ++r) A::Store(out + i + r * kL, y[r]);
  }
  for (; i + kL <= end; i += kL) {
    typename A::V y = A::Load(in + i);
    for (int64_t step = 0; step < steps; ++step) y = A::Fma(a, y, b);
    A::Store(out + i, y);
  }
  for (; i < end; ++i) {
    T y = in[i];
    for (int64_t step = 0; step < steps; ++step) y = std::fma(ta, y, tb);  // in T, as the lanes
    out[i] = y;
  }
}

#if FLOPD_HAVE_AVX2_VARIANT
template <typename T>
FLOPD_TARGET_AVX2_FMA FLOPD_FLATTEN void ChainAvx2(const T* in, T* out, int64_t begin,
                                                   int64_t end, int64_t steps) {
  ChainBodySimd<Avx2>(in, out, begin, end, steps);
}
#endif
#if FLOPD_HAVE_AVX512_VARIANT
template <typename T>
FLOPD_TARGET_AVX512F FLOPD_FLATTEN void ChainAvx512(const T* in, T* out, int64_t begin,
                                                    int64_t end, int64_t steps) {
  ChainBodySimd<Avx512>(in, out, begin, end, steps);
}
#endif

// Whether a call runs the AVX2+FMA build: for kAvx2Fma, and for kAvx512F
// where a kernel has no AVX-512F build (the memory-bound reductions, which
// wider vectors would not speed up).
bool UseAvx2(KernelIsa isa) { return FLOPD_HAVE_AVX2_VARIANT && isa != KernelIsa::kGeneric; }
bool UseAvx512(KernelIsa isa) {
  return FLOPD_HAVE_AVX512_VARIANT && isa == KernelIsa::kAvx512F;
}

}  // namespace

KernelIsa BestKernelIsa() {
#if FLOPD_HAVE_AVX2_VARIANT
  static const KernelIsa isa = [] {
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
      return KernelIsa::kGeneric;
    }
#if FLOPD_HAVE_AVX512_VARIANT
    if (__builtin_cpu_supports("avx512f")) return KernelIsa::kAvx512F;
#endif
    return KernelIsa::kAvx2Fma;
  }();
  return isa;
#else
  return KernelIsa::kGeneric;
#endif
}

std::string_view KernelIsaName(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kGeneric:
      return "generic";
    case KernelIsa::kAvx2Fma:
      return "avx2+fma";
    case KernelIsa::kAvx512F:
      return "avx512f";
  }
  return "generic";
}

template <typename T>
void ReduceColumns(const T* p, int64_t n, T* out, int threads, KernelIsa isa) {
  const auto body = UseAvx2(isa) ? &ColumnSumsAvx2<T> : &ColumnSumsGeneric<T>;
  ParallelParts(n, kLineElements<T>, threads,
                [&](int64_t begin, int64_t end) { body(p, n, begin, end, out); });
}

template <typename T>
void ReduceRows(const T* p, int64_t n, T* out, int threads, KernelIsa isa) {
  const auto body = UseAvx2(isa) ? &RowSumsAvx2<T> : &RowSumsGeneric<T>;
  ParallelParts(n, kLineElements<T>, threads,
                [&](int64_t begin, int64_t end) { body(p, n, begin, end, out); });
}

template <typename T>
void FusedOuterSum(const T* u, const T* v, int64_t n, int axis, T* out, int threads,
                   KernelIsa isa) {
  // The owned vector x and the summed one s (see FusedBlockSimd's comment).
  const T* x = axis == 0 ? v : u;
  const T* s = axis == 0 ? u : v;
  auto body = &FusedOuterGeneric<T>;
#if FLOPD_HAVE_AVX2_VARIANT
  if (UseAvx2(isa)) body = &FusedOuterAvx2<T>;
#endif
#if FLOPD_HAVE_AVX512_VARIANT
  if (UseAvx512(isa)) body = &FusedOuterAvx512<T>;
#endif
  // Equal parts of whole cache lines of the output (the work per output is
  // the same N steps), so parts never share a written line.
  ParallelParts(n, kLineElements<T>, threads,
                [&](int64_t begin, int64_t end) { body(s, x, n, begin, end, out); });
}

template <typename T>
void ChainSteps(const T* x, int64_t n, int64_t steps, bool fused, T* out, int threads,
                KernelIsa isa) {
  auto body = &ChainGeneric<T>;
#if FLOPD_HAVE_AVX2_VARIANT
  if (UseAvx2(isa)) body = &ChainAvx2<T>;
#endif
#if FLOPD_HAVE_AVX512_VARIANT
  if (UseAvx512(isa)) body = &ChainAvx512<T>;
#endif
  if (fused) {
    ParallelParts(n, kLineElements<T>, threads,
                  [&](int64_t begin, int64_t end) { body(x, out, begin, end, steps); });
    return;
  }
  // One pass per step, each a separate call over the whole vector; the same
  // parts every pass, so each thread rereads what it wrote.
  for (int64_t step = 0; step < steps; ++step) {
    const T* in = step == 0 ? x : out;
    ParallelParts(n, kLineElements<T>, threads,
                  [&](int64_t begin, int64_t end) { body(in, out, begin, end, 1); });
  }
}

template void ReduceColumns<float>(const float*, int64_t, float*, int, KernelIsa);
template void ReduceColumns<double>(const double*, int64_t, double*, int, KernelIsa);
template void ReduceRows<float>(const float*, int64_t, float*, int, KernelIsa);
template void ReduceRows<double>(const double*, int64_t, double*, int, KernelIsa);
template void FusedOuterSum<float>(const float*, const float*, int64_t, int, float*, int,
                                   KernelIsa);
template void FusedOuterSum<double>(const double*, const double*, int64_t, int, double*, int,
                                    KernelIsa);
template void ChainSteps<float>(const float*, int64_t, int64_t, bool, float*, int, KernelIsa);
template void ChainSteps<double>(const double*, int64_t, int64_t, bool, double*, int, KernelIsa);

// ---------------------------------------------------------------------------
// Dispatch: the code that runs each catalog kernel on the CPU.

namespace {

void Gemv(int64_t n, const float* a, const float* x, float* y) {
  cblas_sgemv(CblasRowMajor, CblasNoTrans, n, n, 1.0f, a, n, x, 1, 0.0f, y, 1);
}
void Gemv(int64_t n, const double* a, const double* x, double* y) {
  cblas_dgemv(CblasRowMajor, CblasNoTrans, n, n, 1.0, a, n, x, 1, 0.0, y, 1);
}

// Row-major C (m x cols, ldc) = A (m x k, lda) * B (k x cols, ldb); beta 0.
void Gemm(int64_t m, int64_t cols, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, cols, k, 1.0f, a, lda, b, ldb, 0.0f, c,
              ldc);
}
void Gemm(int64_t m, int64_t cols, int64_t k, const double* a, int64_t lda, const double* b,
          int64_t ldb, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, cols, k, 1.0, a, lda, b, ldb, 0.0, c,
              ldc);
}

// Row-major Y (B x N) = X (B x N) * A^T: y_b = A x_b for the B vectors of X.
void GemmWithTransposedA(int64_t n, int64_t batch, const float* a, const float* x, float* y) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, n, n, 1.0f, x, n, a, n, 0.0f, y, n);
}
void GemmWithTransposedA(int64_t n, int64_t batch, const double* a, const double* x, double* y) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, n, n, 1.0, x, n, a, n, 0.0, y, n);
}

}  // namespace

bool CpuImplements(Kernel kernel) {
  switch (kernel) {
    case Kernel::kMatvecGemv:
    case Kernel::kMatvecGemm:
    case Kernel::kOuterLibrary:
    case Kernel::kOuterFused:
    case Kernel::kChainUnfused:
    case Kernel::kChainFused:
    case Kernel::kBatchedMvLoop:
    case Kernel::kBatchedMvGemm:
    case Kernel::kAttentionMaterialized:
    case Kernel::kAttentionFused:
      return true;
    case Kernel::kMatvecCustom:
    case Kernel::kBatchedMvCustom:
    case Kernel::kNone:
      return false;
  }
  return false;
}

template <typename T>
void RunCpuKernel(const CpuKernelArgs<T>& args) {
  const PointSpec& point = *args.point;
  const int64_t n = point.n;
  switch (point.kernel) {
    case Kernel::kMatvecGemv:  // y = A x
      Gemv(n, args.inputs[0], args.inputs[1], args.out);
      break;
    case Kernel::kMatvecGemm:  // y (N x 1) = A (N x N) * x (N x 1), as torch.mm(A, x)
      Gemm(n, 1, n, args.inputs[0], n, args.inputs[1], 1, args.out, 1);
      break;
    case Kernel::kOuterLibrary:  // P (N x N) = u (N x 1) * v (1 x N), k = 1; then sum P
      Gemm(n, n, 1, args.inputs[0], 1, args.inputs[1], n, args.temp, n);
      if (point.Param("axis") == 0) {
        ReduceColumns(args.temp, n, args.out, args.threads);
      } else {
        ReduceRows(args.temp, n, args.out, args.threads);
      }
      break;
    case Kernel::kOuterFused:
      FusedOuterSum(args.inputs[0], args.inputs[1], n, static_cast<int>(point.Param("axis")),
                    args.out, args.threads);
      break;
    case Kernel::kChainUnfused:
    case Kernel::kChainFused:
      ChainSteps(args.inputs[0], n, point.Param("k"), point.kernel == Kernel::kChainFused,
                 args.out, args.threads);
      break;
    case Kernel::kBatchedMvLoop:  // y_b = A x_b, one gemv per vector
      for (int64_t b = 0; b < point.Param("B"); ++b) {
        Gemv(n, args.inputs[0], args.inputs[1] + b * n, args.out + b * n);
      }
      break;
    case Kernel::kBatchedMvGemm:  // all B at once: Y = X A^T in row-major terms
      GemmWithTransposedA(n, point.Param("B"), args.inputs[0], args.inputs[1], args.out);
      break;
    case Kernel::kAttentionMaterialized:  // the scores and l in the catalog's scratch
      AttentionMaterialized(args.inputs[0], args.inputs[1], args.inputs[2], n,
                            static_cast<int>(point.Param("d")), args.temp, args.out,
                            args.threads);
      break;
    case Kernel::kAttentionFused:
      AttentionFused(args.inputs[0], args.inputs[1], args.inputs[2], n,
                     static_cast<int>(point.Param("d")), args.out, args.threads);
      break;
    case Kernel::kMatvecCustom:
    case Kernel::kBatchedMvCustom:
    case Kernel::kNone:
      break;  // not offered on the CPU: CpuImplements is false
  }
}

template void RunCpuKernel<float>(const CpuKernelArgs<float>&);
template void RunCpuKernel<double>(const CpuKernelArgs<double>&);

}  // namespace flopd
