/*
 * train.c: the ./train program. Pretrain GPT-2 from scratch or fine-tune a
 * checkpoint on llm.c-format token shards with AdamW: a warmup + cosine
 * learning-rate schedule, gradient accumulation and clipping, periodic
 * validation and samples, checkpoints that a run resumes from exactly.
 *
 * Reading order:
 *   1. train(), the loop: one optimizer step per iteration, then the
 *      progress line, validation, samples and checkpoints when they are due;
 *   2. train_step(), one step: the micro-batches, the mean of their
 *      gradients, clipping, the update; evaluate() and print_sample();
 *   3. AdamW, all of it: the element update, which tensors are decayed, the
 *      bias corrections, the step over the whole model, the learning-rate
 *      schedule, the gradient norm and clipping;
 *   4. the CPU backend (the GPU's is kernels/train_gpu.c), and main().
 * The bookkeeping is kept out of the way in files of its own: train_setup.c
 * (flags, the model, resuming), dataloader.c (token shards), rundir.c
 * (checkpoints, log.csv) and plot.c (loss.svg). notes.md ("Training")
 * explains the choices.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "dataloader.h"
#ifndef REFERENCE
#include "fastops.h" /* adamw_update_fast */
#endif
#include "generation.h"
#include "gpt2.h"
#include "plot.h"
#include "rundir.h"
#include "tokenizer.h"
#include "train.h"
#include "updates.h"

/* The pieces of the loop, defined below it in this order. */
static float train_step(Backend *be, DataLoader *dl, const TrainConfig *c, int step, float lr, float *norm);
static float evaluate(Backend *be, DataLoader *val, int nbatches);
static void print_sample(GPT2 *host, const Tokenizer *tok, int ntokens, Rng *rng);
static void checkpoint(Backend *be, GPT2 *host, const TrainConfig *c, TrainProgress *p, const DataLoader *dl);
static void format_duration(char *buf, size_t cap, double s);
static void on_sigint(int sig);
static void clip_gradients(Backend *be, float norm, float max_norm);

static volatile sig_atomic_t interrupted = 0; /* set by Ctrl-C (on_sigint) */

/* ------------------------------------------------------------------------ */
/* the training loop                                                         */

int train(TrainConfig *c, Backend *be, GPT2 *host, TrainProgress *p, DataLoader *train_dl, DataLoader *val_dl,
          const Tokenizer *tok) {
    History hist = {0};
    UpdateLog updates = {0};
    float *before = NULL; /* the weights before an eval step's update */
    if (p->step > 0) {
        history_load(&hist, c->out_dir, p->step);
        updates_load(&updates, c->out_dir, p->step);
    }
    int start = p->step;
    double t0 = now_seconds() - p->elapsed, run_start = now_seconds();
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint); /* what timeout, schedulers and docker stop send */
    if (val_dl && start == 0) { /* the starting point of the validation curve */
        float val = evaluate(be, val_dl, c->eval_batches);
        printf("step 0: val loss %.4f\n", val);
        history_add(&hist, 0, NAN, val, 0, 0, NAN);
    }
    int status = 0;
    be->zero_grad(be->ctx); /* from here on, each update leaves them zero for the next step */
    for (int step = start + 1; step <= c->steps; step++) {
        float lr = learning_rate(c, step), norm;
        /* at eval steps, the update-to-weight ratios need the weights from before the
         * update (of the whole model: with LoRA's frozen weights there is nothing to measure) */
        int measure = ((c->eval_every > 0 && step % c->eval_every == 0) || step == c->steps) && !host->lora.rank;
        if (measure) {
            if (!before) before = xmalloc(host->num_parameters * sizeof(float), "weights before the update");
            be->sync_to_host(be->ctx, host);
            memcpy(before, host->params_memory, host->num_parameters * sizeof(float));
        }
        float loss = train_step(be, train_dl, c, step, lr, &norm);
        if (!isfinite(loss) || !isfinite(norm)) {
            int kept = newest_checkpoint(c->out_dir); /* none yet in a new run that diverged early */
            fprintf(stderr, "gpt2c: step %d: the %s is %s; stopping (%s%s%s)\n", step,
                    isfinite(loss) ? "gradient norm" : "loss", isnan(isfinite(loss) ? norm : loss) ? "NaN" : "infinite",
                    kept >= 0 ? "the last checkpoint in " : "no checkpoint was written to ", c->out_dir,
                    kept >= 0 ? " is kept" : "");
            status = 1;
            break;
        }
        p->step = step;
        if (measure) {
            be->sync_to_host(be->ctx, host);
            updates_measure(&updates, step, host, before);
            write_updates_csv(&updates, c->out_dir);
            write_updates_svg(&updates, host->config.L, c->out_dir);
        }
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
        history_add(&hist, step, loss, val, lr, p->elapsed, norm);
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
    updates_free(&updates);
    free(before);
    return status;
}

