// The one file that knows which backends this build contains.
#include "server/backend/registry.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace flopd {

#ifndef FLOPD_HAVE_CUDA
absl::StatusOr<std::vector<std::unique_ptr<Device>>> CreateCudaDevices(const BackendConfig&) {
  return absl::UnimplementedError("flopd was built without CUDA");
}
#endif

DeviceSet CreateDevices(const BackendConfig& config) {
  DeviceSet set;
  auto take = [&set](absl::string_view backend,
                     absl::StatusOr<std::vector<std::unique_ptr<Device>>> devices) {
    if (!devices.ok()) {
      set.unavailable.push_back(absl::StrCat(backend, ": ", devices.status().message()));
      return;
    }
    for (auto& device : *devices) set.devices.push_back(std::move(device));
  };
  take("cpu", CreateCpuDevices(config));
  if (config.enable_cuda) {
    take("cuda", CreateCudaDevices(config));
  } else {
    set.unavailable.push_back("cuda: disabled with --no-cuda");
  }
  return set;
}

}  // namespace flopd
