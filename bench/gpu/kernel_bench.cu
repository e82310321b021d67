// flopd_gpu_kernel_bench: timings below the Device interface, to choose
// between designs in one GPU run (NOTES.md records what it showed).
//   1. The fused outer kernel: every compiled outputs-per-lane variant and a
//      few splits at several N, hot (back-to-back launches) and in a graph,
//      next to the kernel as first committed (fused_baseline.cuh, same run)
//      and a register-only FFMA loop (the ceiling).
//   2. outer/library's k = 1 GEMM: cuBLAS's Sgemm in the four operand
//      orders that write the same row-major P, cublasGemmEx's default
//      algorithm (ids 0-23 were all as slow or slower: NOTES.md), and every
//      algorithm cublasLt's heuristic offers; next to a memset and a plain
//      kernel writing P (the write floors), our column/row sums alone, the
//      whole library impl in both orders, and f64's Dgemm in two orders.
//   3. (--balanced only) The balanced ("stream-K") candidate of issue 12
//      (fused_balanced.cuh), every compiled variant against today's kernel
//      (LaunchOuterFused with PlanOuterFused) at N = 4000 ... 20000 step 500,
//      f32 and f64, interleaved in rounds; each output checked against the
//      fp64 GPU reference, against today's kernel and across two launches.
//   4. (--anatomy only) Difference timing of today's fused kernel (issue 12):
//      with the production plan (PlanOuterFused) at N = 2000 ... 20000, f32
//      and f64, an empty kernel on the same grid, the kernel without its FMA
//      loop, with its FMAs done twice, and its FMA loop on one fixed staged
//      piece (fused_anatomy.cuh, a copy of outer_fused_kernel.cu as of round
//      6: 32 / 16 warps, lanes in groups of 16), next to the copy's and
//      production's today, interleaved in rounds; then the differences
//      (launch floor, fixed cost, FMA-loop cost and efficiency). Since round 7
//      production has another block shape: the "fidelity" line then reports
//      DIFFER and "production" is today's kernel, not the copy's original.
// Prints one table per part. Usage:
//   5. (--widths only) The fused kernel with today's plans (tile widths in
//      steps of 8) against session 8's (steps of 16-32), same kernel code,
//      N = 4000 ... 20000 step 500, f32 and f64, interleaved in rounds, and the
//      steps in N that lose more than 5% of GFLOP/s under each.
//   flopd_gpu_kernel_bench [--quick] [--fused-only] [--balanced] [--widths]
//                          [--anatomy [--sizes a,b,c]]
// (--quick: N = 20000 only and fewer repetitions (with --balanced: the eight
// sizes 4000, 8000, 8500, 12500, 13000, 16500, 17000, 20000, one round; with
// --anatomy: one round of 5 samples instead of 3 rounds of 9);
// --fused-only: part 1 alone, for a profiler pass; --balanced: part 3 alone;
// --anatomy: part 4 alone, --sizes replacing its list of N.)
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench/gpu/fused_anatomy.cuh"
#include "bench/gpu/fused_balanced.cuh"
#include "bench/gpu/fused_baseline.cuh"
#include "common/dtype.h"
#include "common/verification.h"
#include "server/backend/cuda/cuda_kernels.cuh"
#include "server/backend/cuda/split_plan.h"
#include "server/backend/cuda/support_kernels.cuh"

namespace flopd {
namespace {

#define CUDA_OK(expr)                                                                     \
  do {                                                                                    \
    const cudaError_t e_ = (expr);                                                        \
    if (e_ != cudaSuccess) {                                                              \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,                  \
                   cudaGetErrorString(e_));                                               \
      std::exit(1);                                                                       \
    }                                                                                     \
  } while (0)

#define CUBLAS_OK(expr)                                                                 \
  do {                                                                                  \
    const cublasStatus_t s_ = (expr);                                                   \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                  \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,                \
                   cublasGetStatusName(s_));                                            \
      std::exit(1);                                                                     \
    }                                                                                   \
  } while (0)

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

cudaStream_t g_stream = nullptr;
cudaEvent_t g_start = nullptr, g_stop = nullptr;
int g_reps = 9;

// Seconds per launch: `iters` launches back to back between two events,
// median of g_reps such batches.
double TimeHot(const std::function<void()>& launch, int iters) {
  for (int i = 0; i < 3; ++i) launch();
  CUDA_OK(cudaStreamSynchronize(g_stream));
  std::vector<double> t;
  for (int r = 0; r < g_reps; ++r) {
    CUDA_OK(cudaEventRecord(g_start, g_stream));
    for (int i = 0; i < iters; ++i) launch();
    CUDA_OK(cudaEventRecord(g_stop, g_stream));
    CUDA_OK(cudaEventSynchronize(g_stop));
    float ms = 0;
    CUDA_OK(cudaEventElapsedTime(&ms, g_start, g_stop));
    t.push_back(ms * 1e-3 / iters);
  }
  CUDA_OK(cudaGetLastError());
  return Median(t);
}

// The same launches captured once into a graph and replayed.
double TimeGraph(const std::function<void()>& launch, int iters) {
  cudaGraph_t graph = nullptr;
  CUDA_OK(cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < iters; ++i) launch();
  CUDA_OK(cudaStreamEndCapture(g_stream, &graph));
  cudaGraphExec_t exec = nullptr;
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  CUDA_OK(cudaGraphUpload(exec, g_stream));
  CUDA_OK(cudaGraphLaunch(exec, g_stream));
  CUDA_OK(cudaStreamSynchronize(g_stream));
  std::vector<double> t;
  for (int r = 0; r < g_reps; ++r) {
    CUDA_OK(cudaEventRecord(g_start, g_stream));
    CUDA_OK(cudaGraphLaunch(exec, g_stream));
    CUDA_OK(cudaEventRecord(g_stop, g_stream));
    CUDA_OK(cudaEventSynchronize(g_stop));
    float ms = 0;
    CUDA_OK(cudaEventElapsedTime(&ms, g_start, g_stop));
    t.push_back(ms * 1e-3 / iters);
  }
  CUDA_OK(cudaGraphExecDestroy(exec));
  CUDA_OK(cudaGraphDestroy(graph));
  return Median(t);
}

// ---------------------------------------------------------------------------
// Kernels of the bench itself.

// The FMA ceiling of the fused kernel's shape: kJ register accumulators per
// lane, four "summed" registers, 1024 threads per block, no memory in the loop.
template <int kJ>
__global__ void __launch_bounds__(1024, 1) FfmaCeilingKernel(const float* in, float* out, int steps) {
  float own[kJ], acc[kJ], s[4];
#pragma unroll
  for (int m = 0; m < kJ; ++m) {
    own[m] = in[m];
    acc[m] = 0;
  }
#pragma unroll
  for (int q = 0; q < 4; ++q) s[q] = in[kJ + q];
  for (int i = 0; i < steps; ++i) {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
#pragma unroll
      for (int m = 0; m < kJ; ++m) acc[m] = fmaf(own[m], s[q], acc[m]);
    }
  }
  float sum = 0;
#pragma unroll
  for (int m = 0; m < kJ; ++m) sum += acc[m];
  if (sum == 12345.0f) out[threadIdx.x] = sum;  // never true; keeps the loop
}

// P[i][j] = u_i * v_j, float4 stores: what a k = 1 GEMM must write, written
// as simply as possible (the write floor of a kernel, not of memset).
__global__ void WriteProductKernel(const float* __restrict__ u, const float* __restrict__ v,
                                   float* __restrict__ p, int64_t n) {
  const int64_t row = blockIdx.y;
  const float ui = u[row];
  float4* out = reinterpret_cast<float4*>(p + row * n);
  const float4* v4 = reinterpret_cast<const float4*>(v);
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < n / 4;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float4 w = v4[c];
    __stcs(out + c, make_float4(ui * w.x, ui * w.y, ui * w.z, ui * w.w));
  }
}

// ---------------------------------------------------------------------------

double g_copy_bw = 0;   // bytes (read + written) per second
double g_peak_fma = 0;  // FP32 FMAs per second at the max clock

void PrintFusedRow(const char* what, int64_t n, const SplitPlan& plan, double hot, double graph,
                   double peak_fma) {
  const double fmas = static_cast<double>(n) * n;
  std::printf("%-16s N=%-6lld tile=%-3d tiles=%-4lld splits=%-3lld blocks=%-4lld hot %8.2f us  graph "
              "%8.2f us  (%.0f%% of FMA peak in graph)\n",
              what, static_cast<long long>(n), static_cast<int>(plan.tile_width),
              static_cast<long long>(plan.tiles), static_cast<long long>(plan.splits),
              static_cast<long long>(plan.tiles * plan.splits), hot * 1e6, graph * 1e6,
              100 * fmas / peak_fma / graph);
  std::fflush(stdout);
}

