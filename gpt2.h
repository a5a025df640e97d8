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

/* Below these sizes a loop runs on one thread: starting an OpenMP parallel
 * region costs about 3 microseconds (measured on 2 cores), more than a
 * layernorm of a few rows or a sum of a few thousand floats takes. That is
 * the size of a generation step (one row per sequence), which would
 * otherwise start some 60 such regions per token. */
#define PARALLEL_MIN_ROWS 32
#define PARALLEL_MIN_FLOATS 32768

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
    float *att;      /* (N,NH,T) each sequence and head its attention row */
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

/*
 * LoRA adapters (notes.md "LoRA"). Fine-tuning with --lora R freezes every
 * parameter above and trains, beside each targeted matmul of every layer
 * (weight W (OC,C)), two small matrices A (R,C) and B (OC,R): the layer
 * computes  x W^T + s (x A^T) B^T  with s = alpha/R, exactly as if its weight
 * were W + s B A, a change of rank at most R. B starts at zero, so step 0 is
 * the base model; A starts random. All adapters share one flat array (lora.c
 * has the layout), and so do their gradients and AdamW's m and v, so the
 * optimizer's loops stay single loops over "the trained parameters".
 */
enum { LORA_QKV, LORA_ATTPROJ, LORA_FC, LORA_FCPROJ, NUM_LORA_TARGETS };
typedef struct {
    int rank;         /* R; 0: no adapters, every parameter trains */
    float alpha;      /* the update is scaled by s = alpha / R */
    unsigned targets; /* bit t set: target t (LORA_QKV, ...) has an adapter */
    float *a[NUM_LORA_TARGETS];  /* (L, R, C_in)   NULL where not targeted */
    float *b[NUM_LORA_TARGETS];  /* (L, C_out, R) */
    float *da[NUM_LORA_TARGETS], *db[NUM_LORA_TARGETS]; /* their gradients */
    float *params_memory, *grads_memory, *m_memory, *v_memory;
    size_t num_parameters;
    /* activations (from gpt2_alloc): per target, (L,B,T,R), the input times
     * A^T, kept for the backward pass; and (B,T,R) of backward scratch */
    float *h[NUM_LORA_TARGETS];
    float *dh;
    float *acts_memory;
} LoRA;

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
    LoRA lora;       /* adapters (lora_init), or rank 0. With adapters the parameters
                        are frozen: no grads_memory, no m and v (gpt2_alloc) */
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

/* ---- LoRA (gpt2.c): the adapter's math as plain loops, and the model's use of it ---- */

/* out (B,T,OC) += scale * (inp a^T) b^T with inp (B,T,C), a (R,C), b (OC,R);
 * h (B,T,R) gets inp a^T, kept for the backward pass. */
void lora_forward(float *out, float *h, const float *inp, const float *a, const float *b, float scale, int B, int T,
                  int C, int OC, int R);
/* Its gradients: dh (B,T,R) WRITTEN (scratch), da (R,C) and db (OC,R)
 * accumulate, dinp (B,T,C) ACCUMULATES onto the frozen matmul's dinp. */
void lora_backward(float *dinp, float *da, float *db, float *dh, const float *dout, const float *inp,
                   const float *h, const float *a, const float *b, float scale, int B, int T, int C, int OC, int R);
/* Layer l's adapter on `target` (LORA_QKV, ...), when the model has one;
 * otherwise nothing. out/dout are the matmul's output (gradient), inp its input. */
void adapter_forward(GPT2 *model, int target, int l, float *out, const float *inp, int B, int T);
void adapter_backward(GPT2 *model, int target, int l, float *dinp, const float *dout, const float *inp, int B, int T);

/* ---- LoRA bookkeeping (lora.c): targets, layout, the adapters file, merging ---- */

/* The input and output widths of target t's matmul: qkv (C, 3C), attproj
 * (C, C), fc (C, 4C), fcproj (4C, C). */
