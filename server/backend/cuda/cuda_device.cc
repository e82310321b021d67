#include "server/backend/cuda/cuda_device.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <library_types.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/op_catalog.h"
#include "common/roofline.h"
#include "common/verification.h"
#include "server/backend/cuda/cuda_kernels.cuh"
#include "server/backend/cuda/sm_clock.h"
#include "server/backend/cuda/split_plan.h"

namespace flopd {
namespace {

constexpr int64_t kCublasWorkspaceBytes = int64_t{32} << 20;  // NVIDIA's advice for Hopper
constexpr int64_t kMinFlushBytes = int64_t{64} << 20;
constexpr int kColdEventPairs = 32;
constexpr int64_t kMaxGraphIterations = 1024;
constexpr size_t kMaxCachedGraphs = 8;
constexpr int64_t kClockProbeSpinNs = 300000;  // 0.3 ms: 1 ns timer ticks are 0.0003% of it
constexpr auto kNvmlReadInterval = std::chrono::milliseconds(20);
constexpr double kMinSampleSeconds = 2e-4;      // events resolve ~0.5 us: 0.25% of this
constexpr double kColumnSumsBlocksPerSm = 1.5;  // see PlanStreamingSplit

std::string GiB(int64_t bytes) {
  return absl::StrFormat("%.2f GiB", static_cast<double>(bytes) / (1 << 30));
}

std::string CudaErrorText(cudaError_t e) {
  return absl::StrCat(cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}

// Errors after which the CUDA context is unusable ("sticky"): every later
// call on it fails, and only a new process recovers.
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

std::string CudaVersionText(int version) {  // 13000 -> "13.0"
  return absl::StrCat(version / 1000, ".", (version % 1000) / 10);
}

std::string UuidText(const cudaUUID_t& uuid) {
  const auto* b = reinterpret_cast<const unsigned char*>(uuid.bytes);
  return absl::StrFormat("GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                         b[12], b[13], b[14], b[15]);
}

// FP32 lanes per SM, where known (for the peak FLOP property).
int Fp32LanesPerSm(int major, int minor) {
  if (major == 7 || (major == 8 && minor == 0)) return 64;
  if (major == 8 || major == 9 || major == 10 || major == 12) return 128;
  return 0;
}

// FP64 lanes per SM, where known (for the derived FP64 peak): the
// data-center parts run FP64 at half the FP32 rate (Volta, A100, Hopper,
// B200), the others at 1/64 of the FP32 lanes' 128. 0 = unknown (e.g. sm_103).
int Fp64LanesPerSm(int major, int minor) {
  if ((major == 7 && minor == 0) || (major == 8 && minor == 0)) return 32;
  if ((major == 9 && minor == 0) || (major == 10 && minor == 0)) return 64;
  if ((major == 7 && minor == 5) || (major == 8 && minor >= 6) || major == 12) return 2;
  return 0;
}

// ---------------------------------------------------------------------------
// State shared by a device and the points it prepared: the GPU's stream,
// cuBLAS handle and health. Points hold it by shared_ptr, so a point that
// outlives its device still frees its buffers cleanly.

struct ClockReading {
  double probe_mhz = -1;
  int nvml_mhz = -1;
};

class GpuContext {
 public:
  explicit GpuContext(int index) : index_(index), id_(absl::StrCat("cuda:", index)) {}
  GpuContext(const GpuContext&) = delete;
  GpuContext& operator=(const GpuContext&) = delete;

  ~GpuContext() {
    if (cudaSetDevice(index_) != cudaSuccess) return;
    if (cublas_ != nullptr) cublasDestroy(cublas_);
    if (cublas_workspace_ != nullptr) cudaFree(cublas_workspace_);
    if (probe_words_ != nullptr) cudaFree(probe_words_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    cudaGetLastError();
  }

  // Creates the stream and cuBLAS handle and reads the GPU's properties.
  absl::Status Init();

  int index() const { return index_; }
  const std::string& id() const { return id_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_; }
  const cudaDeviceProp& props() const { return props_; }
  int sm_count() const { return props_.multiProcessorCount; }
  int64_t flush_bytes() const { return flush_bytes_; }
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

  bool Healthy(std::string* detail) const {
    std::lock_guard<std::mutex> lock(mu_);
    if (healthy_) return true;
    if (detail != nullptr) *detail = unhealthy_reason_;
    return false;
  }

  // Runs the probe kernel on the stream (synchronizing it) and reads NVML.
  absl::Status ReadSmClock(ClockReading* reading);

  // The last readings, for Describe().
  void SetLastClock(const ClockReading& reading, const std::string& when) {
    std::lock_guard<std::mutex> lock(mu_);
    last_clock_ = reading;
    last_clock_when_ = when;
  }
  // Overlays what changes while flopd runs (clock readings, health) on a
  // description's properties.
  void AddLiveProperties(std::map<std::string, std::string>* properties) const;

 private:
  void MarkUnhealthy(const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu_);
    if (healthy_) {
      healthy_ = false;
      unhealthy_reason_ = absl::StrCat(reason, "; the CUDA context is lost, restart flopd");
    }
  }

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
// Device buffers.

// One cudaMalloc'ed array; freed on destruction (the owner makes its GPU
// current first).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (data_ != nullptr) cudaFree(data_);
  }

  // RESOURCE_EXHAUSTED when the GPU is out of memory, INTERNAL otherwise.
  absl::Status Allocate(GpuContext& context, int64_t bytes, absl::string_view what) {
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

  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  void* data_ = nullptr;
};

// ---------------------------------------------------------------------------
// cuBLAS by element type (the 32-bit-int API, as PyTorch calls it; Prepare's
// memory check keeps N far below 2^31).

cublasStatus_t Gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                    int k, const float* a, int lda, const float* b, int ldb, float* c, int ldc) {
  const float one = 1, zero = 0;
  return cublasSgemm(h, ta, tb, m, n, k, &one, a, lda, b, ldb, &zero, c, ldc);
}
cublasStatus_t Gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                    int k, const double* a, int lda, const double* b, int ldb, double* c, int ldc) {
  const double one = 1, zero = 0;
  return cublasDgemm(h, ta, tb, m, n, k, &one, a, lda, b, ldb, &zero, c, ldc);
}
cublasStatus_t Gemv(cublasHandle_t h, cublasOperation_t t, int m, int n, const float* a, int lda,
                    const float* x, float* y) {
  const float one = 1, zero = 0;
  return cublasSgemv(h, t, m, n, &one, a, lda, x, 1, &zero, y, 1);
}
cublasStatus_t Gemv(cublasHandle_t h, cublasOperation_t t, int m, int n, const double* a, int lda,
                    const double* x, double* y) {
  const double one = 1, zero = 0;
  return cublasDgemv(h, t, m, n, &one, a, lda, x, 1, &zero, y, 1);
}

// ---------------------------------------------------------------------------
// What a point runs.

enum class Impl { kGemm, kGemv, kCustom, kLibrary, kFused };

absl::StatusOr<Impl> ParseImpl(const PointSpec& point) {
  if (point.op == "matvec") {
    if (point.impl == "gemm") return Impl::kGemm;
    if (point.impl == "gemv") return Impl::kGemv;
    if (point.impl == "custom") return Impl::kCustom;
  } else if (point.op == "outer") {
    if (point.impl == "library") return Impl::kLibrary;
    if (point.impl == "fused") return Impl::kFused;
  }
  return absl::InvalidArgumentError(absl::StrCat("impl: the cuda backend has no ", point.op, "/",
                                                 point.impl, "; see the op catalog"));
}

// The split of the fused kernel or of the library's column sums; an empty
// plan (tiles 0) for impls without one.
SplitPlan PlanFor(const PointSpec& point, const GpuContext& context) {
  const bool f32 = point.dtype == DType::kF32;
  if (point.op == "outer" && point.impl == "fused") {
    return f32 ? kernels::PlanOuterFused<float>(point.n, context.sm_count())
               : kernels::PlanOuterFused<double>(point.n, context.sm_count());
  }
  SplitShape shape;
  shape.outputs = point.n;
  shape.summed = point.n;
  if (point.op == "outer" && point.impl == "library" && point.Param("axis") == 0) {
    shape.tile_width = f32 ? kernels::ColumnSumsTileWidth<float>(point.n)
                           : kernels::ColumnSumsTileWidth<double>(point.n);
    shape.chunk_multiple = 8;
    shape.min_chunk = 32;
    return PlanStreamingSplit(shape, context.sm_count(), kColumnSumsBlocksPerSm);
  }
  SplitPlan none;
  none.tiles = 0;
  return none;
}

// Device bytes beyond BufferBytes: the fp64 reference, scratch partials and
// counters, the flush buffer in cold mode.
int64_t ExtraBytes(const PointSpec& point, TimingMode timing, const GpuContext& context) {
  const SplitPlan plan = PlanFor(point, context);
  int64_t bytes = point.n * static_cast<int64_t>(sizeof(double)) +
                  plan.PartialElements() * DTypeSize(point.dtype) +
                  plan.CounterCount() * static_cast<int64_t>(sizeof(uint32_t));
  if (timing == TimingMode::kCold) bytes += context.flush_bytes();
  return bytes;
}

// ---------------------------------------------------------------------------
// Inputs and reference, made on the GPU.

// Fills the point's inputs on the GPU with the values FillUniform gives on
// the host (buffer 0 = A or u from seed kInputSeed, buffer 1 = x or v from
// kInputSeed + 1: ReferenceResult's order, so every backend sees the same
// numbers), computes the fp64 reference there into `reference_device` (N
// doubles) and copies it to *reference. Synchronizes `stream`.
template <typename T>
absl::Status MakeInputsAndReference(GpuContext& ctx, cudaStream_t stream, const PointSpec& point,
                                    T* first, T* second, double* reference_device,
                                    std::vector<double>* reference) {
  const int64_t n = point.n;
  const bool matvec = point.op == "matvec";
  if (absl::Status s = ctx.Check(
          kernels::LaunchFillUniform(first, matvec ? n * n : n, kInputSeed + 0, stream),
          "input fill kernel launch");
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ctx.Check(kernels::LaunchFillUniform(second, n, kInputSeed + 1, stream),
                    "input fill kernel launch");
      !s.ok()) {
    return s;
  }
  cudaError_t launched;
  if (matvec) {
    launched = kernels::LaunchReferenceMatvec<T>(first, second, reference_device, n, stream);
  } else {
    // axis 0: out_j = sum_i u_i v_j (v owned, u summed); axis 1: swapped.
    const bool column_sums = point.Param("axis") == 0;
    launched = kernels::LaunchReferenceOuter<T>(column_sums ? second : first,
                                                column_sums ? first : second, reference_device,
                                                n, stream);
  }
  if (absl::Status s = ctx.Check(launched, "reference kernel launch"); !s.ok()) return s;
  reference->assign(static_cast<size_t>(n), 0.0);
  if (absl::Status s = ctx.Check(cudaMemcpyAsync(reference->data(), reference_device,
                                                 n * sizeof(double), cudaMemcpyDeviceToHost,
                                                 stream),
                                 "copying the reference back");
      !s.ok()) {
    return s;
  }
  return ctx.Check(cudaStreamSynchronize(stream), "input fill and reference kernels");
}

// ---------------------------------------------------------------------------
// The prepared point.

template <typename T>
class CudaPoint : public PreparedPoint {
 public:
  CudaPoint(std::shared_ptr<GpuContext> context, const PointSpec& point, Impl impl,
            TimingMode timing)
      : context_(std::move(context)),
        point_(point),
        impl_(impl),
        timing_(timing),
        axis_(static_cast<int>(point.Param("axis"))),
        plan_(PlanFor(point, *context_)),
        probe_clock_("probe kernel"),
        nvml_clock_("NVML") {}

