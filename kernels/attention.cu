/*
 * attention.cu: GPU twin of attention_forward / attention_backward (gpt2.c):
 * causal multi-head self-attention.
 *
 * The reference loops (gpt2.c, `make REFERENCE=1`), for each batch row b,
 * head h and query position t, with q, k, v the head's slices of qkv:
 *
 *   score[t2] = (sum_i q[t][i] * k[t2][i]) * (1/sqrtf(hs))    t2 = 0..t
 *   att[t2]   = expf(score[t2] - max) * (1/sum)                (0 for t2 > t)
 *   out[t][i] = sum over t2 = 0..t of att[t2] * v[t2][i]
 *
 * Each (b, h) is a small matrix problem: with Q, K, V the (T, hs) matrices of
 * that head, the scores are Q K^T (times the scale) and out is att V. So the
 * GPU computes attention as matrix products, batched over the B*NH heads
 * (gemm.cu, the readable tiled kernel or cuBLAS, whichever set is in use),
 * with a softmax kernel between them:
 *
 *   1. to_heads_kernel: q, k, v from qkv (B,T,3,NH,hs) into three (B,NH,T,hs)
 *      arrays, so each head's matrix is contiguous (one thread per float,
 *      consecutive threads on consecutive i: coalesced on both sides).
 *   2. att = Q K^T * scale, all T x T of it (T x T x hs multiply-adds per
 *      head; the half above the diagonal is computed and then discarded).
 *   3. causal_softmax_forward_kernel: one warp per row (b, h, t): the max and
 *      the sum over t2 <= t are warp reductions, zeros after t, in place.
 *   4. y = att V: (T,T) @ (T,hs); the zeros above the diagonal add nothing.
 *   5. from_heads_kernel: y (B,NH,T,hs) back to out (B,T,C).
 *
 * Backward, from the reference's scatter loops (gpt2.c):
 *   datt[t][t2]   = dout[t] . v[t2]                         -> dY V^T
 *   dv[t2][i]    += att[t][t2] * dout[t][i]   over t         -> att^T dY
 *   dscore[t][t2] = att[t][t2] * (datt[t][t2] - sum_j att[t][j] datt[t][j]) * scale
 *                                                            -> causal_softmax_backward_kernel
 *   dq[t][i]     += dscore[t][t2] * k[t2][i]  over t2        -> dscore K
 *   dk[t2][i]    += dscore[t][t2] * q[t][i]   over t         -> dscore^T Q
 * The scatter into dk and dv (every later query adds into a key) becomes a
 * product with a transposed operand: each output has one owner, no atomics.
 *
 * Summation order against the reference: each product's sum starts at 0 and
 * adds k in increasing order in the readable kernel, which is the reference's
 * order for all six products: for the backward ones, as long as the
 * reference's loops run over t and t2 in increasing order, as gpt2.c's do.
 * The masked entries (att and dscore above the diagonal) are exact zeros,
 * and adding a zero product leaves a sum unchanged. So only FMA contraction
 * separates each product from the reference's, given the same inputs. The
 * softmax sum and the row dot are warp reductions: the same terms in a
 * different grouping.
 *
 * Memory: the (B,NH,T,T) att matrix dominates; the forward writes it once
 * (scores) and rewrites it (softmax); the backward writes datt and dscore (a
 * workspace array the same size, so datt keeps the reference's contents) and
 * reads att three times. FlashAttention-style kernels never store att; this
 * project keeps it because the backward and the comparison tools read it.
 * The workspace also holds the head-major copies: 7 x B*T*C floats.
 */
#include <math.h>

#include "cuda_common.cuh"
#include "kernels.h"

/* Element idx of a head-major (B,NH,T,hs) array sits, in the token-major
 * layout (B,T,NH,hs) whose positions are `row` floats apart, at the index
 * returned: row is C for out and dout, 3C inside qkv. */
__device__ size_t token_major_index(size_t idx, int T, int NH, int hs, size_t row) {
    int i = (int)(idx % hs);
    size_t t = idx / hs % T, h = idx / hs / T % NH, b = idx / hs / T / NH;
    return (b * T + t) * row + h * hs + i;
}

