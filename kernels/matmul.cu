/*
 * matmul.cu: GPU twin of matmul_forward / matmul_backward (gpt2.c): a linear
 * layer, out = inp @ weight^T + bias.
 *
 * All three products of a linear layer are one shape of computation,
 *     R[m][n] = R0[m][n] + sum_k A(m,k) * W(k,n)     k = 0, 1, ..., K-1 in order,
 * with different strides for A and W and a different starting value R0:
 *
 *   forward   out  (BT,OC) = inp (BT,C) @ weight^T     M=BT N=OC K=C   R0 = bias[n] (or 0)
 *   backward  dinp (BT,C)  = dout (BT,OC) @ weight     M=BT N=C  K=OC  R0 = 0      (written)
 *             dW   (OC,C) += dout^T @ inp              M=OC N=C  K=BT  R0 = dW     (accumulated)
 *             dbias (OC)  += column sums of dout       reduce.cu's two passes
 *
 * so one kernel, matmul_tiled_kernel, computes all of them. Starting from R0
 * and adding k in increasing order is exactly what the CPU loops do (sum =
 * bias; sum += x*w ... / dx = 0; dx += g*w ... / dw += g*x ...), so the GPU
 * differs from the CPU only where the compiler fuses a*b+c into one rounding
 * (an FMA; `make cuda FMAD=0` turns that off, see notes.md).
 *
 * Thread mapping. CPU: for each output element, a dot product over k.
 * GPU: the output is cut into 64x64 tiles, one thread block (256 threads) per
 * tile; thread (ty, tx) of the 16x16 grid owns the 16 outputs
 *     rows ty, ty+16, ty+32, ty+48  x  columns tx, tx+16, tx+32, tx+48
 * of its tile (4x4 register blocking). The k loop goes 16 at a time: the block
 * copies a 64x16 slice of A and a 16x64 slice of W into shared memory, then
 * every thread runs 16 steps of its 4x4 outer product from there.
 *
 * Why tiles: a naive kernel (one thread per output, a dot product of length K
 * straight from global memory) reads 2K floats per output. With 64x64 tiles
 * each float loaded from global memory is used 64 times, and with 4x4 register
 * blocks each float read from shared memory is used 4 times: memory traffic
 * falls from 2*M*N*K floats to about M*N*K/32, and the kernel becomes limited
 * by arithmetic instead. The strided row/column assignment (ty + 16i rather
 * than 4ty + i) makes a warp's shared-memory reads either all the same
 * address (a broadcast) or 16 consecutive ones (no bank conflicts), and its
 * global writes consecutive (coalesced).
 *
 * USE_CUBLAS=1 swaps the three products for cuBLAS sgemm calls, to see how far
 * a vendor library gets beyond this readable kernel; its summation order is
 * its own, so its results differ from the CPU's in the last bits like any
 * other reordering.
 */
#include "cuda_common.cuh"
#include "kernels.h"

#ifdef USE_CUBLAS
#include <cublas_v2.h>
#endif

#define TILE 64   /* output tile: TILE x TILE */
#define TILE_K 16 /* k-slice staged in shared memory per step */
#define TILE_THREADS 256
#define PER_THREAD (TILE / 16) /* 4 rows x 4 columns per thread */

/* R[m*N + n] = R0 + sum_k A[m*a_m + k*a_k] * W[k*w_k + n*w_n]
 * R0 = R[m*N + n] if accumulate, else bias[n] if bias, else 0. */
__global__ void __launch_bounds__(TILE_THREADS)
    matmul_tiled_kernel(float *R, const float *A, const float *W, const float *bias, int M, int N, int K, size_t a_m,
                        size_t a_k, size_t w_k, size_t w_n, int accumulate) {
    __shared__ float As[TILE_K][TILE]; /* As[k][m]: A's slice, k-major so the inner loop reads along m */
    __shared__ float Ws[TILE_K][TILE]; /* Ws[k][n] */
    int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    int m0 = blockIdx.y * TILE, n0 = blockIdx.x * TILE;

    float acc[PER_THREAD][PER_THREAD];
    for (int i = 0; i < PER_THREAD; i++) {
        for (int j = 0; j < PER_THREAD; j++) {
            int m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
            float r0 = 0.0f;
            if (m < M && n < N) r0 = accumulate ? R[(size_t)m * N + n] : (bias ? bias[n] : 0.0f);
            acc[i][j] = r0;
        }
    }

    for (int k0 = 0; k0 < K; k0 += TILE_K) {
        /* Stage the slices; outside the matrices they are 0, and adding 0*0
         * leaves a sum unchanged, so edge tiles need no special case below.
         * Consecutive threads load along whichever index is contiguous in
         * memory, so each warp's loads are coalesced. */
        for (int e = threadIdx.x; e < TILE * TILE_K; e += TILE_THREADS) {
            int r = a_k == 1 ? e / TILE_K : e % TILE;
            int kk = a_k == 1 ? e % TILE_K : e / TILE;
            int m = m0 + r, k = k0 + kk;
            As[kk][r] = (m < M && k < K) ? A[(size_t)m * a_m + (size_t)k * a_k] : 0.0f;
            int c = w_n == 1 ? e % TILE : e / TILE_K;
            int kw = w_n == 1 ? e / TILE : e % TILE_K;
            int n = n0 + c, k2 = k0 + kw;
            Ws[kw][c] = (n < N && k2 < K) ? W[(size_t)k2 * w_k + (size_t)n * w_n] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < TILE_K; kk++) {
            float a[PER_THREAD], w[PER_THREAD];
            for (int i = 0; i < PER_THREAD; i++) a[i] = As[kk][ty + 16 * i];
            for (int j = 0; j < PER_THREAD; j++) w[j] = Ws[kk][tx + 16 * j];
            for (int i = 0; i < PER_THREAD; i++)
                for (int j = 0; j < PER_THREAD; j++) acc[i][j] += a[i] * w[j];
        }
        __syncthreads(); /* before the next slice overwrites As and Ws */
    }

    for (int i = 0; i < PER_THREAD; i++) {
        for (int j = 0; j < PER_THREAD; j++) {
            int m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
            if (m < M && n < N) R[(size_t)m * N + n] = acc[i][j];
        }
    }
}

