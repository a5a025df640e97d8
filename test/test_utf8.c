/*
 * test_utf8: the streaming decoder that ./generate prints through (Utf8Stream
 * in tokenizer.c), against a table of byte sequences and the text Python's
 * bytes.decode('utf-8', errors='replace') makes of them.
 *
 * The expected column follows the Unicode standard's rule for U+FFFD
 * substitution (section 3.9, "maximal subparts"): a sequence that goes wrong
 * after k >= 1 bytes that could still have begun a well-formed character
 * (Table 3-7) becomes one U+FFFD for those k bytes, and the byte that broke
 * it starts afresh; a byte that can begin nothing becomes one U+FFFD on its
 * own. Rows table_3_8 .. table_3_11 are the standard's own examples (Tables
 * 3-8 to 3-11); the others are the edges of Table 3-7, one by one.
 *
 * Every row is decoded in one push, one byte per push, and split in two at
 * every position: the answer must not depend on how tokens cut the bytes.
 * With replace off, the stream must give back exactly the input.
 */
#include <stdlib.h>
#include <string.h>

#include "../common.h"
#include "../tokenizer.h"
#include "../utf8.h"
#include "check.h"

#define R "\xEF\xBF\xBD" /* U+FFFD in UTF-8 */

typedef struct {
    const char *name;
    const char *in;
    size_t in_len;
    const char *want; /* with replace on */
    size_t want_len;
} Row;
#define ROW(name, in, want) {name, in, sizeof(in) - 1, want, sizeof(want) - 1}

static const Row ROWS[] = {
    ROW("empty", "", ""),
    ROW("ascii_and_nul", "a\0b~\x7f", "a\0b~\x7f"),
    ROW("valid_every_length", "\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x99\x82", "\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x99\x82"),
    ROW("valid_range_edges", "\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",
        "\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF"),
    /* 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 */
    ROW("table_3_8", "a\xF1\x80\x80\xE1\x80\xC2" "b\x80" "c\x80\xBF" "d", "a" R R R "b" R "c" R R "d"),
    /* non-shortest forms: no lead C0/C1, and E0 80, F0 81 start nothing longer than the lead */
    ROW("table_3_9_overlong", "\xC0\xAF\xE0\x80\xBF\xF0\x81\x82" "A", R R R R R R R R "A"),
    /* encoded surrogates: ED A0..BF */
    ROW("table_3_10_surrogates", "\xED\xA0\x80\xED\xBF\xBF\xED\xAF" "A", R R R R R R R R "A"),
    /* above U+10FFFF, a byte that is never UTF-8, stray continuations */
    ROW("table_3_11_out_of_range", "\xF4\x91\x92\x93\xFF" "A\x80\xBF" "B", R R R R R "A" R R "B"),
    /* truncated sequences, each one maximal subpart */
    ROW("table_3_12_truncated", "\xE1\x80\xE2\xF0\x91\x92\xF1\xBF" "A", R R R R "A"),
    ROW("truncated_at_end_3", "\xE4\xB8", R),
    ROW("truncated_at_end_4", "\xF0\x9F\x99", R),
    ROW("lone_lead_at_end", "x\xDF", "x" R),
    ROW("lead_then_ascii", "\xE4\xB8" "A", R "A"),
    ROW("lead_then_lead", "\xF1\x80\x80\xC2\x80", R "\xC2\x80"),
    ROW("never_leads", "\xC0\x80\xC1\xBF\xF5\x80\xFE\xFF", R R R R R R R R),
    ROW("e0_second_byte_low", "\xE0\x9F\x80", R R R),
    ROW("e0_prefix_at_end", "\xE0\xA0", R),
    ROW("ed_prefix_at_end", "\xED\x9F", R),
    ROW("ed_surrogate_at_end", "\xED\xA0", R R),
    ROW("f0_overlong", "\xF0\x8F\xBF\xBF", R R R R),
    ROW("f4_above_max", "\xF4\x90\x80\x80", R R R R),
    ROW("f4_prefix_at_end", "\xF4\x8F\xBF", R),
    ROW("stray_continuation", "a\x80" "b", "a" R "b"),
};
enum { NUM_ROWS = sizeof ROWS / sizeof ROWS[0] };

/* The input pushed in pieces that end at cuts[0..ncuts) (increasing), then
 * flushed; the concatenated output goes to out, its length returned. */
static size_t decode_in_pieces(const Row *r, int replace, const size_t *cuts, size_t ncuts, uint8_t *out) {
    Utf8Stream s = {.replace = replace};
    size_t n = 0, from = 0;
    for (size_t c = 0; c <= ncuts; c++) {
        size_t to = c < ncuts ? cuts[c] : r->in_len;
        n += utf8_stream_push(&s, (const uint8_t *)r->in + from, to - from, out + n);
        from = to;
    }
    return n + utf8_stream_flush(&s, out + n);
}

