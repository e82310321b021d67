// Kernels that time nothing themselves: the inputs and fp64 references
// Prepare makes, the SM clock probe, the FMA-throughput kernel of the
// ceilings. See support_kernels.cuh for the contracts. Plain code, kept apart
// from the kernels under test (cuda_kernels.cu), with which the references
// share nothing.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "common/uniform_input.h"
#include "server/backend/cuda/cuda_kernels.cuh"
#include "server/backend/cuda/support_kernels.cuh"

namespace flopd {
namespace kernels {
namespace {

// The sum of `value` over the 32 lanes of a warp, in every lane.
__device__ __forceinline__ double WarpSum(double value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  }
  return value;
}

// ---------------------------------------------------------------------------
// Inputs and fp64 references (Prepare). Not timed; plain code.

template <typename T>
__global__ void FillUniformKernel(T* __restrict__ data, int64_t count, uint64_t seed) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    data[i] = UniformInputAs<T>(seed, i);
  }
}

// One warp per row: lane l adds columns l, l + 32, ...; then a shuffle tree.
template <typename T>
__global__ void ReferenceMatvecKernel(const T* __restrict__ a, const T* __restrict__ x,
                                      double* __restrict__ y, int64_t n) {
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  if (row >= n) return;
  const T* a_row = a + row * n;
  double sum = 0;
#pragma unroll 4
  for (int64_t j = lane; j < n; j += 32) {
    sum += static_cast<double>(a_row[j]) * static_cast<double>(x[j]);
  }
  sum = WarpSum(sum);
  if (lane == 0) y[row] = sum;
}

// One thread per output, all N terms in order.
template <typename T>
__global__ void ReferenceOuterKernel(const T* __restrict__ owned, const T* __restrict__ summed,
                                     double* __restrict__ out, int64_t n) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= n) return;
  const double scale = static_cast<double>(owned[k]);
  double sum = 0;
  for (int64_t m = 0; m < n; ++m) sum += scale * static_cast<double>(summed[m]);
  out[k] = sum;
}

template <typename T>
__global__ void ReferenceChainKernel(const T* __restrict__ x, double* __restrict__ out, int64_t n,
                                     int64_t steps) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  double y = static_cast<double>(x[i]);
  for (int64_t s = 0; s < steps; ++s) y = kChainA * y + kChainB;
  out[i] = y;
}

// ---------------------------------------------------------------------------
// The SM clock: cycles of clock64() over nanoseconds of %globaltimer.

__device__ __forceinline__ unsigned long long GlobalTimer() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void ClockProbeKernel(int64_t spin_ns, unsigned long long* out) {
  const unsigned long long t0 = GlobalTimer();
  const long long c0 = clock64();
  unsigned long long t1 = t0;
  while (static_cast<int64_t>(t1 - t0) < spin_ns) t1 = GlobalTimer();
  const long long c1 = clock64();
  out[0] = t1 - t0;
  out[1] = static_cast<unsigned long long>(c1 - c0);
}

__global__ void StreamGateKernel(volatile int* words, int64_t timeout_ns) {
  const unsigned long long t0 = GlobalTimer();
  while (words[0] == 0) {
    if (static_cast<int64_t>(GlobalTimer() - t0) > timeout_ns) {
      words[1] = 1;
      return;
    }
    __nanosleep(500);  // fewer reads across the bus; opening is noticed within ~1 us
  }
}

template <typename T>
__global__ void __launch_bounds__(kFmaPeakThreads)
    FmaPeakKernel(int iterations, T multiplier, T addend, T* sink,
                  unsigned long long* clock_words) {
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  T acc[kFmaPeakChains];
#pragma unroll
  for (int c = 0; c < kFmaPeakChains; ++c) {
    // Distinct starting values in (0, 0.1): the chains converge towards
    // addend / (1 - multiplier) without overflow or subnormals.
    acc[c] = static_cast<T>((thread & 63) * kFmaPeakChains + c + 1) * static_cast<T>(1e-4);
  }
  const bool timer = blockIdx.x == 0 && threadIdx.x == 0;
  unsigned long long t0 = 0;
  long long c0 = 0;
  if (timer) {
    t0 = GlobalTimer();
    c0 = clock64();
  }
  for (int i = 0; i < iterations; ++i) {
#pragma unroll
    for (int u = 0; u < kFmaPeakUnroll; ++u) {
#pragma unroll
      for (int c = 0; c < kFmaPeakChains; ++c) acc[c] = fma(acc[c], multiplier, addend);
    }
  }
  if (timer) {
    const long long c1 = clock64();
    const unsigned long long t1 = GlobalTimer();
    clock_words[0] = t1 - t0;
    clock_words[1] = static_cast<unsigned long long>(c1 - c0);
  }
  T sum = 0;
#pragma unroll
  for (int c = 0; c < kFmaPeakChains; ++c) sum += acc[c];
  sink[thread] = sum;
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

template <typename T>
cudaError_t LaunchFillUniform(T* data, int64_t count, uint64_t seed, cudaStream_t stream) {
  if (count < 1) return cudaSuccess;
  // Enough blocks for every SM several times over; each thread then loops.
  const int64_t blocks = std::min<int64_t>(CeilDiv(count, kBlockThreads), 8192);
  FillUniformKernel<T>
      <<<static_cast<unsigned>(blocks), kBlockThreads, 0, stream>>>(data, count, seed);
  return cudaGetLastError();
}

template <typename T>
cudaError_t LaunchReferenceMatvec(const T* a, const T* x, double* y, int64_t n,
                                  cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(CeilDiv(n, kBlockWarps)));
  ReferenceMatvecKernel<T><<<grid, kBlockThreads, 0, stream>>>(a, x, y, n);
  return cudaGetLastError();
}

