/*
 * cuda_common.cuh: what every kernel file shares: error checking, grid sizes,
 * and the deterministic warp and block reductions.
 *
 * Reductions and determinism. A sum over threads can be done in many orders;
 * float addition is not associative, so each order gives slightly different
 * last bits. The reductions here always combine values in the same fixed
 * tree (a butterfly inside each warp, then warp 0 over the per-warp results),
 * and the block size of every launch is a constant, so the same inputs give
 * the same bits on every run. No reduction anywhere uses atomics, whose order
 * depends on timing.
 */
#ifndef GPT2C_CUDA_COMMON_CUH
#define GPT2C_CUDA_COMMON_CUH

#include <cuda_runtime.h>

extern "C" {
#include "../common.h"
}

/* Every CUDA call goes through this: a failure names the file, line and reason. */
#define CUDA_CHECK(call)                                                                       \
    do {                                                                                       \
        cudaError_t err_ = (call);                                                             \
        if (err_ != cudaSuccess) die("%s:%d: CUDA error: %s", __FILE__, __LINE__, cudaGetErrorString(err_)); \
    } while (0)

/* A kernel launch returns nothing; its configuration errors show up here. */
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

static inline unsigned ceil_div(size_t n, size_t d) { return (unsigned)((n + d - 1) / d); }

/* The block size of the elementwise and reduction kernels. A multiple of 32;
 * fixed, so reduction trees (and hence results) never change. */
#define BLOCK 256
#define WARP 32

struct SumOp {
    template <typename T> __device__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
    /* the reference's "if (x > maxv) maxv = x" (a max is exact in any order) */
    template <typename T> __device__ T operator()(T a, T b) const { return b > a ? b : a; }
};

/* Combine v over the 32 lanes of a warp; every lane gets the result. The
 * butterfly (xor 16, 8, 4, 2, 1) is a fixed tree, so the result is the same
 * bits on every run (though a sum is not grouped as the reference's
 * left-to-right loop groups it). */
template <typename T, typename Op> __device__ T warp_reduce(T v, Op op) {
    for (int offset = WARP / 2; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

/* Combine v over the whole block (blockDim.x a multiple of 32, at most 1024);
 * every thread gets the result. Every thread of the block must call it. */
template <typename T, typename Op> __device__ T block_reduce(T v, Op op, T identity) {
    __shared__ T per_warp[WARP];
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, nwarps = blockDim.x / WARP;
    v = warp_reduce(v, op);
    __syncthreads(); /* a previous call may still be reading per_warp */
    if (lane == 0) per_warp[warp] = v;
    __syncthreads();
    v = lane < nwarps ? per_warp[lane] : identity;
    return warp_reduce(v, op);
}

#endif
