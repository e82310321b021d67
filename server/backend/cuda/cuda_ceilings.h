// The CUDA device's ceilings for the roofline (common/roofline.h):
//
//  - bandwidth: cudaMemcpyAsync device-to-device of max(1 GiB, 8 x L2) (less
//    when free memory is short), bytes read + written, the best of 10 copies
//    each timed by its own event pair (the median goes into the method text).
//  - peak: per dtype, the FMA kernel of cuda_kernels.cuh (16 independent
//    register chains per thread, one wave of blocks filling every SM as the
//    occupancy calculator allows), 2 FLOP per FMA, the best of 5 event-timed
//    runs of ~20 ms after a calibration run.
//  - clock_hz: clock64() / %globaltimer of block 0 across the best f32 run
//    (NVML, read mid-run, is quoted in clock_method).
//  - derived: SMs x FP32 (FP64) lanes per SM by compute capability (sm_90:
//    128 / 64) x 2 x the clock of that dtype's run; a dtype whose lanes are
//    unknown is left out and derived_method says so.
//  - latency_threshold_seconds = LatencyThresholdSeconds("cuda") (10 us).
//
// About 0.3 s on an H100; every buffer is freed before it returns. Errors:
// INTERNAL from CUDA (sticky ones mark the context unhealthy),
// RESOURCE_EXHAUSTED when not even 2 x 64 MiB are free. Not thread-safe
// against other work on the same GPU context: the scheduler runs it on the
// device's worker, never beside a point.
#ifndef FLOPD_SERVER_BACKEND_CUDA_CUDA_CEILINGS_H_
#define FLOPD_SERVER_BACKEND_CUDA_CUDA_CEILINGS_H_

#include <atomic>

#include "absl/status/statusor.h"
#include "common/roofline.h"
#include "server/backend/cuda/gpu_context.h"

namespace flopd {

// Measures the ceilings of the context's GPU on its stream; CANCELLED
// between its phases (copy, f32 FMA, f64 FMA) once `stop` is set.
// REQUIRES: the context's GPU is current and healthy.
absl::StatusOr<DeviceCeilings> MeasureCudaCeilings(GpuContext& ctx, const std::atomic<bool>& stop);

// FP32 lanes per SM of compute capability major.minor, where known; 0 when
// unknown.
int Fp32LanesPerSm(int major, int minor);

// FP64 lanes per SM, where known: the data-center parts run FP64 at half the
// FP32 rate (Volta, A100, Hopper, B200), the others at 1/64 of the FP32
// lanes' 128. 0 = unknown (e.g. sm_103).
int Fp64LanesPerSm(int major, int minor);

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CUDA_CUDA_CEILINGS_H_
