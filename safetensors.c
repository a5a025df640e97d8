/* safetensors.c: the safetensors format, read and written (see safetensors.h). */
#define _POSIX_C_SOURCE 200809L
#include "safetensors.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "json.h"

#define MAX_HEADER_BYTES (100u << 20) /* the limit the reference reader uses */

const char *const SAFETENSORS_DTYPE_NAMES[ST_NUM_DTYPES] = {"F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8",
                                                             "U64", "U32", "U16", "U8",  "BOOL", "F8_E4M3", "F8_E5M2"};
const int SAFETENSORS_DTYPE_SIZES[ST_NUM_DTYPES] = {4, 2, 2, 8, 8, 4, 2, 1, 8, 4, 2, 1, 1, 1, 1};

/* ------------------------------------------------------------------------ */
/* the header, read with the project's JSON scanner (json.h); what the keys
 * mean is decided here */

/* A string that names something: a tensor, a key, a dtype. Names end up in
 * one-line error messages and are used as C strings, so control characters
 * (a decoded \n, \u0000) are refused. */
static const char *header_name(JsonReader *r) {
    json_peek(r);
    size_t start = r->pos, n;
    const char *s = json_string(r, &n);
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20) {
            r->pos = start;
            json_fail(r, "control character in a name");
        }
    }
    return s;
}

/* An array of integers into out[max]; returns the count. */
static int header_uint_array(JsonReader *r, uint64_t *out, int max, const char *what) {
    if (!json_open(r, '[', ']')) return 0;
    int n = 0;
    do {
        if (n == max) json_fail(r, "%s has more than %d entries", what, max);
        out[n++] = json_uint(r, UINT64_MAX);
    } while (json_next_member(r, ']'));
    return n;
}

static int dtype_index(const JsonReader *r, const char *s) {
    for (int i = 0; i < ST_NUM_DTYPES; i++)
        if (!strcmp(s, SAFETENSORS_DTYPE_NAMES[i])) return i;
    json_fail(r, "unknown dtype \"%s\"", s);
}

/* "__metadata__": an object of string -> string, read and discarded. */
static void header_skip_metadata(JsonReader *r) {
    if (!json_open(r, '{', '}')) return;
    do {
        size_t n;
        json_string(r, &n);
        json_expect(r, ':');
        if (json_peek(r) != '"') json_fail(r, "__metadata__ values must be strings");
        json_string(r, &n);
    } while (json_next_member(r, '}'));
}

/* {"dtype": ..., "shape": [...], "data_offsets": [begin, end]}, in any order,
 * each key exactly once. */
static void header_tensor(JsonReader *r, SafeTensor *t) {
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    json_expect(r, '{');
    do {
        const char *key = header_name(r);
        json_expect(r, ':');
        if (!strcmp(key, "dtype") && !have_dtype) {
            t->dtype = dtype_index(r, header_name(r));
            have_dtype = 1;
        } else if (!strcmp(key, "shape") && !have_shape) {
            t->ndim = header_uint_array(r, t->shape, SAFETENSORS_MAX_DIMS, "shape");
            have_shape = 1;
        } else if (!strcmp(key, "data_offsets") && !have_offsets) {
            uint64_t off[2];
            if (header_uint_array(r, off, 2, "data_offsets") != 2) json_fail(r, "data_offsets needs 2 entries");
            t->begin = off[0];
            t->end = off[1];
            have_offsets = 1;
        } else {
            json_fail(r, "unexpected or repeated key \"%s\" in tensor \"%s\"", key, t->name);
        }
    } while (json_next_member(r, '}'));
    if (!have_dtype || !have_shape || !have_offsets)
        json_fail(r, "tensor \"%s\" lacks %s", t->name,
                  !have_dtype ? "\"dtype\"" : !have_shape ? "\"shape\"" : "\"data_offsets\"");
}

