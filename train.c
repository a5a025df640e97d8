/*
 * train.c: the ./train program. Pretrain GPT-2 from scratch or fine-tune a
 * checkpoint on llm.c-format token shards, with AdamW, a warmup + cosine
 * learning-rate schedule, gradient clipping and accumulation, periodic
 * validation and samples, atomic checkpoints with exact resume, a progress
 * line, log.csv and a loss.svg plot.
 *
 * Reading order: TrainConfig (every knob) -> the data loader -> the schedule
 * and clipping -> checkpoints -> train() (the loop) -> main().
 * notes.md ("Training") explains the choices.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "generation.h"
#include "gpt2.h"
#include "tokenizer.h"
#include "train.h"

/* ------------------------------------------------------------------------ */
/* configuration                                                             */

static const TrainConfig TRAIN_DEFAULTS = {
    .layers = 4, .heads = 4, .channels = 256, .context = 256,
    .B = 8, .T = 128, .steps = 200, .warmup = 20, .grad_accum = 1,
    .lr = 6e-4f, .lr_min = 6e-5f, .wd = 0.1f, .grad_clip = 1.0f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
    .eval_every = 50, .eval_batches = 10, .sample_every = 0, .sample_tokens = 64,
    .checkpoint_every = 0, .keep_checkpoints = 2, .shuffle = 1, .seed = 1337, .stop_after = 0,
};

static void usage(FILE *f, const char *prog) {
    fprintf(f,
        "usage: %s --train PATTERN [--val PATTERN] [options]\n"
        "Train GPT-2 on llm.c-format token shards (make them with ./tokenize shard).\n"
        "data:\n"
        "  --train PATTERN        training shards (a glob, quote it), required unless --resume\n"
        "  --val PATTERN          validation shards (a glob)\n"
        "  --no-shuffle           read training batches in file order (default: shuffled per epoch)\n"
        "model (a new model, GPT-2 initialisation, V=50257):\n"
        "  --layers N --heads N --channels N --context N   (default 4 4 256 256)\n"
        "  --init CKPT            start from a checkpoint instead (fine-tuning)\n"
        "optimisation:\n"
        "  -b, --batch N          sequences per micro-batch (default 8)\n"
        "  -t, --seq N            tokens per sequence, at most the context (default 128)\n"
        "  --steps N              optimizer steps (default 200)\n"
        "  --grad-accum N         micro-batches per step (default 1)\n"
        "  --lr X --lr-min X      peak and final learning rate (default 6e-4, 6e-5)\n"
        "  --warmup N             linear warmup steps, then cosine decay to --lr-min (default 20)\n"
        "  --wd X                 weight decay on 2-D weight matrices only (default 0.1)\n"
        "  --grad-clip X          clip the global gradient norm to X, 0 = off (default 1.0)\n"
        "  --beta1 X --beta2 X    AdamW betas (default 0.9, 0.95)\n"
        "  --seed N               initialisation, data order and sampling (default 1337)\n"
        "evaluation, samples, checkpoints:\n"
        "  --eval-every N         validation loss every N steps, 0 = only at the end (default 50)\n"
        "  --eval-batches N       batches per validation (default 10)\n"
        "  --sample-every N       print a sample every N steps, 0 = off (default 0)\n"
        "  --sample-tokens N      tokens per sample (default 64)\n"
        "  --vocab DIR            encoder.json + vocab.bpe for samples (default $GPT2_VOCAB_DIR or data/gpt2)\n"
        "  --out DIR              checkpoints, log.csv and loss.svg go here (default out)\n"
        "  --checkpoint-every N   also checkpoint every N steps, 0 = only at the end (default 0)\n"
        "  --keep-checkpoints N   keep the newest N checkpoints (default 2)\n"
        "  --resume DIR           continue the run in DIR from its newest checkpoint; its settings\n"
        "                         are restored, flags given here override them\n"
        "  --stop-after N         stop (with a checkpoint) after step N, as if interrupted\n"
        "Ctrl-C saves a checkpoint and exits; --resume continues exactly.\n",
        prog);
}

static const char *next_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) die_usage("%s needs a value", argv[*i]);
    return argv[++*i];
}

static void copy_string(char *dst, size_t cap, const char *src, const char *flag) {
    if (strlen(src) >= cap) die_usage("%s: value is longer than %zu characters", flag, cap - 1);
    strcpy(dst, src);
}

/* Apply the command-line flags on top of `c`. Called after the defaults, or
 * after the settings restored from a checkpoint, so that flags always win. */
static void parse_flags(TrainConfig *c, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define FLAG(name) (!strcmp(a, name))
#define INT(lo, hi) (int)parse_long(next_value(argc, argv, &i), a, lo, hi)
#define REAL(lo, hi) (float)parse_double(next_value(argc, argv, &i), a, lo, hi)
        if (FLAG("--train")) copy_string(c->train_pattern, sizeof c->train_pattern, next_value(argc, argv, &i), a);
        else if (FLAG("--val")) copy_string(c->val_pattern, sizeof c->val_pattern, next_value(argc, argv, &i), a);
        else if (FLAG("--init")) copy_string(c->init_path, sizeof c->init_path, next_value(argc, argv, &i), a);
        else if (FLAG("--vocab")) copy_string(c->vocab_dir, sizeof c->vocab_dir, next_value(argc, argv, &i), a);
        else if (FLAG("--out")) copy_string(c->out_dir, sizeof c->out_dir, next_value(argc, argv, &i), a);
        else if (FLAG("--resume")) copy_string(c->out_dir, sizeof c->out_dir, next_value(argc, argv, &i), a);
        else if (FLAG("--no-shuffle")) c->shuffle = 0;
        else if (FLAG("--layers")) c->layers = INT(1, 1000);
        else if (FLAG("--heads")) c->heads = INT(1, 1000);
        else if (FLAG("--channels")) c->channels = INT(1, 100000);
        else if (FLAG("--context")) c->context = INT(1, 1000000);
        else if (FLAG("-b") || FLAG("--batch")) c->B = INT(1, 1000000);
        else if (FLAG("-t") || FLAG("--seq")) c->T = INT(1, 1000000);
        else if (FLAG("--steps")) c->steps = INT(1, 1000000000);
        else if (FLAG("--grad-accum")) c->grad_accum = INT(1, 100000);
        else if (FLAG("--lr")) c->lr = REAL(0.0, 10.0);
        else if (FLAG("--lr-min")) c->lr_min = REAL(0.0, 10.0);
        else if (FLAG("--warmup")) c->warmup = INT(0, 1000000000);
        else if (FLAG("--wd")) c->wd = REAL(0.0, 10.0);
        else if (FLAG("--grad-clip")) c->grad_clip = REAL(0.0, 1e9);
        else if (FLAG("--beta1")) c->beta1 = REAL(0.0, 0.999999);
        else if (FLAG("--beta2")) c->beta2 = REAL(0.0, 0.999999);
        else if (FLAG("--seed")) c->seed = (uint64_t)parse_long(next_value(argc, argv, &i), a, 0, 2147483647L);
        else if (FLAG("--eval-every")) c->eval_every = INT(0, 1000000000);
        else if (FLAG("--eval-batches")) c->eval_batches = INT(1, 1000000);
        else if (FLAG("--sample-every")) c->sample_every = INT(0, 1000000000);
        else if (FLAG("--sample-tokens")) c->sample_tokens = INT(1, 1000000);
        else if (FLAG("--checkpoint-every")) c->checkpoint_every = INT(0, 1000000000);
        else if (FLAG("--keep-checkpoints")) c->keep_checkpoints = INT(1, 1000000);
        else if (FLAG("--stop-after")) c->stop_after = INT(0, 1000000000);
        else die_usage("unknown option '%s' (see --help)", a);
#undef FLAG
#undef INT
#undef REAL
    }
}

