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

/* The cache holds, per layer, the qkv rows of every position fed so far:
 * (L, maxT, 3C). Keeping the whole qkv row (not only k and v) lets the step
 * write the qkv projection straight into the cache and attend with the same
 * stride as the full forward pass. Per-token buffers hold one position. */
void gpt2_kv_alloc(GPT2 *model) {
    const GPT2Config *c = &model->config;
    KVCache *kv = &model->kv;
    size_t C = (size_t)c->C;
    kv->qkv = xmalloc(mul_size(mul_size((size_t)c->L * c->maxT, 3 * C, "KV cache"), sizeof(float), "KV cache"),
                      "KV cache");
    kv->x = xmalloc(C * sizeof(float), "step buffer");
    kv->ln = xmalloc(C * sizeof(float), "step buffer");
    kv->atty = xmalloc(C * sizeof(float), "step buffer");
    kv->proj = xmalloc(C * sizeof(float), "step buffer");
    kv->fch = xmalloc(4 * C * sizeof(float), "step buffer");
    kv->fch_gelu = xmalloc(4 * C * sizeof(float), "step buffer");
    kv->att = xmalloc((size_t)c->maxT * sizeof(float), "step buffer");
    kv->logits = xmalloc((size_t)c->V * sizeof(float), "step logits");
}

/* The forward pass of gpt2_forward for a single position pos (B = T = 1),
 * reading earlier positions' keys and values from the cache instead of
 * recomputing them. Cost per token: one pass over the weights plus
 * attention over pos+1 cached rows. */
const float *gpt2_forward_step(GPT2 *model, int token, int pos) {
    const GPT2Config *c = &model->config;
    KVCache *kv = &model->kv;
    if (!kv->qkv) die("gpt2_forward_step: call gpt2_kv_alloc first");
    if (pos < 0 || pos >= c->maxT) die("position %d is outside the context [0, %d)", pos, c->maxT);
    gpt2_check_tokens(&token, 1, c->V, "token");
    int C = c->C, NH = c->NH, hs = C / NH;
    size_t C3 = (size_t)3 * C;
    const GPT2Ops *op = model->ops;
    ParameterTensors p = model->params;
    float mean, rstd; /* layernorm statistics: not needed without a backward pass */

    encoder_forward(kv->x, &token, p.wte, p.wpe + (size_t)pos * C, 1, 1, C);
    for (int l = 0; l < c->L; l++) {
        LayerParams w = gpt2_layer_params(&p, c, l);
        float *cache = kv->qkv + (size_t)l * c->maxT * C3; /* position 0 of layer l */
        layernorm_forward(kv->ln, &mean, &rstd, kv->x, w.ln1w, w.ln1b, 1, 1, C);
        op->matmul_forward(cache + (size_t)pos * C3, kv->ln, w.qkvw, w.qkvb, 1, 1, C, 3 * C);
        adapter_forward(model, LORA_QKV, l, cache + (size_t)pos * C3, kv->ln, 1, 1); /* LoRA, if any */
        for (int h = 0; h < NH; h++) {
            const float *head = cache + (size_t)h * hs;
            op->attention_query(kv->atty + (size_t)h * hs, kv->att, head + (size_t)pos * C3, head + C,
                             head + 2 * (size_t)C, C3, pos + 1, hs);
        }
        op->matmul_forward(kv->proj, kv->atty, w.attprojw, w.attprojb, 1, 1, C, C);
        adapter_forward(model, LORA_ATTPROJ, l, kv->proj, kv->atty, 1, 1);
        residual_forward(kv->x, kv->x, kv->proj, (size_t)C);
        layernorm_forward(kv->ln, &mean, &rstd, kv->x, w.ln2w, w.ln2b, 1, 1, C);
        op->matmul_forward(kv->fch, kv->ln, w.fcw, w.fcb, 1, 1, C, 4 * C);
        adapter_forward(model, LORA_FC, l, kv->fch, kv->ln, 1, 1);
        op->gelu_forward(kv->fch_gelu, kv->fch, 4 * (size_t)C);
        op->matmul_forward(kv->proj, kv->fch_gelu, w.fcprojw, w.fcprojb, 1, 1, 4 * C, C);
        adapter_forward(model, LORA_FCPROJ, l, kv->proj, kv->fch_gelu, 1, 1);
        residual_forward(kv->x, kv->x, kv->proj, (size_t)C);
    }
    layernorm_forward(kv->ln, &mean, &rstd, kv->x, p.lnfw, p.lnfb, 1, 1, C);
    op->matmul_forward(kv->logits, kv->ln, p.wte, NULL, 1, 1, C, c->V);
    return kv->logits;
}

/* Order for qsort: larger probability first, then smaller id, so equal
 * probabilities always sort the same way. */
static int by_prob_desc(const void *a, const void *b) {
    const float *x = a, *y = b; /* (prob, id) pairs */
    if (x[0] != y[0]) return x[0] > y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : (x[1] > y[1]);
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
        /* sorting all V is O(V log V): negligible next to a forward pass */
        qsort(pairs, (size_t)V, 2 * sizeof(float), by_prob_desc);
        if (top_k > 0 && top_k < n) n = top_k;
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

int gpt2_generate(GPT2 *model, const int *prompt, int n_prompt, int max_new, const SamplerConfig *sc, Rng *rng,
                  int (*on_token)(int id, void *ctx), void *ctx) {
    const GPT2Config *c = &model->config;
    if (n_prompt < 1) die("generation needs a prompt of at least one token");
    if (max_new < 0 || n_prompt > c->maxT - max_new)
        die("prompt (%d tokens) plus %d new tokens exceed the model's context of %d", n_prompt, max_new, c->maxT);
    if (!model->kv.qkv) gpt2_kv_alloc(model);
    float *scratch = xmalloc(2 * (size_t)c->V * sizeof(float), "sampling buffer");
    const float *logits = NULL;
    for (int i = 0; i < n_prompt; i++) logits = gpt2_forward_step(model, prompt[i], i);
    int made = 0;
    for (int pos = n_prompt; made < max_new; pos++) {
        int next = sample_token(logits, c->V, sc->temperature, sc->top_k, sc->top_p, rng_uniform(rng), scratch);
        made++;
        if (!on_token(next, ctx) || made == max_new) break;
        logits = gpt2_forward_step(model, next, pos);
    }
    free(scratch);
    return made;
}

void gpt2_kv_free(KVCache *kv) {
    free(kv->qkv);
    free(kv->x);
    free(kv->ln);
    free(kv->atty);
    free(kv->proj);
    free(kv->fch);
    free(kv->fch_gelu);
    free(kv->att);
    free(kv->logits);
}


void check_vocab_pair(const GPT2 *model, const char *model_name, const Tokenizer *tok, const char *vocab_name) {
    int n = tokenizer_vocab_size(tok);
    if (n != model->config.V)
        die("%s: the model's vocabulary has %d tokens, but the one in %s has %d: they must match", model_name,
            model->config.V, vocab_name, n);
}
