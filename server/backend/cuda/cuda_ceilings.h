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
//  - derived_bandwidth_bytes_per_s: the memory's theoretical bandwidth, its
//    peak clock (cudaDevAttrMemoryClockRate, else NVML's memory clock after
//    the copies) x bus width x 2 transfers per clock; 0 when neither clock is
//    known (derived_method says so).
//  - doubts: CudaCeilingsDoubts; a doubtful measurement is repeated once
//    after 0.2 s and the better attempt kept (MeasureCeilingsWithRetry).
//
// About 0.3 s on an H100; every buffer is freed before it returns. Errors:
// INTERNAL from CUDA (sticky ones mark the context unhealthy),
// RESOURCE_EXHAUSTED when not even 2 x 64 MiB are free. Not thread-safe
// against other work on the same GPU context: the scheduler runs it on the
// device's worker, never beside a point.
#ifndef FLOPD_SERVER_BACKEND_CUDA_CUDA_CEILINGS_H_
#define FLOPD_SERVER_BACKEND_CUDA_CUDA_CEILINGS_H_

#include <atomic>
#include <map>
#include <string>
#include <vector>

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

// What the sanity checks of a GPU measurement look at (host-only: testable
// without a GPU). Zero or -1 means unknown; a check whose figures are
// unknown is skipped.
struct CudaCeilingsCheckInputs {
  std::map<std::string, double> peak_flops;          // measured, by dtype
  std::map<std::string, double> derived_peak_flops;  // SMs x lanes x 2 x run clock, by dtype
  // best / worst of each dtype's timed FMA runs (by dtype) and best / median
  // of the timed copies ("bandwidth").
  std::map<std::string, double> run_spread;
  double bandwidth_bytes_per_s = 0;                  // measured (copies)
  double theoretical_bandwidth_bytes_per_s = 0;      // memory clock x bus width x 2
  double clock_mhz = 0;                              // clock64() / %globaltimer, f32 run
  double nvml_clock_mhz = 0;                         // NVML, read during that run
  int compute_processes = -1;                        // NVML, flopd's own included
};

// Why the figures may not be true (DeviceCeilings::doubts); empty when every
// check passes:
//   - a measured peak above 110% of the derived one (the lanes per SM or the
//     clock are wrong), or below 50% of it (the GPU was shared or throttled);
//   - bandwidth above 105% of the theoretical one, or below 50% of it;
//   - a figure's timed runs more than 15% apart;
//   - the kernel's clock and NVML's more than 15% apart;
//   - other processes with a compute context on the GPU.
std::vector<std::string> CudaCeilingsDoubts(const CudaCeilingsCheckInputs& in);

// memory clock (kHz) x bus width (bits) / 8 x 2: bytes per second; 0 when
// either is unknown (<= 0).
double TheoreticalBandwidth(double memory_clock_khz, int bus_width_bits);

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CUDA_CUDA_CEILINGS_H_