template <typename T>
cudaError_t LaunchReferenceOuter(const T* owned, const T* summed, double* out, int64_t n,
                                 cudaStream_t stream) {
  // Small blocks: N threads spread over as many SMs as possible.
  constexpr int kThreads = 64;
  const dim3 grid(static_cast<unsigned>(CeilDiv(n, kThreads)));
  ReferenceOuterKernel<T><<<grid, kThreads, 0, stream>>>(owned, summed, out, n);
  return cudaGetLastError();
}

template <typename T>
cudaError_t LaunchReferenceChain(const T* x, double* reference, int64_t n, int64_t steps,
                                 cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(CeilDiv(n, kBlockThreads)));
  ReferenceChainKernel<T><<<grid, kBlockThreads, 0, stream>>>(x, reference, n, steps);
  return cudaGetLastError();
}

cudaError_t LaunchClockProbe(int64_t spin_ns, unsigned long long* out, cudaStream_t stream) {
  ClockProbeKernel<<<1, 1, 0, stream>>>(spin_ns, out);
  return cudaGetLastError();
}

cudaError_t LaunchStreamGate(volatile int* words, int64_t timeout_ns, cudaStream_t stream) {
  StreamGateKernel<<<1, 1, 0, stream>>>(words, timeout_ns);
  return cudaGetLastError();
}

template <typename T>
cudaError_t FmaPeakBlocksPerSm(int* blocks_per_sm) {
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks_per_sm, FmaPeakKernel<T>,
                                                       kFmaPeakThreads, 0);
}

template <typename T>
cudaError_t LaunchFmaPeak(int blocks, int iterations, T multiplier, T addend, T* sink,
                          unsigned long long* clock_words, cudaStream_t stream) {
  if (blocks < 1 || iterations < 1) return cudaErrorInvalidValue;
  FmaPeakKernel<T>
      <<<blocks, kFmaPeakThreads, 0, stream>>>(iterations, multiplier, addend, sink, clock_words);
  return cudaGetLastError();
}
template cudaError_t FmaPeakBlocksPerSm<float>(int*);
template cudaError_t FmaPeakBlocksPerSm<double>(int*);
template cudaError_t LaunchFmaPeak<float>(int, int, float, float, float*, unsigned long long*,
                                          cudaStream_t);
template cudaError_t LaunchFmaPeak<double>(int, int, double, double, double*, unsigned long long*,
                                           cudaStream_t);
template cudaError_t LaunchFillUniform<float>(float*, int64_t, uint64_t, cudaStream_t);
template cudaError_t LaunchFillUniform<double>(double*, int64_t, uint64_t, cudaStream_t);
template cudaError_t LaunchReferenceMatvec<float>(const float*, const float*, double*, int64_t,
                                                  cudaStream_t);
template cudaError_t LaunchReferenceMatvec<double>(const double*, const double*, double*, int64_t,
                                                   cudaStream_t);
template cudaError_t LaunchReferenceChain<float>(const float*, double*, int64_t, int64_t,
                                                 cudaStream_t);
template cudaError_t LaunchReferenceChain<double>(const double*, double*, int64_t, int64_t,
                                                  cudaStream_t);
template cudaError_t LaunchReferenceOuter<float>(const float*, const float*, double*, int64_t,
                                                 cudaStream_t);
template cudaError_t LaunchReferenceOuter<double>(const double*, const double*, double*, int64_t,
                                                  cudaStream_t);

}  // namespace kernels
}  // namespace flopd
