// Builds the devices this flopd serves. The only place that knows which
// backends were compiled in: the CUDA backend is linked when FLOPD_CUDA is
// on; otherwise its factory says so.
#ifndef FLOPD_SERVER_BACKEND_REGISTRY_H_
#define FLOPD_SERVER_BACKEND_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/backend/device.h"

namespace flopd {

struct BackendConfig {
  int cpu_threads = 0;            // 0 = all hardware threads
  int64_t cpu_memory_limit = 0;   // bytes; 0 = half of physical memory
  bool enable_cuda = true;        // false: do not even probe for GPUs
};

DeviceSet CreateDevices(const BackendConfig& config);

// The CPUs this process may run on (its affinity mask, so `taskset` and
// cgroup cpusets are respected), else the hardware thread count: the CPU
// backend's default thread count and flopd's default bound on threads per
// job (--max-threads-per-job).
int UsableCpus();

// Backend factories. Each returns the backend's devices or why there are none
// (UNIMPLEMENTED when not compiled in, FAILED_PRECONDITION/UNAVAILABLE when
// the hardware or driver is missing).
absl::StatusOr<std::vector<std::unique_ptr<Device>>> CreateCpuDevices(const BackendConfig& config);
absl::StatusOr<std::vector<std::unique_ptr<Device>>> CreateCudaDevices(const BackendConfig& config);

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_REGISTRY_H_
