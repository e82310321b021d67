// The CUDA backend's Device: one per visible GPU, ids "cuda:0", "cuda:1",
// ... in CUDA's device order (CUDA_VISIBLE_DEVICES applies), backend "cuda".
// CreateCudaDevices (declared in server/backend/registry.h, defined in
// cuda_device.cc) builds them: FAILED_PRECONDITION "no CUDA device:
// cudaGetDeviceCount: <CUDA's error>" without a driver or GPU, UNAVAILABLE
// when GPUs exist but none could be initialized. How the backend is
// organised, and why: NOTES.md.
//
// Errors: INTERNAL for every failed CUDA or cuBLAS call, with CUDA's error
// name and text or cuBLAS's status name. A sticky error (the CUDA context is
// lost) marks the device unhealthy: Healthy() returns false with the error,
// and Prepare and MeasureCeilings return FAILED_PRECONDITION from then on.
// Prepare does not compare BytesNeeded with BytesAvailable (the measurement
// loop does, in CheckPointFits); a cudaMalloc that fails is RESOURCE_EXHAUSTED.
//
// Thread-safety: each device owns its stream and cuBLAS handle and makes its
// GPU current (cudaSetDevice) at the start of every public method, so
// different devices may run concurrently from different threads. One device
// runs one point at a time (the scheduler's contract); Describe(),
// BytesAvailable(), BytesNeeded() and Healthy() are safe from any thread.
// Describe() returns a snapshot owned by the calling thread, valid until that
// thread calls Describe() on the same device again.
//
// No CUDA type appears in this header: it is included by code built without
// the CUDA headers (tools, tests).
#ifndef FLOPD_SERVER_BACKEND_CUDA_CUDA_DEVICE_H_
#define FLOPD_SERVER_BACKEND_CUDA_CUDA_DEVICE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/measure_settings.h"
#include "common/point.h"
#include "common/roofline.h"
#include "server/backend/device.h"
#include "server/backend/registry.h"

namespace flopd {

class GpuContext;  // gpu_context.h

class CudaDevice : public Device {
 public:
  // Takes a context whose Init() succeeded and reads the GPU's fixed
  // properties (versions, clocks, memory, NVML) once.
  explicit CudaDevice(std::shared_ptr<GpuContext> context);
  ~CudaDevice() override;

  // The fixed description plus what changes while flopd runs: "health",
  // "sm_clock_mhz_last" (+ "_nvml") and "sm_clock_last_read".
  const DeviceDescription& Describe() const override;

  // cudaMemGetInfo's free bytes minus a 256 MiB margin; 0 when unknown.
  int64_t BytesAvailable() const override;

  // BufferBytes(point) plus the fp64 reference, the split kernels' scratch
  // partial sums and counters and, in cold mode, the flush buffer;
  // INT64_MAX when the catalog's buffers would overflow int64 byte counts
  // (CudaBytesNeeded, cuda_point.h). REQUIRES: the point is resolved
  // (point.kernel), as BufferBytes requires.
  int64_t BytesNeeded(const PointSpec& point, TimingMode timing) const override;

  bool Healthy(std::string* detail) const override;

  // Dispatches on point.kernel (set by the op catalog): INTERNAL for a
  // kernel the backend does not implement (kNone included);
  // INVALID_ARGUMENT for N < 1, N past the kernel's limit (CudaMaxN) or a
  // param outside the catalog's allowed values.
  absl::StatusOr<std::unique_ptr<PreparedPoint>> Prepare(const PointSpec& point,
                                                         const MeasureSettings& settings) override;

  // Copy bandwidth, FMA peaks and clock (cuda_ceilings.h).
  absl::StatusOr<DeviceCeilings> MeasureCeilings(const std::atomic<bool>& stop) override;

 private:
  const std::shared_ptr<GpuContext> context_;
  DeviceDescription description_;
};

// Device-to-device copy bandwidth of GPU `device_index` in bytes per second,
// counting bytes read plus bytes written: `repetitions` cudaMemcpyAsync of
// `bytes` each, timed with events after one untimed copy. Allocates 2 x bytes
// for the duration of the call. The memory roofline flopd's kernels are held
// against. REQUIRES: bytes >= 1, repetitions >= 1.
absl::StatusOr<double> MeasureCudaCopyBandwidth(int device_index, int64_t bytes, int repetitions);

// For tests: the inputs and fp64 reference exactly as Prepare makes them for
// `point` on GPU `device_index` (the same code), copied back: (*inputs)[i] =
// input i of the catalog (InputCounts(point)[i] elements), *reference = the
// OutputCount(point) reference values, from the GPU reference kernel where
// the kernel file has one, or from the catalog's host reference when there
// is none or `host_reference` is set. T is float or double (the point's
// dtype is not consulted). Allocates the inputs on the GPU for the duration
// of the call. INTERNAL when the backend does not implement point.kernel.
// REQUIRES: the point's params are in range.
template <typename T>
absl::Status CopyPreparedInputsForTesting(int device_index, const PointSpec& point,
                                          std::vector<std::vector<T>>* inputs,
                                          std::vector<double>* reference,
                                          bool host_reference = false);

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CUDA_CUDA_DEVICE_H_
