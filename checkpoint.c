/*
 * checkpoint.c: the model checkpoint file (llm.c's format, magic 20240326):
 * a 256-int32 header with the config, then the 16 parameter tensors in
 * order, float32 (version 3) or bfloat16 (version 5). Loading checks the
 * header and the file size before allocating, and every weight for NaN and
 * infinity after reading; saving is atomic.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "gpt2.h"
#include "safetensors.h" /* bf16_to_float */

/* A NaN or infinity in the weights would turn every logit into NaN and
 * generation into nonsense without a word, or stop training at its first
 * step: refuse such a checkpoint at load, naming the tensor. */
static void check_weights_finite(const GPT2 *model, const char *path) {
    size_t sizes[NUM_PARAM_TENSORS];
    gpt2_param_sizes(&model->config, sizes);
    const float *w = model->params_memory;
    for (int t = 0; t < NUM_PARAM_TENSORS; w += sizes[t], t++)
        for (size_t i = 0; i < sizes[t]; i++)
            if (!isfinite(w[i]))
                die("%s: tensor %s holds %s at element %zu (a corrupt file, or a run that diverged)", path,
                    PARAM_TENSOR_NAMES[t], isnan(w[i]) ? "NaN" : "an infinity", i);
}

/* Open a checkpoint and check its header and size against each other; the
 * config goes to *c, the version (3 or 5) to *version, and the file is left
 * at the first weight. Nothing large is allocated. */
static FILE *open_checkpoint(const char *path, GPT2Config *c, int *version) {
    FILE *f = xfopen(path, "rb");
    size_t fsize = file_size(f, path);
    int32_t h[HEADER_INTS];
    read_header(f, path, h);
    if (h[0] != CHECKPOINT_MAGIC) die("%s: not a GPT-2 checkpoint (magic %d, expected %d)", path, h[0], CHECKPOINT_MAGIC);
    if (h[1] != 3 && h[1] != 5) die("%s: unsupported checkpoint version %d (3 = fp32 and 5 = bf16 are supported)", path, h[1]);
    *c = (GPT2Config){.maxT = h[2], .V = h[3], .L = h[4], .NH = h[5], .C = h[6], .Vp = h[7]};
    gpt2_validate_config(c, path);
    size_t sizes[NUM_PARAM_TENSORS];
    size_t n = gpt2_param_sizes(c, sizes);
    if (n == 0) die("%s: bad config: maxT=%d V=%d Vp=%d L=%d NH=%d C=%d: the parameter count overflows", path, c->maxT,
                    c->V, c->Vp, c->L, c->NH, c->C);
    size_t elem = h[1] == 3 ? sizeof(float) : sizeof(uint16_t);
    /* Check the size before allocating, so a corrupt header cannot ask for terabytes. */
    size_t want = mul_size(n, elem, path);
    if (want > SIZE_MAX - 1024 || fsize != 1024 + want)
        die("%s: file is %zu bytes, but its header (maxT=%d V=%d Vp=%d L=%d NH=%d C=%d, version %d) needs %s%zu",
            path, fsize, c->maxT, c->V, c->Vp, c->L, c->NH, c->C, h[1], want > SIZE_MAX - 1024 ? "more than " : "",
            want > SIZE_MAX - 1024 ? SIZE_MAX : 1024 + want);
    *version = h[1];
    return f;
}

GPT2Config gpt2_read_config(const char *path) {
    GPT2Config c;
    int version;
    xfclose(open_checkpoint(path, &c, &version), path);
    return c;
}

void gpt2_load(GPT2 *model, const char *path) {
    GPT2Config c;
    int version;
    FILE *f = open_checkpoint(path, &c, &version);
    gpt2_init_empty(model, &c);
    size_t n = model->num_parameters;
    if (version == 3) {
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
    check_weights_finite(model, path);
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