  ~CudaPoint() override {
    if (cudaSetDevice(context_->index()) != cudaSuccess) return;
    cudaStreamSynchronize(context_->stream());
    for (auto& [iterations, exec] : graphs_) cudaGraphExecDestroy(exec);
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
    cudaGetLastError();
    // The DeviceBuffer members are freed after this, with the GPU current.
  }

  // Allocates the buffers, fills the inputs and computes the reference on
  // the GPU, creates the events, runs the op twice (module load, cuBLAS's
  // first-call setup) and reads the clock.
  absl::Status Init();

  absl::StatusOr<VerificationResult> Verify() override;
  absl::StatusOr<double> TimeBatch(int64_t iterations) override;
  void CollectWarnings(std::vector<std::string>* warnings) override;
  // "sm_clock_mhz_before" (after warm-up) and "sm_clock_mhz_after" (after
  // sampling) from the probe kernel, their NVML twins where NVML is loaded,
  // and "sm_clock_source" saying which is which.
  void CollectObservations(std::map<std::string, std::string>* observations) override;

 private:
  // Enqueues one execution of the op on the stream.
  absl::Status Execute();
  absl::StatusOr<double> TimeHot(int64_t iterations);
  absl::StatusOr<double> TimeGraph(int64_t iterations);
  absl::StatusOr<double> TimeCold(int64_t iterations);
  // The graph of `iterations` executions, captured on first use.
  absl::StatusOr<cudaGraphExec_t> GraphFor(int64_t iterations);
  absl::StatusOr<double> Elapsed(cudaEvent_t start, cudaEvent_t stop);
  void ReadNvmlIfDue();
  // Reads the clock once after sampling (CollectWarnings and
  // CollectObservations share the reading); false when the read failed.
  bool ReadClockAfterSampling();

  absl::Status Check(cudaError_t e, absl::string_view what) { return context_->Check(e, what); }

  const std::shared_ptr<GpuContext> context_;
  const PointSpec point_;
  const Impl impl_;
  const TimingMode timing_;
  const int axis_;
  const SplitPlan plan_;

  // matvec: first_ = A (N x N), second_ = x.   outer: first_ = u, second_ = v.
  DeviceBuffer first_, second_, out_, product_, partials_, counters_, flush_, reference_device_;
  std::vector<double> reference_;

  // events_[0..1]: the hot/graph pair; then kColdEventPairs start/stop pairs.
  std::vector<cudaEvent_t> events_;
  std::vector<std::pair<int64_t, cudaGraphExec_t>> graphs_;  // oldest first
  int flush_value_ = 0;

