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
// Prints one table per part. Usage: flopd_gpu_kernel_bench [--quick] [--fused-only]
// (--quick: N = 20000 only and fewer repetitions; --fused-only: part 1 alone,
// for a profiler pass.)
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
#include <string>
#include <vector>

#include "bench/gpu/fused_baseline.cuh"
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

SplitPlan MakePlan(int kj, int64_t n, int64_t wanted_splits) {
  SplitPlan plan;
  plan.tile_width = kernels::kFusedLaneGroup * kj;
  plan.tiles = (n + plan.tile_width - 1) / plan.tile_width;
  const int64_t m = kernels::kFusedChunkMultiple;
  plan.chunk = ((n + wanted_splits - 1) / wanted_splits + m - 1) / m * m;
  plan.splits = (n + plan.chunk - 1) / plan.chunk;
  return plan;
}

template <typename T>
void BenchFused(int sms, bool quick) {
  const bool f32 = sizeof(T) == 4;
  std::printf("\n== fused outer kernel, %s (%d threads, one block per SM; tile = 16 kJ)\n",
              f32 ? "f32" : "f64", 32 * (f32 ? kernels::kFusedWarpsF32 : kernels::kFusedWarpsF64));
  const std::vector<int> lanes = f32 ? std::vector<int>(std::begin(kernels::kFusedLanesF32),
                                                        std::end(kernels::kFusedLanesF32))
                                     : std::vector<int>(std::begin(kernels::kFusedLanesF64),
                                                        std::end(kernels::kFusedLanesF64));
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
    int kj;
    int64_t splits;
  };
  std::vector<Variant> variants;
  // The planner's choice first at each N, then the alternatives.
  const std::vector<int64_t> sizes = quick ? std::vector<int64_t>{20000}
                                           : std::vector<int64_t>{20000, 19500, 12000, 8000, 4100};
  for (int64_t n : sizes) {
    const SplitPlan chosen = kernels::PlanOuterFused<T>(n, sms);
    variants.push_back(
        {n, static_cast<int>(chosen.tile_width / kernels::kFusedLaneGroup), chosen.splits});
    for (int kj : lanes) {
      for (int64_t s : {1, 2, 4}) {
        const SplitPlan p = MakePlan(kj, n, s);
        if (p.tiles * p.splits > 2 * sms) continue;
        if (p.tile_width == chosen.tile_width && p.splits == chosen.splits) continue;
        variants.push_back({n, kj, p.splits});
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
    const SplitPlan plan = MakePlan(var.kj, var.n, var.splits);
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

int Main(int argc, char** argv) {
  bool quick = false, fused_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
      g_reps = 5;
    } else if (std::strcmp(argv[i], "--fused-only") == 0) {
      fused_only = true;
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--fused-only]\n", argv[0]);
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
  BenchFused<float>(sms, quick);
  if (fused_only) return 0;
  BenchFused<double>(sms, true);
  BenchLibrary(sms);
  return 0;
}

}  // namespace
}  // namespace flopd

int main(int argc, char** argv) { return flopd::Main(argc, argv); }
