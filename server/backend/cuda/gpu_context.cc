#include "server/backend/cuda/gpu_context.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/backend/cuda/support_kernels.cuh"

namespace flopd {
namespace {

constexpr int64_t kMinFlushBytes = int64_t{64} << 20;
constexpr int64_t kClockProbeSpinNs = 300000;  // 0.3 ms: 1 ns timer ticks are 0.0003% of it

}  // namespace

std::string GiB(int64_t bytes) {
  return absl::StrFormat("%.2f GiB", static_cast<double>(bytes) / (1 << 30));
}

std::string CudaErrorText(cudaError_t e) {
  return absl::StrCat(cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}

bool IsStickyError(cudaError_t e) {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchTimeout:
    case cudaErrorAssert:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorLaunchFailure:
    case cudaErrorECCUncorrectable:
    case cudaErrorContained:
    case cudaErrorTensorMemoryLeak:
      return true;
    default:
      return false;
  }
}

std::string CudaVersionText(int version) {
  return absl::StrCat(version / 1000, ".", (version % 1000) / 10);
}

std::string UuidText(const cudaUUID_t& uuid) {
  const auto* b = reinterpret_cast<const unsigned char*>(uuid.bytes);
  return absl::StrFormat("GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                         b[12], b[13], b[14], b[15]);
}

// ---------------------------------------------------------------------------
// GpuContext.

GpuContext::GpuContext(int index) : index_(index), id_(absl::StrCat("cuda:", index)) {}

GpuContext::~GpuContext() {
  if (cudaSetDevice(index_) != cudaSuccess) return;
  if (cublas_ != nullptr) cublasDestroy(cublas_);
  if (cublas_workspace_ != nullptr) cudaFree(cublas_workspace_);
  if (probe_words_ != nullptr) cudaFree(probe_words_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
  cudaGetLastError();
}

absl::Status GpuContext::Check(cudaError_t e, absl::string_view what) {
  if (e == cudaSuccess) return absl::OkStatus();
  const std::string text = absl::StrCat(id_, ": ", what, ": ", CudaErrorText(e));
  cudaGetLastError();  // clears a non-sticky error; a sticky one stays
  if (IsStickyError(e) || cudaPeekAtLastError() != cudaSuccess) MarkUnhealthy(text);
  return absl::InternalError(text);
}

absl::Status GpuContext::CheckCublas(cublasStatus_t status, absl::string_view what) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  std::string text = absl::StrCat(id_, ": ", what, ": ", cublasGetStatusName(status));
  const cudaError_t underneath = cudaGetLastError();
  if (underneath != cudaSuccess) {
    absl::StrAppend(&text, " (CUDA: ", CudaErrorText(underneath), ")");
    if (IsStickyError(underneath) || cudaPeekAtLastError() != cudaSuccess) MarkUnhealthy(text);
  }
  return absl::InternalError(text);
}

bool GpuContext::Healthy(std::string* detail) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (healthy_) return true;
  if (detail != nullptr) *detail = unhealthy_reason_;
  return false;
}

void GpuContext::MarkUnhealthy(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  if (healthy_) {
    healthy_ = false;
    unhealthy_reason_ = absl::StrCat(reason, "; the CUDA context is lost, restart flopd");
  }
}

absl::Status GpuContext::Init() {
  if (absl::Status s = Activate(); !s.ok()) return s;
  // Creates the primary context now, so that a GPU that cannot be used (in
  // exclusive use elsewhere, out of memory) fails here and not in a job.
  if (absl::Status s = Check(cudaFree(nullptr), "creating the CUDA context"); !s.ok()) return s;
  if (absl::Status s = Check(cudaGetDeviceProperties(&props_, index_), "cudaGetDeviceProperties");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
                             "cudaStreamCreateWithFlags");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckCublas(cublasCreate(&cublas_), "cublasCreate"); !s.ok()) return s;
  if (absl::Status s = CheckCublas(cublasSetStream(cublas_, stream_), "cublasSetStream"); !s.ok()) {
    return s;
  }
  // Full FP32: no TF32 tensor-core math for f32 GEMM/GEMV.
  if (absl::Status s =
          CheckCublas(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckCublas(cublasSetPointerMode(cublas_, CUBLAS_POINTER_MODE_HOST),
                                   "cublasSetPointerMode");
      !s.ok()) {
    return s;
  }
  // A workspace of our own: cuBLAS then neither allocates during a graph
  // capture nor picks different kernels under capture than outside it.
  if (absl::Status s = Check(cudaMalloc(&cublas_workspace_, kCublasWorkspaceBytes),
                             "cudaMalloc(cuBLAS workspace)");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckCublas(cublasSetWorkspace(cublas_, cublas_workspace_,
                                                      static_cast<size_t>(kCublasWorkspaceBytes)),
                                   "cublasSetWorkspace");
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          Check(cudaMalloc(reinterpret_cast<void**>(&probe_words_), 2 * sizeof(unsigned long long)),
                "cudaMalloc(clock probe)");
      !s.ok()) {
    return s;
  }
  const int64_t mib = int64_t{1} << 20;
  flush_bytes_ = std::max(kMinFlushBytes,
                          (2 * static_cast<int64_t>(props_.l2CacheSize) + mib - 1) / mib * mib);

  char bus_id[32] = {};
  if (cudaDeviceGetPCIBusId(bus_id, sizeof(bus_id), index_) != cudaSuccess) {
    cudaGetLastError();
    bus_id[0] = '\0';
  }
  nvml_ = NvmlClock::Open(UuidText(props_.uuid), bus_id, &nvml_status_);
  if (nvml_ != nullptr) nvml_status_ = "ok";
  return absl::OkStatus();
}

int64_t GpuContext::BytesAvailable() {
  if (!Activate().ok()) return 0;
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return std::max<int64_t>(0, static_cast<int64_t>(free_bytes) - kCudaMemoryMarginBytes);
}

absl::Status GpuContext::ReadSmClock(ClockReading* reading) {
  if (absl::Status s = Check(kernels::LaunchClockProbe(kClockProbeSpinNs, probe_words_, stream_),
                             "clock probe launch");
      !s.ok()) {
    return s;
  }
  unsigned long long words[2] = {0, 0};
  if (absl::Status s = Check(
          cudaMemcpyAsync(words, probe_words_, sizeof(words), cudaMemcpyDeviceToHost, stream_),
          "clock probe copy");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Check(cudaStreamSynchronize(stream_), "clock probe"); !s.ok()) return s;
  reading->probe_mhz =
      words[0] > 0 ? static_cast<double>(words[1]) / static_cast<double>(words[0]) * 1e3 : -1;
  reading->nvml_mhz = nvml_ != nullptr ? nvml_->CurrentSmMhz() : -1;
  return absl::OkStatus();
}

void GpuContext::SetLastClock(const ClockReading& reading, const std::string& when) {
  std::lock_guard<std::mutex> lock(mu_);
  last_clock_ = reading;
  last_clock_when_ = when;
}

void GpuContext::AddLiveProperties(std::map<std::string, std::string>* properties) const {
  std::lock_guard<std::mutex> lock(mu_);
  (*properties)["health"] = healthy_ ? "ok" : unhealthy_reason_;
  if (last_clock_when_.empty()) {
    (*properties)["sm_clock_mhz_last"] = "not read yet";
    return;
  }
  (*properties)["sm_clock_mhz_last"] =
      last_clock_.probe_mhz > 0 ? absl::StrFormat("%.0f", last_clock_.probe_mhz) : "unknown";
  (*properties)["sm_clock_mhz_last_nvml"] =
      last_clock_.nvml_mhz > 0 ? absl::StrCat(last_clock_.nvml_mhz) : "unknown";
  (*properties)["sm_clock_last_read"] = last_clock_when_;
}

// ---------------------------------------------------------------------------
// DeviceBuffer.

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) cudaFree(data_);
}

