/*
 * gpt2_memory.c: the model's bookkeeping: how big each tensor is, where it
 * lives in the flat buffers, allocation, GPT-2's initialisation, the
 * checks at the start of a forward pass, and the memory plan of a training
 * run (what it will hold, added up before anything is allocated). gpt2.c does the math on what this
 * file lays out; gpt2.h describes the layout.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "generation.h" /* gpt2_kv_free */
#include "gpt2.h"
#ifndef REFERENCE
#include "fastops.h"
#endif

const GPT2Ops *gpt2_default_ops(void) {
#ifdef REFERENCE
    return &GPT2_REFERENCE_OPS;
#else
    return &GPT2_FAST_OPS;
#endif
}

/* ------------------------------------------------------------------------ */
/* parameters                                                                */

/* a * b, or 0 if the product does not fit in a size_t (0 is never a valid size here) */
static size_t mul_or_zero(size_t a, size_t b) {
    return (a != 0 && b > SIZE_MAX / a) ? 0 : a * b;
}

size_t gpt2_param_sizes(const GPT2Config *c, size_t s[NUM_PARAM_TENSORS]) {
    size_t C = (size_t)c->C, L = (size_t)c->L;
    size_t CC = mul_or_zero(C, C), LC = mul_or_zero(L, C);
    s[PARAM_WTE] = mul_or_zero((size_t)c->Vp, C);
    s[PARAM_WPE] = mul_or_zero((size_t)c->maxT, C);
    s[PARAM_LN1W] = s[PARAM_LN1B] = LC;
    s[PARAM_QKVW] = mul_or_zero(L, mul_or_zero(3, CC));
    s[PARAM_QKVB] = mul_or_zero(3, LC);
    s[PARAM_ATTPROJW] = mul_or_zero(L, CC);
    s[PARAM_ATTPROJB] = s[PARAM_LN2W] = s[PARAM_LN2B] = LC;
    s[PARAM_FCW] = s[PARAM_FCPROJW] = mul_or_zero(L, mul_or_zero(4, CC));
    s[PARAM_FCB] = mul_or_zero(4, LC);
    s[PARAM_FCPROJB] = LC;
    s[PARAM_LNFW] = s[PARAM_LNFB] = C;
    size_t total = 0;
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        if (s[i] == 0 || total > SIZE_MAX - s[i]) return 0;
        total += s[i];
    }
    /* the byte count (x4) must fit too */
    return total > SIZE_MAX / sizeof(float) ? 0 : total;
}

void gpt2_point_params(ParameterTensors *t, float *memory, const size_t sizes[NUM_PARAM_TENSORS]) {
    float **ptrs[NUM_PARAM_TENSORS] = {&t->wte,  &t->wpe,      &t->ln1w,     &t->ln1b,   &t->qkvw,    &t->qkvb,
                                       &t->attprojw, &t->attprojb, &t->ln2w,  &t->ln2b,   &t->fcw,     &t->fcb,
                                       &t->fcprojw, &t->fcprojb, &t->lnfw,    &t->lnfb};
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        *ptrs[i] = memory;
        memory += sizes[i];
    }
}

void gpt2_validate_config(const GPT2Config *c, const char *path) {
    if (c->maxT <= 0 || c->V <= 0 || c->Vp <= 0 || c->L <= 0 || c->NH <= 0 || c->C <= 0)
        die("%s: bad config: maxT=%d V=%d Vp=%d L=%d NH=%d C=%d (all must be positive)", path, c->maxT, c->V,
            c->Vp, c->L, c->NH, c->C);
    if (c->C % c->NH != 0) die("%s: bad config: C=%d is not divisible by NH=%d", path, c->C, c->NH);
    if (c->Vp < c->V) die("%s: bad config: padded vocabulary Vp=%d is smaller than V=%d", path, c->Vp, c->V);
}

void gpt2_init_empty(GPT2 *model, const GPT2Config *config) {
    memset(model, 0, sizeof(*model));
    model->config = *config;
    model->ops = gpt2_default_ops();
    model->num_parameters = gpt2_param_sizes(config, model->param_sizes);
    if (model->num_parameters == 0) die("config too large: the parameter count overflows");
    model->params_memory = xcalloc(model->num_parameters, sizeof(float), "parameters");
    gpt2_point_params(&model->params, model->params_memory, model->param_sizes);
    model->mean_loss = -1.0f;
}

