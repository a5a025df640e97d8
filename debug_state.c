/*
 * debug_state.c: reading and writing the reference state of one batch
 * (debug_state.h): a 256-int32 header (magic 20240327, version 2, B, T), then
 * inputs and targets (B*T int32 each), logits (B*T*V float32), the loss and
 * the gradients of every parameter in checkpoint order.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "debug_state.h"

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
