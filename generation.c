/*
 * generation.c: GPT-2 generating text one token at a time.
 *
 * gpt2_forward computes a whole (B,T) batch at once. Generation feeds one
 * token, samples the next, feeds that, and so on; recomputing every earlier
 * position at each step would cost O(T) forward passes per token. The KV
 * cache keeps each layer's keys and values of the positions already fed, so
 * a step computes only the new position (gpt2_forward_step), and
 * test/test_kvcache.c checks it gives gpt2_forward's logits. Then the
 * sampler turns logits into a token (temperature, top-k, top-p), and
 * gpt2_generate loops the two.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "generation.h"
#include "gpt2.h"

/* ------------------------------------------------------------------------ */
/* the KV cache and the one-position forward pass                            */

/* The cache holds, per sequence, layer and head, the keys of every position
 * fed so far as one (T, hs) block, and the values as another: attention
 * reads a head's keys (then its values) for positions 0..pos in one
 * contiguous sweep. (Keeping the whole qkv row per position instead would
 * interleave q, k, v and every head, and attention would stride through all
 * of it.) Per-token buffers hold one position of each of the N sequences. */
void gpt2_kv_alloc_batch(GPT2 *model, int N, int T) {
    const GPT2Config *c = &model->config;
    KVCache *kv = &model->kv;
    if (N < 1 || T < 1 || T > c->maxT) die("gpt2_kv_alloc_batch: %d sequences of %d positions (context %d)", N, T, c->maxT);
    gpt2_kv_free(kv);
    kv->N = N;
    kv->T = T;
    size_t C = (size_t)c->C, n = (size_t)N;
    size_t cache = mul_size(mul_size(n * c->L, (size_t)T, "KV cache"), mul_size(C, sizeof(float), "KV cache"), "KV cache");
    kv->k = xmalloc(cache, "KV cache");
    kv->v = xmalloc(cache, "KV cache");
    kv->qkv = xmalloc(n * 3 * C * sizeof(float), "step buffer");
    kv->x = xmalloc(n * C * sizeof(float), "step buffer");
    kv->ln = xmalloc(n * C * sizeof(float), "step buffer");
    kv->atty = xmalloc(n * C * sizeof(float), "step buffer");
    kv->proj = xmalloc(n * C * sizeof(float), "step buffer");
    kv->fch = xmalloc(n * 4 * C * sizeof(float), "step buffer");
    kv->fch_gelu = xmalloc(n * 4 * C * sizeof(float), "step buffer");
    kv->mean = xmalloc(n * sizeof(float), "step buffer");
    kv->rstd = xmalloc(n * sizeof(float), "step buffer");
    kv->att = xmalloc(mul_size(n * (size_t)c->NH, (size_t)T * sizeof(float), "step buffer"), "step buffer");
    kv->logits = xmalloc(mul_size(n * sizeof(float), (size_t)c->V, "step logits"), "step logits");
}

void gpt2_kv_alloc(GPT2 *model) {
    gpt2_kv_alloc_batch(model, 1, model->config.maxT);
}

/* Head h of layer l of sequence n in a (N, L, NH, T, hs) cache: its (T, hs) block. */
static float *kv_head(const GPT2 *model, float *cache, int n, int l, int h) {
    const GPT2Config *c = &model->config;
    int hs = c->C / c->NH;
    return cache + (((size_t)n * c->L + l) * c->NH + h) * model->kv.T * hs;
}

/* The forward pass of gpt2_forward for one position pos of each of N
 * sequences (B = N, T = 1), reading earlier positions' keys and values from
 * the cache instead of recomputing them. Every matrix product takes all N
 * rows at once, so each weight is read from memory once per step whatever
 * N is. Cost per step: one pass over the weights plus attention over pos+1
 * cached positions per sequence. */