/* ------------------------------------------------------------------------ */
/* data: token shards and the batch order                                    */

#define SHARD_MAGIC 20240520

/* Every id must be a token of the model: checked once up front, so that a bad
 * shard fails at the start rather than hours into a run. */
static void check_token_ids(const Shard *s, int V) {
    enum { CHUNK = 1 << 16 };
    uint16_t *buf = xmalloc(CHUNK * sizeof(uint16_t), "shard check buffer");
    FILE *f = xfopen(s->path, "rb");
    if (fseek(f, 1024, SEEK_SET) != 0) die("%s: cannot seek past the header", s->path);
    for (size_t done = 0; done < s->ntok;) {
        size_t n = s->ntok - done < CHUNK ? s->ntok - done : CHUNK;
        xfread(buf, sizeof(uint16_t), n, f, s->path);
        for (size_t i = 0; i < n; i++)
            if (buf[i] >= V)
                die("%s: token %u at position %zu is outside the vocabulary [0, %d)", s->path, buf[i], done + i, V);
        done += n;
    }
    xfclose(f, s->path);
    free(buf);
}

/* Open and check every shard matching `pattern` (header, size), counting the
 * (B,T) batches each holds. Batch k of a shard covers tokens
 * [k*B*T, k*B*T + B*T + 1): inputs are the first B*T, targets the last B*T. */
void loader_init(DataLoader *dl, const char *pattern, int B, int T, int V, int shuffle, uint64_t seed) {
    memset(dl, 0, sizeof(*dl));
    glob_t g;
    int rc = glob(pattern, 0, NULL, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) die("%s: no files match this pattern", pattern);
    if (rc != 0) die("%s: cannot expand this pattern", pattern);
    dl->nshards = (int)g.gl_pathc;
    dl->shards = xcalloc(g.gl_pathc, sizeof(Shard), "shard list");
    dl->B = B;
    dl->T = T;
    dl->V = V;
    dl->shuffle = shuffle;
    dl->seed = seed;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        dl->shards[i].path = xmalloc(strlen(g.gl_pathv[i]) + 1, "shard path");
        strcpy(dl->shards[i].path, g.gl_pathv[i]);
    }
    globfree(&g);
    size_t BT = (size_t)B * T, total = 0;
    for (int i = 0; i < dl->nshards; i++) {
        Shard *s = &dl->shards[i];
        FILE *f = xfopen(s->path, "rb");
        size_t size = file_size(f, s->path);
        int32_t h[HEADER_INTS];
        read_header(f, s->path, h);
        xfclose(f, s->path);
        if (h[0] != SHARD_MAGIC) die("%s: not a token shard (magic %d, expected %d)", s->path, h[0], SHARD_MAGIC);
        if (h[1] != 1) die("%s: unsupported token shard version %d (1 = uint16 tokens)", s->path, h[1]);
        if (h[2] < 0 || size != 1024 + 2 * (size_t)h[2])
            die("%s: header says %d tokens but the file holds %zu bytes of tokens", s->path, h[2], size - 1024);
        s->ntok = (size_t)h[2];
        check_token_ids(s, V);
        s->nbatches = s->ntok > BT ? (s->ntok - 1) / BT : 0;
        total += s->nbatches;
    }
    if (total == 0)
        die("%s: the data is shorter than one batch (B*T+1 = %zu tokens needed)", pattern, BT + 1);
    dl->total_batches = total;
    dl->buf = xmalloc((BT + 1) * sizeof(uint16_t), "batch buffer");
    dl->inputs = xmalloc(BT * sizeof(int), "batch inputs");
    dl->targets = xmalloc(BT * sizeof(int), "batch targets");
    loader_seek(dl, 0, 0, 0);
}

/* The batch order within shard `shard` in epoch `epoch`: file order, or a
 * Fisher-Yates shuffle seeded by (seed, epoch, shard). Derived, not stored, so
 * a resumed run recomputes exactly the same order. */
static void loader_make_order(DataLoader *dl) {
    Shard *s = &dl->shards[dl->shard];
    free(dl->order);
    dl->order = xmalloc((s->nbatches ? s->nbatches : 1) * sizeof(size_t), "batch order");
    for (size_t k = 0; k < s->nbatches; k++) dl->order[k] = k;
    if (!dl->shuffle) return;
    Rng r;
    rng_seed(&r, dl->seed * 1000003ull + (uint64_t)dl->epoch * 7919ull + (uint64_t)dl->shard);
    for (size_t k = s->nbatches; k > 1; k--) {
        size_t j = ((size_t)rng_u32(&r) << 32 | rng_u32(&r)) % k;
        size_t tmp = dl->order[k - 1];
        dl->order[k - 1] = dl->order[j];
        dl->order[j] = tmp;
    }
}

void loader_seek(DataLoader *dl, int epoch, int shard, size_t batch) {
    if (shard < 0 || shard >= dl->nshards || batch > dl->shards[shard].nbatches)
        die("data position (epoch %d, shard %d, batch %zu) does not exist in these shards", epoch, shard, batch);
    dl->epoch = epoch;
    dl->shard = shard;
    dl->batch = batch;
    loader_make_order(dl);
}

