/*
 * test_cuda_emu: the CUDA emulator (test/cuda_emu) against kernels whose
 * right answer is known, and against broken kernels it must catch. It runs
 * the GPU code of every other emulated test, so its own promises are tested
 * here: built only by `make emu`, never by nvcc.
 *
 * Working kernels: every (block, thread) index of a 3-D launch visited once;
 * a block reduction (cuda_common.cuh) of integers equal to the exact sum;
 * shared memory read across threads after __syncthreads; two block sums in a
 * row through one shared array.
 * Blocks must run out of index order (one reading its predecessor's result
 * gets a wrong value).
 * Broken ones: without a __syncthreads, values read must be stale (within a
 * warp, and between warps running at different speeds); and each of these,
 * run in a child process, must exit 1 with one line naming the problem (or,
 * for launch errors, return the CUDA error): a write one float past an
 * allocation, a host pointer as a kernel argument, host code reading device
 * memory, a deadlock between __syncthreads and a shuffle, a shuffle from an
 * exited lane, a block of 2048 threads, a copy past an allocation's end.
 * The cuBLAS stand-in: TF32 mode truncates inputs (1 + 2^-12 times 1 is 1)
 * and FP32 mode does not; a product on a handle whose math mode was never
 * set, a batch reaching past its allocation and a batch whose outputs
 * overlap are each one line and exit 1. Events: the time between two
 * recorded ones is not negative; an event never recorded is an error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cublas_v2.h>

#include "../kernels/cuda_common.cuh"
#include "check.h"

#ifndef GPT2C_CUDA_EMULATOR
#error "test_cuda_emu tests the CUDA emulator; build it with `make emu`"
#endif

/* ---- kernels that work ---- */

/* out[block][thread] = how many times that (block, thread) ran */
__global__ void count_indices_kernel(int *out) {
    unsigned block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    unsigned thread = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    out[block * blockDim.x * blockDim.y * blockDim.z + thread] += 1;
}

/* out[b] = sum of inp[b*256 + i] over the block, through block_reduce */
__global__ void block_sum_kernel(float *out, const float *inp) {
    float v = block_reduce(inp[blockIdx.x * blockDim.x + threadIdx.x], SumOp(), 0.0f);
    if (threadIdx.x == 0) out[blockIdx.x] = v;
}

/* out[i] = inp[(i + 1) % n] through shared memory, with or without the barrier */
__global__ void rotate_kernel(float *out, const float *inp, int with_barrier) {
    __shared__ float s[BLOCK];
    s[threadIdx.x] = inp[threadIdx.x];
    if (with_barrier) __syncthreads();
    out[threadIdx.x] = s[(threadIdx.x + 1) % BLOCK];
}

/* Two block sums in a row through one per-warp array, as block_reduce does,
 * with or without its first barrier: without it, a warp that runs ahead
 * overwrites its partial sum of round 0 before slower warps have read it. */
__global__ void two_sums_kernel(float *out, const float *inp, int with_barrier) {
    __shared__ float partial[BLOCK / WARP];
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    float v = inp[threadIdx.x];
    for (int round = 0; round < 2; round++) {
        float s = warp_reduce(v, SumOp());
        if (with_barrier) __syncthreads();
        if (lane == 0) partial[warp] = s;
        __syncthreads();
        float total = 0.0f;
        for (int w = 0; w < BLOCK / WARP; w++) total += partial[w];
        out[round * BLOCK + threadIdx.x] = total;
        v = -2.0f * v;
    }
}

/* ---- kernels that are wrong ---- */

/* block b reads block b-1's result: right only if blocks ran in index order */
__global__ void chain_kernel(int *x) {
    if (threadIdx.x == 0) x[blockIdx.x] = blockIdx.x == 0 ? 1 : x[blockIdx.x - 1] + 1;
}

__global__ void write_past_end_kernel(float *x, int n) { x[n] = 1.0f; }
__global__ void touch_kernel(float *x) { x[threadIdx.x] += 1.0f; }
/* lane 0 waits at a shuffle for lanes 1..31, which wait at __syncthreads for it */
__global__ void deadlock_kernel(float *x) {
    if (threadIdx.x == 0) x[0] = __shfl_xor_sync(0xffffffffu, x[0], 1);
    else __syncthreads();
}
/* odd lanes exit, even lanes read from them */
__global__ void shuffle_exited_kernel(float *x) {
    if (threadIdx.x % 2) return;
    x[threadIdx.x] = __shfl_xor_sync(0xffffffffu, x[threadIdx.x], 1);
}

