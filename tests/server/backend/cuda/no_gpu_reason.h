// Why the GPU tests that call the CUDA runtime directly must skip: "" when a
// CUDA device can be used, else the reason (for GTEST_SKIP). Header-only;
// include only from targets that link the CUDA runtime.
#ifndef FLOPD_TESTS_SERVER_BACKEND_CUDA_NO_GPU_REASON_H_
#define FLOPD_TESTS_SERVER_BACKEND_CUDA_NO_GPU_REASON_H_

#include <cuda_runtime.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace flopd {

inline std::string NoGpuReason() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the non-sticky error for later calls
    return absl::StrCat("cudaGetDeviceCount: ", cudaGetErrorName(e));
  }
  return count > 0 ? "" : "no CUDA device";
}

}  // namespace flopd

#endif  // FLOPD_TESTS_SERVER_BACKEND_CUDA_NO_GPU_REASON_H_