  ClockDropTracker probe_clock_;
  ClockDropTracker nvml_clock_;
  ClockReading clock_before_;  // after warm-up
  ClockReading clock_after_;   // after sampling
  bool after_read_attempted_ = false;
  bool after_read_ok_ = false;
  std::chrono::steady_clock::time_point last_nvml_read_;
};

template <typename T>
absl::Status CudaPoint<T>::Init() {
  const int64_t n = point_.n;
  const int64_t size = static_cast<int64_t>(sizeof(T));
  const bool matvec = point_.op == "matvec";
  const int64_t first_count = matvec ? n * n : n;
  GpuContext& ctx = *context_;
  if (absl::Status s = first_.Allocate(ctx, first_count * size, matvec ? "A" : "u"); !s.ok()) {
    return s;
  }
  if (absl::Status s = second_.Allocate(ctx, n * size, matvec ? "x" : "v"); !s.ok()) return s;
  if (absl::Status s = out_.Allocate(ctx, n * size, "output"); !s.ok()) return s;
  if (impl_ == Impl::kLibrary) {
    if (absl::Status s = product_.Allocate(ctx, n * n * size, "the N x N product"); !s.ok()) {
      return s;
    }
  }
  if (plan_.PartialElements() > 0) {
    if (absl::Status s = partials_.Allocate(ctx, plan_.PartialElements() * size, "partial sums");
        !s.ok()) {
      return s;
    }
    const int64_t counter_bytes = plan_.CounterCount() * static_cast<int64_t>(sizeof(uint32_t));
    if (absl::Status s = counters_.Allocate(ctx, counter_bytes, "split counters"); !s.ok()) {
      return s;
    }
    if (absl::Status s =
            Check(cudaMemsetAsync(counters_.as<void>(), 0, counter_bytes, ctx.stream()),
                  "cudaMemsetAsync(split counters)");
        !s.ok()) {
      return s;
    }
  }
  if (timing_ == TimingMode::kCold) {
    if (absl::Status s = flush_.Allocate(ctx, ctx.flush_bytes(), "the L2 flush buffer"); !s.ok()) {
      return s;
    }
  }

  if (absl::Status s =
          reference_device_.Allocate(ctx, n * static_cast<int64_t>(sizeof(double)), "reference");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = MakeInputsAndReference<T>(ctx, ctx.stream(), point_, first_.as<T>(),
                                                 second_.as<T>(), reference_device_.as<double>(),
                                                 &reference_);
      !s.ok()) {
    return s;
  }

  events_.resize(2 + (timing_ == TimingMode::kCold ? 2 * kColdEventPairs : 0), nullptr);
  for (cudaEvent_t& e : events_) {
    if (absl::Status s = Check(cudaEventCreate(&e), "cudaEventCreate"); !s.ok()) return s;
  }

  if (timing_ == TimingMode::kCold) {
    if (absl::Status s =
            Check(cudaMemsetAsync(flush_.as<void>(), 0, ctx.flush_bytes(), ctx.stream()),
                  "cudaMemsetAsync(L2 flush)");
        !s.ok()) {
      return s;
    }
  }
  for (int i = 0; i < 2; ++i) {
    if (absl::Status s = Execute(); !s.ok()) return s;
  }
  if (absl::Status s = Check(cudaStreamSynchronize(ctx.stream()), "first executions"); !s.ok()) {
    return s;
  }

  ClockReading reading;
  if (absl::Status s = ctx.ReadSmClock(&reading); !s.ok()) return s;
  probe_clock_.Add(reading.probe_mhz, "after warm-up");
  nvml_clock_.Add(reading.nvml_mhz, "after warm-up");
  clock_before_ = reading;
  last_nvml_read_ = std::chrono::steady_clock::now();
  return absl::OkStatus();
}

template <typename T>
absl::Status CudaPoint<T>::Execute() {
  const int64_t n = point_.n;
  const int ni = static_cast<int>(n);
  cudaStream_t stream = context_->stream();
  cublasHandle_t cublas = context_->cublas();
  const T* first = first_.as<T>();
  const T* second = second_.as<T>();
  T* out = out_.as<T>();
  switch (impl_) {
    case Impl::kGemm:
      // Column-major view: y (N x 1) = (A^T)^T x, x an N x 1 matrix.
      return context_->CheckCublas(
          Gemm(cublas, CUBLAS_OP_T, CUBLAS_OP_N, ni, 1, ni, first, ni, second, ni, out, ni),
          sizeof(T) == 4 ? "cublasSgemm" : "cublasDgemm");
    case Impl::kGemv:
      return context_->CheckCublas(Gemv(cublas, CUBLAS_OP_T, ni, ni, first, ni, second, out),
                                   sizeof(T) == 4 ? "cublasSgemv" : "cublasDgemv");
    case Impl::kCustom:
      return Check(kernels::LaunchRowDot(first, second, out, n, stream), "row-dot kernel launch");
    case Impl::kLibrary: {
      // Row-major P = u v^T is column-major P^T = v u^T: m = n = N, k = 1,
      // A = v (N x 1). B = u^T (1 x N) is handed over either as a 1 x N
      // matrix (ldb 1, op N) or as the N x 1 matrix u with op T (ldb N): the
      // same operands and the same P, but cuBLAS picks different kernels. On
      // an H100 at N = 20000 the f32 GEMM wrote P in 548 us with op T and
      // 590 us with op N (write floor 531 us; NOTES.md); f64 keeps op N
      // (already at 0.97 x its floor with the reduction).
      T* product = product_.as<T>();
      const bool transposed_u = sizeof(T) == 4;
      if (absl::Status s = context_->CheckCublas(
              transposed_u ? Gemm(cublas, CUBLAS_OP_N, CUBLAS_OP_T, ni, ni, 1, second, ni, first,
                                  ni, product, ni)
                           : Gemm(cublas, CUBLAS_OP_N, CUBLAS_OP_N, ni, ni, 1, second, ni, first,
                                  1, product, ni),
              sizeof(T) == 4 ? "cublasSgemm (k=1)" : "cublasDgemm (k=1)");
          !s.ok()) {
        return s;
      }
      if (axis_ == 0) {
        return Check(kernels::LaunchColumnSums(product, out, n, plan_, partials_.as<T>(),
                                               counters_.as<uint32_t>(), stream),
                     "column-sum kernel launch");
      }
      return Check(kernels::LaunchRowDot<T>(product, nullptr, out, n, stream),
                   "row-sum kernel launch");
    }
    case Impl::kFused: {
      // axis 0: out_j = sum_i u_i v_j (v owned, u summed); axis 1: swapped.
      const T* owned = axis_ == 0 ? second : first;
      const T* summed = axis_ == 0 ? first : second;
      return Check(kernels::LaunchOuterFused(owned, summed, out, n, plan_, partials_.as<T>(),
                                             counters_.as<uint32_t>(), stream),
                   "fused kernel launch");
    }
  }
  return absl::InternalError("unreachable");
}

template <typename T>
absl::StatusOr<VerificationResult> CudaPoint<T>::Verify() {
  GpuContext& ctx = *context_;
  if (absl::Status s = ctx.Activate(); !s.ok()) return s;
  const int64_t n = point_.n;
  // All-ones bytes are a NaN in both f32 and f64.
  if (absl::Status s = Check(cudaMemsetAsync(out_.as<void>(), 0xFF, n * sizeof(T), ctx.stream()),
                             "poisoning the output");
      !s.ok()) {
    return s;
  }
  if (impl_ == Impl::kLibrary) {
    if (absl::Status s =
            Check(cudaMemsetAsync(product_.as<void>(), 0xFF, n * n * sizeof(T), ctx.stream()),
                  "poisoning the product");
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = Execute(); !s.ok()) return s;
  std::vector<T> host(static_cast<size_t>(n));
  if (absl::Status s = Check(cudaMemcpyAsync(host.data(), out_.as<void>(), n * sizeof(T),
                                             cudaMemcpyDeviceToHost, ctx.stream()),
                             "copying the output back");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Check(cudaStreamSynchronize(ctx.stream()), "verified execution"); !s.ok()) {
    return s;
  }
  return flopd::Verify<T>(point_, host.data(), reference_);
}

template <typename T>
absl::StatusOr<double> CudaPoint<T>::Elapsed(cudaEvent_t start, cudaEvent_t stop) {
  float ms = 0;
  if (absl::Status s = Check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
      !s.ok()) {
    return s;
  }
  return static_cast<double>(ms) * 1e-3;
}

template <typename T>
absl::StatusOr<double> CudaPoint<T>::TimeBatch(int64_t iterations) {
  if (iterations < 1) {
    return absl::InvalidArgumentError(absl::StrCat("TimeBatch: iterations ", iterations, " < 1"));
  }
  if (absl::Status s = context_->Activate(); !s.ok()) return s;
  absl::StatusOr<double> seconds;
  switch (timing_) {
    case TimingMode::kHot:
      seconds = TimeHot(iterations);
      break;
    case TimingMode::kGraph:
      seconds = TimeGraph(iterations);
      break;
    case TimingMode::kCold:
      seconds = TimeCold(iterations);
      break;
  }
  if (seconds.ok()) ReadNvmlIfDue();
  return seconds;
}

template <typename T>
absl::StatusOr<double> CudaPoint<T>::TimeHot(int64_t iterations) {
  cudaStream_t stream = context_->stream();
  if (absl::Status s = Check(cudaEventRecord(events_[0], stream), "cudaEventRecord"); !s.ok()) {
    return s;
  }
  for (int64_t i = 0; i < iterations; ++i) {
    if (absl::Status s = Execute(); !s.ok()) return s;
  }
  if (absl::Status s = Check(cudaEventRecord(events_[1], stream), "cudaEventRecord"); !s.ok()) {
    return s;
  }
  if (absl::Status s = Check(cudaEventSynchronize(events_[1]), "timed executions"); !s.ok()) {
    return s;
  }
  return Elapsed(events_[0], events_[1]);
}

template <typename T>
absl::StatusOr<cudaGraphExec_t> CudaPoint<T>::GraphFor(int64_t iterations) {
  for (const auto& [count, exec] : graphs_) {
    if (count == iterations) return exec;
  }
  cudaStream_t stream = context_->stream();
  // Thread-local capture: CUDA calls of other threads (other GPUs' workers,
  // BytesAvailable from the service) are not part of, and cannot break, it.
  if (absl::Status s = Check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal),
                             "cudaStreamBeginCapture");
      !s.ok()) {
    return s;
  }
  absl::Status captured = absl::OkStatus();
  for (int64_t i = 0; i < iterations && captured.ok(); ++i) captured = Execute();
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(stream, &graph);
  if (!captured.ok()) {
    if (graph != nullptr) cudaGraphDestroy(graph);
    cudaGetLastError();
    return captured;
  }
  if (absl::Status s = Check(end, "cudaStreamEndCapture"); !s.ok()) return s;
  cudaGraphExec_t exec = nullptr;
  const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (absl::Status s = Check(instantiated, "cudaGraphInstantiate"); !s.ok()) return s;
  // Upload and replay once untimed, so that no timed replay pays for either.
  absl::Status warm = Check(cudaGraphUpload(exec, stream), "cudaGraphUpload");
  if (warm.ok()) warm = Check(cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
  if (warm.ok()) warm = Check(cudaStreamSynchronize(stream), "first graph replay");
  if (!warm.ok()) {
    cudaGraphExecDestroy(exec);
    return warm;
  }
  if (graphs_.size() >= kMaxCachedGraphs) {
    cudaGraphExecDestroy(graphs_.front().second);
    graphs_.erase(graphs_.begin());
  }
  graphs_.emplace_back(iterations, exec);
  return exec;
}

template <typename T>
absl::StatusOr<double> CudaPoint<T>::TimeGraph(int64_t iterations) {
  cudaStream_t stream = context_->stream();
  // Large counts replay one graph of kMaxGraphIterations several times, plus
  // one of the remainder.
  const int64_t full = iterations / kMaxGraphIterations;
  const int64_t rest = iterations % kMaxGraphIterations;
  cudaGraphExec_t full_graph = nullptr, rest_graph = nullptr;
  if (full > 0) {
    absl::StatusOr<cudaGraphExec_t> g = GraphFor(kMaxGraphIterations);
    if (!g.ok()) return g.status();
    full_graph = *g;
  }
  if (rest > 0) {
    absl::StatusOr<cudaGraphExec_t> g = GraphFor(rest);
    if (!g.ok()) return g.status();
    rest_graph = *g;
  }
  if (absl::Status s = Check(cudaEventRecord(events_[0], stream), "cudaEventRecord"); !s.ok()) {
    return s;
  }
  for (int64_t i = 0; i < full; ++i) {
    if (absl::Status s = Check(cudaGraphLaunch(full_graph, stream), "cudaGraphLaunch"); !s.ok()) {
      return s;
    }
  }
  if (rest_graph != nullptr) {
    if (absl::Status s = Check(cudaGraphLaunch(rest_graph, stream), "cudaGraphLaunch"); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = Check(cudaEventRecord(events_[1], stream), "cudaEventRecord"); !s.ok()) {
    return s;
  }
  if (absl::Status s = Check(cudaEventSynchronize(events_[1]), "graph replay"); !s.ok()) return s;
  return Elapsed(events_[0], events_[1]);
}

template <typename T>
absl::StatusOr<double> CudaPoint<T>::TimeCold(int64_t iterations) {
  cudaStream_t stream = context_->stream();
  const int64_t flush_bytes = context_->flush_bytes();
  double total = 0;
  for (int64_t done = 0; done < iterations;) {
    const int batch = static_cast<int>(std::min<int64_t>(kColdEventPairs, iterations - done));
    for (int k = 0; k < batch; ++k) {
      cudaEvent_t start = events_[2 + 2 * k];
      cudaEvent_t stop = events_[3 + 2 * k];
      flush_value_ = (flush_value_ + 1) & 0xFF;
      if (absl::Status s = Check(cudaMemsetAsync(flush_.as<void>(), flush_value_,
                                                 static_cast<size_t>(flush_bytes), stream),
                                 "cudaMemsetAsync(L2 flush)");
          !s.ok()) {
        return s;
      }
      if (absl::Status s = Check(cudaEventRecord(start, stream), "cudaEventRecord"); !s.ok()) {
        return s;
      }
      if (absl::Status s = Execute(); !s.ok()) return s;
      if (absl::Status s = Check(cudaEventRecord(stop, stream), "cudaEventRecord"); !s.ok()) {
        return s;
      }
    }
    if (absl::Status s =
            Check(cudaEventSynchronize(events_[3 + 2 * (batch - 1)]), "timed executions");
        !s.ok()) {
      return s;
    }
    for (int k = 0; k < batch; ++k) {
      absl::StatusOr<double> seconds = Elapsed(events_[2 + 2 * k], events_[3 + 2 * k]);
      if (!seconds.ok()) return seconds.status();
      total += *seconds;
    }
    done += batch;
  }
  return total;
}

template <typename T>
void CudaPoint<T>::ReadNvmlIfDue() {
  const NvmlClock* nvml = context_->nvml();
  if (nvml == nullptr) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_nvml_read_ < kNvmlReadInterval) return;
  last_nvml_read_ = now;
  nvml_clock_.Add(nvml->CurrentSmMhz(), "during sampling");
}

template <typename T>
bool CudaPoint<T>::ReadClockAfterSampling() {
  if (after_read_attempted_) return after_read_ok_;
  after_read_attempted_ = true;
  GpuContext& ctx = *context_;
  if (!ctx.Activate().ok()) return false;
  ClockReading reading;
  if (!ctx.ReadSmClock(&reading).ok()) return false;  // the error reaches the caller elsewhere
  probe_clock_.Add(reading.probe_mhz, "after sampling");
  nvml_clock_.Add(reading.nvml_mhz, "after sampling");
  clock_after_ = reading;
  after_read_ok_ = true;
  ctx.SetLastClock(reading,
                   absl::StrCat("after ", point_.Label(), " (", TimingModeName(timing_), ")"));
  return true;
}

template <typename T>
void CudaPoint<T>::CollectObservations(std::map<std::string, std::string>* observations) {
  ReadClockAfterSampling();
  const GpuContext& ctx = *context_;
  auto mhz = [](double value) {
    return value > 0 ? absl::StrFormat("%.0f", value) : std::string("unknown");
  };
  (*observations)["sm_clock_mhz_before"] = mhz(clock_before_.probe_mhz);
  (*observations)["sm_clock_mhz_after"] = mhz(after_read_ok_ ? clock_after_.probe_mhz : -1);
  if (ctx.nvml() != nullptr) {
    (*observations)["sm_clock_mhz_before_nvml"] = mhz(clock_before_.nvml_mhz);
    (*observations)["sm_clock_mhz_after_nvml"] = mhz(after_read_ok_ ? clock_after_.nvml_mhz : -1);
    if (!nvml_clock_.empty()) {
      (*observations)["sm_clock_mhz_min_nvml"] = mhz(nvml_clock_.min());
    }
    (*observations)["sm_clock_source"] =
        "probe kernel (clock64 / %globaltimer, 0.3 ms spin) after warm-up and after sampling; "
        "*_nvml: NVML nvmlDeviceGetClockInfo(SM) at the same times (min: also every 20 ms while "
        "sampling)";
  } else {
    (*observations)["sm_clock_source"] = absl::StrCat(
        "probe kernel (clock64 / %globaltimer, 0.3 ms spin) after warm-up and after sampling; "
        "NVML unavailable: ",
        ctx.nvml_status());
  }
}

template <typename T>
void CudaPoint<T>::CollectWarnings(std::vector<std::string>* warnings) {
  GpuContext& ctx = *context_;
  if (!ReadClockAfterSampling()) return;
  std::string reasons;
  for (const ClockDropTracker* tracker : {&probe_clock_, &nvml_clock_}) {
    const std::string drop = tracker->DropWarning();
    if (drop.empty()) continue;
    if (reasons.empty() && ctx.nvml() != nullptr) {
      reasons = ctx.nvml()->ClockEventReasons();
      if (reasons.empty()) reasons = "none";
    }
    warnings->push_back(absl::StrCat(
        ctx.id(), ": ", drop,
        reasons.empty() ? "" : absl::StrCat("; NVML clock-event reasons now: ", reasons)));
  }
}

// ---------------------------------------------------------------------------
// The device.

class CudaDevice : public Device {
 public:
  explicit CudaDevice(std::shared_ptr<GpuContext> context) : context_(std::move(context)) {
    BuildDescription(&description_);
  }

