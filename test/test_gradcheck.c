/*
 * test_gradcheck: the backward pass against central finite differences.
 *
 * An independent, deliberately naive GPT-2 forward pass in double precision
 * (written here from the formulas, sharing no code with gpt2.c) gives the loss
 * as a function of the parameters. For sampled entries of every one of the 16
 * parameter tensors, (loss(p + h) - loss(p - h)) / 2h is compared with the
 * gradient from gpt2_backward. The same double forward also checks the float
 * logits and loss. Small random models with awkward shapes: C not a power of
 * two, NH = 3, V not a multiple of 128, T < maxT and T == maxT.
 * With LoRA adapters on all four matmuls the same check covers every A and B
 * (the reference adds s B (A x) to each adapted layer's output, written from
 * the formula), and the frozen base gets no gradient at all.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common.h"
#include "../gpt2.h"
#include "check.h"

/* ---- a small deterministic RNG (xorshift64*), independent of the trainer ---- */
static uint64_t rng_state = 88172645463325252ull;
static double rand_uniform(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}
static double rand_normal(void) {
    double u1 = rand_uniform(), u2 = rand_uniform();
    return sqrt(-2.0 * log(u1 + 1e-300)) * cos(6.283185307179586 * u2);
}

/* ---- the double-precision reference forward ---- */

typedef struct {
    const double *wte, *wpe, *ln1w, *ln1b, *qkvw, *qkvb, *attprojw, *attprojb, *ln2w, *ln2b, *fcw, *fcb, *fcprojw,
        *fcprojb, *lnfw, *lnfb;
} RefParams;

static RefParams ref_params(const GPT2Config *c, const double *p) {
    size_t s[NUM_PARAM_TENSORS];
    (void)gpt2_param_sizes(c, s);
    const double *q[NUM_PARAM_TENSORS];
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        q[i] = p;
        p += s[i];
    }
    RefParams r = {q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], q[10], q[11], q[12], q[13], q[14], q[15]};
    return r;
}

static void ref_layernorm(double *out, const double *x, const double *w, const double *b, int C) {
    double m = 0, v = 0;
    for (int i = 0; i < C; i++) m += x[i];
    m /= C;
    for (int i = 0; i < C; i++) v += (x[i] - m) * (x[i] - m);
    v /= C;
    for (int i = 0; i < C; i++) out[i] = (x[i] - m) / sqrt(v + 1e-5) * w[i] + b[i];
}

static void ref_linear(double *out, const double *x, const double *w, const double *b, int in, int outn) {
    for (int o = 0; o < outn; o++) {
        double s = b ? b[o] : 0.0;
        for (int i = 0; i < in; i++) s += w[(size_t)o * in + i] * x[i];
        out[o] = s;
    }
}

/* LoRA adapters in double: per target, a (L,R,in) and b (L,out,R), or NULL. */
typedef struct {
    const double *a[NUM_LORA_TARGETS], *b[NUM_LORA_TARGETS];
    int R;
    double scale;
} RefLora;

/* out (outn) += scale * b (a x) for layer l's adapter on target t, if there is one. */
static void ref_adapter(double *out, const double *x, const RefLora *lo, int t, int l, int in, int outn) {
    if (!lo || !lo->a[t]) return;
    int R = lo->R;
    const double *a = lo->a[t] + (size_t)l * R * in, *b = lo->b[t] + (size_t)l * outn * R;
    double h[64];
    for (int r = 0; r < R; r++) {
        h[r] = 0;
        for (int i = 0; i < in; i++) h[r] += a[(size_t)r * in + i] * x[i];
    }
    for (int o = 0; o < outn; o++) {
        double s = 0;
        for (int r = 0; r < R; r++) s += b[(size_t)o * R + r] * h[r];
        out[o] += lo->scale * s;
    }
}

/* Mean cross-entropy of a (B,T) batch; if logits_out, also the (B,T,V) logits.
 * lora: adapters on the matmuls, or NULL. */
