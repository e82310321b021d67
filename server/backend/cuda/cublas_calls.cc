#include "server/backend/cuda/cublas_calls.h"

namespace flopd {

cublasStatus_t CublasGemm(cublasHandle_t handle, cublasOperation_t op_a, cublasOperation_t op_b,
                          int m, int n, int k, const float* a, int lda, const float* b, int ldb,
                          float* c, int ldc) {
  const float one = 1, zero = 0;
  return cublasSgemm(handle, op_a, op_b, m, n, k, &one, a, lda, b, ldb, &zero, c, ldc);
}

cublasStatus_t CublasGemm(cublasHandle_t handle, cublasOperation_t op_a, cublasOperation_t op_b,
                          int m, int n, int k, const double* a, int lda, const double* b, int ldb,
                          double* c, int ldc) {
  const double one = 1, zero = 0;
  return cublasDgemm(handle, op_a, op_b, m, n, k, &one, a, lda, b, ldb, &zero, c, ldc);
}

cublasStatus_t CublasGemv(cublasHandle_t handle, cublasOperation_t op_a, int m, int n,
                          const float* a, int lda, const float* x, float* y) {
  const float one = 1, zero = 0;
  return cublasSgemv(handle, op_a, m, n, &one, a, lda, x, 1, &zero, y, 1);
}

cublasStatus_t CublasGemv(cublasHandle_t handle, cublasOperation_t op_a, int m, int n,
                          const double* a, int lda, const double* x, double* y) {
  const double one = 1, zero = 0;
  return cublasDgemv(handle, op_a, m, n, &one, a, lda, x, 1, &zero, y, 1);
}

}  // namespace flopd
