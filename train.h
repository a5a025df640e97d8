/*
 * train.h: the parts of the trainer that ./train (train.c) and ./train_gpu
 * (kernels/) share: settings, the shard data loader, checkpoints, the loop.
 * Only the compute backend differs between the two programs.
 */
#ifndef GPT2C_TRAIN_H
#define GPT2C_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
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

typedef struct {
    char *path;
    size_t ntok, nbatches;
} Shard;

typedef struct {
    Shard *shards;
    int nshards, B, T, V, shuffle;
    uint64_t seed;
    size_t total_batches;
    int epoch, shard;    /* position: shard `shard` of epoch `epoch`, */
    size_t batch;        /* next index into `order` */
    size_t *order;       /* the batch order of the current shard */
    uint16_t *buf;
    int *inputs, *targets; /* (B,T) of the last batch */
} DataLoader;

void loader_init(DataLoader *dl, const char *pattern, int B, int T, int V, int shuffle, uint64_t seed);
void loader_seek(DataLoader *dl, int epoch, int shard, size_t batch);
void loader_next(DataLoader *dl);
void loader_free(DataLoader *dl);

float learning_rate(const TrainConfig *c, int step);

/* The compute a training step needs, as function pointers over a context:
 * the CPU model (backend_cpu) or the GPU driver (train_gpu). */
typedef struct {
    void *ctx;
    const char *name;
    void (*forward)(void *ctx, const int *inputs, const int *targets, int B, int T);
    float (*mean_loss)(void *ctx);
    void (*zero_grad)(void *ctx);
    void (*backward)(void *ctx);
    float (*grad_norm)(void *ctx);
    void (*scale_grads)(void *ctx, float s);
    void (*update)(void *ctx, const AdamWConfig *opt, int t);
    /* copy weights and AdamW state into the host model, for checkpoints and samples */
    void (*sync_to_host)(void *ctx, GPT2 *host);
    void (*load_opt_state)(void *ctx, const float *m, const float *v);
} Backend;
Backend backend_cpu(GPT2 *model);

void save_checkpoint(const TrainConfig *c, const TrainProgress *p, const GPT2 *model);
int train_setup(int argc, char **argv, TrainConfig *c, GPT2 *host, TrainProgress *p, DataLoader *train_dl,
                DataLoader *val_dl);
const Tokenizer *train_tokenizer(const TrainConfig *c);
int train(TrainConfig *c, Backend *be, GPT2 *host, TrainProgress *p, DataLoader *train_dl, DataLoader *val_dl,
          const Tokenizer *tok);

#endif