  const DeviceDescription& Describe() const override {
    // The description changes while flopd runs (clock readings, health), and
    // the interface returns a reference: each calling thread gets its own
    // copy, refreshed on every call.
    thread_local std::map<const CudaDevice*, DeviceDescription> snapshots;
    DeviceDescription& snapshot = snapshots[this];
    snapshot = description_;
    context_->AddLiveProperties(&snapshot.properties);
    return snapshot;
  }

  int64_t BytesAvailable() const override {
    if (!context_->Activate().ok()) return 0;
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return std::max<int64_t>(0, static_cast<int64_t>(free_bytes) - kCudaMemoryMarginBytes);
  }

  int64_t BytesNeeded(const PointSpec& point, TimingMode timing) const override {
    // N^2 elements overflow int64 past N ~ 1e9: such a point needs "more than
    // any GPU has".
    if (point.op != "outer" || point.impl == "library") {
      if (point.n > (int64_t{1} << 30)) return std::numeric_limits<int64_t>::max();
    }
    return BufferBytes(point) + ExtraBytes(point, timing, *context_);
  }

  bool Healthy(std::string* detail) const override { return context_->Healthy(detail); }

  absl::StatusOr<std::unique_ptr<PreparedPoint>> Prepare(const PointSpec& point,
                                                         const MeasureSettings& settings) override;