#ifndef USE_CUBLAS
static void matmul_tiled(float *R, const float *A, const float *W, const float *bias, int M, int N, int K, size_t a_m,
                         size_t a_k, size_t w_k, size_t w_n, int accumulate) {
    dim3 grid(ceil_div((size_t)N, TILE), ceil_div((size_t)M, TILE));
    matmul_tiled_kernel<<<grid, TILE_THREADS>>>(R, A, W, bias, M, N, K, a_m, a_k, w_k, w_n, accumulate);
    CUDA_CHECK_LAUNCH();
}
#endif

/* Pass 1 of dbias: partials[chunk, oc] = sum of dout[bt, oc] over the chunk's rows. */
__global__ void bias_partials_kernel(float *partials, const float *dout, size_t rows, int OC) {
    int oc = blockIdx.x * blockDim.x + threadIdx.x;
    int chunk = blockIdx.y;
    if (oc >= OC) return;
    size_t first = (size_t)chunk * COLUMN_CHUNK;
    size_t last = first + COLUMN_CHUNK < rows ? first + COLUMN_CHUNK : rows;
    float db = 0.0f;
    for (size_t bt = first; bt < last; bt++) db += dout[bt * OC + oc];
    partials[(size_t)chunk * OC + oc] = db;
}

#ifdef USE_CUBLAS
/* cuBLAS is column-major: a row-major (R, C) matrix is, to it, a (C, R) matrix
 * that is already transposed. The three calls below are the products of the
 * table at the top, written for that view. */
static cublasHandle_t cublas_handle(void) {
    static cublasHandle_t handle = NULL;
    if (!handle && cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) die("cuBLAS: cublasCreate failed");
    return handle;
}
#define CUBLAS_CHECK(call) \
    do { if ((call) != CUBLAS_STATUS_SUCCESS) die("%s:%d: cuBLAS call failed", __FILE__, __LINE__); } while (0)

/* out[bt][o] = bias[o], so that the gemm can add onto it (beta = 1) */
__global__ void broadcast_bias_kernel(float *out, const float *bias, size_t rows, int OC) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < rows * OC) out[idx] = bias[idx % OC];
}
#endif

void matmul_forward_gpu(float *out, const float *inp, const float *weight, const float *bias, int B, int T, int C,
                        int OC) {
    int BT = B * T;
#ifdef USE_CUBLAS
    float one = 1.0f, zero = 0.0f;
    if (bias) {
        broadcast_bias_kernel<<<ceil_div((size_t)BT * OC, BLOCK), BLOCK>>>(out, bias, (size_t)BT, OC);
        CUDA_CHECK_LAUNCH();
    }
    CUBLAS_CHECK(cublasSgemm(cublas_handle(), CUBLAS_OP_T, CUBLAS_OP_N, OC, BT, C, &one, weight, C, inp, C,
                             bias ? &one : &zero, out, OC));
#else
    /* A(m,k) = inp[m*C + k], W(k,n) = weight[n*C + k] */
    matmul_tiled(out, inp, weight, bias, BT, OC, C, (size_t)C, 1, 1, (size_t)C, 0);
#endif
}

void matmul_backward_gpu(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                         const float *weight, int B, int T, int C, int OC, float *workspace) {
    int BT = B * T;
#ifdef USE_CUBLAS
    float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasSgemm(cublas_handle(), CUBLAS_OP_N, CUBLAS_OP_N, C, BT, OC, &one, weight, C, dout, OC, &zero,
                             dinp, C));
    CUBLAS_CHECK(cublasSgemm(cublas_handle(), CUBLAS_OP_N, CUBLAS_OP_T, C, OC, BT, &one, inp, C, dout, OC, &one,
                             dweight, C));
#else
    /* dinp: A(m,k) = dout[m*OC + k], W(k,n) = weight[k*C + n] */
    matmul_tiled(dinp, dout, weight, NULL, BT, C, OC, (size_t)OC, 1, (size_t)C, 1, 0);
    /* dweight: A(m,k) = dout[k*OC + m], W(k,n) = inp[k*C + n] */
    matmul_tiled(dweight, dout, inp, NULL, OC, C, BT, 1, (size_t)OC, (size_t)C, 1, 1);
#endif
    if (dbias) {
        unsigned num_chunks = ceil_div((size_t)BT, COLUMN_CHUNK);
        dim3 grid(ceil_div((size_t)OC, BLOCK), num_chunks);
        bias_partials_kernel<<<grid, BLOCK>>>(workspace, dout, (size_t)BT, OC);
        CUDA_CHECK_LAUNCH();
        column_partials_finish(dbias, workspace, (int)num_chunks, OC);
    }
}
