/*
 * encoder.cu: GPU twin of encoder_forward / encoder_backward (gpt2.c).
 *
 * Thread mapping, beside the reference loops (gpt2.c):
 *
 *   encoder_forward    CPU: for b, for t, for i < C: out[b,t,i] = wte[inp[b,t],i] + wpe[t,i]
 *                      GPU: one thread per (b,t,i), all B*T*C at once; consecutive
 *                      threads take consecutive channels i, so every warp reads and
 *                      writes 32 neighbouring floats (coalesced).
 *
 *   encoder_backward   CPU: for b, for t, for i: dwte[inp[b,t],i] += dout[b,t,i]
 *                                                 dwpe[t,i]        += dout[b,t,i]
 *     dwpe:  one thread per (t,i), looping over b in order.
 *     dwte:  one block row per distinct token u, one thread per channel i,
 *            looping over the positions holding that token in increasing order.
 *
 * Why the token buckets. The same token can sit at many positions, and all of
 * them add into the same row of dwte. One thread per position would need
 * atomicAdd, whose order changes from run to run, and so would the last bits.
 * Instead the host, which has the inputs anyway, groups positions by token
 * (a sort of B*T pairs: cheap) and each (token, channel) is owned by one
 * thread. Each thread adds in increasing position order, exactly the order of
 * the CPU's loops, and plain float additions (nothing to fuse) in the same
 * order give the same bits: this kernel matches the CPU bit for bit, in any
 * build (test_kernels checks that).
 *
 * Memory traffic: forward reads 2 and writes 1 float per output; backward reads
 * dout once and reads+writes each touched row of dwte and dwpe once.
 */
#include <stdlib.h>

#include "cuda_common.cuh"
#include "kernels.h"

__global__ void encoder_forward_kernel(float *out, const int *inp, const float *wte, const float *wpe, int B, int T,
                                       int C) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; /* (b*T + t)*C + i */
    if (idx >= (size_t)B * T * C) return;
    size_t bt = idx / C;
    int i = (int)(idx % C), t = (int)(bt % T);
    out[idx] = wte[(size_t)inp[bt] * C + i] + wpe[(size_t)t * C + i];
}

void encoder_forward_gpu(float *out, const int *inp, const float *wte, const float *wpe, int B, int T, int C) {
    encoder_forward_kernel<<<ceil_div((size_t)B * T * C, BLOCK), BLOCK>>>(out, inp, wte, wpe, B, T, C);
    CUDA_CHECK_LAUNCH();
}

/* dwpe[t,i] += dout[b,t,i] for b = 0..B-1 in order */
__global__ void encoder_backward_wpe_kernel(float *dwpe, const float *dout, int B, int T, int C) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; /* t*C + i */
    if (idx >= (size_t)T * C) return;
    float acc = dwpe[idx];
    for (int b = 0; b < B; b++) acc += dout[(size_t)b * T * C + idx];
    dwpe[idx] = acc;
}

/* Block row u = blockIdx.x owns row token[u] of dwte; thread i a channel. */
__global__ void encoder_backward_wte_kernel(float *dwte, const float *dout, const int *token, const int *start,
                                            const int *position, int C) {
    int u = blockIdx.x;
    int i = blockIdx.y * blockDim.x + threadIdx.x;
    if (i >= C) return;
    float *row = dwte + (size_t)token[u] * C;
    float acc = row[i];
    for (int p = start[u]; p < start[u + 1]; p++) acc += dout[(size_t)position[p] * C + i];
    row[i] = acc;
}

void encoder_backward_gpu(float *dwte, float *dwpe, const float *dout, const TokenBuckets *buckets, int B, int T,
                          int C) {
    encoder_backward_wpe_kernel<<<ceil_div((size_t)T * C, BLOCK), BLOCK>>>(dwpe, dout, B, T, C);
    CUDA_CHECK_LAUNCH();
    if (buckets->num_tokens == 0) return;
    dim3 grid((unsigned)buckets->num_tokens, ceil_div((size_t)C, BLOCK));
    encoder_backward_wte_kernel<<<grid, BLOCK>>>(dwte, dout, buckets->token, buckets->start, buckets->position, C);
    CUDA_CHECK_LAUNCH();
}

/* ---- host side: group positions by token ---- */

typedef struct {
    int token, position;
} TokenAt;

static int by_token_then_position(const void *pa, const void *pb) {
    const TokenAt *a = (const TokenAt *)pa, *b = (const TokenAt *)pb;
    if (a->token != b->token) return a->token < b->token ? -1 : 1;
    return (a->position > b->position) - (a->position < b->position);
}

int token_buckets_build(int *token, int *start, int *position, const int *inp, int n) {
    TokenAt *pairs = (TokenAt *)xmalloc((size_t)n * sizeof(TokenAt), "token buckets");
    for (int p = 0; p < n; p++) pairs[p] = TokenAt{inp[p], p};
    /* (token, position) pairs are all distinct, so the sorted order is unique */
    qsort(pairs, (size_t)n, sizeof(TokenAt), by_token_then_position);
    int u = -1;
    for (int k = 0; k < n; k++) {
        if (k == 0 || pairs[k].token != pairs[k - 1].token) {
            u++;
            token[u] = pairs[k].token;
            start[u] = k;
        }
        position[k] = pairs[k].position;
    }
    start[u + 1] = n;
    free(pairs);
    return u + 1;
}
