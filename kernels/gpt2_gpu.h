/*
 * gpt2_gpu.h: the GPT-2 model on a CUDA GPU (float32), callable from C.
 *
 * The same model as gpt2.c, step for step: the forward and backward passes
 * call the GPU twins of gpt2.c's ops (the kernels/ .cu files) in the same order, on
 * buffers laid out exactly like the CPU's (gpt2_point_activations), with the
 * same gradient conventions. Checkpoints, optimizer state and data stay on
 * the host side, in the CPU code: this API only moves tensors across.
 *
 * Every CUDA call is checked; a failure ends the program with one line naming
 * the source file, line and CUDA's reason (die() from common.h).
 */
#ifndef GPT2C_GPT2_GPU_H
#define GPT2C_GPT2_GPU_H

#ifdef __cplusplus
extern "C" {
#endif

#include "../gpt2.h"
#include "../train.h" /* AdamWConfig and the decay rule */

typedef struct GPT2GPU GPT2GPU;

/* ---- the kernel set (kernels/gemm.cu, notes.md "The GPU path") ---- */

/* Which code computes the matrix products of the linear layers and of
 * attention; every other op is the same kernel in both.
 *   FAST      cuBLAS, in FP32 (or TF32 tensor cores with tf32): the default.
 *   READABLE  kernels/gemm.cu's own tiled kernel, which adds in the
 *             reference's order. */
typedef enum { GPU_KERNELS_FAST, GPU_KERNELS_READABLE } GpuKernels;
/* For every later op. tf32 needs FAST (die_usage otherwise). */
void gpu_select_kernels(GpuKernels set, int tf32);
GpuKernels gpu_kernels(void);
int gpu_tf32(void);
const char *gpu_kernels_name(void); /* "fast", "fast+tf32" or "readable" */

/* The flags every GPU program takes (their --help lines: GPU_OPTIONS_HELP). */
typedef struct {
    GpuKernels kernels;
    int kernels_given; /* --kernels was on the command line */
    int tf32;          /* --tf32 */
    int profile_step;  /* --profile-step N (only where allowed), 0 if absent */
} GpuOptions;
#define GPU_OPTIONS_HELP                                                                                   \
    "  --kernels fast|readable  matrix products by cuBLAS (fast, the default) or by kernels/gemm.cu's\n"   \
    "                           tiled kernel (readable, which adds in the CPU reference's order)\n"        \
    "  --tf32                   with fast: cuBLAS may use TF32 tensor cores (10-bit mantissa inputs):\n"   \
    "                           faster, and looser agreement with the CPU (notes.md \"The GPU path\")\n"
#define GPU_PROFILE_HELP \
    "  --profile-step N         print a per-op table of step N's GPU time (CUDA events)\n"
/* Remove --kernels X, --tf32 and, if with_profile, --profile-step N from argv
 * (keeping the order of the rest), fill *o, select the kernels, and return
 * the new argc. A bad value is a usage error (exit 2). */
int gpu_options_take(GpuOptions *o, int argc, char **argv, int with_profile);

/* ---- step timing (kernels/timing.cu): train_gpu's steady-state figures ---- */

/* Around one optimizer step: both wait for the GPU and read the host clock. */
void gpu_step_begin(void);
void gpu_step_end(void);
/* Time every op of step `step` (1 = the first gpu_step_begin) with CUDA
 * events and print the table after it. */
void gpu_profile_step(int step);
/* One line: the median step time over the steps after the first `warmup`
 * (the profiled step left out too), and tokens per second. */
void gpu_print_step_times(int warmup, double tokens_per_step);

/* 1 if a CUDA device is usable, 0 otherwise (no driver, no device): tests SKIP on 0. */
int gpu_available(void);

/* The device bytes gpt2_gpu_create takes for batches of up to (B,T), as a
 * MemoryPlan (train_gpu checks it before loading; `trained` and
 * `with_kv_cache` do not apply on the device). */
MemoryPlan gpt2_gpu_memory_plan(const GPT2Config *c, int B, int T, TrainedSpec trained, int with_kv_cache);
/* Free device memory (cudaMemGetInfo), or $GPT2C_MEM_AVAILABLE if set; 0 if unknown. */
size_t gpu_memory_available(const char **source);

/* Copy host's parameters to the device and allocate gradients, AdamW moments
 * (zero), activations and scratch for batches of up to (B_max, T_max). */
GPT2GPU *gpt2_gpu_create(const GPT2 *host, int B_max, int T_max);
void gpt2_gpu_free(GPT2GPU *g);

/* inputs, targets: HOST arrays (B,T); targets may be NULL. Tokens outside
 * [0, V) are an error (die), as on the CPU. */
void gpt2_gpu_forward(GPT2GPU *g, const int *inputs, const int *targets, int B, int T);
/* mean loss of the last forward with targets, -1 if it had none (as GPT2.mean_loss) */
float gpt2_gpu_mean_loss(const GPT2GPU *g);
void gpt2_gpu_zero_grad(GPT2GPU *g);
/* gradients of the mean loss of the last forward (which must have had targets);
 * they ACCUMULATE into the parameter gradients, as on the CPU */
void gpt2_gpu_backward(GPT2GPU *g);

/* Global L2 norm of all gradients (deterministic: a fixed reduction order). */
float gpt2_gpu_grad_norm(GPT2GPU *g);
/* grads *= s, e.g. s = max_norm / norm for clipping */
void gpt2_gpu_scale_grads(GPT2GPU *g, float s);
/* One AdamW step, the CPU's adamw_step: the same formula, decay rule and
 * bias corrections (train.c); t from 1. */
void gpt2_gpu_update(GPT2GPU *g, const AdamWConfig *opt, int t);

/* ---- moving tensors between host and device (checkpoint order, num_parameters floats) ---- */
void gpt2_gpu_params_to_host(GPT2GPU *g, GPT2 *host);   /* into host->params_memory */
void gpt2_gpu_params_from_host(GPT2GPU *g, const GPT2 *host);
void gpt2_gpu_grads_to_host(GPT2GPU *g, float *grads);
void gpt2_gpu_opt_state_to_host(GPT2GPU *g, float *m, float *v);
void gpt2_gpu_opt_state_from_host(GPT2GPU *g, const float *m, const float *v);
/* the (B,T,V) logits of the last forward (after a backward: dlogits) */
void gpt2_gpu_logits_to_host(GPT2GPU *g, float *logits);
/* All activations of the last forward, in the CPU layout for its (B,T):
 * gpt2_point_activations(&a, acts, config, B, T) then names the tensors.
 * acts must hold gpt2_activation_sizes(config, B, T, ...) floats; returns that count. */
size_t gpt2_gpu_activations_to_host(GPT2GPU *g, float *acts);

#ifdef __cplusplus
}
#endif

#endif
