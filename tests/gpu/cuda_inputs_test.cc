// Prepare draws the inputs and computes the fp64 reference on the GPU. These
// tests hold that path (CopyPreparedInputsForTesting runs the same code) to
// the host's definitions: bit-identical to FillUniform, and within 1e-12 of
// ReferenceResult. They need a GPU and skip without one.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/point.h"
#include "common/verification.h"
#include "gtest/gtest.h"
#include "server/backend/cuda/cuda_device.h"
#include "tests/gpu/no_gpu_reason.h"

namespace flopd {
namespace {

// Index of the first element whose bits differ, or -1.
template <typename T>
int64_t FirstBitDifference(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) return static_cast<int64_t>(i);
  }
  return -1;
}

template <typename T>
void CheckPoint(const PointSpec& point) {
  SCOPED_TRACE(point.Label());
  std::vector<T> first, second;
  std::vector<double> reference;
  const absl::Status status =
      CopyPreparedInputsForTesting<T>(0, point, &first, &second, &reference);
  ASSERT_TRUE(status.ok()) << status;
  const int64_t n = point.n;
  const int64_t first_count = point.op == "matvec" ? n * n : n;
  std::vector<T> expected_first(first_count), expected_second(n);
  FillUniform(expected_first.data(), first_count, kInputSeed + 0);
  FillUniform(expected_second.data(), n, kInputSeed + 1);
  ASSERT_EQ(first.size(), expected_first.size());
  ASSERT_EQ(second.size(), expected_second.size());
  const int64_t bad_first = FirstBitDifference(first, expected_first);
  EXPECT_EQ(bad_first, -1) << "first input differs at " << bad_first;
  const int64_t bad_second = FirstBitDifference(second, expected_second);
  EXPECT_EQ(bad_second, -1) << "second input differs at " << bad_second;

  const std::vector<double> expected =
      ReferenceResult<T>(point, {expected_first.data(), expected_second.data()});
  ASSERT_EQ(reference.size(), expected.size());
  double worst = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_TRUE(std::isfinite(reference[i])) << i;
    worst = std::max(worst, std::fabs(reference[i] - expected[i]) / std::fabs(expected[i]));
  }
  EXPECT_LE(worst, 1e-12);
}

TEST(CudaInputsTest, PrepareDrawsTheHostsInputsAndReference) {
  if (const std::string why = NoGpuReason(); !why.empty()) GTEST_SKIP() << why;
  for (int64_t n : {1, 33, 1023, 4097}) {
    for (DType dtype : {DType::kF32, DType::kF64}) {
      for (int axis : {-1, 0, 1}) {
        PointSpec point;
        point.op = axis < 0 ? "matvec" : "outer";
        point.impl = axis < 0 ? "custom" : "fused";
        if (axis >= 0) point.params["axis"] = axis;
        point.dtype = dtype;
        point.n = n;
        if (dtype == DType::kF32) {
          CheckPoint<float>(point);
        } else {
          CheckPoint<double>(point);
        }
      }
    }
  }
}

}  // namespace
}  // namespace flopd
