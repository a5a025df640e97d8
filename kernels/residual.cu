/*
 * residual.cu: GPU twin of residual_forward / residual_backward (gpt2.c).
 *
 * Thread mapping: one thread per element of the CPU's single loop over N.
 * A single addition rounds the same way everywhere, so these match the CPU
 * bit for bit, in any build. Memory traffic: 2 reads and 1 write per element forward; 1
 * read and 2 read-modify-writes backward.
 *
 * As on the CPU, the model's backward pass does not call residual_backward:
 * both branches read the one dresidual buffer in place. It is here to mirror
 * the op and is checked by test_kernels.
 */
#include "cuda_common.cuh"
#include "kernels.h"

__global__ void residual_forward_kernel(float *out, const float *inp1, const float *inp2, size_t N) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N) out[i] = inp1[i] + inp2[i];
}

void residual_forward_gpu(float *out, const float *inp1, const float *inp2, size_t N) {
    residual_forward_kernel<<<ceil_div(N, BLOCK), BLOCK>>>(out, inp1, inp2, N);
    CUDA_CHECK_LAUNCH();
}

/* both input gradients ACCUMULATE: each is a residual stream gradient */
__global__ void residual_backward_kernel(float *dinp1, float *dinp2, const float *dout, size_t N) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    dinp1[i] += dout[i];
    dinp2[i] += dout[i];
}

void residual_backward_gpu(float *dinp1, float *dinp2, const float *dout, size_t N) {
    residual_backward_kernel<<<ceil_div(N, BLOCK), BLOCK>>>(dinp1, dinp2, dout, N);
    CUDA_CHECK_LAUNCH();
}