/* GPT-2's initialisation: weights N(0, 0.02), the two projections that write
 * into the residual stream (attprojw, fcprojw) N(0, 0.02/sqrt(2L)) so the
 * stream's variance does not grow with depth, biases 0, layernorm scales 1
 * and shifts 0; the padded wte rows stay 0. */
void gpt2_init_random(GPT2 *m, const GPT2Config *c, uint64_t seed) {
    gpt2_init_empty(m, c);
    Rng r;
    rng_seed(&r, seed);
    ParameterTensors p = m->params;
    float resid_std = 0.02f / sqrtf(2.0f * (float)c->L);
    struct { float *t; size_t n; float std; } normal[] = {
        {p.wte, (size_t)c->V * c->C, 0.02f},
        {p.wpe, m->param_sizes[PARAM_WPE], 0.02f},
        {p.qkvw, m->param_sizes[PARAM_QKVW], 0.02f},
        {p.attprojw, m->param_sizes[PARAM_ATTPROJW], resid_std},
        {p.fcw, m->param_sizes[PARAM_FCW], 0.02f},
        {p.fcprojw, m->param_sizes[PARAM_FCPROJW], resid_std},
    };
    for (size_t k = 0; k < sizeof normal / sizeof normal[0]; k++)
        for (size_t i = 0; i < normal[k].n; i++) normal[k].t[i] = normal[k].std * rng_normal(&r);
    float *ones[] = {p.ln1w, p.ln2w, p.lnfw};
    size_t nones[] = {m->param_sizes[PARAM_LN1W], m->param_sizes[PARAM_LN2W], m->param_sizes[PARAM_LNFW]};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < nones[k]; i++) ones[k][i] = 1.0f;
}

/* ------------------------------------------------------------------------ */
/* activations and the backward scratch                                      */

/* Element counts of the activation tensors for a batch of (B,T), in the order
 * of the ActivationTensors struct. */
static void activation_sizes(const GPT2Config *c, size_t B, size_t T, size_t s[NUM_ACTIVATION_TENSORS]) {
    const char *what = "activation size";
    size_t L = (size_t)c->L, NH = (size_t)c->NH;
    size_t BT = mul_size(B, T, what);
    size_t BTC = mul_size(BT, (size_t)c->C, what);
    size_t LBTC = mul_size(L, BTC, what);
    size_t LBT = mul_size(L, BT, what);
    s[0] = BTC;                                       /* encoded */
    s[1] = LBTC; s[2] = LBT; s[3] = LBT;              /* ln1, ln1_mean, ln1_rstd */
    s[4] = mul_size(3, LBTC, what);                   /* qkv */
    s[5] = mul_size(mul_size(L * B, NH, what), mul_size(T, T, what), what); /* att */
    s[6] = LBTC; s[7] = LBTC; s[8] = LBTC;            /* atty, attproj, residual2 */
    s[9] = LBTC; s[10] = LBT; s[11] = LBT;            /* ln2, ln2_mean, ln2_rstd */
    s[12] = mul_size(4, LBTC, what);                  /* fch */
    s[13] = s[12];                                    /* fch_gelu */
    s[14] = LBTC; s[15] = LBTC;                       /* fcproj, residual3 */
    s[16] = BTC; s[17] = BT; s[18] = BT;              /* lnf, lnf_mean, lnf_rstd */
    s[19] = mul_size(BT, (size_t)c->V, what);         /* logits */
    s[20] = BT;                                       /* losses */
}

static void scratch_sizes(const GPT2Config *c, size_t B, size_t T, size_t s[NUM_SCRATCH_TENSORS]) {
    size_t BTC = B * T * (size_t)c->C;
    s[0] = BTC;                          /* dresidual */
    s[1] = BTC;                          /* dln */
    s[2] = 3 * BTC;                      /* dqkv */
    s[3] = B * (size_t)c->NH * T * T;    /* datt */
    s[4] = BTC;                          /* datty */
    s[5] = 4 * BTC;                      /* dfch */
    s[6] = 4 * BTC;                      /* dfch_gelu */
}

/* Carve `memory` into n consecutive tensors; `ptrs` lists the struct fields. */
static float *carve(float *memory, float **ptrs[], const size_t sizes[], int n) {
    for (int i = 0; i < n; i++) {
        *ptrs[i] = memory;
        memory += sizes[i];
    }
    return memory;
}

static size_t sum_sizes(const size_t *s, int n) {
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (total > SIZE_MAX - s[i]) die("activation size overflows");
        total += s[i];
    }
    return total;
}

