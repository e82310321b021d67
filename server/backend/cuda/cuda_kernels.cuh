// flopd's own CUDA kernels and their launchers. Everything here enqueues work
// on the given stream of the current device and returns at once; the
// launchers return cudaGetLastError() after the launch (a bad configuration
// shows up here, a fault in the kernel only at the next synchronization).
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
#ifndef FLOPD_SERVER_BACKEND_CUDA_CUDA_KERNELS_CUH_
#define FLOPD_SERVER_BACKEND_CUDA_CUDA_KERNELS_CUH_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "server/backend/cuda/split_plan.h"

namespace flopd {
namespace kernels {

// Threads per block of the memory-bound kernels (8 warps).
inline constexpr int kBlockThreads = 256;
inline constexpr int kBlockWarps = kBlockThreads / 32;

// The fused outer kernel runs one block per SM (32 warps for f32, 16 for
// f64, whose 10 owned values and 10 accumulators per lane need more than the
// 64 registers a 1024-thread block allows): all warps of an SM load, multiply
// and reduce together, so no block waits behind another's FMAs and none runs
// alone at the end. A block owns a tile of outputs; within each warp, lanes l
// and l + 16 own the same kJ outputs (tile_base + l % 16 + 16 m, m < kJ, kept
// in registers) and take alternate 4-element groups of the warp's share of
// the summed axis; the warps split the block's chunk. kJ is a compiled
// variant (tile width 16 kJ); PlanFusedOnePerSm picks the tile width and
// split per N so that the blocks fill the SMs in one wave.
inline constexpr int kFusedLaneGroup = 16;
inline constexpr int kFusedWarpsF32 = 32;
inline constexpr int kFusedWarpsF64 = 16;
inline constexpr int kFusedLanesF32[] = {4, 6, 8, 10, 12, 16};
inline constexpr int kFusedLanesF64[] = {4, 6, 8, 10};
// Chunks of the summed axis are multiples of this: every warp's share is a
// multiple of 8 elements (4 per half-warp) and starts on a 16-byte boundary.
inline constexpr int64_t kFusedChunkMultiple = 256;

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

// y_i = sum_j A_ij x_j (matvec/custom), or y_i = sum_j A_ij when x is null
// (the row sums of outer/library). One warp per row, 16-byte streaming loads
// of A (ld.global.nc.L1::no_allocate, 8 per lane in flight), x through L1.
template <typename T>
cudaError_t LaunchRowDot(const T* a, const T* x, T* y, int64_t n, cudaStream_t stream);

// out_k = sum_m owned_k * summed_m for k, m < n: the fused outer product.
// axis 0 (column sums): owned = v, summed = u.  axis 1: owned = u, summed = v.
// `plan` from PlanFusedOnePerSm: tile_width 16 kJ for a kJ listed in
// kFusedLanesF32 / kFusedLanesF64, chunk a multiple of kFusedChunkMultiple,
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

// Inputs and references, for Prepare: a point's inputs and its fp64
// reference are made on the GPU, so that an N = 20000 matvec point does not
// spend seconds on the host drawing 4e8 numbers and summing them.
//
// data[i] = UniformInputAs<T>(seed, i) for i < count: bit-identical to the
// host's FillUniform(data, count, seed) (the same integer steps, exact
// conversions and one correctly rounded narrowing).
template <typename T>
cudaError_t LaunchFillUniform(T* data, int64_t count, uint64_t seed, cudaStream_t stream);

// fp64 references, as plain as possible and sharing no code with the kernels
// under test:
//   matvec: y_i = sum_j double(A_ij) * double(x_j), one warp per row.
//   outer:  out_k = sum_m double(owned_k) * double(summed_m), all N^2 terms,
//           one thread per output adding in m order.
template <typename T>
cudaError_t LaunchReferenceMatvec(const T* a, const T* x, double* y, int64_t n,
                                  cudaStream_t stream);
template <typename T>
cudaError_t LaunchReferenceOuter(const T* owned, const T* summed, double* out, int64_t n,
                                 cudaStream_t stream);

// One thread spins for `spin_ns` of %globaltimer and writes
// {elapsed ns, elapsed SM cycles (clock64)} to out[0..1]: their ratio is the
// SM clock while the kernel ran.
cudaError_t LaunchClockProbe(int64_t spin_ns, unsigned long long* out, cudaStream_t stream);

// The FMA-throughput kernel behind CudaDevice::MeasureCeilings: every thread
// runs kFmaPeakChains independent fma() chains in registers (acc = fma(acc,
// multiplier, addend), the multiplier and addend kernel arguments, so nothing
// folds at compile time; without fast-math nvcc may not reassociate them),
// kFmaPeakUnroll steps per loop trip, `iterations` trips. Each thread then
// writes the sum of its chains to sink[thread] (blocks x kFmaPeakThreads
// elements), so no chain is dead code. Thread 0 of block 0 writes
// {elapsed ns of %globaltimer, elapsed SM cycles of clock64()} across its
// loop to clock_words[0..1]: their ratio is the SM clock while the FMAs ran.
// FMAs per thread: iterations x kFmaPeakChains x kFmaPeakUnroll (2 FLOP each).
inline constexpr int kFmaPeakThreads = 256;
inline constexpr int kFmaPeakChains = 16;
inline constexpr int kFmaPeakUnroll = 8;

// Resident blocks of the FMA kernel per SM (the occupancy calculator's
// answer for T); launching sm_count x this fills every SM in one wave.
template <typename T>
cudaError_t FmaPeakBlocksPerSm(int* blocks_per_sm);

template <typename T>
cudaError_t LaunchFmaPeak(int blocks, int iterations, T multiplier, T addend, T* sink,
                          unsigned long long* clock_words, cudaStream_t stream);

}  // namespace kernels
}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CUDA_CUDA_KERNELS_CUH_
