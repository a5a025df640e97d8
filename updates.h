/*
 * updates.h: how big each step is compared with the weights it changes.
 * For every parameter tensor, and for the per-layer tensors every layer's
 * slice of it, the update-to-weight ratio of one AdamW step
 *     log10( rms(w_after - w_before) / rms(w_before) )
 * (notes.md, "Looking inside"). The trainer measures it only at eval steps,
 * where it keeps a copy of the weights from before the update; other steps
 * pay nothing. Kept in DIR/updates.csv, one row per tensor and layer:
 *     step,tensor,layer,log10_update_ratio
 * (layer empty for the tensors that are not per layer: wte, wpe, lnfw, lnfb;
 * the ratio empty where the weights or the update are all zero), and drawn
 * in DIR/updates.svg (plot.c).
 */
#ifndef GPT2C_UPDATES_H
#define GPT2C_UPDATES_H

#include <stddef.h>

#include "gpt2.h"

typedef struct {
    int step;
    int tensor; /* PARAM_WTE .. PARAM_LNFB */
    int layer;  /* -1 for a tensor that is not per layer */
    float ratio; /* log10 of the rms ratio; NAN where undefined */
} UpdateRow;
typedef struct {
    UpdateRow *rows;
    size_t n, cap;
} UpdateLog;

/* 1 for the tensors stacked by layer (ln1w .. fcprojb). */
int param_is_per_layer(int tensor);
/* Appends step's rows: `before` holds the weights before the update (all
 * num_parameters of them), model->params those after it. */
void updates_measure(UpdateLog *log, int step, const GPT2 *model, const float *before);
/* The rows of DIR/updates.csv up to step `upto`, if it exists (a resumed run keeps them). */
void updates_load(UpdateLog *log, const char *dir, int upto);
/* DIR/updates.csv from every row, written atomically. */
void write_updates_csv(const UpdateLog *log, const char *dir);
void updates_free(UpdateLog *log);

#endif
