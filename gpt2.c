/*
 * gpt2.c: GPT-2 forward and backward passes, AdamW, and checkpoints.
 *
 * Every layer is a pair of functions, forward then backward, over flat float
 * arrays. notes.md derives each backward pass; the comments here give the
 * formula and the reason for the loop layout.
 *
 * Gradient conventions (they let the backward pass reuse one layer of scratch):
 *   - parameter gradients (dweight, dbias, dwte, ...) always ACCUMULATE (+=),
 *     so gradient accumulation over micro-batches is just "don't zero";
 *   - the residual stream gradient accumulates (+=): every layer adds to it;
 *   - every other activation gradient is WRITTEN (=): in GPT-2 each of those
 *     activations feeds exactly one op, so one op alone defines its gradient.
 *
 * OpenMP: loops are split over an index whose outputs no other thread writes
 * (positions for activations, output channels for weights), so there are no
 * atomics and results do not depend on the number of threads.
 */
#include "gpt2.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

const char *const PARAM_TENSOR_NAMES[NUM_PARAM_TENSORS] = {
    "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"};

/* ------------------------------------------------------------------------ */
/* encoder: token embedding plus position embedding                          */

/* out (B,T,C) = wte[inp[b,t]] + wpe[t];  inp (B,T), wte (Vp,C), wpe (maxT,C) */
void encoder_forward(float *out, const int *inp, const float *wte, const float *wpe, int B, int T, int C) {
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;
            const float *tok = wte + (size_t)inp[(size_t)b * T + t] * C;
            const float *pos = wpe + (size_t)t * C;
            for (int i = 0; i < C; i++) o[i] = tok[i] + pos[i];
        }
    }
}

/* The embedding is a lookup, so its gradient is a scatter-add: each position
 * adds dout to the wte row of its token and to the wpe row of its time step.
 * Two positions may share a token, so this loop stays serial (a parallel
 * version would need atomics or a sort by token). */
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp, int B, int T, int C) {
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const float *d = dout + ((size_t)b * T + t) * C;
            float *dtok = dwte + (size_t)inp[(size_t)b * T + t] * C;
            float *dpos = dwpe + (size_t)t * C;
            for (int i = 0; i < C; i++) {
                dtok[i] += d[i];
                dpos[i] += d[i];
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* layernorm                                                                 */

/* Per position: xhat = (x - mean) * rstd, rstd = 1/sqrt(var + 1e-5) with the
 * biased variance; out = xhat * weight + bias. Mean and rstd (B,T) are saved
 * because the backward pass needs them. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int B, int T, int C) {
    const float eps = 1e-5f;
#pragma omp parallel for
    for (size_t bt = 0; bt < (size_t)B * T; bt++) {
        const float *x = inp + bt * C;
        float m = 0.0f;
        for (int i = 0; i < C; i++) m += x[i];
        m /= C;
        float var = 0.0f;
        for (int i = 0; i < C; i++) var += (x[i] - m) * (x[i] - m);
        var /= C;
        float s = 1.0f / sqrtf(var + eps);
        float *o = out + bt * C;
        for (int i = 0; i < C; i++) o[i] = (x[i] - m) * s * weight[i] + bias[i];
        mean[bt] = m;
        rstd[bt] = s;
    }
}

/* With g = dout * weight (the gradient reaching xhat):
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))       (notes.md derives it)
 *   dweight += sum over positions of dout * xhat,  dbias += sum of dout.
 * dinp ACCUMULATES: the input of a layernorm is the residual stream.
 * The two parameter sums run over positions, so they get their own loop split
 * over channels; the input gradient is split over positions. */
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int B, int T, int C) {
    size_t BT = (size_t)B * T;
#pragma omp parallel for
    for (size_t bt = 0; bt < BT; bt++) {
        const float *x = inp + bt * C, *d = dout + bt * C;
        float m = mean[bt], s = rstd[bt];
        float g_mean = 0.0f, gx_mean = 0.0f;
        for (int i = 0; i < C; i++) {
            float g = d[i] * weight[i];
            g_mean += g;
            gx_mean += g * (x[i] - m) * s;
        }
        g_mean /= C;
        gx_mean /= C;
        float *dx = dinp + bt * C;
        for (int i = 0; i < C; i++) {
            float xhat = (x[i] - m) * s;
            dx[i] += s * (d[i] * weight[i] - g_mean - xhat * gx_mean);
        }
    }
#pragma omp parallel for
    for (int i = 0; i < C; i++) {
        float dw = 0.0f, db = 0.0f;
        for (size_t bt = 0; bt < BT; bt++) {
            float d = dout[bt * C + i];
            dw += d * (inp[bt * C + i] - mean[bt]) * rstd[bt];
            db += d;
        }
        dweight[i] += dw;
        dbias[i] += db;
    }
}

/* ------------------------------------------------------------------------ */
/* matmul: a linear layer, out = inp @ weight^T + bias                       */

/* out (B,T,OC), inp (B,T,C), weight (OC,C) stored (out, in), bias (OC) or NULL.
 * out[bt][o] = bias[o] + sum_i inp[bt][i] * weight[o][i]: a dot product of two
 * contiguous rows, so the inner loop streams both arrays. */
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int B, int T, int C,
                    int OC) {
#pragma omp parallel for
    for (size_t bt = 0; bt < (size_t)B * T; bt++) {
        const float *x = inp + bt * C;
        float *o = out + bt * OC;
        for (int oc = 0; oc < OC; oc++) {
            const float *w = weight + (size_t)oc * C;
            float sum = bias ? bias[oc] : 0.0f;
            for (int i = 0; i < C; i++) sum += x[i] * w[i];
            o[oc] = sum;
        }
    }
}

