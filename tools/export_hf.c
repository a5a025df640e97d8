/*
 * export_hf: a gpt2c checkpoint -> a Hugging Face GPT-2 folder.
 *
 *   ./export_hf CKPT OUTDIR [--dtype f32|f16|bf16] [--vocab DIR]
 *
 * OUTDIR gets what GPT2LMHeadModel.from_pretrained(OUTDIR) and
 * GPT2Tokenizer.from_pretrained(OUTDIR) read as they are:
 *   model.safetensors  HF's own GPT-2 layout (hf_gpt2.c): unprefixed names,
 *                      Conv1D weights stored (in, out), wte's V rows (the
 *                      padding dropped), no lm_head (tied to wte); F32, or
 *                      rounded to nearest-even F16/BF16 with --dtype;
 *   config.json        the shape, GELU, layer-norm epsilon, bos/eos ids;
 *   vocab.json, merges.txt  when a vocabulary is at hand: --vocab DIR (its
 *                      size must equal the model's V), else the default
 *                      one ($GPT2_VOCAB_DIR, else data/gpt2) if it is
 *                      there and of that size.
 * Each file is written atomically. import_hf OUTDIR gives back the
 * checkpoint bit for bit (F32). Exit 1 on bad data, 2 on bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "generation.h" /* check_vocab_pair */
#include "gpt2.h"
#include "hf_gpt2.h"
#include "tokenizer.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: export_hf CKPT OUTDIR [--dtype f32|f16|bf16] [--vocab DIR]\n"
            "  Writes a gpt2c or llm.c checkpoint as a Hugging Face GPT-2 folder, which\n"
            "  GPT2LMHeadModel.from_pretrained(OUTDIR) and GPT2Tokenizer.from_pretrained(OUTDIR)\n"
            "  load: model.safetensors, config.json and, with a vocabulary, vocab.json + merges.txt.\n"
            "  OUTDIR is created if it does not exist.\n"
            "  --dtype T   f32 (default, exact), f16 or bf16 (rounded to nearest, ties to even)\n"
            "  --vocab DIR encoder.json + vocab.bpe or vocab.json + merges.txt to include\n"
            "              (default: $GPT2_VOCAB_DIR, else data/gpt2, where present and the\n"
            "              same size as the model's vocabulary; else none)\n"
            "  bos_token_id and eos_token_id are the vocabulary's <|endoftext|> id, or V-1\n"
            "  (50256 for GPT-2) without one.\n");
}

static int parse_dtype(const char *s) {
    if (!strcmp(s, "f32")) return ST_F32;
    if (!strcmp(s, "f16")) return ST_F16;
    if (!strcmp(s, "bf16")) return ST_BF16;
    die_usage("--dtype: '%s' is not f32, f16 or bf16", s);
}

static void make_folder(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) die("%s: cannot create directory: %s", dir, strerror(errno));
    if (path_kind(dir) != PATH_DIR) die("%s: exists and is not a directory", dir);
}

/* HF's wte has V rows; gpt2c's padding rows, zero in any trained model,
 * have nowhere to go. */
static void note_dropped_padding(const GPT2 *m) {
    const GPT2Config *c = &m->config;
    for (size_t i = (size_t)c->V * c->C; i < (size_t)c->Vp * c->C; i++)
        if (m->params.wte[i] != 0.0f) {
            printf("export_hf: note: wte rows %d..%d (padding) are not zero; HF's layout has no room for them\n",
                   c->V, c->Vp - 1);
            return;
        }
}

int main(int argc, char **argv) {
    const char *ckpt = NULL, *out = NULL, *vocab = NULL;
    int dtype = ST_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--dtype") || !strcmp(a, "--vocab")) {
            if (i + 1 >= argc) die_usage("%s needs a value", a);
            if (!strcmp(a, "--dtype")) dtype = parse_dtype(argv[++i]);
            else vocab = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            die_usage("unknown option %s (see --help)", a);
        } else if (!ckpt) {
            ckpt = a;
        } else if (!out) {
            out = a;
        } else {
            die_usage("too many arguments (see --help)");
        }
    }
    if (!ckpt || !out) die_usage("usage: export_hf CKPT OUTDIR [--dtype f32|f16|bf16] [--vocab DIR] (see --help)");
    GPT2 model;
    gpt2_load(&model, ckpt);
    const GPT2Config *c = &model.config;
    Tokenizer *tok = NULL;
    if (vocab) {
        tok = tokenizer_load(vocab);
        check_vocab_pair(&model, ckpt, tok, vocab);
    } else {
        /* the default vocabulary, if it is there and matches */
        const char *fallback = getenv("GPT2_VOCAB_DIR");
        if (!fallback || !*fallback) fallback = "data/gpt2";
        if (tokenizer_vocab_exists(fallback)) tok = tokenizer_load(fallback);
        if (tok && tokenizer_vocab_size(tok) != c->V) {
            printf("export_hf: note: the vocabulary in %s has %d tokens, the model %d: not included\n",
                   fallback, tokenizer_vocab_size(tok), c->V);
            tokenizer_free(tok);
            tok = NULL;
        }
    }
    int eot = tok ? tokenizer_eot_id(tok) : c->V - 1;

    make_folder(out);
    note_dropped_padding(&model);
    hf_gpt2_save(&model, out, dtype, eot);
    if (tok) tokenizer_save_hf(tok, out);
    size_t unpadded = model.num_parameters - (size_t)(c->Vp - c->V) * c->C;
    printf("export_hf: %s: L=%d NH=%d C=%d V=%d maxT=%d, %zu parameters as %s -> %s: config.json, "
           "model.safetensors%s\n",
           ckpt, c->L, c->NH, c->C, c->V, c->maxT, unpadded, SAFETENSORS_DTYPE_NAMES[dtype], out,
           tok ? ", vocab.json, merges.txt" : " (no vocabulary at hand: no vocab.json, merges.txt)");
    if (tok) tokenizer_free(tok);
    gpt2_free(&model);
    return 0;
}
