/*
 * make_safetensors: the test helper of test/test_import_hf.sh and test/test_hf.sh.
 *
 *   make_safetensors write OUT [--dtype f32|f16|bf16|mixed] [--prefix]
 *                    [--lm-head] [--f16-specials] [--fault NAME] [--shards N]
 *                    [--shape C,L,V,MAXT]
 *   make_safetensors from-checkpoint CKPT OUT [--dtype f32|f16|bf16] [--prefix] [--shards N]
 *   make_safetensors check MODEL.bin [--f16-specials]
 *   make_safetensors check-rounded ORIG.bin IMPORTED.bin f32|f16|bf16
 *   make_safetensors check-hf EXPORTED.safetensors ORIG.bin f32|f16|bf16
 *   make_safetensors forward A.bin B.bin
 *
 * write: hand-assembles a tiny GPT-2 in Hugging Face's layout (C=8, L=2, V=50,
 * maxT=16; Conv1D weights stored (in, out)), byte by byte: the header JSON is
 * printed with snprintf, the data written as little-endian F32/F16/BF16.
 * Element e of tensor number t holds value(t, e), a multiple of 1/256 below
 * 0.5 in magnitude, exact in all three dtypes. --fault NAME breaks the file
 * in one way (see FAULTS below) for the error tests. With --shards N, OUT is
 * a model.safetensors.index.json and the tensors are split over N shard files
 * beside it (the INDEX_FAULTS break the index). --shape writes the same
 * pattern at another shape (then `check` does not apply).
 *
 * from-checkpoint: the same layout with a gpt2c checkpoint's weights (any
 * shape), rounded to F16/BF16 by round_to_dtype below: a held-out
 * checkpoint made into a Hugging Face file without import_hf's code.
 *
 * check: loads an imported checkpoint and verifies every parameter against
 * value(t, e) through the layout gpt2c expects ((out, in) weights, padded wte
 * rows zero) and the config in its header. Prints nothing and exits 0 when all
 * is right; otherwise prints the first mismatch and exits 1.
 * check-rounded: every parameter of IMPORTED is ORIG's rounded to the dtype.
 * check-hf: an export_hf file holds exactly HF's GPT-2 tensors (unprefixed,
 * (in, out) Conv1D weights, V rows of wte, no lm_head), back to back from
 * offset 0, the data 8-byte aligned, each the checkpoint's rounded to dtype.
 *
 * forward: runs both checkpoints on the same tokens; exits 0 if the logits are
 * finite and identical.
 *
 * This is deliberately a second, separate path from safetensors.c and
 * hf_gpt2.c: it encodes halves with frexp rather than bit fields, rounds with
 * double arithmetic rather than integer carries, and maps between the layouts
 * with its own table. (check-hf parses the file with safetensors.c's reader,
 * which the write tests check against this program's writer.)
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common.h"
#include "../gpt2.h"
#include "../safetensors.h"
#include "rounding.h"

/* The shape written: the tiny synthetic model's, or a checkpoint's. */
static int C = 8, L = 2, V = 50, MAXT = 16;
enum { SYNTHETIC_VP = 128, SYNTHETIC_NH = 2 };
/* from-checkpoint: the model whose weights are written instead of value() */
static const GPT2 *source = NULL;

/* The value of element e (in HF layout) of tensor t: k/256 with |k| <= 125, so
 * 7 significant bits: exact in F16 (11) and BF16 (8). Distinct tensors and
 * neighbouring elements differ, so a swap or a missed transpose shows. */
static float value(int t, size_t e) {
    int k = (int)(((size_t)t * 37 + e * 11) % 251) - 125;
    return (float)k / 256.0f;
}

/* ---- the tensors, in the canonical order that numbers them for value() ---- */

/* One block's tensors: name after "h.N.", HF shape in units of C (0 = absent dim). */
static const struct {
    const char *name;
    int rows, cols;
} BLOCK[12] = {
    {"ln_1.weight", 1, 0},        {"ln_1.bias", 1, 0},          {"attn.c_attn.weight", 1, 3},
    {"attn.c_attn.bias", 3, 0},   {"attn.c_proj.weight", 1, 1}, {"attn.c_proj.bias", 1, 0},
    {"ln_2.weight", 1, 0},        {"ln_2.bias", 1, 0},          {"mlp.c_fc.weight", 1, 4},
    {"mlp.c_fc.bias", 4, 0},      {"mlp.c_proj.weight", 4, 1},  {"mlp.c_proj.bias", 1, 0},
};
static int num_weights(void) { return 2 + 12 * L + 2; } /* wte, wpe, the blocks, ln_f */

