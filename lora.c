/*
 * lora.c: LoRA adapters' bookkeeping. Which matmuls they sit beside, where
 * each adapter lives in the one flat array, their initialisation, the
 * adapters file, and merging them into the base weights. The math
 * (lora_forward / lora_backward) is in gpt2.c beside the matmul it
 * adapts; notes.md "LoRA" derives it and gives the memory it saves.
 *
 * The flat array (and its gradients, m and v, in the same layout): for each
 * targeted matmul, in the order qkv, attproj, fc, fcproj,
 *     a (L, R, in)   then   b (L, out, R)
 * so layer l's a is the slice at l*R*in, its b at l*out*R.
 *
 * The adapters file (lora_NNNNNNNN.bin in a run folder), little-endian:
 *   256 int32 header: [0] magic 20241205, [1] version 1, [2] R,
 *       [3] targets (bit 0 qkv, 1 attproj, 2 fc, 3 fcproj), [4] L, [5] C,
 *       [6] alpha (float32 bits), [7..8] number of adapter floats (uint64),
 *       [9..10] the base checkpoint's parameter count (uint64),
 *       [11..12] the base's fingerprint (uint64, lora_base_fingerprint);
 *       the rest 0
 *   512 bytes: the base checkpoint's path as training was given it,
 *       NUL-padded (merge_lora and --resume load the base from there)
 *   the adapters: float32, in the layout above.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "gpt2.h"

#define LORA_MAGIC 20241205
#define LORA_VERSION 1
#define LORA_PATH_FIELD 512
#define LORA_MAX_RANK 4096

static const char *const TARGET_NAMES[NUM_LORA_TARGETS] = {"qkv", "attproj", "fc", "fcproj"};

/* ------------------------------------------------------------------------ */
/* targets and sizes                                                         */

void lora_target_shape(const GPT2Config *c, int target, int *in, int *out) {
    static const int in_mult[NUM_LORA_TARGETS] = {1, 1, 1, 4}, out_mult[NUM_LORA_TARGETS] = {3, 1, 4, 1};
    *in = in_mult[target] * c->C;
    *out = out_mult[target] * c->C;
}

unsigned lora_parse_targets(const char *list) {
    unsigned set = 0;
    for (const char *p = list;; p++) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int t = 0; t < NUM_LORA_TARGETS; t++)
            if (strlen(TARGET_NAMES[t]) == n && !strncmp(p, TARGET_NAMES[t], n)) found = t;
        if (found < 0) die_usage("--lora-targets: '%.*s' is not one of qkv, attproj, fc, fcproj", (int)n, p);
        set |= 1u << found;
        p += n;
        if (!*p) return set;
    }
}

const char *lora_target_list(unsigned targets, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int t = 0; t < NUM_LORA_TARGETS; t++)
        if (targets >> t & 1u) len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%s", len ? "," : "",
                                                       TARGET_NAMES[t]);
    return buf;
}

size_t lora_num_parameters(const GPT2Config *c, int rank, unsigned targets) {
    size_t total = 0;
    for (int t = 0; t < NUM_LORA_TARGETS; t++) {
        if (!(targets >> t & 1u)) continue;
        int in, out;
        lora_target_shape(c, t, &in, &out);
        total += mul_size(mul_size((size_t)c->L, (size_t)rank, "adapter size"), (size_t)in + (size_t)out,
                          "adapter size");
    }
    return total;
}

/* ------------------------------------------------------------------------ */
/* attaching adapters to a model                                             */

/* Point a[t], b[t] (and da, db) at their slices of the flat arrays. */
static void lora_point(LoRA *lo, const GPT2Config *c) {
    float *p = lo->params_memory, *g = lo->grads_memory;
    for (int t = 0; t < NUM_LORA_TARGETS; t++) {
        lo->a[t] = lo->b[t] = lo->da[t] = lo->db[t] = NULL;
        if (!(lo->targets >> t & 1u)) continue;
        int in, out;
        lora_target_shape(c, t, &in, &out);
        size_t na = (size_t)c->L * lo->rank * in, nb = (size_t)c->L * out * lo->rank;
        lo->a[t] = p, lo->da[t] = g;
        p += na, g += na;
        lo->b[t] = p, lo->db[t] = g;
        p += nb, g += nb;
    }
}

/* Zeroed adapters of this rank on these targets; the model's own parameters
 * are frozen from now on, so their gradients and AdamW state are let go. */
