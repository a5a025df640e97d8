/*
 * fuzz_shard: libFuzzer target for the trainer's token-shard loader
 * (loader_init, loader_next in dataloader.c). The input
 * is a shard file; the loader must check it (header, size, ids) and die()
 * cleanly on a bad one (fuzz_run catches that, see test/fuzz.h), or serve
 * batches from a good one, across the end of an epoch. Seeds: test/corpus/shard.
 */
#include "common.h"
#include "dataloader.h"

static const char *path; /* the input, written to a file for the loader */

static void load_batches(void *arg) {
    (void)arg;
    DataLoader dl;
    loader_init(&dl, path, 2, 4, 50257, 1, 7);
    for (int i = 0; i < 3; i++) {
        loader_next(&dl);
        for (int k = 0; k < 8; k++)
            if (dl.inputs[k] < 0 || dl.inputs[k] >= 50257 || dl.targets[k] < 0 || dl.targets[k] >= 50257) abort();
    }
    loader_free(&dl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    path = fuzz_input_file("shard.bin", data, size);
    fuzz_run(load_batches, NULL);
    return 0;
}
