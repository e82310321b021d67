// The value of input element `index` of the buffer seeded with `seed`: a
// counter-based generator (splitmix64 of seed and index), so any element can
// be computed independently — by many CPU threads or directly on a GPU — and
// every backend sees bit-identical inputs. Header-only and usable from CUDA
// device code (no std library calls).
#ifndef FLOPD_COMMON_UNIFORM_INPUT_H_
#define FLOPD_COMMON_UNIFORM_INPUT_H_

#include <cstdint>

#if defined(__CUDACC__)
#define FLOPD_HOST_DEVICE __host__ __device__
#else
#define FLOPD_HOST_DEVICE
#endif

namespace flopd {

// Uniform in [0.5, 1.5) with 53 random bits; never zero, so sums stay well
// conditioned and unwritten outputs cannot hide.
FLOPD_HOST_DEVICE inline double UniformInput(uint64_t seed, int64_t index) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index) + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return 0.5 + static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

// UniformInput rounded to T, kept in [0.5, 1.5): rounding a double just
// below 1.5 to float can give 1.5 itself, so that one case steps down an ulp.
template <typename T>
FLOPD_HOST_DEVICE inline T UniformInputAs(uint64_t seed, int64_t index) {
  const T value = static_cast<T>(UniformInput(seed, index));
  const T ulp_of_one_and_a_half = sizeof(T) == 4 ? T(1.1920928955078125e-07)
                                                 : T(2.220446049250313e-16);
  return value < T(1.5) ? value : T(1.5) - ulp_of_one_and_a_half;
}

}  // namespace flopd

#endif  // FLOPD_COMMON_UNIFORM_INPUT_H_