  // See cuda_device.h ("Ceilings").
  absl::StatusOr<DeviceCeilings> MeasureCeilings() override;

 private:
  // The parts of the description fixed at creation.
  void BuildDescription(DeviceDescription* d) const;

  const std::shared_ptr<GpuContext> context_;
  DeviceDescription description_;
};

void CudaDevice::BuildDescription(DeviceDescription* d) const {
  const GpuContext& ctx = *context_;
  const cudaDeviceProp& p = ctx.props();
  auto attribute = [&ctx](cudaDeviceAttr what) {
    int value = 0;
    if (cudaDeviceGetAttribute(&value, what, ctx.index()) != cudaSuccess) {
      cudaGetLastError();
      return -1;
    }
    return value;
  };
  const int sm_clock_khz = attribute(cudaDevAttrClockRate);
  const int memory_clock_khz = attribute(cudaDevAttrMemoryClockRate);
  const int bus_width = attribute(cudaDevAttrGlobalMemoryBusWidth);
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  int cublas_major = 0, cublas_minor = 0, cublas_patch = 0;
  cublasGetProperty(MAJOR_VERSION, &cublas_major);
  cublasGetProperty(MINOR_VERSION, &cublas_minor);
  cublasGetProperty(PATCH_LEVEL, &cublas_patch);
  char bus_id[32] = {};
  if (cudaDeviceGetPCIBusId(bus_id, sizeof(bus_id), ctx.index()) != cudaSuccess) bus_id[0] = '\0';
  cudaGetLastError();

  d->id = ctx.id();
  d->backend = "cuda";
  d->index = ctx.index();
  d->name = p.name;
  d->cores = p.multiProcessorCount;
  d->memory_bytes = static_cast<int64_t>(p.totalGlobalMem);
  // TF32 state in the library string, so that every result carries it.
  d->library = absl::StrCat("cuBLAS ", cublas_major, ".", cublas_minor, ".", cublas_patch,
                            ", TF32 off");

  auto& props = d->properties;
  props["uuid"] = UuidText(p.uuid);
  props["pci_bus_id"] = bus_id;
  props["compute_capability"] = absl::StrCat(p.major, ".", p.minor);
  props["sms"] = absl::StrCat(p.multiProcessorCount);
  props["l2_bytes"] = absl::StrCat(p.l2CacheSize);
  props["memory"] = absl::StrCat(p.totalGlobalMem, " bytes (", GiB(p.totalGlobalMem), ")");
  props["sm_clock_max_mhz"] = sm_clock_khz > 0 ? absl::StrCat(sm_clock_khz / 1000) : "unknown";
  props["memory_clock_mhz"] =
      memory_clock_khz > 0 ? absl::StrCat(memory_clock_khz / 1000) : "unknown";
  props["memory_bus_width_bits"] = bus_width > 0 ? absl::StrCat(bus_width) : "unknown";
  if (memory_clock_khz > 0 && bus_width > 0) {
    // Double data rate: two transfers per memory clock.
    props["memory_bandwidth_theoretical_gbps"] =
        absl::StrFormat("%.0f", 2.0 * memory_clock_khz * 1e3 * (bus_width / 8.0) / 1e9);
  }
  const int lanes = Fp32LanesPerSm(p.major, p.minor);
  if (lanes > 0 && sm_clock_khz > 0) {
    props["fp32_peak_tflops_at_max_clock"] =
        absl::StrFormat("%.1f", 2.0 * lanes * p.multiProcessorCount * sm_clock_khz * 1e3 / 1e12);
  }
  props["driver_version"] = NvmlClock::DriverVersion().empty()
                                ? absl::StrCat("CUDA ", CudaVersionText(driver))
                                : NvmlClock::DriverVersion();
  props["cuda_driver_api_version"] = CudaVersionText(driver);
  props["cuda_runtime_version"] = CudaVersionText(runtime);
  props["cublas_version"] = absl::StrCat(cublas_major, ".", cublas_minor, ".", cublas_patch);
  props["tf32"] = "off (cuBLAS CUBLAS_DEFAULT_MATH: f32 GEMM/GEMV in full FP32)";
  props["cold_flush_bytes"] = absl::StrCat(ctx.flush_bytes());
  props["memory_margin_bytes"] = absl::StrCat(kCudaMemoryMarginBytes);
  props["cublas_workspace_bytes"] = absl::StrCat(kCublasWorkspaceBytes);
  if (ctx.nvml() != nullptr) {
    const int max_mhz = ctx.nvml()->MaxSmMhz();
    if (max_mhz > 0) props["sm_clock_max_mhz_nvml"] = absl::StrCat(max_mhz);
    props["sm_clock_source"] = "probe kernel (clock64 / %globaltimer) and NVML";
  } else {
    props["sm_clock_source"] = absl::StrCat(
        "probe kernel (clock64 / %globaltimer); NVML unavailable: ", ctx.nvml_status());
  }

  d->default_sizes = "1000:20000:500";  // the seed's 38 sizes
  d->timing_modes = {TimingMode::kHot, TimingMode::kCold, TimingMode::kGraph};
  d->default_settings.noise_target = 0.005;
  d->default_settings.min_samples = 10;
  d->default_settings.min_time_s = 0.02;
  d->default_settings.max_time_s = 2.0;
  d->min_sample_seconds = kMinSampleSeconds;
}

absl::StatusOr<std::unique_ptr<PreparedPoint>> CudaDevice::Prepare(
    const PointSpec& point, const MeasureSettings& settings) {
  GpuContext& ctx = *context_;
  std::string why;
  if (!ctx.Healthy(&why)) {
    return absl::FailedPreconditionError(absl::StrCat(ctx.id(), " is unhealthy: ", why));
  }
  if (absl::Status s = ctx.Activate(); !s.ok()) return s;

  absl::StatusOr<Impl> impl = ParseImpl(point);
  if (!impl.ok()) return impl.status();
  if (point.n < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("n: ", point.n, " is out of range; allowed >= 1"));
  }
  if (point.op == "outer") {
    const int64_t axis = point.Param("axis", -1);
    if (axis != 0 && axis != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("params.axis: ", axis, " is out of range; allowed 0, 1"));
    }
  }
  // The fused kernel indexes the summed axis with 32-bit offsets (and one
  // execution at that size would take days).
  if (*impl == Impl::kFused && point.n > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("n: ", point.n, " is out of range for ",
                                                   point.op, "/", point.impl, " on cuda; allowed <= ",
                                                   std::numeric_limits<int32_t>::max()));
  }

  // Checked before anything is allocated, on the host or the GPU.
  const int64_t needed = BytesNeeded(point, settings.timing);
  const int64_t available = BytesAvailable();
  if (needed > available) {
    return absl::ResourceExhaustedError(
        absl::StrCat(ctx.id(), ": ", point.Label(), " needs ", needed, " bytes (", GiB(needed),
                     ") of device memory but only ", available, " bytes (", GiB(available),
                     ") are free (cudaMemGetInfo's free bytes minus a ",
                     kCudaMemoryMarginBytes >> 20, " MiB margin)"));
  }

  std::unique_ptr<PreparedPoint> prepared;
  absl::Status init;
  if (point.dtype == DType::kF32) {
    auto p = std::make_unique<CudaPoint<float>>(context_, point, *impl, settings.timing);
    init = p->Init();
    prepared = std::move(p);
  } else {
    auto p = std::make_unique<CudaPoint<double>>(context_, point, *impl, settings.timing);
    init = p->Init();
    prepared = std::move(p);
  }
  if (!init.ok()) return init;
  return prepared;
}

