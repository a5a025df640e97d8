/*
 * gpt2.h: the GPT-2 model, its parameters, activations and API.
 *
 * Read this file first. It says what the model *is*: a config (six integers),
 * 16 parameter tensors carved out of one flat float array (the order of the
 * llm.c checkpoint file), and the activations one forward pass keeps for the
 * backward pass. gpt2.c holds the math (every op as plain loops, then the
 * model's forward and backward); notes.md derives it. The rest of the model's
 * code is bookkeeping, one file each: gpt2_memory.c (sizes, allocation,
 * initialisation), checkpoint.c (model files), generation.c (KV cache and
 * sampling), debug_state.c (the fixtures' reference states), and fastops.c,
 * the speed layer that the default build runs the heavy ops on.
 *
 * Shapes are written (B,T,C): batch, time (sequence position), channels.
 * V is the vocabulary size, Vp the padded vocabulary (a multiple of 128, the
 * number of rows of wte), L the layers, NH the attention heads, hs = C/NH.
 */
#ifndef GPT2C_GPT2_H
#define GPT2C_GPT2_H

#include <stddef.h>
#include <stdint.h>

#include "common.h" /* Rng */

#define CHECKPOINT_MAGIC 20240326
#define STATE_MAGIC 20240327

typedef struct {
    int maxT; /* the longest sequence the model can see: rows of wpe */
    int V;    /* vocabulary size (50257 for GPT-2) */
    int Vp;   /* padded vocabulary size: rows of wte; rows V..Vp-1 are zero */
    int L;    /* number of transformer blocks */
    int NH;   /* attention heads per block */
    int C;    /* channels: the width of the residual stream */
} GPT2Config;

/* The 16 parameter tensors, in checkpoint order. Each is a pointer into one
 * flat array, so saving, zeroing gradients and AdamW are single loops. */
#define NUM_PARAM_TENSORS 16
enum {
    PARAM_WTE, PARAM_WPE, PARAM_LN1W, PARAM_LN1B, PARAM_QKVW, PARAM_QKVB, PARAM_ATTPROJW, PARAM_ATTPROJB,
    PARAM_LN2W, PARAM_LN2B, PARAM_FCW, PARAM_FCB, PARAM_FCPROJW, PARAM_FCPROJB, PARAM_LNFW, PARAM_LNFB
};
typedef struct {
    float *wte;      /* (Vp, C)     token embedding; also the output projection (tied) */
    float *wpe;      /* (maxT, C)   position embedding */
    float *ln1w;     /* (L, C)      layernorm 1 scale */
    float *ln1b;     /* (L, C)      layernorm 1 shift */
    float *qkvw;     /* (L, 3C, C)  attention input projection: rows [q | k | v] */
    float *qkvb;     /* (L, 3C) */
    float *attprojw; /* (L, C, C)   attention output projection */
    float *attprojb; /* (L, C) */
    float *ln2w;     /* (L, C)      layernorm 2 scale */
    float *ln2b;     /* (L, C) */
    float *fcw;      /* (L, 4C, C)  MLP up-projection */
    float *fcb;      /* (L, 4C) */
    float *fcprojw;  /* (L, C, 4C)  MLP down-projection */
    float *fcprojb;  /* (L, C) */
    float *lnfw;     /* (C)         final layernorm scale */
    float *lnfb;     /* (C) */
} ParameterTensors;

/* Names of the tensors in checkpoint order, for messages and tests. */
extern const char *const PARAM_TENSOR_NAMES[NUM_PARAM_TENSORS];

/*
 * Activations kept by the forward pass, for a batch of up to (B,T) allocated
 * at gpt2_alloc time. Per-layer tensors are stacked: layer l's slice of a
 * (L,B,T,C) tensor starts at l*B*T*C, where B and T are those of the current
 * call (they may be smaller than the allocated sizes).
 */