/* dinp (B,T,C)  = dout @ weight            (WRITTEN: each input feeds one matmul)
 * dweight (OC,C) += dout^T @ inp,  dbias (OC) += sum over positions of dout.
 * The first product is split over positions, the second over output channels,
 * so each thread owns the rows it writes. */
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int B, int T, int C, int OC) {
    size_t BT = (size_t)B * T;
#pragma omp parallel for
    for (size_t bt = 0; bt < BT; bt++) {
        const float *d = dout + bt * OC;
        float *dx = dinp + bt * C;
        for (int i = 0; i < C; i++) dx[i] = 0.0f;
        for (int oc = 0; oc < OC; oc++) {
            const float *w = weight + (size_t)oc * C;
            float g = d[oc];
            for (int i = 0; i < C; i++) dx[i] += g * w[i];
        }
    }
#pragma omp parallel for
    for (int oc = 0; oc < OC; oc++) {
        float *dw = dweight + (size_t)oc * C;
        float db = 0.0f;
        for (size_t bt = 0; bt < BT; bt++) {
            const float *x = inp + bt * C;
            float g = dout[bt * OC + oc];
            db += g;
            for (int i = 0; i < C; i++) dw[i] += g * x[i];
        }
        if (dbias) dbias[oc] += db;
    }
}

/* ------------------------------------------------------------------------ */
/* attention: causal multi-head self-attention                              */

/* One query attending over n keys (positions 0..n-1) of one head:
 *   score[t2] = q . k[t2] / sqrt(hs),  att = softmax(score),  out = sum_t2 att[t2] v[t2]
 * k and v point at position 0 of this head; consecutive positions are
 * kv_stride floats apart. Shared by the full forward pass (keys inside the
 * (B,T,3C) qkv activation) and the KV-cache step (keys inside the cache). */
static void attend_one_query(float *out, float *att, const float *q, const float *k, const float *v,
                             size_t kv_stride, int n, int hs) {
    float scale = 1.0f / sqrtf((float)hs);
    float maxv = -INFINITY;
    for (int t2 = 0; t2 < n; t2++) {
        const float *kt = k + (size_t)t2 * kv_stride;
        float s = 0.0f;
        for (int i = 0; i < hs; i++) s += q[i] * kt[i];
        att[t2] = s * scale;
        if (att[t2] > maxv) maxv = att[t2];
    }
    /* subtracting the max keeps expf from overflowing; softmax is unchanged */
    float sum = 0.0f;
    for (int t2 = 0; t2 < n; t2++) {
        att[t2] = expf(att[t2] - maxv);
        sum += att[t2];
    }
    float inv = 1.0f / sum;
    for (int t2 = 0; t2 < n; t2++) att[t2] *= inv;
    for (int i = 0; i < hs; i++) out[i] = 0.0f;
    for (int t2 = 0; t2 < n; t2++) {
        const float *vt = v + (size_t)t2 * kv_stride;
        for (int i = 0; i < hs; i++) out[i] += att[t2] * vt[i];
    }
}

/* qkv (B,T,3C) holds [q | k | v] per position; head h uses channels
 * h*hs .. h*hs+hs-1 of each part. Query position t of head h attends over
 * positions 0..t (causal). att (B,NH,T,T) keeps the probabilities for the
 * backward pass (zero above the diagonal); out (B,T,C), heads concatenated. */
void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    int hs = C / NH;
    size_t C3 = (size_t)3 * C;
#pragma omp parallel for collapse(3)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {
                const float *seq = qkv + (size_t)b * T * C3 + (size_t)h * hs; /* position 0, head h */
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                attend_one_query(out + ((size_t)b * T + t) * C + (size_t)h * hs, a, seq + t * C3, seq + C,
                                 seq + 2 * (size_t)C, C3, t + 1, hs);
                for (int t2 = t + 1; t2 < T; t2++) a[t2] = 0.0f;
            }
        }
    }
}

/* Backward, per (b, h), query position t, key position t2 <= t:
 *   datt[t2]   = dout[t] . v[t2]                  dv[t2] += att[t2] * dout[t]
 *   dscore[t2] = att[t2] * (datt[t2] - sum_j att[j] * datt[j])    (softmax backward)
 *   dq[t]     += dscore[t2] * k[t2] / sqrt(hs)     dk[t2] += dscore[t2] * q[t] / sqrt(hs)
 * Keys and values of position t2 collect from every later query, so threads
 * split over (b, h) pairs, which own disjoint slices of dqkv. dqkv is WRITTEN. */
void attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att, int B,
                        int T, int C, int NH) {
    int hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
    size_t C3 = (size_t)3 * C;
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++)
                for (int part = 0; part < 3; part++)
                    memset(dqkv + ((size_t)b * T + t) * C3 + (size_t)part * C + (size_t)h * hs, 0,
                           (size_t)hs * sizeof(float));
            for (int t = 0; t < T; t++) {
                const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float *da = datt + (((size_t)b * NH + h) * T + t) * T;
                const float *d = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
                const float *q = qkv + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                float *dq = dqkv + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                float dot = 0.0f; /* sum_j att[j] * datt[j] */
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *v = qkv + ((size_t)b * T + t2) * C3 + 2 * (size_t)C + (size_t)h * hs;
                    float *dv = dqkv + ((size_t)b * T + t2) * C3 + 2 * (size_t)C + (size_t)h * hs;
                    float s = 0.0f;
                    for (int i = 0; i < hs; i++) {
                        s += d[i] * v[i];
                        dv[i] += a[t2] * d[i];
                    }
                    da[t2] = s;
                    dot += a[t2] * s;
                }
                for (int t2 = t + 1; t2 < T; t2++) da[t2] = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = qkv + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    float *dk = dqkv + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    float ds = a[t2] * (da[t2] - dot) * scale;
                    for (int i = 0; i < hs; i++) {
                        dq[i] += ds * k[i];
                        dk[i] += ds * q[i];
                    }
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* GELU, tanh approximation                                                  */

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

/* out = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3) */
void gelu_forward(float *out, const float *inp, size_t N) {
#pragma omp parallel for
    for (size_t i = 0; i < N; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        out[i] = 0.5f * x * (1.0f + tanhf(u));
    }
}

/* d out/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2).
 * dinp is WRITTEN. */
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t N) {
#pragma omp parallel for
    for (size_t i = 0; i < N; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        float th = tanhf(u);
        float du = GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] = dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
    }
}

/* ------------------------------------------------------------------------ */
/* residual connection                                                       */

void residual_forward(float *out, const float *inp1, const float *inp2, size_t N) {
#pragma omp parallel for
    for (size_t i = 0; i < N; i++) out[i] = inp1[i] + inp2[i];
}

/* A sum passes its gradient unchanged to both inputs. gpt2_backward does not
 * call this: it lets both branches read the one dresidual buffer in place,
 * which is the same thing without the copies. Kept as the op's definition
 * and for the GPU comparison. */
void residual_backward(float *dinp1, float *dinp2, const float *dout, size_t N) {
#pragma omp parallel for
    for (size_t i = 0; i < N; i++) {
        dinp1[i] += dout[i];
        dinp2[i] += dout[i];
    }
}

/* ------------------------------------------------------------------------ */
/* softmax + cross-entropy over the first V logits                          */

/* losses (B,T): -log softmax(logits)[target] = logsumexp(logits) - logits[target].
 * logits (B,T,V). The sum of exponentials is kept in double: over 50257 terms
 * float rounding would show in the 6th digit of the loss. */
void crossentropy_forward(float *losses, const float *logits, const int *targets, int B, int T, int V) {
#pragma omp parallel for
    for (size_t bt = 0; bt < (size_t)B * T; bt++) {
        const float *l = logits + bt * V;
        float maxv = -INFINITY;
        for (int i = 0; i < V; i++)
            if (l[i] > maxv) maxv = l[i];
        double sum = 0.0;
        for (int i = 0; i < V; i++) sum += expf(l[i] - maxv);
        losses[bt] = (float)(log(sum) + maxv - l[targets[bt]]);
    }
}

/* For the mean loss over B*T positions:
 *   dlogits[i] = (softmax(logits)[i] - [i == target]) / (B*T).
 * IN PLACE: on entry dlogits holds the logits, on exit their gradient. The
 * (B,T,V) logits are the largest activation, so not keeping a second copy
 * matters for memory. */
void crossentropy_backward(float *dlogits, const int *targets, int B, int T, int V) {
    float dloss = 1.0f / ((float)B * (float)T);
#pragma omp parallel for
    for (size_t bt = 0; bt < (size_t)B * T; bt++) {
        float *l = dlogits + bt * V;
        float maxv = -INFINITY;
        for (int i = 0; i < V; i++)
            if (l[i] > maxv) maxv = l[i];
        double sum = 0.0;
        for (int i = 0; i < V; i++) {
            l[i] = expf(l[i] - maxv);
            sum += l[i];
        }
        float scale = (float)(1.0 / sum) * dloss;
        for (int i = 0; i < V; i++) l[i] *= scale;
        l[targets[bt]] -= dloss;
    }
}

/* ------------------------------------------------------------------------ */
/* AdamW                                                                     */