// The fused kernel's plan of N = n with tiles `width` wide and about
// `wanted_splits` splits.
SplitPlan MakePlan(int64_t width, int64_t n, int64_t wanted_splits) {
  SplitPlan plan;
  plan.tile_width = width;
  plan.tiles = (n + plan.tile_width - 1) / plan.tile_width;
  const int64_t m = kernels::kFusedChunkMultiple;
  plan.chunk = ((n + wanted_splits - 1) / wanted_splits + m - 1) / m * m;
  plan.splits = (n + plan.chunk - 1) / plan.chunk;
  return plan;
}

// The fused kernel's buffers for sizes up to max_n: u and v drawn as flopd
// draws them (FillUniform's seeds), the output, and a split plan's partial
// sums and zeroed counters; freed on destruction.
template <typename T>
struct FusedBuffers {
  FusedBuffers(int64_t max_n, int64_t partial_elements, int64_t counter_count) {
    CUDA_OK(cudaMalloc(&u, max_n * sizeof(T)));
    CUDA_OK(cudaMalloc(&v, max_n * sizeof(T)));
    CUDA_OK(cudaMalloc(&out, max_n * sizeof(T)));
    CUDA_OK(cudaMalloc(&partials, partial_elements * sizeof(T)));
    CUDA_OK(cudaMalloc(&counters, counter_count * sizeof(uint32_t)));
    CUDA_OK(cudaMemset(counters, 0, counter_count * sizeof(uint32_t)));
    CUDA_OK(kernels::LaunchFillUniform(u, max_n, kInputSeed + 0, g_stream));
    CUDA_OK(kernels::LaunchFillUniform(v, max_n, kInputSeed + 1, g_stream));
    CUDA_OK(cudaStreamSynchronize(g_stream));
  }
  ~FusedBuffers() {
    for (void* p : {static_cast<void*>(u), static_cast<void*>(v), static_cast<void*>(out),
                    static_cast<void*>(partials), static_cast<void*>(counters)}) {
      CUDA_OK(cudaFree(p));
    }
  }
  FusedBuffers(const FusedBuffers&) = delete;
  FusedBuffers& operator=(const FusedBuffers&) = delete;
  T *u = nullptr, *v = nullptr, *out = nullptr, *partials = nullptr;
  uint32_t* counters = nullptr;
};

// The plan the fused kernel ran with before its widths came in steps of 8
// (until session 9): widths 16 kJ for kJ in {4, 6, 8, 10, 12, 16} (f32) or
// {4, 6, 8, 10} (f64), the same planner. The anatomy's copy of the kernel
// (lanes in groups of 16 only) runs these, and --widths times them against
// today's plans.
template <typename T>
SplitPlan PlanLegacyFused(int64_t n, int sms) {
  const std::vector<int64_t> widths = sizeof(T) == 4
                                          ? std::vector<int64_t>{64, 96, 128, 160, 192, 256}
                                          : std::vector<int64_t>{64, 96, 128, 160};
  // The warps per block of that time (32 f32, 16 f64; 8 since round 7).
  return PlanFusedOnePerSm(n, sms, widths, sizeof(T) == 4 ? 32 : 16, kernels::kFusedChunkMultiple,
                           sizeof(T) == 4 ? 128.0 : 64.0);
}

template <typename T>
void BenchFused(int sms, bool quick) {
  const bool f32 = sizeof(T) == 4;
  std::printf("\n== fused outer kernel, %s (%d threads, one block per SM; lanes in groups of %d)\n",
              f32 ? "f32" : "f64", 32 * (f32 ? kernels::kFusedWarpsF32 : kernels::kFusedWarpsF64),
              f32 ? kernels::kFusedLanesF32 : kernels::kFusedLanesF64);
  const auto& listed = kernels::FusedTileWidths<T>();
  const std::vector<int64_t> widths(std::begin(listed), std::end(listed));
  const int64_t kMaxN = 20000;
  std::vector<T> host(kMaxN);
  T *u = nullptr, *v = nullptr, *out = nullptr, *partials = nullptr;
  uint32_t* counters = nullptr;
  CUDA_OK(cudaMalloc(&u, kMaxN * sizeof(T)));
  CUDA_OK(cudaMalloc(&v, kMaxN * sizeof(T)));
  CUDA_OK(cudaMalloc(&out, kMaxN * sizeof(T)));
  CUDA_OK(cudaMalloc(&partials, int64_t{64} * kMaxN * sizeof(T) * 2));
  CUDA_OK(cudaMalloc(&counters, 4096 * sizeof(uint32_t)));
  CUDA_OK(cudaMemset(counters, 0, 4096 * sizeof(uint32_t)));
  CUDA_OK(kernels::LaunchFillUniform(u, kMaxN, kInputSeed + 0, g_stream));
  CUDA_OK(kernels::LaunchFillUniform(v, kMaxN, kInputSeed + 1, g_stream));
  CUDA_OK(cudaStreamSynchronize(g_stream));

  struct Variant {
    int64_t n;
    int64_t width;
    int64_t splits;
  };
  std::vector<Variant> variants;
  // The planner's choice first at each N, then the alternatives.
  const std::vector<int64_t> sizes = quick ? std::vector<int64_t>{20000}
                                           : std::vector<int64_t>{20000, 19500, 12000, 8000, 4100};
  for (int64_t n : sizes) {
    const SplitPlan chosen = kernels::PlanOuterFused<T>(n, sms);
    variants.push_back({n, chosen.tile_width, chosen.splits});
    for (int64_t width : widths) {
      for (int64_t s : {1, 2, 4}) {
        const SplitPlan p = MakePlan(width, n, s);
        if (p.tiles * p.splits > 2 * sms) continue;
        if (p.tile_width == chosen.tile_width && p.splits == chosen.splits) continue;
        variants.push_back({n, width, p.splits});
      }
    }
  }
  if (f32 && kMaxN == 20000) {
    // The committed kernel, its plan at N = 20000 on 132 SMs.
    SplitPlan plan;
    plan.tile_width = 512;
    plan.tiles = 40;
    plan.splits = 13;
    plan.chunk = 1568;
    auto launch = [&]() {
      CUDA_OK(baseline::LaunchBaselineFused(reinterpret_cast<const float*>(v),
                                            reinterpret_cast<const float*>(u),
                                            reinterpret_cast<float*>(out), kMaxN, plan.tiles,
                                            plan.splits, plan.chunk,
                                            reinterpret_cast<float*>(partials), counters, g_stream));
    };
    PrintFusedRow("be980db kernel", kMaxN, plan, TimeHot(launch, 200), TimeGraph(launch, 200),
                  g_peak_fma);
  }
  for (size_t i = 0; i < variants.size(); ++i) {
    const Variant& var = variants[i];
    const SplitPlan plan = MakePlan(var.width, var.n, var.splits);
    if (plan.splits > 1 && plan.tiles * plan.tile_width * plan.splits > int64_t{128} * kMaxN) continue;
    auto launch = [&]() {
      CUDA_OK(kernels::LaunchOuterFused<T>(v, u, out, var.n, plan, plan.splits > 1 ? partials : nullptr,
                                           plan.splits > 1 ? counters : nullptr, g_stream));
    };
    const double hot = TimeHot(launch, 200);
    const double graph = TimeGraph(launch, 200);
    const bool first_of_n = i == 0 || variants[i - 1].n != var.n;
    PrintFusedRow(first_of_n ? "planner's pick" : "  alternative", var.n, plan, hot, graph,
                  f32 ? g_peak_fma : g_peak_fma / 2);
  }

  if (f32) {
    float *in = nullptr, *sink = nullptr;
    CUDA_OK(cudaMalloc(&in, 64 * sizeof(float)));
    CUDA_OK(cudaMalloc(&sink, 1024 * sizeof(float)));
    std::vector<float> ones(64, 1.0000001f);
    CUDA_OK(cudaMemcpy(in, ones.data(), 64 * sizeof(float), cudaMemcpyHostToDevice));
    const int steps = 4000;
    auto run5 = [&]() { FfmaCeilingKernel<5><<<sms, 1024, 0, g_stream>>>(in, sink, steps); };
    auto run8 = [&]() { FfmaCeilingKernel<8><<<sms, 1024, 0, g_stream>>>(in, sink, steps); };
    const double t5 = TimeGraph(run5, 20);
    const double t8 = TimeGraph(run8, 20);
    const double f5 = static_cast<double>(sms) * 1024 * steps * 4 * 5;
    const double f8 = static_cast<double>(sms) * 1024 * steps * 4 * 8;
    std::printf("FFMA ceiling (registers only, %d x 1024 threads): kJ=5 %.1f%% of peak, kJ=8 %.1f%%\n",
                sms, 100 * f5 / t5 / g_peak_fma, 100 * f8 / t8 / g_peak_fma);
    CUDA_OK(cudaFree(in));
    CUDA_OK(cudaFree(sink));
  }
  CUDA_OK(cudaFree(u));
  CUDA_OK(cudaFree(v));
  CUDA_OK(cudaFree(out));
  CUDA_OK(cudaFree(partials));
  CUDA_OK(cudaFree(counters));
}

