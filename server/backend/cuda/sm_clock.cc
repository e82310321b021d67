#include "server/backend/cuda/sm_clock.h"

#include <dlfcn.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace flopd {
namespace {

// The few NVML declarations flopd needs (nvml.h, stable C ABI). Enums are
// passed as int.
using NvmlReturn = int;    // nvmlReturn_t; 0 = NVML_SUCCESS
using NvmlDevice = void*;  // nvmlDevice_t
constexpr NvmlReturn kNvmlSuccess = 0;
constexpr int kNvmlClockSm = 1;  // NVML_CLOCK_SM
constexpr int kNvmlTemperatureGpu = 0;  // NVML_TEMPERATURE_GPU

struct NvmlApi {
  std::string error;  // empty when loaded and initialized
  NvmlReturn (*init)() = nullptr;
  NvmlReturn (*handle_by_uuid)(const char*, NvmlDevice*) = nullptr;
  NvmlReturn (*handle_by_pci_bus_id)(const char*, NvmlDevice*) = nullptr;
  NvmlReturn (*clock_info)(NvmlDevice, int, unsigned int*) = nullptr;
  NvmlReturn (*max_clock_info)(NvmlDevice, int, unsigned int*) = nullptr;
  NvmlReturn (*clock_event_reasons)(NvmlDevice, unsigned long long*) = nullptr;
  NvmlReturn (*driver_version)(char*, unsigned int) = nullptr;
  NvmlReturn (*temperature)(NvmlDevice, int, unsigned int*) = nullptr;
  NvmlReturn (*enforced_power_limit)(NvmlDevice, unsigned int*) = nullptr;
  // Called with no buffer only (the count), so the entry layout is not needed.
  NvmlReturn (*compute_processes)(NvmlDevice, unsigned int*, void*) = nullptr;
  const char* (*error_string)(NvmlReturn) = nullptr;

  std::string ErrorText(NvmlReturn status) const {
    const char* text = error_string != nullptr ? error_string(status) : nullptr;
    return text != nullptr ? std::string(text) : absl::StrCat("NVML error ", status);
  }
};

template <typename F>
void Resolve(void* library, const char* name, F* function) {
  *function = reinterpret_cast<F>(dlsym(library, name));
}

// Loaded once per process and never unloaded.
const NvmlApi& Nvml() {
  static const NvmlApi* const api = [] {
    auto* a = new NvmlApi;
    void* library = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      const char* why = dlerror();
      a->error = absl::StrCat("dlopen(libnvidia-ml.so.1): ", why != nullptr ? why : "failed");
      return a;
    }
    Resolve(library, "nvmlInit_v2", &a->init);
    Resolve(library, "nvmlDeviceGetHandleByUUID", &a->handle_by_uuid);
    Resolve(library, "nvmlDeviceGetHandleByPciBusId_v2", &a->handle_by_pci_bus_id);
    Resolve(library, "nvmlDeviceGetClockInfo", &a->clock_info);
    Resolve(library, "nvmlDeviceGetMaxClockInfo", &a->max_clock_info);
    Resolve(library, "nvmlDeviceGetCurrentClocksEventReasons", &a->clock_event_reasons);
    if (a->clock_event_reasons == nullptr) {  // the older name of the same call
      Resolve(library, "nvmlDeviceGetCurrentClocksThrottleReasons", &a->clock_event_reasons);
    }
    Resolve(library, "nvmlSystemGetDriverVersion", &a->driver_version);
    Resolve(library, "nvmlDeviceGetTemperature", &a->temperature);
    Resolve(library, "nvmlDeviceGetEnforcedPowerLimit", &a->enforced_power_limit);
    Resolve(library, "nvmlDeviceGetComputeRunningProcesses_v3", &a->compute_processes);
    Resolve(library, "nvmlErrorString", &a->error_string);
    if (a->init == nullptr || a->clock_info == nullptr ||
        (a->handle_by_uuid == nullptr && a->handle_by_pci_bus_id == nullptr)) {
      a->error = "libnvidia-ml.so.1 lacks nvmlInit_v2, nvmlDeviceGetClockInfo or a handle lookup";
      return a;
    }
    const NvmlReturn status = a->init();
    if (status != kNvmlSuccess) a->error = absl::StrCat("nvmlInit_v2: ", a->ErrorText(status));
    return a;
  }();
  return *api;
}

// NVML's clock-event reason bits (nvmlClocksEventReason*).
std::string ReasonNames(unsigned long long bits) {
  static constexpr struct {
    unsigned long long bit;
    const char* name;
  } kReasons[] = {
      {0x1ULL, "gpu_idle"},
      {0x2ULL, "applications_clocks_setting"},
      {0x4ULL, "sw_power_cap"},
      {0x8ULL, "hw_slowdown"},
      {0x10ULL, "sync_boost"},
      {0x20ULL, "sw_thermal_slowdown"},
      {0x40ULL, "hw_thermal_slowdown"},
      {0x80ULL, "hw_power_brake_slowdown"},
      {0x100ULL, "display_clock_setting"},
  };
  std::vector<std::string> names;
  for (const auto& reason : kReasons) {
    if (bits & reason.bit) names.push_back(reason.name);
  }
  return absl::StrJoin(names, ", ");
}

}  // namespace