SafeTensor *safetensors_find(const SafeTensors *st, const char *name) {
    for (int i = 0; i < st->count; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

/* Names in order, equal names in header order (the later one is the repeat). */
static int by_name(const void *a, const void *b) {
    const SafeTensor *x = *(const SafeTensor *const *)a, *y = *(const SafeTensor *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->header_pos > y->header_pos) - (x->header_pos < y->header_pos);
}

/* The earliest tensor in the header whose name an earlier one already has,
 * or NULL. Sorted by name, a repeat sits right after its first: n log n,
 * where looking each name up among those before it would be quadratic (the
 * header may be 100 MB, millions of tensors). */
static const SafeTensor *first_repeated_name(const SafeTensors *st) {
    const SafeTensor **order = xmalloc(mul_size((size_t)st->count, sizeof *order, "tensor names"), "tensor names");
    for (int i = 0; i < st->count; i++) order[i] = &st->tensors[i];
    qsort(order, (size_t)st->count, sizeof *order, by_name);
    const SafeTensor *repeat = NULL;
    for (int i = 1; i < st->count; i++)
        if (!strcmp(order[i]->name, order[i - 1]->name) && (!repeat || order[i]->header_pos < repeat->header_pos))
            repeat = order[i];
    free(order);
    return repeat;
}

/* The whole header: one object of tensors (and maybe __metadata__). Trailing
 * spaces are allowed. The strings are decoded in place, so text is modified. */
static void parse_header(SafeTensors *st, char *text, size_t len) {
    /* byte offsets in messages count from the start of the file: the header
     * follows the 8-byte length */
    JsonReader r = {.path = st->path, .what = "safetensors header", .s = (uint8_t *)text, .len = len, .base_offset = 8};
    if (json_open(&r, '{', '}')) {
        do {
            json_peek(&r);
            size_t key_pos = r.pos;
            const char *name = header_name(&r);
            json_expect(&r, ':');
            if (!strcmp(name, "__metadata__")) {
                header_skip_metadata(&r);
                continue;
            }
            if (st->count == st->cap) {
                st->cap = st->cap ? 2 * st->cap : 64;
                SafeTensor *grown = realloc(st->tensors, mul_size((size_t)st->cap, sizeof(SafeTensor), "tensor list"));
                if (!grown) die("out of memory for the tensor list of %s", st->path);
                st->tensors = grown;
            }
            SafeTensor *t = &st->tensors[st->count++];
            memset(t, 0, sizeof *t);
            size_t n = strlen(name) + 1;
            t->name = memcpy(xmalloc(n, "tensor name"), name, n); /* outlives the header text */
            t->header_pos = key_pos;
            header_tensor(&r, t);
        } while (json_next_member(&r, '}'));
    }
    const SafeTensor *repeat = first_repeated_name(st);
    if (repeat) {
        r.pos = repeat->header_pos;
        json_fail(&r, "tensor \"%s\" appears twice", repeat->name);
    }
    json_finish(&r);
}

/* ---- header checks: every tensor's byte range inside the data section,
 * its length equal to dtype size x shape, and no two ranges overlapping. */

static int by_begin(const void *a, const void *b) {
    const SafeTensor *x = *(const SafeTensor *const *)a, *y = *(const SafeTensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static void check_ranges(SafeTensors *st) {
    for (int i = 0; i < st->count; i++) {
        SafeTensor *t = &st->tensors[i];
        if (t->end < t->begin)
            die("%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin", st->path, t->name,
                t->begin, t->end);
        if (t->end > st->data_size)
            die("%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] run past the data section (%" PRIu64
                " bytes; is the file truncated?)",
                st->path, t->name, t->begin, t->end, st->data_size);
        /* element count, refusing products that overflow (end - begin is
         * bounded by the file size, so a matching count cannot overflow later) */
        uint64_t n = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] != 0 && n > UINT64_MAX / t->shape[d])
                die("%s: tensor %s: shape too large", st->path, t->name);
            n *= t->shape[d];
        }
        uint64_t size = (uint64_t)SAFETENSORS_DTYPE_SIZES[t->dtype], bytes = n * size;
        if (bytes / size != n)
            die("%s: tensor %s: %s x %" PRIu64 " elements need more bytes than 64 bits can count", st->path, t->name,
                SAFETENSORS_DTYPE_NAMES[t->dtype], n);
        if (bytes != t->end - t->begin)
            die("%s: tensor %s: %" PRIu64 " bytes of data, but %s x %" PRIu64 " elements need %" PRIu64, st->path,
                t->name, t->end - t->begin, SAFETENSORS_DTYPE_NAMES[t->dtype], n, bytes);
        t->numel = (size_t)n; /* fits: it is at most the file size */
    }
    /* sorted by begin, a range overlaps another iff it starts before the
     * previous one ends (empty tensors take no bytes and cannot overlap) */
    SafeTensor **order = xmalloc(mul_size((size_t)st->count, sizeof(SafeTensor *), "tensor order"), "tensor order");
    int n = 0;
    for (int i = 0; i < st->count; i++)
        if (st->tensors[i].end > st->tensors[i].begin) order[n++] = &st->tensors[i];
    qsort(order, (size_t)n, sizeof(SafeTensor *), by_begin);
    const SafeTensor *first = NULL, *second = NULL;
    for (int i = 1; i < n && !first; i++)
        if (order[i]->begin < order[i - 1]->end) first = order[i - 1], second = order[i];
    free(order);
    if (first)
        die("%s: tensors %s and %s overlap (bytes %" PRIu64 "..%" PRIu64 " and %" PRIu64 "..%" PRIu64 ")", st->path,
            first->name, second->name, first->begin, first->end, second->begin, second->end);
}

void safetensors_open(SafeTensors *st, const char *path) {
    memset(st, 0, sizeof *st);
    size_t n = strlen(path) + 1;
    st->path = memcpy(xmalloc(n, "path"), path, n);
    path = st->path;
    st->f = xfopen(path, "rb");
    uint64_t fsize = file_size(st->f, path);
    if (fsize < 8) die("%s: too short for a safetensors file (%" PRIu64 " bytes)", path, fsize);
    unsigned char len8[8];
    xfread(len8, 1, 8, st->f, path);
    uint64_t N = 0;
    for (int i = 7; i >= 0; i--) N = N << 8 | len8[i]; /* little-endian */
    if (N > fsize - 8)
        die("%s: header length %" PRIu64 " runs past the end of the file (%" PRIu64 " bytes)", path, N, fsize);
    if (N > MAX_HEADER_BYTES) die("%s: header length %" PRIu64 " is absurdly large (limit %u)", path, N, MAX_HEADER_BYTES);
    char *text = xmalloc((size_t)N + 1, "safetensors header");
    xfread(text, 1, (size_t)N, st->f, path);
    text[N] = '\0';
    parse_header(st, text, (size_t)N);
    free(text);
    st->data_start = 8 + N;
    st->data_size = fsize - 8 - N;
    check_ranges(st);
}

void safetensors_close(SafeTensors *st) {
    if (st->f) xfclose(st->f, st->path);
    for (int i = 0; i < st->count; i++) free(st->tensors[i].name);
    free(st->tensors);
    free(st->path);
    memset(st, 0, sizeof *st);
}

const char *safetensors_shape_string(const uint64_t *shape, int ndim) {
    static char buf[SAFETENSORS_MAX_DIMS * 24 + 4];
    size_t n = 0;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "(");
    for (int d = 0; d < ndim; d++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, d ? ", %" PRIu64 : "%" PRIu64, shape[d]);
    snprintf(buf + n, sizeof buf - n, ")");
    return buf;
}