static double ref_forward(const GPT2Config *c, const double *params, const RefLora *lora, const int *x, const int *y,
                          int B, int T, double *logits_out) {
    RefParams p = ref_params(c, params);
    int C = c->C, NH = c->NH, hs = C / NH, V = c->V;
    double *h = calloc((size_t)T * C, sizeof(double)), *ln = calloc((size_t)T * C, sizeof(double));
    double *qkv = calloc((size_t)T * 3 * C, sizeof(double)), *y_att = calloc((size_t)T * C, sizeof(double));
    double *tmp = calloc((size_t)4 * C, sizeof(double)), *tmp2 = calloc((size_t)4 * C, sizeof(double));
    double *logits = calloc((size_t)V, sizeof(double)), *sc = calloc((size_t)T, sizeof(double));
    double loss = 0.0;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++)
            for (int i = 0; i < C; i++) h[t * C + i] = p.wte[(size_t)x[b * T + t] * C + i] + p.wpe[t * C + i];
        for (int l = 0; l < c->L; l++) {
            size_t lC = (size_t)l * C;
            for (int t = 0; t < T; t++) {
                ref_layernorm(ln + t * C, h + t * C, p.ln1w + lC, p.ln1b + lC, C);
                ref_linear(qkv + t * 3 * C, ln + t * C, p.qkvw + 3 * lC * C, p.qkvb + 3 * lC, C, 3 * C);
                ref_adapter(qkv + t * 3 * C, ln + t * C, lora, LORA_QKV, l, C, 3 * C);
            }
            for (int hh = 0; hh < NH; hh++) {
                for (int t = 0; t < T; t++) {
                    double mx = -1e300, sum = 0;
                    for (int u = 0; u <= t; u++) {
                        double s = 0;
                        for (int i = 0; i < hs; i++) s += qkv[t * 3 * C + hh * hs + i] * qkv[u * 3 * C + C + hh * hs + i];
                        sc[u] = s / sqrt((double)hs);
                        if (sc[u] > mx) mx = sc[u];
                    }
                    for (int u = 0; u <= t; u++) sum += (sc[u] = exp(sc[u] - mx));
                    for (int i = 0; i < hs; i++) {
                        double o = 0;
                        for (int u = 0; u <= t; u++) o += sc[u] / sum * qkv[u * 3 * C + 2 * C + hh * hs + i];
                        y_att[t * C + hh * hs + i] = o;
                    }
                }
            }
            for (int t = 0; t < T; t++) {
                ref_linear(tmp, y_att + t * C, p.attprojw + lC * C, p.attprojb + lC, C, C);
                ref_adapter(tmp, y_att + t * C, lora, LORA_ATTPROJ, l, C, C);
                for (int i = 0; i < C; i++) h[t * C + i] += tmp[i];
                ref_layernorm(ln + t * C, h + t * C, p.ln2w + lC, p.ln2b + lC, C);
                ref_linear(tmp, ln + t * C, p.fcw + 4 * lC * C, p.fcb + 4 * lC, C, 4 * C);
                ref_adapter(tmp, ln + t * C, lora, LORA_FC, l, C, 4 * C);
                for (int i = 0; i < 4 * C; i++) {
                    double v = tmp[i];
                    tmp[i] = 0.5 * v * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (v + 0.044715 * v * v * v)));
                }
                ref_linear(tmp2, tmp, p.fcprojw + 4 * lC * C, p.fcprojb + lC, 4 * C, C);
                ref_adapter(tmp2, tmp, lora, LORA_FCPROJ, l, 4 * C, C);
                for (int i = 0; i < C; i++) h[t * C + i] += tmp2[i];
            }
        }
        for (int t = 0; t < T; t++) {
            ref_layernorm(ln, h + t * C, p.lnfw, p.lnfb, C);
            ref_linear(logits, ln, p.wte, NULL, C, V);
            double mx = -1e300, sum = 0;
            for (int v = 0; v < V; v++) mx = logits[v] > mx ? logits[v] : mx;
            for (int v = 0; v < V; v++) sum += exp(logits[v] - mx);
            loss += log(sum) + mx - logits[y[b * T + t]];
            if (logits_out) memcpy(logits_out + ((size_t)b * T + t) * V, logits, V * sizeof(double));
        }
    }
    free(h); free(ln); free(qkv); free(y_att); free(tmp); free(tmp2); free(logits); free(sc);
    return loss / ((double)B * T);
}