/* Load the next (B,T) batch into dl->inputs / dl->targets and advance. */
void loader_next(DataLoader *dl) {
    while (dl->batch >= dl->shards[dl->shard].nbatches) { /* end of shard: next one, or next epoch */
        int shard = dl->shard + 1, epoch = dl->epoch;
        if (shard == dl->nshards) { shard = 0; epoch++; }
        loader_seek(dl, epoch, shard, 0);
    }
    Shard *s = &dl->shards[dl->shard];
    size_t BT = (size_t)dl->B * dl->T;
    size_t start = dl->order[dl->batch] * BT;
    FILE *f = xfopen(s->path, "rb");
    if (fseek(f, (long)(1024 + 2 * start), SEEK_SET) != 0) die("%s: cannot seek to token %zu", s->path, start);
    xfread(dl->buf, sizeof(uint16_t), BT + 1, f, s->path);
    xfclose(f, s->path);
    for (size_t i = 0; i < BT; i++) {
        dl->inputs[i] = dl->buf[i];
        dl->targets[i] = dl->buf[i + 1];
    }
    dl->batch++;
}

void loader_free(DataLoader *dl) {
    for (int i = 0; i < dl->nshards; i++) free(dl->shards[i].path);
    free(dl->shards);
    free(dl->order);
    free(dl->buf);
    free(dl->inputs);
    free(dl->targets);
    memset(dl, 0, sizeof(*dl));
}

/* ------------------------------------------------------------------------ */
/* schedule and clipping                                                     */

/* Linear warmup from lr/warmup to lr over the first `warmup` steps, then a
 * half cosine from lr down to lr_min at the last step. step counts from 1. */
float learning_rate(const TrainConfig *c, int step) {
    if (step <= c->warmup) return c->lr * (float)step / (float)c->warmup;
    if (c->steps <= c->warmup) return c->lr;
    float progress = (float)(step - c->warmup) / (float)(c->steps - c->warmup); /* (0, 1] */
    float cosine = 0.5f * (1.0f + cosf(3.14159265358979f * progress));          /* 1 -> 0 */
    return c->lr_min + (c->lr - c->lr_min) * cosine;
}

/* The L2 norm of all gradients as one vector, summed in double in a fixed
 * order so that it is reproducible. */
static float grad_norm_cpu(const GPT2 *m) {
    double sum = 0.0;
    for (size_t i = 0; i < m->num_parameters; i++) sum += (double)m->grads_memory[i] * m->grads_memory[i];
    return (float)sqrt(sum);
}

static void scale_grads_cpu(GPT2 *m, float s) {
    for (size_t i = 0; i < m->num_parameters; i++) m->grads_memory[i] *= s;
}

/* ------------------------------------------------------------------------ */
/* the compute backend: the CPU model here; train_gpu plugs in the GPU one   */

static void cpu_forward(void *ctx, const int *inputs, const int *targets, int B, int T) {
    gpt2_forward(ctx, inputs, targets, B, T);
}
static float cpu_mean_loss(void *ctx) { return ((GPT2 *)ctx)->mean_loss; }
static void cpu_zero_grad(void *ctx) { gpt2_zero_grad(ctx); }
static void cpu_backward(void *ctx) { gpt2_backward(ctx); }
static float cpu_grad_norm(void *ctx) { return grad_norm_cpu(ctx); }
static void cpu_scale_grads(void *ctx, float s) { scale_grads_cpu(ctx, s); }
static void cpu_update(void *ctx, const AdamWConfig *opt, int t) { gpt2_update(ctx, opt, t); }
static void cpu_sync_to_host(void *ctx, GPT2 *host) { (void)ctx; (void)host; /* the host model is the model */ }
static void cpu_load_opt_state(void *ctx, const float *m, const float *v) {
    GPT2 *model = ctx;
    if (m == model->m_memory && v == model->v_memory) return; /* already the model's own */
    if (!model->m_memory) {
        model->m_memory = xcalloc(model->num_parameters, sizeof(float), "AdamW m");
        model->v_memory = xcalloc(model->num_parameters, sizeof(float), "AdamW v");
    }
    memcpy(model->m_memory, m, model->num_parameters * sizeof(float));
    memcpy(model->v_memory, v, model->num_parameters * sizeof(float));
}

Backend backend_cpu(GPT2 *model) {
    Backend b = {.ctx = model, .name = "cpu", .forward = cpu_forward, .mean_loss = cpu_mean_loss,
                 .zero_grad = cpu_zero_grad, .backward = cpu_backward, .grad_norm = cpu_grad_norm,
                 .scale_grads = cpu_scale_grads, .update = cpu_update, .sync_to_host = cpu_sync_to_host,
                 .load_opt_state = cpu_load_opt_state};
    return b;
}

/* ------------------------------------------------------------------------ */
/* checkpoints: DIR/model_NNNNNNNN.bin (llm.c v3) + DIR/state_NNNNNNNN.bin   */

#define TRAIN_STATE_MAGIC 20241128
#define TRAIN_STATE_VERSION 1

static void ckpt_path(char *buf, size_t cap, const char *dir, const char *kind, int step) {
    if ((size_t)snprintf(buf, cap, "%s/%s_%08d.bin", dir, kind, step) >= cap) die("%s: path too long", dir);
}

static void put_u64(int32_t *h, int slot, uint64_t v) {
    h[slot] = (int32_t)(uint32_t)(v & 0xFFFFFFFFu);
    h[slot + 1] = (int32_t)(uint32_t)(v >> 32);
}
static uint64_t get_u64(const int32_t *h, int slot) {
    return (uint64_t)(uint32_t)h[slot] | (uint64_t)(uint32_t)h[slot + 1] << 32;
}
static void put_f32(int32_t *h, int slot, float v) { memcpy(&h[slot], &v, 4); }
static float get_f32(const int32_t *h, int slot) {
    float v;
    memcpy(&v, &h[slot], 4);
    return v;
}

/* The state file (format in notes.md, "Training"): a 256-int32 header with
 * the step, data position, RNG and every numeric setting; the three path
 * strings (512 bytes each); then AdamW's m and v (num_parameters floats each). */
