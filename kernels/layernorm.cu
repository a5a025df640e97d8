/*
 * layernorm.cu: GPU twin of layernorm_forward / layernorm_backward (gpt2.c).
 *
 * Thread mapping, beside the reference loops (gpt2.c, `make REFERENCE=1`):
 *
 *   layernorm_forward    reference: for each row bt (B*T of them):
 *                          mean = (sum x)/C, var = (sum (x-mean)^2)/C,
 *                          rstd = 1/sqrtf(var + 1e-5), then the C outputs.
 *                        GPU: one warp (32 threads) per row, 8 rows per block.
 *                        Lane j handles channels j, j+32, j+64, ...; the two
 *                        sums are warp sums (cuda_common.cuh), then each lane
 *                        writes its channels, with the same formulas.
 *
 *   layernorm_backward   reference loop 1, over rows: dinp += rstd*(g - mean(g) - xhat*mean(g*xhat))
 *                        GPU: the same, one warp per row, two warp sums per row.
 *                        reference loop 2: dweight, dbias = sums over rows
 *                        GPU: a two-pass column sum (reduce.cu): thread (i, chunk)
 *                        sums its chunk of rows, then one thread per channel adds
 *                        the chunk sums in order.
 *
 * Why a warp per row: a row is C floats (768 for GPT-2 small), a good amount of
 * work for 32 threads, and a warp can sum without shared memory or
 * __syncthreads (shuffles). The reference adds each sum left to right; the
 * warp adds 32 interleaved partial sums, then combines them in a butterfly:
 * the same terms in a different grouping, so the last bits differ. (Layernorm
 * has no fast twin on the CPU: both CPU builds add left to right.)
 *
 * Memory traffic per row: forward reads x three times (mean, variance,
 * output: the repeats hit L1) and writes C outputs; backward reads dout and x
 * twice and read-modify-writes dinp.
 */
#include "cuda_common.cuh"
#include "kernels.h"

#define ROWS_PER_BLOCK (BLOCK / WARP)

__global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                                         const float *bias, size_t rows, int C) {
    size_t row = (size_t)blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / WARP;
    int lane = threadIdx.x % WARP;
    if (row >= rows) return; /* the whole warp leaves together, so the shuffles stay full */
    const float *x = inp + row * C;
    float sum = 0.0f;
    for (int i = lane; i < C; i += WARP) sum += x[i];
    float m = warp_reduce(sum, SumOp()) / C;
    float var = 0.0f;
    for (int i = lane; i < C; i += WARP) var += (x[i] - m) * (x[i] - m);
    var = warp_reduce(var, SumOp()) / C;
    float s = 1.0f / sqrtf(var + 1e-5f);
    float *o = out + row * C;
    for (int i = lane; i < C; i += WARP) o[i] = (x[i] - m) * s * weight[i] + bias[i];
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = s;
    }
}

void layernorm_forward_gpu(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                           const float *bias, int B, int T, int C) {
    size_t rows = (size_t)B * T;
    layernorm_forward_kernel<<<ceil_div(rows, ROWS_PER_BLOCK), BLOCK>>>(out, mean, rstd, inp, weight, bias, rows, C);
    CUDA_CHECK_LAUNCH();
}

/* dinp[row] += rstd * (g - mean(g) - xhat * mean(g * xhat)),  g = dout * weight */
__global__ void layernorm_backward_input_kernel(float *dinp, const float *dout, const float *inp,
                                                const float *weight, const float *mean, const float *rstd,
                                                size_t rows, int C) {
    size_t row = (size_t)blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / WARP;
    int lane = threadIdx.x % WARP;
    if (row >= rows) return;
    const float *x = inp + row * C, *d = dout + row * C;
    float m = mean[row], s = rstd[row];
    float g_sum = 0.0f, gx_sum = 0.0f;
    for (int i = lane; i < C; i += WARP) {
        float g = d[i] * weight[i];
        g_sum += g;
        gx_sum += g * (x[i] - m) * s;
    }
    float g_mean = warp_reduce(g_sum, SumOp()) / C;
    float gx_mean = warp_reduce(gx_sum, SumOp()) / C;
    float *dx = dinp + row * C;
    for (int i = lane; i < C; i += WARP) {
        float xhat = (x[i] - m) * s;
        dx[i] += s * (d[i] * weight[i] - g_mean - xhat * gx_mean);
    }
}

/* Pass 1 of the parameter sums: thread (i, chunk) over the chunk's rows.
 * partials holds (num_chunks, C) for dweight, then (num_chunks, C) for dbias. */
__global__ void layernorm_backward_params_kernel(float *partials, const float *dout, const float *inp,
                                                 const float *mean, const float *rstd, size_t rows, int C) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int chunk = blockIdx.y;
    if (i >= C) return;
    size_t first = (size_t)chunk * COLUMN_CHUNK;
    size_t last = first + COLUMN_CHUNK < rows ? first + COLUMN_CHUNK : rows;
    float dw = 0.0f, db = 0.0f;
    for (size_t bt = first; bt < last; bt++) {
        float d = dout[bt * C + i];
        dw += d * (inp[bt * C + i] - mean[bt]) * rstd[bt];
        db += d;
    }
    size_t num_chunks = gridDim.y;
    partials[(size_t)chunk * C + i] = dw;
    partials[(num_chunks + chunk) * C + i] = db;
}

void layernorm_backward_gpu(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                            const float *weight, const float *mean, const float *rstd, int B, int T, int C,
                            float *workspace) {
    size_t rows = (size_t)B * T;
    layernorm_backward_input_kernel<<<ceil_div(rows, ROWS_PER_BLOCK), BLOCK>>>(dinp, dout, inp, weight, mean, rstd,
                                                                               rows, C);
    CUDA_CHECK_LAUNCH();
    unsigned num_chunks = ceil_div(rows, COLUMN_CHUNK);
    dim3 grid(ceil_div((size_t)C, BLOCK), num_chunks);
    layernorm_backward_params_kernel<<<grid, BLOCK>>>(workspace, dout, inp, mean, rstd, rows, C);
    CUDA_CHECK_LAUNCH();
    column_partials_finish(dweight, workspace, (int)num_chunks, C);
    column_partials_finish(dbias, workspace + (size_t)num_chunks * C, (int)num_chunks, C);
}