/* head_major[idx] = token_major[...]: one thread per float, in head-major order */
__global__ void to_heads_kernel(float *head_major, const float *token_major, int B, int T, int NH, int hs,
                                size_t row) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < (size_t)B * NH * T * hs) head_major[idx] = token_major[token_major_index(idx, T, NH, hs, row)];
}

/* token_major[...] = head_major[idx] (WRITTEN, as the reference writes dqkv and out) */
__global__ void from_heads_kernel(float *token_major, const float *head_major, int B, int T, int NH, int hs,
                                  size_t row) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < (size_t)B * NH * T * hs) token_major[token_major_index(idx, T, NH, hs, row)] = head_major[idx];
}

static void to_heads(float *head_major, const float *token_major, int B, int T, int C, int NH, size_t row) {
    to_heads_kernel<<<ceil_div((size_t)B * T * C, BLOCK), BLOCK>>>(head_major, token_major, B, T, NH, C / NH, row);
    CUDA_CHECK_LAUNCH();
}
static void from_heads(float *token_major, const float *head_major, int B, int T, int C, int NH, size_t row) {
    from_heads_kernel<<<ceil_div((size_t)B * T * C, BLOCK), BLOCK>>>(token_major, head_major, B, T, NH, C / NH, row);
    CUDA_CHECK_LAUNCH();
}

#define ROWS_PER_BLOCK (BLOCK / WARP)

/* In place on att, row r = (b*NH + h)*T + t holding the scores: the softmax
 * over t2 <= t, 0 after. One warp per row; lane j takes t2 = j, j+32, ...,
 * and rereads only the entries it wrote, so the warp needs no barrier. */
__global__ void causal_softmax_forward_kernel(float *att, size_t rows, int T) {
    size_t row = (size_t)blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / WARP;
    int lane = threadIdx.x % WARP;
    if (row >= rows) return; /* the whole warp leaves together, so the shuffles stay full */
    int t = (int)(row % T);
    float *a = att + row * T;
    float maxv = -INFINITY;
    for (int t2 = lane; t2 <= t; t2 += WARP) maxv = a[t2] > maxv ? a[t2] : maxv;
    maxv = warp_reduce(maxv, MaxOp());
    float sum = 0.0f;
    for (int t2 = lane; t2 <= t; t2 += WARP) {
        a[t2] = expf(a[t2] - maxv);
        sum += a[t2];
    }
    float inv = 1.0f / warp_reduce(sum, SumOp());
    for (int t2 = lane; t2 < T; t2 += WARP) a[t2] = t2 <= t ? a[t2] * inv : 0.0f;
}

/* Row r as above: dscore[t2] = att[t2] * (datt[t2] - dot) * scale for t2 <= t,
 * dot = sum_j att[j] * datt[j]; after t, dscore and datt are 0 (datt then
 * holds exactly what the reference leaves in it). */
__global__ void causal_softmax_backward_kernel(float *dscore, float *datt, const float *att, size_t rows, int T,
                                               float scale) {
    size_t row = (size_t)blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / WARP;
    int lane = threadIdx.x % WARP;
    if (row >= rows) return;
    int t = (int)(row % T);
    const float *a = att + row * T;
    float *da = datt + row * T, *ds = dscore + row * T;
    float dot = 0.0f;
    for (int t2 = lane; t2 <= t; t2 += WARP) dot += a[t2] * da[t2];
    dot = warp_reduce(dot, SumOp());
    for (int t2 = lane; t2 < T; t2 += WARP) {
        if (t2 <= t) {
            ds[t2] = a[t2] * (da[t2] - dot) * scale;
        } else {
            ds[t2] = 0.0f;
            da[t2] = 0.0f;
        }
    }
}

size_t attention_workspace_size(int B, int T, int C, int NH) {
    size_t BTC = (size_t)B * T * C;
    return 7 * BTC + (size_t)B * NH * T * T; /* q k v dy dq dk dv, dscore (backward; forward uses 4 BTC) */
}

