/*
 * test_generate: greedy generation (--temperature 0) through the KV cache
 * (gpt2_generate) picks, token for token, what a full recompute picks: at
 * every step gpt2_forward over the whole sequence so far, without the cache,
 * and the argmax of the last position's logits. Checked on random models of
 * odd shapes and, with ../shared, on the held-out gpt2vocab fixture with the
 * source article's prompt ("作为科研工作者,我们该如何使用大语言模型",
 * max_length 50). And --samples: N samples decoded as a batch
 * (gpt2_generate_batch) are, token for token, the N single runs of
 * gpt2_generate with the same random streams, samples that reach the end
 * token stopping while the others go on.
 *
 *   test_generate                                   the checks
 *   test_generate reference MODEL VOCAB PROMPT N    prints what generate
 *       --temperature 0 --max-length N must print: the prompt and the
 *       recomputed tokens (up to <|endoftext|>), decoded, with invalid UTF-8
 *       replaced as Python's bytes.decode(errors='replace') does, and "\n"
 *       (test/test_hf.sh compares it with ./generate's output)
 *   test_generate replace FILE                     prints FILE's bytes decoded
 *       that way, in one piece (to compare generate's output with --raw's)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../generation.h"
#include "../gpt2.h"
#include "../tokenizer.h"
#include "check.h"

#ifndef SHARED_DIR
#define SHARED_DIR "../shared"
#endif

/* The first largest of V logits (sample_token's argmax breaks ties the same way). */
static int argmax(const float *x, int V, float *gap) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[best]) best = i;
    float second = -INFINITY;
    for (int i = 0; i < V; i++)
        if (i != best && x[i] > second) second = x[i];
    *gap = x[best] - second;
    return best;
}

/* Greedy by full recompute: tokens[0..n) the prompt, extended in place up
 * to max_length or through eot (-1: none); returns the final length.
 * *min_gap gets the smallest top-1/top-2 logit gap seen, which says how far
 * from a tie (where rounding could flip the pick) the run was. */
static int greedy_by_recompute(GPT2 *m, int *tokens, int n, int max_length, int eot, float *min_gap) {
    gpt2_alloc(m, 1, max_length);
    *min_gap = INFINITY;
    while (n < max_length) {
        gpt2_forward(m, tokens, NULL, 1, n);
        float gap;
        int next = argmax(m->acts.logits + (size_t)(n - 1) * m->config.V, m->config.V, &gap);
        if (gap < *min_gap) *min_gap = gap;
        tokens[n++] = next;
        if (next == eot) break;
    }
    return n;
}

typedef struct {
    int *tokens;
    int n, eot;
} Collected;

static int collect(int id, void *ctx) {
    Collected *c = ctx;
    c->tokens[c->n++] = id;
    return id != c->eot;
}

/* Both ways from the same prompt; the check passes if the sequences agree. */
static void compare(const char *name, GPT2 *m, const int *prompt, int n_prompt, int max_length, int eot) {
    int *ref = malloc((size_t)max_length * sizeof(int)), *got = malloc((size_t)max_length * sizeof(int));
    memcpy(ref, prompt, (size_t)n_prompt * sizeof(int));
    float min_gap;
    int n_ref = greedy_by_recompute(m, ref, n_prompt, max_length, eot, &min_gap);
    SamplerConfig greedy = {.temperature = 0.0f, .top_k = 40, .top_p = 1.0f};
    Rng rng;
    rng_seed(&rng, 1);
    Collected c = {got, 0, eot};
    gpt2_generate(m, prompt, n_prompt, max_length - n_prompt, &greedy, &rng, collect, &c);
    int first_diff = -1;
    for (int i = 0; i < c.n && i < n_ref - n_prompt && first_diff < 0; i++)
        if (got[i] != ref[n_prompt + i]) first_diff = i;
    CHECK(c.n == n_ref - n_prompt && first_diff < 0, name,
          "%d tokens through the cache, %d by recompute; first difference at new token %d (smallest logit gap %.3g)",
          c.n, n_ref - n_prompt, first_diff, min_gap);
    free(ref);
    free(got);
}

