// cuBLAS's GEMM and GEMV by element type, so that templated callers pick
// cublasSgemm/cublasDgemm (cublasSgemv/cublasDgemv) by overload. Each
// computes C = op(A) op(B) (y = op(A) x) with alpha 1 and beta 0 in host
// pointer mode, on whatever stream `handle` is set to, in the 32-bit-int API
// as PyTorch calls it (the shared memory check keeps N far below 2^31 for the
// N x N operands). Column-major, as cuBLAS is.
//
// Errors: the cuBLAS status is returned unchecked; callers pass it to
// GpuContext::CheckCublas. Thread-safety: that of the handle (one thread per
// handle at a time).
#ifndef FLOPD_SERVER_BACKEND_CUDA_CUBLAS_CALLS_H_
#define FLOPD_SERVER_BACKEND_CUDA_CUBLAS_CALLS_H_

#include <cublas_v2.h>

namespace flopd {

cublasStatus_t CublasGemm(cublasHandle_t handle, cublasOperation_t op_a, cublasOperation_t op_b,
                          int m, int n, int k, const float* a, int lda, const float* b, int ldb,
                          float* c, int ldc);
cublasStatus_t CublasGemm(cublasHandle_t handle, cublasOperation_t op_a, cublasOperation_t op_b,
                          int m, int n, int k, const double* a, int lda, const double* b, int ldb,
                          double* c, int ldc);

// Unit strides for x and y.
cublasStatus_t CublasGemv(cublasHandle_t handle, cublasOperation_t op_a, int m, int n,
                          const float* a, int lda, const float* x, float* y);
cublasStatus_t CublasGemv(cublasHandle_t handle, cublasOperation_t op_a, int m, int n,
                          const double* a, int lda, const double* x, double* y);

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CUDA_CUBLAS_CALLS_H_
