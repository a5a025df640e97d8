/*
 * train.h: the trainer, shared by ./train (train.c, on the CPU) and
 * ./train_gpu (kernels/train_gpu.c): its settings, AdamW, the compute
 * backend and the loop. Only the backend differs between the two programs.
 * The bookkeeping around the loop has its own headers: dataloader.h (token
 * shards), rundir.h (checkpoints, log.csv), plot.h (loss.svg).
 */
#ifndef GPT2C_TRAIN_H
#define GPT2C_TRAIN_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "dataloader.h"
#include "gpt2.h"
#include "tokenizer.h"

#define PATH_FIELD 512 /* bytes per path string in the state file */

typedef struct {
    char train_pattern[PATH_FIELD], val_pattern[PATH_FIELD], vocab_dir[PATH_FIELD];
    char init_path[1024], out_dir[1024];
    int layers, heads, channels, context;  /* a new model's shape */
    int B, T, steps, warmup, grad_accum;
    float lr, lr_min, wd, grad_clip, beta1, beta2, eps;
    int eval_every, eval_batches, sample_every, sample_tokens;
    int checkpoint_every, keep_checkpoints, shuffle, stop_after;
    uint64_t seed;
    int lora_rank;       /* --lora R; 0: full fine-tuning */
    float lora_alpha;    /* 0: the default, alpha = R */
    unsigned lora_targets;
    int force;     /* --force: go on although the memory plan exceeds what is available */
    int plan_only; /* --plan-only: print the memory plan and exit */
} TrainConfig;

/* What a checkpoint must hold, besides the weights and AdamW's m and v, for a
 * resumed run to continue exactly. */
typedef struct {
    int step;            /* optimizer steps done */
    int data_epoch, data_shard;
    size_t data_batch;   /* next batch index within the shard's order */
    Rng rng;             /* sampling */
    double elapsed;      /* seconds of training so far, for log.csv */
} TrainProgress;

/* ---- AdamW (train.c) ---- */

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    /* 1: decay every parameter (the fixtures' convention); 0: decay only the
     * tensors adamw_decays names, the GPT-2 recipe. */
    int decay_all;
} AdamWConfig;

/* One AdamW update of n parameters in place, t the step number from 1. */
void adamw_update(float *params, const float *grads, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int t);
/* 1 - beta^t, the factor that undoes a moment's pull towards its zero start.
 * m and v start at zero, so after t steps m = (1-b) sum_k b^(t-k) g_k is a
 * weighted mean whose weights add up to 1 - b^t, not 1: dividing by that
 * restores the scale (a large correction early on, none as t grows). Inline
 * here because three updates share it: adamw_update, its fast twin in
 * fastops.c and the GPU's (kernels/adamw.cu). */
static inline float adamw_bias_correction(float beta, int t) { return 1.0f - powf(beta, (float)t); }
/* 1 if tensor `tensor` (PARAM_WTE, ...) gets weight decay in GPT-2's recipe. */
int adamw_decays(int tensor);
/* The weight decay tensor `tensor` gets under `opt`: opt->weight_decay or 0. */
float adamw_weight_decay(const AdamWConfig *opt, int tensor);
/* One AdamW step of the whole model (m and v allocated, zero, on the first);
 * the gradients are zero afterwards. */
void adamw_step(GPT2 *model, const AdamWConfig *opt, int t);
/* The learning rate of step `step` (from 1): linear warmup, then cosine decay. */
float learning_rate(const TrainConfig *c, int step);

/* ---- the compute backend ---- */

/* The compute a training step needs, as function pointers over a context:
 * the CPU model (backend_cpu) or the GPU driver (kernels/train_gpu.c). */
typedef struct {
    void *ctx;
    const char *name;
    void (*forward)(void *ctx, const int *inputs, const int *targets, int B, int T);
    float (*mean_loss)(void *ctx);
    void (*step_begin)(void *ctx); /* may be NULL; the GPU starts its step timer here */
    void (*zero_grad)(void *ctx);  /* once, before the first step */
    void (*backward)(void *ctx);   /* adds this micro-batch's gradient to the gradients */
    float (*grad_norm)(void *ctx);
    void (*scale_grads)(void *ctx, float s);
    /* AdamW; leaves the gradients zero, so the next step's backward passes
     * accumulate from zero without a zero_grad of their own */
    void (*update)(void *ctx, const AdamWConfig *opt, int t);
    /* copy weights and AdamW state into the host model, for checkpoints and samples */
    void (*sync_to_host)(void *ctx, GPT2 *host);
    void (*load_opt_state)(void *ctx, const float *m, const float *v);
} Backend;
Backend backend_cpu(GPT2 *model);

/* ---- a run ---- */

/* The memory a program checks before it allocates anything big: ./train
 * its host memory (gpt2_memory_plan), ./train_gpu the device's. */
typedef struct {
    const char *name; /* "memory" or "GPU memory", for messages */
    /* bytes the run needs there for batches of (B,T), as gpt2_memory_plan */
    MemoryPlan (*plan)(const GPT2Config *c, int B, int T, TrainedSpec trained, int with_kv_cache);
    /* bytes free there, 0 if unknown (the check is skipped); *source says where from */
    size_t (*available)(const char **source);
} MemoryTarget;
extern const MemoryTarget HOST_MEMORY;

/* Settings, the memory plan (checked against `mem`), data, model, resume
 * (train_setup.c). Fills *c, *host, *p and the loaders; returns 1 if there
 * is validation data. */
int train_setup(int argc, char **argv, const MemoryTarget *mem, TrainConfig *c, GPT2 *host, TrainProgress *p,
                DataLoader *train_dl, DataLoader *val_dl);
/* The tokenizer for samples, or NULL (no samples asked for, or no vocabulary);
 * dies at once if its vocabulary does not match the model's (so a sample
 * can never fail mid-run). */
const Tokenizer *train_tokenizer(const TrainConfig *c, const GPT2 *host);
/* The loop, from step p->step + 1 to c->steps; returns the exit status. */
int train(TrainConfig *c, Backend *be, GPT2 *host, TrainProgress *p, DataLoader *train_dl, DataLoader *val_dl,
          const Tokenizer *tok);
/* A whole program: train_setup, then open_backend on the set-up model, train,
 * close_backend (may be NULL), free everything; returns main's exit status. */
int train_main(int argc, char **argv, const MemoryTarget *mem,
               Backend (*open_backend)(GPT2 *model, const TrainConfig *c),
               void (*close_backend)(Backend *be, const TrainConfig *c));

#endif