typedef struct {
    float *encoded;   /* (B,T,C)      wte[x] + wpe[t]: the residual stream entering layer 0 */
    float *ln1;       /* (L,B,T,C)    layernorm 1 output */
    float *ln1_mean;  /* (L,B,T)      saved for the backward pass */
    float *ln1_rstd;  /* (L,B,T)      1/sqrt(var + eps) */
    float *qkv;       /* (L,B,T,3C)   queries, keys, values */
    float *att;       /* (L,B,NH,T,T) attention probabilities (post-softmax, causal) */
    float *atty;      /* (L,B,T,C)    attention output, heads concatenated */
    float *attproj;   /* (L,B,T,C)    after the output projection */
    float *residual2; /* (L,B,T,C)    residual stream after attention */
    float *ln2;       /* (L,B,T,C) */
    float *ln2_mean;  /* (L,B,T) */
    float *ln2_rstd;  /* (L,B,T) */
    float *fch;       /* (L,B,T,4C)   MLP hidden, before GELU */
    float *fch_gelu;  /* (L,B,T,4C)   after GELU */
    float *fcproj;    /* (L,B,T,C)    MLP output */
    float *residual3; /* (L,B,T,C)    residual stream leaving the layer */
    float *lnf;       /* (B,T,C)      final layernorm */
    float *lnf_mean;  /* (B,T) */
    float *lnf_rstd;  /* (B,T) */
    float *logits;    /* (B,T,V)      only the first V rows of wte are used; the backward
                                      pass overwrites this with dloss/dlogits */
    float *losses;    /* (B,T)        per-position cross-entropy */
} ActivationTensors;
#define NUM_ACTIVATION_TENSORS 21

/*
 * Gradients of activations are needed only until the layer that made them has
 * been through its backward pass, so instead of a gradient twin of every
 * activation we keep one layer's worth and reuse it for every layer.
 */
typedef struct {
    float *dresidual; /* (B,T,C)    gradient flowing down the residual stream */
    float *dln;       /* (B,T,C)    gradient of a layernorm output */
    float *dqkv;      /* (B,T,3C) */
    float *datt;      /* (B,NH,T,T) */
    float *datty;     /* (B,T,C) */
    float *dfch;      /* (B,T,4C)   gradient of the GELU input */
    float *dfch_gelu; /* (B,T,4C)   gradient of the GELU output */
} BackwardScratch;
#define NUM_SCRATCH_TENSORS 7

/* Generation state for N sequences decoded side by side (--samples): each
 * layer's keys and values of every position fed so far, and buffers for the
 * one position being computed in each sequence. A head's keys are
 * contiguous over positions (so are its values), the order attention reads
 * them in. See gpt2_forward_step_batch. */
typedef struct {
    int N, T;        /* sequences, positions each (allocated) */
    float *k, *v;    /* (N, L, NH, T, hs) */
    float *qkv;      /* (N, 3C) the current position's projection */
    float *x;        /* (N, C)  the residual stream of the current position */
    float *ln, *atty, *proj; /* (N, C) */
    float *fch, *fch_gelu;   /* (N, 4C) */
    float *mean, *rstd;      /* (N) layernorm statistics (unused without a backward pass) */
    float *att;      /* (T) one head's attention row */
    float *logits;   /* (N, V) */
} KVCache;

/*
 * The ops that have a faster twin (fastops.c), as a table the model calls
 * them through: gpt2_forward says `op->matmul_forward(...)`. In the
 * reference table each entry is gpt2.c's plain function of that name; in
 * the fast one, its `_fast` twin. The other ops (encoder, layernorm,
 * residual) cost little and are called directly.
 */
typedef struct {
    const char *name; /* "reference" or "fast" */
    void (*matmul_forward)(float *out, const float *inp, const float *weight, const float *bias, int B, int T, int C,
                           int OC);
    void (*matmul_backward)(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                            const float *weight, int B, int T, int C, int OC);
    void (*attention_query)(float *out, float *att, const float *q, const float *k, const float *v,
                            size_t kv_stride, int n, int hs);
    void (*attention_forward)(float *out, float *att, const float *qkv, int B, int T, int C, int NH);
    void (*attention_backward)(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att,
                               int B, int T, int C, int NH);
    void (*gelu_forward)(float *out, const float *inp, size_t N);
    void (*gelu_backward)(float *dinp, const float *inp, const float *dout, size_t N);
    void (*crossentropy_forward)(float *losses, const float *logits, const int *targets, int B, int T, int V);
    void (*crossentropy_backward)(float *dlogits, const int *targets, int B, int T, int V);
} GPT2Ops;
/* gpt2.c's plain loops */
extern const GPT2Ops GPT2_REFERENCE_OPS;
/* what a new model uses: the speed layer, or the plain loops in a `make REFERENCE=1` build */
const GPT2Ops *gpt2_default_ops(void);