size_t gpt2_activation_sizes(const GPT2Config *c, int B, int T, size_t sizes[NUM_ACTIVATION_TENSORS]) {
    activation_sizes(c, (size_t)B, (size_t)T, sizes);
    return sum_sizes(sizes, NUM_ACTIVATION_TENSORS);
}

size_t gpt2_scratch_sizes(const GPT2Config *c, int B, int T, size_t sizes[NUM_SCRATCH_TENSORS]) {
    scratch_sizes(c, (size_t)B, (size_t)T, sizes);
    return sum_sizes(sizes, NUM_SCRATCH_TENSORS);
}

void gpt2_point_activations(ActivationTensors *a, float *memory, const GPT2Config *c, int B, int T) {
    float **ptrs[NUM_ACTIVATION_TENSORS] = {
        &a->encoded, &a->ln1,      &a->ln1_mean, &a->ln1_rstd,  &a->qkv,      &a->att,      &a->atty,
        &a->attproj, &a->residual2, &a->ln2,     &a->ln2_mean,  &a->ln2_rstd, &a->fch,      &a->fch_gelu,
        &a->fcproj,  &a->residual3, &a->lnf,     &a->lnf_mean,  &a->lnf_rstd, &a->logits,   &a->losses};
    size_t sizes[NUM_ACTIVATION_TENSORS];
    activation_sizes(c, (size_t)B, (size_t)T, sizes);
    carve(memory, ptrs, sizes, NUM_ACTIVATION_TENSORS);
}

void gpt2_point_scratch(BackwardScratch *s, float *memory, const GPT2Config *c, int B, int T) {
    float **ptrs[NUM_SCRATCH_TENSORS] = {&s->dresidual, &s->dln,  &s->dqkv,     &s->datt,
                                         &s->datty,     &s->dfch, &s->dfch_gelu};
    size_t sizes[NUM_SCRATCH_TENSORS];
    scratch_sizes(c, (size_t)B, (size_t)T, sizes);
    carve(memory, ptrs, sizes, NUM_SCRATCH_TENSORS);
}

/* Point the activation tensors at `memory` laid out for a batch of (B,T). The
 * layout depends on B and T, so it is redone whenever they change; memory was
 * allocated for (B_max, T_max), which bounds every smaller layout. */
static void point_activations(GPT2 *model, int B, int T) {
    gpt2_point_activations(&model->acts, model->acts_memory, &model->config, B, T);
    gpt2_point_scratch(&model->scratch, model->scratch_memory, &model->config, B, T);
    model->B = B;
    model->T = T;
}

void gpt2_check_alloc_size(const GPT2Config *c, int B_max, int T_max) {
    if (B_max <= 0 || T_max <= 0) die("batch size %d and sequence length %d must be positive", B_max, T_max);
    if (T_max > c->maxT) die("sequence length %d exceeds the model's context of %d", T_max, c->maxT);
}

void gpt2_alloc(GPT2 *model, int B_max, int T_max) {
    const GPT2Config *c = &model->config;
    gpt2_check_alloc_size(c, B_max, T_max);
    size_t sizes[NUM_ACTIVATION_TENSORS], ssizes[NUM_SCRATCH_TENSORS];
    activation_sizes(c, (size_t)B_max, (size_t)T_max, sizes);
    scratch_sizes(c, (size_t)B_max, (size_t)T_max, ssizes);
    size_t nacts = sum_sizes(sizes, NUM_ACTIVATION_TENSORS);
    size_t nscratch = sum_sizes(ssizes, NUM_SCRATCH_TENSORS);
    model->acts_memory = xmalloc(mul_size(nacts, sizeof(float), "activations"), "activations");
    model->scratch_memory = xmalloc(mul_size(nscratch, sizeof(float), "gradient scratch"), "gradient scratch");
    if (model->lora.rank > 0) {
        lora_alloc_acts(model, B_max, T_max); /* frozen parameters get no gradients */
    } else {
        model->grads_memory = xcalloc(model->num_parameters, sizeof(float), "gradients");
        gpt2_point_params(&model->grads, model->grads_memory, model->param_sizes);
    }
    size_t BT = (size_t)B_max * T_max;
    model->inputs = xmalloc(BT * sizeof(int), "inputs");
    model->targets = xmalloc(BT * sizeof(int), "targets");
    model->B_max = B_max;
    model->T_max = T_max;
    point_activations(model, B_max, T_max);
}

void gpt2_free(GPT2 *model) {
    free(model->params_memory);
    free(model->grads_memory);
    free(model->m_memory);
    free(model->v_memory);
    free(model->acts_memory);
    free(model->scratch_memory);
    free(model->inputs);
    free(model->targets);
    gpt2_kv_free(&model->kv);
    lora_free(&model->lora);
    memset(model, 0, sizeof(*model));
}


