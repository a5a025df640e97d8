/*
 * cublas_v2.h (emulator): the one cuBLAS call kernels/matmul.cu makes under
 * USE_CUBLAS=1, so that `make emu USE_CUBLAS=1` checks its transposes and
 * leading dimensions, the classic place for a cuBLAS call to go wrong.
 *
 * cublasSgemm computes, in cuBLAS's column-major view,
 *     C = alpha * op(A) * op(B) + beta * C     C: (m, n), op(A): (m, k), op(B): (k, n)
 * where element (i, j) of a column-major matrix X with leading dimension ldx
 * is X[i + j*ldx], and op(X) is X or its transpose. The emulator runs the
 * definition as three loops (cuda_emu.cpp), adding k in increasing order.
 */
#ifndef GPT2C_CUBLAS_EMU_H
#define GPT2C_CUBLAS_EMU_H

#include "cuda_runtime.h"

typedef struct cublasContext *cublasHandle_t;
typedef enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;

cublasStatus_t cublasCreate(cublasHandle_t *handle);
cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float *alpha, const float *A, int lda, const float *B, int ldb,
                           const float *beta, float *C, int ldc);

#endif
