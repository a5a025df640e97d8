/*
 * test_tokenizer: the tokenizer through its C API.
 *   - every case in fixtures/tokenizer, encode and decode, byte for byte
 *   - the pre-tokenizer on hand-made edge cases of GPT-2's pattern
 *   - the heap BPE against a naive reference BPE, and decode(encode(x)) == x,
 *     on many thousands of seeded random byte strings (invalid UTF-8 too)
 *   - gpt2_tokenizer.bin written and read back, agreeing with the json vocab
 *   - <|endoftext|> as text vs --allow-special, and step-wise encoding
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../utf8.h"
#include "check.h"
#include "common.h"
#include "tokenizer.h"

#define VOCAB_DIR SHARED_DIR "/data/gpt2"
#define FIXTURE_DIR SHARED_DIR "/fixtures/tokenizer"

static int ids_equal(const TokenIds *a, const TokenIds *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->ids, b->ids, a->len * sizeof(int)) == 0);
}

/* Index of the first difference, for failure messages. */
static size_t first_difference(const int *a, size_t na, const int *b, size_t nb) {
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

/* ------------------------------------------------------------------ */

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_fixture(Tokenizer *tok, const char *name) {
    char path[1024], label[300];
    size_t text_len, ids_len;
    snprintf(path, sizeof path, "%s/%s.txt", FIXTURE_DIR, name);
    uint8_t *text = (uint8_t *)read_whole_file(path, &text_len);
    snprintf(path, sizeof path, "%s/%s.ids", FIXTURE_DIR, name);
    uint8_t *ids_text = (uint8_t *)read_whole_file(path, &ids_len);
    TokenIds want = {0}, got = {0};
    size_t bad;
    if (!parse_token_ids(ids_text, ids_len, tokenizer_vocab_size(tok), &want, &bad)) {
        snprintf(label, sizeof label, "fixture_%s", name);
        CHECK(0, label, "%s: bad id at byte %zu", path, bad);
        return;
    }
    tokenizer_encode(tok, text, text_len, 0, &got);
    size_t at = first_difference(want.ids, want.len, got.ids, got.len);
    snprintf(label, sizeof label, "encode_%s", name);
    CHECK(ids_equal(&want, &got), label, "%zu ids, want %zu; first difference at index %zu (got %d, want %d)", got.len,
          want.len, at, at < got.len ? got.ids[at] : -1, at < want.len ? want.ids[at] : -1);
    size_t out_len;
    uint8_t *out = tokenizer_decode(tok, want.ids, want.len, &out_len);
    snprintf(label, sizeof label, "decode_%s", name);
    CHECK(out_len == text_len && memcmp(out, text, text_len) == 0, label, "%zu bytes, want %zu", out_len, text_len);
    free(out);
    free(text);
    free(ids_text);
    token_ids_free(&want);
    token_ids_free(&got);
}

/* Every NAME.txt with a NAME.ids beside it, in name order. */
static void test_fixtures(Tokenizer *tok) {
    DIR *dir = opendir(FIXTURE_DIR);
    if (!dir) {
        check_skip("fixtures", FIXTURE_DIR " not found");
        return;
    }
    char *names[1024];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) && n < 1024) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".txt") == 0) {
            names[n] = xmalloc(len - 3, "name");
            memcpy(names[n], e->d_name, len - 4);
            names[n++][len - 4] = '\0';
        }
    }
    closedir(dir);
    qsort(names, n, sizeof *names, compare_names);
    for (size_t i = 0; i < n; i++) {
        test_fixture(tok, names[i]);
        free(names[i]);
    }
    CHECK(n >= 30, "fixtures_found", "only %zu cases in %s", n, FIXTURE_DIR);
}

/* ------------------------------------------------------------------ */
/* The pre-tokenizer on its own: input -> pieces joined by '|'          */

typedef struct {
    const char *text, *pieces;
} PieceCase;

