/*
 * gelu.cu: GPU twin of gelu_forward / gelu_backward (gpt2.c), the tanh GELU.
 *
 * Thread mapping: the reference loops over N elements; the GPU gives each
 * element its own thread (N = B*T*4C of them), consecutive threads on
 * consecutive elements, so every load and store is coalesced. The formulas
 * are the reference's, term for term. Differences in the last bits come from
 * tanh and from fused multiply-adds: the reference build calls the C
 * library's tanhf, the default CPU build a tanh made from its own fast exp
 * (the speed layer), and CUDA's tanhf is a third implementation; each is
 * accurate to a few units in the last place, but they round differently.
 * (The emulator calls the C library's tanhf, as the reference does.)
 *
 * Memory traffic: forward reads 1 and writes 1 float per element, backward
 * reads 2 and writes 1: these kernels only move memory, the arithmetic is free.
 */
#include <math.h>

#include "cuda_common.cuh"
#include "kernels.h"

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

__global__ void gelu_forward_kernel(float *out, const float *inp, size_t N) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    float x = inp[i];
    float u = GELU_SCALE * (x + 0.044715f * x * x * x);
    out[i] = 0.5f * x * (1.0f + tanhf(u));
}

void gelu_forward_gpu(float *out, const float *inp, size_t N) {
    gelu_forward_kernel<<<ceil_div(N, BLOCK), BLOCK>>>(out, inp, N);
    CUDA_CHECK_LAUNCH();
}

/* dinp is WRITTEN, as on the CPU */
__global__ void gelu_backward_kernel(float *dinp, const float *inp, const float *dout, size_t N) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    float x = inp[i];
    float u = GELU_SCALE * (x + 0.044715f * x * x * x);
    float th = tanhf(u);
    float du = GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] = dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
}

void gelu_backward_gpu(float *dinp, const float *inp, const float *dout, size_t N) {
    gelu_backward_kernel<<<ceil_div(N, BLOCK), BLOCK>>>(dinp, inp, dout, N);
    CUDA_CHECK_LAUNCH();
}
