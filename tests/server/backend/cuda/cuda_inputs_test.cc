// Prepare draws the inputs on the GPU and computes the fp64 reference there
// (or on the host for an op without a GPU reference kernel). These tests
// hold that path (CopyPreparedInputsForTesting runs the same code) to the
// host's definitions: bit-identical to FillUniform, and within 1e-12 of
// ReferenceResult. They need a GPU and skip without one.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/op_catalog.h"
#include "common/point.h"
#include "common/verification.h"
#include "gtest/gtest.h"
#include "server/backend/cuda/cuda_device.h"
#include "tests/server/backend/cuda/no_gpu_reason.h"

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

// Prepare's inputs and reference for `point` (the GPU reference where the
// kernel file has one, else the host's, or the host's when `host_reference`),
// against FillUniform and ReferenceResult on the host.
template <typename T>
void CheckPoint(const PointSpec& point, bool host_reference) {
  SCOPED_TRACE(absl::StrCat(point.Label(), host_reference ? " (host reference)" : ""));
  std::vector<std::vector<T>> inputs;
  std::vector<double> reference;
  const absl::Status status =
      CopyPreparedInputsForTesting<T>(0, point, &inputs, &reference, host_reference);
  ASSERT_TRUE(status.ok()) << status;
  const std::vector<int64_t> counts = InputCounts(point);
  ASSERT_EQ(inputs.size(), counts.size());
  std::vector<std::vector<T>> expected(counts.size());
  std::vector<const T*> expected_pointers;
  for (size_t i = 0; i < counts.size(); ++i) {
    expected[i].resize(static_cast<size_t>(counts[i]));
    FillUniform(expected[i].data(), counts[i], kInputSeed + i);
    expected_pointers.push_back(expected[i].data());
    ASSERT_EQ(inputs[i].size(), expected[i].size()) << "input " << i;
    const int64_t bad = FirstBitDifference(inputs[i], expected[i]);
    EXPECT_EQ(bad, -1) << "input " << i << " differs at " << bad;
  }

  const std::vector<double> expected_reference = ReferenceResult<T>(point, expected_pointers);
  ASSERT_EQ(reference.size(), expected_reference.size());
  ASSERT_EQ(static_cast<int64_t>(reference.size()), OutputCount(point));
  double worst = 0;
  for (size_t i = 0; i < expected_reference.size(); ++i) {
    ASSERT_TRUE(std::isfinite(reference[i])) << i;
    worst = std::max(worst, std::fabs(reference[i] - expected_reference[i]) /
                                std::fabs(expected_reference[i]));
  }
  // The host path is ReferenceResult itself on bit-identical inputs.
  EXPECT_LE(worst, host_reference ? 0.0 : 1e-12);
}

PointSpec Resolved(const std::string& op, const std::string& impl, int axis, DType dtype,
                   int64_t n) {
  PointSpec point;
  point.op = op;
  point.impl = impl;
  if (axis >= 0) point.params["axis"] = axis;
  point.dtype = dtype;
  point.n = n;
  absl::StatusOr<PointSpec> resolved = ResolvePoint(point);
  EXPECT_TRUE(resolved.ok()) << resolved.status();
  return resolved.ok() ? *resolved : point;
}

TEST(CudaInputsTest, PrepareDrawsTheHostsInputsAndReference) {
  if (const std::string why = NoGpuReason(); !why.empty()) GTEST_SKIP() << why;
  for (int64_t n : {1, 33, 1023, 4097}) {
    for (DType dtype : {DType::kF32, DType::kF64}) {
      for (int axis : {-1, 0, 1}) {
        const PointSpec point =
            Resolved(axis < 0 ? "matvec" : "outer", axis < 0 ? "custom" : "fused", axis, dtype, n);
        if (dtype == DType::kF32) {
          CheckPoint<float>(point, false);
        } else {
          CheckPoint<double>(point, false);
        }
      }
    }
  }
}

// The fallback for an op without a GPU reference kernel: the inputs copied
// back and the catalog's host reference.
TEST(CudaInputsTest, HostReferenceFallback) {
  if (const std::string why = NoGpuReason(); !why.empty()) GTEST_SKIP() << why;
  for (int64_t n : {1, 33, 1023}) {
    CheckPoint<float>(Resolved("matvec", "gemv", -1, DType::kF32, n), true);
    CheckPoint<double>(Resolved("outer", "library", 1, DType::kF64, n), true);
    CheckPoint<float>(Resolved("outer", "fused", 0, DType::kF32, n), true);
  }
}

}  // namespace
}  // namespace flopd
