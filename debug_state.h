/*
 * debug_state.h: the reference state of one training batch, the file the
 * fixtures ship (../shared/fixtures/gpt2/<name>/state.bin): inputs, targets,
 * the logits, the loss and every parameter gradient that a correct
 * implementation computes for them. test_gpt2 and compare_cpu_gpu check
 * against it.
 */
#ifndef GPT2C_DEBUG_STATE_H
#define GPT2C_DEBUG_STATE_H

#include <stddef.h>

#include "gpt2.h"

#define STATE_VERSION 2
typedef struct {
    int B, T, V;
    int *x, *y;       /* (B,T) inputs and targets */
    float *logits;    /* (B,T,V), unpadded */
    float loss;
    float *grads;     /* num_parameters, checkpoint order, padded wte rows included */
    size_t num_parameters;
} DebugState;

/* Load a state for `model`'s config; dies on a bad header or a size mismatch. */
void debug_state_load(DebugState *s, const char *path, const GPT2 *model);
/* Write a state (atomically) in the same format. */
void debug_state_save(const DebugState *s, const char *path);
void debug_state_free(DebugState *s);

#endif