static float *device_zeros(size_t n) {
    float *d = NULL;
    CUDA_CHECK(cudaMalloc(&d, n * sizeof(float)));
    CUDA_CHECK(cudaMemset(d, 0, n * sizeof(float)));
    return d;
}

static void test_indices(void) {
    dim3 grid(3, 2, 2), block(5, 4, 3); /* 12 blocks of 60 threads */
    size_t n = 12 * 60;
    int *d = NULL, h[12 * 60];
    CUDA_CHECK(cudaMalloc(&d, sizeof h));
    CUDA_CHECK(cudaMemset(d, 0, sizeof h));
    count_indices_kernel<<<grid, block>>>(d);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
    size_t once = 0;
    for (size_t i = 0; i < n; i++) once += h[i] == 1;
    CHECK(once == n, "emu/every_thread_once", "%zu of %zu (block, thread) pairs ran exactly once", once, n);
    CUDA_CHECK(cudaFree(d));
}

static void test_block_reduce(void) {
    const int blocks = 3;
    float h[blocks * BLOCK], sums[blocks];
    double want[blocks] = {0};
    for (int i = 0; i < blocks * BLOCK; i++) { /* small integers: every order of addition is exact */
        h[i] = (float)((i * 37) % 101 - 50);
        want[i / BLOCK] += h[i];
    }
    float *d_in = device_zeros(blocks * BLOCK), *d_out = device_zeros(blocks);
    CUDA_CHECK(cudaMemcpy(d_in, h, sizeof h, cudaMemcpyHostToDevice));
    block_sum_kernel<<<blocks, BLOCK>>>(d_out, d_in);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaMemcpy(sums, d_out, sizeof sums, cudaMemcpyDeviceToHost));
    int ok = 1;
    for (int b = 0; b < blocks; b++) ok &= sums[b] == (float)want[b];
    CHECK(ok, "emu/block_reduce_exact", "block sums %g %g %g, want %g %g %g", sums[0], sums[1], sums[2], want[0],
          want[1], want[2]);
    CUDA_CHECK(cudaFree(d_in));
    CUDA_CHECK(cudaFree(d_out));
}

/* returns how many of the BLOCK outputs are wrong */
static int rotate(int with_barrier) {
    float h[BLOCK], out[BLOCK];
    for (int i = 0; i < BLOCK; i++) h[i] = (float)i;
    float *d_in = device_zeros(BLOCK), *d_out = device_zeros(BLOCK);
    CUDA_CHECK(cudaMemcpy(d_in, h, sizeof h, cudaMemcpyHostToDevice));
    rotate_kernel<<<1, BLOCK>>>(d_out, d_in, with_barrier);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaMemcpy(out, d_out, sizeof out, cudaMemcpyDeviceToHost));
    int wrong = 0;
    for (int i = 0; i < BLOCK; i++) wrong += out[i] != h[(i + 1) % BLOCK];
    CUDA_CHECK(cudaFree(d_in));
    CUDA_CHECK(cudaFree(d_out));
    return wrong;
}

static void test_missing_barrier(void) {
    int with = rotate(1), without = rotate(0);
    CHECK(with == 0, "emu/shared_memory_after_barrier", "%d of %d values wrong", with, BLOCK);
    /* In a fixed 0..n-1 order thread i would always see i+1's value unwritten;
     * the shuffled order makes some reads early and some late. */
    CHECK(without > 0, "emu/missing_barrier_reads_stale_values", "all %d values right without the barrier", BLOCK);
}