// ---------------------------------------------------------------------------

void BenchLibrary(int sms) {
  const int64_t n = 20000;
  const int ni = static_cast<int>(n);
  const double floor_write = static_cast<double>(n) * n * 4 / g_copy_bw;  // bytes written once
  std::printf("\n== outer/library's k = 1 GEMM, f32 N = %lld: P = %.2f GB; write floor %.1f us "
              "(bytes / copy bandwidth)\n",
              static_cast<long long>(n), n * n * 4 / 1e9, floor_write * 1e6);
  float *u = nullptr, *v = nullptr, *p = nullptr, *sums = nullptr, *partials = nullptr;
  uint32_t* counters = nullptr;
  void* workspace = nullptr;
  const size_t workspace_bytes = size_t{32} << 20;
  CUDA_OK(cudaMalloc(&u, n * 4));
  CUDA_OK(cudaMalloc(&v, n * 4));
  CUDA_OK(cudaMalloc(&p, n * n * 4));
  CUDA_OK(cudaMalloc(&sums, n * 4));
  CUDA_OK(cudaMalloc(&partials, int64_t{64} * n * 4));
  CUDA_OK(cudaMalloc(&counters, 4096 * 4));
  CUDA_OK(cudaMemset(counters, 0, 4096 * 4));
  CUDA_OK(cudaMalloc(&workspace, workspace_bytes));
  CUDA_OK(kernels::LaunchFillUniform(u, n, kInputSeed + 0, g_stream));
  CUDA_OK(kernels::LaunchFillUniform(v, n, kInputSeed + 1, g_stream));
  std::vector<float> hu(n), hv(n);
  FillUniform(hu.data(), n, kInputSeed + 0);
  FillUniform(hv.data(), n, kInputSeed + 1);

  cublasHandle_t handle = nullptr;
  CUBLAS_OK(cublasCreate(&handle));
  CUBLAS_OK(cublasSetStream(handle, g_stream));
  CUBLAS_OK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
  CUBLAS_OK(cublasSetWorkspace(handle, workspace, workspace_bytes));

  // P must hold u_i * v_j at row-major (i, j): spot-check a few elements.
  auto check = [&](const char* what) {
    CUDA_OK(cudaStreamSynchronize(g_stream));
    const int64_t rows[] = {0, 1, 777, n - 1};
    const int64_t cols[] = {0, 3, 12345, n - 1};
    for (int64_t i : rows) {
      for (int64_t j : cols) {
        float got = 0;
        CUDA_OK(cudaMemcpy(&got, p + i * n + j, 4, cudaMemcpyDeviceToHost));
        const float want = hu[i] * hv[j];
        if (got != want) {
          std::printf("  %s: P[%lld][%lld] = %.9g, want %.9g: WRONG LAYOUT OR VALUE\n", what,
                      static_cast<long long>(i), static_cast<long long>(j), got, want);
          return false;
        }
      }
    }
    return true;
  };
  auto row = [&](const std::string& what, const std::function<void()>& launch, bool verify) {
    CUDA_OK(cudaMemsetAsync(p, 0xFF, n * n * 4, g_stream));
    launch();
    const bool ok = !verify || check(what.c_str());
    const double hot = TimeHot(launch, 10);
    const double graph = TimeGraph(launch, 10);
    std::printf("%-58s hot %8.1f us %6.3f x   graph %8.1f us %6.3f x  %s\n", what.c_str(), hot * 1e6,
                hot / floor_write, graph * 1e6, graph / floor_write, ok ? "" : "(wrong P)");
    std::fflush(stdout);
  };

  row("cudaMemsetAsync of P (write floor, no kernel math)",
      [&]() { CUDA_OK(cudaMemsetAsync(p, 0, n * n * 4, g_stream)); }, false);
  row("plain kernel: P_ij = u_i v_j, float4 streaming stores", [&]() {
    WriteProductKernel<<<dim3(4, ni), 256, 0, g_stream>>>(u, v, p, n);
    CUDA_OK(cudaGetLastError());
  }, true);

  const float one = 1, zero = 0;
  // Column-major C (N x N, ldc N) = P^T: C = v u^T with v as m x 1 and u^T as
  // 1 x n; the four ways to hand cuBLAS the same operands.
  row("Sgemm N,N  A=v (N x 1, lda N)  B=u (1 x N, ldb 1) [flopd]", [&]() {
    CUBLAS_OK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, ni, ni, 1, &one, v, ni, u, 1, &zero, p, ni));
  }, true);
  row("Sgemm T,N  A=v (1 x N, lda 1)  B=u (1 x N, ldb 1)", [&]() {
    CUBLAS_OK(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, ni, ni, 1, &one, v, 1, u, 1, &zero, p, ni));
  }, true);
  row("Sgemm N,T  A=v (N x 1, lda N)  B=u (N x 1, ldb N)", [&]() {
    CUBLAS_OK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_T, ni, ni, 1, &one, v, ni, u, ni, &zero, p, ni));
  }, true);
  row("Sgemm T,T  A=v (1 x N, lda 1)  B=u (N x 1, ldb N)", [&]() {
    CUBLAS_OK(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_T, ni, ni, 1, &one, v, 1, u, ni, &zero, p, ni));
  }, true);

  // cublasGemmEx: the default algorithm (widen the range to time ids 0-23).
  for (int algo = -1; algo <= -1; ++algo) {
    const cublasGemmAlgo_t a = algo < 0 ? CUBLAS_GEMM_DEFAULT : static_cast<cublasGemmAlgo_t>(algo);
    const cublasStatus_t probe =
        cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, ni, ni, 1, &one, v, CUDA_R_32F, ni, u,
                     CUDA_R_32F, 1, &zero, p, CUDA_R_32F, ni, CUBLAS_COMPUTE_32F, a);
    CUDA_OK(cudaStreamSynchronize(g_stream));
    if (probe != CUBLAS_STATUS_SUCCESS) {
      std::printf("GemmEx algo %d: %s\n", algo, cublasGetStatusName(probe));
      continue;
    }
    char name[64];
    std::snprintf(name, sizeof(name), "GemmEx N,N algo %d%s", algo, algo < 0 ? " (DEFAULT)" : "");
    row(name, [&]() {
      CUBLAS_OK(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, ni, ni, 1, &one, v, CUDA_R_32F, ni,
                             u, CUDA_R_32F, 1, &zero, p, CUDA_R_32F, ni, CUBLAS_COMPUTE_32F, a));
    }, true);
  }

  // cublasLt: every algorithm its heuristic returns for this problem.
  cublasLtHandle_t lt = nullptr;
  CUBLAS_OK(cublasLtCreate(&lt));
  for (int order = 0; order < 2; ++order) {
    // order 0: A = v (N x 1, ld N), B = u^T (1 x N, ld 1), both N.
    // order 1: A = v^T stored 1 x N (ld 1) with transa = T, B = u stored
    //          N x 1 (ld N) with transb = T.
    const cublasOperation_t ta = order == 0 ? CUBLAS_OP_N : CUBLAS_OP_T;
    const cublasOperation_t tb = order == 0 ? CUBLAS_OP_N : CUBLAS_OP_T;
    cublasLtMatmulDesc_t desc = nullptr;
    CUBLAS_OK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    CUBLAS_OK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    CUBLAS_OK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
    if (order == 0) {
      CUBLAS_OK(cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, n, 1, n));
      CUBLAS_OK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, 1, n, 1));
    } else {
      CUBLAS_OK(cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, 1, n, 1));
      CUBLAS_OK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, n, 1, n));
    }
    CUBLAS_OK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, n, n, n));
    cublasLtMatmulPreference_t pref = nullptr;
    CUBLAS_OK(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = workspace_bytes;
    CUBLAS_OK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                   &ws, sizeof(ws)));
    cublasLtMatmulHeuristicResult_t results[12];
    int returned = 0;
    const cublasStatus_t h =
        cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, lc, pref, 12, results, &returned);
    std::printf("cublasLt order %d: heuristic %s, %d algorithms\n", order, cublasGetStatusName(h),
                returned);
    for (int i = 0; i < returned && h == CUBLAS_STATUS_SUCCESS; ++i) {
      int id = -1, tile = -1, stages = -1, splitk = -1, swizzle = -1;
      size_t sz = 0;
      cublasLtMatmulAlgoConfigGetAttribute(&results[i].algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof(id), &sz);
      cublasLtMatmulAlgoConfigGetAttribute(&results[i].algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile), &sz);
      cublasLtMatmulAlgoConfigGetAttribute(&results[i].algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof(stages), &sz);
      cublasLtMatmulAlgoConfigGetAttribute(&results[i].algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof(splitk), &sz);
      cublasLtMatmulAlgoConfigGetAttribute(&results[i].algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &swizzle, sizeof(swizzle), &sz);
      char name[96];
      std::snprintf(name, sizeof(name), "Lt order %d #%d: algo %d tile %d stages %d splitk %d swz %d ws %zu",
                    order, i, id, tile, stages, splitk, swizzle, results[i].workspaceSize);
      const cublasLtMatmulAlgo_t algo = results[i].algo;
      const void* a_ptr = v;
      const void* b_ptr = u;
      row(name, [&]() {
        CUBLAS_OK(cublasLtMatmul(lt, desc, &one, a_ptr, la, b_ptr, lb, &zero, p, lc, p, lc, &algo,
                                 workspace, workspace_bytes, g_stream));
      }, true);
    }
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(desc);
  }
  cublasLtDestroy(lt);

  // Our reductions of P alone (P from the last row above, any valid values).
  SplitShape shape;
  shape.outputs = n;
  shape.summed = n;
  shape.tile_width = kernels::ColumnSumsTileWidth<float>(n);
  shape.chunk_multiple = 8;
  shape.min_chunk = 32;
  const SplitPlan plan = PlanStreamingSplit(shape, sms, 1.5);
  const double floor_read = static_cast<double>(n) * n * 4 / g_copy_bw;
  auto reduce_row = [&](const char* what, const std::function<void()>& launch) {
    const double hot = TimeHot(launch, 20);
    const double graph = TimeGraph(launch, 20);
    std::printf("%-58s hot %8.1f us %6.3f x   graph %8.1f us %6.3f x  (read floor)\n", what,
                hot * 1e6, hot / floor_read, graph * 1e6, graph / floor_read);
  };
  reduce_row("column sums of P alone (axis 0)", [&]() {
    CUDA_OK(kernels::LaunchColumnSums<float>(p, sums, n, plan, partials, counters, g_stream));
  });
  reduce_row("row sums of P alone (axis 1)", [&]() {
    CUDA_OK(kernels::LaunchRowDot<float>(p, nullptr, sums, n, g_stream));
  });
  // The whole library impl, both GEMM orders, both axes.
  auto library_row = [&](const char* what, const std::function<void()>& launch) {
    const double hot = TimeHot(launch, 10);
    const double graph = TimeGraph(launch, 10);
    std::printf("%-58s hot %8.1f us %6.3f x   graph %8.1f us %6.3f x  (library floor)\n", what,
                hot * 1e6, hot / (2 * floor_write), graph * 1e6, graph / (2 * floor_write));
  };
  for (int axis = 0; axis < 2; ++axis) {
    for (int order = 0; order < 2; ++order) {
      const std::string what = std::string(order == 0 ? "Sgemm N,N" : "Sgemm N,T") +
                               (axis == 0 ? " + column sums (library axis 0)"
                                          : " + row sums (library axis 1)");
      library_row(what.c_str(), [&]() {
        if (order == 0) {
          CUBLAS_OK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, ni, ni, 1, &one, v, ni, u, 1,
                                &zero, p, ni));
        } else {
          CUBLAS_OK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_T, ni, ni, 1, &one, v, ni, u, ni,
                                &zero, p, ni));
        }
        if (axis == 0) {
          CUDA_OK(kernels::LaunchColumnSums<float>(p, sums, n, plan, partials, counters, g_stream));
        } else {
          CUDA_OK(kernels::LaunchRowDot<float>(p, nullptr, sums, n, g_stream));
        }
      });
    }
  }

  // f64: the two fastest f32 orders, same N (P = 3.2 GB).
  {
    double *du = nullptr, *dv = nullptr, *dp = nullptr;
    CUDA_OK(cudaMalloc(&du, n * 8));
    CUDA_OK(cudaMalloc(&dv, n * 8));
    CUDA_OK(cudaMalloc(&dp, n * n * 8));
    CUDA_OK(kernels::LaunchFillUniform(du, n, kInputSeed + 0, g_stream));
    CUDA_OK(kernels::LaunchFillUniform(dv, n, kInputSeed + 1, g_stream));
    std::vector<double> hdu(n), hdv(n);
    FillUniform(hdu.data(), n, kInputSeed + 0);
    FillUniform(hdv.data(), n, kInputSeed + 1);
    const double done = 1, dzero = 0;
    for (int order = 0; order < 2; ++order) {
      auto launch = [&]() {
        if (order == 0) {
          CUBLAS_OK(cublasDgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, ni, ni, 1, &done, dv, ni, du, 1,
                                &dzero, dp, ni));
        } else {
          CUBLAS_OK(cublasDgemm(handle, CUBLAS_OP_N, CUBLAS_OP_T, ni, ni, 1, &done, dv, ni, du, ni,
                                &dzero, dp, ni));
        }
      };
      CUDA_OK(cudaMemsetAsync(dp, 0xFF, n * n * 8, g_stream));
      launch();
      CUDA_OK(cudaStreamSynchronize(g_stream));
      bool ok = true;
      for (int64_t i : {int64_t{0}, int64_t{777}, n - 1}) {
        for (int64_t j : {int64_t{0}, int64_t{12345}, n - 1}) {
          double got = 0;
          CUDA_OK(cudaMemcpy(&got, dp + i * n + j, 8, cudaMemcpyDeviceToHost));
          ok = ok && got == hdu[i] * hdv[j];
        }
      }
      const double hot = TimeHot(launch, 10);
      const double graph = TimeGraph(launch, 10);
      std::printf("%-58s hot %8.1f us %6.3f x   graph %8.1f us %6.3f x  %s\n",
                  order == 0 ? "f64 Dgemm N,N [flopd]" : "f64 Dgemm N,T", hot * 1e6,
                  hot / (2 * floor_write), graph * 1e6, graph / (2 * floor_write),
                  ok ? "" : "(wrong P)");
    }
    CUDA_OK(cudaFree(du));
    CUDA_OK(cudaFree(dv));
    CUDA_OK(cudaFree(dp));
  }

  cublasDestroy(handle);
  CUDA_OK(cudaFree(u));
  CUDA_OK(cudaFree(v));
  CUDA_OK(cudaFree(p));
  CUDA_OK(cudaFree(sums));
  CUDA_OK(cudaFree(partials));
  CUDA_OK(cudaFree(counters));
  CUDA_OK(cudaFree(workspace));
}

