/*
 * generation.h: text generation with GPT-2, one token at a time: the forward
 * pass of a single position over a key/value cache, the sampler
 * (temperature, top-k, top-p) and the loop that ties them together.
 */
#ifndef GPT2C_GENERATION_H
#define GPT2C_GENERATION_H

#include "common.h" /* Rng */
#include "gpt2.h"
#include "tokenizer.h"

/* Allocate the cache for one sequence of up to maxT positions (gpt2_free frees it). */
void gpt2_kv_alloc(GPT2 *model);
void gpt2_kv_free(KVCache *kv);
/* Run `token` at position `pos`, given positions 0..pos-1 were fed before
 * (in order, since the last time pos 0 was fed). Returns its V logits, valid
 * until the next call. Gives the logits gpt2_forward gives for position pos
 * of the whole sequence (test/test_kvcache.c), at the cost of one position. */
const float *gpt2_forward_step(GPT2 *model, int token, int pos);

typedef struct {
    float temperature; /* 0: greedy */
    int top_k;         /* <= 0: no limit */
    float top_p;       /* >= 1: no limit */
} SamplerConfig;

/* Choose the next token from logits (V): temperature 0 is greedy (argmax);
 * otherwise softmax(logits / temperature), keeping only the top_k most likely
 * (top_k <= 0: all) and then the smallest set whose probability reaches top_p
 * (top_p >= 1: all), renormalised, sampled with `coin`, a uniform draw in
 * [0, 1). `scratch` holds 2*V floats (V >= 1). */
int sample_token(const float *logits, int V, float temperature, int top_k, float top_p, float coin, float *scratch);

/* Feed prompt[0..n_prompt) through the KV cache, then sample up to max_new
 * tokens, calling on_token(id, ctx) for each; stops early when on_token
 * returns 0 (at end-of-text, say). n_prompt + max_new must fit in maxT.
 * Returns the number of tokens generated. */
int gpt2_generate(GPT2 *model, const int *prompt, int n_prompt, int max_new, const SamplerConfig *sc, Rng *rng,
                  int (*on_token)(int id, void *ctx), void *ctx);

/* Dies unless the model and the tokenizer have the same vocabulary size V:
 * a larger model could choose ids the tokenizer cannot print, a larger
 * tokenizer could make ids past the model's embedding. Every program that
 * pairs the two calls this once, at load, so a mismatch never surfaces
 * mid-run. `model_name` and `vocab_name` are what the user gave (paths). */
void check_vocab_pair(const GPT2 *model, const char *model_name, const Tokenizer *tok, const char *vocab_name);

#endif