static void state_header(int32_t *h, const TrainConfig *c, const TrainProgress *p, size_t nparams) {
    memset(h, 0, HEADER_INTS * sizeof(int32_t));
    h[0] = TRAIN_STATE_MAGIC; h[1] = TRAIN_STATE_VERSION; h[2] = p->step;
    h[3] = c->B; h[4] = c->T; h[5] = c->steps; h[6] = c->warmup; h[7] = c->grad_accum;
    h[8] = c->eval_every; h[9] = c->eval_batches; h[10] = c->sample_every; h[11] = c->checkpoint_every;
    h[12] = c->shuffle; put_u64(h, 13, nparams); put_u64(h, 15, p->rng.state);
    h[17] = p->data_epoch; h[18] = p->data_shard; put_u64(h, 19, p->data_batch);
    put_u64(h, 21, c->seed); h[23] = c->keep_checkpoints; h[24] = c->sample_tokens;
    put_f32(h, 32, c->lr); put_f32(h, 33, c->lr_min); put_f32(h, 34, c->wd); put_f32(h, 35, c->grad_clip);
    put_f32(h, 36, c->beta1); put_f32(h, 37, c->beta2); put_f32(h, 38, c->eps);
    put_f32(h, 39, (float)p->elapsed);
}

static void write_path_field(FILE *f, const char *s, const char *path) {
    char field[PATH_FIELD] = {0};
    size_t n = strlen(s);
    memcpy(field, s, n < PATH_FIELD - 1 ? n : PATH_FIELD - 1);
    xfwrite(field, 1, PATH_FIELD, f, path);
}

void save_checkpoint(const TrainConfig *c, const TrainProgress *p, const GPT2 *model) {
    char path[1200];
    ckpt_path(path, sizeof path, c->out_dir, "model", p->step);
    gpt2_save(model, path);
    /* the state is written after the model: a state file always has its model */
    ckpt_path(path, sizeof path, c->out_dir, "state", p->step);
    int32_t h[HEADER_INTS];
    state_header(h, c, p, model->num_parameters);
    AtomicFile af = atomic_open(path);
    xfwrite(h, sizeof(int32_t), HEADER_INTS, af.f, af.tmp_path);
    write_path_field(af.f, c->train_pattern, af.tmp_path);
    write_path_field(af.f, c->val_pattern, af.tmp_path);
    write_path_field(af.f, c->vocab_dir, af.tmp_path);
    xfwrite(model->m_memory, sizeof(float), model->num_parameters, af.f, af.tmp_path);
    xfwrite(model->v_memory, sizeof(float), model->num_parameters, af.f, af.tmp_path);
    atomic_commit(&af);
}

/* A setting restored from a state file, held to the range its flag allows:
 * a corrupt file must not become, say, a zero batch or keep_checkpoints = 0. */
static int state_int(const int32_t *h, int slot, const char *name, long lo, long hi, const char *path) {
    if (h[slot] < lo || h[slot] > hi) die("%s: corrupt state: %s = %d is outside [%ld, %ld]", path, name, h[slot], lo, hi);
    return h[slot];
}
static float state_real(const int32_t *h, int slot, const char *name, double lo, double hi, const char *path) {
    float v = get_f32(h, slot);
    if (!(v >= lo && v <= hi)) die("%s: corrupt state: %s = %g is outside [%g, %g]", path, name, v, lo, hi);
    return v;
}

/* Read a state file's header and settings into *c and *p; m and v are left
 * in the file for load_opt_state. */
static FILE *read_state(const char *path, TrainConfig *c, TrainProgress *p, size_t *nparams) {
    FILE *f = xfopen(path, "rb");
    size_t fsize = file_size(f, path);
    int32_t h[HEADER_INTS];
    read_header(f, path, h);
    if (h[0] != TRAIN_STATE_MAGIC) die("%s: not a gpt2c training state (magic %d)", path, h[0]);
    if (h[1] != TRAIN_STATE_VERSION) die("%s: unsupported training state version %d", path, h[1]);
    *nparams = (size_t)get_u64(h, 13);
    size_t want = 1024 + 3 * PATH_FIELD;
    if (*nparams > (SIZE_MAX - want) / (2 * sizeof(float)) || fsize != want + 2 * sizeof(float) * *nparams)
        die("%s: file is %zu bytes, but a state for %zu parameters needs %s", path, fsize, *nparams,
            *nparams > (SIZE_MAX - want) / 8 ? "more than fits" : "another size (truncated?)");
    p->step = state_int(h, 2, "step", 0, 1000000000, path);
    c->B = state_int(h, 3, "B", 1, 1000000, path);
    c->T = state_int(h, 4, "T", 1, 1000000, path);
    c->steps = state_int(h, 5, "steps", 1, 1000000000, path);
    c->warmup = state_int(h, 6, "warmup", 0, 1000000000, path);
    c->grad_accum = state_int(h, 7, "grad_accum", 1, 100000, path);
    c->eval_every = state_int(h, 8, "eval_every", 0, 1000000000, path);
    c->eval_batches = state_int(h, 9, "eval_batches", 1, 1000000, path);
    c->sample_every = state_int(h, 10, "sample_every", 0, 1000000000, path);
    c->checkpoint_every = state_int(h, 11, "checkpoint_every", 0, 1000000000, path);
    c->shuffle = state_int(h, 12, "shuffle", 0, 1, path);
    p->rng.state = get_u64(h, 15);
    if (p->rng.state == 0) die("%s: corrupt state: the sampling RNG state is 0", path);
    p->data_epoch = state_int(h, 17, "data_epoch", 0, INT32_MAX, path);
    p->data_shard = state_int(h, 18, "data_shard", 0, INT32_MAX, path); /* loader_seek checks it against the data */
    p->data_batch = (size_t)get_u64(h, 19);
    c->seed = get_u64(h, 21);
    c->keep_checkpoints = state_int(h, 23, "keep_checkpoints", 1, 1000000, path);
    c->sample_tokens = state_int(h, 24, "sample_tokens", 1, 1000000, path);
    c->lr = state_real(h, 32, "lr", 0, 10, path);
    c->lr_min = state_real(h, 33, "lr_min", 0, 10, path);
    c->wd = state_real(h, 34, "wd", 0, 10, path);
    c->grad_clip = state_real(h, 35, "grad_clip", 0, 1e9, path);
    c->beta1 = state_real(h, 36, "beta1", 0, 0.999999, path);
    c->beta2 = state_real(h, 37, "beta2", 0, 0.999999, path);
    c->eps = state_real(h, 38, "eps", 0, 1, path);
    p->elapsed = state_real(h, 39, "elapsed", 0, 1e12, path);
    char field[PATH_FIELD];
    char *dst[3] = {c->train_pattern, c->val_pattern, c->vocab_dir};
    for (int i = 0; i < 3; i++) {
        xfread(field, 1, PATH_FIELD, f, path);
        field[PATH_FIELD - 1] = '\0';
        strcpy(dst[i], field);
    }
    return f;
}

