/*
 * cuda_runtime.h (emulator): the slice of CUDA that kernels/ uses, run on the
 * CPU, so that the GPU code is exercised on machines without a GPU.
 *
 * `make emu` compiles every .cu file of kernels/ with g++ instead of nvcc, with
 * this folder first on the include path, so `#include <cuda_runtime.h>`
 * lands here. The only CUDA syntax C++ lacks is the launch `k<<<grid,
 * block>>>(args)`; the Makefile rewrites it with sed to
 * `emu_launch("k", grid, block, k, args)`, and #line keeps compiler messages
 * pointing at the .cu file.
 *
 * How a launch runs (cuda_emu.cpp): blocks one after another; inside a
 * block, every CUDA thread is a fiber (its own small stack) and the fibers
 * take turns on one CPU thread. A fiber runs until it finishes or reaches
 * __syncthreads() or a warp shuffle, where it waits until every live thread
 * of its block (or warp) has arrived. The next thread to run is picked at
 * random, and in half the blocks one warp is let run as far ahead of the
 * others as it can, so code that reads shared memory another thread writes
 * without a barrier in between gets stale values and fails its test.
 * Threads that have returned count as arrived at __syncthreads (as on
 * current GPUs, where an early `return` for out-of-range threads is common).
 *
 * What it checks that the CPU build cannot: launch configurations (block
 * size, grid limits), every pointer argument of a kernel lies in device
 * memory, every cudaMemcpy stays inside its allocation and goes the stated
 * direction, kernels never read or write past the end of a device allocation
 * (a guard page follows each one), and host code never touches device memory
 * (allocations are inaccessible outside kernels and copies). Each of these
 * ends the program with one line naming the kernel, block and thread. The
 * Makefile adds UBSan, which catches an index past a fixed-size array such
 * as a shared-memory tile.
 *
 * What it cannot say: anything about speed, the GPU's own rounding of
 * expf/tanhf (it uses the C library's), or races between blocks (they run
 * one at a time, in a scrambled order: a block reading another's result is
 * caught, two blocks adding into one place is not).
 */
#ifndef GPT2C_CUDA_EMU_RUNTIME_H
#define GPT2C_CUDA_EMU_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <tuple>
#include <type_traits>
#include <utility>

#define GPT2C_CUDA_EMULATOR 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
/* Blocks run one at a time on one CPU thread, so a function-level static is
 * exactly one block's shared memory. All of them go in one section, which
 * the emulator fills with 0xFF bytes (a NaN in every float) before each
 * block, as a GPU leaves shared memory holding whatever was there. */
#define __shared__ __attribute__((section("emu_shared"))) static

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

/* The built-in variables; the scheduler sets them before it resumes a thread. */
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidResourceHandle = 400,
} cudaError_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
};

cudaError_t cudaMalloc(void **ptr, size_t bytes);
template <typename T> cudaError_t cudaMalloc(T **ptr, size_t bytes) { return cudaMalloc((void **)ptr, bytes); }
cudaError_t cudaFree(void *ptr);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemset(void *ptr, int value, size_t bytes);
cudaError_t cudaGetLastError(void);
const char *cudaGetErrorString(cudaError_t err);
cudaError_t cudaGetDeviceCount(int *count);
/* the emulated device's memory is the host's: MemAvailable and MemTotal */
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaDeviceSynchronize(void);

/* Events (kernels/timing.cu): an event records the host clock; there is one
 * stream, the default (0). */
typedef struct CUstream_st *cudaStream_t;
typedef struct CUevent_st *cudaEvent_t;
cudaError_t cudaEventCreate(cudaEvent_t *event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);

void __syncthreads(void);

namespace emu {
/* Every thread of the warp's mask hands in `size` bytes and gets back those of
 * lane src_lane; the calling thread's own lane must be in the mask. */
void warp_exchange(unsigned mask, const void *mine, void *theirs, size_t size, int src_lane);
int lane_id(void);
/* Runs body(ctx) as every thread of every block; returns after the last one. */
void launch(const char *name, dim3 grid, dim3 block, void (*body)(void *), void *ctx);
/* Ends the program unless p is NULL or points into a device allocation. */
void check_device_pointer(const char *kernel, int arg, const void *p);

template <typename T> void check_argument(const char *kernel, int arg, const T &value) {
    if constexpr (std::is_pointer<T>::value) check_device_pointer(kernel, arg, (const void *)value);
    else (void)kernel, (void)arg, (void)value;
}
} // namespace emu

template <typename T> T __shfl_xor_sync(unsigned mask, T value, int lane_mask) {
    T out;
    emu::warp_exchange(mask, &value, &out, sizeof(T), emu::lane_id() ^ lane_mask);
    return out;
}
template <typename T> T __shfl_down_sync(unsigned mask, T value, unsigned delta) {
    T out;
    int src = emu::lane_id() + (int)delta;
    emu::warp_exchange(mask, &value, &out, sizeof(T), src < 32 ? src : emu::lane_id());
    return out;
}

/* k<<<grid, block>>>(args...): the arguments are converted to the kernel's
 * parameter types once, as a call would, then every thread runs k on them. */
template <typename... Params, typename... Args>
void emu_launch(const char *name, dim3 grid, dim3 block, void (*kernel)(Params...), Args &&...args) {
    static_assert(sizeof...(Params) == sizeof...(Args), "wrong number of kernel arguments");
    struct Call {
        void (*kernel)(Params...);
        std::tuple<Params...> params;
    } call{kernel, std::tuple<Params...>(std::forward<Args>(args)...)};
    int arg = 0;
    std::apply([&](const auto &...p) { (emu::check_argument(name, arg++, p), ...); }, call.params);
    emu::launch(name, grid, block, [](void *c) { std::apply(((Call *)c)->kernel, ((Call *)c)->params); }, &call);
}

/* A device math function the C library lacks. */
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }

#endif