/* ------------------------------------------------------------------------ */
/* the conversions                                                           */

/*
 * IEEE half precision: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
 *   exponent 1..30: (-1)^s * 1.m * 2^(e-15)  -> same value with float's bias 127
 *   exponent 0:     (-1)^s * 0.m * 2^-14      (zero and subnormals) = m * 2^-24
 *   exponent 31:    infinity (m = 0) or NaN (m != 0, payload kept)
 * Every half is exactly a float, so the conversion is exact.
 */
float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    if (exp == 31) return bits_to_float(sign | 0x7F800000u | mant << 13);
    if (exp != 0) return bits_to_float(sign | (exp - 15 + 127) << 23 | mant << 13);
    /* m * 2^-24, with m < 2^10: exact in float; the sign is kept for -0 */
    float v = (float)mant * 0x1p-24f;
    return sign ? -v : v;
}

/* bfloat16 is the top half of a float32. */
float bf16_to_float(uint16_t b) { return bits_to_float((uint32_t)b << 16); }

/*
 * Rounds q + rest / 2^shift to an integer, to nearest, ties to even: up when
 * the dropped bits are more than half, or exactly half and q is odd.
 */
static uint32_t round_shift(uint32_t value, int shift) {
    uint32_t q = value >> shift, rest = value & ((1u << shift) - 1), half = 1u << (shift - 1);
    return q + (rest > half || (rest == half && (q & 1)));
}