/*
 * Crash safety. A checkpoint is step N's model_N.bin and state_N.bin, each
 * written to a .tmp file, fsynced and renamed into place (atomic_commit), the
 * model first. So at any moment, whatever kills the process:
 *   - a file under its real name is complete (rename is atomic);
 *   - a state_N.bin implies its model_N.bin (written before it);
 *   - a checkpoint counts only when both exist (newest_checkpoint);
 *   - older checkpoints are deleted only after a newer one is complete, the
 *     state before the model, so a half-deleted one is never picked up.
 * A kill can leave a .tmp file or a model without its state; the next
 * prune_checkpoints sweeps them.
 */

/* The steps N for which DIR/KIND_NNNNNNNN.bin exists (exactly that name), ascending. */
static size_t checkpoint_steps(const char *dir, const char *kind, int **steps) {
    char pattern[1200], path[1200];
    ckpt_path(pattern, sizeof pattern, dir, kind, 0);
    strcpy(strrchr(pattern, '_') + 1, "*.bin");
    glob_t g;
    size_t n = 0;
    *steps = NULL;
    if (glob(pattern, 0, NULL, &g) != 0) return 0;
    *steps = xmalloc(g.gl_pathc * sizeof(int), "checkpoint list");
    for (size_t i = 0; i < g.gl_pathc; i++) { /* glob sorts, and the 8 digits make that step order */
        const char *digits = strrchr(g.gl_pathv[i], '_') + 1;
        int step = atoi(digits);
        ckpt_path(path, sizeof path, dir, kind, step);
        if (step >= 0 && !strcmp(path, g.gl_pathv[i])) (*steps)[n++] = step;
    }
    globfree(&g);
    return n;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* The newest step in `dir` with both a model and a state file, or -1. */
static int newest_checkpoint(const char *dir) {
    int *steps, best = -1;
    char path[1200];
    for (size_t i = checkpoint_steps(dir, "state", &steps); i-- > 0 && best < 0;) {
        ckpt_path(path, sizeof path, dir, "model", steps[i]);
        if (file_exists(path)) best = steps[i];
    }
    free(steps);
    return best;
}

static void remove_matching(const char *pattern) {
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0) return;
    for (size_t i = 0; i < g.gl_pathc; i++) remove(g.gl_pathv[i]);
    globfree(&g);
}

/* Called once the checkpoint of step `newest` is complete: keep it and the
 * newest keep_checkpoints - 1 complete ones before it; delete older ones,
 * models left without a state, and .tmp files of writes a kill cut short.
 * Checkpoints after `newest` (another run's) are left alone. */
static void prune_checkpoints(const TrainConfig *c, int newest) {
    char path[1200];
    int *steps, kept = 0;
    for (size_t i = checkpoint_steps(c->out_dir, "state", &steps); i-- > 0;) {
        if (steps[i] > newest) continue;
        ckpt_path(path, sizeof path, c->out_dir, "model", steps[i]);
        if (file_exists(path) && kept < c->keep_checkpoints) { kept++; continue; }
        ckpt_path(path, sizeof path, c->out_dir, "state", steps[i]);
        remove(path); /* the state first: a model without its state is never resumed from */
        ckpt_path(path, sizeof path, c->out_dir, "model", steps[i]);
        remove(path);
    }
    free(steps);
    for (size_t i = checkpoint_steps(c->out_dir, "model", &steps); i-- > 0;) {
        ckpt_path(path, sizeof path, c->out_dir, "state", steps[i]);
        if (steps[i] >= newest || file_exists(path)) continue;
        ckpt_path(path, sizeof path, c->out_dir, "model", steps[i]);
        remove(path);
    }
    free(steps);
    for (int k = 0; k < 2; k++) {
        ckpt_path(path, sizeof path, c->out_dir, k ? "state" : "model", 0);
        strcpy(strrchr(path, '_') + 1, "*.bin.tmp");
        remove_matching(path);
    }
}

/* ------------------------------------------------------------------------ */
/* log.csv and loss.svg                                                      */

/* One row of log.csv per step. */
typedef struct {
    int step;
    float train, val, lr; /* NAN where absent */
    double elapsed;
} HistoryRow;
typedef struct {
    HistoryRow *rows;
    size_t n, cap;
} History;


static void history_add(History *h, int step, float train, float val, float lr, double elapsed) {
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 256;
        HistoryRow *rows = realloc(h->rows, h->cap * sizeof(HistoryRow));
        if (!rows) die("out of memory for the training log");
        h->rows = rows;
    }
    h->rows[h->n++] = (HistoryRow){step, train, val, lr, elapsed};
}

/* Rows of an earlier run's log.csv up to step `upto` (resume keeps them). */
static void history_load(History *h, const char *path, int upto) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        int step;
        float train = NAN, val = NAN, lr = 0;
        double elapsed = 0;
        char vbuf[64] = "";
        if (sscanf(line, "%d,%f,%63[^,],%f,%lf", &step, &train, vbuf, &lr, &elapsed) < 1) continue; /* header */
        if (step > upto) break;
        val = vbuf[0] ? strtof(vbuf, NULL) : NAN;
        history_add(h, step, train, val, lr, elapsed);
    }
    fclose(f);
}

static void write_log_csv(const History *h, const char *dir) {
    char path[1200];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    AtomicFile af = atomic_open(path);
    fprintf(af.f, "step,train_loss,val_loss,lr,elapsed_s\n");
    for (size_t i = 0; i < h->n; i++) {
        const HistoryRow *r = &h->rows[i];
        fprintf(af.f, "%d,", r->step);
        if (!isnan(r->train)) fprintf(af.f, "%.6f", r->train);
        fprintf(af.f, ",");
        if (!isnan(r->val)) fprintf(af.f, "%.6f", r->val);
        fprintf(af.f, ",%.6g,%.2f\n", r->lr, r->elapsed);
    }
    atomic_commit(&af);
}

/* A loss-vs-step plot as SVG: train loss as a thin line, validation loss as a
 * thicker line with dots. */