/* Bias-corrected Adam with decoupled weight decay, element-wise in float32:
 *   m = b1 m + (1-b1) g,   v = b2 v + (1-b2) g^2
 *   p -= lr * ( (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) + wd * p )
 * The decay term is outside the adaptive scaling: that is the "W" in AdamW. */
void adamw_update(float *params, const float *grads, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int t) {
    float bc1 = 1.0f - powf(beta1, (float)t);
    float bc2 = 1.0f - powf(beta2, (float)t);
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        m[i] = beta1 * m[i] + (1.0f - beta1) * g;
        v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
        float mhat = m[i] / bc1;
        float vhat = v[i] / bc2;
        params[i] -= lr * (mhat / (sqrtf(vhat) + eps) + weight_decay * params[i]);
    }
}

int gpt2_tensor_is_matrix(int i) {
    /* wte, wpe, qkvw, attprojw, fcw, fcprojw */
    return i == 0 || i == 1 || i == 4 || i == 6 || i == 10 || i == 12;
}

void gpt2_update(GPT2 *model, const AdamWConfig *opt, int t) {
    if (!model->m_memory) {
        model->m_memory = xcalloc(model->num_parameters, sizeof(float), "AdamW m");
        model->v_memory = xcalloc(model->num_parameters, sizeof(float), "AdamW v");
    }
    size_t off = 0;
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        size_t n = model->param_sizes[i];
        float wd = (opt->decay_all || gpt2_tensor_is_matrix(i)) ? opt->weight_decay : 0.0f;
        adamw_update(model->params_memory + off, model->grads_memory + off, model->m_memory + off,
                     model->v_memory + off, n, opt->lr, opt->beta1, opt->beta2, opt->eps, wd, t);
        off += n;
    }
}

/* ------------------------------------------------------------------------ */
/* the model: memory layout                                                  */

/* a * b, or 0 if the product does not fit in a size_t (0 is never a valid size here) */
static size_t mul_or_zero(size_t a, size_t b) {
    return (a != 0 && b > SIZE_MAX / a) ? 0 : a * b;
}

size_t gpt2_param_sizes(const GPT2Config *c, size_t s[NUM_PARAM_TENSORS]) {
    size_t C = (size_t)c->C, L = (size_t)c->L;
    size_t CC = mul_or_zero(C, C);
    s[0] = mul_or_zero((size_t)c->Vp, C);         /* wte */
    s[1] = mul_or_zero((size_t)c->maxT, C);       /* wpe */
    s[2] = s[3] = mul_or_zero(L, C);              /* ln1w, ln1b */
    s[4] = mul_or_zero(L, mul_or_zero(3, CC));    /* qkvw */
    s[5] = mul_or_zero(L, 3 * C);                 /* qkvb */
    s[6] = mul_or_zero(L, CC);                    /* attprojw */
    s[7] = s[8] = s[9] = mul_or_zero(L, C);       /* attprojb, ln2w, ln2b */
    s[10] = mul_or_zero(L, mul_or_zero(4, CC));   /* fcw */
    s[11] = mul_or_zero(L, 4 * C);                /* fcb */
    s[12] = s[10];                                /* fcprojw */
    s[13] = mul_or_zero(L, C);                    /* fcprojb */
    s[14] = s[15] = C;                            /* lnfw, lnfb */
    size_t total = 0;
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        if (s[i] == 0 || total > SIZE_MAX - s[i]) return 0;
        total += s[i];
    }
    /* the byte count (x4) must fit too */
    return total > SIZE_MAX / sizeof(float) ? 0 : total;
}

/* Point the 16 tensors of `t` at consecutive slices of `memory`. */
static void point_param_tensors(ParameterTensors *t, float *memory, const size_t sizes[NUM_PARAM_TENSORS]) {
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
    model->num_parameters = gpt2_param_sizes(config, model->param_sizes);
    if (model->num_parameters == 0) die("config too large: the parameter count overflows");
    model->params_memory = xcalloc(model->num_parameters, sizeof(float), "parameters");
    point_param_tensors(&model->params, model->params_memory, model->param_sizes);
    model->mean_loss = -1.0f;
}

/* ------------------------------------------------------------------------ */
/* checkpoints                                                               */

/* bfloat16 is the top 16 bits of a float32, so widening is a shift. */
static float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