const float *gpt2_forward_step_batch(GPT2 *model, const int *tokens, int N, int pos) {
    const GPT2Config *c = &model->config;
    KVCache *kv = &model->kv;
    if (!kv->k) die("gpt2_forward_step: call gpt2_kv_alloc first");
    if (N < 1 || N > kv->N) die("gpt2_forward_step: %d sequences, the cache holds %d", N, kv->N);
    if (pos < 0 || pos >= kv->T) die("position %d is outside the cache's [0, %d)", pos, kv->T);
    gpt2_check_tokens(tokens, N, c->V, "token");
    int C = c->C, NH = c->NH, hs = C / NH;
    size_t C3 = (size_t)3 * C;
    const GPT2Ops *op = model->ops;
    ParameterTensors p = model->params;

    for (int n = 0; n < N; n++) encoder_forward(kv->x + (size_t)n * C, &tokens[n], p.wte, p.wpe + (size_t)pos * C, 1, 1, C);
    for (int l = 0; l < c->L; l++) {
        LayerParams w = gpt2_layer_params(&p, c, l);
        layernorm_forward(kv->ln, kv->mean, kv->rstd, kv->x, w.ln1w, w.ln1b, N, 1, C);
        op->matmul_forward(kv->qkv, kv->ln, w.qkvw, w.qkvb, N, 1, C, 3 * C);
        adapter_forward(model, LORA_QKV, l, kv->qkv, kv->ln, N, 1); /* LoRA, if any */
        /* every (sequence, head) attends on its own, with its own scratch row of att */
#pragma omp parallel for collapse(2) if (N * NH > 1)
        for (int n = 0; n < N; n++) {
            for (int h = 0; h < NH; h++) {
                const float *qkv = kv->qkv + (size_t)n * C3; /* (3C): q, k, v of every head */
                float *keys = kv_head(model, kv->k, n, l, h), *values = kv_head(model, kv->v, n, l, h);
                float *att = kv->att + ((size_t)n * NH + h) * kv->T;
                memcpy(keys + (size_t)pos * hs, qkv + C + (size_t)h * hs, (size_t)hs * sizeof(float));
                memcpy(values + (size_t)pos * hs, qkv + 2 * (size_t)C + (size_t)h * hs, (size_t)hs * sizeof(float));
                op->attention_query(kv->atty + (size_t)n * C + (size_t)h * hs, att, qkv + (size_t)h * hs, keys, values,
                                    (size_t)hs, pos + 1, hs);
            }
        }
        op->matmul_forward(kv->proj, kv->atty, w.attprojw, w.attprojb, N, 1, C, C);
        adapter_forward(model, LORA_ATTPROJ, l, kv->proj, kv->atty, N, 1);
        residual_forward(kv->x, kv->x, kv->proj, (size_t)N * C);
        layernorm_forward(kv->ln, kv->mean, kv->rstd, kv->x, w.ln2w, w.ln2b, N, 1, C);
        op->matmul_forward(kv->fch, kv->ln, w.fcw, w.fcb, N, 1, C, 4 * C);
        adapter_forward(model, LORA_FC, l, kv->fch, kv->ln, N, 1);
        op->gelu_forward(kv->fch_gelu, kv->fch, (size_t)N * 4 * C);
        op->matmul_forward(kv->proj, kv->fch_gelu, w.fcprojw, w.fcprojb, N, 1, 4 * C, C);
        adapter_forward(model, LORA_FCPROJ, l, kv->proj, kv->fch_gelu, N, 1);
        residual_forward(kv->x, kv->x, kv->proj, (size_t)N * C);
    }
    layernorm_forward(kv->ln, kv->mean, kv->rstd, kv->x, p.lnfw, p.lnfb, N, 1, C);
    op->matmul_forward(kv->logits, kv->ln, p.wte, NULL, N, 1, C, c->V);
    return kv->logits;
}

const float *gpt2_forward_step(GPT2 *model, int token, int pos) {
    return gpt2_forward_step_batch(model, &token, 1, pos);
}

static void swap_pairs(float *a, float *b) {
    float t0 = a[0], t1 = a[1];
    a[0] = b[0], a[1] = b[1];
    b[0] = t0, b[1] = t1;
}

