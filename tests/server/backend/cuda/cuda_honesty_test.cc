// Tests that the CUDA kernels do the op's own arithmetic and every term of it,
// through the backend's dispatch (RunCudaKernel) on inputs chosen so that the
// right answer is exact:
//  - underflow: every product u_i * v_j underflows to exactly 0 (denormals
//    kept, as without fast-math), so an honest sum of products is exactly 0,
//    while the algebraic shortcut v_j * sum_i(u_i) is not;
//  - small integers: every product and partial sum is an integer below 2^24,
//    exact in f32 and f64 in any order, so one dropped or doubled term is an
//    error of at least 1 (the fp64 tolerance at N = 20000 would hide it).
// These need a GPU and skip without one.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/op_catalog.h"
#include "gtest/gtest.h"
#include "server/backend/cuda/cuda_kernels.cuh"
#include "tests/server/backend/cuda/no_gpu_reason.h"

namespace flopd {
namespace {

// Device memory for one execution of `point` with the given host inputs, run
// once through the dispatch on the default stream; returns the output.
template <typename T>
std::vector<T> RunOnce(const PointSpec& point, const std::vector<std::vector<T>>& inputs) {
  int sm_count = 0;
  EXPECT_EQ(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, 0), cudaSuccess);
  std::vector<void*> allocations;
  auto alloc = [&](int64_t bytes) -> void* {
    void* p = nullptr;
    if (bytes <= 0) return nullptr;
    EXPECT_EQ(cudaMalloc(&p, static_cast<size_t>(bytes)), cudaSuccess) << bytes;
    allocations.push_back(p);
    return p;
  };
  cudaStream_t stream = nullptr;
  EXPECT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  cublasHandle_t cublas = nullptr;
  EXPECT_EQ(cublasCreate(&cublas), CUBLAS_STATUS_SUCCESS);
  cublasSetStream(cublas, stream);

  CudaKernelArgs<T> args;
  args.point = &point;
  args.plan = PlanCudaKernel(point, sm_count);
  for (const std::vector<T>& input : inputs) {
    T* d = static_cast<T*>(alloc(static_cast<int64_t>(input.size() * sizeof(T))));
    cudaMemcpy(d, input.data(), input.size() * sizeof(T), cudaMemcpyHostToDevice);
    args.inputs.push_back(d);
  }
  const int64_t out_count = OutputCount(point);
  args.out = static_cast<T*>(alloc(out_count * static_cast<int64_t>(sizeof(T))));
  cudaMemset(args.out, 0xFF, out_count * sizeof(T));  // NaN: unwritten outputs fail
  args.temp = static_cast<T*>(alloc(TempCount(point) * static_cast<int64_t>(sizeof(T))));
  args.partials = static_cast<T*>(
      alloc(args.plan.split.PartialElements() * static_cast<int64_t>(sizeof(T))));
  const int64_t counter_bytes = args.plan.split.CounterCount() * sizeof(uint32_t);
  args.counters = static_cast<uint32_t*>(alloc(counter_bytes));
  if (args.counters != nullptr) cudaMemset(args.counters, 0, counter_bytes);
  args.stream = stream;
  args.cublas = cublas;

  const CudaKernelStatus status = RunCudaKernel(args);
  EXPECT_TRUE(status.ok()) << status.what;
  EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  std::vector<T> out(out_count);
  cudaMemcpy(out.data(), args.out, out_count * sizeof(T), cudaMemcpyDeviceToHost);
  cublasDestroy(cublas);
  cudaStreamDestroy(stream);
  for (void* p : allocations) cudaFree(p);
  return out;
}

PointSpec Resolved(const std::string& op, const std::string& impl, int axis, DType dtype,
                   int64_t n) {
  PointSpec point{op, impl, {}, dtype, n};
  if (axis >= 0) point.params["axis"] = axis;
  return *ResolvePoint(point);
}

struct OuterCase {
  const char* impl;
  int axis;
};
const OuterCase kOuterCases[] = {{"fused", 0}, {"fused", 1}, {"library", 0}, {"library", 1}};

template <typename T>
void CheckUnderflow(T tiny_u, T tiny_v, int64_t n) {
  ASSERT_EQ(tiny_u * tiny_v, T(0)) << "the products must underflow";
  ASSERT_GT(static_cast<T>(n) * tiny_u * tiny_v + T(0), T(0)) << "the shortcut must not";
  for (const OuterCase& c : kOuterCases) {
    const PointSpec point =
        Resolved("outer", c.impl, c.axis, sizeof(T) == 4 ? DType::kF32 : DType::kF64, n);
    SCOPED_TRACE(point.Label());
    const std::vector<T> out =
        RunOnce<T>(point, {std::vector<T>(n, tiny_u), std::vector<T>(n, tiny_v)});
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(out[i], T(0)) << "element " << i << ": a sum of products that are all 0 is 0";
    }
  }
}