void lora_target_shape(const GPT2Config *c, int target, int *in, int *out);
/* "qkv,attproj" -> a bit set of targets; dies (usage) naming a bad name. */
unsigned lora_parse_targets(const char *list);
/* The bit set as "qkv,attproj" in buf. */
const char *lora_target_list(unsigned targets, char *buf, size_t cap);
/* How many numbers the adapters hold: sum over targets of L * R * (in + out). */
size_t lora_num_parameters(const GPT2Config *c, int rank, unsigned targets);
/* Attaches adapters to a loaded model: A ~ N(0, 1/C_in) from `seed`, B = 0.
 * From then on the model's own parameters are frozen. */
void lora_init(GPT2 *model, int rank, float alpha, unsigned targets, uint64_t seed);
/* The adapters file (format in lora.c and notes.md), written atomically. It
 * names the base checkpoint it belongs to (`base_path`) and fingerprints it. */
void lora_save(const GPT2 *model, const char *base_path, const char *path);
/* What an adapters file says about itself, from its header alone. */
typedef struct {
    int rank, L, C;
    float alpha;
    unsigned targets;
    size_t num_parameters, base_parameters;
    uint64_t base_fingerprint;
    char base_path[512];
} LoRAFileInfo;
LoRAFileInfo lora_read_info(const char *path);
/* Attaches the adapters in `path` to `model` (its base); dies if they were
 * made for another shape or another base checkpoint. */
void lora_load(GPT2 *model, const char *path);
/* A cheap fingerprint of the model's parameters (a sample of them), so an
 * adapters file can tell its own base from another checkpoint of the same shape. */
uint64_t lora_base_fingerprint(const GPT2 *model);
/* W += (alpha/R) B A for every adapted matrix, then drops the adapters: the
 * model is an ordinary checkpoint again. */
void lora_merge(GPT2 *model);
/* The adapters' activations for batches of up to (B_max, T_max) (gpt2_alloc calls it). */
void lora_alloc_acts(GPT2 *model, int B_max, int T_max);
void lora_free(LoRA *lora);

/* What the optimizer trains: the whole model, or only the adapters. m and v
 * are NULL until gpt2_alloc_moments. */
typedef struct {
    float *params, *grads, *m, *v;
    size_t n;
} TrainedParams;
TrainedParams gpt2_trained(const GPT2 *model);
/* AdamW's m and v for the trained parameters, zero, unless already there. */
void gpt2_alloc_moments(GPT2 *model);

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
/* Only a checkpoint's config, from its header (checked against the file's
 * size like gpt2_load): for planning memory before loading the weights. */
GPT2Config gpt2_read_config(const char *path);
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

/* ---- the memory plan of a training run (gpt2_memory.c) ---- */

/* Bytes a training run of ./train holds at its peak, by what they are for. */
typedef struct {
    size_t params;      /* every parameter, 4 bytes each */
    size_t grads;       /* the trainable ones' gradients, 4 bytes each */
    size_t adamw;       /* their AdamW m and v, 8 bytes each */
    size_t activations; /* the forward pass's activations for (B,T) */
    size_t scratch;     /* the backward pass's one-layer scratch */
    size_t kv_cache;    /* generation's cache and buffers, for samples */
    size_t eval_copy;   /* the weights before an eval step's update (update ratios) */
    size_t other;       /* token buffers: the model's and two data loaders' */
} MemoryPlan;
/* What a run trains: every parameter (lora_rank 0), or LoRA adapters. */
typedef struct {
    int lora_rank;
    unsigned lora_targets;
} TrainedSpec;
/* The plan for batches of (B,T) training what `trained` says (every
 * parameter gets a gradient and AdamW state, or only the adapters), with the
 * KV cache if samples are drawn. Saturates at SIZE_MAX rather than wrapping. */
MemoryPlan gpt2_memory_plan(const GPT2Config *c, int B, int T, TrainedSpec trained, int with_kv_cache);
/* How many parameters get a gradient and AdamW state under `trained`. */
size_t gpt2_trained_count(const GPT2Config *c, TrainedSpec trained);
/* The plan's total in bytes (SIZE_MAX if it overflows). */
size_t memory_plan_total(const MemoryPlan *p);

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