static void write_loss_svg(const History *h, const char *dir) {
    const double W = 720, H = 420, left = 60, right = 20, top = 30, bottom = 50;
    double xmax = 1, ymin = INFINITY, ymax = -INFINITY;
    for (size_t i = 0; i < h->n; i++) {
        const HistoryRow *r = &h->rows[i];
        if (r->step > xmax) xmax = r->step;
        float ys[2] = {r->train, r->val};
        for (int k = 0; k < 2; k++)
            if (!isnan(ys[k])) { ymin = fmin(ymin, ys[k]); ymax = fmax(ymax, ys[k]); }
    }
    if (!(ymax >= ymin)) { ymin = 0; ymax = 1; }
    if (ymax - ymin < 1e-3) { ymin -= 0.5; ymax += 0.5; }
    double pad = 0.05 * (ymax - ymin);
    ymin -= pad;
    ymax += pad;
#define PX(s) (left + (W - left - right) * (double)(s) / xmax)
#define PY(y) (top + (H - top - bottom) * (1.0 - ((y) - ymin) / (ymax - ymin)))
    char path[1200];
    snprintf(path, sizeof path, "%s/loss.svg", dir);
    AtomicFile af = atomic_open(path);
    FILE *f = af.f;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    for (int k = 0; k <= 5; k++) { /* grid and axis labels */
        double y = ymin + (ymax - ymin) * k / 5, x = xmax * k / 5;
        fprintf(f, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>", left, PY(y), W - right, PY(y));
        fprintf(f, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", left - 5, PY(y) + 4, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%.0f</text>\n", PX(x), H - bottom + 18, x);
    }
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">step</text>\n", (left + W - right) / 2, H - 10);
    fprintf(f, "<text x=\"%g\" y=\"18\">loss: <tspan fill=\"#1f77b4\">train</tspan>, "
               "<tspan fill=\"#d62728\">validation</tspan></text>\n", left);
    const char *colors[2] = {"#1f77b4", "#d62728"};
    for (int k = 0; k < 2; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%d\" points=\"", colors[k], k ? 2 : 1);
        for (size_t i = 0; i < h->n; i++) {
            float y = k ? h->rows[i].val : h->rows[i].train;
            if (!isnan(y)) fprintf(f, "%.1f,%.1f ", PX(h->rows[i].step), PY(y));
        }
        fprintf(f, "\"/>\n");
    }
    for (size_t i = 0; i < h->n; i++)
        if (!isnan(h->rows[i].val))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", PX(h->rows[i].step),
                    PY(h->rows[i].val), colors[1]);
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
    atomic_commit(&af);
}

/* ------------------------------------------------------------------------ */
/* evaluation and samples                                                    */

/* Mean loss over the first `nbatches` validation batches (fewer if the
 * validation data holds fewer), always the same batches, in file order. */
static float evaluate(Backend *be, DataLoader *val, int nbatches) {
    int n = (size_t)nbatches < val->total_batches ? nbatches : (int)val->total_batches;
    loader_seek(val, 0, 0, 0);
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        loader_next(val);
        be->forward(be->ctx, val->inputs, val->targets, val->B, val->T);
        sum += be->mean_loss(be->ctx);
    }
    return (float)(sum / n);
}

typedef struct {
    TokenIds ids;
    int eot;
} SampleSink;

static int collect_token(int id, void *ctx) {
    SampleSink *s = ctx;
    if (id == s->eot) return 0;
    token_ids_push(&s->ids, id);
    return 1;
}

/* Generate from <|endoftext|> with the host model and print the text. */
static void print_sample(GPT2 *host, const Tokenizer *tok, int ntokens, Rng *rng) {
    SampleSink sink = {.eot = tokenizer_eot_id(tok)};
    int prompt = sink.eot;
    int n = ntokens < host->config.maxT - 1 ? ntokens : host->config.maxT - 1;
    SamplerConfig sc = {.temperature = 1.0f, .top_k = 40, .top_p = 1.0f};
    gpt2_generate(host, &prompt, 1, n, &sc, rng, collect_token, &sink);
    size_t len;
    uint8_t *text = tokenizer_decode(tok, sink.ids.ids, sink.ids.len, &len);
    printf("---- sample ----\n%.*s\n----------------\n", (int)len, (const char *)text);
    free(text);
    token_ids_free(&sink.ids);
}

/* ------------------------------------------------------------------------ */
/* the training loop                                                         */

static volatile sig_atomic_t interrupted = 0;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the program at once */
}