static const PieceCase piece_cases[] = {
    {"Hello world", "Hello| world"},
    {"a  b", "a| | b"},                        /* \s+(?!\S) leaves the last space to " b" */
    {"a \n b", "a| \n| b"},
    {"x\n\ny", "x|\n|\n|y"},                   /* the last \n stands alone: no ' ?' for it */
    {"end   ", "end|   "},                     /* white space at the end: the whole run */
    {"don't DON'T", "don|'t| DON|'|T"},        /* contractions are lower case only */
    {"we'll they've you're I'm he'd", "we|'ll| they|'ve| you|'re| I|'m| he|'d"},
    {" 's", " '|s"},                           /* a contraction only where a piece starts */
    {"!!'s", "!!'|s"},
    {" 123abc", " 123|abc"},
    {"a\xc2\xa0" "b", "a|\xc2\xa0|b"},         /* U+00A0 is white space */
    {" \xc2\xa0x", " |\xc2\xa0|x"},            /* ' ?' takes only U+0020 */
    {"a\xef\xbb\xbf" "b", "a|\xef\xbb\xbf|b"}, /* U+FEFF is not */
    {"a\xc2\x85\xc2\x85" "b", "a|\xc2\x85|\xc2\x85|b"}, /* U+0085 is */
    {"e\xcc\x81t\xc3\xa9", "e|\xcc\x81|t\xc3\xa9"},   /* combining marks are not \p{L} */
    {"x\xef\xbc\x91\xe2\x85\xab\xc2\xbd", "x|\xef\xbc\x91\xe2\x85\xab\xc2\xbd"}, /* Nd Nl No */
    {"a\xff" "b \xfe\xc3", "a|\xff|b| \xfe\xc3"}, /* invalid UTF-8 is "other" */
    {"\xe4\xb8\xad\xe6\x96\x87\xef\xbc\x8c\xe5\xad\x97", "\xe4\xb8\xad\xe6\x96\x87|\xef\xbc\x8c|\xe5\xad\x97"},
    {"\r\n\r\nx", "\r\n\r|\n|x"},
    {"\t x", "\t| x"},
};

static void test_pretokenize(void) {
    int ok = 1;
    for (size_t c = 0; c < sizeof piece_cases / sizeof *piece_cases && ok; c++) {
        const uint8_t *t = (const uint8_t *)piece_cases[c].text;
        size_t len = strlen(piece_cases[c].text);
        char joined[256] = "";
        for (size_t pos = 0; pos < len;) {
            size_t end = pretokenize_next(t, len, pos);
            if (pos) strcat(joined, "|");
            strncat(joined, (const char *)t + pos, end - pos);
            pos = end;
        }
        if (strcmp(joined, piece_cases[c].pieces) != 0) {
            ok = 0;
            CHECK(0, "pretokenize_edge_cases", "case %zu: got \"%s\", want \"%s\"", c, joined, piece_cases[c].pieces);
        }
    }
    if (ok) CHECK(1, "pretokenize_edge_cases", NULL);
}

/* ------------------------------------------------------------------ */
/* Random strings                                                      */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rng_next(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}
static uint32_t rng_below(uint32_t n) { return rng_next() % n; }

/* Snippets of many scripts and classes, valid UTF-8 each. */
static const char *const snippets[] = {
    " ", "  ", "\n", "\r\n", "\t", "\xc2\xa0", "\xc2\x85", "\xe3\x80\x80", "\xef\xbb\xbf", "\xe2\x80\xa8",
    "the", " the", "Hello", " world", "'s", "'t", "'re", "'ll", "'S", "don", "0", "42", "2024", "\xd9\xa3",
    "\xe2\x85\xab", "\xc2\xbd", ".", ",", "!", "?", "...", "\"", "(", ")", "{", "}", ";", "->", "==", "#",
    "\xc3\xa9", "\xc3\x9f", "\xce\xb1\xce\xb2\xce\xb3", "\xd0\x96\xd0\xb8\xd0\xb7\xd0\xbd\xd1\x8c",
    "\xe4\xb8\xad\xe6\x96\x87", "\xe7\x9a\x84", "\xef\xbc\x8c", "\xe3\x80\x82", "\xe3\x81\xb2\xe3\x82\x89",
    "\xed\x95\x9c\xea\xb5\xad", "\xd7\xa2\xd7\x91", "\xd8\xb9\xd8\xb1\xd8\xa8", "\xe0\xa4\xb9\xe0\xa4\xbf",
    "\xcc\x81", "\xf0\x9f\x98\x80", "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", "\xe2\x80\x8d", "\xf0\x9f\x87\xba",
};

