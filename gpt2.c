/*
 * gpt2.c: GPT-2's forward and backward passes, as plain loops.
 *
 * This is the file to read. Each op is a pair of functions, forward then
 * backward, over flat float arrays, written as the loops of its formula in
 * notes.md (which derives every backward pass). Reading order: the ops as
 * they appear in a layer (encoder, layernorm, matmul, attention, GELU,
 * residual, softmax + cross-entropy), then gpt2_forward and gpt2_backward,
 * which chain them. gpt2.h says what the model is (config, the 16
 * parameter tensors, the activations).
 *
 * The reference order. Every sum here is one float running sum, taken in
 * increasing index order from 0 (from the bias in matmul_forward), with no
 * fused multiply-add (the Makefile passes -ffp-contract=off); e^x and tanh
 * are libm's expf and tanhf. The readable GPU kernels add in this same order
 * (each kernels/ file says where).
 *
 * The speed layer. A training step spends nearly all its time in a few of
 * these ops, and the plain loops run them at a fraction of what the machine
 * can do. fastops.c has a faster twin of each such op; the model calls them
 * through a table, model->ops (`op->matmul_forward(...)` below), which holds
 * the twins in the default build and this file's functions in a
 * `make REFERENCE=1` build (GPT2_REFERENCE_OPS, at the end of the ops).
 *
 * Gradient conventions (they let the backward pass reuse one layer of scratch):
 *   - parameter gradients (dweight, dbias, dwte, ...) always ACCUMULATE (+=),
 *     so gradient accumulation over micro-batches is just "don't zero";
 *   - the residual stream gradient accumulates (+=): every layer adds to it;
 *   - every other activation gradient is WRITTEN (=): in GPT-2 each of those
 *     activations feeds exactly one op, so one op alone defines its gradient.
 *
 * OpenMP: a loop is split over an index whose outputs no other iteration
 * writes (positions for activations, output channels for weights), so there
 * are no atomics, and results do not depend on the number of threads.
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
#pragma omp parallel for collapse(2) if (B * T >= PARALLEL_MIN_ROWS)
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

/* Per position: mean and biased variance of the C inputs,
 *   xhat = (x - mean) * rstd,  rstd = 1/sqrt(var + 1e-5),  out = xhat * weight + bias.
 * inp, out (B,T,C); weight, bias (C). mean and rstd (B,T) are saved for the
 * backward pass. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int B, int T, int C) {
    const float eps = 1e-5f;
#pragma omp parallel for if (B * T >= PARALLEL_MIN_ROWS)
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
 * dweight and dbias NULL: the layer is frozen, only dinp is computed.
 * The parameter sums run over positions, which the first loop splits among
 * threads, so they get a loop of their own, positions in order. */
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
    if (!dweight) return; /* frozen (LoRA): only the input's gradient is needed */
    for (size_t bt = 0; bt < BT; bt++) {
        const float *x = inp + bt * C, *d = dout + bt * C;
        float m = mean[bt], s = rstd[bt];
        for (int i = 0; i < C; i++) {
            dweight[i] += d[i] * (x[i] - m) * s;
            dbias[i] += d[i];
        }
    }
}

/* ------------------------------------------------------------------------ */
/* matmul: a linear layer, out = inp @ weight^T + bias                       */

/* out (B,T,OC), inp (B,T,C), weight (OC,C) stored (out, in), bias (OC) or NULL:
 *   out[bt][o] = bias[o] + sum_i inp[bt][i] * weight[o][i] */
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int B, int T, int C,
                    int OC) {
#pragma omp parallel for collapse(2)
    for (int bt = 0; bt < B * T; bt++) {
        for (int o = 0; o < OC; o++) {
            const float *x = inp + (size_t)bt * C, *w = weight + (size_t)o * C;
            float sum = bias ? bias[o] : 0.0f;
            for (int i = 0; i < C; i++) sum += x[i] * w[i];
            out[(size_t)bt * OC + o] = sum;
        }
    }
}