// ---------------------------------------------------------------------------
// Ceilings.

// Two events, destroyed with the object (the owner makes the GPU current).
struct EventPair {
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  ~EventPair() {
    if (start != nullptr) cudaEventDestroy(start);
    if (stop != nullptr) cudaEventDestroy(stop);
  }
  absl::Status Create(GpuContext& ctx) {
    if (absl::Status s = ctx.Check(cudaEventCreate(&start), "cudaEventCreate"); !s.ok()) return s;
    return ctx.Check(cudaEventCreate(&stop), "cudaEventCreate");
  }
  // Waits for `stop` and returns the seconds between the two.
  absl::StatusOr<double> Seconds(GpuContext& ctx) const {
    if (absl::Status s = ctx.Check(cudaEventSynchronize(stop), "cudaEventSynchronize"); !s.ok()) {
      return s;
    }
    float ms = 0;
    if (absl::Status s = ctx.Check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
        !s.ok()) {
      return s;
    }
    return static_cast<double>(ms) * 1e-3;
  }
};

constexpr int64_t kCeilingsCopyMinBytes = int64_t{1} << 30;
constexpr int64_t kCeilingsCopyFloorBytes = int64_t{64} << 20;
constexpr int kCeilingsCopyRepetitions = 10;
constexpr int kCeilingsFmaRuns = 5;
constexpr double kCeilingsFmaRunSeconds = 0.02;
constexpr double kCeilingsFmaCalibrationSeconds = 0.002;

struct CopyCeiling {
  int64_t bytes = 0;
  double best_bytes_per_s = 0;
  double median_bytes_per_s = 0;
};

// Device-to-device copies of `bytes` on the device's stream, each timed by
// its own event pair after one untimed copy.
absl::Status MeasureCopyCeiling(GpuContext& ctx, int64_t bytes, CopyCeiling* out) {
  DeviceBuffer source, destination;
  if (absl::Status s = source.Allocate(ctx, bytes, "ceilings copy source"); !s.ok()) return s;
  if (absl::Status s = destination.Allocate(ctx, bytes, "ceilings copy destination"); !s.ok()) {
    return s;
  }
  EventPair events;
  if (absl::Status s = events.Create(ctx); !s.ok()) return s;
  cudaStream_t stream = ctx.stream();
  if (absl::Status s = ctx.Check(cudaMemsetAsync(source.as<void>(), 0x3C, bytes, stream),
                                 "cudaMemsetAsync(ceilings copy source)");
      !s.ok()) {
    return s;
  }
  auto copy = [&]() {
    return ctx.Check(cudaMemcpyAsync(destination.as<void>(), source.as<void>(), bytes,
                                     cudaMemcpyDeviceToDevice, stream),
                     "cudaMemcpyAsync(ceilings copy)");
  };
  if (absl::Status s = copy(); !s.ok()) return s;  // first touch of the destination
  std::vector<double> rates;
  for (int r = 0; r < kCeilingsCopyRepetitions; ++r) {
    if (absl::Status s = ctx.Check(cudaEventRecord(events.start, stream), "cudaEventRecord");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = copy(); !s.ok()) return s;
    if (absl::Status s = ctx.Check(cudaEventRecord(events.stop, stream), "cudaEventRecord");
        !s.ok()) {
      return s;
    }
    absl::StatusOr<double> seconds = events.Seconds(ctx);
    if (!seconds.ok()) return seconds.status();
    if (*seconds > 0) rates.push_back(2.0 * static_cast<double>(bytes) / *seconds);
  }
  if (rates.empty()) return absl::InternalError(absl::StrCat(ctx.id(), ": copies timed as 0 s"));
  std::sort(rates.begin(), rates.end());
  out->bytes = bytes;
  out->best_bytes_per_s = rates.back();
  out->median_bytes_per_s = rates.size() % 2 == 1
                                ? rates[rates.size() / 2]
                                : 0.5 * (rates[rates.size() / 2 - 1] + rates[rates.size() / 2]);
  return absl::OkStatus();
}

struct FmaCeiling {
  double flops_per_s = 0;
  double seconds = 0;        // of the best run
  double clock_mhz = -1;     // clock64 / %globaltimer across the best run
  int nvml_mhz = -1;         // NVML, read while the best run was on the GPU
  int blocks = 0;
  int blocks_per_sm = 0;
  int iterations = 0;
};

