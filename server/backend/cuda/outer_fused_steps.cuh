// The steps of outer/fused's CUDA kernel (outer_fused_kernel.cu, whose
// comments say how they fit together): the stage copies (cp.async), the
// broadcast loads and the FMA runs over a staged piece. In a header so that
// the kernel and the bench's variants of it (bench/gpu/fused_anatomy.cuh,
// fused_balanced.cuh) run the very same steps. Device code only.
#ifndef FLOPD_SERVER_BACKEND_CUDA_OUTER_FUSED_STEPS_CUH_
#define FLOPD_SERVER_BACKEND_CUDA_OUTER_FUSED_STEPS_CUH_

#include <cuda_runtime.h>

#include "server/backend/cuda/cuda_kernels.cuh"
#include "server/backend/cuda/kernel_common.cuh"

namespace flopd {
namespace kernels {
namespace fused {

template <typename T>
inline constexpr int kFusedWarps = sizeof(T) == 4 ? kFusedWarpsF32 : kFusedWarpsF64;
template <typename T>
inline constexpr int kFusedLanes = sizeof(T) == 4 ? kFusedLanesF32 : kFusedLanesF64;
// Elements of one stage: 128 (512 bytes of f32, 1 KB of f64).
inline constexpr int kFusedPiece = 128;
// Elements one warp consumes per step: 4 per lane group. A warp's lanes
// form 32 / kOutLanes groups of kOutLanes lanes (lane l is in group
// l / kOutLanes); the groups own the same outputs and take alternate
// 4-element groups of the summed elements. kOutLanes = 16 (two halves, 8
// elements a step), 8 (four groups, 16 elements) or 4 (eight, 32).
template <int kOutLanes>
inline constexpr int kFusedStepOf = 4 * (32 / kOutLanes);
inline constexpr int kFusedStep = kFusedStepOf<16>;

// cp.async global -> shared: 16 bytes (through L2 only) or one element.
template <typename T>
__device__ __forceinline__ void CopyAsync16(T* shared_destination, const T* global_source) {
  const unsigned destination = static_cast<unsigned>(__cvta_generic_to_shared(shared_destination));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(destination), "l"(global_source)
               : "memory");
}
template <typename T>
__device__ __forceinline__ void CopyAsyncElement(T* shared_destination, const T* global_source) {
  const unsigned destination = static_cast<unsigned>(__cvta_generic_to_shared(shared_destination));
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2;" ::"r"(destination), "l"(global_source),
               "n"(sizeof(T))
               : "memory");
}
__device__ __forceinline__ void CopyAsyncCommit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void CopyAsyncWait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(kPending) : "memory");
}

// Copies `len` (<= kFusedPiece) elements from `source` (16-byte aligned) to
// `stage` in 16-byte pieces, plus single elements for a ragged end, as one
// commit group of the calling lane. Every lane of the warp calls it.
template <typename T>
__device__ __forceinline__ void StagePiece(T* stage, const T* source, int len, int lane) {
  constexpr int kV = 16 / static_cast<int>(sizeof(T));
  constexpr int kMaxVectors = kFusedPiece / kV;
  const int vectors = len / kV;
#pragma unroll
  for (int v = lane; v < kMaxVectors; v += 32) {
    if (v < vectors) CopyAsync16(stage + v * kV, source + v * kV);
  }
  const int rest = len - vectors * kV;
  if (lane < rest) CopyAsyncElement(stage + vectors * kV + lane, source + vectors * kV + lane);
  CopyAsyncCommit();
}

// StagePiece for a whole piece (kFusedPiece elements): the same copies with
// no per-lane conditions (f32: one 16-byte copy per lane; f64: two).
template <typename T>
__device__ __forceinline__ void StageWholePiece(T* stage, const T* source, int lane) {
  constexpr int kV = 16 / static_cast<int>(sizeof(T));
  constexpr int kVectors = kFusedPiece / kV;
  static_assert(kVectors % 32 == 0, "every lane copies the same number of vectors");
#pragma unroll
  for (int v = lane; v < kVectors; v += 32) CopyAsync16(stage + v * kV, source + v * kV);
  CopyAsyncCommit();
}

template <typename T>
__device__ __forceinline__ void LoadFour(const T* p, T (&v)[4]) {
  if constexpr (sizeof(T) == 4) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x;
    v[1] = q.y;
    v[2] = q.z;
    v[3] = q.w;
  } else {
    const double2 q0 = *reinterpret_cast<const double2*>(p);
    const double2 q1 = *reinterpret_cast<const double2*>(p + 2);
    v[0] = q0.x;
    v[1] = q0.y;
    v[2] = q1.x;
    v[3] = q1.y;
  }
}