/* Order for qsort: larger probability first, then smaller id, so equal
 * probabilities always sort the same way. */
static int by_prob_desc(const void *a, const void *b) {
    const float *x = a, *y = b; /* (prob, id) pairs */
    if (x[0] != y[0]) return x[0] > y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : (x[1] > y[1]);
}

/* Moves the n (prob, id) pairs that sort first (by_prob_desc) to
 * pairs[0..n), in some order: a heap of the n best so far whose root is the
 * worst of them, so each of the V pairs costs one comparison unless it
 * enters. */
static void keep_first(float *pairs, int V, int n) {
    /* heap order: parent i before children 2i+1, 2i+2 in reverse sort order */
    for (int i = 1; i < n; i++)
        for (int c = i; c > 0 && by_prob_desc(pairs + 2 * ((c - 1) / 2), pairs + 2 * c) < 0; c = (c - 1) / 2)
            swap_pairs(pairs + 2 * c, pairs + 2 * ((c - 1) / 2));
    for (int i = n; i < V; i++) {
        if (by_prob_desc(pairs + 2 * i, pairs) >= 0) continue; /* not better than the worst kept */
        swap_pairs(pairs + 2 * i, pairs);
        for (int c = 0;;) { /* sift the new root down */
            int worst = c, l = 2 * c + 1, r = l + 1;
            if (l < n && by_prob_desc(pairs + 2 * l, pairs + 2 * worst) > 0) worst = l;
            if (r < n && by_prob_desc(pairs + 2 * r, pairs + 2 * worst) > 0) worst = r;
            if (worst == c) break;
            swap_pairs(pairs + 2 * c, pairs + 2 * worst);
            c = worst;
        }
    }
}

int sample_token(const float *logits, int V, float temperature, int top_k, float top_p, float coin, float *scratch) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (temperature <= 0.0f) return best;
    /* probabilities at this temperature, as (prob, id) pairs */
    float *pairs = scratch;
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        float p = expf((logits[i] - logits[best]) / temperature);
        pairs[2 * i] = p;
        pairs[2 * i + 1] = (float)i;
        sum += p;
    }
    int n = V;
    if ((top_k > 0 && top_k < V) || top_p < 1.0f) {
        if (top_k > 0 && top_k < V) {
            /* the top_k first in sorted order, without sorting all V (that
             * takes as long as the forward pass of a small model) */
            n = top_k;
            keep_first(pairs, V, n);
        }
        qsort(pairs, (size_t)n, 2 * sizeof(float), by_prob_desc);
        double kept = 0.0;
        for (int i = 0; i < n; i++) kept += pairs[2 * i];
        if (top_p < 1.0f) {
            double cum = 0.0;
            for (int i = 0; i < n; i++) {
                cum += pairs[2 * i];
                if (cum >= top_p * kept) { n = i + 1; break; }
            }
        }
        sum = 0.0;
        for (int i = 0; i < n; i++) sum += pairs[2 * i];
    }
    double target = coin * sum, cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += pairs[2 * i];
        if (target < cum) return (int)pairs[2 * i + 1];
    }
    return (int)pairs[2 * (n - 1) + 1]; /* rounding left target just past the end */
}

void sample_rng_seed(Rng *rng, uint64_t seed, int sample) {
    /* sample 0 is seeded as a single run is, so it prints what --samples 1
     * prints; the others mix in their index (seed < 2^63 never collides
     * with another sample 0, as the odd multiplier sets the top bit for
     * i = 1 and spreads the rest) */
    rng_seed(rng, sample == 0 ? seed : seed ^ ((uint64_t)sample * 0x9E3779B97F4A7C15ull));
}