/* ---- the check ---- */

static void random_model(GPT2 *m, const GPT2Config *c) {
    gpt2_init_empty(m, c);
    /* N(0, 0.1) weights: larger than GPT-2's 0.02 so every path carries signal;
     * layernorm gains around 1; padded wte rows stay exactly zero. */
    size_t off = 0;
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        int is_gain = i == 2 || i == 8 || i == 14;
        for (size_t j = 0; j < m->param_sizes[i]; j++) {
            float v = (float)(0.1 * rand_normal() + (is_gain ? 1.0 : 0.0));
            if (i == 0 && j >= (size_t)c->V * c->C) v = 0.0f;
            m->params_memory[off + j] = v;
        }
        off += m->param_sizes[i];
    }
}

/* The model's float forward (it keeps the logits and loss for the backward)
 * against the double reference on the same batch: logits and loss within 1e-5. */
static void forward_vs_double(const char *name, GPT2 *m, const double *pd, const RefLora *lora, const int *x,
                              const int *y, int B, int T) {
    char label[160];
    const GPT2Config *c = &m->config;
    size_t n = (size_t)B * T * c->V;
    double *ref_logits = malloc(n * sizeof(double));
    double ref_loss = ref_forward(c, pd, lora, x, y, B, T, ref_logits);
    gpt2_forward(m, x, y, B, T);
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(m->acts.logits[i] - ref_logits[i]));
    snprintf(label, sizeof label, "gradcheck/%s/logits_vs_double", name);
    CHECK(worst <= 1e-5, label, "max abs diff %.3e", worst);
    snprintf(label, sizeof label, "gradcheck/%s/loss_vs_double", name);
    CHECK(fabs(m->mean_loss - ref_loss) <= 1e-5, label, "%.9g vs %.9g", m->mean_loss, ref_loss);
    free(ref_logits);
}

static void gradcheck(const char *name, GPT2Config c, int B, int T) {
    char label[160];
    GPT2 m;
    random_model(&m, &c);
    gpt2_alloc(&m, B, T);
    size_t BT = (size_t)B * T;
    int *x = malloc(BT * sizeof(int)), *y = malloc(BT * sizeof(int));
    for (size_t i = 0; i < BT; i++) {
        x[i] = (int)(rand_uniform() * c.V);
        y[i] = (int)(rand_uniform() * c.V);
    }
    size_t n = m.num_parameters;
    double *pd = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) pd[i] = m.params_memory[i];

    forward_vs_double(name, &m, pd, NULL, x, y, B, T);

    gpt2_zero_grad(&m);
    gpt2_backward(&m);

    /* For each tensor: sampled entries plus the entry with the largest gradient. */
    size_t off = 0;
    const double h = 1e-4;
    for (int t = 0; t < NUM_PARAM_TENSORS; t++) {
        size_t sz = m.param_sizes[t];
        const float *g = m.grads_memory + off;
        size_t argmax = 0;
        double gmax = 0;
        for (size_t j = 0; j < sz; j++)
            if (fabs(g[j]) > gmax) { gmax = fabs(g[j]); argmax = j; }
        double worst_err = 0, worst_fd = 0, worst_g = 0;
        size_t worst_j = 0;
        for (int k = 0; k < 7; k++) {
            size_t j = k == 0 ? argmax : (size_t)(rand_uniform() * sz);
            if (t == 0 && j >= (size_t)c.V * c.C) j %= (size_t)c.V * c.C; /* padded rows: checked below */
            double saved = pd[off + j];
            pd[off + j] = saved + h;
            double lp = ref_forward(&c, pd, NULL, x, y, B, T, NULL);
            pd[off + j] = saved - h;
            double lm = ref_forward(&c, pd, NULL, x, y, B, T, NULL);
            pd[off + j] = saved;
            double fd = (lp - lm) / (2 * h);
            double err = fabs(fd - g[j]);
            if (err > worst_err) { worst_err = err; worst_fd = fd; worst_g = g[j]; worst_j = j; }
        }
        /* float gradients carry ~1e-7 relative rounding; h=1e-4 truncation ~1e-8 */
        double tol = 1e-3 * gmax + 1e-6;
        snprintf(label, sizeof label, "gradcheck/%s/%s", name, PARAM_TENSOR_NAMES[t]);
        CHECK(worst_err <= tol && gmax > 0, label, "entry %zu: backward %.6g, finite difference %.6g (tol %.2g, max|g| %.3g)",
              worst_j, worst_g, worst_fd, tol, gmax);
        off += sz;
    }
    /* padded wte rows get exactly zero gradient */
    double padmax = 0;
    for (size_t j = (size_t)c.V * c.C; j < (size_t)c.Vp * c.C; j++) padmax = fmax(padmax, fabs(m.grads_memory[j]));
    snprintf(label, sizeof label, "gradcheck/%s/padded_wte_rows_zero", name);
    CHECK(padmax == 0.0, label, "max |grad| %.3g in rows V..Vp-1", padmax);

    free(x); free(y); free(pd);
    gpt2_free(&m);
}