static void lora_attach(GPT2 *model, int rank, float alpha, unsigned targets) {
    if (rank < 1 || rank > LORA_MAX_RANK) die_usage("--lora %d: the rank must be in [1, %d]", rank, LORA_MAX_RANK);
    if (!(alpha > 0 && alpha < 1e6f)) die_usage("--lora-alpha %g: must be positive", alpha);
    if (targets == 0 || targets >= 1u << NUM_LORA_TARGETS) die_usage("LoRA needs at least one target");
    LoRA *lo = &model->lora;
    lora_free(lo);
    lo->rank = rank;
    lo->alpha = alpha;
    lo->targets = targets;
    lo->num_parameters = lora_num_parameters(&model->config, rank, targets);
    lo->params_memory = xcalloc(lo->num_parameters, sizeof(float), "LoRA adapters");
    lo->grads_memory = xcalloc(lo->num_parameters, sizeof(float), "LoRA gradients");
    lora_point(lo, &model->config);
    free(model->grads_memory);
    free(model->m_memory);
    free(model->v_memory);
    model->grads_memory = model->m_memory = model->v_memory = NULL;
    memset(&model->grads, 0, sizeof(model->grads));
    if (model->acts_memory) lora_alloc_acts(model, model->B_max, model->T_max);
}

/* The LoRA paper's start: B = 0, so the adapted model is the base model at
 * step 0, and A random, so that B's gradient (s dout^T h, h = x A^T) is not
 * zero too. A's rows ~ N(0, 1/in) keep h at about the input's scale. */
void lora_init(GPT2 *model, int rank, float alpha, unsigned targets, uint64_t seed) {
    lora_attach(model, rank, alpha, targets);
    LoRA *lo = &model->lora;
    Rng r;
    rng_seed(&r, seed ^ 0x10DA10DAull);
    for (int t = 0; t < NUM_LORA_TARGETS; t++) {
        if (!lo->a[t]) continue;
        int in, out;
        lora_target_shape(&model->config, t, &in, &out);
        float std = 1.0f / sqrtf((float)in);
        size_t n = (size_t)model->config.L * rank * in;
        for (size_t i = 0; i < n; i++) lo->a[t][i] = std * rng_normal(&r);
    }
}

void lora_alloc_acts(GPT2 *model, int B_max, int T_max) {
    LoRA *lo = &model->lora;
    free(lo->acts_memory);
    size_t BTR = mul_size(mul_size((size_t)B_max, (size_t)T_max, "LoRA activations"), (size_t)lo->rank,
                          "LoRA activations");
    size_t per_target = mul_size((size_t)model->config.L, BTR, "LoRA activations");
    size_t total = BTR; /* dh */
    for (int t = 0; t < NUM_LORA_TARGETS; t++)
        if (lo->targets >> t & 1u) total += per_target;
    lo->acts_memory = xmalloc(mul_size(total, sizeof(float), "LoRA activations"), "LoRA activations");
    float *p = lo->acts_memory;
    lo->dh = p;
    p += BTR;
    for (int t = 0; t < NUM_LORA_TARGETS; t++) {
        lo->h[t] = NULL;
        if (lo->targets >> t & 1u) lo->h[t] = p, p += per_target;
    }
}

void lora_free(LoRA *lo) {
    free(lo->params_memory);
    free(lo->grads_memory);
    free(lo->m_memory);
    free(lo->v_memory);
    free(lo->acts_memory);
    memset(lo, 0, sizeof(*lo));
}

/* ------------------------------------------------------------------------ */
/* the adapters file                                                         */

/* FNV-1a over the bits of every 4099th parameter: it reads a few hundred
 * kilobytes even of GPT-2 XL, and two different checkpoints of one shape
 * (a base and its fine-tune) differ in practically every weight. */
uint64_t lora_base_fingerprint(const GPT2 *model) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < model->num_parameters; i += 4099) {
        uint32_t bits;
        memcpy(&bits, &model->params_memory[i], sizeof bits);
        for (int k = 0; k < 4; k++) {
            h ^= (bits >> (8 * k)) & 0xFFu;
            h *= 1099511628211ull;
        }
    }
    return h;
}


void lora_save(const GPT2 *model, const char *base_path, const char *path) {
    const LoRA *lo = &model->lora;
    int32_t h[HEADER_INTS] = {0};
    h[0] = LORA_MAGIC;
    h[1] = LORA_VERSION;
    h[2] = lo->rank;
    h[3] = (int32_t)lo->targets;
    h[4] = model->config.L;
    h[5] = model->config.C;
    memcpy(&h[6], &lo->alpha, sizeof(float));
    header_put_u64(h, 7, lo->num_parameters);
    header_put_u64(h, 9, model->num_parameters);
    header_put_u64(h, 11, lora_base_fingerprint(model));
    char field[LORA_PATH_FIELD] = {0};
    size_t n = strlen(base_path);
    if (n >= LORA_PATH_FIELD) die("%s: the base checkpoint's path is longer than %d bytes", base_path, LORA_PATH_FIELD - 1);
    memcpy(field, base_path, n);
    AtomicFile af = atomic_open(path);
    xfwrite(h, sizeof(int32_t), HEADER_INTS, af.f, af.tmp_path);
    xfwrite(field, 1, LORA_PATH_FIELD, af.f, af.tmp_path);
    xfwrite(lo->params_memory, sizeof(float), lo->num_parameters, af.f, af.tmp_path);
    atomic_commit(&af);
}