/* The three sums of out[bt][o] = bias[o] + sum_i inp[bt][i] w[o][i], read backwards:
 *   dinp[bt][i]  = sum_o dout[bt][o] * w[o][i]        WRITTEN (each input feeds one matmul)
 *   dw[o][i]    += sum_bt dout[bt][o] * inp[bt][i]
 *   dbias[o]    += sum_bt dout[bt][o]
 * The first loop is split over positions, the second over output channels,
 * so every thread writes only its own rows. dweight NULL: the weight is frozen
 * (LoRA), and only dinp is computed. */
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int B, int T, int C, int OC) {
    int BT = B * T;
#pragma omp parallel for
    for (int bt = 0; bt < BT; bt++) {
        float *dx = dinp + (size_t)bt * C;
        for (int i = 0; i < C; i++) dx[i] = 0.0f;
        for (int o = 0; o < OC; o++) {
            float d = dout[(size_t)bt * OC + o];
            const float *w = weight + (size_t)o * C;
            for (int i = 0; i < C; i++) dx[i] += d * w[i];
        }
    }
    if (!dweight) return;
#pragma omp parallel for
    for (int o = 0; o < OC; o++) {
        float *dw = dweight + (size_t)o * C;
        for (int bt = 0; bt < BT; bt++) {
            float d = dout[(size_t)bt * OC + o];
            const float *x = inp + (size_t)bt * C;
            for (int i = 0; i < C; i++) dw[i] += d * x[i];
            if (dbias) dbias[o] += d;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* LoRA: a low-rank update beside a frozen matmul                            */

/* With the matmul's weight W frozen, LoRA learns the change to it as a product
 * s b a of a (R,C) and b (OC,R), s = alpha/R (notes.md "LoRA"). It never forms
 * b a (OC,C): going through h = inp a^T costs R(C + OC) per position, not C*OC.
 *   h[bt][r]    = sum_i inp[bt][i] * a[r][i]
 *   out[bt][o] += s * sum_r h[bt][r] * b[o][r]
 * out (B,T,OC) holds the frozen matmul's output already; h (B,T,R) is kept. */
void lora_forward(float *out, float *h, const float *inp, const float *a, const float *b, float scale, int B, int T,
                  int C, int OC, int R) {
#pragma omp parallel for
    for (size_t bt = 0; bt < (size_t)B * T; bt++) {
        const float *x = inp + bt * C;
        float *hr = h + bt * R;
        for (int r = 0; r < R; r++) {
            float sum = 0.0f;
            for (int i = 0; i < C; i++) sum += x[i] * a[(size_t)r * C + i];
            hr[r] = sum;
        }
        for (int o = 0; o < OC; o++) {
            float sum = 0.0f;
            for (int r = 0; r < R; r++) sum += hr[r] * b[(size_t)o * R + r];
            out[bt * OC + o] += scale * sum;
        }
    }
}

/* The forward pass read backwards (notes.md derives it):
 *   dh[bt][r]    = s * sum_o dout[bt][o] * b[o][r]      WRITTEN (scratch)
 *   dinp[bt][i] += sum_r dh[bt][r] * a[r][i]            ACCUMULATES onto the frozen matmul's
 *   db[o][r]    += s * sum_bt dout[bt][o] * h[bt][r]
 *   da[r][i]    += sum_bt dh[bt][r] * inp[bt][i]
 * As in matmul_backward, each loop is split so that a thread writes only
 * its own rows, and every sum runs in a fixed order. */
void lora_backward(float *dinp, float *da, float *db, float *dh, const float *dout, const float *inp,
                   const float *h, const float *a, const float *b, float scale, int B, int T, int C, int OC, int R) {
    size_t BT = (size_t)B * T;
#pragma omp parallel for
    for (size_t bt = 0; bt < BT; bt++) {
        const float *d = dout + bt * OC;
        float *dhr = dh + bt * R;
        for (int r = 0; r < R; r++) {
            float sum = 0.0f;
            for (int o = 0; o < OC; o++) sum += d[o] * b[(size_t)o * R + r];
            dhr[r] = scale * sum;
        }
        float *dx = dinp + bt * C;
        for (int i = 0; i < C; i++) {
            float sum = 0.0f;
            for (int r = 0; r < R; r++) sum += dhr[r] * a[(size_t)r * C + i];
            dx[i] += sum;
        }
    }
#pragma omp parallel for
    for (int o = 0; o < OC; o++) {
        for (int r = 0; r < R; r++) {
            float sum = 0.0f;
            for (size_t bt = 0; bt < BT; bt++) sum += dout[bt * OC + o] * h[bt * R + r];
            db[(size_t)o * R + r] += scale * sum;
        }
    }
#pragma omp parallel for
    for (int r = 0; r < R; r++) {
        float *dar = da + (size_t)r * C;
        for (size_t bt = 0; bt < BT; bt++) {
            float d = dh[bt * R + r];
            const float *x = inp + bt * C;
            for (int i = 0; i < C; i++) dar[i] += d * x[i];
        }
    }
}

/* ------------------------------------------------------------------------ */
/* attention: causal multi-head self-attention                              */

/* One query of one head attending over n keys (positions 0..n-1):
 *   score[t2] = (q . k[t2]) / sqrt(hs),  att = softmax(score),  out = sum_t2 att[t2] v[t2]
 * q, out (hs); att (n). k and v point at position 0 of this head, and
 * consecutive positions are kv_stride floats apart. attention_forward calls
 * it for every query; the KV-cache step (generation.c) for the newest one,
 * with keys and values from the cache. */
void attention_query(float *out, float *att, const float *q, const float *k, const float *v, size_t kv_stride, int n,
                     int hs) {
    float scale = 1.0f / sqrtf((float)hs);
    float maxv = -INFINITY;
    for (int t2 = 0; t2 < n; t2++) {
        const float *kt = k + (size_t)t2 * kv_stride;
        float dot = 0.0f;
        for (int i = 0; i < hs; i++) dot += q[i] * kt[i];
        att[t2] = dot * scale;
        if (att[t2] > maxv) maxv = att[t2];
    }
    /* subtracting the max keeps e^x from overflowing; softmax is unchanged */
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

/* The loops of the forward pass over every (b, h, t), for any implementation
 * of one query (fastops.c passes its faster one). qkv (B,T,3C) holds
 * [q | k | v] per position; head h uses channels h*hs .. h*hs+hs-1 of each
 * part (hs = C/NH). Query position t attends over positions 0..t (causal).
 * att (B,NH,T,T) keeps the probabilities for the backward pass (zero above
 * the diagonal); out (B,T,C), heads concatenated. */
void attention_forward_by(AttentionQuery *query, float *out, float *att, const float *qkv, int B, int T, int C,
                          int NH) {
    int hs = C / NH;
    size_t C3 = (size_t)3 * C;
#pragma omp parallel for collapse(3)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {
                const float *seq = qkv + (size_t)b * T * C3 + (size_t)h * hs; /* position 0, head h */
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                query(out + ((size_t)b * T + t) * C + (size_t)h * hs, a, seq + t * C3, seq + C, seq + 2 * (size_t)C,
                      C3, t + 1, hs);
                for (int t2 = t + 1; t2 < T; t2++) a[t2] = 0.0f;
            }
        }
    }
}

void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    attention_forward_by(attention_query, out, att, qkv, B, T, C, NH);
}