/* LoRA: adapters of rank R on all four matmuls of a random model, with B
 * drawn random too (at LoRA's start B = 0, and then A's gradient is zero:
 * a check of nothing). The float logits and loss against the double reference
 * with adapters; every adapter tensor's gradient against finite differences;
 * the frozen parameters have no gradient buffer and do not move. */
static void gradcheck_lora(const char *name, GPT2Config c, int B, int T, int R) {
    char label[160];
    GPT2 m;
    random_model(&m, &c);
    unsigned all = (1u << NUM_LORA_TARGETS) - 1;
    lora_init(&m, R, 2.0f * R, all, 5);
    LoRA *lo = &m.lora;
    for (int t = 0; t < NUM_LORA_TARGETS; t++) {
        int in, out;
        lora_target_shape(&c, t, &in, &out);
        for (size_t j = 0; j < (size_t)c.L * out * R; j++) lo->b[t][j] = (float)(0.3 * rand_normal());
    }
    gpt2_alloc(&m, B, T);
    snprintf(label, sizeof label, "gradcheck/%s/lora_frozen_base_has_no_gradients", name);
    CHECK(m.grads_memory == NULL, label, "grads_memory allocated");
    size_t BT = (size_t)B * T;
    int *x = malloc(BT * sizeof(int)), *y = malloc(BT * sizeof(int));
    for (size_t i = 0; i < BT; i++) {
        x[i] = (int)(rand_uniform() * c.V);
        y[i] = (int)(rand_uniform() * c.V);
    }
    double *pd = malloc(m.num_parameters * sizeof(double));
    for (size_t i = 0; i < m.num_parameters; i++) pd[i] = m.params_memory[i];
    double *ad = malloc(lo->num_parameters * sizeof(double));
    for (size_t i = 0; i < lo->num_parameters; i++) ad[i] = lo->params_memory[i];
    RefLora ref = {.R = R, .scale = 2.0};
    for (int t = 0; t < NUM_LORA_TARGETS; t++) {
        ref.a[t] = ad + (lo->a[t] - lo->params_memory);
        ref.b[t] = ad + (lo->b[t] - lo->params_memory);
    }

    forward_vs_double(name, &m, pd, &ref, x, y, B, T);

    float *before = malloc(m.num_parameters * sizeof(float));
    memcpy(before, m.params_memory, m.num_parameters * sizeof(float));
    gpt2_zero_grad(&m);
    gpt2_backward(&m);
    static const char *const names[NUM_LORA_TARGETS] = {"qkv", "attproj", "fc", "fcproj"};
    const double h = 1e-4;
    for (int t = 0; t < NUM_LORA_TARGETS; t++) {
        int in, out;
        lora_target_shape(&c, t, &in, &out);
        for (int which = 0; which < 2; which++) { /* A, then B */
            const float *g = which ? lo->db[t] : lo->da[t];
            size_t off = (size_t)((which ? lo->b[t] : lo->a[t]) - lo->params_memory);
            size_t sz = which ? (size_t)c.L * out * R : (size_t)c.L * R * in;
            size_t argmax = 0;
            double gmax = 0, worst_err = 0, worst_fd = 0, worst_g = 0;
            for (size_t j = 0; j < sz; j++)
                if (fabs(g[j]) > gmax) { gmax = fabs(g[j]); argmax = j; }
            for (int k = 0; k < 7; k++) {
                size_t j = k == 0 ? argmax : (size_t)(rand_uniform() * sz);
                double saved = ad[off + j];
                ad[off + j] = saved + h;
                double lp = ref_forward(&c, pd, &ref, x, y, B, T, NULL);
                ad[off + j] = saved - h;
                double lm = ref_forward(&c, pd, &ref, x, y, B, T, NULL);
                ad[off + j] = saved;
                double fd = (lp - lm) / (2 * h), err = fabs(fd - g[j]);
                if (err > worst_err) { worst_err = err; worst_fd = fd; worst_g = g[j]; }
            }
            double tol = 1e-3 * gmax + 1e-6;
            snprintf(label, sizeof label, "gradcheck/%s/lora_%s_%s", name, names[t], which ? "B" : "A");
            CHECK(worst_err <= tol && gmax > 0, label, "backward %.6g, finite difference %.6g (tol %.2g, max|g| %.3g)",
                  worst_g, worst_fd, tol, gmax);
        }
    }
    snprintf(label, sizeof label, "gradcheck/%s/lora_base_untouched", name);
    CHECK(!memcmp(before, m.params_memory, m.num_parameters * sizeof(float)) && m.grads_memory == NULL, label,
          "the frozen parameters changed or got gradients");
    free(x); free(y); free(pd); free(ad); free(before);
    gpt2_free(&m);
}

