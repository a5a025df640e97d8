/*
 * test_lora: LoRA adapters' bookkeeping (lora.c), at small odd shapes. Their
 * gradients are test_gradcheck's; the KV-cache step with adapters is
 * test_kvcache's; training, resuming and merge_lora are test_train.sh's, and
 * test_lora_merge.sh checks merged checkpoints independently.
 *   - at LoRA's start (B = 0) the adapted model computes the base's logits;
 *   - A's initial spread is N(0, 1/in), and the same seed gives the same A;
 *   - the adapters file round-trips exactly and names its base;
 *   - merging gives the adapted model's logits, changing only the targeted
 *     matrices, and the parameter count of every target set is the formula's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gpt2.h"
#include "../train.h"
#include "check.h"

static const GPT2Config SHAPE = {.maxT = 7, .V = 41, .Vp = 64, .L = 2, .NH = 3, .C = 18};
enum { B = 2, T = 5 };

static void random_base(GPT2 *m) { gpt2_init_random(m, &SHAPE, 11); }

static void tokens(int *x) {
    for (int i = 0; i < B * T; i++) x[i] = (i * 13 + 5) % SHAPE.V;
}

/* logits of one (B,T) batch into a fresh buffer */
static float *logits_of(GPT2 *m, const int *x) {
    gpt2_forward(m, x, NULL, B, T);
    size_t n = (size_t)B * T * SHAPE.V;
    float *out = malloc(n * sizeof(float));
    memcpy(out, m->acts.logits, n * sizeof(float));
    return out;
}

static void starts_as_base(void) {
    int x[B * T];
    tokens(x);
    GPT2 m;
    random_base(&m);
    gpt2_alloc(&m, B, T);
    float *base = logits_of(&m, x);
    lora_init(&m, 3, 6.0f, (1u << NUM_LORA_TARGETS) - 1, 1);
    float *adapted = logits_of(&m, x);
    int same = 1;
    for (size_t i = 0; i < (size_t)B * T * SHAPE.V; i++) same &= base[i] == adapted[i];
    CHECK(same, "lora/starts_as_the_base_model", "B = 0 adapters changed the logits");
    /* A ~ N(0, 1/in) (qkv's in = C, fcproj's 4C): in * a^2 averages 1 over
     * all 756 entries (standard error 0.05); B is all zero */
    double var = 0, bsum = 0;
    size_t count = 0;
    for (int t = 0; t < NUM_LORA_TARGETS; t++) {
        int in, out;
        lora_target_shape(&SHAPE, t, &in, &out);
        for (size_t i = 0; i < (size_t)SHAPE.L * 3 * in; i++, count++) var += (double)in * m.lora.a[t][i] * m.lora.a[t][i];
        for (size_t i = 0; i < (size_t)SHAPE.L * out * 3; i++) bsum += fabs(m.lora.b[t][i]);
    }
    var /= count;
    CHECK(fabs(var - 1) < 0.2 && bsum == 0, "lora/init_a_normal_b_zero", "in * mean(a^2) = %.3f over %zu, sum |b| = %g",
          var, count, bsum);
    GPT2 again;
    random_base(&again);
    lora_init(&again, 3, 6.0f, (1u << NUM_LORA_TARGETS) - 1, 1);
    CHECK(!memcmp(m.lora.params_memory, again.lora.params_memory, m.lora.num_parameters * sizeof(float)),
          "lora/same_seed_same_adapters", "two inits from seed 1 differ");
    free(base);
    free(adapted);
    gpt2_free(&m);
    gpt2_free(&again);
}

/* Adapters with every number drawn random, so that they do something. */
static void random_adapters(GPT2 *m, int rank, unsigned targets) {
    lora_init(m, rank, 2.0f * rank, targets, 3);
    Rng r;
    rng_seed(&r, 99);
    for (size_t i = 0; i < m->lora.num_parameters; i++) m->lora.params_memory[i] = 0.2f * rng_normal(&r);
}

static void file_round_trip(void) {
    GPT2 m, back;
    random_base(&m);
    random_adapters(&m, 2, 1u << LORA_QKV | 1u << LORA_FCPROJ);
    const char *path = "build/test_lora_adapters.bin";
    lora_save(&m, "somewhere/base.bin", path);
    LoRAFileInfo info = lora_read_info(path);
    CHECK(info.rank == 2 && info.alpha == 4.0f && info.targets == (1u << LORA_QKV | 1u << LORA_FCPROJ) &&
              info.L == SHAPE.L && info.C == SHAPE.C && !strcmp(info.base_path, "somewhere/base.bin") &&
              info.num_parameters == m.lora.num_parameters,
          "lora/file_header_round_trip", "rank %d alpha %g targets %u base '%s'", info.rank, info.alpha, info.targets,
          info.base_path);
    random_base(&back);
    lora_load(&back, path);
    CHECK(back.lora.num_parameters == m.lora.num_parameters &&
              !memcmp(back.lora.params_memory, m.lora.params_memory, m.lora.num_parameters * sizeof(float)) &&
              back.grads_memory == NULL,
          "lora/file_adapters_round_trip", "the adapters read back differ");
    remove(path);
    gpt2_free(&m);
    gpt2_free(&back);
}

