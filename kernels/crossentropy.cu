/*
 * crossentropy.cu: GPU twin of crossentropy_forward / crossentropy_backward
 * (gpt2.c): softmax over the first V logits and the cross-entropy loss.
 *
 * Thread mapping: the reference loops over B*T rows and, within a row, over V
 * logits three times (max, sum of exponentials, output). The GPU gives each
 * row a block of BLOCK threads; thread j takes logits j, j+256, ...; the max
 * and the sum are block reductions (cuda_common.cuh). As in the reference the
 * exponentials are expf's floats and their sum is kept in double: over 50257
 * terms float rounding would show in the sixth digit of the loss. The block
 * adds in a different order from the reference's left-to-right loop, but in
 * double that changes the sum only around its 16th digit.
 *
 * The backward works IN PLACE, like the CPU's: on entry the buffer holds the
 * logits, on exit dlogits = (softmax - onehot(target)) / (B*T). Each
 * logit is read and rewritten only by the thread that owns it, and the target
 * entry is corrected after a __syncthreads, once its owner has scaled it.
 *
 * Memory traffic per row: forward reads V floats twice; backward reads V
 * floats twice and writes them twice. With V = 50257 and B*T = 16384, the
 * logits are 3.3 GB: these two kernels are pure bandwidth.
 */
#include <math.h>

#include "cuda_common.cuh"
#include "kernels.h"

__global__ void crossentropy_forward_kernel(float *losses, const float *logits, const int *targets, int V) {
    size_t row = blockIdx.x;
    const float *l = logits + row * V;
    float maxv = -INFINITY;
    for (int i = threadIdx.x; i < V; i += blockDim.x)
        if (l[i] > maxv) maxv = l[i];
    maxv = block_reduce(maxv, MaxOp(), -INFINITY);
    double sum = 0.0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) sum += expf(l[i] - maxv);
    sum = block_reduce(sum, SumOp(), 0.0);
    if (threadIdx.x == 0) losses[row] = (float)(log(sum) + maxv - l[targets[row]]);
}

void crossentropy_forward_gpu(float *losses, const float *logits, const int *targets, int B, int T, int V) {
    crossentropy_forward_kernel<<<(unsigned)((size_t)B * T), BLOCK>>>(losses, logits, targets, V);
    CUDA_CHECK_LAUNCH();
}

__global__ void crossentropy_backward_kernel(float *dlogits, const int *targets, int V, float mean_scale) {
    size_t row = blockIdx.x;
    float *l = dlogits + row * V;
    float maxv = -INFINITY;
    for (int i = threadIdx.x; i < V; i += blockDim.x)
        if (l[i] > maxv) maxv = l[i];
    maxv = block_reduce(maxv, MaxOp(), -INFINITY);
    double sum = 0.0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        l[i] = expf(l[i] - maxv);
        sum += l[i];
    }
    sum = block_reduce(sum, SumOp(), 0.0);
    float scale = (float)(1.0 / sum) * mean_scale;
    for (int i = threadIdx.x; i < V; i += blockDim.x) l[i] *= scale;
    __syncthreads(); /* the target's owner has scaled it */
    if (threadIdx.x == 0) l[targets[row]] -= mean_scale;
}

void crossentropy_backward_gpu(float *dlogits, const int *targets, int B, int T, int V) {
    float mean_scale = 1.0f / ((float)B * (float)T); /* the CPU's expression */
    crossentropy_backward_kernel<<<(unsigned)((size_t)B * T), BLOCK>>>(dlogits, targets, V, mean_scale);
    CUDA_CHECK_LAUNCH();
}