void attention_forward_gpu(float *out, float *att, const float *qkv, int B, int T, int C, int NH, float *workspace) {
    int hs = C / NH, heads = B * NH;
    size_t BTC = (size_t)B * T * C, C3 = (size_t)3 * C, TT = (size_t)T * T, Ths = (size_t)T * hs;
    float *q = workspace, *k = q + BTC, *v = k + BTC, *y = v + BTC; /* each (B,NH,T,hs) */
    to_heads(q, qkv, B, T, C, NH, C3);
    to_heads(k, qkv + C, B, T, C, NH, C3);
    to_heads(v, qkv + 2 * (size_t)C, B, T, C, NH, C3);
    /* att (T,T) = q (T,hs) @ k^T * scale, per head */
    gemm_batched_gpu(att, q, GEMM_AS_STORED, k, GEMM_TRANSPOSED, T, T, hs, 1.0f / sqrtf((float)hs), 0, heads, Ths,
                     Ths, TT);
    size_t rows = (size_t)heads * T;
    causal_softmax_forward_kernel<<<ceil_div(rows, ROWS_PER_BLOCK), BLOCK>>>(att, rows, T);
    CUDA_CHECK_LAUNCH();
    /* y (T,hs) = att (T,T) @ v (T,hs) */
    gemm_batched_gpu(y, att, GEMM_AS_STORED, v, GEMM_AS_STORED, T, hs, T, 1.0f, 0, heads, TT, Ths, Ths);
    from_heads(out, y, B, T, C, NH, (size_t)C);
}

void attention_backward_gpu(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att, int B,
                            int T, int C, int NH, float *workspace) {
    int hs = C / NH, heads = B * NH;
    size_t BTC = (size_t)B * T * C, C3 = (size_t)3 * C, TT = (size_t)T * T, Ths = (size_t)T * hs;
    float *q = workspace, *k = q + BTC, *v = k + BTC, *dy = v + BTC; /* each (B,NH,T,hs) */
    float *dq = dy + BTC, *dk = dq + BTC, *dv = dk + BTC, *dscore = dv + BTC;
    to_heads(q, qkv, B, T, C, NH, C3);
    to_heads(k, qkv + C, B, T, C, NH, C3);
    to_heads(v, qkv + 2 * (size_t)C, B, T, C, NH, C3);
    to_heads(dy, dout, B, T, C, NH, (size_t)C);
    /* datt (T,T) = dy (T,hs) @ v^T;  dv (T,hs) = att^T @ dy */
    gemm_batched_gpu(datt, dy, GEMM_AS_STORED, v, GEMM_TRANSPOSED, T, T, hs, 1.0f, 0, heads, Ths, Ths, TT);
    gemm_batched_gpu(dv, att, GEMM_TRANSPOSED, dy, GEMM_AS_STORED, T, hs, T, 1.0f, 0, heads, TT, Ths, Ths);
    size_t rows = (size_t)heads * T;
    causal_softmax_backward_kernel<<<ceil_div(rows, ROWS_PER_BLOCK), BLOCK>>>(dscore, datt, att, rows, T,
                                                                              1.0f / sqrtf((float)hs));
    CUDA_CHECK_LAUNCH();
    /* dq (T,hs) = dscore (T,T) @ k;  dk (T,hs) = dscore^T @ q */
    gemm_batched_gpu(dq, dscore, GEMM_AS_STORED, k, GEMM_AS_STORED, T, hs, T, 1.0f, 0, heads, TT, Ths, Ths);
    gemm_batched_gpu(dk, dscore, GEMM_TRANSPOSED, q, GEMM_AS_STORED, T, hs, T, 1.0f, 0, heads, TT, Ths, Ths);
    from_heads(dqkv, dq, B, T, C, NH, C3);
    from_heads(dqkv + C, dk, B, T, C, NH, C3);
    from_heads(dqkv + 2 * (size_t)C, dv, B, T, C, NH, C3);
}