void gpt2_load(GPT2 *model, const char *path) {
    FILE *f = xfopen(path, "rb");
    size_t fsize = file_size(f, path);
    int32_t h[HEADER_INTS];
    read_header(f, path, h);
    if (h[0] != CHECKPOINT_MAGIC) die("%s: not a GPT-2 checkpoint (magic %d, expected %d)", path, h[0], CHECKPOINT_MAGIC);
    if (h[1] != 3 && h[1] != 5) die("%s: unsupported checkpoint version %d (3 = fp32 and 5 = bf16 are supported)", path, h[1]);
    GPT2Config c = {.maxT = h[2], .V = h[3], .L = h[4], .NH = h[5], .C = h[6], .Vp = h[7]};
    gpt2_validate_config(&c, path);
    size_t sizes[NUM_PARAM_TENSORS];
    size_t n = gpt2_param_sizes(&c, sizes);
    if (n == 0) die("%s: bad config: maxT=%d V=%d Vp=%d L=%d NH=%d C=%d: the parameter count overflows", path, c.maxT,
                    c.V, c.Vp, c.L, c.NH, c.C);
    size_t elem = h[1] == 3 ? sizeof(float) : sizeof(uint16_t);
    /* Check the size before allocating, so a corrupt header cannot ask for terabytes. */
    size_t want = mul_size(n, elem, path);
    if (want > SIZE_MAX - 1024 || fsize != 1024 + want)
        die("%s: file is %zu bytes, but its header (maxT=%d V=%d Vp=%d L=%d NH=%d C=%d, version %d) needs %s%zu",
            path, fsize, c.maxT, c.V, c.Vp, c.L, c.NH, c.C, h[1], want > SIZE_MAX - 1024 ? "more than " : "",
            want > SIZE_MAX - 1024 ? SIZE_MAX : 1024 + want);
    gpt2_init_empty(model, &c);
    if (h[1] == 3) {
        xfread(model->params_memory, sizeof(float), n, f, path);
    } else {
        /* widen in chunks to avoid a second full-size buffer */
        enum { CHUNK = 1 << 16 };
        uint16_t *buf = xmalloc(CHUNK * sizeof(uint16_t), "bf16 read buffer");
        for (size_t done = 0; done < n;) {
            size_t k = n - done < CHUNK ? n - done : CHUNK;
            xfread(buf, sizeof(uint16_t), k, f, path);
            for (size_t i = 0; i < k; i++) model->params_memory[done + i] = bf16_to_float(buf[i]);
            done += k;
        }
        free(buf);
    }
    xfclose(f, path);
}

void gpt2_save(const GPT2 *model, const char *path) {
    const GPT2Config *c = &model->config;
    int32_t h[HEADER_INTS] = {0};
    h[0] = CHECKPOINT_MAGIC;
    h[1] = 3;
    h[2] = c->maxT;
    h[3] = c->V;
    h[4] = c->L;
    h[5] = c->NH;
    h[6] = c->C;
    h[7] = c->Vp;
    AtomicFile af = atomic_open(path);
    xfwrite(h, sizeof(int32_t), HEADER_INTS, af.f, af.tmp_path);
    xfwrite(model->params_memory, sizeof(float), model->num_parameters, af.f, af.tmp_path);
    atomic_commit(&af);
}

/* ------------------------------------------------------------------------ */
/* activations                                                               */

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

/* Point the activation tensors at `memory` laid out for a batch of (B,T). The
 * layout depends on B and T, so it is redone whenever they change; memory was
 * allocated for (B_max, T_max), which bounds every smaller layout. */
static void point_activations(GPT2 *model, int B, int T) {
    ActivationTensors *a = &model->acts;
    float **ptrs[NUM_ACTIVATION_TENSORS] = {
        &a->encoded, &a->ln1,      &a->ln1_mean, &a->ln1_rstd,  &a->qkv,      &a->att,      &a->atty,
        &a->attproj, &a->residual2, &a->ln2,     &a->ln2_mean,  &a->ln2_rstd, &a->fch,      &a->fch_gelu,
        &a->fcproj,  &a->residual3, &a->lnf,     &a->lnf_mean,  &a->lnf_rstd, &a->logits,   &a->losses};
    size_t sizes[NUM_ACTIVATION_TENSORS];
    activation_sizes(&model->config, (size_t)B, (size_t)T, sizes);
    carve(model->acts_memory, ptrs, sizes, NUM_ACTIVATION_TENSORS);

    BackwardScratch *s = &model->scratch;
    float **sptrs[NUM_SCRATCH_TENSORS] = {&s->dresidual, &s->dln,  &s->dqkv,     &s->datt,
                                          &s->datty,     &s->dfch, &s->dfch_gelu};
    size_t ssizes[NUM_SCRATCH_TENSORS];
    scratch_sizes(&model->config, (size_t)B, (size_t)T, ssizes);
    carve(model->scratch_memory, sptrs, ssizes, NUM_SCRATCH_TENSORS);
    model->B = B;
    model->T = T;
}

