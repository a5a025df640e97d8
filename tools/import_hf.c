/*
 * import_hf: a Hugging Face GPT-2 folder (or its model.safetensors) -> a
 * gpt2c checkpoint (llm.c version 3, float32).
 *
 *   ./import_hf [--heads N] DIR|FILE OUT.bin
 *
 * DIR is what `from_pretrained` reads: config.json beside model.safetensors,
 * or beside model.safetensors.index.json and its shards. FILE is one of
 * those two files (its folder's config.json is read if there is one). The
 * shape comes from the tensors and must agree with config.json; the head
 * count comes from --heads, else config.json's n_head, else (no config.json:
 * said on stdout) the width of the four released GPT-2 sizes.
 *
 * The conversion (hf_gpt2.c; notes.md, "Importing Hugging Face weights"):
 * F32/F16/BF16 widened to float32, the Conv1D weights transposed, wte padded
 * from V to Vp rows with zeros, lm_head (if any) checked equal to wte, the
 * attention-mask buffers skipped, the "transformer." prefix optional.
 * Memory: the output model plus one tensor (raw and widened) at a time. The
 * output is written atomically. Exit 1 on bad data, 2 on bad usage.
 */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "gpt2.h"
#include "hf_gpt2.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: import_hf [--heads N] DIR|FILE OUT.bin\n"
            "  Converts a Hugging Face GPT-2 (gpt2, gpt2-medium, -large, -xl, or a fine-tuned\n"
            "  one of any shape) into a gpt2c checkpoint (llm.c version 3, float32).\n"
            "  DIR         a model folder: config.json + model.safetensors, or + the sharded\n"
            "              model.safetensors.index.json and its shard files\n"
            "  FILE        model.safetensors or model.safetensors.index.json itself\n"
            "              (the config.json beside it is read if there is one)\n"
            "  Tensors may be F32, F16 or BF16, named with or without 'transformer.'.\n"
            "  --heads N   attention heads, overriding config.json's n_head; without a\n"
            "              config.json, they come from the width of the released sizes\n"
            "              (768, 1024, 1280, 1600 -> 12, 16, 20, 25 heads)\n");
}

int main(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    int heads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--heads")) {
            heads = (int)parse_long(i + 1 < argc ? argv[i + 1] : NULL, "--heads", 1, 1 << 20);
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            die_usage("unknown option %s (see --help)", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            die_usage("too many arguments (see --help)");
        }
    }
    if (!in || !out) die_usage("usage: import_hf [--heads N] DIR|FILE OUT.bin (see --help)");

    HfModel hf;
    hf_model_open(&hf, in);
    HeadsSource from;
    int config_heads;
    GPT2Config c = hf_model_config(&hf, heads, &from, &config_heads);
    if (from == HEADS_FROM_TABLE && !hf.config_path)
        printf("import_hf: no config.json beside %s: NH=%d from the width of the released GPT-2 sizes (C=%d)\n", in,
               c.NH, c.C);
    if (from == HEADS_FROM_TABLE && hf.config_path)
        printf("import_hf: %s gives no n_head: NH=%d from the width of the released GPT-2 sizes (C=%d)\n",
               hf.config_path, c.NH, c.C);
    if (from == HEADS_FROM_FLAG && config_heads > 0 && config_heads != heads)
        printf("import_hf: --heads %d overrides config.json's n_head=%d\n", heads, config_heads);
    GPT2 model;
    gpt2_init_empty(&model, &c); /* zeroed, so the padded wte rows are zero */
    hf_model_load(&hf, &model);

    size_t unpadded = model.num_parameters - (size_t)(c.Vp - c.V) * c.C;
    printf("import_hf: %s: L=%d NH=%d C=%d V=%d (Vp=%d) maxT=%d, %zu parameters -> %s\n", in, c.L, c.NH, c.C, c.V,
           c.Vp, c.maxT, unpadded, out);
    gpt2_save(&model, out);
    hf_model_close(&hf);
    gpt2_free(&model);
    return 0;
}