TEST(CudaHonestyTest, FusedAndLibraryOuterMultiplyEveryPairF32) {
  if (const std::string why = NoGpuReason(); !why.empty()) GTEST_SKIP() << why;
  // 2^-75 * 2^-76 = 2^-151 < 2^-149 (the smallest f32 denormal): 0.
  // The shortcut N * 2^-151 is >= 2^-149 for N >= 4.
  for (int64_t n : {64, 4097, 20000}) CheckUnderflow<float>(std::ldexp(1.0f, -75), std::ldexp(1.0f, -76), n);
}

TEST(CudaHonestyTest, FusedAndLibraryOuterMultiplyEveryPairF64) {
  if (const std::string why = NoGpuReason(); !why.empty()) GTEST_SKIP() << why;
  // 2^-540 * 2^-540 = 2^-1080 < 2^-1074: 0; N * 2^-1080 is not for N >= 64.
  for (int64_t n : {64, 4097, 20000}) CheckUnderflow<double>(std::ldexp(1.0, -540), std::ldexp(1.0, -540), n);
}

template <typename T>
void CheckExactOuter(int64_t n) {
  std::vector<T> u(n), v(n);
  for (int64_t i = 0; i < n; ++i) {
    u[i] = static_cast<T>(i % 7 + 1);
    v[i] = static_cast<T>(i % 5 + 1);
  }
  double sum_u = 0, sum_v = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum_u += u[i];
    sum_v += v[i];
  }
  for (const OuterCase& c : kOuterCases) {
    const PointSpec point =
        Resolved("outer", c.impl, c.axis, sizeof(T) == 4 ? DType::kF32 : DType::kF64, n);
    SCOPED_TRACE(point.Label());
    const std::vector<T> out = RunOnce<T>(point, {u, v});
    for (int64_t k = 0; k < n; ++k) {
      // axis 0: out_j = sum_i u_i v_j; axis 1: out_i = sum_j u_i v_j.
      const double expected = c.axis == 0 ? sum_u * v[k] : u[k] * sum_v;
      ASSERT_EQ(static_cast<double>(out[k]), expected) << "element " << k;
    }
  }
}

template <typename T>
void CheckExactMatvec(int64_t n) {
  std::vector<T> a(n * n), x(n);
  for (int64_t j = 0; j < n; ++j) x[j] = static_cast<T>(j % 4 + 1);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) a[i * n + j] = static_cast<T>((i + j) % 3 + 1);
  }
  for (const char* impl : {"gemv", "gemm", "custom"}) {
    const PointSpec point =
        Resolved("matvec", impl, -1, sizeof(T) == 4 ? DType::kF32 : DType::kF64, n);
    SCOPED_TRACE(point.Label());
    const std::vector<T> out = RunOnce<T>(point, {a, x});
    for (int64_t i = 0; i < n; ++i) {
      double expected = 0;
      for (int64_t j = 0; j < n; ++j) expected += static_cast<double>(a[i * n + j]) * x[j];
      ASSERT_EQ(static_cast<double>(out[i]), expected) << "row " << i;
    }
  }
}

TEST(CudaHonestyTest, EveryTermIsSummedExactlyOnceInIntegerInputs) {
  if (const std::string why = NoGpuReason(); !why.empty()) GTEST_SKIP() << why;
  // The largest sum: outer N=20000: 7/2 * 20000 * 5 ~ 4e5; matvec 3*4*20000 =
  // 2.4e5: far below 2^24, so every partial sum is exact in f32.
  for (int64_t n : {1, 33, 4097, 20000}) {
    CheckExactOuter<float>(n);
    CheckExactOuter<double>(n);
  }
  for (int64_t n : {1, 33, 4097}) {
    CheckExactMatvec<float>(n);
    CheckExactMatvec<double>(n);
  }
}

}  // namespace
}  // namespace flopd
