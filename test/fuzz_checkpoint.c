/*
 * fuzz_checkpoint: libFuzzer target for the checkpoint loader (gpt2_load).
 * The input is a checkpoint file. A bad one must die() with a message (which
 * fuzz_run catches, see test/fuzz.h); a good one must load, and if it is
 * small, run a forward pass on a few tokens. Seeds: test/corpus/checkpoint.
 */
#include "common.h"
#include "gpt2.h"

static const char *path; /* the input, written to a file for the loader */

static void load_and_run(void *arg) {
    (void)arg;
    GPT2 model;
    gpt2_load(&model, path);
    const GPT2Config *c = &model.config;
    if (model.num_parameters < (1u << 20) && (size_t)c->V * c->C < (1u << 20)) {
        int T = c->maxT < 4 ? c->maxT : 4, tokens[4];
        for (int t = 0; t < T; t++) tokens[t] = t % c->V;
        gpt2_alloc(&model, 1, T);
        gpt2_forward(&model, tokens, tokens, 1, T);
    }
    gpt2_free(&model);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    path = fuzz_input_file("checkpoint.bin", data, size);
    fuzz_run(load_and_run, NULL);
    return 0;
}
