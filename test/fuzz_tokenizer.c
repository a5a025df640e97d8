/*
 * fuzz_tokenizer: libFuzzer target (make fuzz-tokenizer). For any bytes x,
 * decode(encode(x)) == x, with and without --allow-special, and every id is
 * in range. The vocabulary comes from $GPT2_VOCAB_DIR (default data/gpt2).
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

static Tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *dir = getenv("GPT2_VOCAB_DIR");
    tok = tokenizer_load(dir && *dir ? dir : "data/gpt2");
    return 0;
}

static void check_round_trip(const uint8_t *data, size_t size, int allow_special) {
    TokenIds ids = {0};
    tokenizer_encode(tok, data, size, allow_special, &ids);
    for (size_t i = 0; i < ids.len; i++)
        if (ids.ids[i] < 0 || ids.ids[i] >= tokenizer_vocab_size(tok)) abort();
    size_t len;
    uint8_t *back = tokenizer_decode(tok, ids.ids, ids.len, &len);
    if (len != size || memcmp(back, data, size) != 0) abort();
    free(back);
    token_ids_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_round_trip(data, size, 0);
    check_round_trip(data, size, 1);
    return 0;
}