void gpt2_check_tokens(const int *ids, size_t n, int V, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) die("%s %d is outside the vocabulary [0, %d)", what, ids[i], V);
}

void gpt2_check_batch(const GPT2Config *c, const int *inputs, const int *targets, int B, int T, int B_max,
                      int T_max) {
    if (B <= 0 || T <= 0 || B > B_max || T > T_max)
        die("batch (%d, %d) is outside the allocated (%d, %d)", B, T, B_max, T_max);
    size_t BT = (size_t)B * T;
    gpt2_check_tokens(inputs, BT, c->V, "input token");
    if (targets) gpt2_check_tokens(targets, BT, c->V, "target token");
}

void gpt2_begin_batch(GPT2 *model, const int *inputs, const int *targets, int B, int T) {
    if (!model->acts_memory) die("gpt2_forward: call gpt2_alloc first");
    gpt2_check_batch(&model->config, inputs, targets, B, T, model->B_max, model->T_max);
    size_t BT = (size_t)B * T;
    point_activations(model, B, T);
    memcpy(model->inputs, inputs, BT * sizeof(int));
    if (targets) memcpy(model->targets, targets, BT * sizeof(int));
}

void gpt2_zero_grad(GPT2 *model) {
    TrainedParams t = gpt2_trained(model);
    if (!t.grads) return;
    /* memory-bound: every thread clears its own contiguous slice */
    const size_t chunk = (size_t)1 << 20;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < t.n; i += chunk) memset(t.grads + i, 0, (t.n - i < chunk ? t.n - i : chunk) * sizeof(float));
}

/* With LoRA adapters only they train; otherwise every parameter does. */
TrainedParams gpt2_trained(const GPT2 *model) {
    const LoRA *lo = &model->lora;
    if (lo->rank > 0)
        return (TrainedParams){lo->params_memory, lo->grads_memory, lo->m_memory, lo->v_memory, lo->num_parameters};
    return (TrainedParams){model->params_memory, model->grads_memory, model->m_memory, model->v_memory,
                           model->num_parameters};
}

void gpt2_alloc_moments(GPT2 *model) {
    LoRA *lo = &model->lora;
    float **m = lo->rank > 0 ? &lo->m_memory : &model->m_memory;
    float **v = lo->rank > 0 ? &lo->v_memory : &model->v_memory;
    size_t n = gpt2_trained(model).n;
    if (!*m) *m = xcalloc(n, sizeof(float), "AdamW m");
    if (!*v) *v = xcalloc(n, sizeof(float), "AdamW v");
}

/* ------------------------------------------------------------------------ */
/* one layer's slices                                                        */

LayerParams gpt2_layer_params(const ParameterTensors *p, const GPT2Config *c, int l) {
    size_t C = (size_t)c->C, lC = (size_t)l * C;
    LayerParams w = {
        .ln1w = p->ln1w + lC, .ln1b = p->ln1b + lC,
        .qkvw = p->qkvw + 3 * lC * C, .qkvb = p->qkvb + 3 * lC,
        .attprojw = p->attprojw + lC * C, .attprojb = p->attprojb + lC,
        .ln2w = p->ln2w + lC, .ln2b = p->ln2b + lC,
        .fcw = p->fcw + 4 * lC * C, .fcb = p->fcb + 4 * lC,
        .fcprojw = p->fcprojw + 4 * lC * C, .fcprojb = p->fcprojb + lC,
    };
    return w;
}

LayerActs gpt2_layer_acts(const ActivationTensors *a, const GPT2Config *c, int l, int B, int T) {
    size_t BT = (size_t)B * T, BTC = BT * c->C, L = (size_t)l;
    LayerActs x = {
        .residual = l == 0 ? a->encoded : a->residual3 + (L - 1) * BTC,
        .ln1 = a->ln1 + L * BTC, .ln1_mean = a->ln1_mean + L * BT, .ln1_rstd = a->ln1_rstd + L * BT,
        .qkv = a->qkv + L * 3 * BTC, .att = a->att + L * BT * c->NH * T,
        .atty = a->atty + L * BTC, .attproj = a->attproj + L * BTC, .residual2 = a->residual2 + L * BTC,
        .ln2 = a->ln2 + L * BTC, .ln2_mean = a->ln2_mean + L * BT, .ln2_rstd = a->ln2_rstd + L * BT,
        .fch = a->fch + L * 4 * BTC, .fch_gelu = a->fch_gelu + L * 4 * BTC,
        .fcproj = a->fcproj + L * BTC, .residual3 = a->residual3 + L * BTC,
    };
    return x;
}