// ---------------------------------------------------------------------------
// Part 3 (--balanced): the balanced candidate (fused_balanced.cuh) against
// today's kernel.

// One compiled variant of the candidate, behind function pointers.
template <typename T>
struct BalancedEntry {
  std::string name;
  std::string bits_key;  // variants with the same key must give the same bits
  int blocks_per_sm = 1;
  size_t shared_bytes = 0;
  cudaError_t (*prepare)(int*) = nullptr;
  cudaError_t (*launch)(const T*, const T*, T*, int64_t, int, T*, uint32_t*, cudaStream_t) = nullptr;
  int64_t (*workspace)(int) = nullptr;
  int64_t (*counters)(int64_t) = nullptr;
  int64_t (*blocks)(int64_t, int) = nullptr;
};

template <typename T, int kJ, int kWarps, int kBlocksPerSm, int kFirstPiece, bool kPrefetch>
BalancedEntry<T> MakeBalanced() {
  using V = balanced::Balanced<T, kJ, kWarps, kBlocksPerSm, kFirstPiece, kPrefetch>;
  BalancedEntry<T> e;
  char name[64];
  std::snprintf(name, sizeof(name), "bal J%d W%dx%d p%d%s", kJ, kWarps, kBlocksPerSm, kFirstPiece,
                kPrefetch ? " pre" : "");
  e.name = name;
  std::snprintf(name, sizeof(name), "J%d W%d x%d", kJ, kWarps, kBlocksPerSm);
  e.bits_key = name;
  e.blocks_per_sm = kBlocksPerSm;
  e.shared_bytes = V::kSharedBytes;
  e.prepare = &V::Prepare;
  e.launch = &V::Launch;
  e.workspace = &V::WorkspaceElements;
  e.counters = &V::CounterCount;
  e.blocks = &V::Blocks;
  return e;
}

