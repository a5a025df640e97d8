/*
 * test_kvcache: generation's one-token step with the key/value cache gives the
 * same logits as a full forward pass over the whole prefix, at every position:
 * for one sequence, and for N sequences stepped side by side (--samples),
 * each against the full forward pass of the batch; with LoRA adapters too
 * (the step applies them as the full pass does).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../generation.h"
#include "../gpt2.h"
#include "check.h"

/* N random sequences of c.maxT tokens: gpt2_forward over the (N,T) batch,
 * then the cached step, N sequences at a time, at every position.
 * lora_rank > 0: adapters on all four matmuls, B random (not LoRA's zero start). */
static void kv_matches_full(const char *name, GPT2Config c, int N, unsigned seed, int lora_rank) {
    GPT2 m;
    gpt2_init_empty(&m, &c);
    srand(seed);
    for (size_t i = 0; i < m.num_parameters; i++) m.params_memory[i] = 0.2f * ((float)((double)rand() / RAND_MAX) - 0.5f);
    if (lora_rank) {
        lora_init(&m, lora_rank, 1.5f * lora_rank, (1u << NUM_LORA_TARGETS) - 1, seed);
        for (size_t i = 0; i < m.lora.num_parameters; i++)
            m.lora.params_memory[i] = 0.3f * ((float)((double)rand() / RAND_MAX) - 0.5f);
    }
    int T = c.maxT;
    gpt2_alloc(&m, N, T);
    if (N == 1) gpt2_kv_alloc(&m); /* the whole context */
    else gpt2_kv_alloc_batch(&m, N, T);
    int *tokens = malloc((size_t)N * T * sizeof(int)), *step_tokens = malloc((size_t)N * sizeof(int));
    for (int i = 0; i < N * T; i++) tokens[i] = rand() % c.V;
    gpt2_forward(&m, tokens, NULL, N, T); /* logits (N,T,V) of every position */
    double worst = 0;
    for (int pass = 0; pass < 2; pass++) { /* twice: restarting at pos 0 reuses the cache */
        for (int t = 0; t < T; t++) {
            for (int n = 0; n < N; n++) step_tokens[n] = tokens[(size_t)n * T + t];
            const float *step = gpt2_forward_step_batch(&m, step_tokens, N, t);
            for (int n = 0; n < N; n++) {
                const float *full = m.acts.logits + ((size_t)n * T + t) * c.V;
                for (int v = 0; v < c.V; v++) worst = fmax(worst, fabs(step[(size_t)n * c.V + v] - full[v]));
            }
        }
    }
    CHECK(worst <= 1e-5, name, "max abs diff %.3g between cached step and full forward", worst);
    free(tokens);
    free(step_tokens);
    gpt2_free(&m);
}

int main(void) {
    kv_matches_full("kv_cache_equals_full_forward/C12_NH3_L2_T9", (GPT2Config){9, 37, 64, 2, 3, 12}, 1, 1, 0);
    kv_matches_full("kv_cache_equals_full_forward/C64_NH4_L3_T32", (GPT2Config){32, 300, 384, 3, 4, 64}, 1, 2, 0);
    kv_matches_full("kv_cache_equals_full_forward/N5_C12_NH3_L2_T9", (GPT2Config){9, 37, 64, 2, 3, 12}, 5, 3, 0);
    kv_matches_full("kv_cache_equals_full_forward/N16_C64_NH4_L3_T32", (GPT2Config){32, 300, 384, 3, 4, 64}, 16, 4, 0);
    kv_matches_full("kv_cache_equals_full_forward/lora_R4_C12_NH3_L2_T9", (GPT2Config){9, 37, 64, 2, 3, 12}, 1, 3, 4);
    kv_matches_full("kv_cache_equals_full_forward/lora_R2_N5_C12_NH3_L2_T9", (GPT2Config){9, 37, 64, 2, 3, 12}, 5, 6, 2);
    return check_failures ? 1 : 0;
}