void gpt2_alloc(GPT2 *model, int B_max, int T_max) {
    const GPT2Config *c = &model->config;
    if (B_max <= 0 || T_max <= 0) die("batch size %d and sequence length %d must be positive", B_max, T_max);
    if (T_max > c->maxT) die("sequence length %d exceeds the model's context of %d", T_max, c->maxT);
    size_t sizes[NUM_ACTIVATION_TENSORS], ssizes[NUM_SCRATCH_TENSORS];
    activation_sizes(c, (size_t)B_max, (size_t)T_max, sizes);
    scratch_sizes(c, (size_t)B_max, (size_t)T_max, ssizes);
    size_t nacts = sum_sizes(sizes, NUM_ACTIVATION_TENSORS);
    size_t nscratch = sum_sizes(ssizes, NUM_SCRATCH_TENSORS);
    model->acts_memory = xmalloc(mul_size(nacts, sizeof(float), "activations"), "activations");
    model->scratch_memory = xmalloc(mul_size(nscratch, sizeof(float), "gradient scratch"), "gradient scratch");
    model->grads_memory = xcalloc(model->num_parameters, sizeof(float), "gradients");
    point_param_tensors(&model->grads, model->grads_memory, model->param_sizes);
    size_t BT = (size_t)B_max * T_max;
    model->inputs = xmalloc(BT * sizeof(int), "inputs");
    model->targets = xmalloc(BT * sizeof(int), "targets");
    model->B_max = B_max;
    model->T_max = T_max;
    point_activations(model, B_max, T_max);
}

static void kv_free(KVCache *kv); /* in the generation section below */

void gpt2_free(GPT2 *model) {
    free(model->params_memory);
    free(model->grads_memory);
    free(model->m_memory);
    free(model->v_memory);
    free(model->acts_memory);
    free(model->scratch_memory);
    free(model->inputs);
    free(model->targets);
    kv_free(&model->kv);
    memset(model, 0, sizeof(*model));
}

/* ------------------------------------------------------------------------ */
/* the model: forward and backward                                           */

void gpt2_forward(GPT2 *model, const int *inputs, const int *targets, int B, int T) {
    const GPT2Config *c = &model->config;
    if (!model->acts_memory) die("gpt2_forward: call gpt2_alloc first");
    if (B <= 0 || T <= 0 || B > model->B_max || T > model->T_max)
        die("batch (%d, %d) is outside the allocated (%d, %d)", B, T, model->B_max, model->T_max);
    size_t BT = (size_t)B * T;
    for (size_t i = 0; i < BT; i++) {
        if (inputs[i] < 0 || inputs[i] >= c->V) die("input token %d is outside the vocabulary [0, %d)", inputs[i], c->V);
        if (targets && (targets[i] < 0 || targets[i] >= c->V))
            die("target token %d is outside the vocabulary [0, %d)", targets[i], c->V);
    }
    point_activations(model, B, T);
    memcpy(model->inputs, inputs, BT * sizeof(int));
    if (targets) memcpy(model->targets, targets, BT * sizeof(int));

    int C = c->C, NH = c->NH, L = c->L, V = c->V;
    size_t BTC = BT * C;
    ParameterTensors p = model->params;
    ActivationTensors a = model->acts;

    encoder_forward(a.encoded, inputs, p.wte, p.wpe, B, T, C);
    for (int l = 0; l < L; l++) {
        const float *residual = l == 0 ? a.encoded : a.residual3 + (size_t)(l - 1) * BTC;
        size_t lC = (size_t)l * C;
        float *ln1 = a.ln1 + l * BTC, *ln1_mean = a.ln1_mean + l * BT, *ln1_rstd = a.ln1_rstd + l * BT;
        float *qkv = a.qkv + l * 3 * BTC, *att = a.att + (size_t)l * B * NH * T * T;
        float *atty = a.atty + l * BTC, *attproj = a.attproj + l * BTC, *residual2 = a.residual2 + l * BTC;
        float *ln2 = a.ln2 + l * BTC, *ln2_mean = a.ln2_mean + l * BT, *ln2_rstd = a.ln2_rstd + l * BT;
        float *fch = a.fch + l * 4 * BTC, *fch_gelu = a.fch_gelu + l * 4 * BTC;
        float *fcproj = a.fcproj + l * BTC, *residual3 = a.residual3 + l * BTC;

        layernorm_forward(ln1, ln1_mean, ln1_rstd, residual, p.ln1w + lC, p.ln1b + lC, B, T, C);
        matmul_forward(qkv, ln1, p.qkvw + 3 * lC * C, p.qkvb + 3 * lC, B, T, C, 3 * C);
        attention_forward(atty, att, qkv, B, T, C, NH);
        matmul_forward(attproj, atty, p.attprojw + lC * C, p.attprojb + lC, B, T, C, C);
        residual_forward(residual2, residual, attproj, BTC);
        layernorm_forward(ln2, ln2_mean, ln2_rstd, residual2, p.ln2w + lC, p.ln2b + lC, B, T, C);
        matmul_forward(fch, ln2, p.fcw + 4 * lC * C, p.fcb + 4 * lC, B, T, C, 4 * C);
        gelu_forward(fch_gelu, fch, 4 * BTC);
        matmul_forward(fcproj, fch_gelu, p.fcprojw + 4 * lC * C, p.fcprojb + lC, B, T, 4 * C, C);
        residual_forward(residual3, residual2, fcproj, BTC);
    }
    const float *last = a.residual3 + (size_t)(L - 1) * BTC;
    layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, last, p.lnfw, p.lnfb, B, T, C);
    /* The output projection is the token embedding (tied weights). Only its
     * first V rows are real tokens, so only V logits are computed. */
    matmul_forward(a.logits, a.lnf, p.wte, NULL, B, T, C, V);

    if (targets) {
        crossentropy_forward(a.losses, a.logits, targets, B, T, V);
        double sum = 0.0;
        for (size_t i = 0; i < BT; i++) sum += a.losses[i];
        model->mean_loss = (float)(sum / (double)BT);
    } else {
        model->mean_loss = -1.0f;
    }
}