/* A model of config c with weights uniform in [-scale, scale). */
static void random_model(GPT2 *m, GPT2Config c, unsigned seed, float scale) {
    gpt2_init_empty(m, &c);
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < m->num_parameters; i++) m->params_memory[i] = scale * (2.0f * rng_uniform(&r) - 1.0f);
    for (size_t i = (size_t)c.V * c.C; i < (size_t)c.Vp * c.C; i++) m->params.wte[i] = 0.0f;
}

static void test_random_models(void) {
    const struct {
        const char *name;
        GPT2Config c;
        int n_prompt, max_length;
    } cases[] = {
        {"greedy_equals_recompute/C12_NH3_L2_V37", {24, 37, 128, 2, 3, 12}, 3, 24},
        {"greedy_equals_recompute/C20_NH5_L3_V301", {40, 301, 384, 3, 5, 20}, 7, 40},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        GPT2 m;
        random_model(&m, cases[k].c, (unsigned)k + 3, 0.3f);
        int prompt[8];
        for (int i = 0; i < cases[k].n_prompt; i++) prompt[i] = (i * 7 + 2) % cases[k].c.V;
        compare(cases[k].name, &m, prompt, cases[k].n_prompt, cases[k].max_length, -1);
        gpt2_free(&m);
    }
}

/* Sample s's tokens, as gpt2_generate_batch hands them out. */
typedef struct {
    int *tokens; /* (N, max_new) */
    int *n;      /* (N) */
    int max_new, eot;
} CollectedSamples;

static int collect_sample(int sample, int id, void *ctx) {
    CollectedSamples *c = ctx;
    c->tokens[(size_t)sample * c->max_new + c->n[sample]++] = id;
    return id != c->eot;
}

/* N samples at temperature 1 with top-k, top-p, as one batch and one at a
 * time with the same streams. `eot` is common enough in this model that
 * some samples stop early: the check says how many did, and that they
 * differ, so it is not passing on N copies of one sequence. */
static void batch_equals_singles(const char *name, GPT2 *m, int N, const int *prompt, int n_prompt, int max_new,
                                 int eot, const SamplerConfig *sc) {
    CollectedSamples batch = {xmalloc((size_t)N * max_new * sizeof(int), "tokens"), xcalloc((size_t)N, sizeof(int), "n"),
                              max_new, eot};
    Rng rngs[GENERATE_MAX_SAMPLES];
    for (int s = 0; s < N; s++) sample_rng_seed(&rngs[s], 42, s);
    int total = gpt2_generate_batch(m, prompt, n_prompt, max_new, sc, N, rngs, collect_sample, &batch);
    int *one = xmalloc((size_t)max_new * sizeof(int), "tokens");
    int mismatch = -1, stopped = 0, distinct = 0, sum = 0;
    for (int s = 0; s < N; s++) {
        Rng rng;
        sample_rng_seed(&rng, 42, s);
        Collected c = {one, 0, eot};
        gpt2_generate(m, prompt, n_prompt, max_new, sc, &rng, collect, &c);
        const int *got = batch.tokens + (size_t)s * max_new;
        if (mismatch < 0 && (c.n != batch.n[s] || memcmp(one, got, (size_t)c.n * sizeof(int)))) mismatch = s;
        stopped += batch.n[s] < max_new;
        distinct += s > 0 && (batch.n[s] != batch.n[0] || memcmp(got, batch.tokens, (size_t)batch.n[0] * sizeof(int)));
        sum += batch.n[s];
    }
    CHECK(mismatch < 0 && total == sum && stopped > 0 && stopped < N && distinct > 0, name,
          "first sample unlike its single run: %d; %d of %d stopped at the end token, %d differ from sample 0 "
          "(need some of each), %d tokens reported for %d made",
          mismatch, stopped, N, distinct, total, sum);
    free(one);
    free(batch.tokens);
    free(batch.n);
}

