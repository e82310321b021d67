// Tests of the CUDA backend's kernel file below the Device interface: the
// dispatch's host side (which kernels it implements, its plans; no GPU
// needed), and every compiled variant of the fused outer kernel with
// explicit plans, split and unsplit, including plans the planner would not
// pick at these sizes (these need a GPU and skip without one).
#include "server/backend/cuda/cuda_kernels.cuh"

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/op_catalog.h"
#include "common/point.h"
#include "common/verification.h"
#include "gtest/gtest.h"
#include "server/backend/cuda/split_plan.h"
#include "tests/server/backend/cuda/no_gpu_reason.h"

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

SplitPlan FusedPlan(int64_t width, int64_t n, int64_t wanted_splits) {
  SplitPlan plan;
  plan.tile_width = width;
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
void CheckFused(int64_t width, int64_t n, int64_t wanted_splits) {
  const SplitPlan plan = FusedPlan(width, n, wanted_splits);
  SCOPED_TRACE(absl::StrCat(sizeof(T) == 4 ? "f32" : "f64", " tile=", width, " N=", n,
                            " splits=", plan.splits, " chunk=", plan.chunk));
  constexpr int64_t kGuard = 64;
  std::vector<T> u(n), v(n);
  FillUniform(u.data(), n, kInputSeed + 0);
  FillUniform(v.data(), n, kInputSeed + 1);
  PointSpec point;
  point.op = "outer";
  point.impl = "fused";
  point.kernel = Kernel::kOuterFused;
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
      for (int64_t width : kernels::kFusedTileWidthsF32) CheckFused<float>(width, n, splits);
      for (int64_t width : kernels::kFusedTileWidthsF64) CheckFused<double>(width, n, splits);
    }
  }
  // Several pieces per warp (8 warps: shares of 2512 elements, 19 whole
  // pieces and a rest of 5 steps, an unrolled run of 4 and one of 1; the
  // small N above reach the runs of 2 and the single elements past the last
  // step) and the shape N = 20000 runs with; then many splits of short
  // chunks; then what the planner picks for a few sizes.
  CheckFused<float>(160, 20000, 1);
  CheckFused<float>(152, 20000, 1);  // kJ = 19
  CheckFused<double>(160, 20000, 1);
  CheckFused<float>(136, 20000, 1);  // lanes in groups of 8, kJ = 17
  CheckFused<double>(152, 20000, 1);  // kJ = 19
  CheckFused<double>(136, 20000, 2);
  CheckFused<float>(64, 2048, 1);   // two whole pieces per warp and no rest
  CheckFused<float>(64, 3072, 1);   // three, the last in the other buffer
  CheckFused<float>(64, 1141, 1);   // one whole piece, then a partial step
  CheckFused<float>(64, 20000, 40);
  CheckFused<float>(40, 20000, 39);
  CheckFused<double>(96, 12345, 7);
  CheckFused<double>(88, 12345, 7);
  CheckFused<double>(76, 10000, 1);  // lanes in groups of 4, kJ = 19
  CheckFused<double>(100, 12345, 3);  // kJ = 25
  for (int64_t n : {2, 255, 257, 1023, 12345}) {
    const SplitPlan f32 = kernels::PlanOuterFused<float>(n, 132);
    CheckFused<float>(f32.tile_width, n, f32.splits);
    const SplitPlan f64 = kernels::PlanOuterFused<double>(n, 132);
    CheckFused<double>(f64.tile_width, n, f64.splits);
  }
}

TEST(CudaKernelsTest, FusedRejectsPlansItCannotRun) {
  const SplitPlan good = FusedPlan(160, 1000, 1);
  SplitPlan no_variant = good;
  no_variant.tile_width = 100;  // not a multiple of 8
  no_variant.tiles = (1000 + 99) / 100;
  EXPECT_EQ(kernels::LaunchOuterFused<float>(nullptr, nullptr, nullptr, 1000, no_variant, nullptr,
                                             nullptr, nullptr),
            cudaErrorInvalidValue);
  SplitPlan f64_too_wide = FusedPlan(256, 1000, 1);
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
  SplitPlan split_without_scratch = FusedPlan(160, 2000, 3);
  ASSERT_GT(split_without_scratch.splits, 1);
  EXPECT_EQ(kernels::LaunchOuterFused<float>(nullptr, nullptr, nullptr, 1000,
                                             split_without_scratch, nullptr, nullptr, nullptr),
            cudaErrorInvalidValue);
}