/* ------------------------------------------------------------------------ */
/* the memory plan of a training run                                         */

/* a + b and a * b that stop at SIZE_MAX: a plan too large to count is too large to fit */
static size_t add_sat(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }
static size_t mul_sat(size_t a, size_t b) { return a != 0 && b > SIZE_MAX / a ? SIZE_MAX : a * b; }

/* Every allocation of a ./train run that grows with the model or the batch,
 * in bytes (4 per float). With P parameters of which P_t are trained:
 *   params P*4 + grads P_t*4 + AdamW (m, v) P_t*8    = 16 P for full fine-tuning
 *   activations + scratch                            = gpt2_alloc's two buffers for (B,T)
 *   KV cache L*maxT*3C floats + one position's buffers + 2V for the sampler
 *   eval copy P*4: train() keeps the weights from before each eval step's
 *                  update (and the last step is always one), for the update ratios
 *   tokens: the model's inputs and targets, and each data loader's.
 * What does not grow (code, thread stacks, the run's logs) is left out. */
MemoryPlan gpt2_memory_plan(const GPT2Config *c, int B, int T, TrainedSpec trained, int with_kv_cache) {
    size_t sizes[NUM_PARAM_TENSORS > NUM_ACTIVATION_TENSORS ? NUM_PARAM_TENSORS : NUM_ACTIVATION_TENSORS];
    size_t P = gpt2_param_sizes(c, sizes);
    size_t f = sizeof(float), C = (size_t)c->C, BT = mul_sat((size_t)B, (size_t)T);
    size_t A = trained.lora_rank ? lora_num_parameters(c, trained.lora_rank, trained.lora_targets) : 0;
    size_t trainable = gpt2_trained_count(c, trained);
    MemoryPlan m = {0};
    m.params = P == 0 ? SIZE_MAX : mul_sat(add_sat(P, A), f); /* with LoRA, the adapters too */
    m.grads = mul_sat(trainable, f);
    m.adamw = mul_sat(trainable, 2 * f);
    m.activations = mul_sat(gpt2_activation_sizes(c, B, T, sizes), f);
    m.scratch = mul_sat(gpt2_scratch_sizes(c, B, T, sizes), f);
    if (trained.lora_rank) { /* the adapters' h per target and layer, and one dh (lora_alloc_acts) */
        size_t BTR = mul_sat(BT, (size_t)trained.lora_rank), targets = 0;
        for (int t = 0; t < NUM_LORA_TARGETS; t++) targets += trained.lora_targets >> t & 1u;
        m.activations = add_sat(m.activations, mul_sat(mul_sat(BTR, targets * c->L), f));
        m.scratch = add_sat(m.scratch, mul_sat(BTR, f));
    }
    if (with_kv_cache) {
        size_t cache = mul_sat(mul_sat((size_t)c->L * c->maxT, 3), C);
        /* one position: x, ln, atty, proj (C each), fch, fch_gelu (4C each), att (maxT),
         * logits (V), and the sampler's 2V */
        size_t step = 8 * C + (size_t)c->maxT + 3 * (size_t)c->V;
        m.kv_cache = mul_sat(add_sat(cache, step), f);
    }
    m.eval_copy = trained.lora_rank ? 0 : m.params; /* LoRA runs measure no update ratios */
    /* gpt2_alloc's inputs and targets (int), and per loader (train and
     * validation) the uint16 window of BT+1 tokens and its inputs and targets */
    size_t model_tokens = mul_sat(BT, 2 * sizeof(int));
    size_t loader_tokens = add_sat(mul_sat(BT + 1, sizeof(uint16_t)), mul_sat(BT, 2 * sizeof(int)));
    m.other = add_sat(model_tokens, mul_sat(loader_tokens, 2));
    return m;
}

size_t gpt2_trained_count(const GPT2Config *c, TrainedSpec trained) {
    size_t sizes[NUM_PARAM_TENSORS];
    return trained.lora_rank ? lora_num_parameters(c, trained.lora_rank, trained.lora_targets)
                             : gpt2_param_sizes(c, sizes);
}

size_t memory_plan_total(const MemoryPlan *p) {
    size_t parts[] = {p->params, p->grads, p->adamw, p->activations, p->scratch, p->kv_cache, p->eval_copy, p->other};
    size_t total = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) total = add_sat(total, parts[i]);
    return total;
}
