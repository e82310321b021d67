// One point prepared on a GPU (the CUDA backend's PreparedPoint) and what
// it is made of: the buffers the op catalog lists for it, its inputs and
// fp64 reference, and its three timers (hot, graph, cold; see NOTES.md, "how
// it is organised"). Internal to server/backend/cuda.
//
// Generic: nothing here knows an op. The point's algorithm is point.kernel,
// set by the op catalog (ResolvePoint) when the job was planned; buffers come
// from the catalog's counts, and everything about a kernel (its plan, its
// launches, its GPU reference) from the dispatch in cuda_kernels.cuh.
//
// Errors: INTERNAL for CUDA and cuBLAS failures (sticky ones mark the
// GpuContext unhealthy), RESOURCE_EXHAUSTED when a cudaMalloc fails or the
// buffers' size overflows, INVALID_ARGUMENT for N or a param out of range.
// Whether the point fits the GPU's free memory is checked before Prepare by
// the shared measurement loop (CheckPointFits in server/measure_point.h), not
// here.
//
// Ownership and thread-safety: a prepared point holds its GpuContext by
// shared_ptr and frees its buffers, events and graphs on destruction. It is
// used by one thread at a time (the scheduler's), like every PreparedPoint.
#ifndef FLOPD_SERVER_BACKEND_CUDA_CUDA_POINT_H_
#define FLOPD_SERVER_BACKEND_CUDA_CUDA_POINT_H_

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/measure_settings.h"
#include "common/op_catalog.h"
#include "common/point.h"
#include "server/backend/cuda/gpu_context.h"
#include "server/backend/device.h"

namespace flopd {

// OK when the CUDA backend implements point.kernel (CudaImplements in
// cuda_kernels.cuh); INTERNAL naming the kernel otherwise (kNone: the point
// was not resolved against the op catalog, which cannot happen for planned
// points).
absl::Status CheckCudaKernel(const PointSpec& point);

// Device bytes Prepare allocates for the point: BufferBytes(point) (the
// catalog's inputs, output and scratch), the fp64 reference, the split
// kernels' partial sums and counters (PlanCudaKernel) and, in cold mode, the
// flush buffer. INT64_MAX when the catalog's buffers would exceed 2^62 bytes
// (an N x N buffer past N ~ 1e9, where int64 byte counts overflow): more than
// any GPU has. REQUIRES: the point is resolved.
int64_t CudaBytesNeeded(const PointSpec& point, TimingMode timing, const GpuContext& context);

// Where MakeInputsAndReference takes the fp64 reference from.
enum class ReferenceSource {
  kGpuWhenAvailable,  // LaunchGpuReference, else the catalog's host reference
  kHost,              // the catalog's host reference (ReferenceResult) always
};

// Fills input i of the point (inputs[i], InputCounts(point)[i] elements on
// the GPU) with the values FillUniform gives on the host from seed
// kInputSeed + i, so every backend sees the same numbers, and computes the
// fp64 reference (OutputCount(point) values) into *reference: on the GPU
// where the kernel file has a reference kernel for the op, else on the host
// from the inputs copied back. Synchronizes `stream`. T is float or double.
// REQUIRES: CheckCudaKernel(point) is OK; inputs as above.
template <typename T>
absl::Status MakeInputsAndReference(GpuContext& ctx, cudaStream_t stream, const PointSpec& point,
                                    const std::vector<T*>& inputs, std::vector<double>* reference,
                                    ReferenceSource source = ReferenceSource::kGpuWhenAvailable);

// Checks the point (kernel, N in 1..CudaMaxN, params among the catalog's
// allowed values, buffers below 2^62 bytes), then allocates its buffers,
// fills the inputs and computes the reference, creates its events, runs the
// op twice (module load, cuBLAS's first-call setup) and reads the SM clock.
// REQUIRES: the context's GPU is current and healthy.
absl::StatusOr<std::unique_ptr<PreparedPoint>> PrepareCudaPoint(std::shared_ptr<GpuContext> context,
                                                                const PointSpec& point,
                                                                TimingMode timing);

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CUDA_CUDA_POINT_H_
