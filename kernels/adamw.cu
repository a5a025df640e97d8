/*
 * adamw.cu: GPU twin of adamw_update (train.c), plus the two helpers gradient
 * clipping needs: the sum of squares of all gradients and a scale.
 *
 * Thread mapping: adamw_update's loop over n parameters becomes one thread
 * per parameter; the formula is adamw_update's, in float32, term for term
 * (only FMA contraction can change a last bit). The bias corrections
 * 1 - beta^t are computed once on the host by the CPU's own
 * adamw_bias_correction. Memory traffic: 4 reads (p, g, m, v) and 3 writes per parameter; the
 * update is pure bandwidth.
 *
 * sum_of_squares: GRAD_NORM_BLOCKS blocks of BLOCK threads, each thread
 * striding over the array (a "grid-stride loop") and accumulating in double;
 * each block reduces its threads to one partial, and the host adds the 1024
 * partials in order. Fixed grid, fixed trees: the same bits every run (the
 * CPU's order is another, so the norm may differ in its last bits).
 */
#include <math.h>

#include "cuda_common.cuh"
#include "kernels.h"

extern "C" {
#include "../train.h"
}

__global__ void adamw_kernel(float *params, const float *grads, float *m, float *v, size_t n, float lr, float beta1,
                             float beta2, float eps, float weight_decay, float bc1, float bc2) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float g = grads[i];
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    float mhat = mi / bc1;
    float vhat = vi / bc2;
    params[i] -= lr * (mhat / (sqrtf(vhat) + eps) + weight_decay * params[i]);
}

void adamw_update_gpu(float *params, const float *grads, float *m, float *v, size_t n, float lr, float beta1,
                      float beta2, float eps, float weight_decay, int t) {
    float bc1 = adamw_bias_correction(beta1, t);
    float bc2 = adamw_bias_correction(beta2, t);
    adamw_kernel<<<ceil_div(n, BLOCK), BLOCK>>>(params, grads, m, v, n, lr, beta1, beta2, eps, weight_decay, bc1, bc2);
    CUDA_CHECK_LAUNCH();
}

__global__ void sum_of_squares_kernel(double *partials, const float *x, size_t n) {
    double acc = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        acc += (double)x[i] * x[i];
    acc = block_reduce(acc, SumOp(), 0.0);
    if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

double sum_of_squares_gpu(const float *x, size_t n, double *workspace) {
    sum_of_squares_kernel<<<GRAD_NORM_BLOCKS, BLOCK>>>(workspace, x, n);
    CUDA_CHECK_LAUNCH();
    double partials[GRAD_NORM_BLOCKS];
    CUDA_CHECK(cudaMemcpy(partials, workspace, sizeof(partials), cudaMemcpyDeviceToHost));
    double sum = 0.0;
    for (int k = 0; k < GRAD_NORM_BLOCKS; k++) sum += partials[k];
    return sum;
}

__global__ void scale_kernel(float *x, float s, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] *= s;
}

void scale_gpu(float *x, float s, size_t n) {
    scale_kernel<<<ceil_div(n, BLOCK), BLOCK>>>(x, s, n);
    CUDA_CHECK_LAUNCH();
}