// The variants timed. Template arguments: element type, kJ (outputs per
// lane; tile 16 kJ), warps per block, blocks per SM, first piece (elements),
// prefetch. The first four of each type differ only in (a) and (b).
template <typename T>
std::vector<BalancedEntry<T>> BalancedVariants();

template <>
std::vector<BalancedEntry<float>> BalancedVariants<float>() {
  return {
      MakeBalanced<float, 10, 32, 1, 128, false>(),
      MakeBalanced<float, 10, 32, 1, 128, true>(),
      MakeBalanced<float, 10, 32, 1, 64, true>(),
      MakeBalanced<float, 10, 32, 1, 32, true>(),
      MakeBalanced<float, 10, 16, 2, 64, true>(),
      MakeBalanced<float, 10, 16, 1, 64, true>(),
      MakeBalanced<float, 12, 32, 1, 64, true>(),
      MakeBalanced<float, 8, 32, 1, 64, true>(),
  };
}

template <>
std::vector<BalancedEntry<double>> BalancedVariants<double>() {
  return {
      MakeBalanced<double, 10, 16, 1, 128, false>(),
      MakeBalanced<double, 10, 16, 1, 128, true>(),
      MakeBalanced<double, 10, 16, 1, 64, true>(),
      MakeBalanced<double, 10, 16, 1, 32, true>(),
      MakeBalanced<double, 10, 8, 2, 64, true>(),
      MakeBalanced<double, 6, 32, 1, 64, true>(),
      MakeBalanced<double, 6, 16, 2, 64, true>(),
  };
}

// The measured FMA peak of T (FMAs per second): the ceilings' FMA kernel
// (support_kernels.cuh) filling every SM, best of 5.
template <typename T>
double MeasuredPeakFma(int sms) {
  int per_sm = 0;
  CUDA_OK(kernels::FmaPeakBlocksPerSm<T>(&per_sm));
  const int blocks = sms * std::max(1, per_sm);
  const int iterations = sizeof(T) == 4 ? 4000 : 2000;
  T* sink = nullptr;
  unsigned long long* clock_words = nullptr;
  CUDA_OK(cudaMalloc(&sink, static_cast<size_t>(blocks) * kernels::kFmaPeakThreads * sizeof(T)));
  CUDA_OK(cudaMalloc(&clock_words, 2 * sizeof(unsigned long long)));
  auto launch = [&]() {
    CUDA_OK(kernels::LaunchFmaPeak<T>(blocks, iterations, T(0.9999), T(1e-5), sink, clock_words,
                                      g_stream));
  };
  launch();
  CUDA_OK(cudaStreamSynchronize(g_stream));
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    CUDA_OK(cudaEventRecord(g_start, g_stream));
    launch();
    CUDA_OK(cudaEventRecord(g_stop, g_stream));
    CUDA_OK(cudaEventSynchronize(g_stop));
    float ms = 0;
    CUDA_OK(cudaEventElapsedTime(&ms, g_start, g_stop));
    best = std::min(best, ms * 1e-3);
  }
  CUDA_OK(cudaFree(sink));
  CUDA_OK(cudaFree(clock_words));
  const double fmas = static_cast<double>(blocks) * kernels::kFmaPeakThreads * iterations *
                      kernels::kFmaPeakChains * kernels::kFmaPeakUnroll;
  return fmas / best;
}