// The FMA kernel for T: one wave of blocks filling every SM, ~2 ms
// calibration (also the warm-up: module load, clocks rising), then
// kCeilingsFmaRuns event-timed runs of ~20 ms; the best run counts.
template <typename T>
absl::Status MeasureFmaCeiling(GpuContext& ctx, FmaCeiling* out) {
  int blocks_per_sm = 0;
  if (absl::Status s = ctx.Check(kernels::FmaPeakBlocksPerSm<T>(&blocks_per_sm),
                                 "cudaOccupancyMaxActiveBlocksPerMultiprocessor(FMA kernel)");
      !s.ok()) {
    return s;
  }
  blocks_per_sm = std::max(1, blocks_per_sm);
  const int blocks = blocks_per_sm * ctx.sm_count();
  const int64_t threads = static_cast<int64_t>(blocks) * kernels::kFmaPeakThreads;
  DeviceBuffer sink, clock_words;
  if (absl::Status s = sink.Allocate(ctx, threads * static_cast<int64_t>(sizeof(T)), "FMA sink");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = clock_words.Allocate(ctx, 2 * sizeof(unsigned long long), "FMA clock");
      !s.ok()) {
    return s;
  }
  EventPair events;
  if (absl::Status s = events.Create(ctx); !s.ok()) return s;
  cudaStream_t stream = ctx.stream();
  const T multiplier = static_cast<T>(0.999);
  const T addend = static_cast<T>(0.001);

  struct Run {
    double seconds = 0;
    double clock_mhz = -1;
    int nvml_mhz = -1;
  };
  auto run = [&](int iterations, double expected_seconds) -> absl::StatusOr<Run> {
    if (absl::Status s = ctx.Check(cudaEventRecord(events.start, stream), "cudaEventRecord");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ctx.Check(
            kernels::LaunchFmaPeak<T>(blocks, iterations, multiplier, addend, sink.as<T>(),
                                      clock_words.as<unsigned long long>(), stream),
            "FMA kernel launch");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ctx.Check(cudaEventRecord(events.stop, stream), "cudaEventRecord");
        !s.ok()) {
      return s;
    }
    Run r;
    if (ctx.nvml() != nullptr && expected_seconds > 0) {
      // Halfway through the kernel (launch latency is microseconds).
      std::this_thread::sleep_for(std::chrono::duration<double>(expected_seconds / 2));
      r.nvml_mhz = ctx.nvml()->CurrentSmMhz();
    }
    absl::StatusOr<double> seconds = events.Seconds(ctx);
    if (!seconds.ok()) return seconds.status();
    r.seconds = *seconds;
    unsigned long long words[2] = {0, 0};
    if (absl::Status s = ctx.Check(cudaMemcpyAsync(words, clock_words.as<void>(), sizeof(words),
                                                   cudaMemcpyDeviceToHost, stream),
                                   "copying the FMA kernel's clock words");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ctx.Check(cudaStreamSynchronize(stream), "FMA kernel"); !s.ok()) return s;
    if (words[0] > 0) {
      r.clock_mhz = static_cast<double>(words[1]) / static_cast<double>(words[0]) * 1e3;
    }
    return r;
  };

  // Calibration: grow the trip count until a run lasts ~2 ms.
  int iterations = 64;
  double seconds = 0;
  for (;;) {
    absl::StatusOr<Run> r = run(iterations, 0);
    if (!r.ok()) return r.status();
    seconds = r->seconds;
    if (seconds >= kCeilingsFmaCalibrationSeconds || iterations >= (1 << 26)) break;
    iterations *= 8;
  }
  const double scale = kCeilingsFmaRunSeconds / std::max(seconds, 1e-6);
  iterations = static_cast<int>(
      std::clamp(static_cast<double>(iterations) * scale, 1.0, static_cast<double>(1 << 30)));

  Run best;
  for (int k = 0; k < kCeilingsFmaRuns; ++k) {
    absl::StatusOr<Run> r = run(iterations, kCeilingsFmaRunSeconds);
    if (!r.ok()) return r.status();
    if (r->seconds > 0 && (best.seconds == 0 || r->seconds < best.seconds)) best = *r;
  }
  if (best.seconds <= 0) {
    return absl::InternalError(absl::StrCat(ctx.id(), ": FMA kernel timed as 0 s"));
  }
  const double fmas = static_cast<double>(threads) * iterations * kernels::kFmaPeakChains *
                      kernels::kFmaPeakUnroll;
  out->flops_per_s = 2.0 * fmas / best.seconds;
  out->seconds = best.seconds;
  out->clock_mhz = best.clock_mhz;
  out->nvml_mhz = best.nvml_mhz;
  out->blocks = blocks;
  out->blocks_per_sm = blocks_per_sm;
  out->iterations = iterations;
  return absl::OkStatus();
}

absl::StatusOr<DeviceCeilings> CudaDevice::MeasureCeilings() {
  GpuContext& ctx = *context_;
  std::string why;
  if (!ctx.Healthy(&why)) {
    return absl::FailedPreconditionError(absl::StrCat(ctx.id(), " is unhealthy: ", why));
  }
  if (absl::Status s = ctx.Activate(); !s.ok()) return s;
  const auto started = std::chrono::steady_clock::now();
  const cudaDeviceProp& p = ctx.props();

  // Bandwidth: max(1 GiB, 8 x L2) per buffer, as free memory allows.
  const int64_t mib = int64_t{1} << 20;
  const int64_t wanted = std::max(
      kCeilingsCopyMinBytes, (8 * static_cast<int64_t>(p.l2CacheSize) + mib - 1) / mib * mib);
  const int64_t available = BytesAvailable();
  const int64_t bytes = std::min(wanted, available / 2 / mib * mib);
  if (bytes < kCeilingsCopyFloorBytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        ctx.id(), ": measuring the ceilings needs 2 x ", kCeilingsCopyFloorBytes >> 20,
        " MiB of device memory for its copy but only ", available, " bytes (", GiB(available),
        ") are free"));
  }
  CopyCeiling copy;
  if (absl::Status s = MeasureCopyCeiling(ctx, bytes, &copy); !s.ok()) return s;

  FmaCeiling f32, f64;
  if (absl::Status s = MeasureFmaCeiling<float>(ctx, &f32); !s.ok()) return s;
  if (absl::Status s = MeasureFmaCeiling<double>(ctx, &f64); !s.ok()) return s;

  DeviceCeilings c;
  c.bandwidth_bytes_per_s = copy.best_bytes_per_s;
  c.peak_flops["f32"] = f32.flops_per_s;
  c.peak_flops["f64"] = f64.flops_per_s;
  c.latency_threshold_seconds = LatencyThresholdSeconds("cuda");

  auto nvml_text = [&ctx](int mhz) {
    if (ctx.nvml() == nullptr) return absl::StrCat("NVML unavailable: ", ctx.nvml_status());
    return mhz > 0 ? absl::StrCat("NVML read mid-run ", mhz, " MHz")
                   : std::string("NVML read mid-run failed");
  };
  if (f32.clock_mhz > 0) {
    c.clock_hz = f32.clock_mhz * 1e6;
    c.clock_method = absl::StrFormat(
        "clock64() / %%globaltimer of block 0 thread 0 across the f32 FMA kernel's best run "
        "(%.0f MHz; %s); f64 FMA run: %.0f MHz (%s)",
        f32.clock_mhz, nvml_text(f32.nvml_mhz), f64.clock_mhz, nvml_text(f64.nvml_mhz));
  } else if (f32.nvml_mhz > 0) {
    c.clock_hz = f32.nvml_mhz * 1e6;
    c.clock_method = "NVML SM clock read while the f32 FMA kernel's best run was on the GPU";
  } else {
    c.clock_method = "unknown (the FMA kernel's clock words were empty and NVML gave nothing)";
  }

  const int64_t mib_bytes = copy.bytes / mib;
  c.method = absl::StrFormat(
      "bandwidth: cudaMemcpyAsync device-to-device of %d MiB (max(1 GiB, 8 x L2 %d MiB)%s), bytes "
      "read + written, best of %d event-timed copies after one untimed (median %.1f GB/s); peak: "
      "FMA kernel, %d independent fma() chains per thread x %d unrolled, %d threads per block, "
      "one wave of blocks on every SM (f32 %d blocks = %d per SM, f64 %d = %d per SM), each "
      "thread's sum written to memory, 2 FLOP per FMA, best of %d event-timed runs of ~%.0f ms "
      "(f32 %d trips %.2f ms, f64 %d trips %.2f ms) after a calibration run",
      static_cast<int64_t>(mib_bytes), static_cast<int64_t>(p.l2CacheSize / mib),
      copy.bytes < wanted ? ", limited by free memory" : "", kCeilingsCopyRepetitions,
      copy.median_bytes_per_s / 1e9, kernels::kFmaPeakChains, kernels::kFmaPeakUnroll,
      kernels::kFmaPeakThreads, f32.blocks, f32.blocks_per_sm, f64.blocks, f64.blocks_per_sm,
      kCeilingsFmaRuns, kCeilingsFmaRunSeconds * 1e3, f32.iterations, f32.seconds * 1e3,
      f64.iterations, f64.seconds * 1e3);

  // Datasheet-style: SMs x lanes x 2 FLOP x the clock each FMA run ran at.
  const int lanes32 = Fp32LanesPerSm(p.major, p.minor);
  const int lanes64 = Fp64LanesPerSm(p.major, p.minor);
  std::vector<std::string> parts;
  auto derive = [&](const char* dtype, int lanes, double mhz) {
    if (lanes > 0 && mhz > 0) {
      c.derived_peak_flops[dtype] = 2.0 * p.multiProcessorCount * lanes * mhz * 1e6;
      parts.push_back(absl::StrFormat("%s: %d SMs x %d lanes x 2 FLOP x %.0f MHz", dtype,
                                      p.multiProcessorCount, lanes, mhz));
    } else if (lanes <= 0) {
      parts.push_back(absl::StrFormat("%s: lanes per SM unknown for sm_%d%d", dtype, p.major,
                                      p.minor));
    } else {
      parts.push_back(absl::StrFormat("%s: clock unknown", dtype));
    }
  };
  derive("f32", lanes32, f32.clock_mhz > 0 ? f32.clock_mhz : f32.nvml_mhz);
  derive("f64", lanes64, f64.clock_mhz > 0 ? f64.clock_mhz : f64.nvml_mhz);
  c.derived_method = absl::StrCat(
      absl::StrJoin(parts, "; "),
      absl::StrFormat(" (lanes per SM from compute capability %d.%d; clock: clock64() / "
                      "%%globaltimer during that dtype's FMA run)",
                      p.major, p.minor));

  c.measured_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  c.seconds_spent =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return c;
}

}  // namespace