void gpt2_zero_grad(GPT2 *model) {
    if (model->grads_memory) memset(model->grads_memory, 0, model->num_parameters * sizeof(float));
}

void gpt2_backward(GPT2 *model) {
    if (model->mean_loss < 0) die("gpt2_backward: the last forward pass had no targets");
    const GPT2Config *c = &model->config;
    int B = model->B, T = model->T, C = c->C, NH = c->NH, L = c->L, V = c->V;
    size_t BT = (size_t)B * T, BTC = BT * C;
    ParameterTensors p = model->params, g = model->grads;
    ActivationTensors a = model->acts;
    BackwardScratch s = model->scratch;

    /* loss -> logits -> final layernorm -> the residual stream of the last layer */
    crossentropy_backward(a.logits, model->targets, B, T, V); /* a.logits now holds dlogits */
    matmul_backward(s.dln, g.wte, NULL, a.logits, a.lnf, p.wte, B, T, C, V);
    memset(s.dresidual, 0, BTC * sizeof(float));
    layernorm_backward(s.dresidual, g.lnfw, g.lnfb, s.dln, a.residual3 + (size_t)(L - 1) * BTC, p.lnfw,
                       a.lnf_mean, a.lnf_rstd, B, T, C);

    for (int l = L - 1; l >= 0; l--) {
        const float *residual = l == 0 ? a.encoded : a.residual3 + (size_t)(l - 1) * BTC;
        size_t lC = (size_t)l * C;
        /* residual3 = residual2 + fcproj: s.dresidual is the gradient of both
         * summands (residual_backward's identity, read in place). */
        matmul_backward(s.dfch_gelu, g.fcprojw + 4 * lC * C, g.fcprojb + lC, s.dresidual, a.fch_gelu + l * 4 * BTC,
                        p.fcprojw + 4 * lC * C, B, T, 4 * C, C);
        gelu_backward(s.dfch, a.fch + l * 4 * BTC, s.dfch_gelu, 4 * BTC);
        matmul_backward(s.dln, g.fcw + 4 * lC * C, g.fcb + 4 * lC, s.dfch, a.ln2 + l * BTC, p.fcw + 4 * lC * C, B,
                        T, C, 4 * C);
        layernorm_backward(s.dresidual, g.ln2w + lC, g.ln2b + lC, s.dln, a.residual2 + l * BTC, p.ln2w + lC,
                           a.ln2_mean + l * BT, a.ln2_rstd + l * BT, B, T, C);
        /* residual2 = residual + attproj */
        matmul_backward(s.datty, g.attprojw + lC * C, g.attprojb + lC, s.dresidual, a.atty + l * BTC,
                        p.attprojw + lC * C, B, T, C, C);
        attention_backward(s.dqkv, s.datt, s.datty, a.qkv + l * 3 * BTC, a.att + (size_t)l * B * NH * T * T, B, T,
                           C, NH);
        matmul_backward(s.dln, g.qkvw + 3 * lC * C, g.qkvb + 3 * lC, s.dqkv, a.ln1 + l * BTC, p.qkvw + 3 * lC * C,
                        B, T, C, 3 * C);
        layernorm_backward(s.dresidual, g.ln1w + lC, g.ln1b + lC, s.dln, residual, p.ln1w + lC,
                           a.ln1_mean + l * BT, a.ln1_rstd + l * BT, B, T, C);
    }
    encoder_backward(g.wte, g.wpe, s.dresidual, model->inputs, B, T, C);
}