// ---------------------------------------------------------------------------
// batched_mv/custom's kernel: every batch size it compiles, rows that fill a
// warp's share exactly or not, n a multiple of the vector width or not.

template <typename T>
void CheckBatchedRowDot(int batch, int64_t n, kernels::BatchedLayout layout) {
  SCOPED_TRACE(absl::StrCat(sizeof(T) == 4 ? "f32" : "f64", " B=", batch, " N=", n, " layout ",
                            static_cast<int>(layout)));
  constexpr int64_t kGuard = 64;
  std::vector<T> a(n * n), x(batch * n);
  FillUniform(a.data(), n * n, kInputSeed + 0);
  FillUniform(x.data(), batch * n, kInputSeed + 1);
  PointSpec point;
  point.op = "batched_mv";
  point.impl = "custom";
  point.kernel = Kernel::kBatchedMvCustom;
  point.params["B"] = batch;
  point.dtype = sizeof(T) == 4 ? DType::kF32 : DType::kF64;
  point.n = n;
  const std::vector<double> reference = ReferenceResult<T>(point, {a.data(), x.data()});

  const int64_t outputs = batch * n;
  DeviceArray<T> da(n * n), dx(batch * n), out(outputs + kGuard);
  ASSERT_NE(da.get(), nullptr);
  ASSERT_NE(out.get(), nullptr);
  ASSERT_EQ(cudaMemcpy(da.get(), a.data(), n * n * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dx.get(), x.data(), batch * n * sizeof(T), cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_EQ(cudaMemset(out.get(), 0xFF, (outputs + kGuard) * sizeof(T)), cudaSuccess);
  ASSERT_EQ(
      kernels::LaunchBatchedRowDot<T>(da.get(), dx.get(), out.get(), n, batch, nullptr, layout),
      cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<T> host(outputs + kGuard);
  ASSERT_EQ(cudaMemcpy(host.data(), out.get(), host.size() * sizeof(T), cudaMemcpyDeviceToHost),
            cudaSuccess);
  const VerificationResult verified = Verify<T>(point, host.data(), reference);
  EXPECT_TRUE(verified.passed) << verified.detail;
  for (int64_t i = outputs; i < outputs + kGuard; ++i) {
    unsigned char bytes[sizeof(T)];
    std::memcpy(bytes, &host[i], sizeof(T));
    for (unsigned char b : bytes) ASSERT_EQ(b, 0xFF) << "out[" << i << "] was written";
  }
}

TEST(CudaKernelsTest, BatchedRowDotEveryBatchEveryShape) {
  if (const std::string why = NoGpuReason(); !why.empty()) GTEST_SKIP() << why;
  using kernels::BatchedLayout;
  // n = 1, 3: one element at a time; 130, 1030: so in f32, 16-byte vectors in
  // f64; 4, 128, 1032: vectors in both (1032: full steps and a remainder).
  // 130, 1030 and 1032 leave the last block rows past the end. Both layouts
  // (the narrow one from B = 8).
  for (int batch : {1, 2, 4, 8, 16, 32, 64}) {
    for (int64_t n : {1, 3, 4, 128, 130, 1030, 1032}) {
      for (BatchedLayout layout : {BatchedLayout::kWide, BatchedLayout::kNarrow}) {
        if (layout == BatchedLayout::kNarrow && batch < 8) continue;
        CheckBatchedRowDot<float>(batch, n, layout);
        CheckBatchedRowDot<double>(batch, n, layout);
      }
    }
  }
}

TEST(CudaKernelsTest, BatchedRowDotRejectsABatchItWasNotBuiltForAndAnEmptyMatrix) {
  // Checked before anything touches the device: no GPU needed.
  for (int batch : {0, 3, 128}) {
    EXPECT_EQ(kernels::LaunchBatchedRowDot<float>(nullptr, nullptr, nullptr, 16, batch, nullptr,
                                                  kernels::BatchedLayout::kWide),
              cudaErrorInvalidValue)
        << "B=" << batch;
  }
  EXPECT_EQ(kernels::LaunchBatchedRowDot<float>(nullptr, nullptr, nullptr, 0, 4, nullptr,
                                                kernels::BatchedLayout::kWide),
            cudaErrorInvalidValue)
      << "N=0";
  // The narrow layout exists from B = 8 on.
  EXPECT_EQ(kernels::LaunchBatchedRowDot<float>(nullptr, nullptr, nullptr, 16, 4, nullptr,
                                                kernels::BatchedLayout::kNarrow),
            cudaErrorInvalidValue);
}

TEST(CudaKernelsTest, BatchedLayoutIsNarrowOnlyFromEightVectorsAndWhenItsGridFillsTheGpu) {
  // Host arithmetic: no GPU needed. The narrow layout's blocks hold 8 warps x
  // 4 groups x rows (B = 8: 2 rows, 64 a block; B = 64: 1 row, 32 a block).
  using kernels::BatchedLayout;
  using kernels::PlanBatchedLayout;
  EXPECT_EQ(PlanBatchedLayout(16000, 4, 132), BatchedLayout::kWide);   // B < 8
  EXPECT_EQ(PlanBatchedLayout(16000, 8, 132), BatchedLayout::kNarrow); // 250 blocks
  EXPECT_EQ(PlanBatchedLayout(2000, 8, 132), BatchedLayout::kWide);    // 32 blocks
  EXPECT_EQ(PlanBatchedLayout(7920, 8, 132), BatchedLayout::kNarrow);  // 124 = 15/16 of 132
  EXPECT_EQ(PlanBatchedLayout(7850, 8, 132), BatchedLayout::kWide);    // 123
  EXPECT_EQ(PlanBatchedLayout(7850, 8, 100), BatchedLayout::kNarrow);  // fewer SMs
  EXPECT_EQ(PlanBatchedLayout(960, 8, 16), BatchedLayout::kNarrow);    // 15 = exactly 15/16 of 16
  EXPECT_EQ(PlanBatchedLayout(4000, 64, 132), BatchedLayout::kNarrow); // 125 blocks
  EXPECT_EQ(PlanBatchedLayout(1, 64, 0), BatchedLayout::kNarrow);      // sm_count 0 read as 1
}

// ---------------------------------------------------------------------------
// The dispatch's host side.

// The point op/impl at n, resolved against the catalog, with `param` set to
// `value` (no param when `param` is empty).
PointSpec ResolvedWith(const std::string& op, const std::string& impl, const std::string& param,
                       int64_t value, DType dtype, int64_t n) {
  PointSpec point;
  point.op = op;
  point.impl = impl;
  if (!param.empty()) point.params[param] = value;
  point.dtype = dtype;
  point.n = n;
  absl::StatusOr<PointSpec> resolved = ResolvePoint(point);
  EXPECT_TRUE(resolved.ok()) << resolved.status();
  return resolved.ok() ? *resolved : point;
}

// outer's points take `axis`; matvec's none (axis -1).
PointSpec Resolved(const std::string& op, const std::string& impl, int axis, DType dtype,
                   int64_t n) {
  return ResolvedWith(op, impl, axis >= 0 ? "axis" : "", axis, dtype, n);
}

TEST(CudaDispatchTest, ImplementsEveryCudaImplOfTheCatalog) {
  EXPECT_FALSE(CudaImplements(Kernel::kNone));
  int implemented = 0;
  for (const OpSpec& op : OpCatalog()) {
    for (const ImplSpec& impl : op.impls) {
      if (impl.backend != "cuda") continue;
      EXPECT_TRUE(CudaImplements(impl.kernel)) << op.name << "/" << impl.name;
      ++implemented;
    }
  }
  EXPECT_GT(implemented, 0);
}

// Only the fused kernel and the library's column sums split their work; the
// plan carries the axis so that an execution looks nothing up.
TEST(CudaDispatchTest, PlansTheSplitKernelsOnly) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    const bool f32 = dtype == DType::kF32;
    for (int axis : {0, 1}) {
      SCOPED_TRACE(absl::StrCat(DTypeName(dtype), " axis=", axis));
      const CudaKernelPlan fused =
          PlanCudaKernel(Resolved("outer", "fused", axis, dtype, 20000), 132);
      const SplitPlan expected = f32 ? kernels::PlanOuterFused<float>(20000, 132)
                                     : kernels::PlanOuterFused<double>(20000, 132);
      EXPECT_EQ(fused.variant, axis);
      EXPECT_EQ(fused.split.tile_width, expected.tile_width);
      EXPECT_EQ(fused.split.tiles, expected.tiles);
      EXPECT_EQ(fused.split.splits, expected.splits);
      EXPECT_EQ(fused.split.chunk, expected.chunk);

      const CudaKernelPlan library =
          PlanCudaKernel(Resolved("outer", "library", axis, dtype, 20000), 132);
      EXPECT_EQ(library.variant, axis);
      if (axis == 0) {
        EXPECT_EQ(library.split.tile_width, f32 ? kernels::ColumnSumsTileWidth<float>(20000)
                                                : kernels::ColumnSumsTileWidth<double>(20000));
        EXPECT_GE(library.split.tiles * library.split.tile_width, 20000);
        EXPECT_GE(library.split.splits * library.split.chunk, 20000);
      } else {
        EXPECT_EQ(library.split.tiles, 0);
        EXPECT_EQ(library.split.PartialElements(), 0);
      }
    }
    for (const char* impl : {"gemv", "gemm", "custom"}) {
      const CudaKernelPlan matvec = PlanCudaKernel(Resolved("matvec", impl, -1, dtype, 20000), 132);
      EXPECT_EQ(matvec.split.tiles, 0) << impl;
      EXPECT_EQ(matvec.split.PartialElements(), 0) << impl;
      EXPECT_EQ(matvec.split.CounterCount(), 0) << impl;
    }
  }
}

// The launch shapes that depend on the SM count are planned once per point
// and carried to the launch (an execution queries nothing).
TEST(CudaDispatchTest, PlansTheBatchedLayoutAndTheAttentionTileForTheSmCount) {
  const auto batched = [](int64_t n) {
    return PlanCudaKernel(ResolvedWith("batched_mv", "custom", "B", 8, DType::kF32, n), 132)
        .batched_layout;
  };
  EXPECT_EQ(batched(16000), kernels::BatchedLayout::kNarrow);
  EXPECT_EQ(batched(2000), kernels::BatchedLayout::kWide);

  const auto attention = [](DType dtype, int d = 128, int64_t n = 8192) {
    const kernels::AttentionFusedConfig config =
        PlanCudaKernel(ResolvedWith("attention", "fused", "d", d, dtype, n), 132).attention;
    return absl::StrCat(config.tile_rows, "x", config.groups);
  };
  EXPECT_EQ(attention(DType::kF32), "64x2");
  EXPECT_EQ(attention(DType::kF64), "32x2");
  // The point's d reaches the plan: past one block per SM only d = 64
  // drops to one group; d = 128 pairs blocks in clusters at N = 4096.
  EXPECT_EQ(attention(DType::kF32, 128, 16384), "64x2");
  EXPECT_EQ(attention(DType::kF32, 64, 16384), "64x1");
  const kernels::AttentionFusedConfig clustered =
      PlanCudaKernel(ResolvedWith("attention", "fused", "d", 128, DType::kF32, 4096), 132).attention;
  EXPECT_EQ(clustered.cluster, 2);
}

TEST(CudaDispatchTest, OnlyTheFusedKernelLimitsN) {
  EXPECT_EQ(CudaMaxN(Resolved("outer", "fused", 0, DType::kF32, 1).kernel),
            std::numeric_limits<int32_t>::max());
  EXPECT_EQ(CudaMaxN(Resolved("outer", "library", 0, DType::kF32, 1).kernel),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(CudaMaxN(Resolved("matvec", "custom", -1, DType::kF32, 1).kernel),
            std::numeric_limits<int64_t>::max());
}

}  // namespace
}  // namespace flopd