typedef enum { GEN_BYTES, GEN_SNIPPETS, GEN_RUNS, GEN_MIXED, N_GENERATORS } Generator;
static const char *const generator_names[] = {"random_bytes", "mixed_scripts", "long_runs", "scripts_with_invalid_utf8"};

static void append(uint8_t *buf, size_t *n, size_t cap, const void *s, size_t len) {
    if (*n + len > cap) len = cap - *n;
    memcpy(buf + *n, s, len);
    *n += len;
}

/* A run of up to 3000 copies of one character (spaces, digits, letters, ...). */
static void append_run(uint8_t *buf, size_t *n, size_t cap) {
    static const char *const run_chars[] = {" ", "\n", "9", "a", "-", "\xe4\xb8\xad", "\xc2\xa0", "\xff"};
    const char *c = run_chars[rng_below(8)];
    size_t count = 1 + rng_below(rng_below(4) == 0 ? 3000 : 40);
    for (size_t i = 0; i < count; i++) append(buf, n, cap, c, strlen(c));
}

static size_t random_string(Generator g, uint8_t *buf, size_t cap) {
    size_t n = 0, parts = rng_below(60);
    for (size_t p = 0; p < parts; p++) {
        uint32_t r = rng_below(100);
        if (g == GEN_BYTES || (g == GEN_MIXED && r < 10)) {
            uint8_t b = (uint8_t)rng_next();
            append(buf, &n, cap, &b, 1);
        } else if (g == GEN_RUNS && r < 30) {
            append_run(buf, &n, cap);
        } else {
            const char *s = snippets[rng_below(sizeof snippets / sizeof *snippets)];
            append(buf, &n, cap, s, strlen(s));
        }
    }
    return n;
}

/* GPT-2's merge loop as written in its paper's code: scan every pair, merge the best, repeat. */
static void naive_bpe(const Tokenizer *tok, const uint8_t *piece, size_t n, TokenIds *out) {
    int *sym = xmalloc(n * sizeof(int), "naive bpe");
    for (size_t i = 0; i < n; i++) sym[i] = tokenizer_byte_id(tok, piece[i]);
    for (;;) {
        int best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            int r = tokenizer_pair_rank(tok, sym[i], sym[i + 1]);
            if (r >= 0 && (best < 0 || r < best)) best = r, at = i;
        }
        if (best < 0) break;
        sym[at] = 256 + best; /* merge line i makes id 256 + i */
        memmove(sym + at + 1, sym + at + 2, (n - at - 2) * sizeof(int));
        n--;
    }
    for (size_t i = 0; i < n; i++) token_ids_push(out, sym[i]);
    free(sym);
}

static void naive_encode(const Tokenizer *tok, const uint8_t *text, size_t len, TokenIds *out) {
    for (size_t pos = 0; pos < len;) {
        size_t end = pretokenize_next(text, len, pos);
        naive_bpe(tok, text + pos, end - pos, out);
        pos = end;
    }
}

static void test_random_strings(Tokenizer *tok) {
    enum { PER_GENERATOR = 5000, CAP = 8192 };
    uint8_t *buf = xmalloc(CAP, "random string");
    for (int g = 0; g < N_GENERATORS; g++) {
        char label[64];
        int round_trip_ok = 1, naive_ok = 1;
        size_t total = 0;
        for (int k = 0; k < PER_GENERATOR && round_trip_ok && naive_ok; k++) {
            size_t n = random_string((Generator)g, buf, CAP);
            total += n;
            TokenIds ids = {0}, ref = {0};
            tokenizer_encode(tok, buf, n, 0, &ids);
            size_t out_len;
            uint8_t *out = tokenizer_decode(tok, ids.ids, ids.len, &out_len);
            if (out_len != n || memcmp(out, buf, n) != 0) {
                round_trip_ok = 0;
                snprintf(label, sizeof label, "round_trip_%s", generator_names[g]);
                CHECK(0, label, "string %d (%zu bytes) decodes to %zu different bytes", k, n, out_len);
            }
            if (k % 4 == 0 && n <= 1024) { /* the naive loop is quadratic: check some */
                naive_encode(tok, buf, n, &ref);
                if (!ids_equal(&ids, &ref)) {
                    naive_ok = 0;
                    snprintf(label, sizeof label, "heap_bpe_equals_naive_%s", generator_names[g]);
                    size_t at = first_difference(ids.ids, ids.len, ref.ids, ref.len);
                    CHECK(0, label, "string %d: first difference at id index %zu", k, at);
                }
            }
            free(out);
            token_ids_free(&ids);
            token_ids_free(&ref);
        }
        snprintf(label, sizeof label, "round_trip_%s", generator_names[g]);
        if (round_trip_ok) CHECK(total > 0, label, "generated nothing");
        snprintf(label, sizeof label, "heap_bpe_equals_naive_%s", generator_names[g]);
        if (naive_ok) CHECK(1, label, NULL);
    }
    free(buf);
}

