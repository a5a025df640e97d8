/*
 * rundir.h: a training run's folder (--out DIR) and what the trainer keeps
 * in it:
 *   DIR/model_NNNNNNNN.bin   the weights at step N (llm.c's version 3 format)
 *   DIR/lora_NNNNNNNN.bin    instead, with --lora: the adapters at step N (lora.c's
 *                            format; they name their base checkpoint)
 *   DIR/state_NNNNNNNN.bin   everything else a resume needs: the step, the data
 *                            position, the RNG, every setting, AdamW's m and v
 *   DIR/log.csv              one row per step: train and validation loss, lr, time,
 *                            the gradient norm before clipping
 * (DIR/loss.svg is plot.c's.) The state file's format is in notes.md, "Training";
 * rundir.c says why a crash at any moment leaves a resumable folder.
 */
#ifndef GPT2C_RUNDIR_H
#define GPT2C_RUNDIR_H

#include <stdio.h>

#include "gpt2.h"
#include "train.h"

/* buf = DIR/KIND_NNNNNNNN.bin, KIND "model" or "state"; dies if it does not fit in cap */
void ckpt_path(char *buf, size_t cap, const char *dir, const char *kind, int step);
/* Creates `dir` if needed and checks that files can be written in it. */
void make_dir(const char *dir);

/* Holds an exclusive lock on the run folder until the process ends; dies,
 * naming the folder, if another run holds it. */
void lock_run_dir(const char *dir);
/* Whether `dir` holds any model_N.bin or state_N.bin (complete checkpoint
 * or not); if so, name gets the path of one of them (a state file first). */
int find_checkpoint_file(const char *dir, char *name, size_t cap);

/* Step p->step's checkpoint, weights (model or adapters) then state file,
 * each written atomically. */
void save_checkpoint(const TrainConfig *c, const TrainProgress *p, const GPT2 *model);
/* Reads a state file's header and settings into *c and *p and the parameter
 * count of its optimizer state into *nparams; returns the file positioned at
 * AdamW's m and v, for the caller to read once the model is loaded. */
FILE *read_state(const char *path, TrainConfig *c, TrainProgress *p, size_t *nparams);
/* The newest step in `dir` with both weights (a model or LoRA adapters file)
 * and a state file, or -1. */
int newest_checkpoint(const char *dir);
/* "model" or "lora": which weights file step `step` of `dir` has; NULL if none. */
const char *checkpoint_weights_kind(const char *dir, int step);
/* After step `newest`'s checkpoint is complete: keep it and the newest
 * c->keep_checkpoints - 1 before it, delete the rest and any leftovers. */
void prune_checkpoints(const TrainConfig *c, int newest);

/* log.csv's rows, one per step. */
typedef struct {
    int step;
    float train, val, lr; /* NAN where absent */
    double elapsed;
    float grad_norm; /* the global gradient norm before clipping; NAN where absent */
} HistoryRow;
typedef struct {
    HistoryRow *rows;
    size_t n, cap;
} History;

void history_add(History *h, int step, float train, float val, float lr, double elapsed, float grad_norm);
/* The rows of DIR/log.csv up to step `upto`, if it exists (a resumed run keeps them). */
void history_load(History *h, const char *dir, int upto);
/* DIR/log.csv from every row, written atomically. */
void write_log_csv(const History *h, const char *dir);

#endif
