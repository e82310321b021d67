// The CUDA backend's kernel file: everything the backend knows about each
// kernel of the op catalog, behind one dispatch (defined in cuda_kernels.cu),
// and flopd's own kernels under test with their launchers.
//
// The dispatch. The rest of the backend is generic: it allocates the buffers
// the catalog lists for a point (InputCounts, OutputCount, TempCount in
// common/op_catalog.h) plus what PlanCudaKernel asks for, fills input i with
// FillUniform's values from seed kInputSeed + i, and calls RunCudaKernel once
// per execution; it verifies against LaunchGpuReference's fp64 reference, or
// the catalog's host reference where that returns false. Adding an op on
// CUDA is a case in each switch of cuda_kernels.cu (NOTES.md has the steps).
//
// The launchers (matvec/custom's row dot, the column and row sums of
// outer/library, outer/fused; the fused kernel's body is in
// outer_fused_kernel.cu) enqueue work on the given stream of the current
// device and return at once, with cudaGetLastError() after the launch (a bad
// configuration shows up here, a fault in the kernel only at the next
// synchronization).
//
// Layout (as the op catalog says): an N x N matrix is row-major, element
// (i, j) at i * N + j. Device buffers come from cudaMalloc (256-byte
// aligned); the kernels handle any N, including rows that do not start on a
// 16-byte boundary.
//
// Arithmetic: every kernel performs the op's own multiplications and
// additions, in an order fixed by N and the launch shape (no atomics on
// values, so results are bit-identical from run to run). Products are
// accumulated with fma(), one rounding per multiply-add, as nvcc's default
// contraction (-fmad=true) would do anyway; no fast-math.
//
// Thread-safety: stateless; callers own the stream and the cuBLAS handle.
#ifndef FLOPD_SERVER_BACKEND_CUDA_CUDA_KERNELS_CUH_
#define FLOPD_SERVER_BACKEND_CUDA_CUDA_KERNELS_CUH_

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "common/op_catalog.h"
#include "common/point.h"
#include "server/backend/cuda/split_plan.h"

namespace flopd {
namespace kernels {

// Launch choices that depend on the device's SM count, made once per point
// by PlanCudaKernel (each planner below states its rule).

// batched_mv/custom's warp layout (see LaunchBatchedRowDot).
enum class BatchedLayout { kWide, kNarrow };

// attention/fused's query-tile height (32 or 64 rows) and thread groups per
// block (see LaunchAttentionFused in attention_kernels.cuh).
struct AttentionFusedConfig {
  int tile_rows = 32;
  int groups = 2;
  // Blocks per query tile, splitting its keys (a thread-block cluster):
  // 2 or 4 only for f32 64 rows x 2 groups at d = 128.
  int cluster = 1;
};

}  // namespace kernels

// ---------------------------------------------------------------------------
// The dispatch.

// Whether RunCudaKernel implements `kernel` (never Kernel::kNone).
bool CudaImplements(Kernel kernel);

// The largest N the kernel supports: 2^31 - 1 for outer/fused (its offsets
// within the summed axis are 32-bit), INT64_MAX for the others (whose N x N
// buffers the memory check keeps far smaller).
int64_t CudaMaxN(Kernel kernel);

// What a point's kernel decides once, when the point is prepared: how a split
// kernel cuts its work (outer/fused; outer/library axis 0's column sums),
// which sizes the scratch partial sums and counters it needs beyond the
// catalog's buffers, and the launch form its params select, so that an
// execution looks nothing up.
struct CudaKernelPlan {
  SplitPlan split;  // tiles 0: the kernel does not split
  int variant = 0;  // the kernel file's own choice (outer: the axis)
  // Kernel launches (or library calls) one execution enqueues: hot mode
  // queues fewer executions behind its gate, and graph mode captures fewer
  // per graph, when each is many launches (chain/unfused: k).
  int launches = 1;
  kernels::BatchedLayout batched_layout = kernels::BatchedLayout::kWide;  // batched_mv/custom
  kernels::AttentionFusedConfig attention;                                // attention/fused
};

// REQUIRES: CudaImplements(point.kernel), the point's params in range.
CudaKernelPlan PlanCudaKernel(const PointSpec& point, int sm_count);

// The device buffers of one execution, as the catalog lays them out.
template <typename T>
struct CudaKernelArgs {
  const PointSpec* point = nullptr;
  CudaKernelPlan plan;             // PlanCudaKernel(*point, ...)
  std::vector<const T*> inputs;    // InputCounts(*point), in the catalog's order
  T* out = nullptr;                // OutputCount(*point) elements
  T* temp = nullptr;               // TempCount(*point) elements; null when 0
  T* partials = nullptr;           // plan.split.PartialElements(); null when 0
  uint32_t* counters = nullptr;    // plan.split.CounterCount(), zeroed once; null when 0
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;  // set to `stream`
};

// What RunCudaKernel enqueued: ok(), or the first call that failed (a
// launch's CUDA error or a cuBLAS status) and its name, for
// GpuContext::Check / CheckCublas to turn into a status.
struct CudaKernelStatus {
  cudaError_t cuda = cudaSuccess;
  cublasStatus_t cublas = CUBLAS_STATUS_SUCCESS;
  const char* what = "";
  bool ok() const { return cuda == cudaSuccess && cublas == CUBLAS_STATUS_SUCCESS; }

