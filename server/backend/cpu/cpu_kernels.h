// The CPU backend's kernels: RunCpuKernel executes any kernel the catalog
// lists for the cpu backend (OpenBLAS for the library impls), and below it
// flopd's own kernels: the reductions that follow the library's outer
// product, and the fused outer-product-and-sum. They sit beside OpenBLAS in
// the benchmark, so they are built to be as fast as it is: multithreaded (on
// the ThreadTeam of thread_team.h, which shares the cores politely with
// OpenBLAS's own threads) and vectorized, with AVX2+FMA or AVX-512F code
// chosen at run time by what the CPU has (the binary itself targets baseline
// x86-64, so it runs anywhere).
//
// Honest arithmetic: every kernel performs exactly the op's stated FLOPs.
// Each output is a sum of N terms computed with exactly N-1 additions: every
// partial accumulator (a vector lane, a set of lanes) starts at its first
// term, never at 0, the partials are combined at the end, and no algebraic
// shortcut (such as v_j * sum_i u_i) is taken. The fused kernels do all N^2
// products u_i * v_j. The compiler may contract a multiply followed by an add
// into one FMA (GCC's default for C++); an FMA still performs one
// multiplication and one addition. No fast-math flag is used, so the order of
// additions is the one written in cpu_kernels.cc.
//
// Layout: matrices are row-major N x N, element (i, j) at i * N + j, as in
// common/op_catalog.h.
//
// Threads: each call splits its outputs into `threads` equal contiguous parts
// (at cache-line boundaries) and runs them on the shared ThreadTeam, part 0 on
// the calling thread. `threads` may exceed the CPUs (it then time-slices).
//
// Thread-safety: the kernels keep no state; calls from several threads are
// safe (the team serializes them).
#ifndef FLOPD_SERVER_BACKEND_CPU_CPU_KERNELS_H_
#define FLOPD_SERVER_BACKEND_CPU_CPU_KERNELS_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/point.h"

namespace flopd {

// The buffers of one execution, laid out as the catalog says
// (common/op_catalog.h: OpSpec::inputs, ::output, ImplSpec::temp_elements).
template <typename T>
struct CpuKernelArgs {
  const PointSpec* point = nullptr;
  std::vector<const T*> inputs;
  T* out = nullptr;
  T* temp = nullptr;  // null when the impl needs no scratch
  int threads = 1;
};

// Whether RunCpuKernel implements `kernel`.
bool CpuImplements(Kernel kernel);

// Executes the point's kernel once. OpenBLAS must already be set to
// args.threads threads (openblas_set_num_threads).
// REQUIRES: CpuImplements(args.point->kernel), buffers as above.
template <typename T>
void RunCpuKernel(const CpuKernelArgs<T>& args);

// The instruction set a kernel call uses.
enum class KernelIsa {
  kGeneric,  // baseline x86-64 (SSE2), or whatever the compiler targets
  kAvx2Fma,  // 256-bit AVX2 with fused multiply-add
  kAvx512F,  // 512-bit AVX-512F (with AVX2 and FMA): FusedOuterSum and
             // ChainSteps; the memory-bound reductions (ReduceColumns,
             // ReduceRows) and AttentionFused (attention_kernels.h) have no
             // AVX-512 build and run their AVX2+FMA one
};

// kAvx512F when the CPU running this process supports AVX-512F, AVX2 and FMA
// (and this build has the AVX-512F variant: GCC on x86); else kAvx2Fma when
// it supports both AVX2 and FMA; else kGeneric. Detected once; thread-safe.
KernelIsa BestKernelIsa();

// "avx512f" | "avx2+fma" | "generic".
std::string_view KernelIsaName(KernelIsa isa);

// Column sums (axis 0): out[j] = sum_i p[i * n + j] for j in [0, n).
// Threads own disjoint column ranges; within one, a block of columns whose
// accumulators (the block of `out` itself) stays in L1 while the rows stream
// through it, so the matrix is read once, sequentially within each row
// segment. N-1 additions per output.
// REQUIRES: n >= 1, threads >= 1, `out` does not overlap `p`.
template <typename T>
void ReduceColumns(const T* p, int64_t n, T* out, int threads, KernelIsa isa = BestKernelIsa());

// Row sums (axis 1): out[i] = sum_j p[i * n + j] for i in [0, n).
// Threads own disjoint row ranges and sum two rows at a time, each into
// independent lane accumulators (4 AVX2 registers per row; kAvx512F runs
// the AVX2 code) combined pairwise at the end. N-1 additions per output.
// REQUIRES: n >= 1, threads >= 1, `out` does not overlap `p`.
template <typename T>
void ReduceRows(const T* p, int64_t n, T* out, int threads, KernelIsa isa = BestKernelIsa());

// The outer product P = u v^T summed over `axis` without forming P:
//   axis 0: out[j] = sum_i u[i] * v[j]
//   axis 1: out[i] = sum_j u[i] * v[j]
// Every product u[i] * v[j] is computed (N^2 multiplications) and every sum
// takes N-1 additions; the inputs and output (3N elements) are the only
// memory touched. Both axes are one kernel: out[o] = sum_k s[k] * x[o] with
// x the vector that owns the outputs (v for axis 0, u for axis 1) and s the
// one summed over (u, resp. v); u[i] * v[j] == v[j] * u[i] exactly, so axis
// 1 is axis 0 with u and v swapped, bit for bit.
// Sum order (fixed; the same for every output, both axes, any thread count
// and ISA): the products go to 4 partial sums by k mod 4; partial r starts at
// s[r] * x[o] and adds s[k] * x[o] for k = r + 4, r + 8, ... in increasing k
// (AVX2+FMA and AVX-512F: one fused multiply-add per product, rounded once,
// so the two give the same bits; generic: a multiplication then an
// addition); the result is (p0 + p1) + (p2 + p3) (N < 4: p0, p0 + p1,
// (p0 + p1) + p2). The vector code keeps W registers of owned x and their 4W
// accumulators in registers and streams s from L1: W = 3 with AVX2 (12
// accumulators of 16 ymm registers), W = 6 with AVX-512F (24 of 32 zmm).
// REQUIRES: n >= 1, axis is 0 or 1, threads >= 1, `out` overlaps neither input.
template <typename T>
void FusedOuterSum(const T* u, const T* v, int64_t n, int axis, T* out, int threads,
                   KernelIsa isa = BestKernelIsa());

// chain: out[i] = x[i] taken through `steps` steps y <- a y + b (kChainA,
// kChainB of common/op_catalog.h). Fused: one pass, each block of the vector
// kept in registers through all the steps. Unfused: `steps` passes over the
// whole vector, the first from x into out, the others in place, each one call
// on the team (as separate library calls would be). The same arithmetic
// either way: AVX2+FMA and AVX-512F one fused multiply-add per step (the
// same bits); generic a multiplication then an addition (contracted where
// the target has FMA).
// REQUIRES: n >= 1, steps >= 1, threads >= 1, `out` does not overlap `x`.
template <typename T>
void ChainSteps(const T* x, int64_t n, int64_t steps, bool fused, T* out, int threads,
                KernelIsa isa = BestKernelIsa());

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CPU_CPU_KERNELS_H_
