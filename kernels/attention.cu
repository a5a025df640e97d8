/*
 * attention.cu: GPU twin of attention_forward / attention_backward (gpt2.c):
 * causal multi-head self-attention, written for reading, not for speed.
 *
 * Thread mapping, beside the CPU loops:
 *
 *   attention_forward    CPU: for b, h, t (a query row): scores over t2 <= t,
 *                        softmax, then out[t] = sum_t2 att[t2] * v[t2].
 *                        GPU: one block of ATT_THREADS threads per (b, h, t),
 *                        B*NH*T blocks. Inside the block:
 *                          - thread j computes the scores t2 = j, j+128, ...
 *                            (each a dot product over the head, in CPU order);
 *                          - the row max and the sum of exponentials are block
 *                            reductions (cuda_common.cuh);
 *                          - thread i < hs computes out[t][i], adding t2 = 0..t
 *                            in order, like the CPU.
 *
 *   attention_backward   The CPU walks t in order and scatters into dk[t2] and
 *                        dv[t2] for every t2 <= t: many queries add into one
 *                        key. In parallel that would need atomics, so the GPU
 *                        turns the scatter into a gather, in two kernels:
 *     kernel 1, one block per (b, h, t) row, like the forward:
 *         datt[t][t2] = dout[t] . v[t2]   (0 for t2 > t)
 *         row_dot[t]  = sum_t2 att[t][t2] * datt[t][t2]      (block reduction)
 *     kernel 2, one thread per (b, t, h, i), B*T*C threads, each WRITING its
 *         position's three entries of dqkv, with
 *         dscore[t][t2] = att[t][t2] * (datt[t][t2] - row_dot[t]) / sqrt(hs):
 *           dq[t][i] = sum over t2 = 0..t      of dscore[t][t2] * k[t2][i]
 *           dk[t][i] = sum over t' = t..T-1    of dscore[t'][t] * q[t'][i]
 *           dv[t][i] = sum over t' = t..T-1    of att[t'][t]   * dout[t'][i]
 *         each sum in increasing order, as the CPU adds them. Every thread
 *         runs T+1 steps in total, so the work is balanced across t.
 *
 * Memory traffic: the (B,NH,T,T) att matrix dominates. The forward writes it
 * once; kernel 1 reads it and writes datt; kernel 2 reads both again, a column
 * at a time for dk and dv (stride T: poor locality, which a faster variant,
 * e.g. FlashAttention's tiling, would fix by never storing att at all). The
 * simple version is kept here because it maps one to one onto the CPU loops.
 */
#include <math.h>

#include "cuda_common.cuh"
#include "kernels.h"

#define ATT_THREADS 128

__global__ void __launch_bounds__(ATT_THREADS)
    attention_forward_kernel(float *out, float *att, const float *qkv, int T, int C, int NH) {
    int hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
    size_t C3 = (size_t)3 * C;
    size_t row = blockIdx.x; /* (b*NH + h)*T + t: the row of att; the grid has B*NH*T blocks */
    int t = (int)(row % T), h = (int)(row / T % NH), b = (int)(row / T / NH);
    const float *q = qkv + ((size_t)b * T + t) * C3 + (size_t)h * hs;
    float *a = att + row * T;

    float maxv = -INFINITY;
    for (int t2 = threadIdx.x; t2 <= t; t2 += blockDim.x) {
        const float *k = qkv + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
        float s = 0.0f;
        for (int i = 0; i < hs; i++) s += q[i] * k[i];
        s *= scale;
        a[t2] = s;
        if (s > maxv) maxv = s;
    }
    maxv = block_reduce(maxv, MaxOp(), -INFINITY);
    float sum = 0.0f;
    for (int t2 = threadIdx.x; t2 <= t; t2 += blockDim.x) {
        a[t2] = expf(a[t2] - maxv); /* each thread rereads only the entries it wrote */
        sum += a[t2];
    }
    float inv = 1.0f / block_reduce(sum, SumOp(), 0.0f);
    for (int t2 = threadIdx.x; t2 < T; t2 += blockDim.x) a[t2] = t2 <= t ? a[t2] * inv : 0.0f;
    __syncthreads(); /* the whole row is needed below, written by every thread */

    float *o = out + ((size_t)b * T + t) * C + (size_t)h * hs;
    for (int i = threadIdx.x; i < hs; i += blockDim.x) {
        float acc = 0.0f;
        for (int t2 = 0; t2 <= t; t2++) acc += a[t2] * qkv[((size_t)b * T + t2) * C3 + 2 * (size_t)C + (size_t)h * hs + i];
        o[i] = acc;
    }
}