static int same(const uint8_t *got, size_t n, const char *want, size_t want_len) {
    return n == want_len && memcmp(got, want, n) == 0;
}

static void test_row(const Row *r) {
    uint8_t out[UTF8_STREAM_ROOM(64)];
    size_t cuts[64];
    int whole = 1, byte_by_byte = 1, every_split = 1, raw = 1;
    for (int replace = 0; replace < 2; replace++) {
        const char *want = replace ? r->want : r->in;
        size_t want_len = replace ? r->want_len : r->in_len;
        int ok = same(out, decode_in_pieces(r, replace, NULL, 0, out), want, want_len);
        for (size_t i = 0; i < r->in_len; i++) cuts[i] = i + 1;
        int ok_bytes = same(out, decode_in_pieces(r, replace, cuts, r->in_len, out), want, want_len);
        int ok_split = 1;
        for (size_t at = 0; at <= r->in_len; at++)
            ok_split &= same(out, decode_in_pieces(r, replace, &at, 1, out), want, want_len);
        if (replace) whole = ok, byte_by_byte = ok_bytes, every_split = ok_split;
        else raw = ok && ok_bytes && ok_split;
    }
    char name[96];
    snprintf(name, sizeof name, "utf8_replace/%s", r->name);
    CHECK(whole && byte_by_byte && every_split && raw, name,
          "whole %d, byte by byte %d, every split %d, raw bytes back %d", whole, byte_by_byte, every_split, raw);
}

/* Holding back: an incomplete character waits for the bytes that complete
 * it, and is released as U+FFFD as soon as a byte shows it never will. */
static void test_holding(void) {
    uint8_t out[UTF8_STREAM_ROOM(8)];
    Utf8Stream s = {.replace = 1};
    size_t a = utf8_stream_push(&s, (const uint8_t *)"\xE4", 1, out);
    size_t b = utf8_stream_push(&s, (const uint8_t *)"\xB8", 1, out);
    size_t c = utf8_stream_push(&s, (const uint8_t *)"\xAD", 1, out);
    CHECK(a == 0 && b == 0 && same(out, c, "\xE4\xB8\xAD", 3), "utf8_stream/holds_until_complete",
          "released %zu, %zu, then %zu bytes", a, b, c);
    a = utf8_stream_push(&s, (const uint8_t *)"x\xF0\x9F", 3, out);
    int first = same(out, a, "x", 1);
    b = utf8_stream_push(&s, (const uint8_t *)"y", 1, out);
    CHECK(first && same(out, b, R "y", 4) && utf8_stream_flush(&s, out) == 0, "utf8_stream/releases_when_it_cannot_complete",
          "released %zu then %zu bytes", a, b);
    utf8_stream_push(&s, (const uint8_t *)"\xF0\x9F\x99", 3, out);
    CHECK(same(out, utf8_stream_flush(&s, out), R, 3), "utf8_stream/incomplete_tail_at_flush_is_one_fffd", "%s", "");
}

/* Random bytes: with replace on, the output is valid UTF-8 (every character
 * decodes with utf8_next, the tokenizer's independent decoder) and holds one
 * U+FFFD at least per byte that utf8_next rejects at a character start. */
static void test_random_bytes_give_valid_utf8(void) {
    enum { N = 20000 };
    uint8_t *in = xmalloc(N, "random bytes"), *out = xmalloc(UTF8_STREAM_ROOM(N), "decoded");
    Rng rng;
    rng_seed(&rng, 7);
    for (size_t i = 0; i < N; i++) {
        uint32_t r = rng_u32(&rng);
        in[i] = (uint8_t)(r % 4 == 0 ? 0x80 + (r >> 8) % 0x40 : r >> 8); /* extra continuation bytes */
    }
    Utf8Stream s = {.replace = 1};
    size_t n = 0;
    for (size_t i = 0; i < N;) {
        size_t piece = 1 + rng_u32(&rng) % 5;
        if (piece > N - i) piece = N - i;
        n += utf8_stream_push(&s, in + i, piece, out + n);
        i += piece;
    }
    n += utf8_stream_flush(&s, out + n);
    int valid = 1;
    for (size_t i = 0; i < n && valid;) {
        uint32_t cp;
        i += utf8_next(out + i, n - i, &cp);
        valid = cp != UTF8_INVALID;
    }
    CHECK(valid && n >= N, "utf8_replace/random_bytes_give_valid_utf8", "valid %d, %zu bytes from %d", valid, n, N);
    free(in);
    free(out);
}

int main(void) {
    for (int i = 0; i < NUM_ROWS; i++) test_row(&ROWS[i]);
    test_holding();
    test_random_bytes_give_valid_utf8();
    return check_failures ? 1 : 0;
}