static void test_samples(void) {
    GPT2 m;
    random_model(&m, (GPT2Config){40, 37, 128, 2, 3, 12}, 11, 0.3f);
    int prompt[] = {5, 9, 2};
    SamplerConfig topk = {.temperature = 1.0f, .top_k = 8, .top_p = 1.0f};
    SamplerConfig topp = {.temperature = 0.9f, .top_k = 0, .top_p = 0.9f};
    batch_equals_singles("samples_batch_equals_single_runs/N4_top_k", &m, 4, prompt, 3, 12, 7, &topk);
    batch_equals_singles("samples_batch_equals_single_runs/N7_top_p", &m, 7, prompt, 3, 30, 7, &topp);
    batch_equals_singles("samples_batch_equals_single_runs/N16_top_k", &m, 16, prompt, 3, 12, 7, &topk);
    gpt2_free(&m);
}

static const char ARTICLE_PROMPT[] = "作为科研工作者,我们该如何使用大语言模型";

static void test_fixture(void) {
    const char *model_path = SHARED_DIR "/fixtures/gpt2/gpt2vocab/model.bin", *vocab = SHARED_DIR "/data/gpt2";
    if (!path_exists(model_path) || !tokenizer_vocab_exists(vocab)) {
        check_skip("greedy_equals_recompute/gpt2vocab_fixture_article_prompt", "no " SHARED_DIR " fixtures");
        return;
    }
    Tokenizer *tok = tokenizer_load(vocab);
    GPT2 m;
    gpt2_load(&m, model_path);
    TokenIds ids = {0};
    tokenizer_encode(tok, (const uint8_t *)ARTICLE_PROMPT, strlen(ARTICLE_PROMPT), 0, &ids);
    compare("greedy_equals_recompute/gpt2vocab_fixture_article_prompt", &m, ids.ids, (int)ids.len, 50,
            tokenizer_eot_id(tok));
    token_ids_free(&ids);
    gpt2_free(&m);
    tokenizer_free(tok);
}

/* bytes[0..len) to stdout, each maximal ill-formed subpart as U+FFFD (the
 * decoder test_utf8 checks against the Unicode standard's tables). */
static void print_replaced(const uint8_t *bytes, size_t len) {
    uint8_t *text = xmalloc(UTF8_STREAM_ROOM(len), "text");
    Utf8Stream s = {.replace = 1};
    size_t k = utf8_stream_push(&s, bytes, len, text);
    k += utf8_stream_flush(&s, text + k);
    fwrite(text, 1, k, stdout);
    free(text);
}

/* The text generate must print: everything decoded as one stream, the
 * end-of-text token (where generation stopped) left out. */
static int print_reference(const char *model_path, const char *vocab, const char *prompt, int max_length) {
    Tokenizer *tok = tokenizer_load(vocab);
    GPT2 m;
    gpt2_load(&m, model_path);
    TokenIds ids = {0};
    tokenizer_encode(tok, (const uint8_t *)prompt, strlen(prompt), 0, &ids);
    int *tokens = xmalloc((size_t)max_length * sizeof(int), "tokens");
    memcpy(tokens, ids.ids, ids.len * sizeof(int));
    float gap;
    int eot = tokenizer_eot_id(tok), n = greedy_by_recompute(&m, tokens, (int)ids.len, max_length, eot, &gap);
    if (tokens[n - 1] == eot) n--;
    size_t len;
    uint8_t *bytes = tokenizer_decode(tok, tokens, (size_t)n, &len);
    print_replaced(bytes, len);
    printf("\n");
    free(bytes);
    free(tokens);
    token_ids_free(&ids);
    gpt2_free(&m);
    tokenizer_free(tok);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && !strcmp(argv[1], "reference")) return print_reference(argv[2], argv[3], argv[4], atoi(argv[5]));
    if (argc == 3 && !strcmp(argv[1], "replace")) {
        size_t len;
        char *bytes = read_whole_file(argv[2], &len);
        print_replaced((const uint8_t *)bytes, len);
        free(bytes);
        return 0;
    }
    test_random_models();
    test_samples();
    test_fixture();
    return check_failures ? 1 : 0;
}