/* ------------------------------------------------------------------------ */
/* generation: one token at a time with a key/value cache                    */

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
    if (token < 0 || token >= c->V) die("token %d is outside the vocabulary [0, %d)", token, c->V);
    int C = c->C, NH = c->NH, hs = C / NH;
    size_t C3 = (size_t)3 * C;
    ParameterTensors p = model->params;
    float mean, rstd; /* layernorm statistics: not needed without a backward pass */

    encoder_forward(kv->x, &token, p.wte, p.wpe + (size_t)pos * C, 1, 1, C);
    for (int l = 0; l < c->L; l++) {
        size_t lC = (size_t)l * C;
        float *cache = kv->qkv + (size_t)l * c->maxT * C3; /* position 0 of layer l */
        layernorm_forward(kv->ln, &mean, &rstd, kv->x, p.ln1w + lC, p.ln1b + lC, 1, 1, C);
        matmul_forward(cache + (size_t)pos * C3, kv->ln, p.qkvw + 3 * lC * C, p.qkvb + 3 * lC, 1, 1, C, 3 * C);
        for (int h = 0; h < NH; h++) {
            const float *head = cache + (size_t)h * hs;
            attend_one_query(kv->atty + (size_t)h * hs, kv->att, head + (size_t)pos * C3, head + C,
                             head + 2 * (size_t)C, C3, pos + 1, hs);
        }
        matmul_forward(kv->proj, kv->atty, p.attprojw + lC * C, p.attprojb + lC, 1, 1, C, C);
        residual_forward(kv->x, kv->x, kv->proj, (size_t)C);
        layernorm_forward(kv->ln, &mean, &rstd, kv->x, p.ln2w + lC, p.ln2b + lC, 1, 1, C);
        matmul_forward(kv->fch, kv->ln, p.fcw + 4 * lC * C, p.fcb + 4 * lC, 1, 1, C, 4 * C);
        gelu_forward(kv->fch_gelu, kv->fch, 4 * (size_t)C);
        matmul_forward(kv->proj, kv->fch_gelu, p.fcprojw + 4 * lC * C, p.fcprojb + lC, 1, 1, 4 * C, C);
        residual_forward(kv->x, kv->x, kv->proj, (size_t)C);
    }
    layernorm_forward(kv->ln, &mean, &rstd, kv->x, p.lnfw, p.lnfb, 1, 1, C);
    matmul_forward(kv->logits, kv->ln, p.wte, NULL, 1, 1, C, c->V);
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

static void kv_free(KVCache *kv) {
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

/* ------------------------------------------------------------------------ */
/* debug state                                                               */

void debug_state_load(DebugState *s, const char *path, const GPT2 *model) {
    const GPT2Config *c = &model->config;
    FILE *f = xfopen(path, "rb");
    size_t fsize = file_size(f, path);
    int32_t h[HEADER_INTS];
    read_header(f, path, h);
    if (h[0] != STATE_MAGIC) die("%s: not a debug state (magic %d, expected %d)", path, h[0], STATE_MAGIC);
    if (h[1] != STATE_VERSION) die("%s: unsupported debug state version %d (expected %d)", path, h[1], STATE_VERSION);
    int B = h[2], T = h[3];
    if (B <= 0 || T <= 0 || T > c->maxT) die("%s: bad batch B=%d T=%d for a model with maxT=%d", path, B, T, c->maxT);
    size_t BT = (size_t)B * T;
    /* x, y (int32) + logits (float) + loss + grads, sized without overflow for any header */
    size_t want = mul_size(BT, 8 + 4 * (size_t)c->V, path);
    if (want > SIZE_MAX - 1028 - 4 * model->num_parameters) die("%s: B=%d T=%d: the size overflows", path, B, T);
    want += 1024 + 4 + 4 * model->num_parameters;
    if (fsize != want)
        die("%s: file is %zu bytes, but B=%d T=%d with this model (V=%d, %zu parameters) needs %zu", path, fsize, B,
            T, c->V, model->num_parameters, want);
    s->B = B;
    s->T = T;
    s->V = c->V;
    s->num_parameters = model->num_parameters;
    s->x = xmalloc(BT * sizeof(int), "state inputs");
    s->y = xmalloc(BT * sizeof(int), "state targets");
    s->logits = xmalloc(BT * c->V * sizeof(float), "state logits");
    s->grads = xmalloc(model->num_parameters * sizeof(float), "state gradients");
    xfread(s->x, sizeof(int), BT, f, path);
    xfread(s->y, sizeof(int), BT, f, path);
    xfread(s->logits, sizeof(float), BT * c->V, f, path);
    xfread(&s->loss, sizeof(float), 1, f, path);
    xfread(s->grads, sizeof(float), model->num_parameters, f, path);
    xfclose(f, path);
    for (size_t i = 0; i < BT; i++)
        if (s->x[i] < 0 || s->x[i] >= c->V || s->y[i] < 0 || s->y[i] >= c->V)
            die("%s: token at position %zu is outside the vocabulary [0, %d)", path, i, c->V);
}

void debug_state_save(const DebugState *s, const char *path) {
    int32_t h[HEADER_INTS] = {0};
    h[0] = STATE_MAGIC;
    h[1] = STATE_VERSION;
    h[2] = s->B;
    h[3] = s->T;
    size_t BT = (size_t)s->B * s->T;
    AtomicFile af = atomic_open(path);
    xfwrite(h, sizeof(int32_t), HEADER_INTS, af.f, af.tmp_path);
    xfwrite(s->x, sizeof(int), BT, af.f, af.tmp_path);
    xfwrite(s->y, sizeof(int), BT, af.f, af.tmp_path);
    xfwrite(s->logits, sizeof(float), BT * s->V, af.f, af.tmp_path);
    xfwrite(&s->loss, sizeof(float), 1, af.f, af.tmp_path);
    xfwrite(s->grads, sizeof(float), s->num_parameters, af.f, af.tmp_path);
    atomic_commit(&af);
}

void debug_state_free(DebugState *s) {
    free(s->x);
    free(s->y);
    free(s->logits);
    free(s->grads);
    memset(s, 0, sizeof(*s));
}
