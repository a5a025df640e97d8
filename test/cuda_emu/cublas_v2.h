/*
 * cublas_v2.h (emulator): the cuBLAS calls kernels/gemm.cu makes, so that
 * `make emu` checks the fast kernel set's transposes, leading dimensions and
 * batch strides, the classic places for a cuBLAS call to go wrong.
 *
 * cublasSgemmStridedBatched computes, for each z < batchCount, in cuBLAS's
 * column-major view,
 *     C_z = alpha * op(A_z) * op(B_z) + beta * C_z    C: (m, n), op(A): (m, k), op(B): (k, n)
 * with X_z = X + z * strideX, where element (i, j) of a column-major matrix X
 * with leading dimension ldx is X[i + j*ldx], and op(X) is X or its
 * transpose. The emulator runs the definition as plain loops (cuda_emu.cpp),
 * adding k in increasing order, after cuBLAS's argument checks and its own:
 * every operand lies inside one device allocation, the batch's outputs do
 * not overlap, and the handle's math mode was set explicitly (the project's
 * rule, gemm.cu). In CUBLAS_TF32_TENSOR_OP_MATH it cuts every input of the
 * products to TF32 (the low 13 of the 23 mantissa bits cleared: truncation,
 * the worse of the two roundings hardware may use), so the TF32 tolerances
 * are tested here too.
 */
#ifndef GPT2C_CUBLAS_EMU_H
#define GPT2C_CUBLAS_EMU_H

#include "cuda_runtime.h"

typedef struct cublasContext *cublasHandle_t;
typedef enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0, CUBLAS_PEDANTIC_MATH = 2, CUBLAS_TF32_TENSOR_OP_MATH = 3 } cublasMath_t;
typedef enum { CUBLAS_ATOMICS_NOT_ALLOWED = 0, CUBLAS_ATOMICS_ALLOWED = 1 } cublasAtomicsMode_t;

cublasStatus_t cublasCreate(cublasHandle_t *handle);
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode);
cublasStatus_t cublasSetAtomicsMode(cublasHandle_t handle, cublasAtomicsMode_t mode);
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const float *alpha, const float *A, int lda,
                                         long long strideA, const float *B, int ldb, long long strideB,
                                         const float *beta, float *C, int ldc, long long strideC, int batchCount);

#endif