void attention_forward_gpu(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    attention_forward_kernel<<<(unsigned)((size_t)B * NH * T), ATT_THREADS>>>(out, att, qkv, T, C, NH);
    CUDA_CHECK_LAUNCH();
}

/* Kernel 1: datt for one row and row_dot[row] = sum_t2 att * datt. */
__global__ void __launch_bounds__(ATT_THREADS)
    attention_backward_datt_kernel(float *datt, float *row_dot, const float *dout, const float *qkv, const float *att,
                                   int T, int C, int NH) {
    int hs = C / NH;
    size_t C3 = (size_t)3 * C;
    size_t row = blockIdx.x;
    int t = (int)(row % T), h = (int)(row / T % NH), b = (int)(row / T / NH);
    const float *d = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
    const float *a = att + row * T;
    float *da = datt + row * T;
    float dot = 0.0f;
    for (int t2 = threadIdx.x; t2 < T; t2 += blockDim.x) {
        float s = 0.0f;
        if (t2 <= t) {
            const float *v = qkv + ((size_t)b * T + t2) * C3 + 2 * (size_t)C + (size_t)h * hs;
            for (int i = 0; i < hs; i++) s += d[i] * v[i];
            dot += a[t2] * s;
        }
        da[t2] = s;
    }
    dot = block_reduce(dot, SumOp(), 0.0f);
    if (threadIdx.x == 0) row_dot[row] = dot;
}

/* Kernel 2: thread (b, t, h, i) writes dq, dk, dv of position t, channel i of head h. */
__global__ void attention_backward_dqkv_kernel(float *dqkv, const float *datt, const float *row_dot,
                                               const float *dout, const float *qkv, const float *att, int B, int T,
                                               int C, int NH) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; /* (b*T + t)*C + h*hs + i */
    if (idx >= (size_t)B * T * C) return;
    int hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
    size_t C3 = (size_t)3 * C;
    int c = (int)(idx % C), t = (int)(idx / C % T), b = (int)(idx / C / T);
    int h = c / hs;
    size_t bh_rows = ((size_t)b * NH + h) * T;                 /* first att row of (b, h) */
    const float *qkv_b = qkv + (size_t)b * T * C3 + c;         /* q[t][c] = qkv_b[t*C3] */

    float dq = 0.0f; /* query t against keys t2 <= t: row t of att */
    const float *a = att + (bh_rows + t) * T, *da = datt + (bh_rows + t) * T;
    float dot = row_dot[bh_rows + t];
    for (int t2 = 0; t2 <= t; t2++) dq += a[t2] * (da[t2] - dot) * scale * qkv_b[(size_t)t2 * C3 + C];

    float dk = 0.0f, dv = 0.0f; /* key/value t against queries t' >= t: column t of att */
    for (int tq = t; tq < T; tq++) {
        size_t r = bh_rows + tq;
        float at = att[r * T + t];
        float ds = at * (datt[r * T + t] - row_dot[r]) * scale;
        dk += ds * qkv_b[(size_t)tq * C3];
        dv += at * dout[((size_t)b * T + tq) * C + c];
    }
    float *out = dqkv + ((size_t)b * T + t) * C3 + c;
    out[0] = dq;
    out[C] = dk;
    out[2 * (size_t)C] = dv;
}

void attention_backward_gpu(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att, int B,
                            int T, int C, int NH, float *workspace) {
    float *row_dot = workspace; /* (B, NH, T) */
    attention_backward_datt_kernel<<<(unsigned)((size_t)B * NH * T), ATT_THREADS>>>(datt, row_dot, dout, qkv, att, T,
                                                                                    C, NH);
    CUDA_CHECK_LAUNCH();
    attention_backward_dqkv_kernel<<<ceil_div((size_t)B * T * C, BLOCK), BLOCK>>>(dqkv, datt, row_dot, dout, qkv,
                                                                                  att, B, T, C, NH);
    CUDA_CHECK_LAUNCH();
}