/* ------------------------------------------------------------------ */

/* A token that is one whole piece must encode to itself (tiktoken looks such pieces up directly). */
static void test_tokens_encode_to_themselves(Tokenizer *tok) {
    int bad = -1, checked = 0;
    for (int id = 0; id < tokenizer_eot_id(tok) && bad < 0; id++) {
        size_t n;
        const uint8_t *b = tokenizer_token_bytes(tok, id, &n);
        if (pretokenize_next(b, n, 0) != n) continue;
        TokenIds ids = {0};
        tokenizer_encode(tok, b, n, 0, &ids);
        if (ids.len != 1 || ids.ids[0] != id) bad = id;
        token_ids_free(&ids);
        checked++;
    }
    CHECK(bad < 0 && checked > 40000, "single_piece_tokens_encode_to_themselves", "id %d (checked %d)", bad, checked);
}

static void test_bin_round_trip(Tokenizer *tok) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/gpt2c_test_tokenizer_%ld.bin", (long)getpid());
    tokenizer_save_bin(tok, path);
    Tokenizer *bin = tokenizer_load_bin(path);
    remove(path);
    int same = tokenizer_vocab_size(bin) == tokenizer_vocab_size(tok) && tokenizer_eot_id(bin) == tokenizer_eot_id(tok);
    int bad = -1;
    for (int id = 0; same && id < tokenizer_vocab_size(tok) && bad < 0; id++) {
        size_t na, nb;
        const uint8_t *a = tokenizer_token_bytes(tok, id, &na), *b = tokenizer_token_bytes(bin, id, &nb);
        if (na != nb || memcmp(a, b, na) != 0) bad = id;
    }
    CHECK(same && bad < 0, "tokenizer_bin_round_trip_all_ids", "vocab %d/%d, eot %d/%d, first different id %d",
          tokenizer_vocab_size(bin), tokenizer_vocab_size(tok), tokenizer_eot_id(bin), tokenizer_eot_id(tok), bad);
    CHECK(tokenizer_vocab_size(tok) == 50257 && tokenizer_eot_id(tok) == 50256, "gpt2_vocab_shape", "%d tokens, eot %d",
          tokenizer_vocab_size(tok), tokenizer_eot_id(tok));
    CHECK(!tokenizer_can_encode(bin) && tokenizer_can_encode(tok), "bin_tokenizer_is_decode_only", NULL);
    size_t n;
    CHECK(tokenizer_token_bytes(bin, 50257, &n) == NULL && tokenizer_token_bytes(bin, -1, &n) == NULL,
          "token_bytes_rejects_out_of_range", NULL);
    tokenizer_free(bin);
}

static void test_special(Tokenizer *tok) {
    const char *text = "a<|endoftext|>b<|endoftext|>";
    TokenIds plain = {0}, special = {0};
    tokenizer_encode(tok, (const uint8_t *)text, strlen(text), 0, &plain);
    tokenizer_encode(tok, (const uint8_t *)text, strlen(text), 1, &special);
    int plain_has_eot = 0;
    for (size_t i = 0; i < plain.len; i++) plain_has_eot |= plain.ids[i] == 50256;
    /* a=64, b=65 */
    int want[] = {64, 50256, 65, 50256};
    CHECK(special.len == 4 && memcmp(special.ids, want, sizeof want) == 0, "allow_special_maps_endoftext",
          "%zu ids", special.len);
    size_t n;
    uint8_t *back = tokenizer_decode(tok, plain.ids, plain.len, &n);
    CHECK(!plain_has_eot && plain.len > 4 && n == strlen(text) && memcmp(back, text, n) == 0,
          "endoftext_is_ordinary_text_by_default", "%zu ids", plain.len);
    free(back);
    token_ids_free(&plain);
    token_ids_free(&special);
}

