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

/* The most sequences decoded as one batch (--samples): past this the step
 * stops being bound by reading the weights (fastops.c's matrix-vector path
 * takes up to this many rows). */
#define GENERATE_MAX_SAMPLES 16

/* Allocate the cache for N sequences of up to T positions each (replacing
 * any cache the model had; gpt2_free frees it). gpt2_kv_alloc: one sequence
 * of the model's whole context. */
void gpt2_kv_alloc_batch(GPT2 *model, int N, int T);
void gpt2_kv_alloc(GPT2 *model);
void gpt2_kv_free(KVCache *kv);
/* Run tokens[n] at position `pos` of sequence n, for n < N (N at most the
 * cache's), given positions 0..pos-1 of each were fed before (in order,
 * since the last time pos 0 was fed). Returns the (N,V) logits, valid until
 * the next call. Gives the logits gpt2_forward gives for position pos of
 * each whole sequence (test/test_kvcache.c), at the cost of one position,
 * and sequence n's logits do not depend on N. */
const float *gpt2_forward_step_batch(GPT2 *model, const int *tokens, int N, int pos);
/* gpt2_forward_step_batch for one sequence: its V logits. */
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

/* Seed sample `sample`'s random stream from (seed, sample); sample 0's is
 * rng_seed(seed), the stream of a single run. */
void sample_rng_seed(Rng *rng, uint64_t seed, int sample);

/* gpt2_generate for N <= GENERATE_MAX_SAMPLES continuations of one prompt,
 * decoded as a batch: sample s draws from rngs[s], and on_token(s, id, ctx)
 * gets its tokens (in step order: sample 0's, 1's, ... of each step). A
 * sample stops when on_token returns 0 or after max_new tokens; the others
 * go on. Sample s gets the tokens gpt2_generate would with rngs[s] (the
 * steps' logits for a sequence do not depend on N). Returns the number of
 * tokens generated, all samples together. */
int gpt2_generate_batch(GPT2 *model, const int *prompt, int n_prompt, int max_new, const SamplerConfig *sc, int N,
                        Rng *rngs, int (*on_token)(int sample, int id, void *ctx), void *ctx);

/* Dies unless the model and the tokenizer have the same vocabulary size V:
 * a larger model could choose ids the tokenizer cannot print, a larger
 * tokenizer could make ids past the model's embedding. Every program that
 * pairs the two calls this once, at load, so a mismatch never surfaces
 * mid-run. `model_name` and `vocab_name` are what the user gave (paths). */
void check_vocab_pair(const GPT2 *model, const char *model_name, const Tokenizer *tok, const char *vocab_name);

#endif
