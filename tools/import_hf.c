/*
 * import_hf: convert Hugging Face GPT-2 weights (model.safetensors) into a
 * gpt2c checkpoint (llm.c version 3, float32).
 *
 *   ./import_hf [--heads N] IN.safetensors OUT.bin
 *
 * Works for gpt2, gpt2-medium, gpt2-large and gpt2-xl. The config is read from
 * the tensors themselves: C and V from wte.weight (V,C), maxT from wpe.weight
 * (maxT,C), L from the number of h.N blocks. The file does not record the head
 * count, so NH comes from the standard GPT-2 table (C 768/1024/1280/1600 ->
 * NH 12/16/20/25), or from --heads for any other width.
 *
 * What the conversion does (notes.md, "Importing Hugging Face weights"):
 *   - F32, F16 and BF16 tensors are widened to float32;
 *   - HF GPT-2 uses Conv1D layers, whose weights are stored (in, out); gpt2c's
 *     matmul wants (out, in), so the four weight matrices of every block
 *     (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj) are transposed;
 *   - wte is padded from V to Vp rows (V rounded up to a multiple of 128) with
 *     zeros; the output layer is tied to wte, so lm_head.weight, if present,
 *     must equal wte.weight and is not stored;
 *   - the attention-mask buffers h.N.attn.bias / h.N.attn.masked_bias are
 *     ignored; any other unexpected tensor is an error;
 *   - names may carry a "transformer." prefix or not.
 *
 * Memory: the output model plus one tensor (raw and widened) at a time; the
 * input file is read tensor by tensor with fseeko, never all at once.
 * The output is written atomically. Exit 1 on bad data, 2 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common.h"
#include "gpt2.h"
#include "json.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: import_hf [--heads N] IN.safetensors OUT.bin\n"
            "  Converts Hugging Face GPT-2 weights (gpt2, gpt2-medium, gpt2-large, gpt2-xl)\n"
            "  into a gpt2c checkpoint (llm.c version 3, float32).\n"
            "  Tensors may be F32, F16 or BF16, named with or without 'transformer.'.\n"
            "  --heads N   attention heads; needed only when C is not a standard GPT-2\n"
            "              width (768, 1024, 1280, 1600 -> 12, 16, 20, 25 heads)\n");
}

/* ------------------------------------------------------------------------ */
/* safetensors: the header                                                   */

/*
 * A safetensors file is: u64 little-endian N, then N bytes of JSON, then the
 * data section. The JSON maps each tensor name to its dtype, its shape and its
 * [begin, end) byte range within the data section (plus an optional
 * "__metadata__" object of strings, which we skip).
 */
#define MAX_HEADER_BYTES (100u << 20) /* the limit the reference reader uses */
#define MAX_DIMS 8

typedef struct {
    const char *name;
    int size; /* bytes per element */
} Dtype;

/* Every dtype safetensors defines, so that any well-formed file can be
 * checked (the mask buffers we skip may be BOOL or U8); only the first three
 * can be weights. */