absl::StatusOr<std::vector<std::unique_ptr<Device>>> CreateCudaDevices(
    const BackendConfig& config) {
  if (!config.enable_cuda) {
    return absl::FailedPreconditionError("CUDA disabled by configuration");
  }
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return absl::FailedPreconditionError(
        absl::StrCat("no CUDA device: cudaGetDeviceCount: ", CudaErrorText(e)));
  }
  if (count == 0) {
    return absl::FailedPreconditionError("no CUDA device: cudaGetDeviceCount found 0 devices");
  }
  std::vector<std::unique_ptr<Device>> devices;
  std::vector<std::string> failures;
  for (int index = 0; index < count; ++index) {
    auto context = std::make_shared<GpuContext>(index);
    if (absl::Status s = context->Init(); !s.ok()) {
      failures.push_back(std::string(s.message()));
      continue;
    }
    devices.push_back(std::make_unique<CudaDevice>(std::move(context)));
  }
  if (devices.empty()) {
    return absl::UnavailableError(
        absl::StrCat("no usable CUDA device: ", absl::StrJoin(failures, "; ")));
  }
  for (const std::string& failure : failures) {
    // The factory's signature carries no partial failures; say it here.
    std::fprintf(stderr, "flopd: cuda: skipping a GPU: %s\n", failure.c_str());
  }
  return devices;
}

absl::StatusOr<double> MeasureCudaCopyBandwidth(int device_index, int64_t bytes, int repetitions) {
  GpuContext context(device_index);
  if (absl::Status s = context.Activate(); !s.ok()) return s;
  cudaStream_t stream = nullptr;
  if (absl::Status s = context.Check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
                                     "cudaStreamCreateWithFlags");
      !s.ok()) {
    return s;
  }
  DeviceBuffer source, destination;
  cudaEvent_t start = nullptr, stop = nullptr;
  auto run = [&]() -> absl::StatusOr<double> {
    if (absl::Status s = source.Allocate(context, bytes, "copy source"); !s.ok()) return s;
    if (absl::Status s = destination.Allocate(context, bytes, "copy destination"); !s.ok()) {
      return s;
    }
    if (absl::Status s = context.Check(cudaEventCreate(&start), "cudaEventCreate"); !s.ok()) {
      return s;
    }
    if (absl::Status s = context.Check(cudaEventCreate(&stop), "cudaEventCreate"); !s.ok()) {
      return s;
    }
    if (absl::Status s =
            context.Check(cudaMemsetAsync(source.as<void>(), 0x3C, bytes, stream), "memset");
        !s.ok()) {
      return s;
    }
    auto copy = [&]() {
      return context.Check(cudaMemcpyAsync(destination.as<void>(), source.as<void>(), bytes,
                                           cudaMemcpyDeviceToDevice, stream),
                           "cudaMemcpyAsync");
    };
    if (absl::Status s = copy(); !s.ok()) return s;
    if (absl::Status s = context.Check(cudaEventRecord(start, stream), "cudaEventRecord");
        !s.ok()) {
      return s;
    }
    for (int i = 0; i < repetitions; ++i) {
      if (absl::Status s = copy(); !s.ok()) return s;
    }
    if (absl::Status s = context.Check(cudaEventRecord(stop, stream), "cudaEventRecord"); !s.ok()) {
      return s;
    }
    if (absl::Status s = context.Check(cudaEventSynchronize(stop), "copies"); !s.ok()) return s;
    float ms = 0;
    if (absl::Status s = context.Check(cudaEventElapsedTime(&ms, start, stop), "elapsed");
        !s.ok()) {
      return s;
    }
    return 2.0 * static_cast<double>(bytes) * repetitions / (static_cast<double>(ms) * 1e-3);
  };
  absl::StatusOr<double> result = run();
  if (start != nullptr) cudaEventDestroy(start);
  if (stop != nullptr) cudaEventDestroy(stop);
  cudaStreamSynchronize(stream);
  cudaStreamDestroy(stream);
  cudaGetLastError();
  return result;
}

template <typename T>
absl::Status CopyPreparedInputsForTesting(int device_index, const PointSpec& point,
                                          std::vector<T>* first, std::vector<T>* second,
                                          std::vector<double>* reference) {
  if (point.n < 1) return absl::InvalidArgumentError("n < 1");
  GpuContext context(device_index);
  if (absl::Status s = context.Activate(); !s.ok()) return s;
  cudaStream_t stream = nullptr;
  if (absl::Status s = context.Check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
                                     "cudaStreamCreateWithFlags");
      !s.ok()) {
    return s;
  }
  const int64_t n = point.n;
  const int64_t first_count = point.op == "matvec" ? n * n : n;
  DeviceBuffer first_device, second_device, reference_device;
  auto run = [&]() -> absl::Status {
    if (absl::Status s = first_device.Allocate(context, first_count * sizeof(T), "first input");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = second_device.Allocate(context, n * sizeof(T), "second input"); !s.ok()) {
      return s;
    }
    if (absl::Status s = reference_device.Allocate(context, n * sizeof(double), "reference");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = MakeInputsAndReference<T>(context, stream, point, first_device.as<T>(),
                                                   second_device.as<T>(),
                                                   reference_device.as<double>(), reference);
        !s.ok()) {
      return s;
    }
    first->assign(static_cast<size_t>(first_count), T(0));
    second->assign(static_cast<size_t>(n), T(0));
    if (absl::Status s = context.Check(cudaMemcpy(first->data(), first_device.as<void>(),
                                                  first_count * sizeof(T), cudaMemcpyDeviceToHost),
                                       "copying the first input back");
        !s.ok()) {
      return s;
    }
    return context.Check(
        cudaMemcpy(second->data(), second_device.as<void>(), n * sizeof(T), cudaMemcpyDeviceToHost),
        "copying the second input back");
  };
  const absl::Status status = run();
  cudaStreamSynchronize(stream);
  cudaStreamDestroy(stream);
  cudaGetLastError();
  return status;
}

template absl::Status CopyPreparedInputsForTesting<float>(int, const PointSpec&,
                                                          std::vector<float>*,
                                                          std::vector<float>*,
                                                          std::vector<double>*);
template absl::Status CopyPreparedInputsForTesting<double>(int, const PointSpec&,
                                                           std::vector<double>*,
                                                           std::vector<double>*,
                                                           std::vector<double>*);

}  // namespace flopd