typedef struct {
    char name[80];
    const char *dtype;
    int ndim;
    size_t shape[4];
    int values;  /* value() tensor number, or SPECIAL_*: what the data holds */
    size_t numel;
    size_t begin, end;
} Spec;
enum { VALUES_ZERO = -1, VALUES_SPECIALS = -2 };

/* Half-precision bit patterns and the floats they stand for, written into
 * wpe by --f16-specials: zeros, subnormals, the smallest normal, infinities, NaNs. */
static const struct {
    uint16_t bits;
    float value;
} SPECIALS[] = {
    {0x0000, 0.0f},          {0x8000, -0.0f},       {0x0001, 0x1p-24f},  {0x8001, -0x1p-24f},
    {0x03ff, 0x1.ff8p-15f},  {0x0400, 0x1p-14f},    {0x3c00, 1.0f},      {0x3555, 0x1.554p-2f},
    {0x7bff, 65504.0f},      {0xc000, -2.0f},       {0x7c00, INFINITY},  {0xfc00, -INFINITY},
    {0x7e00, NAN},           {0xfe01, NAN},
};
enum { NUM_SPECIALS = sizeof SPECIALS / sizeof SPECIALS[0] };

static void set_shape(Spec *s, int ndim, size_t d0, size_t d1) {
    s->ndim = ndim;
    s->shape[0] = d0;
    s->shape[1] = d1;
    s->numel = ndim == 0 ? 1 : ndim == 1 ? d0 : d0 * d1;
}

/* The canonical weights, spec[t] holding value(t, .). */
static int canonical_specs(Spec *s, const char *prefix) {
    int n = 0;
    snprintf(s[n].name, sizeof s[n].name, "%swte.weight", prefix);
    set_shape(&s[n], 2, V, C);
    n++;
    snprintf(s[n].name, sizeof s[n].name, "%swpe.weight", prefix);
    set_shape(&s[n], 2, MAXT, C);
    n++;
    for (int l = 0; l < L; l++)
        for (int k = 0; k < 12; k++, n++) {
            snprintf(s[n].name, sizeof s[n].name, "%sh.%d.%s", prefix, l, BLOCK[k].name);
            set_shape(&s[n], BLOCK[k].cols ? 2 : 1, (size_t)BLOCK[k].rows * C, (size_t)BLOCK[k].cols * C);
        }
    snprintf(s[n].name, sizeof s[n].name, "%sln_f.weight", prefix);
    set_shape(&s[n], 1, C, 0);
    n++;
    snprintf(s[n].name, sizeof s[n].name, "%sln_f.bias", prefix);
    set_shape(&s[n], 1, C, 0);
    n++;
    for (int t = 0; t < n; t++) s[t].values = t;
    return n;
}

static int find_spec(Spec *s, int n, const char *suffix) {
    for (int i = 0; i < n; i++) {
        size_t a = strlen(s[i].name), b = strlen(suffix);
        if (a >= b && !strcmp(s[i].name + a - b, suffix) && (a == b || s[i].name[a - b - 1] == '.'))
            return i;
    }
    fprintf(stderr, "make_safetensors: no tensor %s\n", suffix);
    exit(2);
}

/* ---- where each HF element lives in gpt2c's layout ---- */

/* A pointer to HF element e of canonical tensor t inside gpt2c's parameters:
 * vectors and wte/wpe are stored alike; a Conv1D weight's HF element (i, o)
 * of (in, out) is gpt2c's element (o, i) of (out, in). */
static float *gpt2c_element(const ParameterTensors *p, int t, size_t e) {
    if (t == 0) return p->wte + e;
    if (t == 1) return p->wpe + e;
    if (t == 2 + 12 * L) return p->lnfw + e;
    if (t == 3 + 12 * L) return p->lnfb + e;
    int l = (t - 2) / 12, k = (t - 2) % 12;
    float *const bases[12] = {p->ln1w, p->ln1b, p->qkvw, p->qkvb, p->attprojw, p->attprojb,
                              p->ln2w, p->ln2b, p->fcw,  p->fcb,  p->fcprojw,  p->fcprojb};
    size_t rows = (size_t)BLOCK[k].rows * C, cols = BLOCK[k].cols ? (size_t)BLOCK[k].cols * C : 1;
    float *base = bases[k] + (size_t)l * rows * cols;
    if (!BLOCK[k].cols) return base + e;
    return base + (e % cols) * rows + e / cols;
}