/* A model allocated for a large batch gives the same results on a smaller one
 * as a model allocated for exactly that size: (B,T) may change per call. */
static void varying_batch(void) {
    GPT2Config c = {.maxT = 12, .V = 37, .Vp = 64, .L = 2, .NH = 3, .C = 12};
    GPT2 big, exact;
    random_model(&big, &c);
    gpt2_init_empty(&exact, &c);
    memcpy(exact.params_memory, big.params_memory, big.num_parameters * sizeof(float));
    gpt2_alloc(&big, 4, 12);
    gpt2_alloc(&exact, 2, 5);
    int x[10], y[10];
    for (int i = 0; i < 10; i++) { x[i] = (i * 7) % 37; y[i] = (i * 11 + 3) % 37; }
    int xb[48] = {0}, yb[48] = {0};
    gpt2_forward(&big, xb, yb, 4, 12); /* a first, larger call */
    gpt2_forward(&big, x, y, 2, 5);
    gpt2_forward(&exact, x, y, 2, 5);
    int same = big.mean_loss == exact.mean_loss &&
               !memcmp(big.acts.logits, exact.acts.logits, 10 * (size_t)c.V * sizeof(float));
    gpt2_zero_grad(&big); gpt2_backward(&big);
    gpt2_zero_grad(&exact); gpt2_backward(&exact);
    same = same && !memcmp(big.grads_memory, exact.grads_memory, big.num_parameters * sizeof(float));
    CHECK(same, "varying_batch_matches_exact_allocation", "results differ after changing (B,T)");
    gpt2_free(&big);
    gpt2_free(&exact);
}

/* Gradients accumulate across backward calls until zeroed: two backward passes
 * of the same batch give twice one (up to the rounding of the running sums). */
static void gradient_accumulation(void) {
    GPT2Config c = {.maxT = 8, .V = 20, .Vp = 32, .L = 1, .NH = 2, .C = 8};
    GPT2 m;
    random_model(&m, &c);
    gpt2_alloc(&m, 2, 8);
    int x[16], y[16];
    for (int i = 0; i < 16; i++) { x[i] = (i * 3) % 20; y[i] = (i * 5 + 1) % 20; }
    gpt2_forward(&m, x, y, 2, 8);
    gpt2_zero_grad(&m);
    gpt2_backward(&m);
    float *once = malloc(m.num_parameters * sizeof(float));
    memcpy(once, m.grads_memory, m.num_parameters * sizeof(float));
    gpt2_forward(&m, x, y, 2, 8);
    gpt2_backward(&m);
    double worst = 0, gmax = 0;
    for (size_t i = 0; i < m.num_parameters; i++) {
        worst = fmax(worst, fabs(m.grads_memory[i] - 2.0 * once[i]));
        gmax = fmax(gmax, fabs(once[i]));
    }
    CHECK(worst <= 1e-5 * gmax && gmax > 0, "gradients_accumulate_until_zeroed", "max |acc - 2g| %.3g, max |g| %.3g",
          worst, gmax);
    free(once);
    gpt2_free(&m);
}

