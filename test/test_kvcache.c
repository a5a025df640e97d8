/*
 * test_kvcache: generation's one-token step with the key/value cache gives the
 * same logits as a full forward pass over the whole prefix, at every position;
 * with LoRA adapters too (the step applies them as the full pass does).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../generation.h"
#include "../gpt2.h"
#include "check.h"

/* lora_rank > 0: adapters on all four matmuls, B random (not LoRA's zero start) */
static void kv_matches_full(const char *name, GPT2Config c, unsigned seed, int lora_rank) {
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
    gpt2_alloc(&m, 1, T);
    gpt2_kv_alloc(&m);
    int *tokens = malloc((size_t)T * sizeof(int));
    for (int t = 0; t < T; t++) tokens[t] = rand() % c.V;
    gpt2_forward(&m, tokens, NULL, 1, T); /* logits (1,T,V) of every position */
    double worst = 0;
    for (int pass = 0; pass < 2; pass++) { /* twice: restarting at pos 0 reuses the cache */
        for (int t = 0; t < T; t++) {
            const float *step = gpt2_forward_step(&m, tokens[t], t);
            const float *full = m.acts.logits + (size_t)t * c.V;
            for (int v = 0; v < c.V; v++) worst = fmax(worst, fabs(step[v] - full[v]));
        }
    }
    CHECK(worst <= 1e-5, name, "max abs diff %.3g between cached step and full forward", worst);
    free(tokens);
    gpt2_free(&m);
}

int main(void) {
    kv_matches_full("kv_cache_equals_full_forward/C12_NH3_L2_T9", (GPT2Config){9, 37, 64, 2, 3, 12}, 1, 0);
    kv_matches_full("kv_cache_equals_full_forward/C64_NH4_L3_T32", (GPT2Config){32, 300, 384, 3, 4, 64}, 2, 0);
    kv_matches_full("kv_cache_equals_full_forward/lora_R4_C12_NH3_L2_T9", (GPT2Config){9, 37, 64, 2, 3, 12}, 3, 4);
    return check_failures ? 1 : 0;
}
