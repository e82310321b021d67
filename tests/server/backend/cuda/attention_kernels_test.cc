// Tests of the CUDA attention kernels (attention_kernels.cuh): both forms,
// f32 and f64, d = 64 and 128, odd and even N, every group count of the
// fused kernel, against an fp64 host reference; the GPU fp64 reference
// against the same; graph capture; and an informational timing (no
// assertions on time). Each needs a GPU and skips without one.
#include "server/backend/cuda/attention_kernels.cuh"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/verification.h"
#include "gtest/gtest.h"
#include "server/backend/cuda/support_kernels.cuh"
#include "tests/server/backend/cuda/no_gpu_reason.h"

namespace flopd {
namespace {

const int64_t kSizes[] = {1, 3, 67, 130, 257, 1024};
// Every launch shape the fused kernel offers (f64: the 32-row ones;
// clusters: f32 64 x 2 at d = 128).
const kernels::AttentionFusedConfig kFusedConfigs[] = {{32, 1}, {32, 2},    {32, 4},   {64, 1},
                                                       {64, 2}, {64, 2, 2}, {64, 2, 4}};
template <typename T>
bool Offered(kernels::AttentionFusedConfig config, int d) {
  if (config.cluster != 1) return sizeof(T) == 4 && d == 128;
  return sizeof(T) == 4 || config.tile_rows == 32;
}
std::string ShapeName(kernels::AttentionFusedConfig config) {
  return absl::StrCat(config.tile_rows, "x", config.groups,
                      config.cluster == 1 ? "" : absl::StrCat("x", config.cluster));
}
constexpr int64_t kGuard = 64;            // elements after `out` that must stay untouched
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

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

// A cuBLAS handle on the default stream with its own workspace (as
// GpuContext sets it up: default math, so no TF32).
class Cublas {
 public:
  Cublas() : workspace_(kCublasWorkspaceBytes) {
    if (cublasCreate(&handle_) != CUBLAS_STATUS_SUCCESS) {
      handle_ = nullptr;
      return;
    }
    cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH);
    cublasSetWorkspace(handle_, workspace_.get(), kCublasWorkspaceBytes);
  }
  Cublas(const Cublas&) = delete;
  Cublas& operator=(const Cublas&) = delete;
  ~Cublas() {
    if (handle_ != nullptr) cublasDestroy(handle_);
  }
  cublasHandle_t get() const { return handle_; }

 private:
  DeviceArray<unsigned char> workspace_;
  cublasHandle_t handle_ = nullptr;
};

// The op in fp64 on the T inputs, with the op's scale T(1 / sqrt(d)).
template <typename T>
std::vector<double> ReferenceAttention(const std::vector<T>& q, const std::vector<T>& k,
                                       const std::vector<T>& v, int64_t n, int d) {
  const double scale = static_cast<double>(static_cast<T>(1.0 / std::sqrt(static_cast<double>(d))));
  std::vector<double> out(n * d);
  std::vector<double> e(n);
  for (int64_t i = 0; i < n; ++i) {
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (int c = 0; c < d; ++c) {
        dot += static_cast<double>(q[i * d + c]) * static_cast<double>(k[j * d + c]);
      }
      e[j] = dot * scale;
      m = std::max(m, e[j]);
    }
    double l = 0;
    for (int64_t j = 0; j < n; ++j) {
      e[j] = std::exp(e[j] - m);
      l += e[j];
    }
    for (int c = 0; c < d; ++c) {
      double o = 0;
      for (int64_t j = 0; j < n; ++j) o += e[j] * static_cast<double>(v[j * d + c]);
      out[i * d + c] = o / l;
    }
  }
  return out;
}

// 8 * sqrt(N + 2) * u * (1 + sqrt(d) / 2): flopd's bound for sums of N
// positive terms, times a factor for the scores' error that exp turns into
// relative error of the weights (~d u / 3 whatever N is). The CPU test
// (tests/server/backend/cpu/attention_kernels_test.cc) has the derivation.
template <typename T>
double AttentionTolerance(int64_t n, int d) {
  const double u = std::numeric_limits<T>::epsilon() / 2;
  return 8 * std::sqrt(static_cast<double>(n) + 2) * u *
         (1 + std::sqrt(static_cast<double>(d)) / 2);
}

