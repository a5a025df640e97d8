/*
 * test_safetensors: the format module (safetensors.c) on its own.
 *   - narrowing float -> F16 / BF16 against rounding done another way
 *     (test/rounding.h: double arithmetic), on every tie between two
 *     neighbours, on a sweep of float bit patterns, and at the edges
 *     (overflow, subnormals, NaN);
 *   - widening and narrowing back gives every one of the 65536 halves and
 *     bfloat16s again;
 *   - a file written with the writer reads back: names, shapes, values, the
 *     offsets back to back, the data 8-byte aligned.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../safetensors.h"
#include "check.h"
#include "rounding.h"

/* the same float, or both NaN */
static int same(float a, float b) { return isnan(a) ? isnan(b) : float_to_bits(a) == float_to_bits(b); }

/* Every half / bfloat16 bit pattern widens and narrows back to itself (a NaN
 * to a NaN). */
static void test_every_16_bit_pattern(void) {
    int half_bad = -1, bf16_bad = -1;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = half_to_float((uint16_t)h);
        uint16_t back = float_to_half(f);
        if (isnan(f) ? !isnan(half_to_float(back)) : back != h) half_bad = (int)h;
        float g = bf16_to_float((uint16_t)h);
        back = float_to_bf16(g);
        if (isnan(g) ? !isnan(bf16_to_float(back)) : back != h) bf16_bad = (int)h;
    }
    CHECK(half_bad < 0, "safetensors/f16_every_pattern_round_trips", "0x%04x", half_bad);
    CHECK(bf16_bad < 0, "safetensors/bf16_every_pattern_round_trips", "0x%04x", bf16_bad);
}

/* The midpoint between each two neighbouring finite values rounds to the
 * even one (the midpoint is exact in float: one bit more than the format). */
static void test_ties(void) {
    int bad_half = -1, bad_bf16 = -1;
    for (uint32_t h = 0; h < 0x7BFF; h++) { /* positive halves below the largest */
        float mid = (float)(((double)half_to_float((uint16_t)h) + half_to_float((uint16_t)(h + 1))) / 2);
        uint16_t want = (uint16_t)((h & 1) ? h + 1 : h);
        if (float_to_half(mid) != want || float_to_half(-mid) != (want | 0x8000)) bad_half = (int)h;
    }
    for (uint32_t b = 0; b < 0x7F7F; b++) {
        float mid = (float)(((double)bf16_to_float((uint16_t)b) + bf16_to_float((uint16_t)(b + 1))) / 2);
        uint16_t want = (uint16_t)((b & 1) ? b + 1 : b);
        if (float_to_bf16(mid) != want) bad_bf16 = (int)b;
    }
    CHECK(bad_half < 0, "safetensors/f16_ties_to_even", "between 0x%04x and the next", bad_half);
    CHECK(bad_bf16 < 0, "safetensors/bf16_ties_to_even", "between 0x%04x and the next", bad_bf16);
}

/* A sweep over float bit patterns (a stride prime to every power of two,
 * so all exponents and low mantissa bits come up) against rounding.h. */
static void test_sweep(void) {
    uint32_t bad_half = 0, bad_bf16 = 0;
    int n_bad_half = 0, n_bad_bf16 = 0;
    for (uint64_t x = 0; x < (1ull << 32); x += 1031) {
        float f = bits_to_float((uint32_t)x);
        if (!same(half_to_float(float_to_half(f)), round_to_half(f))) bad_half = (uint32_t)x, n_bad_half++;
        if (!same(bf16_to_float(float_to_bf16(f)), round_to_bf16(f))) bad_bf16 = (uint32_t)x, n_bad_bf16++;
    }
    CHECK(n_bad_half == 0, "safetensors/f16_rounding_matches_reference", "%d floats differ, e.g. bits 0x%08x",
          n_bad_half, bad_half);
    CHECK(n_bad_bf16 == 0, "safetensors/bf16_rounding_matches_reference", "%d floats differ, e.g. bits 0x%08x",
          n_bad_bf16, bad_bf16);
}

/* The edges, by hand: the largest half, the first value that rounds to
 * infinity, the smallest subnormal and half of it, a NaN payload. */