  // A launch's error (cudaSuccess: ok) or a cuBLAS call's status, named.
  static CudaKernelStatus Launch(cudaError_t e, const char* what) {
    CudaKernelStatus status;
    status.cuda = e;
    status.what = what;
    return status;
  }
  static CudaKernelStatus Library(cublasStatus_t s, const char* what) {
    CudaKernelStatus status;
    status.cublas = s;
    status.what = what;
    return status;
  }
};

// Enqueues one execution of the point's kernel on args.stream (cuBLAS on
// args.cublas); nothing is allocated or synchronized, so it may be captured
// into a CUDA graph. T is float or double.
// REQUIRES: CudaImplements(args.point->kernel), buffers as above.
template <typename T>
CudaKernelStatus RunCudaKernel(const CudaKernelArgs<T>& args);

// Enqueues the point's fp64 reference, computed on the GPU from `inputs`
// (device, as in CudaKernelArgs) into reference[0, OutputCount), and returns
// true with the launch's error in *launched; returns false, enqueuing
// nothing, when the kernel file has no GPU reference for the op (the caller
// then uses the catalog's host reference, ReferenceResult). The GPU
// references (support_kernels.cuh) share no code with the kernels under test.
template <typename T>
bool LaunchGpuReference(const PointSpec& point, const std::vector<const T*>& inputs,
                        double* reference, cudaStream_t stream, cudaError_t* launched);

// ---------------------------------------------------------------------------
// flopd's kernels under test.

namespace kernels {

// Threads per block of the memory-bound kernels (8 warps).
inline constexpr int kBlockThreads = 256;
inline constexpr int kBlockWarps = kBlockThreads / 32;

// The fused outer kernel runs one block of 8 warps per SM: all warps of an
// SM load, multiply and reduce together, so no block waits behind another's FMAs and none runs
// alone at the end. A block owns a tile of outputs; within each warp, lanes
// l, l + 8, l + 16, l + 24 (eight lanes 4 apart for f64's 76 and 100) own
// the same kJ outputs, kept in registers, and take alternate 4-element
// groups of the warp's share of the summed axis; the warps split the block's
// chunk. Each tile width is a compiled variant: 8 kJ, so the widths run in
// steps of 8 (f64 also 4 kJ for kJ = 19, 25); PlanFusedOnePerSm
// picks the width and split per N so that the blocks fill the SMs in one
// wave with as little idle as the widths allow.
// Warps per block and the lane-group size (a lane owns tile width / this
// outputs): on an H200, 8 warps in groups of 8 took 0.85-0.96x (f32) and
// 0.86-1.00x (f64) the time of round 6's 32 (f32) or 16 (f64) warps in groups
// of 16 from N = 4000 to 20000; of the other shapes measured (16 x 8, 8 x 4,
// 16 x 4, 8 x 16, 4 x 8, 4 x 4) none was more than ~3% faster from N = 10000
// up, and 16 x 8 was up to 1.2x faster than round 6 below that, f32 only
// (docs/results/h200_fused_shapes.md).
inline constexpr int kFusedWarpsF32 = 8;
inline constexpr int kFusedWarpsF64 = 8;
inline constexpr int kFusedLanesF32 = 8;
inline constexpr int kFusedLanesF64 = 8;
inline constexpr int64_t kFusedTileWidthsF32[] = {40,  56,  64,  72,  80,  88,  96,  104,
                                                  112, 120, 128, 136, 144, 152, 160, 176,
                                                  192, 208, 224, 240, 256};
// f64 also has 76 and 100 (4 kJ for kJ = 19, 25: lanes in eight groups of
// 4), so that N = 10000 fills the 132 SMs (76 x 132 tiles); not 92 (ran 5%
// slower than 96 at N = 12000, session 9) nor, since its blocks have 8 warps,
// 84 (kJ = 21: N = 11000 ran 5.2-5.6% below 10500's GFLOP/s on an H200, round 7;
// docs/results/h200_fused_shapes.md).
inline constexpr int64_t kFusedTileWidthsF64[] = {40,  56,  64,  72,  76,  80,  88,  96,  100,
                                                  104, 112, 120, 128, 136, 144, 152, 160};
template <typename T>
constexpr const auto& FusedTileWidths() {
  if constexpr (sizeof(T) == 4) {
    return kFusedTileWidthsF32;
  } else {
    return kFusedTileWidthsF64;
  }
}
// Chunks of the summed axis are multiples of this: with 8 warps every
// warp's share of a whole chunk is 64 elements or a multiple (a step is 16
// elements with lanes in groups of 8, 32 in groups of 4), and starts on a
// 16-byte boundary.
inline constexpr int64_t kFusedChunkMultiple = 512;

// The fused kernel's plan for N = n on a GPU with `sm_count` SMs:
// PlanFusedOnePerSm over this kernel's variants for T.
template <typename T>
SplitPlan PlanOuterFused(int64_t n, int sm_count);

// Elements per vector load of the column-sum kernel: 16 bytes when every row
// starts on a 16-byte boundary (N a multiple of 4 floats / 2 doubles), else 1.
template <typename T>
constexpr int64_t ColumnSumsVector(int64_t n) {
  return n % static_cast<int64_t>(16 / sizeof(T)) == 0 ? static_cast<int64_t>(16 / sizeof(T)) : 1;
}
// Vector loads per row a column-sum thread makes (its columns, 256 vectors
// apart).
inline constexpr int kColumnSumsVectorsPerThread = 1;
// Columns of one column-sum block.
template <typename T>
constexpr int64_t ColumnSumsTileWidth(int64_t n) {
  return kBlockThreads * ColumnSumsVector<T>(n) * kColumnSumsVectorsPerThread;
}

// chain: out_i = in_i taken through `steps` steps y <- fma(a, y, b) (kChainA,
// kChainB; one rounding per step), for i < n. `in` may equal `out`. Each
// thread keeps kChainPerThread elements (blockDim apart, so loads coalesce)
// in registers through all the steps: independent FMA chains per thread.
inline constexpr int kChainPerThread = 4;
template <typename T>
cudaError_t LaunchChain(const T* in, T* out, int64_t n, int steps, cudaStream_t stream);

// y_i = sum_j A_ij x_j (matvec/custom), or y_i = sum_j A_ij when x is null
// (the row sums of outer/library). One warp per row, 16-byte streaming loads
// of A (ld.global.nc.L1::no_allocate, 8 per lane in flight), x through L1.
template <typename T>
cudaError_t LaunchRowDot(const T* a, const T* x, T* y, int64_t n, cudaStream_t stream);

// Y = A X for `batch` vectors (batched_mv/custom): y_b = A x_b, x_b at
// x + b n and y_b at y + b n, b < batch; batch one of 1, 2, 4, 8, 16, 32, 64,
// n > 0 (cudaErrorInvalidValue otherwise). A is read from memory once, with
// 16-byte streaming loads when n is a multiple of the vector width (else one
// element at a time). Each block copies every column step's piece of every
// x_b into shared memory (double-buffered, one barrier a step), so x crosses
// L2 once per block, and one shared load of x_b serves several rows.
//
// Two layouts of a warp (BatchedShape):
//   wide:   the 32 lanes across the columns of `rows` rows (1-4);
//   narrow: 4 groups of 8 lanes, each group across the columns of its own
//           `rows` rows; the groups read the same x, which shared memory
//           broadcasts, so a load of x costs a quarter of the wide layout's
//           and feeds as many FMAs. Offered for batch >= 8.
// The narrow layout has 4x the rows per block: PlanBatchedLayout picks it
// when its grid still fills the GPU (at least 15/16 of a block per SM), else
// wide (on an H200, measured: narrow is faster from there on, wide below).
// Sum order: per lane, its columns in order with the vector's components
// interleaved; then a butterfly over the lanes of the row (32 or 8).
struct BatchedShape {
  int lanes;  // lanes of a warp across the columns: 32 or 8
  int rows;   // rows per lane group
};
inline constexpr BatchedShape BatchedWideShape(int batch) {
  return {32, batch == 1 ? 1 : batch == 2 ? 2 : batch <= 16 ? 4 : batch == 32 ? 2 : 1};
}
inline constexpr BatchedShape BatchedNarrowShape(int batch) {
  return {8, batch == 8 ? 2 : batch == 16 ? 4 : batch == 32 ? 2 : 1};
}
// kWide for batch < 8 (the narrow layout is not offered there).
BatchedLayout PlanBatchedLayout(int64_t n, int batch, int sm_count);
// kNarrow with batch < 8 is cudaErrorInvalidValue.
template <typename T>
cudaError_t LaunchBatchedRowDot(const T* a, const T* x, T* y, int64_t n, int batch,
                                cudaStream_t stream, BatchedLayout layout);

// out_k = sum_m owned_k * summed_m for k, m < n: the fused outer product.
// axis 0 (column sums): owned = v, summed = u.  axis 1: owned = u, summed = v.
// `plan` from PlanFusedOnePerSm: tile_width listed in kFusedTileWidthsF32 /
// kFusedTileWidthsF64, chunk a multiple of kFusedChunkMultiple,
// n < 2^31 (cudaErrorInvalidValue otherwise). `partials` and `counters` as
// the plan asks (null when splits == 1), counters zeroed once before the
// first launch.
template <typename T>
cudaError_t LaunchOuterFused(const T* owned, const T* summed, T* out, int64_t n,
                             const SplitPlan& plan, T* partials, uint32_t* counters,
                             cudaStream_t stream);

// out_j = sum_i P_ij: column sums of the N x N product (outer/library axis 0).
// `plan` from PlanStreamingSplit with tile_width ColumnSumsTileWidth<T>(n).
template <typename T>
cudaError_t LaunchColumnSums(const T* p, T* out, int64_t n, const SplitPlan& plan, T* partials,
                             uint32_t* counters, cudaStream_t stream);

}  // namespace kernels
}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CUDA_CUDA_KERNELS_CUH_