/* returns how many of the 2 x BLOCK totals are wrong */
static int two_sums(int with_barrier) {
    float h[BLOCK], out[2 * BLOCK], want = 0.0f;
    for (int i = 0; i < BLOCK; i++) want += h[i] = (float)(i % 7); /* small integers: exact in any order */
    float *d_in = device_zeros(BLOCK), *d_out = device_zeros(2 * BLOCK);
    CUDA_CHECK(cudaMemcpy(d_in, h, sizeof h, cudaMemcpyHostToDevice));
    int wrong = 0;
    for (int run = 0; run < 20; run++) { /* a few launches: the race needs a warp to run ahead */
        two_sums_kernel<<<1, BLOCK>>>(d_out, d_in, with_barrier);
        CUDA_CHECK_LAUNCH();
        CUDA_CHECK(cudaMemcpy(out, d_out, sizeof out, cudaMemcpyDeviceToHost));
        for (int i = 0; i < 2 * BLOCK; i++) wrong += out[i] != (i < BLOCK ? want : -2.0f * want);
    }
    CUDA_CHECK(cudaFree(d_in));
    CUDA_CHECK(cudaFree(d_out));
    return wrong;
}

static void test_blocks_out_of_order(void) {
    enum { N = 64 };
    int h[N], *d = NULL, in_order = 0;
    CUDA_CHECK(cudaMalloc(&d, sizeof h));
    CUDA_CHECK(cudaMemset(d, 0, sizeof h));
    chain_kernel<<<N, WARP>>>(d);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
    for (int b = 0; b < N; b++) in_order += h[b] == b + 1;
    CHECK(in_order < N, "emu/blocks_run_out_of_order", "all %d blocks saw their predecessor's result", N);
    CUDA_CHECK(cudaFree(d));
}

static void test_warps_drift_apart(void) {
    int with = two_sums(1), without = two_sums(0);
    CHECK(with == 0, "emu/two_block_sums", "%d of %d totals wrong", with, 40 * BLOCK);
    CHECK(without > 0, "emu/missing_barrier_between_reductions_caught", "all %d totals right without the barrier",
          40 * BLOCK);
}

/* One 1x1x1 product in the given math mode: (1 + 2^-12) * 1. */
static float product_in_mode(cublasMath_t mode) {
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS || cublasSetMathMode(h, mode) != CUBLAS_STATUS_SUCCESS)
        die("cublas setup failed");
    float a = 1.0f + 1.0f / 4096.0f, b = 1.0f, c = 0.0f, one = 1.0f, zero = 0.0f;
    float *d = device_zeros(3);
    CUDA_CHECK(cudaMemcpy(d, &a, sizeof a, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(d + 1, &b, sizeof b, cudaMemcpyHostToDevice));
    if (cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, d, 1, 1, d + 1, 1, 1, &zero, d + 2, 1, 1,
                                  1) != CUBLAS_STATUS_SUCCESS)
        die("cublasSgemmStridedBatched failed");
    CUDA_CHECK(cudaMemcpy(&c, d + 2, sizeof c, cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaFree(d));
    return c;
}

static void test_cublas_modes(void) {
    float fp32 = product_in_mode(CUBLAS_DEFAULT_MATH), tf32 = product_in_mode(CUBLAS_TF32_TENSOR_OP_MATH);
    CHECK(fp32 == 1.0f + 1.0f / 4096.0f && tf32 == 1.0f, "emu/cublas_tf32_truncates_inputs",
          "FP32 gave %.9g, TF32 %.9g (wanted 1.000244141 and 1)", fp32, tf32);
}

static void test_events(void) {
    cudaEvent_t a, b, never;
    CUDA_CHECK(cudaEventCreate(&a));
    CUDA_CHECK(cudaEventCreate(&b));
    CUDA_CHECK(cudaEventCreate(&never));
    CUDA_CHECK(cudaEventRecord(a));
    touch_kernel<<<1, WARP>>>(device_zeros(WARP));
    CUDA_CHECK(cudaEventRecord(b));
    CUDA_CHECK(cudaEventSynchronize(b));
    float ms = -1.0f, unused = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    cudaError_t err = cudaEventElapsedTime(&unused, a, never);
    (void)cudaGetLastError();
    CHECK(ms >= 0.0f && err == cudaErrorInvalidResourceHandle, "emu/events", "elapsed %g ms, unrecorded event: %s", ms,
          cudaGetErrorString(err));
    CUDA_CHECK(cudaEventDestroy(a));
    CUDA_CHECK(cudaEventDestroy(b));
    CUDA_CHECK(cudaEventDestroy(never));
}

/* ---- the broken cases, each in a child whose exit and stderr are checked ---- */

