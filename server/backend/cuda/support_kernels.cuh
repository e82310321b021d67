// The CUDA backend's kernels that time nothing themselves, and their
// launchers (defined in support_kernels.cu): the inputs and fp64 references
// Prepare makes on the GPU, the SM clock probe, and the FMA-throughput kernel
// of the ceilings. They follow cuda_kernels.cuh's conventions: each launcher
// enqueues work on `stream` of the current device and returns
// cudaGetLastError() after the launch; row-major N x N matrices.
//
// Thread-safety: stateless; callers own the stream.
#ifndef FLOPD_SERVER_BACKEND_CUDA_SUPPORT_KERNELS_CUH_
#define FLOPD_SERVER_BACKEND_CUDA_SUPPORT_KERNELS_CUH_

#include <cuda_runtime_api.h>

#include <cstdint>

namespace flopd {
namespace kernels {

// Inputs and references, for Prepare: a point's inputs and its fp64
// reference are made on the GPU, so that an N = 20000 matvec point does not
// spend seconds on the host drawing 4e8 numbers and summing them.
//
// data[i] = UniformInputAs<T>(seed, i) for i < count: bit-identical to the
// host's FillUniform(data, count, seed) (the same integer steps, exact
// conversions and one correctly rounded narrowing).
template <typename T>
cudaError_t LaunchFillUniform(T* data, int64_t count, uint64_t seed, cudaStream_t stream);

// fp64 references, as plain as possible and sharing no code with the kernels
// under test:
//   matvec: y_i = sum_j double(A_ij) * double(x_j), one warp per row.
//   outer:  out_k = sum_m double(owned_k) * double(summed_m), all N^2 terms,
//           one thread per output adding in m order.
template <typename T>
cudaError_t LaunchReferenceMatvec(const T* a, const T* x, double* y, int64_t n,
                                  cudaStream_t stream);
template <typename T>
cudaError_t LaunchReferenceOuter(const T* owned, const T* summed, double* out, int64_t n,
                                 cudaStream_t stream);

//   chain:  ref_i = x_i taken through `steps` steps y <- a y + b in fp64.
template <typename T>
cudaError_t LaunchReferenceChain(const T* x, double* reference, int64_t n, int64_t steps,
                                 cudaStream_t stream);

// One thread spins for `spin_ns` of %globaltimer and writes
// {elapsed ns, elapsed SM cycles (clock64)} to out[0..1]: their ratio is the
// SM clock while the kernel ran.
cudaError_t LaunchClockProbe(int64_t spin_ns, unsigned long long* out, cudaStream_t stream);

// The hot mode's gate: one thread holds the stream until words[0] != 0 (the
// host writes it; `words` is host-mapped memory) or until `timeout_ns` of
// %globaltimer have passed, whichever comes first; on a timeout it writes 1
// to words[1]. Work enqueued behind the gate while it is closed starts at the
// GPU's pace once it opens, not at the host's launch rate. A timeout means the
// host could not enqueue that work in time (the launch queue was full, or the
// host thread stalled): whatever was timed behind it was host-paced.
cudaError_t LaunchStreamGate(volatile int* words, int64_t timeout_ns, cudaStream_t stream);

// The FMA-throughput kernel behind the ceilings (cuda_ceilings.h): every thread
// runs kFmaPeakChains independent fma() chains in registers (acc = fma(acc,
// multiplier, addend), the multiplier and addend kernel arguments, so nothing
// folds at compile time; without fast-math nvcc may not reassociate them),
// kFmaPeakUnroll steps per loop trip, `iterations` trips. Each thread then
// writes the sum of its chains to sink[thread] (blocks x kFmaPeakThreads
// elements), so no chain is dead code. Thread 0 of block 0 writes
// {elapsed ns of %globaltimer, elapsed SM cycles of clock64()} across its
// loop to clock_words[0..1]: their ratio is the SM clock while the FMAs ran.
// FMAs per thread: iterations x kFmaPeakChains x kFmaPeakUnroll (2 FLOP each).
inline constexpr int kFmaPeakThreads = 256;
inline constexpr int kFmaPeakChains = 16;
inline constexpr int kFmaPeakUnroll = 8;

// Resident blocks of the FMA kernel per SM (the occupancy calculator's
// answer for T); launching sm_count x this fills every SM in one wave.
template <typename T>
cudaError_t FmaPeakBlocksPerSm(int* blocks_per_sm);

template <typename T>
cudaError_t LaunchFmaPeak(int blocks, int iterations, T multiplier, T addend, T* sink,
                          unsigned long long* clock_words, cudaStream_t stream);

}  // namespace kernels
}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CUDA_SUPPORT_KERNELS_CUH_