template <typename T>
double MaxRelativeError(const T* got, const std::vector<double>& want) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - want[i]) / std::abs(want[i]);
    if (!(err <= worst)) worst = err;  // NaN sticks
  }
  return worst;
}

template <typename T>
struct DeviceInputs {
  DeviceInputs(int64_t n, int d) : q(n * d), k(n * d), v(n * d), host(3) {
    for (int i = 0; i < 3; ++i) {
      host[i].resize(n * d);
      FillUniform(host[i].data(), n * d, kInputSeed + i);
    }
    T* device[] = {q.get(), k.get(), v.get()};
    for (int i = 0; i < 3; ++i) {
      ok = ok && device[i] != nullptr &&
           cudaMemcpy(device[i], host[i].data(), n * d * sizeof(T), cudaMemcpyHostToDevice) ==
               cudaSuccess;
    }
  }
  DeviceArray<T> q, k, v;
  std::vector<std::vector<T>> host;
  bool ok = true;
};

// Copies back n * d + kGuard elements of `out`; checks that the guard is
// still the 0xFF poison and returns the max relative error.
template <typename T>
double Fetch(const T* out, int64_t count, const std::vector<double>& want, const std::string& what,
             std::vector<T>* host) {
  host->assign(count + kGuard, T(0));
  EXPECT_EQ(cudaMemcpy(host->data(), out, (count + kGuard) * sizeof(T), cudaMemcpyDeviceToHost),
            cudaSuccess)
      << what;
  for (int64_t i = count; i < count + kGuard; ++i) {
    unsigned char bytes[sizeof(T)];
    std::memcpy(bytes, &(*host)[i], sizeof(T));
    for (unsigned char b : bytes) {
      EXPECT_EQ(b, 0xFF) << what << ": out[" << i << "] was written";
      if (b != 0xFF) return std::numeric_limits<double>::infinity();
    }
  }
  return MaxRelativeError(host->data(), want);
}