/* The backward pass of one query (attention_query read backwards), n keys:
 *   datt[t2]   = dout . v[t2]                     dv[t2] += att[t2] * dout
 *   dscore[t2] = att[t2] * (datt[t2] - sum_j att[j] * datt[j])    (softmax backward)
 *   dq        += dscore[t2] * k[t2] / sqrt(hs)     dk[t2] += dscore[t2] * q / sqrt(hs)
 * q, dq, dout (hs); att, datt (n); k, dk, v, dv at position 0 of the head,
 * positions kv_stride floats apart. dq, dk, dv ACCUMULATE. */
void attention_query_backward(float *dq, float *dk, float *dv, float *datt, const float *dout, const float *q,
                              const float *k, const float *v, const float *att, size_t kv_stride, int n, int hs) {
    float scale = 1.0f / sqrtf((float)hs);
    float att_datt = 0.0f; /* sum_j att[j] * datt[j] */
    for (int t2 = 0; t2 < n; t2++) {
        const float *vt = v + (size_t)t2 * kv_stride;
        float *dvt = dv + (size_t)t2 * kv_stride;
        float s = 0.0f;
        for (int i = 0; i < hs; i++) s += dout[i] * vt[i];
        for (int i = 0; i < hs; i++) dvt[i] += att[t2] * dout[i];
        datt[t2] = s;
        att_datt += att[t2] * s;
    }
    for (int t2 = 0; t2 < n; t2++) {
        const float *kt = k + (size_t)t2 * kv_stride;
        float *dkt = dk + (size_t)t2 * kv_stride;
        float ds = att[t2] * (datt[t2] - att_datt) * scale;
        for (int i = 0; i < hs; i++) {
            dq[i] += ds * kt[i];
            dkt[i] += ds * q[i];
        }
    }
}