static void format_duration(char *buf, size_t cap, double s) {
    if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

/* One optimizer step: grad_accum micro-batches, clipping, AdamW. Returns the
 * mean loss; *norm gets the gradient norm before clipping. */
static float train_step(Backend *be, DataLoader *dl, const TrainConfig *c, int step, float lr, float *norm) {
    be->zero_grad(be->ctx);
    double loss = 0.0;
    for (int micro = 0; micro < c->grad_accum; micro++) {
        loader_next(dl);
        be->forward(be->ctx, dl->inputs, dl->targets, c->B, c->T);
        be->backward(be->ctx);
        loss += be->mean_loss(be->ctx);
    }
    loss /= c->grad_accum;
    /* each backward gave the gradient of one micro-batch's mean; their sum
     * over grad_accum micro-batches must become the mean */
    if (c->grad_accum > 1) be->scale_grads(be->ctx, 1.0f / (float)c->grad_accum);
    *norm = be->grad_norm(be->ctx);
    if (!isfinite(loss) || !isfinite(*norm)) return (float)loss; /* the caller stops */
    if (c->grad_clip > 0 && *norm > c->grad_clip) be->scale_grads(be->ctx, c->grad_clip / *norm);
    AdamWConfig opt = {.lr = lr, .beta1 = c->beta1, .beta2 = c->beta2, .eps = c->eps, .weight_decay = c->wd,
                       .decay_all = 0};
    be->update(be->ctx, &opt, step);
    return (float)loss;
}

static void checkpoint(Backend *be, GPT2 *host, const TrainConfig *c, TrainProgress *p, const DataLoader *dl) {
    be->sync_to_host(be->ctx, host);
    p->data_epoch = dl->epoch;
    p->data_shard = dl->shard;
    p->data_batch = dl->batch;
    save_checkpoint(c, p, host);
    prune_checkpoints(c, p->step);
    printf("checkpoint: %s/model_%08d.bin\n", c->out_dir, p->step);
    fflush(stdout);
}

int train(TrainConfig *c, Backend *be, GPT2 *host, TrainProgress *p, DataLoader *train_dl, DataLoader *val_dl,
          const Tokenizer *tok) {
    History hist = {0};
    char logpath[1200];
    snprintf(logpath, sizeof logpath, "%s/log.csv", c->out_dir);
    if (p->step > 0) history_load(&hist, logpath, p->step);
    int start = p->step;
    double t0 = now_seconds() - p->elapsed, run_start = now_seconds();
    signal(SIGINT, on_sigint);
    if (val_dl && start == 0) { /* the starting point of the validation curve */
        float val = evaluate(be, val_dl, c->eval_batches);
        printf("step 0: val loss %.4f\n", val);
        history_add(&hist, 0, NAN, val, 0, 0);
    }
    int status = 0;
    for (int step = start + 1; step <= c->steps; step++) {
        float lr = learning_rate(c, step), norm;
        float loss = train_step(be, train_dl, c, step, lr, &norm);
        if (!isfinite(loss) || !isfinite(norm)) {
            fprintf(stderr, "gpt2c: step %d: the %s is %s; stopping (the last checkpoint in %s is kept)\n", step,
                    isfinite(loss) ? "gradient norm" : "loss", isnan(isfinite(loss) ? norm : loss) ? "NaN" : "infinite",
                    c->out_dir);
            status = 1;
            break;
        }
        p->step = step;
        double now = now_seconds();
        p->elapsed = now - t0;
        double per_step = (now - run_start) / (step - start);
        double tok_s = (double)c->B * c->T * c->grad_accum / per_step;
        char eta[32];
        format_duration(eta, sizeof eta, per_step * (c->steps - step));
        printf("step %*d/%d | loss %.4f | lr %.2e | norm %.3f | %.0f tok/s | ETA %s\n", (int)log10(c->steps) + 1,
               step, c->steps, loss, lr, norm, tok_s, eta);
        float val = NAN;
        int last = step == c->steps || (c->stop_after && step == c->stop_after) || interrupted;
        if (val_dl && ((c->eval_every > 0 && step % c->eval_every == 0) || step == c->steps)) {
            val = evaluate(be, val_dl, c->eval_batches);
            printf("step %d: val loss %.4f\n", step, val);
        }
        history_add(&hist, step, loss, val, lr, p->elapsed);
        if (!isnan(val) || last || step % 10 == 0) {
            write_log_csv(&hist, c->out_dir);
            write_loss_svg(&hist, c->out_dir);
        }
        if (tok && c->sample_every > 0 && step % c->sample_every == 0) {
            be->sync_to_host(be->ctx, host);
            print_sample(host, tok, c->sample_tokens, &p->rng);
        }
        fflush(stdout);
        if ((c->checkpoint_every > 0 && step % c->checkpoint_every == 0) || last) checkpoint(be, host, c, p, train_dl);
        if (interrupted) { printf("interrupted: checkpoint saved; continue with --resume %s\n", c->out_dir); break; }
        if (c->stop_after && step == c->stop_after) break;
    }
    free(hist.rows);
    return status;
}

/* ------------------------------------------------------------------------ */
/* setting up a run                                                          */

static void make_dir(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) die("%s: cannot create directory: %s", dir, strerror(errno));
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/.write_test", dir);
    FILE *f = fopen(probe, "wb");
    if (!f) die("%s: cannot write in this directory: %s", dir, strerror(errno));
    fclose(f);
    remove(probe);
}

static const char *default_vocab_dir(void) {
    const char *env = getenv("GPT2_VOCAB_DIR");
    return env && *env ? env : "data/gpt2";
}

/* The model to train: the checkpoint being resumed, the --init checkpoint,
 * or a new GPT-2 of the --layers/--heads/--channels/--context shape. */
static void load_model(GPT2 *host, const TrainConfig *c, const char *resume, int step) {
    char path[1200];
    if (resume) {
        ckpt_path(path, sizeof path, resume, "model", step);
        gpt2_load(host, path);
    } else if (c->init_path[0]) {
        gpt2_load(host, c->init_path);
    } else {
        if (c->channels % c->heads != 0)
            die_usage("--channels %d is not divisible by --heads %d", c->channels, c->heads);
        GPT2Config mc = {.maxT = c->context, .V = 50257, .Vp = 50304, .L = c->layers, .NH = c->heads,
                         .C = c->channels};
        gpt2_init_random(host, &mc, c->seed);
    }
}

/* AdamW's m and v from the rest of an open state file (read_state read its head). */
static void restore_optimizer(GPT2 *host, FILE *state, const char *path, size_t state_params) {
    if (state_params != host->num_parameters)
        die("%s: optimizer state has %zu parameters, the model %zu", path, state_params, host->num_parameters);
    host->m_memory = xmalloc(host->num_parameters * sizeof(float), "AdamW m");
    host->v_memory = xmalloc(host->num_parameters * sizeof(float), "AdamW v");
    xfread(host->m_memory, sizeof(float), host->num_parameters, state, path);
    xfread(host->v_memory, sizeof(float), host->num_parameters, state, path);
    xfclose(state, path);
}

/* Everything main() and train_gpu's main() share: settings, data, model,
 * resume. Fills *c, *host, *p, the loaders; returns 1 if there is validation data. */
