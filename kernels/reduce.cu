/*
 * reduce.cu: deterministic sums down the columns of a (rows, cols) matrix.
 *
 * Bias and layernorm-parameter gradients are sums over all B*T positions, one
 * per channel: dbias[c] = sum_bt dout[bt, c]. The reference adds, for each
 * channel, all B*T rows in order. On the GPU one thread per channel would be only C
 * threads (768 for GPT-2 small) each making 16384 dependent additions: far too
 * few threads to keep the memory system busy. So it takes two passes:
 *
 *   pass 1 (in the op's own kernel): thread (c, k) sums rows
 *          k*COLUMN_CHUNK .. (k+1)*COLUMN_CHUNK - 1 of column c, in order,
 *          into partials[k, c]  (num_chunks * cols threads);
 *   pass 2 (here): thread c adds partials[0, c], partials[1, c], ... in order.
 *
 * Chunk boundaries depend only on the number of rows, never on the GPU, so
 * the result is the same bits on every run; it differs from the reference's
 * single left-to-right sum only by rounding (a different grouping of the same
 * terms).
 */
#include "cuda_common.cuh"
#include "kernels.h"

size_t column_partials_size(size_t rows, size_t cols) { return ceil_div(rows, COLUMN_CHUNK) * cols; }

__global__ void column_partials_finish_kernel(float *dst, const float *partials, int num_chunks, int cols) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float acc = 0.0f;
    for (int k = 0; k < num_chunks; k++) acc += partials[(size_t)k * cols + c];
    dst[c] += acc; /* parameter gradients accumulate */
}

void column_partials_finish(float *dst, const float *partials, int num_chunks, int cols) {
    column_partials_finish_kernel<<<ceil_div((size_t)cols, BLOCK), BLOCK>>>(dst, partials, num_chunks, cols);
    CUDA_CHECK_LAUNCH();
}