typedef struct {
    GPT2Config config;
    const GPT2Ops *ops; /* gpt2_default_ops() unless a caller picks another table */

    ParameterTensors params;
    size_t param_sizes[NUM_PARAM_TENSORS];
    float *params_memory;
    size_t num_parameters;

    ParameterTensors grads; /* same layout as params; allocated by gpt2_alloc */
    float *grads_memory;

    float *m_memory; /* AdamW first and second moments; allocated on first update */
    float *v_memory;

    /* Activations for up to (B_max, T_max), from gpt2_alloc. */
    int B_max, T_max;
    ActivationTensors acts;
    float *acts_memory;
    BackwardScratch scratch;
    float *scratch_memory;
    int *inputs;  /* (B,T) of the last forward */
    int *targets; /* (B,T) of the last forward, or unused when it had none */
    int B, T;     /* sizes of the last forward */
    float mean_loss; /* of the last forward with targets; -1 when it had none */
    KVCache kv;      /* allocated by gpt2_kv_alloc, for generation */
} GPT2;

/* ---- the model (gpt2.c) ---- */

/* inputs (B,T) token ids; targets (B,T) or NULL. With targets, sets mean_loss. */
void gpt2_forward(GPT2 *model, const int *inputs, const int *targets, int B, int T);
void gpt2_zero_grad(GPT2 *model);
/* Gradients of mean_loss from the last forward (which must have had targets). */
void gpt2_backward(GPT2 *model);

/* ---- the layer ops (gpt2.c), as plain loops; exposed for tests, the speed
 * layer's checks and the GPU comparison ---- */
void encoder_forward(float *out, const int *inp, const float *wte, const float *wpe, int B, int T, int C);
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp, int B, int T, int C);
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int B, int T, int C);
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int B, int T, int C);
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int B, int T, int C,
                    int OC);
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int B, int T, int C, int OC);
void attention_query(float *out, float *att, const float *q, const float *k, const float *v, size_t kv_stride, int n,
                     int hs);
void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH);
void attention_query_backward(float *dq, float *dk, float *dv, float *datt, const float *dout, const float *q,
                              const float *k, const float *v, const float *att, size_t kv_stride, int n, int hs);
void attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att, int B,
                        int T, int C, int NH);
/* attention's loops over (b, h, t) around one query's forward or backward,
 * shared by the plain functions above and their fast twins */
typedef void AttentionQuery(float *out, float *att, const float *q, const float *k, const float *v, size_t kv_stride,
                            int n, int hs);
typedef void AttentionQueryBackward(float *dq, float *dk, float *dv, float *datt, const float *dout, const float *q,
                                    const float *k, const float *v, const float *att, size_t kv_stride, int n, int hs);
void attention_forward_by(AttentionQuery *query, float *out, float *att, const float *qkv, int B, int T, int C,
                          int NH);
void attention_backward_by(AttentionQueryBackward *query_backward, float *dqkv, float *datt, const float *dout,
                           const float *qkv, const float *att, int B, int T, int C, int NH);
void gelu_forward(float *out, const float *inp, size_t N);
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t N);
void residual_forward(float *out, const float *inp1, const float *inp2, size_t N);
void residual_backward(float *dinp1, float *dinp2, const float *dout, size_t N);
void crossentropy_forward(float *losses, const float *logits, const int *targets, int B, int T, int V);
void crossentropy_backward(float *dlogits, const int *targets, int B, int T, int V);

/* ---- construction (gpt2_memory.c) and checkpoints (checkpoint.c) ---- */

/* Number of elements of each of the 16 tensors for a config (all size_t:
 * GPT-2 XL has 1.6e9 parameters, more than an int can count). Returns the total,
 * or 0 if a size would overflow. */