absl::Status DeviceBuffer::Allocate(GpuContext& context, int64_t bytes, absl::string_view what) {
  const cudaError_t e = cudaMalloc(&data_, static_cast<size_t>(std::max<int64_t>(bytes, 1)));
  if (e != cudaSuccess) data_ = nullptr;
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    return absl::ResourceExhaustedError(absl::StrCat(context.id(), ": cudaMalloc of ", bytes,
                                                     " bytes for ", what,
                                                     " failed: ", CudaErrorText(e)));
  }
  return context.Check(e, absl::StrCat("cudaMalloc(", what, ")"));
}

// ---------------------------------------------------------------------------
// MappedWords.

MappedWords::~MappedWords() {
  if (words_ != nullptr) cudaFreeHost(const_cast<int*>(words_));
}

absl::Status MappedWords::Allocate(GpuContext& context, int count) {
  void* memory = nullptr;
  const size_t bytes = sizeof(int) * static_cast<size_t>(std::max(count, 1));
  if (absl::Status s = context.Check(cudaHostAlloc(&memory, bytes, cudaHostAllocMapped),
                                     "cudaHostAlloc(mapped words)");
      !s.ok()) {
    return s;
  }
  words_ = static_cast<volatile int*>(memory);
  for (int i = 0; i < count; ++i) words_[i] = 0;
  return absl::OkStatus();
}

}  // namespace flopd
