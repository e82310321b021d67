// The per-GPU state the CUDA backend's pieces share: GpuContext (the GPU's
// stream, cuBLAS handle, clock probe and health), DeviceBuffer (one
// cudaMalloc'ed array) and the text helpers for CUDA's errors and ids.
// Internal to server/backend/cuda: the only header of the backend besides
// cuda_kernels.cuh that names CUDA types.
//
// Errors: every CUDA and cuBLAS status goes through GpuContext::Check or
// CheckCublas, which turn a failure into INTERNAL naming the device, the call
// and CUDA's error. A sticky error (the CUDA context is lost: an illegal
// address, a kernel fault) also marks the context unhealthy for good.
//
// Ownership: a CudaDevice and every point it prepared hold the context by
// shared_ptr, so a point that outlives its device still frees its buffers.
// Whoever destroys a DeviceBuffer (or anything holding CUDA objects) makes
// the GPU current first.
//
// Thread-safety: Healthy(), SetLastClock(), AddLiveProperties() and
// BytesAvailable() are safe from any thread. The rest (the stream, the cuBLAS
// handle, ReadSmClock) belong to the one thread running the device's current
// point or ceilings (the scheduler runs one at a time per device).
#ifndef FLOPD_SERVER_BACKEND_CUDA_GPU_CONTEXT_H_
#define FLOPD_SERVER_BACKEND_CUDA_GPU_CONTEXT_H_

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/backend/cuda/sm_clock.h"

namespace flopd {

// Kept free on the GPU beyond what a point needs (CUDA context growth,
// cuBLAS's internal allocations, other processes' jitter).
inline constexpr int64_t kCudaMemoryMarginBytes = int64_t{256} << 20;
// The cuBLAS workspace each context sets (NVIDIA's advice for Hopper).
inline constexpr int64_t kCublasWorkspaceBytes = int64_t{32} << 20;

// "1.50 GiB".
std::string GiB(int64_t bytes);
// "cudaErrorMemoryAllocation (out of memory)".
std::string CudaErrorText(cudaError_t e);
// Errors after which the CUDA context is unusable ("sticky"): every later
// call on it fails, and only a new process recovers.
bool IsStickyError(cudaError_t e);
// 13000 -> "13.0".
std::string CudaVersionText(int version);
// "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", as nvidia-smi and NVML write it.
std::string UuidText(const cudaUUID_t& uuid);

// One SM clock reading: the probe kernel's (clock64() against %globaltimer)
// and NVML's, each -1 when unknown.
struct ClockReading {
  double probe_mhz = -1;
  int nvml_mhz = -1;
};

class GpuContext {
 public:
  // Creates nothing on the GPU; Init() does. `index` is CUDA's device index.
  explicit GpuContext(int index);
  GpuContext(const GpuContext&) = delete;
  GpuContext& operator=(const GpuContext&) = delete;
  // Makes the GPU current and frees what Init() created.
  ~GpuContext();

  // Creates the primary CUDA context, the stream, the cuBLAS handle (full
  // FP32 math, host pointer mode, a workspace of its own) and the clock
  // probe's words, reads the GPU's properties and opens NVML (optional).
  // INTERNAL when any CUDA or cuBLAS call fails.
  absl::Status Init();

  int index() const { return index_; }
  const std::string& id() const { return id_; }  // "cuda:0"
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_; }
  const cudaDeviceProp& props() const { return props_; }
  int sm_count() const { return props_.multiProcessorCount; }
  // Bytes the cold mode's flush writes: at least 2 x L2, at least 64 MiB.
  int64_t flush_bytes() const { return flush_bytes_; }
  // Null when NVML could not be opened; nvml_status() then says why.
  const NvmlClock* nvml() const { return nvml_.get(); }
  const std::string& nvml_status() const { return nvml_status_; }

  // Makes this GPU current on the calling thread.
  absl::Status Activate() { return Check(cudaSetDevice(index_), "cudaSetDevice"); }

  // OK, or INTERNAL "cuda:0: <what>: cudaErrorX (text)". A sticky error also
  // marks the device unhealthy; any other is cleared so that it does not
  // resurface in a later, unrelated check.
  absl::Status Check(cudaError_t e, absl::string_view what);
  // The same for cuBLAS: INTERNAL with the status name, plus the CUDA error
  // underneath when there is one (a failed kernel launch).
  absl::Status CheckCublas(cublasStatus_t status, absl::string_view what);

  // False after a sticky error, with the reason in *detail.
  bool Healthy(std::string* detail) const;

  // cudaMemGetInfo's free bytes minus kCudaMemoryMarginBytes (0 when the
  // query fails). Makes this GPU current on the calling thread.
  int64_t BytesAvailable();

  // Runs the probe kernel on the stream (synchronizing it) and reads NVML.
  absl::Status ReadSmClock(ClockReading* reading);

  // The last readings, for Describe(); `when` says after which point.
  void SetLastClock(const ClockReading& reading, const std::string& when);
  // Overlays what changes while flopd runs (clock readings, health) on a
  // description's properties.
  void AddLiveProperties(std::map<std::string, std::string>* properties) const;

 private:
  void MarkUnhealthy(const std::string& reason);

  const int index_;
  const std::string id_;
  cudaDeviceProp props_{};
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;
  unsigned long long* probe_words_ = nullptr;
  int64_t flush_bytes_ = 0;
  std::unique_ptr<NvmlClock> nvml_;
  std::string nvml_status_;

  mutable std::mutex mu_;
  bool healthy_ = true;
  std::string unhealthy_reason_;
  ClockReading last_clock_;
  std::string last_clock_when_;
};

// One cudaMalloc'ed array; freed on destruction (the owner makes its GPU
// current first). Not copyable; movable into a container (the moved-from
// buffer holds nothing).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept : data_(other.data_) { other.data_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&&) = delete;
  ~DeviceBuffer();

  // Allocates max(bytes, 1) bytes on the current GPU. RESOURCE_EXHAUSTED
  // naming `what` and the size when the GPU is out of memory, INTERNAL for
  // any other failure. REQUIRES: nothing allocated yet.
  absl::Status Allocate(GpuContext& context, int64_t bytes, absl::string_view what);

  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  void* data_ = nullptr;
};

// A few ints of pinned host memory that the GPU reads and writes directly
// (cudaHostAllocMapped; with unified addressing the same pointer serves
// both): the hot mode's stream gate (support_kernels.cuh). Freed on
// destruction. Not copyable or movable.
class MappedWords {
 public:
  MappedWords() = default;
  MappedWords(const MappedWords&) = delete;
  MappedWords& operator=(const MappedWords&) = delete;
  ~MappedWords();

  // Allocates `count` zeroed ints. INTERNAL naming the CUDA error when the
  // allocation fails. REQUIRES: nothing allocated yet.
  absl::Status Allocate(GpuContext& context, int count);

  // Null before Allocate succeeded.
  volatile int* words() const { return words_; }

 private:
  volatile int* words_ = nullptr;
};

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CUDA_GPU_CONTEXT_H_