/* Encoding in small steps gives the same ids as one call. */
static void test_steps(Tokenizer *tok) {
    size_t len;
    char path[] = FIXTURE_DIR "/english_paragraph.txt";
    if (!path_exists(path)) {
        check_skip("encode_in_steps", "english_paragraph fixture not found");
        return;
    }
    uint8_t *text = (uint8_t *)read_whole_file(path, &len);
    TokenIds whole = {0}, steps = {0};
    tokenizer_encode(tok, text, len, 0, &whole);
    for (size_t pos = 0; pos < len;) pos = tokenizer_encode_step(tok, text, len, pos, 7, &steps);
    CHECK(ids_equal(&whole, &steps), "encode_in_steps", "%zu vs %zu ids", steps.len, whole.len);
    free(text);
    token_ids_free(&whole);
    token_ids_free(&steps);
}

/* Streaming decode: feeding the tokens of a text one at a time through a
 * Utf8Stream releases exactly the text, and for valid UTF-8 every released
 * chunk holds whole characters only, although tokens split characters. */
static int all_complete(const uint8_t *s, size_t n) {
    uint32_t cp;
    for (size_t i = 0; i < n; i += utf8_next(s + i, n - i, &cp))
        if ((utf8_next(s + i, n - i, &cp), cp) == UTF8_INVALID) return 0;
    return 1;
}

static void stream_case(Tokenizer *tok, const char *name, const uint8_t *text, size_t len, int valid) {
    TokenIds ids = {0};
    tokenizer_encode(tok, text, len, 0, &ids);
    uint8_t *got = xmalloc(len + 4, "stream output"), chunk[TOKENIZER_MAX_TOKEN_BYTES + 3];
    size_t n = 0, split_tokens = 0;
    int chunks_complete = 1;
    Utf8Stream s = {0};
    for (size_t i = 0; i < ids.len; i++) {
        size_t tlen;
        const uint8_t *bytes = tokenizer_token_bytes(tok, ids.ids[i], &tlen);
        split_tokens += !all_complete(bytes, tlen);
        size_t k = utf8_stream_push(&s, bytes, tlen, chunk);
        chunks_complete &= all_complete(chunk, k);
        if (n + k > len) break;
        memcpy(got + n, chunk, k);
        n += k;
    }
    size_t k = utf8_stream_flush(&s, chunk);
    if (n + k <= len) memcpy(got + n, chunk, k);
    n += k;
    char label[96];
    snprintf(label, sizeof label, "utf8_stream/%s", name);
    CHECK(n == len && !memcmp(got, text, len) && (!valid || (chunks_complete && split_tokens > 0)), label,
          "%zu of %zu bytes back, chunks complete %d, tokens splitting a character %zu", n, len, chunks_complete,
          split_tokens);
    free(got);
    token_ids_free(&ids);
}

static void test_utf8_stream(Tokenizer *tok) {
    const char *chinese = "今天天气很好，我们去公园散步吧。人工智能正在改变世界，机器学习模型越来越强大。";
    const char *emoji = "🙂 family: 👨‍👩‍👧‍👦, flags 🇯🇵🇫🇷, tea 🍵 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢";
    stream_case(tok, "chinese", (const uint8_t *)chinese, strlen(chinese), 1);
    stream_case(tok, "emoji", (const uint8_t *)emoji, strlen(emoji), 1);
    Rng r;
    rng_seed(&r, 5);
    uint8_t junk[4000];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)rng_u32(&r); /* mostly invalid UTF-8 */
    stream_case(tok, "random_bytes", junk, sizeof junk, 0);
}

int main(void) {
    test_pretokenize();
    if (!path_exists(VOCAB_DIR "/encoder.json")) {
        check_skip("tokenizer_vocab", VOCAB_DIR " not found");
        return 0;
    }
    Tokenizer *tok = tokenizer_load(VOCAB_DIR);
    test_fixtures(tok);
    test_special(tok);
    test_steps(tok);
    test_bin_round_trip(tok);
    test_tokens_encode_to_themselves(tok);
    test_random_strings(tok);
    test_utf8_stream(tok);
    tokenizer_free(tok);
    return check_failures ? 1 : 0;
}