/*
 * float (1.m * 2^(E-127), 23 mantissa bits) -> half. Where the half
 * exponent e = E - 112 is 1..30, the 10 kept bits are the top of m, rounded
 * (a carry out of the mantissa moves into the exponent, and out of exponent
 * 30 gives 0x7C00, infinity, as it should). Below, the half is subnormal:
 * the value counted in units of 2^-24, rounded. Above, infinity.
 */
uint16_t float_to_half(float f) {
    uint32_t x = float_to_bits(f);
    uint16_t sign = (uint16_t)(x >> 16 & 0x8000);
    int E = (int)(x >> 23 & 0xFF);
    uint32_t m = x & 0x7FFFFF;
    if (E == 0xFF) return sign | 0x7C00 | (m ? 0x200 | m >> 13 : 0); /* inf; NaN stays a (quiet) NaN */
    int e = E - 112;
    if (e >= 31) return sign | 0x7C00;
    if (e >= 1) return (uint16_t)(sign | round_shift((uint32_t)e << 23 | m, 13));
    /* (1.m * 2^23) * 2^(E-150) = that many units of 2^-24 once shifted right by 126 - E */
    int shift = 126 - E;
    if (shift > 24) return sign; /* below half the smallest subnormal: zero */
    return (uint16_t)(sign | round_shift(m | 0x800000, shift));
}

/* float -> bfloat16: the top 16 bits, rounded on the bottom 16. */
uint16_t float_to_bf16(float f) {
    uint32_t x = float_to_bits(f);
    if ((x & 0x7FFFFFFF) > 0x7F800000) return (uint16_t)(x >> 16 | 0x40); /* NaN: keep it one */
    return (uint16_t)round_shift(x, 16);
}

/* ------------------------------------------------------------------------ */
/* reading one tensor                                                        */