static const Dtype DTYPES[] = {
    {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}, {"I64", 8}, {"I32", 4}, {"I16", 2},
    {"I8", 1},  {"U64", 8}, {"U32", 4},  {"U16", 2}, {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
enum { DT_F32 = 0, DT_F16 = 1, DT_BF16 = 2, NUM_DTYPES = sizeof(DTYPES) / sizeof(DTYPES[0]) };

typedef struct {
    char *name;
    int dtype; /* index into DTYPES */
    int ndim;
    uint64_t shape[MAX_DIMS];
    uint64_t begin, end; /* byte range within the data section */
    size_t numel;
    int used; /* claimed by the conversion plan */
} Tensor;

typedef struct {
    const char *path;
    Tensor *tensors;
    int count, cap;
    uint64_t data_start; /* file offset of the data section: 8 + N */
    uint64_t data_size;
} SafeTensors;

/* ---- the header, read with the project's JSON scanner (json.h); what the
 * keys mean is decided here. */

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
    for (int i = 0; i < NUM_DTYPES; i++)
        if (!strcmp(s, DTYPES[i].name)) return i;
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
static void header_tensor(JsonReader *r, Tensor *t) {
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    json_expect(r, '{');
    do {
        const char *key = header_name(r);
        json_expect(r, ':');
        if (!strcmp(key, "dtype") && !have_dtype) {
            t->dtype = dtype_index(r, header_name(r));
            have_dtype = 1;
        } else if (!strcmp(key, "shape") && !have_shape) {
            t->ndim = header_uint_array(r, t->shape, MAX_DIMS, "shape");
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

static Tensor *find_exact(const SafeTensors *st, const char *name) {
    for (int i = 0; i < st->count; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

/* The whole header: one object of tensors (and maybe __metadata__). Trailing
 * spaces are allowed (writers pad the header to an alignment). The strings
 * are decoded in place, so text is modified. */
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
            if (find_exact(st, name)) {
                r.pos = key_pos;
                json_fail(&r, "tensor \"%s\" appears twice", name);
            }
            if (st->count == st->cap) {
                st->cap = st->cap ? 2 * st->cap : 64;
                Tensor *grown = realloc(st->tensors, mul_size((size_t)st->cap, sizeof(Tensor), "tensor list"));
                if (!grown) die("out of memory for the tensor list of %s", st->path);
                st->tensors = grown;
            }
            Tensor *t = &st->tensors[st->count++];
            memset(t, 0, sizeof *t);
            size_t n = strlen(name) + 1;
            t->name = memcpy(xmalloc(n, "tensor name"), name, n); /* outlives the header text */
            header_tensor(&r, t);
        } while (json_next_member(&r, '}'));
    }
    json_finish(&r);
}

/* ---- header checks: every tensor's byte range inside the data section,
 * its length equal to dtype size x shape, and no two ranges overlapping. */

static int by_begin(const void *a, const void *b) {
    const Tensor *x = *(const Tensor *const *)a, *y = *(const Tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static void check_ranges(SafeTensors *st) {
    for (int i = 0; i < st->count; i++) {
        Tensor *t = &st->tensors[i];
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
        uint64_t bytes = n * (uint64_t)DTYPES[t->dtype].size;
        if (bytes / (uint64_t)DTYPES[t->dtype].size != n || bytes != t->end - t->begin)
            die("%s: tensor %s: %" PRIu64 " bytes of data, but %s x %" PRIu64 " elements need %" PRIu64, st->path,
                t->name, t->end - t->begin, DTYPES[t->dtype].name, n, bytes);
        t->numel = (size_t)n; /* fits: it is at most the file size */
    }
    /* sorted by begin, a range overlaps another iff it starts before the
     * previous one ends (empty tensors take no bytes and cannot overlap) */
    Tensor **order = xmalloc(mul_size((size_t)st->count, sizeof(Tensor *), "tensor order"), "tensor order");
    int n = 0;
    for (int i = 0; i < st->count; i++)
        if (st->tensors[i].end > st->tensors[i].begin) order[n++] = &st->tensors[i];
    qsort(order, (size_t)n, sizeof(Tensor *), by_begin);
    const Tensor *first = NULL, *second = NULL;
    for (int i = 1; i < n && !first; i++)
        if (order[i]->begin < order[i - 1]->end) first = order[i - 1], second = order[i];
    free(order);
    if (first)
        die("%s: tensors %s and %s overlap (bytes %" PRIu64 "..%" PRIu64 " and %" PRIu64 "..%" PRIu64 ")", st->path,
            first->name, second->name, first->begin, first->end, second->begin, second->end);
}

static void safetensors_open(SafeTensors *st, FILE *f, const char *path) {
    memset(st, 0, sizeof *st);
    st->path = path;
    uint64_t fsize = file_size(f, path);
    if (fsize < 8) die("%s: too short for a safetensors file (%" PRIu64 " bytes)", path, fsize);
    unsigned char len8[8];
    xfread(len8, 1, 8, f, path);
    uint64_t N = 0;
    for (int i = 7; i >= 0; i--) N = N << 8 | len8[i]; /* little-endian */
    if (N > fsize - 8)
        die("%s: header length %" PRIu64 " runs past the end of the file (%" PRIu64 " bytes)", path, N, fsize);
    if (N > MAX_HEADER_BYTES) die("%s: header length %" PRIu64 " is absurdly large (limit %u)", path, N, MAX_HEADER_BYTES);
    char *text = xmalloc((size_t)N + 1, "safetensors header");
    xfread(text, 1, (size_t)N, f, path);
    text[N] = '\0';
    parse_header(st, text, (size_t)N);
    free(text);
    st->data_start = 8 + N;
    st->data_size = fsize - 8 - N;
    check_ranges(st);
}

static void safetensors_free(SafeTensors *st) {
    for (int i = 0; i < st->count; i++) free(st->tensors[i].name);
    free(st->tensors);
}

/* ------------------------------------------------------------------------ */
/* finding tensors: "h.0.ln_1.weight" or "transformer.h.0.ln_1.weight"        */

#define PREFIX "transformer."

/* The tensor called `name`, with or without the prefix, or NULL. Marks it used. */
static Tensor *find_tensor(const SafeTensors *st, const char *name) {
    char prefixed[256];
    snprintf(prefixed, sizeof prefixed, PREFIX "%s", name);
    Tensor *bare = find_exact(st, name), *pre = find_exact(st, prefixed);
    if (bare && pre) die("%s: both %s and %s are present", st->path, name, prefixed);
    Tensor *t = bare ? bare : pre;
    if (t) t->used = 1;
    return t;
}

static Tensor *require_tensor(const SafeTensors *st, const char *name) {
    Tensor *t = find_tensor(st, name);
    if (!t) die("%s: missing tensor %s", st->path, name);
    return t;
}

#define SHAPE_STRING_MAX (MAX_DIMS * 24 + 4)

/* "(3, 4)": in a static buffer, overwritten by the next call. */
static const char *shape_string(const uint64_t *shape, int ndim) {
    static char buf[SHAPE_STRING_MAX];
    size_t n = 0;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "(");
    for (int d = 0; d < ndim; d++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, d ? ", %" PRIu64 : "%" PRIu64, shape[d]);
    snprintf(buf + n, sizeof buf - n, ")");
    return buf;
}

/* Die unless t has exactly the shape (rows) or (rows, cols); cols 0 means 1-D. */
static void expect_shape(const SafeTensors *st, const Tensor *t, uint64_t rows, uint64_t cols) {
    uint64_t want[2] = {rows, cols};
    int ndim = cols ? 2 : 1;
    if (t->ndim != ndim || t->shape[0] != rows || (ndim == 2 && t->shape[1] != cols)) {
        char got[SHAPE_STRING_MAX];
        snprintf(got, sizeof got, "%s", shape_string(t->shape, t->ndim));
        die("%s: tensor %s has shape %s, expected %s", st->path, t->name, got, shape_string(want, ndim));
    }
}

/* ------------------------------------------------------------------------ */
/* the config                                                                */

/* Heads of the four released GPT-2 sizes, by width: every one has hs = 64. */
static int standard_heads(int C) {
    switch (C) {
    case 768: return 12;   /* gpt2 */
    case 1024: return 16;  /* gpt2-medium */
    case 1280: return 20;  /* gpt2-large */
    case 1600: return 25;  /* gpt2-xl */
    default: return 0;
    }
}

/* If `name` (prefix stripped) is "h.<n>.<...>", the block number n, else -1. */
static long block_number(const char *name, const char *path) {
    if (!strncmp(name, PREFIX, strlen(PREFIX))) name += strlen(PREFIX);
    if (strncmp(name, "h.", 2) != 0) return -1;
    const char *p = name + 2;
    long n = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (n > 100000) die("%s: tensor %s: block number too large", path, name);
        n = n * 10 + (*p - '0');
    }
    if (digits == 0 || *p != '.' || (digits > 1 && name[2] == '0'))
        die("%s: tensor %s: expected h.<block number>.<name>", path, name);
    return n;
}

/* Number of blocks: they must be numbered 0..L-1 with no gaps. */
static int count_blocks(const SafeTensors *st) {
    long max = -1;
    for (int i = 0; i < st->count; i++) {
        long b = block_number(st->tensors[i].name, st->path);
        if (b > max) max = b;
    }
    if (max < 0) die("%s: no transformer blocks (tensors h.0.*)", st->path);
    for (long b = 0; b <= max; b++) {
        int found = 0;
        for (int i = 0; i < st->count && !found; i++) found = block_number(st->tensors[i].name, st->path) == b;
        if (!found) die("%s: blocks are not numbered 0..%ld: h.%ld is missing", st->path, max, b);
    }
    return (int)max + 1;
}

static int dim_as_int(const SafeTensors *st, const Tensor *t, int d) {
    if (t->shape[d] == 0 || t->shape[d] > INT_MAX)
        die("%s: tensor %s has shape %s: dimension %d is out of range", st->path, t->name,
            shape_string(t->shape, t->ndim), d);
    return (int)t->shape[d];
}

/* C and V from wte (V,C), maxT from wpe (maxT,C), L from the blocks, NH from
 * the table or --heads (0 = not given). Vp: V rounded up to a multiple of 128,
 * so the output matmul's rows divide evenly into tiles. */
static GPT2Config read_config(const SafeTensors *st, int heads) {
    GPT2Config c;
    const Tensor *wte = require_tensor(st, "wte.weight");
    const Tensor *wpe = require_tensor(st, "wpe.weight");
    if (wte->ndim != 2) die("%s: tensor %s has shape %s, expected (V, C)", st->path, wte->name,
                            shape_string(wte->shape, wte->ndim));
    if (wpe->ndim != 2) die("%s: tensor %s has shape %s, expected (maxT, C)", st->path, wpe->name,
                            shape_string(wpe->shape, wpe->ndim));
    c.V = dim_as_int(st, wte, 0);
    c.C = dim_as_int(st, wte, 1);
    c.maxT = dim_as_int(st, wpe, 0);
    expect_shape(st, wpe, (uint64_t)c.maxT, (uint64_t)c.C);
    if (c.V > INT_MAX - 127) die("%s: vocabulary of %d is too large", st->path, c.V);
    c.Vp = (c.V + 127) / 128 * 128;
    c.L = count_blocks(st);
    c.NH = heads ? heads : standard_heads(c.C);
    if (!c.NH) die_usage("%s: C=%d is not a standard GPT-2 width; give the head count with --heads N", st->path, c.C);
    if (c.C % c.NH) die_usage("%s: C=%d is not divisible by %d heads", st->path, c.C, c.NH);
    gpt2_validate_config(&c, st->path);
    return c;
}

/* ------------------------------------------------------------------------ */
/* the conversion plan: which tensor goes where, and how                     */

typedef struct {
    const Tensor *src;
    float *dst;
    size_t rows, cols; /* of the source; 1-D tensors are (n, 1) */
    int transpose;     /* Conv1D weight: (in, out) -> (out, in) */
} Copy;

typedef struct {
    Copy *copies;
    int count;
} Plan;

/* Claim tensor `name`, check it is (rows) or (rows, cols), and plan its copy. */
static void plan_copy(Plan *p, const SafeTensors *st, const char *name, float *dst, size_t rows, size_t cols,
                      int transpose) {
    const Tensor *t = require_tensor(st, name);
    expect_shape(st, t, rows, cols);
    if (t->dtype != DT_F32 && t->dtype != DT_F16 && t->dtype != DT_BF16)
        die("%s: tensor %s has dtype %s; only F32, F16 and BF16 weights can be imported", st->path, t->name,
            DTYPES[t->dtype].name);
    p->copies[p->count++] = (Copy){t, dst, rows, cols ? cols : 1, transpose};
}

/*
 * One block's twelve tensors, with their HF shapes in units of C.
 * Conv1D computes y = x W + b with W stored (in, out); gpt2c's matmul_forward
 * computes y = x W^T + b with W stored (out, in), one output channel per row,
 * so the four weight matrices are transposed.
 */
static void plan_block(Plan *p, const SafeTensors *st, const ParameterTensors *w, int l, size_t C) {
    const struct {
        const char *name;
        float *dst;
        size_t rows, cols; /* HF shape / C; cols 0 = 1-D */
        int conv1d;
    } parts[] = {
        {"ln_1.weight", w->ln1w + l * C, 1, 0, 0},
        {"ln_1.bias", w->ln1b + l * C, 1, 0, 0},
        {"attn.c_attn.weight", w->qkvw + l * 3 * C * C, 1, 3, 1}, /* (C,3C) -> (3C,C) */
        {"attn.c_attn.bias", w->qkvb + l * 3 * C, 3, 0, 0},
        {"attn.c_proj.weight", w->attprojw + l * C * C, 1, 1, 1}, /* (C,C) -> (C,C)^T */
        {"attn.c_proj.bias", w->attprojb + l * C, 1, 0, 0},
        {"ln_2.weight", w->ln2w + l * C, 1, 0, 0},
        {"ln_2.bias", w->ln2b + l * C, 1, 0, 0},
        {"mlp.c_fc.weight", w->fcw + l * 4 * C * C, 1, 4, 1},     /* (C,4C) -> (4C,C) */
        {"mlp.c_fc.bias", w->fcb + l * 4 * C, 4, 0, 0},
        {"mlp.c_proj.weight", w->fcprojw + l * 4 * C * C, 4, 1, 1}, /* (4C,C) -> (C,4C) */
        {"mlp.c_proj.bias", w->fcprojb + l * C, 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "h.%d.%s", l, parts[i].name);
        plan_copy(p, st, name, parts[i].dst, parts[i].rows * C, parts[i].cols * C, parts[i].conv1d);
    }
}

/* The mask buffers HF keeps in the state dict: not parameters. */
static int is_ignored_buffer(const char *name) {
    size_t n = strlen(name);
    return block_number(name, "") >= 0 &&
           ((n > 10 && !strcmp(name + n - 10, ".attn.bias")) || (n > 17 && !strcmp(name + n - 17, ".attn.masked_bias")));
}

static Plan make_plan(const SafeTensors *st, const GPT2 *model) {
    const GPT2Config *c = &model->config;
    const ParameterTensors *w = &model->params;
    size_t C = (size_t)c->C;
    Plan p = {xmalloc(mul_size((size_t)c->L * 12 + 4, sizeof(Copy), "plan"), "plan"), 0};
    plan_copy(&p, st, "wte.weight", w->wte, (size_t)c->V, C, 0); /* rows V..Vp-1 stay zero */
    plan_copy(&p, st, "wpe.weight", w->wpe, (size_t)c->maxT, C, 0);
    for (int l = 0; l < c->L; l++) plan_block(&p, st, w, l, C);
    plan_copy(&p, st, "ln_f.weight", w->lnfw, C, 0, 0);
    plan_copy(&p, st, "ln_f.bias", w->lnfb, C, 0, 0);
    find_tensor(st, "lm_head.weight"); /* claimed here, checked after the copies */
    for (int i = 0; i < st->count; i++)
        if (!st->tensors[i].used && !is_ignored_buffer(st->tensors[i].name))
            die("%s: unexpected tensor %s (not part of a GPT-2 model)", st->path, st->tensors[i].name);
    return p;
}

/* ------------------------------------------------------------------------ */
/* reading and widening one tensor                                            */

/*
 * IEEE half precision: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
 *   exponent 1..30: (-1)^s * 1.m * 2^(e-15)  -> same value with float's bias 127
 *   exponent 0:     (-1)^s * 0.m * 2^-14      (zero and subnormals) = m * 2^-24
 *   exponent 31:    infinity (m = 0) or NaN (m != 0, payload kept)
 * Every half is exactly a float, so the conversion is exact.
 */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 31) {
        bits = sign | 0x7F800000u | mant << 13;
    } else if (exp != 0) {
        bits = sign | (exp - 15 + 127) << 23 | mant << 13;
    } else {
        /* m * 2^-24, with m < 2^10: exact in float; the sign is kept for -0 */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* bfloat16 is the top half of a float32. */
static float bf16_bits_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* raw little-endian bytes of n elements of dtype -> n floats */
static void widen(float *out, const unsigned char *raw, size_t n, int dtype) {
    for (size_t i = 0; i < n; i++) {
        if (dtype == DT_F32) {
            const unsigned char *b = raw + 4 * i;
            uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            memcpy(&out[i], &bits, sizeof bits);
        } else {
            uint16_t h = (uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8);
            out[i] = dtype == DT_F16 ? half_to_float(h) : bf16_bits_to_float(h);
        }
    }
}

/* Scratch buffers reused from tensor to tensor, grown to the largest. */
typedef struct {
    unsigned char *raw;
    float *values;
    size_t cap; /* elements */
} Scratch;

/* Tensor t as floats, in its own (row-major) layout. */
static const float *read_tensor(FILE *f, const SafeTensors *st, const Tensor *t, Scratch *s) {
    if (t->numel > s->cap) {
        free(s->raw);
        free(s->values);
        s->cap = t->numel;
        s->raw = xmalloc(mul_size(s->cap, 4, "tensor buffer"), "tensor buffer");
        s->values = xmalloc(mul_size(s->cap, sizeof(float), "tensor buffer"), "tensor buffer");
    }
    uint64_t at = st->data_start + t->begin;
    if (at > (uint64_t)INT64_MAX || fseeko(f, (off_t)at, SEEK_SET) != 0)
        die("%s: cannot seek to tensor %s", st->path, t->name);
    xfread(s->raw, 1, (size_t)(t->end - t->begin), f, st->path);
    widen(s->values, s->raw, t->numel, t->dtype);
    return s->values;
}

/* dst (cols, rows) = src (rows, cols) transposed. Walking the source in
 * row-major order writes the destination with stride `rows`; fine at these
 * sizes (at most 6400 x 1600), and it runs once per import. */
static void transpose(float *dst, const float *src, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
}

static void run_plan(const Plan *p, FILE *f, const SafeTensors *st, Scratch *s) {
    for (int i = 0; i < p->count; i++) {
        const Copy *cp = &p->copies[i];
        const float *v = read_tensor(f, st, cp->src, s);
        if (cp->transpose) transpose(cp->dst, v, cp->rows, cp->cols);
        else memcpy(cp->dst, v, cp->rows * cp->cols * sizeof(float));
    }
}

/* An untied lm_head would silently change the model, so it must equal wte. */
static void check_lm_head(FILE *f, const SafeTensors *st, const GPT2 *model, Scratch *s) {
    const Tensor *t = find_tensor(st, "lm_head.weight");
    if (!t) return;
    const GPT2Config *c = &model->config;
    expect_shape(st, t, (uint64_t)c->V, (uint64_t)c->C);
    if (t->dtype != DT_F32 && t->dtype != DT_F16 && t->dtype != DT_BF16)
        die("%s: tensor %s has dtype %s; only F32, F16 and BF16 weights can be imported", st->path, t->name,
            DTYPES[t->dtype].name);
    const float *v = read_tensor(f, st, t, s);
    if (memcmp(v, model->params.wte, t->numel * sizeof(float)) != 0)
        die("%s: lm_head.weight differs from wte.weight; gpt2c ties the output layer to wte", st->path);
}

/* ------------------------------------------------------------------------ */

#ifndef IMPORT_HF_NO_MAIN /* test/fuzz_safetensors.c includes this file for the functions above */
int main(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    int heads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--heads")) {
            heads = (int)parse_long(i + 1 < argc ? argv[i + 1] : NULL, "--heads", 1, 1 << 20);
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            die_usage("unknown option %s (see --help)", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            die_usage("too many arguments (see --help)");
        }
    }
    if (!in || !out) die_usage("usage: import_hf [--heads N] IN.safetensors OUT.bin (see --help)");

    FILE *f = xfopen(in, "rb");
    SafeTensors st;
    safetensors_open(&st, f, in);
    GPT2Config c = read_config(&st, heads);
    GPT2 model;
    gpt2_init_empty(&model, &c); /* zeroed, so the padded wte rows are zero */
    Plan plan = make_plan(&st, &model);
    Scratch scratch = {0};
    run_plan(&plan, f, &st, &scratch);
    check_lm_head(f, &st, &model, &scratch);
    xfclose(f, in);

    size_t unpadded = model.num_parameters - (size_t)(c.Vp - c.V) * c.C;
    printf("import_hf: %s: L=%d NH=%d C=%d V=%d (Vp=%d) maxT=%d, %zu parameters -> %s\n", in, c.L, c.NH, c.C, c.V,
           c.Vp, c.maxT, unpadded, out);
    gpt2_save(&model, out);

    free(scratch.raw);
    free(scratch.values);
    free(plan.copies);
    safetensors_free(&st);
    gpt2_free(&model);
    return 0;
}
#endif