int train_setup(int argc, char **argv, TrainConfig *c, GPT2 *host, TrainProgress *p, DataLoader *train_dl,
                DataLoader *val_dl) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout, argv[0]); exit(0); }
    *c = TRAIN_DEFAULTS;
    strcpy(c->out_dir, "out");
    strcpy(c->vocab_dir, default_vocab_dir());
    memset(p, 0, sizeof(*p));
    const char *resume = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--resume")) resume = argv[i + 1];
    FILE *state = NULL;
    size_t state_params = 0;
    char path[1200];
    if (resume) {
        int step = newest_checkpoint(resume);
        if (step < 0) die("%s: no checkpoint to resume from (no state_N.bin with its model_N.bin)", resume);
        ckpt_path(path, sizeof path, resume, "state", step);
        state = read_state(path, c, p, &state_params);
        if (p->step != step) die("%s: holds step %d, not %d", path, p->step, step);
    }
    parse_flags(c, argc, argv); /* flags win over restored settings */
    if (!resume && !c->train_pattern[0]) die_usage("--train PATTERN is required (see --help)");
    if (c->lr_min > c->lr) die_usage("--lr-min %g is larger than --lr %g", c->lr_min, c->lr);

    load_model(host, c, resume, p->step);
    if (c->T > host->config.maxT) die_usage("--seq %d is longer than the model's context of %d", c->T, host->config.maxT);
    make_dir(c->out_dir);
    /* A new run must not mix its checkpoints with another run's: --resume
     * would later pick whichever has the highest step. */
    int other = resume ? -1 : newest_checkpoint(c->out_dir);
    if (other >= 0)
        die("%s: already holds a run's checkpoints (step %d): continue it with --resume %s, or pick another --out",
            c->out_dir, other, c->out_dir);

    loader_init(train_dl, c->train_pattern, c->B, c->T, host->config.V, c->shuffle, c->seed);
    int has_val = c->val_pattern[0] != 0;
    if (has_val) loader_init(val_dl, c->val_pattern, c->B, c->T, host->config.V, 0, 0);
    if (resume) {
        restore_optimizer(host, state, path, state_params);
        loader_seek(train_dl, p->data_epoch, p->data_shard, p->data_batch);
        printf("resuming %s at step %d of %d\n", resume, p->step, c->steps);
    } else {
        rng_seed(&p->rng, c->seed ^ 0x5DEECE66Dull);
    }
    const GPT2Config *mc = &host->config;
    printf("model: L=%d NH=%d C=%d maxT=%d V=%d, %.2fM parameters | batch %dx%d x%d accum | %zu training batches "
           "per epoch | %d steps\n",
           mc->L, mc->NH, mc->C, mc->maxT, mc->V, host->num_parameters / 1e6, c->B, c->T, c->grad_accum,
           train_dl->total_batches, c->steps);
    fflush(stdout); /* shown at once, even through a pipe */
    return has_val;
}

/* Samples need the full tokenizer; without vocabulary files, training goes
 * on and says so once. */
const Tokenizer *train_tokenizer(const TrainConfig *c) {
    if (c->sample_every <= 0) return NULL;
    if (!tokenizer_vocab_exists(c->vocab_dir)) {
        printf("note: no vocabulary in %s, so no samples (run 'make vocab' or pass --vocab DIR)\n", c->vocab_dir);
        return NULL;
    }
    return tokenizer_load(c->vocab_dir);
}

#ifdef GPT2_CUDA
/* ------------------------------------------------------------------------ */
/* ./train_gpu: the same program with the GPU driver as the backend          */
#include "kernels/gpt2_gpu.h"

enum { TIMING_WARMUP_STEPS = 2 }; /* left out of the step time: cuBLAS chooses its kernels, caches fill */

typedef struct {
    GPT2GPU *gpu;
    GPT2 *host;
} GpuContext;

static void gpu_forward(void *ctx, const int *in, const int *tg, int B, int T) {
    gpt2_gpu_forward(((GpuContext *)ctx)->gpu, in, tg, B, T);
}
static float gpu_mean_loss(void *ctx) { return gpt2_gpu_mean_loss(((GpuContext *)ctx)->gpu); }
/* train_step calls zero_grad first and update last: the step timer's brackets */
static void gpu_zero_grad(void *ctx) {
    gpu_step_begin();
    gpt2_gpu_zero_grad(((GpuContext *)ctx)->gpu);
}
static void gpu_backward(void *ctx) { gpt2_gpu_backward(((GpuContext *)ctx)->gpu); }
static float gpu_grad_norm(void *ctx) { return gpt2_gpu_grad_norm(((GpuContext *)ctx)->gpu); }
static void gpu_scale_grads(void *ctx, float s) { gpt2_gpu_scale_grads(((GpuContext *)ctx)->gpu, s); }
static void gpu_update(void *ctx, const AdamWConfig *opt, int t) {
    gpt2_gpu_update(((GpuContext *)ctx)->gpu, opt, t);
    gpu_step_end();
}
static void gpu_sync_to_host(void *ctx, GPT2 *host) {
    GpuContext *g = ctx;
    gpt2_gpu_params_to_host(g->gpu, host);
    if (!host->m_memory) {
        host->m_memory = xcalloc(host->num_parameters, sizeof(float), "AdamW m");
        host->v_memory = xcalloc(host->num_parameters, sizeof(float), "AdamW v");
    }
    gpt2_gpu_opt_state_to_host(g->gpu, host->m_memory, host->v_memory);
}
static void gpu_load_opt_state(void *ctx, const float *m, const float *v) {
    gpt2_gpu_opt_state_from_host(((GpuContext *)ctx)->gpu, m, v);
}

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

static Backend backend_gpu(GpuContext *g) {
    Backend b = {.ctx = g, .name = "gpu", .forward = gpu_forward, .mean_loss = gpu_mean_loss,
                 .zero_grad = gpu_zero_grad, .backward = gpu_backward, .grad_norm = gpu_grad_norm,
                 .scale_grads = gpu_scale_grads, .update = gpu_update, .sync_to_host = gpu_sync_to_host,
                 .load_opt_state = gpu_load_opt_state};
    return b;
}
#endif

#ifndef TRAIN_NO_MAIN
int main(int argc, char **argv) {
    TrainConfig c;
    GPT2 model;
    TrainProgress p;
    DataLoader train_dl, val_dl;
#ifdef GPT2_CUDA
    argc = take_gpu_options(argc, argv);
#endif
    int has_val = train_setup(argc, argv, &c, &model, &p, &train_dl, &val_dl);
    Tokenizer *tok = (Tokenizer *)train_tokenizer(&c);
#ifdef GPT2_CUDA
    if (!gpu_available()) die("train_gpu: no CUDA GPU found (use ./train on the CPU)");
    GpuContext gctx = {.gpu = gpt2_gpu_create(&model, c.B, c.T), .host = &model};
    Backend be = backend_gpu(&gctx);
    printf("train_gpu: kernels %s\n", gpu_kernels_name());
#else
    gpt2_alloc(&model, c.B, c.T); /* the GPU build keeps activations on the device only */
    Backend be = backend_cpu(&model);
#endif
    if (model.m_memory) be.load_opt_state(be.ctx, model.m_memory, model.v_memory); /* resumed */
    int status = train(&c, &be, &model, &p, &train_dl, has_val ? &val_dl : NULL, tok);
#ifdef GPT2_CUDA
    gpu_print_step_times(TIMING_WARMUP_STEPS, (double)c.B * c.T * c.grad_accum);
    gpt2_gpu_free(gctx.gpu);
#endif
    if (tok) tokenizer_free(tok);
    loader_free(&train_dl);
    if (has_val) loader_free(&val_dl);
    gpt2_free(&model);
    return status;
}
#endif
