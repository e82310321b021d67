#include "server/backend/cpu/cpu_kernels.h"

#include <cblas.h>

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "common/op_catalog.h"
#include "server/backend/cpu/attention_kernels.h"
#include "server/backend/cpu/thread_team.h"

// Each kernel body below is written once, as an always-inline template, and
// compiled twice: inlined into a wrapper built for AVX2+FMA and into one built
// for the baseline target. Each call picks a wrapper by its KernelIsa
// argument (BestKernelIsa() by default), so tests can run both variants on
// one machine, which target_clones' hidden dispatch would not allow.
#if defined(__x86_64__) || defined(__i386__)
#define FLOPD_HAVE_AVX2_VARIANT 1
#define FLOPD_TARGET_AVX2_FMA __attribute__((target("avx2,fma")))
#else
#define FLOPD_HAVE_AVX2_VARIANT 0
#define FLOPD_TARGET_AVX2_FMA
#endif
#define FLOPD_ALWAYS_INLINE inline __attribute__((always_inline))

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
// add each in the AVX2+FMA variant; a multiplication then an addition in
// the generic one); the partials are combined as (p0 + p1) + (p2 + p3)
// (with N < 4 only the first N partials exist: p0, p0 + p1, (p0 + p1) + p2).
// Additions per output: (N - 4) + 3 = N - 1 (N - 1 for N < 4 too).
//
// The AVX2 variant keeps a block of W registers of owned outputs (x) in
// registers and W * kFusedSums accumulators, so each step is one broadcast
// of s[k] (streamed from L1) and W independent FMAs; W = 3 and 4 partial
// sums make 12 independent FMA chains (2 FMA pipes x 4-5 cycles of latency
// need 8-10) in 16 registers: 12 accumulators, 3 of x, 1 broadcast.
constexpr int kFusedSums = 4;
static_assert(kFusedSums == 4, "CombinePartials and FusedBlockAvx2 combine exactly four partials");
constexpr int kFusedRegisters = 3;

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
// 256-bit operations on T, for the AVX2+FMA variant.
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

// W registers of owned outputs: out[0, W * lanes) = sum_k s[k] * x[...].
template <typename T, int W>
FLOPD_TARGET_AVX2_FMA FLOPD_ALWAYS_INLINE void FusedBlockAvx2(const T* __restrict s, int64_t n,
                                                               const T* __restrict x,
                                                               T* __restrict out) {
  using A = Avx2<T>;
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

template <typename T>
FLOPD_TARGET_AVX2_FMA FLOPD_ALWAYS_INLINE void FusedOuterBodyAvx2(const T* __restrict s,
                                                                   const T* __restrict x,
                                                                   int64_t n, int64_t o0,
                                                                   int64_t o1, T* __restrict out) {
  constexpr int64_t kL = Avx2<T>::kLanes;
  constexpr int64_t kB = kFusedRegisters * kL;
  int64_t o = o0;
  for (; o + kB <= o1; o += kB) FusedBlockAvx2<T, kFusedRegisters>(s, n, x + o, out + o);
  // The rest (< 3 registers) through a zero-padded copy, as 2 or 3 registers
  // (one register would give 4 chains, half the FMA rate, for the same time
  // as two); the padding lanes are computed and dropped.
  const int64_t rest = o1 - o;
  if (rest > 0) {
    alignas(32) T xs[kB] = {};
    alignas(32) T os[kB];
    for (int64_t l = 0; l < rest; ++l) xs[l] = x[o + l];
    if (rest <= 2 * kL) {
      FusedBlockAvx2<T, 2>(s, n, xs, os);
    } else {
      FusedBlockAvx2<T, kFusedRegisters>(s, n, xs, os);
    }
    for (int64_t l = 0; l < rest; ++l) out[o + l] = os[l];
  }
}
#endif  // FLOPD_HAVE_AVX2_VARIANT

// The two compiled variants of each body.
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
FLOPD_TARGET_AVX2_FMA void FusedOuterAvx2(const T* s, const T* x, int64_t n, int64_t o0,
                                          int64_t o1, T* out) {
  FusedOuterBodyAvx2(s, x, n, o0, o1, out);
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

#if FLOPD_HAVE_AVX2_VARIANT
// AVX2+FMA: one fused multiply-add per step (one rounding). kChainRegisters
// vectors of the block stay in registers through all the steps: 12 chains
// cover the FMA latency (4 cycles at 2 per cycle) with room to spare, and
// leave registers for a and b.
constexpr int kChainRegisters = 12;

template <typename T>
FLOPD_TARGET_AVX2_FMA void ChainAvx2(const T* in, T* out, int64_t begin, int64_t end,
                                     int64_t steps) {
  using A = Avx2<T>;
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
    for (int64_t step = 0; step < steps; ++step) y = __builtin_fma(ta, y, tb);
    out[i] = y;
  }
}
#endif

bool UseAvx2(KernelIsa isa) { return FLOPD_HAVE_AVX2_VARIANT && isa == KernelIsa::kAvx2Fma; }

}  // namespace

KernelIsa BestKernelIsa() {
#if FLOPD_HAVE_AVX2_VARIANT
  static const KernelIsa isa = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
                                   ? KernelIsa::kAvx2Fma
                                   : KernelIsa::kGeneric;
  return isa;
#else
  return KernelIsa::kGeneric;
#endif
}

std::string_view KernelIsaName(KernelIsa isa) {
  return isa == KernelIsa::kAvx2Fma ? "avx2+fma" : "generic";
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
  // The owned vector x and the summed one s (see FusedBlockAvx2's comment).
  const T* x = axis == 0 ? v : u;
  const T* s = axis == 0 ? u : v;
  auto body = &FusedOuterGeneric<T>;
#if FLOPD_HAVE_AVX2_VARIANT
  if (UseAvx2(isa)) body = &FusedOuterAvx2<T>;
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
    case Kernel::kNone:
      break;  // not offered on the CPU: CpuImplements is false
  }
}

template void RunCpuKernel<float>(const CpuKernelArgs<float>&);
template void RunCpuKernel<double>(const CpuKernelArgs<double>&);

}  // namespace flopd