template <typename T>
void BenchBalanced(int sms, bool quick) {
  const bool f32 = sizeof(T) == 4;
  const double peak = MeasuredPeakFma<T>(sms);
  const double unit_roundoff = DTypeUnitRoundoff(f32 ? DType::kF32 : DType::kF64);
  std::printf("\n== balanced fused candidate vs today's kernel, %s: measured FMA peak %.1f "
              "TFLOP/s (support kernel, best of 5)\n",
              f32 ? "f32" : "f64", 2 * peak / 1e12);
  std::vector<BalancedEntry<T>> variants = BalancedVariants<T>();
  for (const BalancedEntry<T>& e : variants) {
    int resident = 0;
    CUDA_OK(e.prepare(&resident));
    std::printf("  %-26s shared %6zu B/block, resident blocks/SM %d (wants %d)%s\n", e.name.c_str(),
                e.shared_bytes, resident, e.blocks_per_sm,
                resident < e.blocks_per_sm ? "  FEWER THAN WANTED: not one wave" : "");
  }
  std::fflush(stdout);

  // Timed sizes, then sizes checked only (ragged N, N < 8 x blocks, tiny N).
  std::vector<int64_t> timed;
  if (quick) {
    timed = {4000, 8000, 8500, 12500, 13000, 16500, 17000, 20000};
  } else {
    for (int64_t n = 4000; n <= 20000; n += 500) timed.push_back(n);
  }
  const std::vector<int64_t> check_only = {1, 7, 100, 1000, 4097, 12345, 19999};
  const int rounds = quick ? 1 : 3;
  const int iters = 200;
  const int64_t kMaxN = 20000;
  const int64_t kGuard = 64;  // elements past out[N) that must stay untouched

  T *u = nullptr, *v = nullptr, *out = nullptr, *workspace = nullptr, *partials = nullptr;
  double* reference = nullptr;
  uint32_t *counters = nullptr, *today_counters = nullptr;
  int64_t workspace_elements = 0, counter_count = 0, partial_elements = 0, today_counter_count = 0;
  for (const BalancedEntry<T>& e : variants) {
    workspace_elements = std::max(workspace_elements, e.workspace(sms));
    for (int64_t n : {int64_t{1}, kMaxN}) counter_count = std::max(counter_count, e.counters(n));
  }
  for (int64_t n = 1; n <= kMaxN; n += (n < 100 ? 1 : 37)) {
    const SplitPlan plan = kernels::PlanOuterFused<T>(n, sms);
    partial_elements = std::max(partial_elements, plan.PartialElements());
    today_counter_count = std::max(today_counter_count, plan.CounterCount());
  }
  for (int64_t n : timed) {
    const SplitPlan plan = kernels::PlanOuterFused<T>(n, sms);
    partial_elements = std::max(partial_elements, plan.PartialElements());
    today_counter_count = std::max(today_counter_count, plan.CounterCount());
  }
  for (int64_t n : check_only) {
    const SplitPlan plan = kernels::PlanOuterFused<T>(n, sms);
    partial_elements = std::max(partial_elements, plan.PartialElements());
    today_counter_count = std::max(today_counter_count, plan.CounterCount());
  }
  CUDA_OK(cudaMalloc(&u, kMaxN * sizeof(T)));
  CUDA_OK(cudaMalloc(&v, kMaxN * sizeof(T)));
  CUDA_OK(cudaMalloc(&out, (kMaxN + kGuard) * sizeof(T)));
  CUDA_OK(cudaMalloc(&reference, kMaxN * sizeof(double)));
  CUDA_OK(cudaMalloc(&workspace, std::max<int64_t>(1, workspace_elements) * sizeof(T)));
  CUDA_OK(cudaMalloc(&partials, std::max<int64_t>(1, partial_elements) * sizeof(T)));
  CUDA_OK(cudaMalloc(&counters, std::max<int64_t>(1, counter_count) * sizeof(uint32_t)));
  CUDA_OK(cudaMalloc(&today_counters, std::max<int64_t>(1, today_counter_count) * sizeof(uint32_t)));
  CUDA_OK(cudaMemset(counters, 0, std::max<int64_t>(1, counter_count) * sizeof(uint32_t)));
  CUDA_OK(cudaMemset(today_counters, 0, std::max<int64_t>(1, today_counter_count) * sizeof(uint32_t)));
  CUDA_OK(kernels::LaunchFillUniform(u, kMaxN, kInputSeed + 0, g_stream));
  CUDA_OK(kernels::LaunchFillUniform(v, kMaxN, kInputSeed + 1, g_stream));
  CUDA_OK(cudaStreamSynchronize(g_stream));

  // As BenchFused: owned = v, summed = u (axis 0; axis 1 is the same kernel
  // with the vectors swapped).
  const int count = 1 + static_cast<int>(variants.size());
  auto launcher = [&](int which, int64_t n) -> std::function<void()> {
    if (which == 0) {
      const SplitPlan plan = kernels::PlanOuterFused<T>(n, sms);
      return [=]() {
        CUDA_OK(kernels::LaunchOuterFused<T>(v, u, out, n, plan,
                                             plan.splits > 1 ? partials : nullptr,
                                             plan.splits > 1 ? today_counters : nullptr, g_stream));
      };
    }
    const BalancedEntry<T> e = variants[which - 1];
    return [=]() { CUDA_OK(e.launch(v, u, out, n, sms, workspace, counters, g_stream)); };
  };
  auto name_of = [&](int which) {
    return which == 0 ? std::string("today (PlanOuterFused)") : variants[which - 1].name;
  };

  // Runs `launch` on an output poisoned with NaN (0xFF bytes) and returns
  // out[0, n + kGuard).
  auto run_poisoned = [&](const std::function<void()>& launch, int64_t n) {
    CUDA_OK(cudaMemsetAsync(out, 0xFF, (n + kGuard) * sizeof(T), g_stream));
    launch();
    CUDA_OK(cudaStreamSynchronize(g_stream));
    CUDA_OK(cudaGetLastError());
    std::vector<T> got(n + kGuard);
    CUDA_OK(cudaMemcpy(got.data(), out, (n + kGuard) * sizeof(T), cudaMemcpyDeviceToHost));
    return got;
  };

  int failures = 0;
  // Checks every variant at N: fp64 reference, guard, two launches
  // bit-identical, bits shared within a bits_key, distance to today's kernel.
  auto check = [&](int64_t n, bool print_ok) {
    CUDA_OK(kernels::LaunchReferenceOuter<T>(v, u, reference, n, g_stream));
    CUDA_OK(cudaStreamSynchronize(g_stream));
    std::vector<double> ref(n);
    CUDA_OK(cudaMemcpy(ref.data(), reference, n * sizeof(double), cudaMemcpyDeviceToHost));
    const double tol = 8.0 * std::sqrt(static_cast<double>(n) + 2.0) * unit_roundoff;
    std::vector<T> today;
    std::map<std::string, std::pair<std::string, std::vector<T>>> by_key;
    for (int which = 0; which < count; ++which) {
      const std::function<void()> launch = launcher(which, n);
      const std::vector<T> a = run_poisoned(launch, n);
      const std::vector<T> b = run_poisoned(launch, n);
      std::string problems;
      double max_rel = 0;
      for (int64_t k = 0; k < n; ++k) {
        const double x = static_cast<double>(a[k]);
        const double rel = std::isfinite(x) ? std::fabs(x - ref[k]) / std::fabs(ref[k]) : INFINITY;
        max_rel = std::max(max_rel, rel);
      }
      if (!(max_rel <= tol)) problems += " REFERENCE";
      bool guard_ok = true;
      for (int64_t k = n; k < n + kGuard; ++k) {
        uint8_t bytes[sizeof(T)];
        std::memcpy(bytes, &a[k], sizeof(T));
        for (uint8_t byte : bytes) guard_ok = guard_ok && byte == 0xFF;
      }
      if (!guard_ok) problems += " WROTE-PAST-N";
      const bool stable = std::memcmp(a.data(), b.data(), n * sizeof(T)) == 0;
      if (!stable) problems += " NOT-BIT-STABLE";
      double vs_today = 0;
      std::string same_bits;
      if (which == 0) {
        today = a;
      } else {
        for (int64_t k = 0; k < n; ++k) {
          const double t = static_cast<double>(today[k]);
          vs_today = std::max(vs_today, std::fabs(static_cast<double>(a[k]) - t) / std::fabs(t));
        }
        if (!(vs_today <= tol)) problems += " VS-TODAY";
        const std::string& key = variants[which - 1].bits_key;
        auto it = by_key.find(key);
        if (it == by_key.end()) {
          by_key[key] = {variants[which - 1].name, a};
        } else if (std::memcmp(it->second.second.data(), a.data(), n * sizeof(T)) != 0) {
          problems += " BITS-DIFFER-FROM(" + it->second.first + ")";
        } else {
          same_bits = " = bits of " + it->second.first;
        }
      }
      if (!problems.empty()) ++failures;
      if (print_ok || !problems.empty()) {
        std::printf("  check N=%-6lld %-26s max rel err %.2e (tol %.2e)  vs today %.2e  %s%s%s\n",
                    static_cast<long long>(n), name_of(which).c_str(), max_rel, tol, vs_today,
                    problems.empty() ? "ok" : "FAILED:", problems.c_str(), same_bits.c_str());
      }
    }
    std::fflush(stdout);
  };

  for (int64_t n : check_only) check(n, false);
  std::printf("  checks at N = 1, 7, 100, 1000, 4097, 12345, 19999: %s\n",
              failures == 0 ? "all ok" : "FAILURES above");

  // hot[which][size index], graph[...]: medians over rounds.
  std::vector<std::vector<double>> hot(count, std::vector<double>(timed.size()));
  std::vector<std::vector<double>> graph(count, std::vector<double>(timed.size()));
  for (size_t si = 0; si < timed.size(); ++si) {
    const int64_t n = timed[si];
    check(n, n == 20000 || quick);
    std::vector<std::vector<double>> h(count), g(count);
    for (int r = 0; r < rounds; ++r) {
      for (int which = 0; which < count; ++which) {
        const std::function<void()> launch = launcher(which, n);
        h[which].push_back(TimeHot(launch, iters));
        g[which].push_back(TimeGraph(launch, iters));
      }
    }
    const double fmas = static_cast<double>(n) * n;
    const SplitPlan plan = kernels::PlanOuterFused<T>(n, sms);
    for (int which = 0; which < count; ++which) {
      hot[which][si] = Median(h[which]);
      graph[which][si] = Median(g[which]);
      char shape[64];
      if (which == 0) {
        std::snprintf(shape, sizeof(shape), "tile %lld x %lld splits = %lld blocks",
                      static_cast<long long>(plan.tile_width), static_cast<long long>(plan.splits),
                      static_cast<long long>(plan.tiles * plan.splits));
      } else {
        std::snprintf(shape, sizeof(shape), "%lld blocks",
                      static_cast<long long>(variants[which - 1].blocks(n, sms)));
      }
      std::printf("N=%-6lld %-26s hot %8.2f us %6.2f TFLOP/s %5.1f%%   graph %8.2f us %6.2f "
                  "TFLOP/s %5.1f%%   (%s)\n",
                  static_cast<long long>(n), name_of(which).c_str(), hot[which][si] * 1e6,
                  2 * fmas / hot[which][si] / 1e12, 100 * fmas / hot[which][si] / peak,
                  graph[which][si] * 1e6, 2 * fmas / graph[which][si] / 1e12,
                  100 * fmas / graph[which][si] / peak, shape);
    }
    std::fflush(stdout);
  }

  // Summary: % of the measured peak per variant, the worst size from 8000 on,
  // and the largest drop between consecutive sizes (targets: >= 80% at
  // 20000, >= 70% from 8000, no drop > 5%).
  std::printf("\n-- summary %s (hot / graph, %% of measured peak %.1f TFLOP/s)\n",
              f32 ? "f32" : "f64", 2 * peak / 1e12);
  for (int which = 0; which < count; ++which) {
    for (int mode = 0; mode < 2; ++mode) {
      const std::vector<double>& t = mode == 0 ? hot[which] : graph[which];
      auto pct = [&](size_t si) {
        return 100 * static_cast<double>(timed[si]) * timed[si] / t[si] / peak;
      };
      double at_max = 0, worst_8000 = 1e9, worst_drop = 0;
      int64_t worst_8000_n = 0, worst_drop_n = 0;
      for (size_t si = 0; si < timed.size(); ++si) {
        if (timed[si] == 20000) at_max = pct(si);
        if (timed[si] >= 8000 && pct(si) < worst_8000) {
          worst_8000 = pct(si);
          worst_8000_n = timed[si];
        }
        if (si > 0) {
          const double drop = (pct(si - 1) - pct(si)) / pct(si - 1);
          if (drop > worst_drop) {
            worst_drop = drop;
            worst_drop_n = timed[si];
          }
        }
      }
      std::printf("%-26s %-5s N=20000 %5.1f%%  min N>=8000 %5.1f%% (N=%lld)  largest drop %4.1f%% "
                  "(to N=%lld)%s\n",
                  name_of(which).c_str(), mode == 0 ? "hot" : "graph", at_max, worst_8000,
                  static_cast<long long>(worst_8000_n), 100 * worst_drop,
                  static_cast<long long>(worst_drop_n),
                  at_max >= 80 && worst_8000 >= 70 && worst_drop <= 0.05 ? "  MEETS TARGETS" : "");
    }
  }
  std::printf("checks: %s\n", failures == 0 ? "all passed" : "SOME FAILED (see FAILED lines)");
  std::fflush(stdout);

  CUDA_OK(cudaFree(u));
  CUDA_OK(cudaFree(v));
  CUDA_OK(cudaFree(out));
  CUDA_OK(cudaFree(reference));
  CUDA_OK(cudaFree(workspace));
  CUDA_OK(cudaFree(partials));
  CUDA_OK(cudaFree(counters));
  CUDA_OK(cudaFree(today_counters));
}

