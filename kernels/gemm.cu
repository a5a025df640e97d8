/*
 * gemm.cu: the one matrix product every linear layer and attention uses, and
 * the switch between the two kernel sets (notes.md "The GPU path").
 *
 * The product, for each of `batch` independent matrices, all row-major:
 *
 *     C (M,N) = scale * sum_k A(m,k) * B(k,n)        k = 0, 1, ..., K-1
 *     C (M,N) += sum_k A(m,k) * B(k,n)               (accumulate; scale is 1)
 *
 * where A is stored as (M,K), or as (K,M) when it is TRANSPOSED, and B as
 * (K,N), or (N,K) when TRANSPOSED. matmul.cu and attention.cu write each of
 * their products in this one form, so they read like the formulas in
 * notes.md, and either engine below can compute them:
 *
 *   readable  gemm_tiled_kernel, this file's own kernel: 64x64 output tiles,
 *             k in order, as described below.
 *   fast      cuBLAS (cublasSgemmStridedBatched), NVIDIA's tuned library,
 *             in FP32, or TF32 when asked (--tf32).
 *
 * gpu_select_kernels() picks the engine for every later product; the other
 * ops (layernorm, GELU, softmax, ...) are the same kernels in both sets.
 *
 * ---- the readable engine: gemm_tiled_kernel ----
 *
 * Thread mapping, beside the reference loops (gpt2.c, `make REFERENCE=1`):
 * the reference computes each output as its own running sum,
 *     acc = start; for k = 0..K-1: acc += A(m,k) * B(k,n)
 * with start = the existing C[m][n] (accumulate) or 0. Here one block of 256
 * threads owns a 64x64 tile of C (blockIdx.x, .y), and blockIdx.z picks the
 * matrix of the batch. Thread (ty, tx) of the 16x16 grid keeps the 16 sums
 *     rows ty, ty+16, ty+32, ty+48  x  columns tx, tx+16, tx+32, tx+48
 * in registers (4x4 register blocking). The k loop goes TILE_K = 16 at a
 * time: the block copies a 64x16 slice of A and a 16x64 slice of B into
 * shared memory, then every thread runs those 16 steps of its 16 sums.
 * Each sum therefore starts where the reference starts and adds the same
 * products in the same order, k = 0, 1, ..., K-1: built without fused
 * multiply-add (`make cuda FMAD=0`, or the emulator), every output equals the
 * reference build's bit for bit (test_kernels checks this where it holds).
 * With nvcc's default FMA contraction each `acc += a*b` rounds once instead
 * of twice, so the results differ from the reference in the last bits.
 *
 * Why tiles: a naive kernel (one thread per output, a dot product of length
 * K straight from global memory) reads 2K floats per output. With 64x64
 * tiles each float loaded from global memory is used 64 times, and with 4x4
 * register blocks each float read from shared memory is used 4 times.
 *
 * Shared-memory banks: shared memory is 32 banks of 4-byte words, word w in
 * bank w % 32; a warp's access is one transaction if its 32 threads hit 32
 * different banks (or the same word). Loading a slice whose rows run along
 * k (A in the forward pass, and the weights there), consecutive threads take
 * consecutive k: 16 threads with the same row r, k = 0..15, and the other 16
 * with row r + 1. Stored k-major as As[k][r] with rows of 64 floats, the
 * first 16 would all land in bank r % 32: a 16-way conflict. Rows of
 * TILE + 2 = 66 floats put k in bank (2k + r) % 32: the first 16 threads in
 * banks r, r+2, ..., r+30, the other 16 in the 16 banks between, no conflict.
 * (A slice whose rows run along m or n is loaded along them: consecutive
 * banks, no conflict at any padding.) The inner loop reads As[k][ty + 16i]
 * (two addresses per warp) and Bs[k][tx + 16j] (16 consecutive words),
 * conflict-free with any padding.
 *
 * What it leaves on the table (the fast engine has all of it): no vector
 * loads, no double buffering of the next slice, 8 shared loads for 16 FMAs,
 * and no split over k, so the dW products, whose output does not grow with
 * the batch, fill few blocks (144 for 768x768). notes.md estimates the gap.
 *
 * ---- the fast engine: cuBLAS ----
 *
 * cuBLAS is column-major: the (R, C) row-major matrix in memory is, to it,
 * the (C, R) matrix that is its transpose. So the row-major product
 * C = A B is, to cuBLAS, C^T = B^T A^T: the call passes B first, then A,
 * and swaps M and N (gemm_cublas below). Its summation order is its own
 * (and may split k across blocks, adding the parts in a fixed order), so
 * its results differ from the reference's in the last bits, like any
 * reordering.
 *
 * Math mode, set explicitly on the handle: FP32 (CUBLAS_DEFAULT_MATH, which
 * for single-precision routines never computes with fewer mantissa bits
 * than FP32) unless --tf32 asked for CUBLAS_TF32_TENSOR_OP_MATH, where tensor
 * cores multiply inputs cut to TF32 (8-bit exponent, 10-bit mantissa,
 * relative error up to 2^-10) and add in FP32. Determinism: cuBLAS gives the
 * same bits on every run on the same GPU model with the same cuBLAS version,
 * when, as here, everything runs on one stream; atomics are left at their
 * default (not allowed), set explicitly all the same.
 */
