/*
 * train_gpu.c: the ./train_gpu program: ./train (train.c) with the GPU
 * driver (gpt2_gpu.h) as the compute backend. Everything else is train.c's
 * and its helpers' (settings, data, the schedule and clipping, checkpoints),
 * so a run can move between the two programs through a checkpoint. Its own
 * flags (--kernels, --tf32, --profile-step) are taken out of argv before
 * train_main sees it; at the end it prints the median step time.
 */
#include <stdio.h>
#include <string.h>

#include "../common.h"
#include "../train.h"
#include "gpt2_gpu.h"

enum { TIMING_WARMUP_STEPS = 2 }; /* left out of the step time: cuBLAS chooses its kernels, caches fill */

/* ---- the backend: each function is the driver's, on the GPT2GPU in ctx ---- */

static void gpu_forward(void *ctx, const int *in, const int *tg, int B, int T) { gpt2_gpu_forward(ctx, in, tg, B, T); }
static float gpu_mean_loss(void *ctx) { return gpt2_gpu_mean_loss(ctx); }
/* train_step calls step_begin first and update last: the step timer's brackets */
static void begin_timed_step(void *ctx) {
    (void)ctx;
    gpu_step_begin();
}
static void gpu_zero_grad(void *ctx) { gpt2_gpu_zero_grad(ctx); }
static void gpu_backward(void *ctx) { gpt2_gpu_backward(ctx); }
static float gpu_grad_norm(void *ctx) { return gpt2_gpu_grad_norm(ctx); }
static void gpu_scale_grads(void *ctx, float s) { gpt2_gpu_scale_grads(ctx, s); }
/* the update consumes the gradients: the GPU clears them in a pass of its own */
static void gpu_update(void *ctx, const AdamWConfig *opt, int t) {
    gpt2_gpu_update(ctx, opt, t);
    gpt2_gpu_zero_grad(ctx);
    gpu_step_end();
}
static void gpu_sync_to_host(void *ctx, GPT2 *host) {
    gpt2_gpu_params_to_host(ctx, host);
    gpt2_alloc_moments(host);
    gpt2_gpu_opt_state_to_host(ctx, host->m_memory, host->v_memory);
}
static void gpu_load_opt_state(void *ctx, const float *m, const float *v) { gpt2_gpu_opt_state_from_host(ctx, m, v); }

/* The host model keeps only the weights (no activations): the GPU gets a
 * copy of them and everything a step needs for (B,T) batches. */
static Backend open_gpu(GPT2 *model, const TrainConfig *c) {
    if (!gpu_available()) die("train_gpu: no CUDA GPU found (use ./train on the CPU)");
    if (model->lora.rank) /* a resumed LoRA run */
        die("%s: a LoRA run; it continues on the CPU (./train --resume %s)", c->out_dir, c->out_dir);
    Backend b = {.ctx = gpt2_gpu_create(model, c->B, c->T), .name = "gpu", .forward = gpu_forward,
                 .mean_loss = gpu_mean_loss, .step_begin = begin_timed_step, .zero_grad = gpu_zero_grad,
                 .backward = gpu_backward, .grad_norm = gpu_grad_norm, .scale_grads = gpu_scale_grads,
                 .update = gpu_update, .sync_to_host = gpu_sync_to_host, .load_opt_state = gpu_load_opt_state};
    printf("train_gpu: kernels %s\n", gpu_kernels_name());
    return b;
}

static void close_gpu(Backend *be, const TrainConfig *c) {
    gpu_print_step_times(TIMING_WARMUP_STEPS, (double)c->B * c->T * c->grad_accum);
    gpt2_gpu_free(be->ctx);
}

/* ---- the program ---- */

/* train_gpu checks its plan against the device's free memory */
static const MemoryTarget GPU_MEMORY = {.name = "GPU memory", .plan = gpt2_gpu_memory_plan,
                                        .available = gpu_memory_available};

/* train_gpu's own flags (kernels/gpt2_gpu.h), taken out of argv before the
 * trainer's parser sees it; --help lists them before ./train's options. */
static int take_gpu_options(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            printf("train_gpu: ./train with the GPU as the compute backend. GPU options:\n" GPU_OPTIONS_HELP
                   GPU_PROFILE_HELP "The step time (median over the steps after the first %d) is printed at the "
                   "end.\n\n", TIMING_WARMUP_STEPS);
    GpuOptions o;
    argc = gpu_options_take(&o, argc, argv, 1);
    gpu_profile_step(o.profile_step);
    return argc;
}

int main(int argc, char **argv) {
    argc = take_gpu_options(argc, argv);
    /* refused before the model is loaded (gigabytes, for the sizes LoRA is for) */
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--lora", 6))
            die_usage("%s: LoRA trains on the CPU (./train); the GPU path has no adapter kernels", argv[i]);
    return train_main(argc, argv, &GPU_MEMORY, open_gpu, close_gpu);
}