/* One optimizer step: grad_accum micro-batches, clipping, AdamW. Returns the
 * mean loss; *norm gets the gradient norm before clipping. */
static float train_step(Backend *be, DataLoader *dl, const TrainConfig *c, int step, float lr, float *norm) {
    /* no zero_grad here: the last step's update left the gradients zero (and
     * train() cleared them before the first) */
    if (be->step_begin) be->step_begin(be->ctx);
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
    clip_gradients(be, *norm, c->grad_clip);
    AdamWConfig opt = {.lr = lr, .beta1 = c->beta1, .beta2 = c->beta2, .eps = c->eps, .weight_decay = c->wd,
                       .decay_all = 0};
    be->update(be->ctx, &opt, step);
    return (float)loss;
}

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

/* Generate from <|endoftext|> with the host model and print the text as it
 * comes. A young model often samples byte tokens that do not make up UTF-8
 * characters; those print as U+FFFD, so the log stays valid UTF-8. */
static void print_sample(GPT2 *host, const Tokenizer *tok, int ntokens, Rng *rng) {
    int prompt = tokenizer_eot_id(tok);
    int n = ntokens < host->config.maxT - 1 ? ntokens : host->config.maxT - 1;
    SamplerConfig sc = {.temperature = 1.0f, .top_k = 40, .top_p = 1.0f};
    TokenPrinter printer = {.tok = tok, .out = stdout, .utf8 = {.replace = 1}};
    printf("---- sample ----\n");
    gpt2_generate(host, &prompt, 1, n, &sc, rng, token_printer_token, &printer);
    token_printer_end(&printer);
    printf("\n----------------\n");
}

/* The backend's weights and AdamW state into the host model, then to disk
 * with the data position; older checkpoints beyond --keep-checkpoints go. */
static void checkpoint(Backend *be, GPT2 *host, const TrainConfig *c, TrainProgress *p, const DataLoader *dl) {
    be->sync_to_host(be->ctx, host);
    p->data_epoch = dl->epoch;
    p->data_shard = dl->shard;
    p->data_batch = dl->batch;
    save_checkpoint(c, p, host);
    prune_checkpoints(c, p->step);
    printf("checkpoint: %s/%s_%08d.bin\n", c->out_dir, host->lora.rank ? "lora" : "model", p->step);
    fflush(stdout);
}

static void format_duration(char *buf, size_t cap, double s) {
    if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

/* Ctrl-C (SIGINT) or SIGTERM: the loop finishes its step, saves a
 * checkpoint and stops. */
static void on_sigint(int sig) {
    interrupted = 1;
    signal(sig, SIG_DFL); /* a second signal ends the program at once */
}

/* ------------------------------------------------------------------------ */
/* AdamW                                                                     */

/* Bias-corrected Adam with decoupled weight decay, element-wise in float32:
 *   m = b1 m + (1-b1) g,   v = b2 v + (1-b2) g^2
 *   p -= lr * ( (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) + wd * p )
 * The decay term is outside the adaptive scaling: that is the "W" in AdamW. */
void adamw_update(float *params, const float *grads, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int t) {
    float bc1 = adamw_bias_correction(beta1, t);
    float bc2 = adamw_bias_correction(beta2, t);
    /* one pass over four arrays: memory-bound, so it only has to vectorise
     * (sqrtf does with -fno-math-errno) and keep both cores streaming */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        m[i] = beta1 * m[i] + (1.0f - beta1) * g;
        v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
        float mhat = m[i] / bc1;
        float vhat = v[i] / bc2;
        params[i] -= lr * (mhat / (sqrtf(vhat) + eps) + weight_decay * params[i]);
    }
}

/* Weight decay pulls weights towards zero. GPT-2's recipe applies it to the
 * 2-D weight matrices only: the two embeddings and the four linear layers'
 * weights. Biases and the layernorm gains and shifts, one number per
 * channel, are left alone. */
int adamw_decays(int tensor) {
    switch (tensor) {
    case PARAM_WTE: case PARAM_WPE: case PARAM_QKVW: case PARAM_ATTPROJW: case PARAM_FCW: case PARAM_FCPROJW:
        return 1;
    default:
        return 0;
    }
}

float adamw_weight_decay(const AdamWConfig *opt, int tensor) {
    return opt->decay_all || adamw_decays(tensor) ? opt->weight_decay : 0.0f;
}

/* The update consumes the gradient: after it, grads are zero, ready for the
 * next step's micro-batches to accumulate into. The speed layer's twin
 * (fastops.c) clears each gradient in the same pass that reads it; the plain
 * build updates, then clears the tensor. */