static void merge_equals_adapted(unsigned targets, const char *name) {
    int x[B * T];
    tokens(x);
    GPT2 m, base;
    random_base(&m);
    random_base(&base);
    random_adapters(&m, 3, targets);
    gpt2_alloc(&m, B, T);
    float *adapted = logits_of(&m, x);
    lora_merge(&m);
    char label[120];
    snprintf(label, sizeof label, "lora/merge_drops_the_adapters/%s", name);
    CHECK(m.lora.rank == 0, label, "rank %d after merging", m.lora.rank);
    float *merged = logits_of(&m, x);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < (size_t)B * T * SHAPE.V; i++) {
        worst = fmax(worst, fabs(merged[i] - adapted[i]));
        scale = fmax(scale, fabs(adapted[i]));
    }
    snprintf(label, sizeof label, "lora/merged_logits_equal_adapted/%s", name);
    CHECK(worst <= 1e-5 * (1 + scale), label, "max diff %.3g (max |logit| %.3g)", worst, scale);
    /* only targeted matrices differ from the base */
    static const int matrix[NUM_LORA_TARGETS] = {PARAM_QKVW, PARAM_ATTPROJW, PARAM_FCW, PARAM_FCPROJW};
    size_t off = 0;
    int ok = 1;
    for (int p = 0; p < NUM_PARAM_TENSORS; off += m.param_sizes[p], p++) {
        int targeted = 0;
        for (int t = 0; t < NUM_LORA_TARGETS; t++) targeted |= (targets >> t & 1u) && matrix[t] == p;
        int same = !memcmp(m.params_memory + off, base.params_memory + off, m.param_sizes[p] * sizeof(float));
        if (same == targeted) ok = 0;
    }
    snprintf(label, sizeof label, "lora/merge_changes_only_targets/%s", name);
    CHECK(ok, label, "a tensor changed that is not targeted, or a targeted one did not");
    size_t want = 0;
    for (int t = 0; t < NUM_LORA_TARGETS; t++) {
        static const int in_out[NUM_LORA_TARGETS] = {1 + 3, 1 + 1, 1 + 4, 4 + 1};
        if (targets >> t & 1u) want += (size_t)SHAPE.L * 3 * in_out[t] * SHAPE.C;
    }
    snprintf(label, sizeof label, "lora/parameter_count/%s", name);
    CHECK(lora_num_parameters(&SHAPE, 3, targets) == want, label, "%zu, wanted L*R*(in+out) summed = %zu",
          lora_num_parameters(&SHAPE, 3, targets), want);
    free(adapted);
    free(merged);
    gpt2_free(&m);
    gpt2_free(&base);
}

/* One training step touches only the adapters: the base's weights are bit for
 * bit as before, the adapters move, and the update consumes their gradients
 * (zero afterwards, as for full fine-tuning: the next step accumulates from 0). */
static void step_moves_only_adapters(void) {
    int x[B * T];
    tokens(x);
    GPT2 m;
    random_base(&m);
    float *base = malloc(m.num_parameters * sizeof(float));
    memcpy(base, m.params_memory, m.num_parameters * sizeof(float));
    lora_init(&m, 2, 2.0f, 1u << LORA_QKV | 1u << LORA_FC, 5);
    float *before = malloc(m.lora.num_parameters * sizeof(float));
    memcpy(before, m.lora.params_memory, m.lora.num_parameters * sizeof(float));
    gpt2_alloc(&m, B, T);
    gpt2_zero_grad(&m);
    gpt2_forward(&m, x, x, B, T);
    gpt2_backward(&m);
    AdamWConfig opt = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
    adamw_step(&m, &opt, 1);
    double moved = 0, left = 0;
    for (size_t i = 0; i < m.lora.num_parameters; i++) {
        moved += fabs(m.lora.params_memory[i] - before[i]);
        left += fabs(m.lora.grads_memory[i]);
    }
    CHECK(!memcmp(base, m.params_memory, m.num_parameters * sizeof(float)) && moved > 0 && left == 0,
          "lora/step_moves_only_adapters_and_consumes_gradients", "base changed, or adapters moved %g, gradient left %g",
          moved, left);
    free(base);
    free(before);
    gpt2_free(&m);
}

int main(void) {
    step_moves_only_adapters();
    starts_as_base();
    file_round_trip();
    merge_equals_adapted(1u << LORA_QKV | 1u << LORA_ATTPROJ, "qkv_attproj");
    merge_equals_adapted((1u << NUM_LORA_TARGETS) - 1, "all_four");
    merge_equals_adapted(1u << LORA_FC, "fc");
    return check_failures ? 1 : 0;
}
