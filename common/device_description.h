// What a device is: its identity, what it offers (impls through its backend
// name, timing modes, default sizes and settings) and how it was built. Set
// by a backend when the device is created; read by the scheduler, the wire
// layer and flopctl. Plain data: no behaviour, no CUDA or BLAS types.
#ifndef FLOPD_COMMON_DEVICE_DESCRIPTION_H_
#define FLOPD_COMMON_DEVICE_DESCRIPTION_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/measure_settings.h"

namespace flopd {

struct DeviceDescription {
  std::string id;       // "cpu:0", "cuda:1"
  std::string backend;  // "cpu" | "cuda": selects the catalog's impls
  int index = 0;
  std::string name;     // "AMD EPYC 7B13", "NVIDIA H100 80GB HBM3"
  int cores = 0;        // CPU threads used, or GPU SMs
  int64_t memory_bytes = 0;
  std::string library;  // "OpenBLAS 0.3.21 ...", "cuBLAS 13.0.0"
  std::map<std::string, std::string> properties;
  std::string default_sizes;
  std::vector<TimingMode> timing_modes;
  MeasureSettings default_settings;
  // Smallest time one timed sample should last; the measurement loop picks
  // iterations per sample to reach it (timer resolution, launch overhead).
  double min_sample_seconds = 1e-3;
};

}  // namespace flopd

#endif  // FLOPD_COMMON_DEVICE_DESCRIPTION_H_