/* The loops of the backward pass, for any implementation of one query's
 * backward. Keys and values of position t2 collect from every later query,
 * so threads split over (b, h) pairs, which own disjoint slices of dqkv;
 * within a pair the queries go in order t = 0, 1, ... . dqkv (B,T,3C) is
 * WRITTEN. datt (B,NH,T,T) is kept whole, though each row is used only
 * here: the GPU computes it in one kernel and consumes it in the next. */
void attention_backward_by(AttentionQueryBackward *query_backward, float *dqkv, float *datt, const float *dout,
                           const float *qkv, const float *att, int B, int T, int C, int NH) {
    int hs = C / NH;
    size_t C3 = (size_t)3 * C;
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const float *seq = qkv + (size_t)b * T * C3 + (size_t)h * hs; /* position 0, head h */
            float *dseq = dqkv + (size_t)b * T * C3 + (size_t)h * hs;
            for (int t = 0; t < T; t++)
                for (int part = 0; part < 3; part++) memset(dseq + t * C3 + (size_t)part * C, 0, hs * sizeof(float));
            for (int t = 0; t < T; t++) {
                size_t row = (((size_t)b * NH + h) * T + t) * T;
                query_backward(dseq + t * C3, dseq + C, dseq + 2 * (size_t)C, datt + row,
                               dout + ((size_t)b * T + t) * C + (size_t)h * hs, seq + t * C3, seq + C,
                               seq + 2 * (size_t)C, att + row, C3, t + 1, hs);
                for (int t2 = t + 1; t2 < T; t2++) datt[row + t2] = 0.0f;
            }
        }
    }
}

void attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att, int B,
                        int T, int C, int NH) {
    attention_backward_by(attention_query_backward, dqkv, datt, dout, qkv, att, B, T, C, NH);
}

/* ------------------------------------------------------------------------ */
/* GELU, tanh approximation                                                  */

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