// ---------------------------------------------------------------------------
// Part 4 (--anatomy): difference timing of today's fused kernel
// (fused_anatomy.cuh) with the production plan.
// Per N: each variant's hot / graph us and "%" = ideal / time, ideal = N^2
// FMAs at the measured FMA peak. Then per mode: floor = empty; fixed = no-fma
// - empty; loop = fma-x2 - today (one more set of FMAs) and its efficiency
// ideal / loop; fma-only - empty (the FMA loop at its best) and ideal / that;
// today at 100% loop = today - loop + ideal; excess = today - no-fma - ideal
// (what neither the fixed part nor ideal FMAs explain: loop inefficiency,
// minus any overlap). "hot-mode bound" = ideal / (empty hot + ideal): the
// best % of peak a kernel with this launch floor could reach in hot mode.

template <typename T>
void BenchAnatomy(int sms, bool quick, const std::vector<int64_t>& sizes) {
  const bool f32 = sizeof(T) == 4;
  const char* type = f32 ? "f32" : "f64";
  const double peak = MeasuredPeakFma<T>(sms);  // FMAs per second
  const int rounds = quick ? 1 : 3;
  const int iters = 200;
  std::printf("\n== anatomy of today's fused kernel, %s: measured FMA peak %.1f TFLOP/s; production "
              "plan as of session 8 (PlanLegacyFused, %d SMs); %d interleaved round(s) x (hot: %d x %d launches, "
              "graph: %d x a %d-launch graph), medians\n",
              type, 2 * peak / 1e12, sms, rounds, g_reps, iters, g_reps, iters);
  int64_t max_n = 1, partial_elements = 1, counter_count = 1;
  for (int64_t n : sizes) {
    const SplitPlan plan = PlanLegacyFused<T>(n, sms);
    max_n = std::max(max_n, n);
    partial_elements = std::max(partial_elements, plan.PartialElements());
    counter_count = std::max(counter_count, plan.CounterCount());
  }
  FusedBuffers<T> buffers(max_n, partial_elements, counter_count);
  T* const u = buffers.u;
  T* const v = buffers.v;
  T* const out = buffers.out;
  T* const partials = buffers.partials;
  uint32_t* const counters = buffers.counters;

  // Variants, in timing order. As BenchFused: owned = v, summed = u.
  enum { kEmpty, kNoFma, kToday, kProduction, kFmaX2, kFmaOnly, kCount };
  const char* names[kCount] = {"empty", "no-fma", "today (copy)", "today (production)", "fma-x2",
                               "fma-only"};
  struct Row {
    int64_t n;
    double hot[kCount];
    double graph[kCount];
  };
  std::vector<Row> rows;
  for (int64_t n : sizes) {
    const SplitPlan plan = PlanLegacyFused<T>(n, sms);
    T* const p = plan.splits > 1 ? partials : nullptr;
    uint32_t* const c = plan.splits > 1 ? counters : nullptr;
    auto launcher = [&](int which) -> std::function<void()> {
      switch (which) {
        case kEmpty:
          return [=]() { CUDA_OK(anatomy::LaunchEmpty<T>(out, n, plan, g_stream)); };
        case kProduction:
          return [=]() { CUDA_OK(kernels::LaunchOuterFused<T>(v, u, out, n, plan, p, c, g_stream)); };
        default: {
          const int variant = which == kNoFma   ? anatomy::kNoFma
                              : which == kToday ? anatomy::kToday
                              : which == kFmaX2 ? anatomy::kFmaX2
                                                : anatomy::kFmaOnly;
          return [=]() {
            CUDA_OK(anatomy::LaunchAnatomy<T>(variant, v, u, out, n, plan, p, c, g_stream));
          };
        }
      }
    };
    std::printf("\nN=%lld %s: tile %lld x %lld tiles x %lld splits = %lld blocks, chunk %lld\n",
                static_cast<long long>(n), type, static_cast<long long>(plan.tile_width),
                static_cast<long long>(plan.tiles), static_cast<long long>(plan.splits),
                static_cast<long long>(plan.tiles * plan.splits),
                static_cast<long long>(plan.chunk));
    // The copy's kJ must be compiled (fused_anatomy.cuh: 4, 6, 8, 10).
    const cudaError_t probe =
        anatomy::LaunchAnatomy<T>(anatomy::kToday, v, u, out, n, plan, p, c, g_stream);
    if (probe == cudaErrorNotSupported) {
      std::printf("  tile %lld (kJ %lld) is not compiled in fused_anatomy.cuh: N skipped\n",
                  static_cast<long long>(plan.tile_width),
                  static_cast<long long>(plan.tile_width / anatomy::kFusedLaneGroup));
      continue;
    }
    CUDA_OK(probe);
    // Fidelity: the copy's today and production give the same bits.
    std::vector<T> a(n), b(n);
    launcher(kToday)();
    CUDA_OK(cudaStreamSynchronize(g_stream));
    CUDA_OK(cudaMemcpy(a.data(), out, n * sizeof(T), cudaMemcpyDeviceToHost));
    CUDA_OK(cudaMemsetAsync(out, 0, n * sizeof(T), g_stream));
    launcher(kProduction)();
    CUDA_OK(cudaStreamSynchronize(g_stream));
    CUDA_OK(cudaMemcpy(b.data(), out, n * sizeof(T), cudaMemcpyDeviceToHost));
    const bool same_bits = std::memcmp(a.data(), b.data(), n * sizeof(T)) == 0;

    std::vector<double> h[kCount], g[kCount];
    for (int r = 0; r < rounds; ++r) {
      for (int which = 0; which < kCount; ++which) {
        const std::function<void()> launch = launcher(which);
        h[which].push_back(TimeHot(launch, iters));
        g[which].push_back(TimeGraph(launch, iters));
      }
    }
    Row row;
    row.n = n;
    const double fmas = static_cast<double>(n) * n;
    const double ideal = fmas / peak;  // the N^2 FMAs at the measured peak
    for (int which = 0; which < kCount; ++which) {
      row.hot[which] = Median(h[which]);
      row.graph[which] = Median(g[which]);
      std::printf("  %-19s hot %8.2f us %5.1f%%   graph %8.2f us %5.1f%%\n", names[which],
                  row.hot[which] * 1e6, 100 * ideal / row.hot[which], row.graph[which] * 1e6,
                  100 * ideal / row.graph[which]);
    }
    std::printf("  copy / production: hot %.3f graph %.3f, output bits %s\n",
                row.hot[kToday] / row.hot[kProduction], row.graph[kToday] / row.graph[kProduction],
                same_bits ? "identical" : "DIFFER");
    for (int mode = 0; mode < 2; ++mode) {
      const double* t = mode == 0 ? row.hot : row.graph;
      const double floor = t[kEmpty];
      const double fixed = t[kNoFma] - t[kEmpty];
      const double loop = t[kFmaX2] - t[kToday];
      const double best_loop = t[kFmaOnly] - t[kEmpty];
      const double at_full = t[kToday] - loop + ideal;
      std::printf("  %-5s floor %6.2f  fixed %6.2f  loop %6.2f us (eff %5.1f%%)  fma-only-empty "
                  "%6.2f us (eff %5.1f%%)  today at 100%% loop %6.2f us (%5.1f%%)  "
                  "excess (today - no-fma - ideal) %+6.2f us\n",
                  mode == 0 ? "hot" : "graph", floor * 1e6, fixed * 1e6, loop * 1e6,
                  100 * ideal / loop, best_loop * 1e6, 100 * ideal / best_loop, at_full * 1e6,
                  100 * ideal / at_full, (t[kToday] - t[kNoFma] - ideal) * 1e6);
    }
    std::printf("  ideal N^2 FMAs at peak %.2f us; hot-mode bound 2N^2 / (empty hot + ideal) / "
                "peak = %.1f%%\n",
                ideal * 1e6, 100 * ideal / (row.hot[kEmpty] + ideal));
    std::fflush(stdout);
    rows.push_back(row);
  }

  // Summary, one line per N (us; % = of the measured peak).
  std::printf("\n-- anatomy summary %s (hot | graph; us): N  empty no-fma today fma-x2 fma-only | "
              "fixed loop loop-eff%% today%% bound%%\n",
              type);
  for (const Row& row : rows) {
    const double ideal = static_cast<double>(row.n) * row.n / peak;
    for (int mode = 0; mode < 2; ++mode) {
      const double* t = mode == 0 ? row.hot : row.graph;
      const double loop = t[kFmaX2] - t[kToday];
      std::printf("%s N=%-6lld %-5s %6.2f %6.2f %6.2f %6.2f %6.2f | %6.2f %6.2f %5.1f%% %5.1f%% "
                  "%5.1f%%\n",
                  type, static_cast<long long>(row.n), mode == 0 ? "hot" : "graph",
                  t[kEmpty] * 1e6, t[kNoFma] * 1e6, t[kToday] * 1e6, t[kFmaX2] * 1e6,
                  t[kFmaOnly] * 1e6, (t[kNoFma] - t[kEmpty]) * 1e6, loop * 1e6,
                  100 * ideal / loop, 100 * ideal / t[kToday], 100 * ideal / (t[kEmpty] + ideal));
    }
  }
  std::fflush(stdout);
}