/* What element e of canonical tensor t holds in the file being written. */
static float spec_value(int t, size_t e) { return source ? *gpt2c_element(&source->params, t, e) : value(t, e); }

/* ---- rounding and encoding values ---- */

static float round_to_dtype(const char *dtype, float v) {
    if (!strcmp(dtype, "F16")) return round_to_half(v);
    if (!strcmp(dtype, "BF16")) return round_to_bf16(v);
    return v;
}

/* float -> IEEE half for values that are exactly halves, through frexp:
 * v = f * 2^x with f in [0.5, 1); subnormals are multiples of 2^-24. */
static uint16_t float_to_half_exact(float v) {
    uint16_t sign = signbit(v) ? 0x8000 : 0;
    if (v == 0.0f) return sign;
    if (isinf(v)) return sign | 0x7C00;
    int x;
    double f = frexp(fabs((double)v), &x); /* |v| = (2f) * 2^(x-1), 2f in [1, 2) */
    int exponent = x - 1 + 15;
    double mant = exponent >= 1 ? (2.0 * f - 1.0) * 1024.0 : fabs((double)v) * 0x1p24;
    if (exponent > 30 || mant != floor(mant) || mant >= 1024) {
        fprintf(stderr, "make_safetensors: %g is not an exact half\n", v);
        exit(2);
    }
    return (uint16_t)(sign | (exponent >= 1 ? exponent << 10 : 0) | (int)mant);
}

static void put_le(FILE *f, uint64_t v, int bytes, const char *path) {
    unsigned char b[8];
    for (int i = 0; i < bytes; i++) b[i] = (unsigned char)(v >> (8 * i));
    xfwrite(b, 1, (size_t)bytes, f, path);
}

static int dtype_bytes(const char *d) {
    if (!strcmp(d, "F32") || !strcmp(d, "I32")) return 4;
    if (!strcmp(d, "F16") || !strcmp(d, "BF16")) return 2;
    if (!strcmp(d, "F64") || !strcmp(d, "I64")) return 8;
    return 1; /* BOOL, U8 */
}

/* v, rounded to the dtype first (a no-op for value()'s exact values). */
static void write_element(FILE *f, const char *dtype, float v, const char *path) {
    v = round_to_dtype(dtype, v);
    if (!strcmp(dtype, "F32")) put_le(f, float_to_bits(v), 4, path);
    else if (!strcmp(dtype, "F16")) put_le(f, float_to_half_exact(v), 2, path);
    else if (!strcmp(dtype, "BF16")) {
        if (float_to_bits(v) & 0xFFFF) { fprintf(stderr, "make_safetensors: %g is not a bfloat16\n", v); exit(2); }
        put_le(f, float_to_bits(v) >> 16, 2, path);
    } else if (!strcmp(dtype, "F64")) {
        double d = v;
        uint64_t b;
        memcpy(&b, &d, sizeof b);
        put_le(f, b, 8, path);
    } else put_le(f, (uint64_t)(int64_t)v, dtype_bytes(dtype), path); /* integers, BOOL */
}

static void write_data(FILE *f, const Spec *s, const char *path) {
    for (size_t e = 0; e < s->numel; e++) {
        if (s->values == VALUES_SPECIALS && e < NUM_SPECIALS) put_le(f, SPECIALS[e].bits, 2, path);
        else if (s->values == VALUES_SPECIALS) write_element(f, s->dtype, value(1, e), path);
        else if (s->values == VALUES_ZERO) write_element(f, s->dtype, 0.0f, path);
        else write_element(f, s->dtype, spec_value(s->values, e), path);
    }
}

/* ---- the header ---- */

static void append(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t cap, const char *fmt, ...) {
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= cap - n) { fprintf(stderr, "make_safetensors: header too long\n"); exit(2); }
}

