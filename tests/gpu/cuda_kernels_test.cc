// Tests of flopd's CUDA kernels below the Device interface: every compiled
// variant of the fused outer kernel with explicit plans, split and unsplit,
// including plans the planner would not pick at these sizes. They need a GPU
// and skip without one.
#include "server/backend/cuda/cuda_kernels.cuh"

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/point.h"
#include "common/verification.h"
#include "gtest/gtest.h"
#include "server/backend/cuda/split_plan.h"
#include "tests/gpu/no_gpu_reason.h"

namespace flopd {
namespace {

// A cudaMalloc'ed array, freed on destruction.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(int64_t count) {
    if (count > 0 && cudaMalloc(&data_, static_cast<size_t>(count) * sizeof(T)) != cudaSuccess) {
      data_ = nullptr;
    }
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() {
    if (data_ != nullptr) cudaFree(data_);
  }
  T* get() const { return data_; }

 private:
  T* data_ = nullptr;
};

SplitPlan FusedPlan(int kj, int64_t n, int64_t wanted_splits) {
  SplitPlan plan;
  plan.tile_width = kernels::kFusedLaneGroup * kj;
  plan.tiles = (n + plan.tile_width - 1) / plan.tile_width;
  const int64_t multiple = kernels::kFusedChunkMultiple;
  plan.chunk = ((n + wanted_splits - 1) / wanted_splits + multiple - 1) / multiple * multiple;
  plan.splits = (n + plan.chunk - 1) / plan.chunk;
  return plan;
}

// Runs the fused kernel twice with `plan` on FillUniform inputs (owned = v,
// summed = u: axis 0) and checks both runs against the fp64 reference, bit
// equality between them, and that nothing past out[n) was written.
template <typename T>
void CheckFused(int kj, int64_t n, int64_t wanted_splits) {
  const SplitPlan plan = FusedPlan(kj, n, wanted_splits);
  SCOPED_TRACE(absl::StrCat(sizeof(T) == 4 ? "f32" : "f64", " kJ=", kj, " N=", n,
                            " splits=", plan.splits, " chunk=", plan.chunk));
  constexpr int64_t kGuard = 64;
  std::vector<T> u(n), v(n);
  FillUniform(u.data(), n, kInputSeed + 0);
  FillUniform(v.data(), n, kInputSeed + 1);
  PointSpec point;
  point.op = "outer";
  point.impl = "fused";
  point.params["axis"] = 0;
  point.dtype = sizeof(T) == 4 ? DType::kF32 : DType::kF64;
  point.n = n;
  const std::vector<double> reference = ReferenceResult<T>(point, {u.data(), v.data()});
  const double tolerance = VerificationTolerance(point);

  DeviceArray<T> du(n), dv(n), out(n + kGuard), partials(std::max<int64_t>(1, plan.PartialElements()));
  DeviceArray<uint32_t> counters(std::max<int64_t>(1, plan.CounterCount()));
  ASSERT_NE(du.get(), nullptr);
  ASSERT_NE(out.get(), nullptr);
  ASSERT_EQ(cudaMemcpy(du.get(), u.data(), n * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dv.get(), v.data(), n * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemset(counters.get(), 0, std::max<int64_t>(1, plan.CounterCount()) * 4),
            cudaSuccess);
  std::vector<std::vector<T>> results;
  for (int run = 0; run < 2; ++run) {
    ASSERT_EQ(cudaMemset(out.get(), 0xFF, (n + kGuard) * sizeof(T)), cudaSuccess);
    ASSERT_EQ(kernels::LaunchOuterFused<T>(dv.get(), du.get(), out.get(), n, plan,
                                           plan.splits > 1 ? partials.get() : nullptr,
                                           plan.splits > 1 ? counters.get() : nullptr, nullptr),
              cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<T> host(n + kGuard);
    ASSERT_EQ(cudaMemcpy(host.data(), out.get(), (n + kGuard) * sizeof(T), cudaMemcpyDeviceToHost),
              cudaSuccess);
    const VerificationResult verified = Verify<T>(point, host.data(), reference);
    EXPECT_TRUE(verified.passed) << verified.detail;
    EXPECT_LE(verified.max_rel_error, tolerance);
    for (int64_t i = n; i < n + kGuard; ++i) {
      unsigned char bytes[sizeof(T)];
      std::memcpy(bytes, &host[i], sizeof(T));
      for (unsigned char b : bytes) ASSERT_EQ(b, 0xFF) << "out[" << i << "] was written";
    }
    host.resize(n);
    results.push_back(std::move(host));
  }
  EXPECT_EQ(std::memcmp(results[0].data(), results[1].data(), n * sizeof(T)), 0)
      << "two runs gave different bits";
}

TEST(CudaKernelsTest, FusedEveryVariantSplitAndUnsplit) {
  if (const std::string why = NoGpuReason(); !why.empty()) GTEST_SKIP() << why;
  for (int64_t n : {1, 37, 1000, 4097}) {
    for (int64_t splits : {1, 3}) {
      for (int kj : kernels::kFusedLanesF32) CheckFused<float>(kj, n, splits);
      for (int kj : kernels::kFusedLanesF64) CheckFused<double>(kj, n, splits);
    }
  }
  // Several pieces per warp (shares of 632 and 1256 elements) and the shape
  // N = 20000 runs with; then many splits of short chunks; then what the
  // planner picks for a few sizes.
  CheckFused<float>(10, 20000, 1);
  CheckFused<double>(10, 20000, 1);
  CheckFused<float>(4, 20000, 40);
  CheckFused<double>(6, 12345, 7);
  for (int64_t n : {2, 255, 257, 1023, 12345}) {
    const SplitPlan f32 = kernels::PlanOuterFused<float>(n, 132);
    CheckFused<float>(static_cast<int>(f32.tile_width / kernels::kFusedLaneGroup), n, f32.splits);
    const SplitPlan f64 = kernels::PlanOuterFused<double>(n, 132);
    CheckFused<double>(static_cast<int>(f64.tile_width / kernels::kFusedLaneGroup), n, f64.splits);
  }
}

TEST(CudaKernelsTest, FusedRejectsPlansItCannotRun) {
  const SplitPlan good = FusedPlan(10, 1000, 1);
  SplitPlan no_variant = good;
  no_variant.tile_width = 16 * 7;
  no_variant.tiles = (1000 + 111) / 112;
  EXPECT_EQ(kernels::LaunchOuterFused<float>(nullptr, nullptr, nullptr, 1000, no_variant, nullptr,
                                             nullptr, nullptr),
            cudaErrorInvalidValue);
  SplitPlan f64_too_wide = FusedPlan(16, 1000, 1);
  EXPECT_EQ(kernels::LaunchOuterFused<double>(nullptr, nullptr, nullptr, 1000, f64_too_wide,
                                              nullptr, nullptr, nullptr),
            cudaErrorInvalidValue);
  SplitPlan ragged_chunk = good;
  ragged_chunk.chunk = 1000;
  EXPECT_EQ(kernels::LaunchOuterFused<float>(nullptr, nullptr, nullptr, 1000, ragged_chunk,
                                             nullptr, nullptr, nullptr),
            cudaErrorInvalidValue);
  SplitPlan too_few_tiles = good;
  too_few_tiles.tiles = 1;
  EXPECT_EQ(kernels::LaunchOuterFused<float>(nullptr, nullptr, nullptr, 1000, too_few_tiles,
                                             nullptr, nullptr, nullptr),
            cudaErrorInvalidValue);
  SplitPlan split_without_scratch = FusedPlan(10, 1000, 3);
  ASSERT_GT(split_without_scratch.splits, 1);
  EXPECT_EQ(kernels::LaunchOuterFused<float>(nullptr, nullptr, nullptr, 1000,
                                             split_without_scratch, nullptr, nullptr, nullptr),
            cudaErrorInvalidValue);
}

}  // namespace
}  // namespace flopd
