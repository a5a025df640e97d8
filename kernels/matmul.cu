/*
 * matmul.cu: GPU twin of matmul_forward / matmul_backward (gpt2.c): a linear
 * layer, out = inp @ weight^T + bias.
 *
 * The reference loops (gpt2.c, `make REFERENCE=1`), and what runs here:
 *
 *   out[bt][o]   = bias[o] (or 0), then += inp[bt][i] * w[o][i], i = 0..C-1
 *                  -> bias copied into out (broadcast_bias_kernel), then one
 *                     product adding onto it: out (BT,OC) += inp (BT,C) @ w^T
 *   dinp[bt][i]  = 0, then += dout[bt][o] * w[o][i], o = 0..OC-1
 *                  -> dinp (BT,C) = dout (BT,OC) @ w (OC,C)
 *   dw[o][i]    += dout[bt][o] * inp[bt][i], bt = 0..BT-1, from dw's value
 *                  -> dw (OC,C) += dout^T @ inp
 *   dbias[o]    += dout[bt][o], bt = 0..BT-1
 *                  -> reduce.cu's two-pass column sum (bias_partials_kernel)
 *
 * The three products are gemm.cu's, computed by the kernel set in use: the
 * readable tiled kernel, whose sums start where the reference's start and
 * add k in the same order (so only FMA contraction separates them), or
 * cuBLAS (its own order). The column sum of dbias adds chunks of 256 rows,
 * then the chunks: the same terms as the reference in a different grouping.
 *
 * Memory traffic: the products dominate (gemm.cu); the bias broadcast writes
 * out once more, and dbias reads dout once.
 */
#include "cuda_common.cuh"
#include "kernels.h"

/* out[bt][o] = bias[o], so that the product can add onto it as the reference's sum does */
__global__ void broadcast_bias_kernel(float *out, const float *bias, size_t rows, int OC) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < rows * OC) out[idx] = bias[idx % OC];
}

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

void matmul_forward_gpu(float *out, const float *inp, const float *weight, const float *bias, int B, int T, int C,
                        int OC) {
    int BT = B * T;
    if (bias) {
        broadcast_bias_kernel<<<ceil_div((size_t)BT * OC, BLOCK), BLOCK>>>(out, bias, (size_t)BT, OC);
        CUDA_CHECK_LAUNCH();
    }
    /* out (BT,OC) [+]= inp (BT,C) @ weight^T, weight stored (OC,C) */
    gemm_gpu(out, inp, GEMM_AS_STORED, weight, GEMM_TRANSPOSED, BT, OC, C, 1.0f, bias != NULL);
}

void matmul_backward_gpu(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                         const float *weight, int B, int T, int C, int OC, float *workspace) {
    int BT = B * T;
    /* dinp (BT,C) = dout (BT,OC) @ weight (OC,C) */
    gemm_gpu(dinp, dout, GEMM_AS_STORED, weight, GEMM_AS_STORED, BT, C, OC, 1.0f, 0);
    /* dweight (OC,C) += dout^T (OC,BT) @ inp (BT,C) */
    gemm_gpu(dweight, dout, GEMM_TRANSPOSED, inp, GEMM_AS_STORED, OC, C, BT, 1.0f, 1);
    if (dbias) {
        unsigned num_chunks = ceil_div((size_t)BT, COLUMN_CHUNK);
        dim3 grid(ceil_div((size_t)OC, BLOCK), num_chunks);
        bias_partials_kernel<<<grid, BLOCK>>>(workspace, dout, (size_t)BT, OC);
        CUDA_CHECK_LAUNCH();
        column_partials_finish(dbias, workspace, (int)num_chunks, OC);
    }
}
