#include "server/backend/cpu/cpu_kernels.h"

#include <cblas.h>

#include <algorithm>

#include "common/op_catalog.h"
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
// share the loads of a common operand (the fused kernel's v) and give the
// hardware prefetcher several streams to follow, which a single thread
// needs to approach the memory bandwidth.
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

// Fused column sums: columns per register block (4 AVX2 registers).
template <typename T>
constexpr int64_t kFusedBlock = 128 / sizeof(T);

// out[j] = sum_i u[i] * v[j] for j in [c0, c1). A block of kFusedBlock<T>
// columns has two sets of accumulators in registers, one for even and one
// for odd i (8 independent FMA chains, enough to hide the FMA latency, with
// the block of v in registers too). Each set starts at its first product and
// the two are added at the end: (ceil(n/2) - 1) + (floor(n/2) - 1) + 1 = n - 1
// additions per output.
template <typename T>
FLOPD_ALWAYS_INLINE void FusedColumnSumsBody(const T* __restrict u, const T* __restrict v,
                                             int64_t n, int64_t c0, int64_t c1, T* __restrict out) {
  constexpr int64_t kB = kFusedBlock<T>;
  int64_t jb = c0;
  for (; jb + kB <= c1 && n >= 2; jb += kB) {
    const T* __restrict vb = v + jb;
    T even[kB];
    T odd[kB];
    const T u0 = u[0];
    const T u1 = u[1];
    for (int64_t l = 0; l < kB; ++l) even[l] = u0 * vb[l];
    for (int64_t l = 0; l < kB; ++l) odd[l] = u1 * vb[l];
    int64_t i = 2;
    for (; i + 2 <= n; i += 2) {
      const T ue = u[i];
      const T uo = u[i + 1];
      for (int64_t l = 0; l < kB; ++l) even[l] += ue * vb[l];
      for (int64_t l = 0; l < kB; ++l) odd[l] += uo * vb[l];
    }
    if (i < n) {
      const T ue = u[i];
      for (int64_t l = 0; l < kB; ++l) even[l] += ue * vb[l];
    }
    for (int64_t l = 0; l < kB; ++l) out[jb + l] = even[l] + odd[l];
  }
  // The ragged end of the range (or n == 1): one accumulator per column.
  if (jb < c1) {
    const int64_t width = c1 - jb;
    const T* __restrict vb = v + jb;
    T* __restrict acc = out + jb;
    const T u0 = u[0];
    for (int64_t l = 0; l < width; ++l) acc[l] = u0 * vb[l];
    for (int64_t i = 1; i < n; ++i) {
      const T ui = u[i];
      for (int64_t l = 0; l < width; ++l) acc[l] += ui * vb[l];
    }
  }
}

// out[i] = sum_j u[i] * v[j] for i in [r0, r1).
template <typename T>
FLOPD_ALWAYS_INLINE void FusedRowSumsBody(const T* __restrict u, const T* __restrict v, int64_t n,
                                          int64_t r0, int64_t r1, T* __restrict out) {
  int64_t i = r0;
  if (n >= kLanes<T> / kRowsPerPass) {
    for (; i + kRowsPerPass <= r1; i += kRowsPerPass) {
      T ui[kRowsPerPass];
      for (int r = 0; r < kRowsPerPass; ++r) ui[r] = u[i + r];
      SumRowsLanes<T, kRowsPerPass>(
          n, [&ui, v](int r, int64_t j) { return ui[r] * v[j]; }, out + i);
    }
  }
  for (; i < r1; ++i) {
    const T ui = u[i];
    out[i] = SumLanes<T>(n, [ui, v](int64_t j) { return ui * v[j]; });
  }
}

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
void FusedColumnSumsGeneric(const T* u, const T* v, int64_t n, int64_t c0, int64_t c1, T* out) {
  FusedColumnSumsBody(u, v, n, c0, c1, out);
}
template <typename T>
FLOPD_TARGET_AVX2_FMA void FusedColumnSumsAvx2(const T* u, const T* v, int64_t n, int64_t c0,
                                               int64_t c1, T* out) {
  FusedColumnSumsBody(u, v, n, c0, c1, out);
}
template <typename T>
void FusedRowSumsGeneric(const T* u, const T* v, int64_t n, int64_t r0, int64_t r1, T* out) {
  FusedRowSumsBody(u, v, n, r0, r1, out);
}
template <typename T>
FLOPD_TARGET_AVX2_FMA void FusedRowSumsAvx2(const T* u, const T* v, int64_t n, int64_t r0,
                                            int64_t r1, T* out) {
  FusedRowSumsBody(u, v, n, r0, r1, out);
}

// Runs body(begin, end) on `threads` threads of the shared team, each over its
// own contiguous part of [0, total); part boundaries are multiples of
// `align`. Static and equal parts: the work per element is uniform, and part
// t always runs on the same thread, the one that first touched its memory.
template <typename Body>
void ParallelParts(int64_t total, int64_t align, int threads, const Body& body) {
  const int64_t chunks = (total + align - 1) / align;
  const auto part_body = [&](int64_t index, int64_t parts) {
    const int64_t begin = std::min(total, chunks * index / parts * align);
    const int64_t end = std::min(total, chunks * (index + 1) / parts * align);
    if (begin < end) body(begin, end);
  };
  ThreadTeam::Shared().Run(threads, part_body);
}

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
  if (axis == 0) {
    const auto body = UseAvx2(isa) ? &FusedColumnSumsAvx2<T> : &FusedColumnSumsGeneric<T>;
    // Parts of whole register blocks, so only the last part has a ragged end.
    ParallelParts(n, kFusedBlock<T>, threads,
                  [&](int64_t begin, int64_t end) { body(u, v, n, begin, end, out); });
  } else {
    const auto body = UseAvx2(isa) ? &FusedRowSumsAvx2<T> : &FusedRowSumsGeneric<T>;
    ParallelParts(n, kLineElements<T>, threads,
                  [&](int64_t begin, int64_t end) { body(u, v, n, begin, end, out); });
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

}  // namespace

bool CpuImplements(Kernel kernel) {
  switch (kernel) {
    case Kernel::kMatvecGemv:
    case Kernel::kMatvecGemm:
    case Kernel::kOuterLibrary:
    case Kernel::kOuterFused:
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
    case Kernel::kMatvecCustom:
    case Kernel::kNone:
      break;  // not offered on the CPU: CpuImplements is false
  }
}

template void RunCpuKernel<float>(const CpuKernelArgs<float>&);
template void RunCpuKernel<double>(const CpuKernelArgs<double>&);

}  // namespace flopd