std::unique_ptr<NvmlClock> NvmlClock::Open(const std::string& uuid, const std::string& pci_bus_id,
                                           std::string* why_not) {
  const NvmlApi& api = Nvml();
  if (!api.error.empty()) {
    *why_not = api.error;
    return nullptr;
  }
  NvmlDevice device = nullptr;
  std::string failures;
  if (api.handle_by_uuid != nullptr && !uuid.empty()) {
    const NvmlReturn status = api.handle_by_uuid(uuid.c_str(), &device);
    if (status == kNvmlSuccess) return std::make_unique<NvmlClock>(device);
    failures = absl::StrCat("nvmlDeviceGetHandleByUUID(", uuid, "): ", api.ErrorText(status));
  }
  if (api.handle_by_pci_bus_id != nullptr && !pci_bus_id.empty()) {
    const NvmlReturn status = api.handle_by_pci_bus_id(pci_bus_id.c_str(), &device);
    if (status == kNvmlSuccess) return std::make_unique<NvmlClock>(device);
    absl::StrAppend(&failures, failures.empty() ? "" : "; ", "nvmlDeviceGetHandleByPciBusId_v2(",
                    pci_bus_id, "): ", api.ErrorText(status));
  }
  *why_not = failures.empty() ? "no UUID or PCI bus id to look the GPU up by" : failures;
  return nullptr;
}

int NvmlClock::CurrentSmMhz() const {
  unsigned int mhz = 0;
  const NvmlApi& api = Nvml();
  if (api.clock_info(device_, kNvmlClockSm, &mhz) != kNvmlSuccess) return -1;
  return static_cast<int>(mhz);
}

int NvmlClock::MaxSmMhz() const {
  unsigned int mhz = 0;
  const NvmlApi& api = Nvml();
  if (api.max_clock_info == nullptr ||
      api.max_clock_info(device_, kNvmlClockSm, &mhz) != kNvmlSuccess) {
    return -1;
  }
  return static_cast<int>(mhz);
}

std::string NvmlClock::ClockEventReasons() const {
  unsigned long long bits = 0;
  const NvmlApi& api = Nvml();
  if (api.clock_event_reasons == nullptr ||
      api.clock_event_reasons(device_, &bits) != kNvmlSuccess) {
    return "";
  }
  return ReasonNames(bits);
}

int NvmlClock::TemperatureC() const {
  unsigned int celsius = 0;
  const NvmlApi& api = Nvml();
  if (api.temperature == nullptr ||
      api.temperature(device_, kNvmlTemperatureGpu, &celsius) != kNvmlSuccess) {
    return -1;
  }
  return static_cast<int>(celsius);
}

int NvmlClock::PowerLimitWatts() const {
  unsigned int milliwatts = 0;
  const NvmlApi& api = Nvml();
  if (api.enforced_power_limit == nullptr ||
      api.enforced_power_limit(device_, &milliwatts) != kNvmlSuccess) {
    return -1;
  }
  return static_cast<int>((milliwatts + 500) / 1000);
}

int NvmlClock::ComputeProcesses() const {
  const NvmlApi& api = Nvml();
  if (api.compute_processes == nullptr) return -1;
  unsigned int count = 0;
  const NvmlReturn status = api.compute_processes(device_, &count, nullptr);
  constexpr NvmlReturn kInsufficientSize = 7;  // NVML_ERROR_INSUFFICIENT_SIZE: count is set
  if (status != kNvmlSuccess && status != kInsufficientSize) return -1;
  return static_cast<int>(count);
}

int NvmlClock::MemoryClockMhz() const {
  unsigned int mhz = 0;
  const NvmlApi& api = Nvml();
  constexpr int kNvmlClockMem = 2;  // NVML_CLOCK_MEM
  if (api.clock_info == nullptr || api.clock_info(device_, kNvmlClockMem, &mhz) != kNvmlSuccess) {
    return -1;
  }
  return static_cast<int>(mhz);
}

std::string NvmlClock::DriverVersion() {
  const NvmlApi& api = Nvml();
  if (!api.error.empty() || api.driver_version == nullptr) return "";
  char version[96] = {};
  if (api.driver_version(version, sizeof(version)) != kNvmlSuccess) return "";
  return version;
}

void ClockDropTracker::Add(double mhz, std::string_view when) {
  if (!(mhz > 0)) return;
  if (count_ == 0) {
    first_ = min_ = max_ = mhz;
  }
  ++count_;
  last_ = mhz;
  min_ = std::min(min_, mhz);
  max_ = std::max(max_, mhz);
  if (running_max_ > 0) {
    const double ratio = mhz / running_max_;
    if (ratio < worst_ratio_) {
      worst_ratio_ = ratio;
      worst_from_ = running_max_;
      worst_from_when_ = running_max_when_;
      worst_to_ = mhz;
      worst_to_when_ = std::string(when);
    }
  }
  if (mhz > running_max_) {
    running_max_ = mhz;
    running_max_when_ = std::string(when);
  }
}

std::string ClockDropTracker::DropWarning() const {
  if (worst_ratio_ >= 1.0 - threshold_) return "";
  return absl::StrFormat("SM clock dropped %.1f%% (%s): %.0f MHz (%s) -> %.0f MHz (%s)",
                         100.0 * (1.0 - worst_ratio_), source_, worst_from_, worst_from_when_,
                         worst_to_, worst_to_when_);
}

}  // namespace flopd