template <typename T>
void CheckShape(int64_t n, int d, cublasHandle_t cublas, double* worst_materialized,
                double* worst_fused) {
  const std::string where = absl::StrCat(sizeof(T) == 4 ? "f32" : "f64", " d=", d, " N=", n);
  SCOPED_TRACE(where);
  DeviceInputs<T> in(n, d);
  ASSERT_TRUE(in.ok);
  const std::vector<double> want = ReferenceAttention(in.host[0], in.host[1], in.host[2], n, d);
  const double tolerance = AttentionTolerance<T>(n, d);
  const int64_t count = n * d;
  DeviceArray<T> out(count + kGuard);
  DeviceArray<T> scratch(kernels::AttentionScratchElements(n));
  DeviceArray<double> reference(count);
  ASSERT_NE(out.get(), nullptr);
  ASSERT_NE(scratch.get(), nullptr);
  ASSERT_NE(reference.get(), nullptr);
  std::vector<T> host;

  // Materialized.
  ASSERT_EQ(cudaMemset(out.get(), 0xFF, (count + kGuard) * sizeof(T)), cudaSuccess);
  const CudaKernelStatus status = kernels::LaunchAttentionMaterialized<T>(
      cublas, in.q.get(), in.k.get(), in.v.get(), n, d, scratch.get(), out.get(), nullptr);
  EXPECT_TRUE(status.ok()) << status.what << " cuda=" << cudaGetErrorName(status.cuda)
                           << " cublas=" << static_cast<int>(status.cublas);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const double materialized = Fetch(out.get(), count, want, "materialized", &host);
  EXPECT_LE(materialized, tolerance) << "materialized";
  *worst_materialized = std::max(*worst_materialized, materialized / tolerance);

  // Fused, every launch shape; each twice, for determinism.
  for (const kernels::AttentionFusedConfig config : kFusedConfigs) {
    if (!Offered<T>(config, d)) continue;
    std::vector<T> first_run;
    for (int run = 0; run < 2; ++run) {
      const std::string what = absl::StrCat("fused ", ShapeName(config), " run ", run);
      ASSERT_EQ(cudaMemset(out.get(), 0xFF, (count + kGuard) * sizeof(T)), cudaSuccess);
      EXPECT_EQ(kernels::LaunchAttentionFused<T>(in.q.get(), in.k.get(), in.v.get(), n, d,
                                                 out.get(), nullptr, config),
                cudaSuccess)
          << what;
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << what;
      const double fused = Fetch(out.get(), count, want, what, &host);
      EXPECT_LE(fused, tolerance) << what;
      *worst_fused = std::max(*worst_fused, fused / tolerance);
      if (run == 0) first_run.assign(host.begin(), host.begin() + count);
      if (run == 1) {
        EXPECT_EQ(std::memcmp(first_run.data(), host.data(), count * sizeof(T)), 0)
            << what << ": two runs gave different bits";
      }
    }
  }

  // The GPU fp64 reference.
  ASSERT_EQ(kernels::LaunchReferenceAttention<T>(in.q.get(), in.k.get(), in.v.get(), n, d,
                                                 reference.get(), nullptr),
            cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<double> gpu_reference(count);
  ASSERT_EQ(cudaMemcpy(gpu_reference.data(), reference.get(), count * sizeof(double),
                       cudaMemcpyDeviceToHost),
            cudaSuccess);
  EXPECT_LE(MaxRelativeError(gpu_reference.data(), want), 1e-12) << "GPU reference";
}

TEST(AttentionKernelsTest, BothFormsAndTheGpuReferenceMatchTheHostReference) {
  if (const std::string why = NoGpuReason(); !why.empty()) GTEST_SKIP() << why;
  Cublas cublas;
  ASSERT_NE(cublas.get(), nullptr);
  double worst[2][2] = {};  // [f64][materialized, fused], max error / tolerance
  for (int d : {64, 128}) {
    for (int64_t n : kSizes) {
      CheckShape<float>(n, d, cublas.get(), &worst[0][0], &worst[0][1]);
      CheckShape<double>(n, d, cublas.get(), &worst[1][0], &worst[1][1]);
    }
  }
  // Tiles of 64, 32 and 16 keys and 32 or 64 query rows: sizes one past
  // and one short of several tiles, with every launch shape.
  for (int64_t n : {31, 33, 63, 65, 95, 129, 191, 193}) {
    CheckShape<float>(n, 64, cublas.get(), &worst[0][0], &worst[0][1]);
    CheckShape<float>(n, 128, cublas.get(), &worst[0][0], &worst[0][1]);
    CheckShape<double>(n, 128, cublas.get(), &worst[1][0], &worst[1][1]);
  }
  std::printf("worst error / tolerance: f32 materialized %.3g fused %.3g; "
              "f64 materialized %.3g fused %.3g\n",
              worst[0][0], worst[0][1], worst[1][0], worst[1][1]);
}

TEST(AttentionKernelsTest, RejectsBadShapes) {
  if (const std::string why = NoGpuReason(); !why.empty()) GTEST_SKIP() << why;
  DeviceArray<float> buffer(1024);
  const float* p = buffer.get();
  const kernels::AttentionFusedConfig ok{32, 2};
  EXPECT_EQ(kernels::LaunchAttentionFused<float>(p, p, p, 4, 96, buffer.get(), nullptr, ok),
            cudaErrorInvalidValue);
  EXPECT_EQ(kernels::LaunchAttentionFused<float>(p, p, p, 0, 64, buffer.get(), nullptr, ok),
            cudaErrorInvalidValue);
  // Shapes not offered: 3 groups, 48 rows, 64 rows with 4 groups (its
  // buffers do not fit), 64 rows in f64.
  for (const kernels::AttentionFusedConfig bad :
       {kernels::AttentionFusedConfig{32, 3}, kernels::AttentionFusedConfig{48, 2},
        kernels::AttentionFusedConfig{64, 4}}) {
    EXPECT_EQ(kernels::LaunchAttentionFused<float>(p, p, p, 4, 64, buffer.get(), nullptr, bad),
              cudaErrorInvalidValue)
        << bad.tile_rows << " rows, " << bad.groups << " groups";
  }
  // Clusters: only 2 or 4 blocks, only for 64 x 2 at d = 128.
  for (const auto& [bad, d] :
       {std::pair{kernels::AttentionFusedConfig{64, 2, 3}, 128},
        std::pair{kernels::AttentionFusedConfig{64, 2, 8}, 128},
        std::pair{kernels::AttentionFusedConfig{64, 2, 2}, 64},
        std::pair{kernels::AttentionFusedConfig{64, 1, 2}, 128},
        std::pair{kernels::AttentionFusedConfig{32, 4, 2}, 128}}) {
    EXPECT_EQ(kernels::LaunchAttentionFused<float>(p, p, p, 4, d, buffer.get(), nullptr, bad),
              cudaErrorInvalidValue)
        << ShapeName(bad) << " d=" << d;
  }
  DeviceArray<double> doubles(1024);
  const double* pd = doubles.get();
  EXPECT_EQ(kernels::LaunchAttentionFused<double>(pd, pd, pd, 4, 64, doubles.get(), nullptr,
                                                  kernels::AttentionFusedConfig{64, 2}),
            cudaErrorInvalidValue);
  EXPECT_EQ(kernels::LaunchAttentionFused<double>(pd, pd, pd, 4, 128, doubles.get(), nullptr,
                                                  kernels::AttentionFusedConfig{32, 2, 2}),
            cudaErrorInvalidValue);
}

TEST(AttentionKernelsTest, PlanPicksTheTileHeightGroupsAndClusterForTheSmCount) {
  // Host arithmetic: no GPU needed.
  const auto plan = [](bool f32, int64_t n, int sms, int d = 64) {
    const kernels::AttentionFusedConfig c = f32 ? kernels::PlanAttentionFused<float>(n, d, sms)
                                                : kernels::PlanAttentionFused<double>(n, d, sms);
    return ShapeName(c);
  };
  // f32 d = 64, and f64: 64-row f32 tiles where their blocks fill the SMs.
  EXPECT_EQ(plan(true, 4096, 132), "32x4");   // 64 blocks of 64 rows: half the SMs
  EXPECT_EQ(plan(true, 7872, 132), "32x2");   // 123 blocks of 64 < 15/16 of 132; 246 of 32
  EXPECT_EQ(plan(true, 7873, 132), "64x2");   // 124 blocks >= 15/16 of 132
  EXPECT_EQ(plan(true, 8192, 132), "64x2");   // 128 blocks, one per SM
  EXPECT_EQ(plan(true, 960, 16), "64x2");     // 15 blocks = exactly 15/16 of 16 SMs
  EXPECT_EQ(plan(true, 8448, 132), "64x2");   // 132 blocks: one per SM
  EXPECT_EQ(plan(true, 8449, 132), "64x1");   // 133 blocks: two 1-group blocks per SM
  EXPECT_EQ(plan(true, 16384, 132), "64x1");  // 256 blocks
  EXPECT_EQ(plan(true, 1, 0), "64x2");        // sm_count 0 read as 1
  for (int d : {64, 128}) {
    SCOPED_TRACE(absl::StrCat("d=", d));
    EXPECT_EQ(plan(false, 4096, 132, d), "32x4");
    EXPECT_EQ(plan(false, 4224, 132, d), "32x4");  // 132 blocks of 32 rows: one per SM
    EXPECT_EQ(plan(false, 4225, 132, d), "32x2");  // 133
    EXPECT_EQ(plan(false, 16384, 132, d), "32x2");
  }
  // f32 d = 128: 64 x 2 always; clusters of 2 when their half-key blocks
  // need fewer than twice the waves (B blocks of 64 rows, 132 SMs).
  EXPECT_EQ(plan(true, 1024, 132, 128), "64x2x2");   // B = 16: 1 wave either way
  EXPECT_EQ(plan(true, 4096, 132, 128), "64x2x2");   // B = 64: 128 blocks, 1 wave
  EXPECT_EQ(plan(true, 4224, 132, 128), "64x2x2");   // B = 66: 132
  EXPECT_EQ(plan(true, 4225, 132, 128), "64x2");     // B = 67: 134 blocks, 2 waves
  EXPECT_EQ(plan(true, 6144, 132, 128), "64x2");     // B = 96: 2 waves of half = 1
  EXPECT_EQ(plan(true, 8192, 132, 128), "64x2");     // B = 128
  EXPECT_EQ(plan(true, 8449, 132, 128), "64x2x2");   // B = 133: 2 waves against 3 of half
  EXPECT_EQ(plan(true, 12288, 132, 128), "64x2x2");  // B = 192: 2 waves against 3 of half
  EXPECT_EQ(plan(true, 16384, 132, 128), "64x2");    // B = 256: 2 against 4 of half
  EXPECT_EQ(plan(true, 4096, 133, 128), "64x2x2");   // odd SM count: 132 pair slots
  EXPECT_EQ(plan(true, 1024, 1, 128), "64x2");       // one SM: no cluster of 2 fits
  EXPECT_EQ(plan(true, 1, 0, 128), "64x2");
}

// Both forms captured into a graph (thread-local capture, as CudaPoint does)
// and replayed: nothing in them may allocate or synchronize. The fused
// replay matches a direct launch bit for bit.
TEST(AttentionKernelsTest, CapturedIntoAGraph) {
  if (const std::string why = NoGpuReason(); !why.empty()) GTEST_SKIP() << why;
  const int64_t n = 300;
  const int d = 128;
  DeviceInputs<float> in(n, d);
  ASSERT_TRUE(in.ok);
  const std::vector<double> want = ReferenceAttention(in.host[0], in.host[1], in.host[2], n, d);
  DeviceArray<float> direct(n * d), fused(n * d), materialized(n * d);
  DeviceArray<float> scratch(kernels::AttentionScratchElements(n));
  Cublas cublas;
  ASSERT_NE(cublas.get(), nullptr);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cublasSetStream(cublas.get(), stream), CUBLAS_STATUS_SUCCESS);
  // The 64-row shape (its asynchronous copies) and a cluster launch
  // (cudaLaunchKernelEx) inside a graph.
  for (const kernels::AttentionFusedConfig config :
       {kernels::AttentionFusedConfig{64, 2}, kernels::AttentionFusedConfig{64, 2, 2}}) {
    SCOPED_TRACE(ShapeName(config));
    ASSERT_EQ(kernels::LaunchAttentionFused<float>(in.q.get(), in.k.get(), in.v.get(), n, d,
                                                   direct.get(), stream, config),
              cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);

    ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    const cudaError_t fused_launch = kernels::LaunchAttentionFused<float>(
        in.q.get(), in.k.get(), in.v.get(), n, d, fused.get(), stream, config);
    const CudaKernelStatus materialized_launch = kernels::LaunchAttentionMaterialized<float>(
        cublas.get(), in.q.get(), in.k.get(), in.v.get(), n, d, scratch.get(), materialized.get(),
        stream);
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(stream, &graph);
    EXPECT_EQ(fused_launch, cudaSuccess);
    EXPECT_TRUE(materialized_launch.ok()) << materialized_launch.what;
    ASSERT_EQ(end, cudaSuccess);
    cudaGraphExec_t exec = nullptr;
    ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    cudaGraphDestroy(graph);
    ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    cudaGraphExecDestroy(exec);

    std::vector<float> host_direct(n * d), host_fused(n * d), host_materialized(n * d);
    ASSERT_EQ(cudaMemcpy(host_direct.data(), direct.get(), n * d * 4, cudaMemcpyDeviceToHost),
              cudaSuccess);
    ASSERT_EQ(cudaMemcpy(host_fused.data(), fused.get(), n * d * 4, cudaMemcpyDeviceToHost),
              cudaSuccess);
    ASSERT_EQ(cudaMemcpy(host_materialized.data(), materialized.get(), n * d * 4,
                         cudaMemcpyDeviceToHost),
              cudaSuccess);
    EXPECT_EQ(std::memcmp(host_direct.data(), host_fused.data(), n * d * 4), 0);
    EXPECT_LE(MaxRelativeError(host_fused.data(), want), AttentionTolerance<float>(n, d));
    EXPECT_LE(MaxRelativeError(host_materialized.data(), want), AttentionTolerance<float>(n, d));
  }
  cudaStreamDestroy(stream);
}

