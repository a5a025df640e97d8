/* TEMPORARY (merge shim) */
#include <math.h>
#include <stdlib.h>
#include "common.h"
#include "gpt2.h"
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
    /* one pass over four arrays: memory-bound, so it only has to vectorise
     * (sqrtf does with -fno-math-errno) and keep both cores streaming */
#pragma omp parallel for schedule(static)
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

