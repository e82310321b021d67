// Reading a GPU's SM clock without the NVML header or library at build time,
// and noticing when it drops during a measurement.
//
// NvmlClock loads libnvidia-ml.so.1 with dlopen on first use (it ships with
// the driver, not the toolkit) through prototypes declared in sm_clock.cc.
// Where it is missing (a container without it, a machine without a driver)
// Open() says why and the caller relies on the clock-probe kernel alone
// (cuda_kernels.cuh: clock64() against %globaltimer).
//
// Thread-safety: NvmlClock is safe from any thread (NVML is thread-safe; the
// library is loaded and initialized once per process). ClockDropTracker is
// not: one per prepared point, used by the thread that runs it.
#ifndef FLOPD_SERVER_BACKEND_CUDA_SM_CLOCK_H_
#define FLOPD_SERVER_BACKEND_CUDA_SM_CLOCK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace flopd {

class NvmlClock {
 public:
  // The NVML handle of the GPU with `uuid` ("GPU-xxxxxxxx-...", as
  // cudaDeviceProp::uuid formats), else the one at `pci_bus_id`. Null with the
  // reason in *why_not when NVML or the GPU cannot be found.
  static std::unique_ptr<NvmlClock> Open(const std::string& uuid, const std::string& pci_bus_id,
                                         std::string* why_not);

  // The SM clock now, in MHz; -1 when the read fails.
  int CurrentSmMhz() const;
  // The highest SM clock the GPU allows, in MHz; -1 when unknown.
  int MaxSmMhz() const;
  // Why the clocks are held below their maximum now, e.g. "sw_power_cap,
  // hw_thermal_slowdown"; "" when none or unknown.
  std::string ClockEventReasons() const;
  // The GPU's core temperature in degrees Celsius; -1 when the read fails.
  int TemperatureC() const;
  // The power limit the driver enforces now, in watts; -1 when unknown.
  int PowerLimitWatts() const;
  // Processes with a compute context on this GPU now (flopd's own included);
  // -1 when unknown.
  int ComputeProcesses() const;
  // The memory clock now, in MHz; -1 when the read fails.
  int MemoryClockMhz() const;
  // The driver's version string, e.g. "580.159.04"; "" when unknown.
  static std::string DriverVersion();

  explicit NvmlClock(void* device) : device_(device) {}

 private:
  void* device_;  // nvmlDevice_t
};

// Collects SM clock readings of one source (the probe kernel or NVML) in time
// order and remembers the worst drop: a reading more than `threshold` below
// the highest one before it. A rising clock (the GPU boosting out of idle
// when the point starts) is not a drop.
class ClockDropTracker {
 public:
  explicit ClockDropTracker(std::string source, double threshold = 0.05)
      : source_(std::move(source)), threshold_(threshold) {}

  // Ignores non-positive readings (failed reads).
  void Add(double mhz, std::string_view when);

  bool empty() const { return count_ == 0; }
  double first() const { return first_; }
  double last() const { return last_; }
  double min() const { return min_; }
  double max() const { return max_; }

  // "SM clock dropped 11.3% (probe kernel): 1980 MHz (before sampling) ->
  // 1755 MHz (after sampling)"; "" when no drop exceeded the threshold.
  std::string DropWarning() const;

 private:
  std::string source_;
  double threshold_;
  int count_ = 0;
  double first_ = 0, last_ = 0, min_ = 0, max_ = 0;
  double running_max_ = 0;
  std::string running_max_when_;
  double worst_ratio_ = 1.0;  // reading / running max at the worst drop
  double worst_from_ = 0, worst_to_ = 0;
  std::string worst_from_when_, worst_to_when_;
};

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CUDA_SM_CLOCK_H_