// Informational only: milliseconds per call (mean of 5 after 2 warm-up
// calls, cudaEvent-timed on the default stream) of each form, printed; no
// assertion on time.
template <typename T>
void TimeShape(int64_t n, int d, cublasHandle_t cublas) {
  DeviceArray<T> q(n * d), k(n * d), v(n * d), out(n * d);
  DeviceArray<T> scratch(kernels::AttentionScratchElements(n));
  ASSERT_NE(scratch.get(), nullptr);
  ASSERT_EQ(kernels::LaunchFillUniform<T>(q.get(), n * d, kInputSeed + 0, nullptr), cudaSuccess);
  ASSERT_EQ(kernels::LaunchFillUniform<T>(k.get(), n * d, kInputSeed + 1, nullptr), cudaSuccess);
  ASSERT_EQ(kernels::LaunchFillUniform<T>(v.get(), n * d, kInputSeed + 2, nullptr), cudaSuccess);
  cudaEvent_t start, stop;
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  const double flops = 4.0 * d * n * n + 4.0 * n * n - 2.0 * n;
  std::string line = absl::StrCat(sizeof(T) == 4 ? "f32" : "f64", " d=", d, " N=", n, ":");
  int sms = 0;
  ASSERT_EQ(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0), cudaSuccess);
  const kernels::AttentionFusedConfig planned = kernels::PlanAttentionFused<T>(n, d, sms);
  // Form 0 materialized, 1 the planned fused shape, then every offered shape.
  for (int form = 0; form < 2 + static_cast<int>(std::size(kFusedConfigs)); ++form) {
    const kernels::AttentionFusedConfig config = form < 2 ? planned : kFusedConfigs[form - 2];
    if (form >= 2 && !Offered<T>(config, d)) continue;
    const auto launch = [&] {
      if (form == 0) {
        return kernels::LaunchAttentionMaterialized<T>(cublas, q.get(), k.get(), v.get(), n, d,
                                                       scratch.get(), out.get(), nullptr)
                   .ok();
      }
      return kernels::LaunchAttentionFused<T>(q.get(), k.get(), v.get(), n, d, out.get(), nullptr,
                                              config) == cudaSuccess;
    };
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(launch());
    ASSERT_EQ(cudaEventRecord(start, nullptr), cudaSuccess);
    constexpr int kReps = 5;
    for (int i = 0; i < kReps; ++i) ASSERT_TRUE(launch());
    ASSERT_EQ(cudaEventRecord(stop, nullptr), cudaSuccess);
    ASSERT_EQ(cudaEventSynchronize(stop), cudaSuccess);
    float ms = 0;
    ASSERT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
    const double per_call = ms / kReps;
    const std::string name =
        form == 0 ? "materialized"
                  : absl::StrCat(form == 1 ? "planned " : "", "fused(", ShapeName(config), ")");
    absl::StrAppend(&line, " ", name, " ", absl::StrFormat("%.3f", per_call), " ms (",
                    absl::StrFormat("%.1f", flops / (per_call * 1e-3) / 1e12), " TFLOP/s)");
  }
  std::printf("[timing] %s\n", line.c_str());
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

TEST(AttentionKernelsTest, TimingInformational) {
  if (const std::string why = NoGpuReason(); !why.empty()) GTEST_SKIP() << why;
  Cublas cublas;
  ASSERT_NE(cublas.get(), nullptr);
  for (int64_t n : {1024, 2048, 4096, 6144, 8192, 12288, 16384}) {
    for (int d : {64, 128}) TimeShape<float>(n, d, cublas.get());
  }
  for (int d : {64, 128}) TimeShape<double>(4096, d, cublas.get());
}

}  // namespace
}  // namespace flopd
