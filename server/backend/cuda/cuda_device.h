// The CUDA backend: one flopd Device per visible GPU, ids "cuda:0",
// "cuda:1", ... in CUDA's device order (CUDA_VISIBLE_DEVICES applies), backend
// "cuda". CreateCudaDevices (declared in server/backend/registry.h) builds
// them; without a driver or GPU it returns FAILED_PRECONDITION "no CUDA
// device: cudaGetDeviceCount: <CUDA's error>", and UNAVAILABLE when GPUs exist
// but none could be initialized.
//
// Impls (the op catalog's backend "cuda"), for f32 and f64. cuBLAS runs with
// CUBLAS_DEFAULT_MATH, so f32 GEMM/GEMV stay in full FP32 (TF32 off):
//   matvec/gemm     cuBLAS ?gemm, m = N, n = 1, k = N, A transposed (the
//                   row-major A is column-major A^T), as torch.mm(A, x) calls it
//   matvec/gemv     cuBLAS ?gemv with CUBLAS_OP_T
//   matvec/custom   flopd's row-dot kernel (cuda_kernels.cuh)
//   outer/library   cuBLAS ?gemm with k = 1 writes the N x N product P (f32
//                   passes u as N x 1 with op T, which cuBLAS runs faster
//                   than the equivalent 1 x N with op N), then flopd's
//                   column-sum (axis 0) or row-sum (axis 1) kernel
//   outer/fused     flopd's fused kernel: no N x N temporary
// Prepare draws the inputs on the GPU, bit-identical to the host's
// FillUniform (seed kInputSeed + buffer index, in ReferenceResult's order),
// and computes the fp64 reference there with plain kernels of its own (see
// cuda_kernels.cuh); only the N-element reference comes back to the host. At
// N = 20000 this takes milliseconds, where drawing and summing 4e8 numbers on
// one host core took 1-2 s.
//
// Timing (MeasureSettings::timing), always with CUDA events on the device's
// own stream:
//   hot    `iterations` executions back to back between two events.
//   graph  the executions captured once into a CUDA graph (at most 1024 per
//          graph; larger counts replay it several times), cached per count,
//          replayed between two events. A count's first TimeBatch captures,
//          uploads and replays once untimed before the timed replay.
//   cold   before each execution a cudaMemsetAsync over a buffer of at least
//          twice the L2 size evicts the inputs; each execution is timed by its
//          own event pair and the times are summed.
// TimeBatch allocates nothing except a graph mode's first use of a count.
//
// Memory: BytesAvailable() is cudaMemGetInfo's free bytes minus
// kCudaMemoryMarginBytes; BytesNeeded() is BufferBytes() plus the split
// kernels' scratch partial sums and, in cold mode, the flush buffer. Prepare
// compares the two before it allocates anything (host or device) and returns
// RESOURCE_EXHAUSTED naming both.
//
// Health: every CUDA and cuBLAS status is checked; failures are INTERNAL with
// CUDA's error name and text or cuBLAS's status name. A sticky error (an
// illegal address, a kernel fault: the CUDA context is lost) marks the
// device unhealthy: Healthy() returns false with the error, and Prepare
// returns FAILED_PRECONDITION from then on.
//
// Clocks: each point reads the SM clock after its warm-up and after sampling
// with a probe kernel (clock64() against %globaltimer), plus NVML (loaded with
// dlopen; optional) at those times and every 20 ms during sampling.
// CollectWarnings reports a drop of more than 5% below an earlier reading; the
// last readings appear in Describe().properties ("sm_clock_mhz_last", ...).
//
// Observations (PreparedPoint::CollectObservations): "sm_clock_mhz_before"
// (probe kernel after warm-up) and "sm_clock_mhz_after" (after sampling; one
// reading shared with CollectWarnings, whichever runs first), the same from
// NVML as "*_nvml" plus "sm_clock_mhz_min_nvml" where NVML is loaded, and
// "sm_clock_source" naming them. Describe().library names the cuBLAS version
// and the TF32 state ("cuBLAS 13.1.0, TF32 off").
//
// Ceilings (Device::MeasureCeilings, ~0.3 s on an H100, all buffers freed
// before it returns; errors as everywhere else: INTERNAL, sticky ones mark the
// device unhealthy; FAILED_PRECONDITION when already unhealthy;
// RESOURCE_EXHAUSTED when not even 2 x 64 MiB are free):
//   bandwidth  cudaMemcpyAsync device-to-device of max(1 GiB, 8 x L2) (less
//              when free memory is short), bytes read + written, the best of
//              10 copies each timed by its own event pair (median in method).
//   peak       per dtype, the FMA kernel of cuda_kernels.cuh (16 independent
//              register chains per thread, one wave of blocks filling every
//              SM as the occupancy calculator allows), 2 FLOP per FMA, the
//              best of 5 event-timed runs of ~20 ms after a calibration run.
//   clock_hz   clock64() / %globaltimer of block 0 across the best f32 run
//              (NVML read mid-run is quoted in clock_method).
//   derived    SMs x FP32 (FP64) lanes per SM by compute capability (sm_90:
//              128 / 64) x 2 x the clock of that dtype's run; a dtype whose
//              lanes are unknown is left out and derived_method says so.
//   latency_threshold_seconds = LatencyThresholdSeconds("cuda") (10 us).
//
// Thread-safety: each Device owns its stream and cuBLAS handle and makes its
// GPU current (cudaSetDevice) at the start of every public method, so
// different devices may run concurrently from different threads. One device
// runs one point at a time (the scheduler's contract); Describe(),
// BytesAvailable(), BytesNeeded() and Healthy() are safe from any thread.
// Describe() returns a snapshot owned by the calling thread, valid until that
// thread calls Describe() on the same device again.
#ifndef FLOPD_SERVER_BACKEND_CUDA_CUDA_DEVICE_H_
#define FLOPD_SERVER_BACKEND_CUDA_CUDA_DEVICE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/point.h"
#include "server/backend/device.h"
#include "server/backend/registry.h"

namespace flopd {

// Kept free on the GPU beyond what a point needs (CUDA context growth,
// cuBLAS's internal allocations, other processes' jitter).
inline constexpr int64_t kCudaMemoryMarginBytes = int64_t{256} << 20;

// Device-to-device copy bandwidth of GPU `device_index` in bytes per second,
// counting bytes read plus bytes written: `repetitions` cudaMemcpyAsync of
// `bytes` each, timed with events after one untimed copy. Allocates 2 x bytes
// for the duration of the call. The memory roofline flopd's kernels are held
// against. REQUIRES: bytes >= 1, repetitions >= 1.
absl::StatusOr<double> MeasureCudaCopyBandwidth(int device_index, int64_t bytes, int repetitions);

// For tests: the inputs and fp64 reference exactly as Prepare makes them for
// `point` on GPU `device_index` (the same code), copied back: *first = A or
// u, *second = x or v, *reference = the N reference values. T is float or
// double (the point's dtype is not consulted). Allocates the inputs on the
// GPU for the duration of the call. REQUIRES: point.op is "matvec" or
// "outer" (with params axis 0 or 1).
template <typename T>
absl::Status CopyPreparedInputsForTesting(int device_index, const PointSpec& point,
                                          std::vector<T>* first, std::vector<T>* second,
                                          std::vector<double>* reference);

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CUDA_CUDA_DEVICE_H_