size_t gpt2_param_sizes(const GPT2Config *c, size_t sizes[NUM_PARAM_TENSORS]);
/* Checks a config read from `path`; dies naming the problem. */
void gpt2_validate_config(const GPT2Config *c, const char *path);
/* A model with zeroed parameters for a config (used by the trainer and tests). */
void gpt2_init_empty(GPT2 *model, const GPT2Config *config);
/* A model with GPT-2's initialisation, drawn from an Rng seeded by `seed`. */
void gpt2_init_random(GPT2 *model, const GPT2Config *config, uint64_t seed);
/* Load a version 3 (float32) or version 5 (bfloat16) checkpoint. */
void gpt2_load(GPT2 *model, const char *path);
/* Save as version 3 (float32), atomically (temp file + rename). */
void gpt2_save(const GPT2 *model, const char *path);
/* Allocate gradients and activations for batches of up to (B_max, T_max). */
void gpt2_alloc(GPT2 *model, int B_max, int T_max);
void gpt2_free(GPT2 *model);

/* ---- memory layout (gpt2_memory.c; pointer arithmetic only, so `memory` may
 * be host or GPU memory: the GPU driver lays out its buffers exactly like these) ---- */

/* Point the 16 tensors of `t` at consecutive slices of `memory`. */
void gpt2_point_params(ParameterTensors *t, float *memory, const size_t sizes[NUM_PARAM_TENSORS]);
/* Element counts of the activation / scratch tensors for a batch of (B,T), in
 * struct order; each returns the total. */
size_t gpt2_activation_sizes(const GPT2Config *c, int B, int T, size_t sizes[NUM_ACTIVATION_TENSORS]);
size_t gpt2_scratch_sizes(const GPT2Config *c, int B, int T, size_t sizes[NUM_SCRATCH_TENSORS]);
/* Point the tensors at consecutive slices of `memory`, laid out for (B,T). */
void gpt2_point_activations(ActivationTensors *a, float *memory, const GPT2Config *c, int B, int T);
void gpt2_point_scratch(BackwardScratch *s, float *memory, const GPT2Config *c, int B, int T);
/* Check a batch against the allocated sizes and every token id against the
 * vocabulary (dies naming the bad one), then lay the activations out for
 * (B,T) and keep a copy of the tokens for the backward pass. */
void gpt2_begin_batch(GPT2 *model, const int *inputs, const int *targets, int B, int T);
/* Dies unless every one of the n ids is in [0, V); `what` names them ("input token"). */
void gpt2_check_tokens(const int *ids, size_t n, int V, const char *what);
/* The checks above without the layout: (B,T) within (B_max, T_max), every id
 * in the vocabulary. gpt2_begin_batch and the GPU driver share it. */
void gpt2_check_batch(const GPT2Config *c, const int *inputs, const int *targets, int B, int T, int B_max,
                      int T_max);
/* Dies unless a batch of (B_max, T_max) can be allocated for this config. */
void gpt2_check_alloc_size(const GPT2Config *c, int B_max, int T_max);

/* ---- one layer's slices, so the model's loops read like the math ---- */

/* Layer l's parameters (or, applied to model->grads, their gradients). */
typedef struct {
    float *ln1w, *ln1b;         /* (C) */
    float *qkvw, *qkvb;         /* (3C, C), (3C) */
    float *attprojw, *attprojb; /* (C, C), (C) */
    float *ln2w, *ln2b;         /* (C) */
    float *fcw, *fcb;           /* (4C, C), (4C) */
    float *fcprojw, *fcprojb;   /* (C, 4C), (C) */
} LayerParams;
LayerParams gpt2_layer_params(const ParameterTensors *p, const GPT2Config *c, int l);

/* Layer l's activations for a batch of (B,T); `residual` is the stream
 * entering the layer (encoded for layer 0, else residual3 of layer l-1). */
typedef struct {
    float *residual, *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *atty, *attproj, *residual2;
    float *ln2, *ln2_mean, *ln2_rstd, *fch, *fch_gelu, *fcproj, *residual3;
} LayerActs;
LayerActs gpt2_layer_acts(const ActivationTensors *a, const GPT2Config *c, int l, int B, int T);

#endif