/* raw little-endian bytes of n elements of dtype -> n floats */
static void widen(float *out, const unsigned char *raw, size_t n, int dtype) {
    for (size_t i = 0; i < n; i++) {
        if (dtype == ST_F32) {
            const unsigned char *b = raw + 4 * i;
            out[i] = bits_to_float((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
        } else {
            uint16_t h = (uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8);
            out[i] = dtype == ST_F16 ? half_to_float(h) : bf16_to_float(h);
        }
    }
}

/* Room for n elements of up to 4 bytes each, raw and widened. */
static void scratch_reserve(SafetensorsScratch *s, size_t n) {
    if (n <= s->cap) return;
    safetensors_scratch_free(s);
    s->cap = n;
    s->raw = xmalloc(mul_size(n, 4, "tensor buffer"), "tensor buffer");
    s->values = xmalloc(mul_size(n, sizeof(float), "tensor buffer"), "tensor buffer");
}

void safetensors_scratch_free(SafetensorsScratch *s) {
    free(s->raw);
    free(s->values);
    memset(s, 0, sizeof *s);
}

const float *safetensors_read_floats(const SafeTensors *st, const SafeTensor *t, SafetensorsScratch *s) {
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        die("%s: tensor %s has dtype %s; only F32, F16 and BF16 weights can be imported", st->path, t->name,
            SAFETENSORS_DTYPE_NAMES[t->dtype]);
    scratch_reserve(s, t->numel);
    uint64_t at = st->data_start + t->begin;
    if (at > (uint64_t)INT64_MAX || fseeko(st->f, (off_t)at, SEEK_SET) != 0)
        die("%s: cannot seek to tensor %s", st->path, t->name);
    xfread(s->raw, 1, (size_t)(t->end - t->begin), st->f, st->path);
    widen(s->values, s->raw, t->numel, t->dtype);
    return s->values;
}

/* ------------------------------------------------------------------------ */
/* writing                                                                   */

static void put_u64_le(unsigned char *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

/*
 * The header, written straight into the file after 8 placeholder bytes, then
 * its length put in front. Spaces pad it so the data starts at a multiple of
 * 8 bytes into the file. Offsets run back to back in array order, as the
 * reference reader wants them (no gaps).
 */
static void write_header(SafetensorsWriter *w) {
    FILE *f = w->af.f;
    const char *path = w->af.tmp_path;
    unsigned char len8[8] = {0};
    xfwrite(len8, 1, 8, f, path);
    fputs("{\"__metadata__\":{\"format\":\"pt\"}", f);
    for (int i = 0; i < w->count; i++) {
        const SafeTensor *t = &w->tensors[i];
        fputc(',', f);
        json_put_string(f, (const uint8_t *)t->name, strlen(t->name), path);
        fprintf(f, ":{\"dtype\":\"%s\",\"shape\":[", SAFETENSORS_DTYPE_NAMES[t->dtype]);
        for (int d = 0; d < t->ndim; d++) fprintf(f, d ? ",%" PRIu64 : "%" PRIu64, t->shape[d]);
        fprintf(f, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", t->begin, t->end);
    }
    fputc('}', f);
    long end = ftell(f);
    for (; end >= 0 && end % 8; end++) fputc(' ', f);
    if (end < 0 || ferror(f) || fseek(f, 0, SEEK_SET) != 0) die("%s: cannot write", path);
    put_u64_le(len8, (uint64_t)end - 8);
    xfwrite(len8, 1, 8, f, path);
    if (fseek(f, end, SEEK_SET) != 0) die("%s: cannot write", path);
}

void safetensors_write_begin(SafetensorsWriter *w, const char *path, int dtype, SafeTensor *tensors, int count) {
    memset(w, 0, sizeof *w);
    w->dtype = dtype;
    w->tensors = tensors;
    w->count = count;
    uint64_t at = 0;
    for (int i = 0; i < count; i++) {
        SafeTensor *t = &tensors[i];
        t->dtype = dtype;
        t->numel = 1;
        for (int d = 0; d < t->ndim; d++) t->numel = mul_size(t->numel, (size_t)t->shape[d], path);
        t->begin = at;
        at = t->end = at + (uint64_t)mul_size(t->numel, (size_t)SAFETENSORS_DTYPE_SIZES[dtype], path);
    }
    w->af = atomic_open(path);
    write_header(w);
}

/* floats -> the file's dtype, little-endian, into w->buf */
static void narrow(SafetensorsWriter *w, const float *values, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char *b = w->buf + i * (size_t)SAFETENSORS_DTYPE_SIZES[w->dtype];
        uint32_t v = w->dtype == ST_F32    ? float_to_bits(values[i])
                     : w->dtype == ST_F16 ? float_to_half(values[i])
                                          : float_to_bf16(values[i]);
        for (int k = 0; k < SAFETENSORS_DTYPE_SIZES[w->dtype]; k++) b[k] = (unsigned char)(v >> (8 * k));
    }
}

void safetensors_write_tensor(SafetensorsWriter *w, const float *values) {
    if (w->next == w->count) die("%s: more tensors written than declared", w->af.path);
    const SafeTensor *t = &w->tensors[w->next++];
    size_t bytes = (size_t)(t->end - t->begin);
    if (bytes > w->cap) {
        free(w->buf);
        w->buf = xmalloc(bytes, "tensor buffer");
        w->cap = bytes;
    }
    narrow(w, values, t->numel);
    xfwrite(w->buf, 1, bytes, w->af.f, w->af.tmp_path);
}

void safetensors_write_end(SafetensorsWriter *w) {
    if (w->next != w->count) die("%s: %d of %d tensors written", w->af.path, w->next, w->count);
    atomic_commit(&w->af);
    free(w->buf);
    w->buf = NULL;
}
