/*
 * fuzz_vocab: libFuzzer target for the vocabulary loaders. An input starting
 * with 'B' is a gpt2_tokenizer.bin (the rest of it; tokenizer_load_bin);
 * any other is encoder.json, a NUL byte, then vocab.bpe (tokenizer_load).
 * Bad files must die() cleanly (fuzz_run catches that, see test/fuzz.h); a
 * vocabulary that loads must round-trip a string with every kind of
 * character through encode and decode. Seeds: test/corpus/vocab.
 */
#include <string.h>

#include "tokenizer.h"

static char dir[64], json_path[96], bpe_path[96], bin_path[96];

static void check_round_trip(Tokenizer *tok) {
    static const char text[] = "Hello, world! It's 2024: \xe4\xb8\xad\xe6\x96\x87 \xff\x00  tabs\t\n<|endoftext|>";
    for (int special = 0; special < 2; special++) {
        TokenIds ids = {0};
        tokenizer_encode(tok, (const uint8_t *)text, sizeof text - 1, special, &ids);
        size_t len;
        uint8_t *back = tokenizer_decode(tok, ids.ids, ids.len, &len);
        if (len != sizeof text - 1 || memcmp(back, text, len) != 0) abort();
        free(back);
        token_ids_free(&ids);
    }
}

static void load_json(void *arg) {
    (void)arg;
    Tokenizer *tok = tokenizer_load(dir);
    check_round_trip(tok);
    tokenizer_free(tok);
}

static void load_bin(void *arg) {
    (void)arg;
    Tokenizer *tok = tokenizer_load_bin(bin_path);
    int ids[3] = {0, tokenizer_eot_id(tok), tokenizer_vocab_size(tok) - 1};
    size_t len;
    free(tokenizer_decode(tok, ids, 3, &len));
    tokenizer_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s", fuzz_temp_dir());
        snprintf(json_path, sizeof json_path, "%s/encoder.json", dir);
        snprintf(bpe_path, sizeof bpe_path, "%s/vocab.bpe", dir);
        snprintf(bin_path, sizeof bin_path, "%s/tokenizer.bin", dir);
    }
    if (size > 0 && data[0] == 'B') {
        fuzz_write_file(bin_path, data + 1, size - 1);
        fuzz_run(load_bin, NULL);
        return 0;
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    fuzz_write_file(json_path, data, json_len);
    fuzz_write_file(bpe_path, data + json_len + (nul != NULL), size - json_len - (nul != NULL));
    fuzz_run(load_json, NULL);
    return 0;
}
