#include "server/backend/cuda/cuda_device.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <library_types.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/op_catalog.h"
#include "server/backend/cuda/cuda_ceilings.h"
#include "server/backend/cuda/cuda_point.h"
#include "server/backend/cuda/gpu_context.h"
#include "server/backend/cuda/sm_clock.h"

namespace flopd {
namespace {

// A sample of at least 1 ms: events resolve ~0.5 µs (0.05% of it), and a
// launch gap before a sample's first kernel (~5-10 µs) is at most ~1% of it
// (MeasurePoint then grows K until such fixed costs are <= 1%).
constexpr double kMinSampleSeconds = 1e-3;

// The parts of the description fixed at creation.
void BuildDescription(const GpuContext& ctx, DeviceDescription* d) {
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
  d->library =
      absl::StrCat("cuBLAS ", cublas_major, ".", cublas_minor, ".", cublas_patch, ", TF32 off");

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

}  // namespace

CudaDevice::CudaDevice(std::shared_ptr<GpuContext> context) : context_(std::move(context)) {
  BuildDescription(*context_, &description_);
}

CudaDevice::~CudaDevice() = default;

const DeviceDescription& CudaDevice::Describe() const {
  // The description changes while flopd runs (clock readings, health), and
  // the interface returns a reference: each calling thread gets its own
  // copy, refreshed on every call.
  thread_local std::map<const CudaDevice*, DeviceDescription> snapshots;
  DeviceDescription& snapshot = snapshots[this];
  snapshot = description_;
  context_->AddLiveProperties(&snapshot.properties);
  return snapshot;
}

int64_t CudaDevice::BytesAvailable() const { return context_->BytesAvailable(); }

int64_t CudaDevice::BytesNeeded(const PointSpec& point, TimingMode timing) const {
  return CudaBytesNeeded(point, timing, *context_);
}

bool CudaDevice::Healthy(std::string* detail) const { return context_->Healthy(detail); }

absl::StatusOr<std::unique_ptr<PreparedPoint>> CudaDevice::Prepare(
    const PointSpec& point, const MeasureSettings& settings) {
  GpuContext& ctx = *context_;
  std::string why;
  if (!ctx.Healthy(&why)) {
    return absl::FailedPreconditionError(absl::StrCat(ctx.id(), " is unhealthy: ", why));
  }
  if (absl::Status s = ctx.Activate(); !s.ok()) return s;
  return PrepareCudaPoint(context_, point, settings.timing);
}

absl::StatusOr<DeviceCeilings> CudaDevice::MeasureCeilings(const std::atomic<bool>& stop) {
  GpuContext& ctx = *context_;
  std::string why;
  if (!ctx.Healthy(&why)) {
    return absl::FailedPreconditionError(absl::StrCat(ctx.id(), " is unhealthy: ", why));
  }
  if (absl::Status s = ctx.Activate(); !s.ok()) return s;
  return MeasureCudaCeilings(ctx, stop);
}

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
                                          std::vector<std::vector<T>>* inputs,
                                          std::vector<double>* reference, bool host_reference) {
  if (absl::Status s = CheckCudaKernel(point); !s.ok()) return s;
  if (point.n < 1) return absl::InvalidArgumentError("n < 1");
  GpuContext context(device_index);
  if (absl::Status s = context.Activate(); !s.ok()) return s;
  cudaStream_t stream = nullptr;
  if (absl::Status s = context.Check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
                                     "cudaStreamCreateWithFlags");
      !s.ok()) {
    return s;
  }
  const std::vector<int64_t> counts = InputCounts(point);
  std::vector<DeviceBuffer> device(counts.size());
  auto run = [&]() -> absl::Status {
    std::vector<T*> pointers;
    for (size_t i = 0; i < counts.size(); ++i) {
      if (absl::Status s = device[i].Allocate(context, counts[i] * sizeof(T), "input"); !s.ok()) {
        return s;
      }
      pointers.push_back(device[i].as<T>());
    }
    if (absl::Status s = MakeInputsAndReference<T>(
            context, stream, point, pointers, reference,
            host_reference ? ReferenceSource::kHost : ReferenceSource::kGpuWhenAvailable);
        !s.ok()) {
      return s;
    }
    inputs->assign(counts.size(), {});
    for (size_t i = 0; i < counts.size(); ++i) {
      (*inputs)[i].assign(static_cast<size_t>(counts[i]), T(0));
      if (absl::Status s = context.Check(cudaMemcpy((*inputs)[i].data(), pointers[i],
                                                    counts[i] * sizeof(T), cudaMemcpyDeviceToHost),
                                         "copying an input back");
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  };
  const absl::Status status = run();
  cudaStreamSynchronize(stream);
  cudaStreamDestroy(stream);
  cudaGetLastError();
  return status;
}

template absl::Status CopyPreparedInputsForTesting<float>(int, const PointSpec&,
                                                          std::vector<std::vector<float>>*,
                                                          std::vector<double>*, bool);
template absl::Status CopyPreparedInputsForTesting<double>(int, const PointSpec&,
                                                           std::vector<std::vector<double>>*,
                                                           std::vector<double>*, bool);

}  // namespace flopd