/* out = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3);  N elements */
void gelu_forward(float *out, const float *inp, size_t N) {
#pragma omp parallel for if (N >= PARALLEL_MIN_FLOATS)
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

/* out = inp1 + inp2, N elements */
void residual_forward(float *out, const float *inp1, const float *inp2, size_t N) {
#pragma omp parallel for if (N >= PARALLEL_MIN_FLOATS)
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

/* Softmax numerators of one row of n logits, e^(l[i] - max), written to `e`
 * (which may be `l` itself); returns their sum, kept in double: over 50257
 * terms float rounding would show in the 6th digit of the loss. Subtracting
 * the max keeps e^x from overflowing and leaves the softmax unchanged. */
static double softmax_numerators(float *e, const float *l, int n, float *maxv) {
    float m = l[0];
    for (int i = 1; i < n; i++)
        if (l[i] > m) m = l[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        e[i] = expf(l[i] - m);
        sum += e[i];
    }
    *maxv = m;
    return sum;
}

/* losses (B,T) = -log softmax(logits)[target] = log(sum_i e^(l[i] - max)) + max - l[target].
 * logits (B,T,V), targets (B,T). The numerators go to a row buffer per
 * thread: the logits must survive for the backward pass. */
void crossentropy_forward(float *losses, const float *logits, const int *targets, int B, int T, int V) {
#pragma omp parallel
    {
        float *row = xmalloc((size_t)V * sizeof(float), "softmax row");
#pragma omp for
        for (size_t bt = 0; bt < (size_t)B * T; bt++) {
            const float *l = logits + bt * V;
            float maxv;
            double sum = softmax_numerators(row, l, V, &maxv);
            losses[bt] = (float)(log(sum) + maxv - l[targets[bt]]);
        }
        free(row);
    }
}

/* The loss the model reports is the mean over the B*T positions, so each
 * position's gradient carries a factor 1/(B*T):
 *   dlogits[i] = (softmax(logits)[i] - [i == target]) / (B*T).
 * IN PLACE: on entry dlogits holds the logits, on exit their gradient. The
 * (B,T,V) logits are the largest activation, so not keeping a second copy
 * matters for memory. */
void crossentropy_backward(float *dlogits, const int *targets, int B, int T, int V) {
    float mean_scale = 1.0f / ((float)B * (float)T);
#pragma omp parallel for
    for (size_t bt = 0; bt < (size_t)B * T; bt++) {
        float *l = dlogits + bt * V;
        float maxv;
        double sum = softmax_numerators(l, l, V, &maxv);
        float scale = (float)(1.0 / sum) * mean_scale; /* softmax = numerator / sum */
        for (int i = 0; i < V; i++) l[i] *= scale;
        l[targets[bt]] -= mean_scale;
    }
}

/* The table of the plain functions above; fastops.c has the fast one. */
const GPT2Ops GPT2_REFERENCE_OPS = {
    .name = "reference",
    .matmul_forward = matmul_forward,
    .matmul_backward = matmul_backward,
    .attention_query = attention_query,
    .attention_forward = attention_forward,
    .attention_backward = attention_backward,
    .gelu_forward = gelu_forward,
    .gelu_backward = gelu_backward,
    .crossentropy_forward = crossentropy_forward,
    .crossentropy_backward = crossentropy_backward,
};

/* ------------------------------------------------------------------------ */
/* the model: forward and backward                                           */

/* Per layer l (notes.md "The model"), x being the residual stream:
 *   x = x + attproj(attention(qkv(layernorm1(x))))
 *   x = x + fcproj(gelu(fc(layernorm2(x))))
 * then logits = layernorm_f(x) @ wte^T and the cross-entropy. */
void gpt2_forward(GPT2 *model, const int *inputs, const int *targets, int B, int T) {
    gpt2_begin_batch(model, inputs, targets, B, T);
    const GPT2Config *c = &model->config;
    const GPT2Ops *op = model->ops;
    int C = c->C, NH = c->NH, L = c->L, V = c->V;
    size_t BT = (size_t)B * T, BTC = BT * C;
    ParameterTensors p = model->params;
    ActivationTensors a = model->acts;

    encoder_forward(a.encoded, inputs, p.wte, p.wpe, B, T, C);
    for (int l = 0; l < L; l++) {
        LayerParams w = gpt2_layer_params(&p, c, l);
        LayerActs x = gpt2_layer_acts(&a, c, l, B, T);
        layernorm_forward(x.ln1, x.ln1_mean, x.ln1_rstd, x.residual, w.ln1w, w.ln1b, B, T, C);
        op->matmul_forward(x.qkv, x.ln1, w.qkvw, w.qkvb, B, T, C, 3 * C);
        adapter_forward(model, LORA_QKV, l, x.qkv, x.ln1, B, T); /* LoRA; nothing without adapters */
        op->attention_forward(x.atty, x.att, x.qkv, B, T, C, NH);
        op->matmul_forward(x.attproj, x.atty, w.attprojw, w.attprojb, B, T, C, C);
        adapter_forward(model, LORA_ATTPROJ, l, x.attproj, x.atty, B, T);
        residual_forward(x.residual2, x.residual, x.attproj, BTC);
        layernorm_forward(x.ln2, x.ln2_mean, x.ln2_rstd, x.residual2, w.ln2w, w.ln2b, B, T, C);
        op->matmul_forward(x.fch, x.ln2, w.fcw, w.fcb, B, T, C, 4 * C);
        adapter_forward(model, LORA_FC, l, x.fch, x.ln2, B, T);
        op->gelu_forward(x.fch_gelu, x.fch, 4 * BTC);
        op->matmul_forward(x.fcproj, x.fch_gelu, w.fcprojw, w.fcprojb, B, T, 4 * C, C);
        adapter_forward(model, LORA_FCPROJ, l, x.fcproj, x.fch_gelu, B, T);
        residual_forward(x.residual3, x.residual2, x.fcproj, BTC);
    }
    const float *last = a.residual3 + (size_t)(L - 1) * BTC;
    layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, last, p.lnfw, p.lnfb, B, T, C);
    /* The output projection is the token embedding (tied weights). Only its
     * first V rows are real tokens, so only V logits are computed. */
    op->matmul_forward(a.logits, a.lnf, p.wte, NULL, B, T, C, V);

    if (targets) {
        op->crossentropy_forward(a.losses, a.logits, targets, B, T, V);
        double sum = 0.0;
        for (size_t i = 0; i < BT; i++) sum += a.losses[i];
        model->mean_loss = (float)(sum / (double)BT);
    } else {
        model->mean_loss = -1.0f;
    }
}

/* The forward pass read backwards: each op's backward turns the gradient of
 * its output into the gradients of its inputs and parameters (notes.md,
 * "Backpropagation"). */
void gpt2_backward(GPT2 *model) {
    if (model->mean_loss < 0) die("gpt2_backward: the last forward pass had no targets");
    const GPT2Config *c = &model->config;
    const GPT2Ops *op = model->ops;
    int B = model->B, T = model->T, C = c->C, NH = c->NH, L = c->L, V = c->V;
    size_t BT = (size_t)B * T, BTC = BT * C;
    ParameterTensors p = model->params, g = model->grads; /* g all NULL when frozen (LoRA) */
    ActivationTensors a = model->acts;
    BackwardScratch s = model->scratch;
    int frozen = model->lora.rank > 0;

    /* loss -> logits -> final layernorm -> the residual stream of the last layer */
    op->crossentropy_backward(a.logits, model->targets, B, T, V); /* a.logits now holds dlogits */
    op->matmul_backward(s.dln, g.wte, NULL, a.logits, a.lnf, p.wte, B, T, C, V);
    memset(s.dresidual, 0, BTC * sizeof(float));
    layernorm_backward(s.dresidual, g.lnfw, g.lnfb, s.dln, a.residual3 + (size_t)(L - 1) * BTC, p.lnfw,
                       a.lnf_mean, a.lnf_rstd, B, T, C);

    for (int l = L - 1; l >= 0; l--) {
        LayerParams w = gpt2_layer_params(&p, c, l);
        LayerParams dw = frozen ? (LayerParams){0} : gpt2_layer_params(&g, c, l); /* NULL: no gradient */
        LayerActs x = gpt2_layer_acts(&a, c, l, B, T);
        /* residual3 = residual2 + fcproj: s.dresidual is the gradient of both
         * summands (residual_backward's identity, read in place). */
        op->matmul_backward(s.dfch_gelu, dw.fcprojw, dw.fcprojb, s.dresidual, x.fch_gelu, w.fcprojw, B, T, 4 * C, C);
        adapter_backward(model, LORA_FCPROJ, l, s.dfch_gelu, s.dresidual, x.fch_gelu, B, T);
        op->gelu_backward(s.dfch, x.fch, s.dfch_gelu, 4 * BTC);
        op->matmul_backward(s.dln, dw.fcw, dw.fcb, s.dfch, x.ln2, w.fcw, B, T, C, 4 * C);
        adapter_backward(model, LORA_FC, l, s.dln, s.dfch, x.ln2, B, T);
        layernorm_backward(s.dresidual, dw.ln2w, dw.ln2b, s.dln, x.residual2, w.ln2w, x.ln2_mean, x.ln2_rstd, B, T, C);
        /* residual2 = residual + attproj: the same identity */
        op->matmul_backward(s.datty, dw.attprojw, dw.attprojb, s.dresidual, x.atty, w.attprojw, B, T, C, C);
        adapter_backward(model, LORA_ATTPROJ, l, s.datty, s.dresidual, x.atty, B, T);
        op->attention_backward(s.dqkv, s.datt, s.datty, x.qkv, x.att, B, T, C, NH);
        op->matmul_backward(s.dln, dw.qkvw, dw.qkvb, s.dqkv, x.ln1, w.qkvw, B, T, C, 3 * C);
        adapter_backward(model, LORA_QKV, l, s.dln, s.dqkv, x.ln1, B, T);
        layernorm_backward(s.dresidual, dw.ln1w, dw.ln1b, s.dln, x.residual, w.ln1w, x.ln1_mean, x.ln1_rstd, B, T, C);
    }
    if (!frozen) encoder_backward(g.wte, g.wpe, s.dresidual, model->inputs, B, T, C);
}

/* Layer l's adapter on one target: its slices of a (L,R,in), b (L,out,R),
 * their gradients, and of the kept activation h (L,B,T,R). */
typedef struct {
    float *a, *b, *da, *db, *h;
    int in, out, R;
    float scale;
} Adapter;

static int layer_adapter(GPT2 *model, int target, int l, int B, int T, Adapter *ad) {
    LoRA *lo = &model->lora;
    if (!(lo->targets >> target & 1u)) return 0;
    if (!lo->acts_memory) die("LoRA adapters: call gpt2_alloc first");
    if ((size_t)B * T > (size_t)model->B_max * model->T_max)
        die("LoRA adapters: %d x %d positions, more than the %d x %d allocated", B, T, model->B_max, model->T_max);
    int R = lo->rank, in, out;
    lora_target_shape(&model->config, target, &in, &out);
    size_t a_off = (size_t)l * R * in, b_off = (size_t)l * out * R;
    *ad = (Adapter){.a = lo->a[target] + a_off, .b = lo->b[target] + b_off,
                    .da = lo->da[target] + a_off, .db = lo->db[target] + b_off,
                    .h = lo->h[target] + (size_t)l * B * T * R,
                    .in = in, .out = out, .R = R, .scale = lo->alpha / (float)R};
    return 1;
}

void adapter_forward(GPT2 *model, int target, int l, float *out, const float *inp, int B, int T) {
    Adapter ad;
    if (layer_adapter(model, target, l, B, T, &ad))
        lora_forward(out, ad.h, inp, ad.a, ad.b, ad.scale, B, T, ad.in, ad.out, ad.R);
}

void adapter_backward(GPT2 *model, int target, int l, float *dinp, const float *dout, const float *inp, int B,
                      int T) {
    Adapter ad;
    if (layer_adapter(model, target, l, B, T, &ad))
        lora_backward(dinp, ad.da, ad.db, model->lora.dh, dout, inp, ad.h, ad.a, ad.b, ad.scale, B, T, ad.in,
                      ad.out, ad.R);
}