// --widths: today's plans (PlanOuterFused: tile widths in steps of 8) against
// the session-8 plans (PlanLegacyFused: steps of 16 or 32) with the same
// kernel code, N = 4000 ... 20000 step 500 (the seed's sweep), interleaved in
// rounds; per plan the % of the measured FMA peak and every step from one N
// to the next that loses more than 5% of GFLOP/s (issue 12's smoothness).
template <typename T>
void BenchWidths(int sms, bool quick) {
  const bool f32 = sizeof(T) == 4;
  const double peak = MeasuredPeakFma<T>(sms);
  const int rounds = quick ? 1 : 3;
  const int iters = 200;
  std::vector<int64_t> sizes;
  for (int64_t n = 4000; n <= 20000; n += 500) sizes.push_back(n);
  const int64_t max_n = sizes.back();
  int64_t partial_elements = 1, counter_count = 1;
  for (int64_t n : sizes) {
    for (const SplitPlan& plan : {kernels::PlanOuterFused<T>(n, sms), PlanLegacyFused<T>(n, sms)}) {
      partial_elements = std::max(partial_elements, plan.PartialElements());
      counter_count = std::max(counter_count, plan.CounterCount());
    }
  }
  FusedBuffers<T> buffers(max_n, partial_elements, counter_count);
  T* const u = buffers.u;
  T* const v = buffers.v;
  T* const out = buffers.out;
  T* const partials = buffers.partials;
  uint32_t* const counters = buffers.counters;
  std::printf("\n== fused outer kernel, %s, tile widths: today's plans vs session 8's, measured "
              "FMA peak %.1f TFLOP/s, %d interleaved round(s) x (hot: %d x %d launches, graph: %d "
              "x a %d-launch graph), medians; %% = of the measured peak\n",
              f32 ? "f32" : "f64", 2 * peak / 1e12, rounds, g_reps, iters, g_reps, iters);
  std::printf("%6s | %-22s %9s %9s %6s %6s | %-22s %9s %9s %6s %6s | %s\n", "N", "today: plan",
              "hot us", "graph us", "hot%", "graph%", "session 8: plan", "hot us", "graph us",
              "hot%", "graph%", "today / s8 (hot)");
  double previous[2] = {0, 0};
  std::vector<std::string> drops[2];
  for (int64_t n : sizes) {
    const SplitPlan plans[2] = {kernels::PlanOuterFused<T>(n, sms), PlanLegacyFused<T>(n, sms)};
    std::vector<double> h[2], g[2];
    for (int r = 0; r < rounds; ++r) {
      for (int which = 0; which < 2; ++which) {
        const SplitPlan plan = plans[which];
        auto launch = [&]() {
          CUDA_OK(kernels::LaunchOuterFused<T>(v, u, out, n, plan,
                                               plan.splits > 1 ? partials : nullptr,
                                               plan.splits > 1 ? counters : nullptr, g_stream));
        };
        h[which].push_back(TimeHot(launch, iters));
        g[which].push_back(TimeGraph(launch, iters));
      }
    }
    const double fmas = static_cast<double>(n) * n;
    std::printf("%6lld", static_cast<long long>(n));
    double hot[2];
    for (int which = 0; which < 2; ++which) {
      hot[which] = Median(h[which]);
      const double graph = Median(g[which]);
      char shape[64];
      std::snprintf(shape, sizeof(shape), "%lld x %lld tiles x %lld", 
                    static_cast<long long>(plans[which].tile_width),
                    static_cast<long long>(plans[which].tiles),
                    static_cast<long long>(plans[which].splits));
      std::printf(" | %-22s %9.2f %9.2f %5.1f%% %5.1f%%", shape, hot[which] * 1e6, graph * 1e6,
                  100 * fmas / peak / hot[which], 100 * fmas / peak / graph);
      const double rate = fmas / hot[which];
      if (previous[which] > 0 && rate < 0.95 * previous[which]) {
        char drop[64];
        std::snprintf(drop, sizeof(drop), "%lld (%.1f%%)", static_cast<long long>(n),
                      100 * (rate / previous[which] - 1));
        drops[which].push_back(drop);
      }
      previous[which] = rate;
    }
    std::printf(" | %.3f\n", hot[0] / hot[1]);
    std::fflush(stdout);
  }
  for (int which = 0; which < 2; ++which) {
    std::printf("%s: hot-mode GFLOP/s drops of more than 5%% from one N to the next: %s",
                which == 0 ? "today" : "session 8", drops[which].empty() ? "none" : "");
    for (size_t i = 0; i < drops[which].size(); ++i) {
      std::printf("%s%s", i ? ", " : "", drops[which][i].c_str());
    }
    std::printf("\n");
  }
}

int Main(int argc, char** argv) {
  bool quick = false, fused_only = false, balanced_only = false, anatomy_only = false,
       widths_only = false;
  std::vector<int64_t> anatomy_sizes = {2000, 4000, 6000, 8000, 8500, 12000, 12500, 16000, 20000};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
      g_reps = 5;
    } else if (std::strcmp(argv[i], "--fused-only") == 0) {
      fused_only = true;
    } else if (std::strcmp(argv[i], "--balanced") == 0) {
      balanced_only = true;
    } else if (std::strcmp(argv[i], "--anatomy") == 0) {
      anatomy_only = true;
    } else if (std::strcmp(argv[i], "--widths") == 0) {
      widths_only = true;
    } else if (std::strcmp(argv[i], "--sizes") == 0 && i + 1 < argc) {
      anatomy_sizes.clear();
      for (const char* p = argv[++i]; *p != '\0';) {
        char* end = nullptr;
        const long long n = std::strtoll(p, &end, 10);
        if (end == p || n < 1 || n > INT32_MAX || (*end != ',' && *end != '\0')) {
          std::fprintf(stderr, "--sizes: expected positive integers separated by commas\n");
          return 2;
        }
        anatomy_sizes.push_back(n);
        p = *end == ',' ? end + 1 : end;
      }
    } else {
      std::fprintf(stderr,
                   "usage: %s [--quick] [--fused-only] [--balanced] [--widths] "
                   "[--anatomy [--sizes a,b,c]]\n",
                   argv[0]);
      return 2;
    }
  }
  cudaDeviceProp props{};
  CUDA_OK(cudaGetDeviceProperties(&props, 0));
  int clock_khz = 0;
  CUDA_OK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
  CUDA_OK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
  CUDA_OK(cudaEventCreate(&g_start));
  CUDA_OK(cudaEventCreate(&g_stop));
  const int sms = props.multiProcessorCount;
  g_peak_fma = 2.0 * 128 * sms * clock_khz * 1e3 / 2;  // FMAs/s: 128 lanes per SM
  {
    const size_t bytes = size_t{1} << 30;
    void *a = nullptr, *b = nullptr;
    CUDA_OK(cudaMalloc(&a, bytes));
    CUDA_OK(cudaMalloc(&b, bytes));
    CUDA_OK(cudaMemset(a, 1, bytes));
    const double t = TimeHot([&]() {
      CUDA_OK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, g_stream));
    }, 10);
    g_copy_bw = 2.0 * bytes / t;
    CUDA_OK(cudaFree(a));
    CUDA_OK(cudaFree(b));
  }
  std::printf("%s, %d SMs, max SM clock %d MHz: FP32 peak %.1f TFLOP/s, D2D copy %.0f GB/s (read + "
              "written)\n",
              props.name, sms, clock_khz / 1000, 2 * g_peak_fma / 1e12, g_copy_bw / 1e9);
  if (anatomy_only) {
    BenchAnatomy<float>(sms, quick, anatomy_sizes);
    BenchAnatomy<double>(sms, quick, anatomy_sizes);
    return 0;
  }
  if (widths_only) {
    BenchWidths<float>(sms, quick);
    BenchWidths<double>(sms, quick);
    return 0;
  }
  if (balanced_only) {
    BenchBalanced<float>(sms, quick);
    BenchBalanced<double>(sms, quick);
    return 0;
  }
  BenchFused<float>(sms, quick);
  if (fused_only) return 0;
  BenchFused<double>(sms, true);
  BenchLibrary(sms);
  return 0;
}

}  // namespace
}  // namespace flopd

int main(int argc, char** argv) { return flopd::Main(argc, argv); }