#ifdef REFERENCE
static void adamw_consume(float *params, float *grads, float *m, float *v, size_t n, float lr, float beta1,
                          float beta2, float eps, float weight_decay, int t) {
    adamw_update(params, grads, m, v, n, lr, beta1, beta2, eps, weight_decay, t);
    memset(grads, 0, n * sizeof(float));
}
#else
#define adamw_consume adamw_update_fast
#endif

/* params, grads, m and v share one layout (checkpoint order), so tensor i is
 * the same slice of all four, updated with its own weight decay. With LoRA
 * only the adapters train: every one of them is a 2-D matrix, so all decay
 * (towards B A = 0, the base model). */
void adamw_step(GPT2 *model, const AdamWConfig *opt, int t) {
    gpt2_alloc_moments(model);
    if (model->lora.rank > 0) {
        TrainedParams a = gpt2_trained(model);
        adamw_consume(a.params, a.grads, a.m, a.v, a.n, opt->lr, opt->beta1, opt->beta2, opt->eps,
                      opt->weight_decay, t);
        return;
    }
    size_t off = 0;
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        size_t n = model->param_sizes[i];
        adamw_consume(model->params_memory + off, model->grads_memory + off, model->m_memory + off,
                      model->v_memory + off, n, opt->lr, opt->beta1, opt->beta2, opt->eps,
                      adamw_weight_decay(opt, i), t);
        off += n;
    }
}

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
    TrainedParams t = gpt2_trained(m);
    double sum = 0.0;
    for (size_t i = 0; i < t.n; i++) sum += (double)t.grads[i] * t.grads[i];
    return (float)sqrt(sum);
}

static void scale_grads_cpu(GPT2 *m, float s) {
    TrainedParams t = gpt2_trained(m);
    for (size_t i = 0; i < t.n; i++) t.grads[i] *= s;
}

/* Clipping: a gradient whose norm is above max_norm (if max_norm > 0) is
 * scaled down to norm max_norm. The step keeps its direction; only its
 * length is capped, so one bad batch cannot throw the weights far. */
static void clip_gradients(Backend *be, float norm, float max_norm) {
    if (max_norm > 0 && norm > max_norm) be->scale_grads(be->ctx, max_norm / norm);
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
static void cpu_update(void *ctx, const AdamWConfig *opt, int t) { adamw_step(ctx, opt, t); }
static void cpu_sync_to_host(void *ctx, GPT2 *host) { (void)ctx; (void)host; /* the host model is the model */ }
static void cpu_load_opt_state(void *ctx, const float *m, const float *v) {
    GPT2 *model = ctx;
    gpt2_alloc_moments(model);
    TrainedParams t = gpt2_trained(model);
    if (m == t.m && v == t.v) return; /* already the model's own */
    memcpy(t.m, m, t.n * sizeof(float));
    memcpy(t.v, v, t.n * sizeof(float));
}

Backend backend_cpu(GPT2 *model) {
    Backend b = {.ctx = model, .name = "cpu", .forward = cpu_forward, .mean_loss = cpu_mean_loss,
                 .zero_grad = cpu_zero_grad, .backward = cpu_backward, .grad_norm = cpu_grad_norm,
                 .scale_grads = cpu_scale_grads, .update = cpu_update, .sync_to_host = cpu_sync_to_host,
                 .load_opt_state = cpu_load_opt_state};
    return b;
}

/* ------------------------------------------------------------------------ */
/* the program (./train_gpu's main calls train_main too)                     */

int train_main(int argc, char **argv, const MemoryTarget *mem,
               Backend (*open_backend)(GPT2 *model, const TrainConfig *c),
               void (*close_backend)(Backend *be, const TrainConfig *c)) {
    TrainConfig c;
    GPT2 model;
    TrainProgress p;
    DataLoader train_dl, val_dl;
    int has_val = train_setup(argc, argv, mem, &c, &model, &p, &train_dl, &val_dl);
    Tokenizer *tok = (Tokenizer *)train_tokenizer(&c, &model);
    Backend be = open_backend(&model, &c);
    TrainedParams trained = gpt2_trained(&model);
    if (trained.m) be.load_opt_state(be.ctx, trained.m, trained.v); /* resumed */
    int status = train(&c, &be, &model, &p, &train_dl, has_val ? &val_dl : NULL, tok);
    if (close_backend) close_backend(&be, &c);
    if (tok) tokenizer_free(tok);
    loader_free(&train_dl);
    if (has_val) loader_free(&val_dl);
    gpt2_free(&model);
    return status;
}

#ifndef TRAIN_NO_MAIN
/* On the CPU the host model is the one trained: it gets activations for (B,T). */
static Backend open_cpu(GPT2 *model, const TrainConfig *c) {
    gpt2_alloc(model, c->B, c->T);
    return backend_cpu(model);
}

int main(int argc, char **argv) { return train_main(argc, argv, &HOST_MEMORY, open_cpu, NULL); }
#endif