// acc[m] += own[m] * s[q] for q = 0..3 in order, each m independent.
template <typename T, int kJ>
__device__ __forceinline__ void FmaFour(const T (&own)[kJ], const T (&s)[4], T (&acc)[kJ]) {
#pragma unroll
  for (int q = 0; q < 4; ++q) {
#pragma unroll
    for (int m = 0; m < kJ; ++m) acc[m] = Fma(own[m], s[q], acc[m]);
  }
}

// A full piece of kLen elements (the kernel's: kFusedPiece): kLen / step
// steps, unrolled. `mine` = piece + 4 * group.
template <typename T, int kJ, int kLen = kFusedPiece, int kOutLanes = 16>
__device__ __forceinline__ void ConsumeFullPiece(const T* mine, const T (&own)[kJ], T (&acc)[kJ]) {
  constexpr int kStep = kFusedStepOf<kOutLanes>;
  static_assert(kLen % kStep == 0, "a piece is whole steps");
#pragma unroll
  for (int i = 0; i < kLen / kStep; ++i) {
    T s[4];
    LoadFour(mine + kStep * i, s);
    FmaFour<T, kJ>(own, s, acc);
  }
}

// A shorter piece (the end of a share): whole steps, then the elements past
// the last whole step, each taken by the lane group whose 4-element group it
// falls in (element e belongs to group (e / 4) % (32 / kOutLanes)).
template <typename T, int kJ, int kOutLanes = 16>
__device__ __forceinline__ void ConsumePartialPiece(const T* piece, int len, int group,
                                                    const T (&own)[kJ], T (&acc)[kJ]) {
  constexpr int kStep = kFusedStepOf<kOutLanes>;
  constexpr int kGroups = 32 / kOutLanes;
  const int steps = len / kStep;
  for (int i = 0; i < steps; ++i) {
    T s[4];
    LoadFour(piece + kStep * i + 4 * group, s);
    FmaFour<T, kJ>(own, s, acc);
  }
  for (int e = steps * kStep; e < len; ++e) {
    if (((e >> 2) & (kGroups - 1)) != group) continue;
    const T s = piece[e];
#pragma unroll
    for (int m = 0; m < kJ; ++m) acc[m] = Fma(own[m], s, acc[m]);
  }
}

// `steps` (< 2 kRun) whole steps from `mine`: a run of kRun steps if
// `steps & kRun` (kRun a power of two), then the shorter runs.
template <typename T, int kJ, int kOutLanes, int kRun>
__device__ __forceinline__ void ConsumeRuns(const T* mine, int steps, const T (&own)[kJ],
                                            T (&acc)[kJ]) {
  if (steps & kRun) {
    ConsumeFullPiece<T, kJ, kRun * kFusedStepOf<kOutLanes>, kOutLanes>(mine, own, acc);
    mine += kRun * kFusedStepOf<kOutLanes>;
  }
  if constexpr (kRun > 1) ConsumeRuns<T, kJ, kOutLanes, kRun / 2>(mine, steps, own, acc);
}

// ConsumePartialPiece without its run-time loop: the whole steps of a piece
// shorter than kFusedPiece in unrolled runs of 2^b steps, longest first (the
// same steps in the same order as one loop over them), then the elements past
// the last whole step (only at the end of the summed axis).
template <typename T, int kJ, int kOutLanes = 16>
__device__ __forceinline__ void ConsumeShortPiece(const T* piece, int len, int group,
                                                  const T (&own)[kJ], T (&acc)[kJ]) {
  constexpr int kStep = kFusedStepOf<kOutLanes>;
  constexpr int kGroups = 32 / kOutLanes;
  const int steps = len / kStep;
  ConsumeRuns<T, kJ, kOutLanes, kFusedPiece / kStep / 2>(piece + 4 * group, steps, own, acc);
  for (int e = steps * kStep; e < len; ++e) {
    if (((e >> 2) & (kGroups - 1)) != group) continue;
    const T s = piece[e];
#pragma unroll
    for (int m = 0; m < kJ; ++m) acc[m] = Fma(own[m], s, acc[m]);
  }
}

}  // namespace fused
}  // namespace kernels
}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CUDA_OUTER_FUSED_STEPS_CUH_
