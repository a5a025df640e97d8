/*
 * hf_gpt2.h: GPT-2 in Hugging Face's layout, in and out.
 *
 * A model folder as `from_pretrained` reads it holds config.json (the shape:
 * n_layer, n_head, n_embd, n_positions, vocab_size), the weights in
 * model.safetensors, or split over shards listed by
 * model.safetensors.index.json, and the vocabulary as vocab.json +
 * merges.txt (tokenizer.h reads and writes those).
 *
 * HF's GPT-2 tensors differ from gpt2c's in three ways (notes.md, "Importing
 * Hugging Face weights"): the four weight matrices of a block are Conv1D
 * weights, stored (in, out) where gpt2c stores (out, in); wte has V rows,
 * gpt2c's is padded to Vp; names may carry a "transformer." prefix.
 * One table (hf_gpt2_tensors) says where each HF tensor lives in gpt2c's
 * parameters and how; the importer and the exporter both walk it.
 */
#ifndef GPT2C_HF_GPT2_H
#define GPT2C_HF_GPT2_H

#include "gpt2.h"
#include "safetensors.h"

/* One tensor of HF's GPT-2 and where it lives in gpt2c's parameters. */
typedef struct {
    char name[64];     /* HF's name, without "transformer.": "h.3.mlp.c_fc.weight" */
    float *param;      /* its gpt2c tensor: a slice of the model's flat parameters */
    size_t rows, cols; /* its HF shape (rows, cols), or (rows) when cols is 0 */
    int conv1d;        /* stored (in, out) = (rows, cols): the transpose of gpt2c's (out, in) */
} HfTensor;

/* 12 per block, plus wte, wpe, ln_f.weight, ln_f.bias. */
int hf_gpt2_num_tensors(int L);
/* The table for model's config and parameters, in HF's order (wte, wpe,
 * h.0.*, ..., ln_f); out holds hf_gpt2_num_tensors(L) entries. */
void hf_gpt2_tensors(const GPT2 *model, HfTensor *out);

/* ---- reading a folder ---- */

typedef struct {
    const char *source; /* what was named: the folder, or a file in it */
    char *config_path;  /* its config.json, or NULL where there is none */
    char *index_path;   /* model.safetensors.index.json, or NULL for one file */
    SafeTensors *shards;
    int n_shards;
} HfModel;

/*
 * path: a folder holding model.safetensors or model.safetensors.index.json
 * (the single file wins where both are), or one of those files itself.
 * config.json is looked for in the same folder. Every shard's header is read
 * and checked, and so is the index against the shards.
 */
void hf_model_open(HfModel *m, const char *path);
void hf_model_close(HfModel *m);

/* Where the head count came from. */
typedef enum { HEADS_FROM_CONFIG, HEADS_FROM_FLAG, HEADS_FROM_TABLE } HeadsSource;

/*
 * The config: C and V from wte (V, C), maxT from wpe (maxT, C), L from the
 * blocks h.0 .. h.{L-1}; each must agree with config.json where it says so
 * (else one line naming both). NH is `heads` (--heads, 0 = not given), else
 * config.json's n_head, else the width table of the four released sizes
 * (C 768/1024/1280/1600 -> 12/16/20/25). config.json settings gpt2c cannot
 * compute (another activation, layer-norm epsilon, n_inner, attention
 * scaling, model_type) are errors.
 */
GPT2Config hf_model_config(const HfModel *m, int heads, HeadsSource *from, int *config_heads);

/* Copies every tensor into model (made by gpt2_init_empty with that config,
 * so the padded wte rows stay zero), widening F16/BF16 and transposing the
 * Conv1D weights. Tensors that are not part of GPT-2 are errors, except the
 * attention-mask buffers h.N.attn.bias / masked_bias; an lm_head.weight must
 * equal wte (gpt2c ties them). */
void hf_model_load(const HfModel *m, GPT2 *model);

/* ---- writing a folder ---- */

/*
 * dir/model.safetensors (unprefixed names, Conv1D weights (in, out), wte's V
 * rows, no lm_head: tied) in `dtype` (ST_F32, ST_F16 or ST_BF16), and
 * dir/config.json (GPT2LMHeadModel, with eot_id as bos and eos), each
 * written atomically.
 */
void hf_gpt2_save(const GPT2 *model, const char *dir, int dtype, int eot_id);

#endif
