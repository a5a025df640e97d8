/*
 * fuzz_lora: libFuzzer target for the LoRA adapters file (lora_read_info,
 * lora_load, as ./train --resume and ./merge_lora read it). The input is an
 * adapters file for a fixed tiny base model (below); the seed in
 * test/corpus/lora is a valid one, made for that base by `fuzz_lora --seed
 * FILE`, so mutations start past the fingerprint check. A bad file must
 * die() with a message; a good one must load, run a forward pass through the
 * adapters and merge.
 */
#include <string.h>

#include "common.h"
#include "gpt2.h"

static const GPT2Config BASE = {.maxT = 4, .V = 8, .Vp = 8, .L = 1, .NH = 1, .C = 8};
static const char *path; /* the input, written to a file for the loader */

static void load_and_run(void *arg) {
    (void)arg;
    GPT2 model;
    gpt2_init_random(&model, &BASE, 1);
    LoRAFileInfo info = lora_read_info(path);
    (void)info;
    lora_load(&model, path);
    int tokens[4] = {1, 2, 3, 4};
    gpt2_alloc(&model, 1, 4);
    gpt2_forward(&model, tokens, tokens, 1, 4);
    lora_merge(&model);
    gpt2_free(&model);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    path = fuzz_input_file("lora.bin", data, size);
    fuzz_run(load_and_run, NULL);
    return 0;
}

/* `fuzz_lora --seed FILE` writes the seed: rank-2 adapters on all four
 * targets of the base, with B nonzero. libFuzzer calls this first. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    if (*argc == 3 && !strcmp((*argv)[1], "--seed")) {
        GPT2 model;
        gpt2_init_random(&model, &BASE, 1);
        lora_init(&model, 2, 3.0f, (1u << NUM_LORA_TARGETS) - 1, 1);
        for (size_t i = 0; i < model.lora.num_parameters; i++) model.lora.params_memory[i] += 0.01f * (float)(i % 7);
        lora_save(&model, "base.bin", (*argv)[2]);
        gpt2_free(&model);
        exit(0);
    }
    return 0;
}