/* gpt2_init_random follows GPT-2: N(0, 0.02) matrices, N(0, 0.02/sqrt(2L)) for
 * the two residual projections, zero biases, unit layernorm gains, zero padded
 * rows; and the same seed gives the same model. */
static void init_statistics(void) {
    GPT2Config c = {.maxT = 64, .V = 1000, .Vp = 1024, .L = 2, .NH = 4, .C = 64};
    GPT2 m, again;
    gpt2_init_random(&m, &c, 7);
    gpt2_init_random(&again, &c, 7);
    CHECK(!memcmp(m.params_memory, again.params_memory, m.num_parameters * sizeof(float)), "init_random/same_seed_same_model",
          "two models from seed 7 differ");
    size_t off = 0;
    int ok = 1;
    char why[200] = "";
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        size_t n = i == 0 ? (size_t)c.V * c.C : m.param_sizes[i];
        double sum = 0, sq = 0;
        for (size_t j = 0; j < n; j++) { sum += m.params_memory[off + j]; sq += m.params_memory[off + j] * m.params_memory[off + j]; }
        double mean = sum / n, sd = sqrt(sq / n - mean * mean);
        int matrix = i == PARAM_WTE || i == PARAM_WPE || i == PARAM_QKVW || i == PARAM_ATTPROJW || i == PARAM_FCW ||
                     i == PARAM_FCPROJW;
        int residual_projection = i == PARAM_ATTPROJW || i == PARAM_FCPROJW;
        double want_sd = matrix ? (residual_projection ? 0.02 / sqrt(2.0 * c.L) : 0.02) : 0.0;
        double want_mean = (i == PARAM_LN1W || i == PARAM_LN2W || i == PARAM_LNFW) ? 1.0 : 0.0;
        if (fabs(mean - want_mean) > 0.003 || fabs(sd - want_sd) > 0.1 * want_sd + 1e-7) {
            ok = 0;
            snprintf(why, sizeof why, "%s: mean %.4f sd %.5f, wanted %.1f and %.5f", PARAM_TENSOR_NAMES[i], mean, sd,
                     want_mean, want_sd);
        }
        off += m.param_sizes[i];
    }
    for (size_t j = (size_t)c.V * c.C; j < (size_t)c.Vp * c.C; j++)
        if (m.params_memory[j] != 0.0f) { ok = 0; snprintf(why, sizeof why, "padded wte row not zero"); }
    CHECK(ok, "init_random/gpt2_statistics", "%s", why);
    gpt2_free(&m);
    gpt2_free(&again);
}

int main(void) {
    init_statistics();
    gradcheck("C12_NH3_V37_T5of8", (GPT2Config){.maxT = 8, .V = 37, .Vp = 64, .L = 2, .NH = 3, .C = 12}, 2, 5);
    gradcheck("C10_NH2_V130_T6of6", (GPT2Config){.maxT = 6, .V = 130, .Vp = 256, .L = 1, .NH = 2, .C = 10}, 3, 6);
    gradcheck("C8_NH1_V5_T1", (GPT2Config){.maxT = 4, .V = 5, .Vp = 5, .L = 3, .NH = 1, .C = 8}, 2, 1);
    gradcheck_lora("lora_R3_C12_NH3_V37_T5of8", (GPT2Config){.maxT = 8, .V = 37, .Vp = 64, .L = 2, .NH = 3, .C = 12},
                   2, 5, 3);
    gradcheck_lora("lora_R1_C8_NH2_V20_T4", (GPT2Config){.maxT = 4, .V = 20, .Vp = 32, .L = 1, .NH = 2, .C = 8}, 3, 4,
                   1);
    varying_batch();
    gradient_accumulation();
    return check_failures ? 1 : 0;
}