static void header_json(char *buf, size_t cap, const Spec *s, int n) {
    buf[0] = '\0';
    append(buf, cap, "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"tiny \\\"test\\\" model \\u00e9\"}");
    for (int i = 0; i < n; i++) {
        append(buf, cap, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", s[i].name, s[i].dtype);
        for (int d = 0; d < s[i].ndim; d++) append(buf, cap, d ? ",%zu" : "%zu", s[i].shape[d]);
        append(buf, cap, "],\"data_offsets\":[%zu,%zu]}", s[i].begin, s[i].end);
    }
    append(buf, cap, "}");
}

/* Replace the first `from` in buf by `to` (same buffer, capacity cap). */
static void replace_first(char *buf, size_t cap, const char *from, const char *to) {
    char *at = strstr(buf, from);
    if (!at) { fprintf(stderr, "make_safetensors: '%s' not in the header\n", from); exit(2); }
    size_t tail = strlen(at + strlen(from));
    if (strlen(buf) - strlen(from) + strlen(to) >= cap) exit(2);
    memmove(at + strlen(to), at + strlen(from), tail + 1);
    memcpy(at, to, strlen(to));
}

/*
 * FAULTS, each breaking one thing:
 *   dtype-i64 dtype-f64 dtype-unknown   a weight stored as I64 / F64 / "Q4"
 *   missing          h.1.mlp.c_fc.bias left out
 *   gap              block 1 named h.2
 *   extra            an unexpected tensor h.0.attn.rotary.weight
 *   duplicate        a tensor named twice
 *   offset-range     a tensor's data_offsets past the end of the data
 *   end-before-begin a tensor's data_offsets reversed
 *   overlap          two tensors sharing bytes
 *   size-mismatch    data_offsets 4 bytes shorter than dtype x shape
 *   wrong-shape      h.0.attn.c_attn.weight declared (3C, C): already transposed
 *   wrong-shape-ln   h.1.ln_2.weight declared (C+1)
 *   header-past-eof  header length 1 MB more than the file holds
 *   header-huge      header length 2^64-1
 *   json-colon json-float json-negative json-trailing-comma json-junk
 *   json-metadata-number json-unknown-key json-unterminated json-nul
 *   json-newline-name (a \n escape in a tensor name)                   bad JSON
 *   lm-head-differs  an lm_head.weight unlike wte
 */

/* The tensors of the file: the canonical weights, the mask buffers HF keeps,
 * maybe an lm_head, then the faults that change the list. Returns the count. */
static int file_specs(Spec *s, const char *dtype_mode, int prefix, int lm_head, int specials, const char *fault) {
    int n = canonical_specs(s, prefix ? "transformer." : "");
    static const char *const cycle[3] = {"F32", "F16", "BF16"};
    for (int t = 0; t < n; t++) {
        if (!strcmp(dtype_mode, "mixed")) s[t].dtype = cycle[t % 3];
        else s[t].dtype = !strcmp(dtype_mode, "f16") ? "F16" : !strcmp(dtype_mode, "bf16") ? "BF16" : "F32";
    }
    if (specials) {
        s[1].dtype = "F16";
        s[1].values = VALUES_SPECIALS;
    }
    /* the mask buffers HF keeps: BOOL (1,1,maxT,maxT) and an F32 scalar of shape () */
    for (int l = 0; l < L; l++) {
        Spec *b = &s[n++];
        snprintf(b->name, sizeof b->name, "%sh.%d.attn.bias", prefix ? "transformer." : "", l);
        b->dtype = "BOOL";
        b->ndim = 4;
        b->shape[0] = b->shape[1] = 1;
        b->shape[2] = b->shape[3] = (size_t)MAXT;
        b->numel = (size_t)MAXT * MAXT;
        b->values = VALUES_ZERO;
        Spec *m = &s[n++];
        snprintf(m->name, sizeof m->name, "%sh.%d.attn.masked_bias", prefix ? "transformer." : "", l);
        m->dtype = "F32";
        set_shape(m, 0, 0, 0);
        m->values = VALUES_ZERO;
    }
    if (lm_head || !strcmp(fault, "lm-head-differs")) {
        Spec *h = &s[n++];
        snprintf(h->name, sizeof h->name, "lm_head.weight");
        h->dtype = s[0].dtype;
        set_shape(h, 2, (size_t)V, (size_t)C);
        h->values = strcmp(fault, "lm-head-differs") ? 0 : 5;
    }
    if (!strcmp(fault, "dtype-i64")) s[find_spec(s, n, "h.0.ln_1.weight")].dtype = "I64";
    if (!strcmp(fault, "dtype-f64")) s[find_spec(s, n, "h.1.mlp.c_fc.bias")].dtype = "F64";
    if (!strcmp(fault, "missing")) {
        int i = find_spec(s, n, "h.1.mlp.c_fc.bias");
        memmove(&s[i], &s[i + 1], (size_t)(n - i - 1) * sizeof(Spec));
        n--;
    }
    if (!strcmp(fault, "gap"))
        for (int i = 0; i < n; i++) {
            char *h1 = strstr(s[i].name, "h.1.");
            if (h1) h1[2] = '2';
        }
    if (!strcmp(fault, "extra")) {
        s[n] = s[find_spec(s, n, "h.0.ln_1.weight")];
        snprintf(s[n].name, sizeof s[n].name, "h.0.attn.rotary.weight");
        n++;
    }
    if (!strcmp(fault, "duplicate")) s[find_spec(s, n, "h.0.ln_2.bias")] = s[find_spec(s, n, "h.0.ln_2.weight")];
    if (!strcmp(fault, "wrong-shape")) set_shape(&s[find_spec(s, n, "h.0.attn.c_attn.weight")], 2, 3 * (size_t)C, (size_t)C);
    if (!strcmp(fault, "wrong-shape-ln")) set_shape(&s[find_spec(s, n, "h.1.ln_2.weight")], 1, (size_t)C + 1, 0);
    return n;
}

/* One safetensors file holding s[0..n), laid out, broken by `fault` (the
 * ones that touch offsets or the header text) and written. */
static void write_safetensors(const char *path, Spec *s, int n, const char *fault) {
    /* the data section, in reverse canonical order (unlike gpt2c's order) */
    size_t at = 0;
    for (int i = n - 1; i >= 0; i--) {
        s[i].begin = at;
        at += s[i].numel * (size_t)dtype_bytes(s[i].dtype);
        s[i].end = at;
    }
    if (!strcmp(fault, "dtype-unknown")) s[find_spec(s, n, "ln_f.bias")].dtype = "Q4";
    if (!strcmp(fault, "offset-range")) {
        Spec *w = &s[find_spec(s, n, "wte.weight")];
        w->begin += 64;
        w->end += 64;
    }
    if (!strcmp(fault, "end-before-begin")) {
        Spec *w = &s[find_spec(s, n, "h.0.ln_1.bias")];
        size_t b = w->begin;
        w->begin = w->end;
        w->end = b;
    }
    if (!strcmp(fault, "overlap")) {
        /* ln_1.bias written right after ln_1.weight (reverse order) starts 4 bytes early */
        Spec *w = &s[find_spec(s, n, "h.0.ln_1.weight")];
        w->begin -= 4;
        w->end -= 4;
    }
    if (!strcmp(fault, "size-mismatch")) s[find_spec(s, n, "h.1.attn.c_proj.weight")].end -= 4;

    size_t cap = 1024 + (size_t)n * 256;
    char *json = xcalloc(cap, 1, "header");
    header_json(json, cap, s, n);
    if (!strcmp(fault, "json-colon")) replace_first(json, cap, "\"dtype\":", "\"dtype\";");
    if (!strcmp(fault, "json-float")) replace_first(json, cap, "\"shape\":[", "\"shape\":[1.5,");
    if (!strcmp(fault, "json-negative")) replace_first(json, cap, "\"data_offsets\":[", "\"data_offsets\":[-");
    if (!strcmp(fault, "json-trailing-comma")) replace_first(json, cap, "]}}", "],}}");
    if (!strcmp(fault, "json-junk")) append(json, cap, " x");
    if (!strcmp(fault, "json-metadata-number")) replace_first(json, cap, "\"pt\"", "1");
    if (!strcmp(fault, "json-unknown-key")) replace_first(json, cap, "\"dtype\":", "\"kind\":\"x\",\"dtype\":");
    if (!strcmp(fault, "json-newline-name")) replace_first(json, cap, "\"wte.weight\"", "\"wte\\nweight\"");
    if (!strcmp(fault, "json-unterminated")) json[strlen(json) / 2] = '\0';
    size_t header_len = strlen(json);
    if (!strcmp(fault, "json-nul")) json[header_len - 1] = '\0'; /* the closing brace becomes a NUL byte */
    header_len += 3; /* pad with spaces, as writers do to align the data */
    memcpy(json + header_len - 3, "   ", 3);

    FILE *f = xfopen(path, "wb");
    uint64_t declared = header_len;
    if (!strcmp(fault, "header-past-eof")) declared += 1 << 20;
    if (!strcmp(fault, "header-huge")) declared = UINT64_MAX;
    put_le(f, declared, 8, path);
    xfwrite(json, 1, header_len, f, path);
    for (int i = n - 1; i >= 0; i--) write_data(f, &s[i], path);
    xfclose(f, path);
    free(json);
}

/*
 * The sharded layout: OUT is model.safetensors.index.json; shard k of N is
 * model-0000k-of-0000N.safetensors beside it, holding a contiguous slice of
 * the tensors. The index's metadata holds values of every JSON kind, which
 * the reader must pass over.
 * INDEX_FAULTS:
 *   index-missing    the weight_map puts h.0.ln_1.weight in the wrong shard
 *   index-unlisted   the weight_map leaves ln_f.bias out
 *   index-path       a shard named "../model-00001-of-00002.safetensors"
 */
static void write_sharded(const char *index_path, Spec *s, int n, int shards, const char *fault) {
    char folder[1024];
    snprintf(folder, sizeof folder, "%s", index_path);
    char *slash = strrchr(folder, '/');
    if (slash) *slash = '\0';
    else snprintf(folder, sizeof folder, ".");
    int *shard_of = xmalloc((size_t)n * sizeof(int), "shards");
    for (int k = 0; k < shards; k++) {
        int from = n * k / shards, to = n * (k + 1) / shards;
        for (int i = from; i < to; i++) shard_of[i] = k;
        char path[1100];
        snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", folder, k + 1, shards);
        write_safetensors(path, s + from, to - from, "");
    }
    FILE *f = xfopen(index_path, "wb");
    fprintf(f, "{\n  \"metadata\": {\"total_size\": 12345, \"odd\": [-1.5e3, true, false, null, {\"x\": []}]},\n"
               "  \"weight_map\": {");
    for (int i = 0; i < n; i++) {
        if (!strcmp(fault, "index-unlisted") && strstr(s[i].name, "ln_f.bias")) continue;
        int k = shard_of[i];
        if (!strcmp(fault, "index-missing") && strstr(s[i].name, "h.0.ln_1.weight")) k = (k + 1) % shards;
        fprintf(f, "%s\n    \"%s\": \"%smodel-%05d-of-%05d.safetensors\"", i ? "," : "", s[i].name,
                !strcmp(fault, "index-path") && k == 0 ? "../" : "", k + 1, shards);
    }
    fprintf(f, "\n  }\n}\n");
    xfclose(f, index_path);
    free(shard_of);
}

static Spec *alloc_specs(void) { return xcalloc((size_t)num_weights() + 2 * (size_t)L + 4, sizeof(Spec), "specs"); }

static void write_file(const char *path, const char *dtype_mode, int prefix, int lm_head, int specials,
                       const char *fault, int shards) {
    Spec *s = alloc_specs();
    int n = file_specs(s, dtype_mode, prefix, lm_head, specials, fault);
    if (shards > 1) write_sharded(path, s, n, shards, fault);
    else write_safetensors(path, s, n, fault);
    free(s);
}

/* ---- check: the imported checkpoint against value(), in gpt2c's layout ---- */

static int failed = 0;

static void expect(const char *what, size_t i, float got, float want) {
    int same = isnan(want) ? isnan(got) : (got == want && signbit(got) == signbit(want));
    if (!same && !failed) {
        printf("%s[%zu] = %.9g, expected %.9g\n", what, i, got, want);
        failed = 1;
    }
}

/* A version 3 checkpoint's weights exactly as they are on disk: gpt2_load
 * refuses the infinities and NaNs that --f16-specials puts in wpe on purpose. */
static void load_raw(GPT2 *m, const char *path) {
    size_t n;
    char *bytes = read_whole_file(path, &n);
    int32_t h[8];
    if (n < 1024) die("%s: shorter than a checkpoint header", path);
    memcpy(h, bytes, sizeof h);
    GPT2Config c = {.maxT = h[2], .V = h[3], .L = h[4], .NH = h[5], .C = h[6], .Vp = h[7]};
    gpt2_validate_config(&c, path);
    gpt2_init_empty(m, &c);
    if (h[1] != 3 || n != 1024 + m->num_parameters * sizeof(float)) die("%s: not a float32 checkpoint of its size", path);
    memcpy(m->params_memory, bytes + 1024, m->num_parameters * sizeof(float));
    free(bytes);
}

static int check_model(const char *path, int specials) {
    GPT2 m;
    load_raw(&m, path);
    GPT2Config c = m.config;
    if (c.maxT != MAXT || c.V != V || c.Vp != SYNTHETIC_VP || c.L != L || c.NH != SYNTHETIC_NH || c.C != C) {
        printf("config maxT=%d V=%d Vp=%d L=%d NH=%d C=%d, expected %d %d %d %d %d %d\n", c.maxT, c.V, c.Vp, c.L, c.NH,
               c.C, MAXT, V, SYNTHETIC_VP, L, SYNTHETIC_NH, C);
        return 1;
    }
    Spec *s = alloc_specs();
    int n = canonical_specs(s, "");
    for (int t = 0; t < n; t++)
        for (size_t e = 0; e < s[t].numel; e++) {
            float want = specials && t == 1 && e < NUM_SPECIALS ? SPECIALS[e].value : value(t, e);
            expect(s[t].name, e, *gpt2c_element(&m.params, t, e), want);
        }
    for (size_t e = (size_t)V * C; e < (size_t)SYNTHETIC_VP * C; e++) expect("wte padding", e, m.params.wte[e], 0.0f);
    free(s);
    gpt2_free(&m);
    return failed;
}

/* ---- a checkpoint's weights through another dtype ---- */

static const char *dtype_name(const char *arg) {
    if (!strcmp(arg, "f32")) return "F32";
    if (!strcmp(arg, "f16")) return "F16";
    if (!strcmp(arg, "bf16")) return "BF16";
    die_usage("make_safetensors: dtype '%s' is not f32, f16 or bf16", arg);
}

/* Every parameter of IMPORTED is ORIG's rounded to dtype (padding included). */
static int check_rounded(const char *orig_path, const char *imported_path, const char *dtype) {
    GPT2 a, b;
    gpt2_load(&a, orig_path);
    gpt2_load(&b, imported_path);
    if (memcmp(&a.config, &b.config, sizeof a.config) != 0) {
        printf("the configs differ\n");
        return 1;
    }
    for (size_t i = 0; i < a.num_parameters; i++)
        expect("parameter", i, b.params_memory[i], round_to_dtype(dtype, a.params_memory[i]));
    gpt2_free(&a);
    gpt2_free(&b);
    return failed;
}

/* An exported file: exactly the canonical tensors, unprefixed, in the
 * dtype, shaped as HF's GPT-2, back to back from offset 0 to the end of the
 * data, which starts 8-byte aligned; each element the checkpoint's. */
static int check_hf(const char *st_path, const char *orig_path, const char *dtype) {
    GPT2 m;
    gpt2_load(&m, orig_path);
    C = m.config.C, L = m.config.L, V = m.config.V, MAXT = m.config.maxT;
    source = &m;
    SafeTensors st;
    safetensors_open(&st, st_path);
    Spec *s = alloc_specs();
    int n = canonical_specs(s, "");
    if (st.count != n) printf("%d tensors, expected %d\n", st.count, n), failed = 1;
    if (st.data_start % 8) printf("the data starts at byte %llu, not a multiple of 8\n", (unsigned long long)st.data_start), failed = 1;
    uint64_t at = 0;
    SafetensorsScratch scratch = {0};
    for (int t = 0; t < n && !failed; t++) {
        const SafeTensor *x = safetensors_find(&st, s[t].name);
        if (!x) {
            printf("no tensor %s\n", s[t].name);
            failed = 1;
            break;
        }
        int shape_ok = x->ndim == s[t].ndim && x->shape[0] == s[t].shape[0] && (x->ndim == 1 || x->shape[1] == s[t].shape[1]);
        if (!shape_ok || strcmp(SAFETENSORS_DTYPE_NAMES[x->dtype], dtype) || x->begin != at) {
            printf("%s: shape %s, dtype %s, offset %llu; expected (%zu, %zu), %s, %llu\n", s[t].name,
                   safetensors_shape_string(x->shape, x->ndim), SAFETENSORS_DTYPE_NAMES[x->dtype],
                   (unsigned long long)x->begin, s[t].shape[0], s[t].shape[1], dtype, (unsigned long long)at);
            failed = 1;
            break;
        }
        at = x->end;
        const float *v = safetensors_read_floats(&st, x, &scratch);
        for (size_t e = 0; e < x->numel; e++) expect(s[t].name, e, v[e], round_to_dtype(dtype, spec_value(t, e)));
    }
    if (!failed && at != st.data_size) printf("the tensors end at %llu, the data at %llu\n", (unsigned long long)at,
                                              (unsigned long long)st.data_size), failed = 1;
    safetensors_scratch_free(&scratch);
    safetensors_close(&st);
    free(s);
    gpt2_free(&m);
    return failed;
}

/* ---- forward: both models on the same tokens ---- */

static int compare_forward(const char *a_path, const char *b_path) {
    enum { T = 8 };
    const int tokens[T] = {0, 7, 49, 3, 3, 21, 11, 48};
    GPT2 a, b;
    gpt2_load(&a, a_path);
    gpt2_load(&b, b_path);
    gpt2_alloc(&a, 1, T);
    gpt2_alloc(&b, 1, T);
    gpt2_forward(&a, tokens, NULL, 1, T);
    gpt2_forward(&b, tokens, NULL, 1, T);
    int bad = 0;
    for (size_t i = 0; i < (size_t)T * V; i++) {
        if (!isfinite(a.acts.logits[i]) || a.acts.logits[i] != b.acts.logits[i]) {
            printf("logit %zu: %.9g vs %.9g\n", i, a.acts.logits[i], b.acts.logits[i]);
            bad = 1;
            break;
        }
    }
    gpt2_free(&a);
    gpt2_free(&b);
    return bad;
}

int main(int argc, char **argv) {
    int writing = argc >= 3 && !strcmp(argv[1], "write"), converting = argc >= 4 && !strcmp(argv[1], "from-checkpoint");
    if (writing || converting) {
        const char *dtype = "f32", *fault = "";
        int prefix = 0, lm_head = 0, specials = 0, shards = 1;
        GPT2 m;
        if (converting) {
            gpt2_load(&m, argv[2]);
            C = m.config.C, L = m.config.L, V = m.config.V, MAXT = m.config.maxT;
            source = &m;
        }
        for (int i = converting ? 4 : 3; i < argc; i++) {
            if (!strcmp(argv[i], "--dtype") && i + 1 < argc) dtype = argv[++i];
            else if (!strcmp(argv[i], "--fault") && i + 1 < argc && writing) fault = argv[++i];
            else if (!strcmp(argv[i], "--shards") && i + 1 < argc) shards = (int)parse_long(argv[++i], "--shards", 1, 99);
            else if (!strcmp(argv[i], "--shape") && i + 1 < argc && writing) {
                if (sscanf(argv[++i], "%d,%d,%d,%d", &C, &L, &V, &MAXT) != 4 || C < 1 || L < 1 || V < 1 || MAXT < 1)
                    die_usage("make_safetensors: --shape C,L,V,MAXT");
            } else if (!strcmp(argv[i], "--prefix")) prefix = 1;
            else if (!strcmp(argv[i], "--lm-head") && writing) lm_head = 1;
            else if (!strcmp(argv[i], "--f16-specials") && writing) specials = 1;
            else die_usage("make_safetensors: unknown argument %s", argv[i]);
        }
        write_file(argv[converting ? 3 : 2], dtype, prefix, lm_head, specials, fault, shards);
        if (converting) gpt2_free(&m);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "check")) return check_model(argv[2], argc > 3 && !strcmp(argv[3], "--f16-specials"));
    if (argc == 5 && !strcmp(argv[1], "check-rounded")) return check_rounded(argv[2], argv[3], dtype_name(argv[4]));
    if (argc == 5 && !strcmp(argv[1], "check-hf")) return check_hf(argv[2], argv[3], dtype_name(argv[4]));
    if (argc == 4 && !strcmp(argv[1], "forward")) return compare_forward(argv[2], argv[3]);
    die_usage("usage: make_safetensors write OUT [options] | from-checkpoint CKPT OUT [options] | check MODEL "
              "[--f16-specials] | check-rounded ORIG IMPORTED DTYPE | check-hf FILE ORIG DTYPE | forward A B");
}