#include <cublas_v2.h>

#include "cuda_common.cuh"
#include "gpt2_gpu.h"
#include "kernels.h"

/* ---- the kernel set in use ---- */

static GpuKernels kernel_set = GPU_KERNELS_FAST;
static int use_tf32 = 0;
static cublasHandle_t handle = NULL; /* created at the first cuBLAS product */

#define CUBLAS_CHECK(call)                                                                  \
    do {                                                                                    \
        cublasStatus_t st_ = (call);                                                        \
        if (st_ != CUBLAS_STATUS_SUCCESS) die("%s:%d: cuBLAS error %d", __FILE__, __LINE__, (int)st_); \
    } while (0)

static void set_math_mode(void) {
    CUBLAS_CHECK(cublasSetMathMode(handle, use_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    CUBLAS_CHECK(cublasSetAtomicsMode(handle, CUBLAS_ATOMICS_NOT_ALLOWED));
}

void gpu_select_kernels(GpuKernels set, int tf32) {
    if (set != GPU_KERNELS_FAST && set != GPU_KERNELS_READABLE) die("gpu_select_kernels: unknown kernel set %d", (int)set);
    if (tf32 && set != GPU_KERNELS_FAST) die_usage("--tf32 needs --kernels fast (TF32 is a cuBLAS math mode)");
    kernel_set = set;
    use_tf32 = tf32 != 0;
    if (handle) set_math_mode();
}

GpuKernels gpu_kernels(void) { return kernel_set; }
int gpu_tf32(void) { return use_tf32; }

const char *gpu_kernels_name(void) {
    if (kernel_set == GPU_KERNELS_READABLE) return "readable";
    return use_tf32 ? "fast+tf32" : "fast";
}

/* ---- the readable engine ---- */

#define TILE 64   /* output tile: TILE x TILE */
#define TILE_K 16 /* k-slice staged in shared memory per step */
#define TILE_PAD 2 /* row padding against bank conflicts (see the top) */
#define TILE_THREADS 256
#define PER_THREAD (TILE / 16) /* 4 rows x 4 columns per thread */

/* Matrix z of the batch: C_z[m*N + n] = start + sum_k A_z[m*a_m + k*a_k] * B_z[k*b_k + n*b_n],
 * times scale; start = C_z[m*N + n] if accumulate (scale is then 1), else 0. */
__global__ void __launch_bounds__(TILE_THREADS)
    gemm_tiled_kernel(float *C, const float *A, const float *B, int M, int N, int K, size_t a_m, size_t a_k,
                      size_t b_k, size_t b_n, float scale, int accumulate, size_t stride_a, size_t stride_b,
                      size_t stride_c) {
    __shared__ float As[TILE_K][TILE + TILE_PAD]; /* As[k][m]: k-major so the inner loop reads along m */
    __shared__ float Bs[TILE_K][TILE + TILE_PAD]; /* Bs[k][n] */
    A += blockIdx.z * stride_a;
    B += blockIdx.z * stride_b;
    C += blockIdx.z * stride_c;
    int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    int m0 = blockIdx.y * TILE, n0 = blockIdx.x * TILE;

    float acc[PER_THREAD][PER_THREAD];
    for (int i = 0; i < PER_THREAD; i++) {
        for (int j = 0; j < PER_THREAD; j++) {
            int m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
            acc[i][j] = (accumulate && m < M && n < N) ? C[(size_t)m * N + n] : 0.0f;
        }
    }

    for (int k0 = 0; k0 < K; k0 += TILE_K) {
        /* Stage the slices; outside the matrices they are 0, and adding 0*0
         * leaves a sum unchanged, so edge tiles need no special case below.
         * Consecutive threads load along whichever index is contiguous in
         * memory, so each warp's loads are coalesced. */
        for (int e = threadIdx.x; e < TILE * TILE_K; e += TILE_THREADS) {
            int r = a_k == 1 ? e / TILE_K : e % TILE;
            int ka = a_k == 1 ? e % TILE_K : e / TILE;
            int m = m0 + r, k = k0 + ka;
            As[ka][r] = (m < M && k < K) ? A[(size_t)m * a_m + (size_t)k * a_k] : 0.0f;
            int c = b_n == 1 ? e % TILE : e / TILE_K;
            int kb = b_n == 1 ? e / TILE : e % TILE_K;
            int n = n0 + c, k2 = k0 + kb;
            Bs[kb][c] = (n < N && k2 < K) ? B[(size_t)k2 * b_k + (size_t)n * b_n] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < TILE_K; kk++) {
            float a[PER_THREAD], b[PER_THREAD];
            for (int i = 0; i < PER_THREAD; i++) a[i] = As[kk][ty + 16 * i];
            for (int j = 0; j < PER_THREAD; j++) b[j] = Bs[kk][tx + 16 * j];
            for (int i = 0; i < PER_THREAD; i++)
                for (int j = 0; j < PER_THREAD; j++) acc[i][j] += a[i] * b[j];
        }
        __syncthreads(); /* before the next slice overwrites As and Bs */
    }

    for (int i = 0; i < PER_THREAD; i++) {
        for (int j = 0; j < PER_THREAD; j++) {
            int m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
            if (m < M && n < N) C[(size_t)m * N + n] = acc[i][j] * scale;
        }
    }
}

static void gemm_tiled(float *C, const float *A, GemmLayout a, const float *B, GemmLayout b, int M, int N, int K,
                       float scale, int accumulate, int batch, size_t stride_a, size_t stride_b, size_t stride_c) {
    /* element (m,k) of A and (k,n) of B, as strides */
    size_t a_m = a == GEMM_TRANSPOSED ? 1 : (size_t)K, a_k = a == GEMM_TRANSPOSED ? (size_t)M : 1;
    size_t b_k = b == GEMM_TRANSPOSED ? 1 : (size_t)N, b_n = b == GEMM_TRANSPOSED ? (size_t)K : 1;
    dim3 grid(ceil_div((size_t)N, TILE), ceil_div((size_t)M, TILE), (unsigned)batch);
    gemm_tiled_kernel<<<grid, TILE_THREADS>>>(C, A, B, M, N, K, a_m, a_k, b_k, b_n, scale, accumulate, stride_a,
                                              stride_b, stride_c);
    CUDA_CHECK_LAUNCH();
}

/* ---- the fast engine ---- */

static void gemm_cublas(float *C, const float *A, GemmLayout a, const float *B, GemmLayout b, int M, int N, int K,
                        float scale, int accumulate, int batch, size_t stride_a, size_t stride_b, size_t stride_c) {
    if (!handle) {
        CUBLAS_CHECK(cublasCreate(&handle));
        set_math_mode();
    }
    float beta = accumulate ? 1.0f : 0.0f;
    /* Row-major C (M,N) = A B is column-major C^T (N,M) = B^T A^T. A row-major
     * matrix stored (R, C) is, column-major, already its transpose with
     * leading dimension C: so B as stored serves as B^T (no op) and A as
     * stored as A^T; a TRANSPOSED operand needs cuBLAS's transpose. */
    cublasOperation_t op_b = b == GEMM_TRANSPOSED ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t op_a = a == GEMM_TRANSPOSED ? CUBLAS_OP_T : CUBLAS_OP_N;
    int ld_b = b == GEMM_TRANSPOSED ? K : N; /* the row length of B as stored */
    int ld_a = a == GEMM_TRANSPOSED ? M : K;
    CUBLAS_CHECK(cublasSgemmStridedBatched(handle, op_b, op_a, N, M, K, &scale, B, ld_b, (long long)stride_b, A, ld_a,
                                           (long long)stride_a, &beta, C, N, (long long)stride_c, batch));
}

void gemm_batched_gpu(float *C, const float *A, GemmLayout a, const float *B, GemmLayout b, int M, int N, int K,
                      float scale, int accumulate, int batch, size_t stride_a, size_t stride_b, size_t stride_c) {
    if (accumulate && scale != 1.0f) die("gemm: accumulate with a scale other than 1 is not supported");
    if (M <= 0 || N <= 0 || batch <= 0) return;
    if (kernel_set == GPU_KERNELS_FAST)
        gemm_cublas(C, A, a, B, b, M, N, K, scale, accumulate, batch, stride_a, stride_b, stride_c);
    else
        gemm_tiled(C, A, a, B, b, M, N, K, scale, accumulate, batch, stride_a, stride_b, stride_c);
}

void gemm_gpu(float *C, const float *A, GemmLayout a, const float *B, GemmLayout b, int M, int N, int K, float scale,
              int accumulate) {
    gemm_batched_gpu(C, A, a, B, b, M, N, K, scale, accumulate, 1, 0, 0, 0);
}