static void test_edges(void) {
    int ok = float_to_half(65504.0f) == 0x7BFF && float_to_half(65519.996f) == 0x7BFF &&
             float_to_half(65520.0f) == 0x7C00 && float_to_half(-1e9f) == 0xFC00 &&
             float_to_half(0x1p-24f) == 0x0001 && float_to_half(0x1p-25f) == 0x0000 &&
             float_to_half(0x1.000002p-25f) == 0x0001 && float_to_half(0x1.8p-24f) == 0x0002 &&
             float_to_half(0x1.ffcp-15f) == 0x0400 && float_to_half(-0.0f) == 0x8000 &&
             (float_to_half(NAN) & 0x7C00) == 0x7C00 && (float_to_half(NAN) & 0x3FF) != 0 &&
             float_to_half(bits_to_float(0x7F800001)) != 0x7C00;
    CHECK(ok, "safetensors/f16_edges", "%s", "");
    ok = float_to_bf16(1.0f) == 0x3F80 && float_to_bf16(bits_to_float(0x3F808000)) == 0x3F80 &&
         float_to_bf16(bits_to_float(0x3F818000)) == 0x3F82 && float_to_bf16(bits_to_float(0x7F7FFFFF)) == 0x7F80 &&
         float_to_bf16(bits_to_float(0x7F800001)) != 0x7F80 && (float_to_bf16(bits_to_float(0x7F800001)) & 0x7F) != 0;
    CHECK(ok, "safetensors/bf16_edges", "%s", "");
}

/* Write three tensors in each dtype, read them back. */
static void test_write_read(const char *dir) {
    static const char *const dtypes[] = {"f32", "f16", "bf16"};
    for (int d = 0; d < 3; d++) {
        int dtype = d == 0 ? ST_F32 : d == 1 ? ST_F16 : ST_BF16;
        char path[600], na[] = "a.weight", nb[] = "b \"odd\" name", nc[] = "c";
        snprintf(path, sizeof path, "%s/t_%s.safetensors", dir, dtypes[d]);
        SafeTensor decl[3] = {{.name = na, .ndim = 2, .shape = {3, 5}},
                              {.name = nb, .ndim = 1, .shape = {7}},
                              {.name = nc, .ndim = 2, .shape = {1, 1}}};
        float values[3][15];
        for (int t = 0; t < 3; t++)
            for (int e = 0; e < 15; e++) values[t][e] = (float)(t * 15 + e) * 0.37f - 3.1f;
        SafetensorsWriter w;
        safetensors_write_begin(&w, path, dtype, decl, 3);
        for (int t = 0; t < 3; t++) safetensors_write_tensor(&w, values[t]);
        safetensors_write_end(&w);

        SafeTensors st;
        safetensors_open(&st, path);
        SafetensorsScratch scratch = {0};
        int ok = st.count == 3 && st.data_start % 8 == 0, at = 0;
        for (int t = 0; t < 3 && ok; t++) {
            const SafeTensor *x = safetensors_find(&st, decl[t].name);
            ok = x && x->dtype == dtype && x->ndim == decl[t].ndim && x->shape[0] == decl[t].shape[0] &&
                 x->begin == (uint64_t)at;
            if (!ok) break;
            at = (int)x->end;
            const float *v = safetensors_read_floats(&st, x, &scratch);
            for (size_t e = 0; e < x->numel; e++) {
                float want = dtype == ST_F32 ? values[t][e] : dtype == ST_F16 ? round_to_half(values[t][e])
                                                                               : round_to_bf16(values[t][e]);
                ok &= same(v[e], want);
            }
        }
        ok = ok && (uint64_t)at == st.data_size;
        safetensors_scratch_free(&scratch);
        safetensors_close(&st);
        char name[64];
        snprintf(name, sizeof name, "safetensors/write_read_%s", dtypes[d]);
        CHECK(ok, name, "%s did not read back as written", path);
    }
}

int main(void) {
    test_every_16_bit_pattern();
    test_ties();
    test_edges();
    test_sweep();
    char dir[] = "/tmp/gpt2c_safetensors_XXXXXX";
    if (!mkdtemp(dir)) die("cannot make a temporary directory");
    test_write_read(dir);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_failures ? 1 : 0;
}
