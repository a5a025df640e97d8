/*
 * fuzz_safetensors: libFuzzer target for import_hf's safetensors reader and
 * converter (tools/import_hf.c, included here with IMPORT_HF_NO_MAIN to reach
 * its static functions). The input is a .safetensors file; everything up to
 * the finished model in memory runs: header parse, range checks, config,
 * conversion plan, the copies and the lm_head check. Bad files must die()
 * cleanly (fuzz_run catches that, see test/fuzz.h). Seeds: test/corpus/safetensors.
 */
#define IMPORT_HF_NO_MAIN
#include "../tools/import_hf.c"

static const char *path; /* the input, written to a file for the loader */

static void import(void *arg) {
    (void)arg;
    FILE *f = xfopen(path, "rb");
    SafeTensors st;
    safetensors_open(&st, f, path);
    GPT2Config c = read_config(&st, 1); /* one head divides every width */
    GPT2 model;
    gpt2_init_empty(&model, &c);
    Plan plan = make_plan(&st, &model);
    Scratch scratch = {0};
    run_plan(&plan, f, &st, &scratch);
    check_lm_head(f, &st, &model, &scratch);
    xfclose(f, path);
    free(scratch.raw);
    free(scratch.values);
    free(plan.copies);
    safetensors_free(&st);
    gpt2_free(&model);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    path = fuzz_input_file("model.safetensors", data, size);
    fuzz_run(import, NULL);
    return 0;
}