static void case_write_past_end(void) {
    float *d = device_zeros(10);
    write_past_end_kernel<<<1, 1>>>(d, 10);
}
static void case_host_pointer_argument(void) {
    static float host[BLOCK];
    touch_kernel<<<1, BLOCK>>>(host);
}
static void case_host_reads_device(void) {
    float *d = device_zeros(4);
    volatile float x = d[1];
    (void)x;
}
static void case_deadlock(void) { deadlock_kernel<<<1, WARP>>>(device_zeros(WARP)); }
static void case_shuffle_exited(void) { shuffle_exited_kernel<<<1, WARP>>>(device_zeros(WARP)); }
static void case_block_too_big(void) {
    touch_kernel<<<1, 2048>>>(device_zeros(2048));
    CUDA_CHECK_LAUNCH();
}
static void case_copy_past_end(void) {
    float h[8] = {0};
    CUDA_CHECK(cudaMemcpy(device_zeros(4), h, sizeof h, cudaMemcpyHostToDevice));
}

/* a 2x2 product per matrix, batch 2, on 4*4 floats; math mode set unless not asked */
static void batched_product(int set_mode, long long stride_c, int batch) {
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) die("cublasCreate failed");
    if (set_mode && cublasSetMathMode(h, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS) die("cublasSetMathMode failed");
    float one = 1.0f, zero = 0.0f, *a = device_zeros(8), *b = device_zeros(8), *c = device_zeros(8);
    if (cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_T, 2, 2, 2, &one, a, 2, 4, b, 2, 4, &zero, c, 2, stride_c,
                                  batch) != CUBLAS_STATUS_SUCCESS)
        die("cublasSgemmStridedBatched returned an error");
}
static void case_cublas_mode_unset(void) { batched_product(0, 4, 2); }
static void case_cublas_past_end(void) { batched_product(1, 4, 3); }
static void case_cublas_outputs_overlap(void) { batched_product(1, 2, 2); }

/* Runs fn in a child; the child must exit 1 with one stderr line containing `want`. */
static void expect_failure(const char *name, void (*fn)(void), const char *want) {
    int fds[2];
    if (pipe(fds) != 0) die("pipe failed");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        CUDA_CHECK(cudaDeviceSynchronize());
        _exit(0);
    }
    close(fds[1]);
    char err[2048];
    size_t len = 0;
    ssize_t got;
    while (len < sizeof err - 1 && (got = read(fds[0], err + len, sizeof err - 1 - len)) > 0) len += (size_t)got;
    err[len] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += err[i] == '\n';
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 1 && lines == 1 && strstr(err, want);
    CHECK(ok, name, "exit %d (signal %d), stderr: %s (wanted one line with \"%s\")",
          WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0, err, want);
}

int main(void) {
    test_indices();
    test_block_reduce();
    test_missing_barrier();
    test_warps_drift_apart();
    test_blocks_out_of_order();
    test_cublas_modes();
    test_events();
    expect_failure("emu/catches_write_past_end", case_write_past_end,
                   "kernel write_past_end_kernel, block (0,0,0), thread (0,0,0): access 0 bytes past the end of a "
                   "40-byte device allocation");
    expect_failure("emu/catches_host_pointer_argument", case_host_pointer_argument,
                   "kernel touch_kernel: argument 1");
    expect_failure("emu/catches_host_reading_device_memory", case_host_reads_device,
                   "host code: touched device memory (byte 4 of a 16-byte allocation)");
    expect_failure("emu/catches_deadlock", case_deadlock, "kernel deadlock_kernel, block (0,0,0): deadlock");
    expect_failure("emu/catches_shuffle_from_exited_lane", case_shuffle_exited, "which has exited");
    expect_failure("emu/rejects_block_of_2048_threads", case_block_too_big, "invalid configuration argument");
    expect_failure("emu/rejects_copy_past_end", case_copy_past_end, "invalid argument");
    expect_failure("emu/cublas_needs_explicit_math_mode", case_cublas_mode_unset, "math mode was never set");
    expect_failure("emu/cublas_batch_past_end", case_cublas_past_end, "reaches outside its device allocation");
    expect_failure("emu/cublas_outputs_overlap", case_cublas_outputs_overlap, "outputs overlap");
    return check_failures ? 1 : 0;
}
