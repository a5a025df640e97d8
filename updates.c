/*
 * updates.c: the update-to-weight ratios (see updates.h).
 */
#include "updates.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int param_is_per_layer(int tensor) { return tensor >= PARAM_LN1W && tensor <= PARAM_FCPROJB; }

static void add_row(UpdateLog *log, UpdateRow row) {
    if (log->n == log->cap) {
        log->cap = log->cap ? 2 * log->cap : 256;
        UpdateRow *rows = realloc(log->rows, log->cap * sizeof(UpdateRow));
        if (!rows) die("out of memory for the update ratios");
        log->rows = rows;
    }
    log->rows[log->n++] = row;
}

/* log10(rms(after - before) / rms(before)) over n weights: the 1/n of both
 * rms cancel, leaving half the log of the ratio of the sums of squares */
static float update_ratio(const float *before, const float *after, size_t n) {
    double dd = 0, ww = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)after[i] - before[i];
        dd += d * d;
        ww += (double)before[i] * before[i];
    }
    return dd > 0 && ww > 0 ? (float)(0.5 * log10(dd / ww)) : NAN;
}

void updates_measure(UpdateLog *log, int step, const GPT2 *model, const float *before) {
    const float *after = model->params_memory;
    size_t at = 0;
    for (int t = 0; t < NUM_PARAM_TENSORS; t++) {
        size_t size = model->param_sizes[t];
        int parts = param_is_per_layer(t) ? model->config.L : 1;
        size_t slice = size / parts;
        for (int l = 0; l < parts; l++) {
            size_t off = at + (size_t)l * slice;
            add_row(log, (UpdateRow){step, t, parts > 1 ? l : -1, update_ratio(before + off, after + off, slice)});
        }
        at += size;
    }
}

void updates_load(UpdateLog *log, const char *dir, int upto) {
    char *path = path_join(dir, "updates.csv");
    FILE *f = fopen(path, "r"); /* none yet is fine: no eval step so far */
    if (!f) { free(path); return; }
    char line[256];
    while (fgets(line, sizeof line, f)) {
        /* step,tensor,layer,ratio with layer and ratio possibly empty */
        char *field[4], *s = line;
        int nf = 0;
        for (; nf < 4 && s; nf++) {
            field[nf] = s;
            s = strchr(s, ',');
            if (s) *s++ = 0;
        }
        if (nf < 4 || !isdigit((unsigned char)field[0][0])) continue; /* the header */
        int step = atoi(field[0]), tensor = -1;
        if (step > upto) break;
        for (int t = 0; t < NUM_PARAM_TENSORS; t++)
            if (!strcmp(field[1], PARAM_TENSOR_NAMES[t])) tensor = t;
        if (tensor < 0) die("%s: unknown tensor '%s'", path, field[1]);
        char *end;
        float ratio = strtof(field[3], &end);
        add_row(log, (UpdateRow){step, tensor, *field[2] ? atoi(field[2]) : -1, end == field[3] ? NAN : ratio});
    }
    fclose(f);
    free(path);
}

void write_updates_csv(const UpdateLog *log, const char *dir) {
    char *path = path_join(dir, "updates.csv");
    AtomicFile af = atomic_open(path);
    free(path);
    fputs("step,tensor,layer,log10_update_ratio\n", af.f);
    for (size_t i = 0; i < log->n; i++) {
        const UpdateRow *r = &log->rows[i];
        fprintf(af.f, "%d,%s,", r->step, PARAM_TENSOR_NAMES[r->tensor]);
        if (r->layer >= 0) fprintf(af.f, "%d", r->layer);
        fputc(',', af.f);
        if (!isnan(r->ratio)) fprintf(af.f, "%.4f", r->ratio);
        fputc('\n', af.f);
    }
    atomic_commit(&af);
}

void updates_free(UpdateLog *log) {
    free(log->rows);
    *log = (UpdateLog){0};
}