/* Reads and checks the header and path; leaves f at the adapters. */
static FILE *open_lora_file(const char *path, LoRAFileInfo *info) {
    FILE *f = xfopen(path, "rb");
    size_t fsize = file_size(f, path);
    int32_t h[HEADER_INTS];
    read_header(f, path, h);
    if (h[0] != LORA_MAGIC) die("%s: not a gpt2c LoRA adapters file (magic %d, expected %d)", path, h[0], LORA_MAGIC);
    if (h[1] != LORA_VERSION) die("%s: unsupported LoRA adapters version %d", path, h[1]);
    memset(info, 0, sizeof(*info));
    info->rank = h[2];
    info->targets = (unsigned)h[3];
    info->L = h[4];
    info->C = h[5];
    memcpy(&info->alpha, &h[6], sizeof(float));
    info->num_parameters = (size_t)header_get_u64(h, 7);
    info->base_parameters = (size_t)header_get_u64(h, 9);
    info->base_fingerprint = header_get_u64(h, 11);
    if (info->rank < 1 || info->rank > LORA_MAX_RANK) die("%s: corrupt adapters file: rank %d", path, info->rank);
    if (info->targets == 0 || info->targets >= 1u << NUM_LORA_TARGETS)
        die("%s: corrupt adapters file: target bits 0x%x", path, info->targets);
    if (info->L < 1 || info->L > 100000 || info->C < 1 || info->C > 1000000)
        die("%s: corrupt adapters file: L=%d C=%d", path, info->L, info->C);
    if (!(info->alpha > 0 && info->alpha < 1e6f)) die("%s: corrupt adapters file: alpha %g", path, info->alpha);
    GPT2Config shape = {.L = info->L, .C = info->C};
    size_t n = lora_num_parameters(&shape, info->rank, info->targets);
    if (info->num_parameters != n || fsize != HEADER_INTS * 4 + LORA_PATH_FIELD + n * sizeof(float))
        die("%s: file is %zu bytes, but adapters of rank %d for L=%d C=%d need %zu (truncated?)", path, fsize,
            info->rank, info->L, info->C, (size_t)(HEADER_INTS * 4 + LORA_PATH_FIELD) + n * sizeof(float));
    xfread(info->base_path, 1, LORA_PATH_FIELD, f, path);
    info->base_path[LORA_PATH_FIELD - 1] = '\0';
    return f;
}

LoRAFileInfo lora_read_info(const char *path) {
    LoRAFileInfo info;
    xfclose(open_lora_file(path, &info), path);
    return info;
}

void lora_load(GPT2 *model, const char *path) {
    LoRAFileInfo info;
    FILE *f = open_lora_file(path, &info);
    const GPT2Config *c = &model->config;
    if (info.L != c->L || info.C != c->C)
        die("%s: adapters for L=%d C=%d, but the base model has L=%d C=%d", path, info.L, info.C, c->L, c->C);
    if (info.base_parameters != model->num_parameters || info.base_fingerprint != lora_base_fingerprint(model))
        die("%s: these adapters were trained on another base checkpoint (it names %s)", path,
            info.base_path[0] ? info.base_path : "none");
    lora_attach(model, info.rank, info.alpha, info.targets);
    LoRA *lo = &model->lora;
    xfread(lo->params_memory, sizeof(float), lo->num_parameters, f, path);
    xfclose(f, path);
    for (size_t i = 0; i < lo->num_parameters; i++)
        if (!isfinite(lo->params_memory[i])) die("%s: corrupt adapters file: %g at adapter float %zu", path,
                                                 lo->params_memory[i], i);
}

/* ------------------------------------------------------------------------ */
/* merging                                                                   */

/* Layer l's weight matrix of target t, (out, in). */
static float *target_weight(GPT2 *model, int t, int l) {
    LayerParams w = gpt2_layer_params(&model->params, &model->config, l);
    float *const weights[NUM_LORA_TARGETS] = {w.qkvw, w.attprojw, w.fcw, w.fcprojw};
    return weights[t];
}

/* W[o][i] += s * sum_r b[o][r] * a[r][i]: the product the adapter applied
 * as two thin matmuls, now folded into W. Every other tensor is untouched. */
void lora_merge(GPT2 *model) {
    LoRA *lo = &model->lora;
    int R = lo->rank;
    float s = lo->alpha / (float)R;
    for (int t = 0; t < NUM_LORA_TARGETS; t++) {
        if (!lo->a[t]) continue;
        int in, out;
        lora_target_shape(&model->config, t, &in, &out);
        for (int l = 0; l < model->config.L; l++) {
            float *w = target_weight(model, t, l);
            const float *a = lo->a[t] + (size_t)l * R * in, *b = lo->b[t] + (size_t)l * out * R;
#pragma omp parallel for
            for (int o = 0; o < out; o++)
                for (int i = 0; i < in; i++) {
                    float sum = 0.0f;
                    for (int r = 0; r < R; r++) sum += b[(size_t)o * R + r] * a[(size_t)r * in + i];
                    w[(size_t)o * in + i] += s * sum;
                }
        }
    }
    lora_free(lo);
}
