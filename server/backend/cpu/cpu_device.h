// The host's CPU as a flopd Device: "cpu:0". Library impls call OpenBLAS
// (cblas ?gemv / ?gemm); flopd's own impls (the reductions after the library
// outer product, and the fused outer-product-and-sum) are the kernels of
// cpu_kernels.h. Both run with the same thread count, which is the daemon's
// (BackendConfig::cpu_threads) unless a job's settings name one.
//
// Buffers are 64-byte aligned (those of 2 MiB or more 2 MiB aligned and
// advised to use transparent huge pages, as NumPy's are) and first touched by
// the kernel threads that use them.
// Inputs are drawn with FillUniform (seed kInputSeed + buffer index) and the
// fp64 reference is computed once per point, outside any timed region.
//
// Timing modes: hot (back-to-back executions in one steady_clock interval)
// and cold (before each execution, the threads write a buffer twice the size
// of the last-level caches, then the execution is timed alone).
//
// Thread-safety: Describe(), BytesAvailable() and BytesNeeded() are const and
// safe from any thread. Prepare() and the PreparedPoint it returns must be
// used by one thread at a time, and only one prepared point should run at a
// time: OpenBLAS's thread count is process-wide state, set before each use.
#ifndef FLOPD_SERVER_BACKEND_CPU_CPU_DEVICE_H_
#define FLOPD_SERVER_BACKEND_CPU_CPU_DEVICE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "common/measure_settings.h"
#include "common/point.h"
#include "server/backend/device.h"
#include "server/backend/registry.h"

namespace flopd {

class CpuDevice : public Device {
 public:
  // Reads the host's properties (/proc/cpuinfo, sysfs caches, physical
  // memory, OpenBLAS's build) once. config.cpu_threads = 0 means every CPU
  // this process may run on; config.cpu_memory_limit = 0 means half of the
  // physical memory.
  explicit CpuDevice(const BackendConfig& config);

  const DeviceDescription& Describe() const override { return description_; }

  int64_t BytesAvailable() const override { return memory_limit_; }

  // BufferBytes(point) + the fp64 reference (8N) + the flush buffer in cold
  // mode.
  int64_t BytesNeeded(const PointSpec& point, TimingMode timing) const override;

  // RESOURCE_EXHAUSTED "needed X bytes ..." when BytesNeeded exceeds
  // BytesAvailable or an allocation fails; INVALID_ARGUMENT for an (op, impl),
  // axis or timing mode this device does not offer, or N < 1.
  absl::StatusOr<std::unique_ptr<PreparedPoint>> Prepare(const PointSpec& point,
                                                         const MeasureSettings& settings) override;

  // STREAM copy/triad and FMA-bound loops on the kernel thread team
  // (ceilings.h), with the daemon's thread count.
  absl::StatusOr<DeviceCeilings> MeasureCeilings(const std::atomic<bool>& stop) override;

  // Bytes the cold mode writes before each execution.
  int64_t flush_bytes() const { return flush_bytes_; }

 private:
  DeviceDescription description_;
  int threads_;
  int64_t memory_limit_;
  int64_t flush_bytes_;
  int64_t llc_bytes_;
};

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CPU_CPU_DEVICE_H_
