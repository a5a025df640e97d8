/*
 * fuzz_safetensors: libFuzzer target for import_hf's reader (safetensors.c
 * and hf_gpt2.c). The input is a model.safetensors file; everything up to the
 * finished model in memory runs: header parse, range checks, config, the
 * tensor table, the copies and the lm_head check. Bad files must die()
 * cleanly (fuzz_run catches that, see test/fuzz.h). Seeds: test/corpus/safetensors.
 */
#include "hf_gpt2.h"

static const char *path; /* the input, written to a file for the loader */

static void import(void *arg) {
    (void)arg;
    HfModel hf;
    hf_model_open(&hf, path);
    HeadsSource from;
    int config_heads;
    GPT2Config c = hf_model_config(&hf, 1, &from, &config_heads); /* one head divides every width */
    GPT2 model;
    gpt2_init_empty(&model, &c);
    hf_model_load(&hf, &model);
    hf_model_close(&hf);
    gpt2_free(&model);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    path = fuzz_input_file("model.safetensors", data, size);
    fuzz_run(import, NULL);
    return 0;
}