int gpt2_generate_batch(GPT2 *model, const int *prompt, int n_prompt, int max_new, const SamplerConfig *sc, int N,
                        Rng *rngs, int (*on_token)(int sample, int id, void *ctx), void *ctx) {
    const GPT2Config *c = &model->config;
    if (n_prompt < 1) die("generation needs a prompt of at least one token");
    if (N < 1 || N > GENERATE_MAX_SAMPLES) die("generation: %d samples, must be 1..%d", N, GENERATE_MAX_SAMPLES);
    if (max_new < 0 || n_prompt > c->maxT - max_new)
        die("prompt (%d tokens) plus %d new tokens exceed the model's context of %d", n_prompt, max_new, c->maxT);
    if (max_new == 0) return 0;
    int T = n_prompt + max_new;
    if (!model->kv.k || model->kv.N != N || model->kv.T < T) gpt2_kv_alloc_batch(model, N, T);
    size_t scratch_row = 2 * (size_t)c->V; /* one sample's (prob, id) pairs */
    float *scratch = xmalloc(mul_size((size_t)N * scratch_row, sizeof(float), "sampling buffer"), "sampling buffer");
    int *tokens = xmalloc((size_t)N * sizeof(int), "tokens"), *made = xcalloc((size_t)N, sizeof(int), "tokens");
    /* every sequence starts with the same prompt: feeding it as N rows costs
     * what feeding one does, as the weights are read once per position */
    const float *logits = NULL;
    for (int i = 0; i < n_prompt; i++) {
        for (int s = 0; s < N; s++) tokens[s] = prompt[i];
        logits = gpt2_forward_step_batch(model, tokens, N, i);
    }
    int total = 0;
    for (int pos = n_prompt;; pos++) {
        int going = 0;
        /* each sample draws from its own row, random stream and scratch, so
         * the draws can share the threads (a draw scans all V logits: four
         * of them one after another took a tenth of a step); the tokens are
         * then handed on in order */
#pragma omp parallel for schedule(static) if (N > 1)
        for (int s = 0; s < N; s++) {
            if (made[s] < 0) continue; /* finished: its row is still computed, and ignored */
            const float *row = logits + (size_t)s * c->V;
            tokens[s] = sample_token(row, c->V, sc->temperature, sc->top_k, sc->top_p, rng_uniform(&rngs[s]),
                                     scratch + (size_t)s * scratch_row);
        }
        for (int s = 0; s < N; s++) {
            if (made[s] < 0) continue;
            made[s]++, total++;
            if (on_token(s, tokens[s], ctx) && made[s] < max_new) going = 1;
            else made[s] = -1;
        }
        if (!going) break;
        logits = gpt2_forward_step_batch(model, tokens, N, pos);
    }
    free(made);
    free(tokens);
    free(scratch);
    return total;
}

/* gpt2_generate's callback, seen through gpt2_generate_batch's */
typedef struct {
    int (*on_token)(int id, void *ctx);
    void *ctx;
} SingleSample;

static int single_sample_token(int sample, int id, void *ctx) {
    (void)sample;
    SingleSample *one = ctx;
    return one->on_token(id, one->ctx);
}

int gpt2_generate(GPT2 *model, const int *prompt, int n_prompt, int max_new, const SamplerConfig *sc, Rng *rng,
                  int (*on_token)(int id, void *ctx), void *ctx) {
    SingleSample one = {on_token, ctx};
    return gpt2_generate_batch(model, prompt, n_prompt, max_new, sc, 1, rng, single_sample_token, &one);
}

void gpt2_kv_free(KVCache *kv) {
    free(kv->k);
    free(kv->v);
    free(kv->qkv);
    free(kv->x);
    free(kv->ln);
    free(kv->atty);
    free(kv->proj);
    free(kv->fch);
    free(kv->fch_gelu);
    free(kv->mean);
    free(kv->rstd);
    free(kv->att);
    free(kv->logits);
    memset(kv, 0, sizeof *kv);
}


void check_vocab_pair(const GPT2 *model, const char *model_name, const Tokenizer *tok, const char *vocab_name) {
    int n = tokenizer_vocab_size(tok);
    if (n != model->config.V)
        die("%s: the model's vocabulary has %d tokens, but the one in %s has %d: they must match", model_name,
            model->config.V, vocab_name, n);
}
