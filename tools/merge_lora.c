/*
 * merge_lora: a LoRA run's adapters folded into its base checkpoint.
 *
 *   ./merge_lora RUN_DIR|ADAPTERS OUT.bin [--base CKPT]
 *
 * A run trained with `./train --lora R` keeps the base checkpoint as it was
 * and saves only the adapters (lora_N.bin). This writes an ordinary
 * checkpoint: the base with every adapted weight W replaced by
 * W + (alpha/R) B A (lora_merge), every other tensor bit for bit as in the
 * base. generate, export_hf, inspect and train --init read it as usual.
 * RUN_DIR: the newest complete checkpoint in it; ADAPTERS: that file. The
 * base is the checkpoint the adapters name (as training was given it, so run
 * this from the same folder) unless --base names it; either way the
 * adapters' fingerprint of their base must match. Written atomically.
 */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "gpt2.h"
#include "rundir.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: merge_lora RUN_DIR|ADAPTERS OUT.bin [--base CKPT]\n"
            "  Writes a full checkpoint from a LoRA run (./train --lora R): its base with every\n"
            "  adapted weight W replaced by W + (alpha/R) B A; the other tensors are the base's.\n"
            "  RUN_DIR     the run folder: its newest checkpoint's adapters (lora_N.bin)\n"
            "  ADAPTERS    or one adapters file\n"
            "  --base CKPT the base checkpoint (default: the path the adapters name, as\n"
            "              training was given it)\n");
}

int main(int argc, char **argv) {
    const char *src = NULL, *out = NULL, *base = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--base")) {
            if (i + 1 >= argc) die_usage("--base needs a value");
            base = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            die_usage("unknown option %s (see --help)", a);
        } else if (!src) {
            src = a;
        } else if (!out) {
            out = a;
        } else {
            die_usage("too many arguments (see --help)");
        }
    }
    if (!src || !out) die_usage("usage: merge_lora RUN_DIR|ADAPTERS OUT.bin [--base CKPT] (see --help)");

    char adapters[1200];
    if (path_kind(src) == PATH_DIR) {
        int step = newest_checkpoint(src);
        if (step < 0) die("%s: no checkpoint (no state_N.bin with its lora_N.bin)", src);
        const char *kind = checkpoint_weights_kind(src, step);
        ckpt_path(adapters, sizeof adapters, src, kind, step);
        if (strcmp(kind, "lora") != 0)
            die("%s: a full fine-tuning checkpoint, not LoRA adapters: it needs no merge", adapters);
    } else {
        if (strlen(src) >= sizeof adapters) die("%s: path too long", src);
        strcpy(adapters, src);
    }
    LoRAFileInfo info = lora_read_info(adapters);
    if (!base) {
        if (!info.base_path[0]) die("%s: names no base checkpoint: give it with --base CKPT", adapters);
        base = info.base_path;
    }
    GPT2 model;
    gpt2_load(&model, base);
    lora_load(&model, adapters);
    char list[64];
    lora_target_list(model.lora.targets, list, sizeof list);
    lora_merge(&model);
    gpt2_save(&model, out);
    printf("merge_lora: %s (rank %d, alpha %g, on %s) + %s -> %s\n", adapters, info.rank, info.alpha, list, base, out);
    gpt2_free(&model);
    return 0;
}
