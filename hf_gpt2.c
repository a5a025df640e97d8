/* hf_gpt2.c: GPT-2 in Hugging Face's layout (see hf_gpt2.h). */
#define _POSIX_C_SOURCE 200809L
#include "hf_gpt2.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define PREFIX "transformer."

/* ------------------------------------------------------------------------ */
/* the table: HF tensor <-> gpt2c tensor                                     */

int hf_gpt2_num_tensors(int L) { return 12 * L + 4; }

/*
 * One block's twelve tensors, with their HF shapes in units of C.
 * Conv1D computes y = x W + b with W stored (in, out); gpt2c's matmul_forward
 * computes y = x W^T + b with W stored (out, in), one output channel per row,
 * so the four weight matrices are each other's transpose.
 */
static void block_tensors(const GPT2 *model, int l, HfTensor *out) {
    size_t C = (size_t)model->config.C;
    LayerParams w = gpt2_layer_params(&model->params, &model->config, l);
    const struct {
        const char *name;
        float *param;
        size_t rows, cols; /* HF shape / C; cols 0 = 1-D */
        int conv1d;
    } parts[12] = {
        {"ln_1.weight", w.ln1w, 1, 0, 0},
        {"ln_1.bias", w.ln1b, 1, 0, 0},
        {"attn.c_attn.weight", w.qkvw, 1, 3, 1}, /* (C,3C) <-> qkvw (3C,C) */
        {"attn.c_attn.bias", w.qkvb, 3, 0, 0},
        {"attn.c_proj.weight", w.attprojw, 1, 1, 1}, /* (C,C) <-> attprojw, transposed */
        {"attn.c_proj.bias", w.attprojb, 1, 0, 0},
        {"ln_2.weight", w.ln2w, 1, 0, 0},
        {"ln_2.bias", w.ln2b, 1, 0, 0},
        {"mlp.c_fc.weight", w.fcw, 1, 4, 1}, /* (C,4C) <-> fcw (4C,C) */
        {"mlp.c_fc.bias", w.fcb, 4, 0, 0},
        {"mlp.c_proj.weight", w.fcprojw, 4, 1, 1}, /* (4C,C) <-> fcprojw (C,4C) */
        {"mlp.c_proj.bias", w.fcprojb, 1, 0, 0},
    };
    for (int i = 0; i < 12; i++) {
        HfTensor *t = &out[i];
        snprintf(t->name, sizeof t->name, "h.%d.%s", l, parts[i].name);
        t->param = parts[i].param;
        t->rows = parts[i].rows * C;
        t->cols = parts[i].cols * C;
        t->conv1d = parts[i].conv1d;
    }
}

/* A tensor stored the same way in both layouts. */
static HfTensor plain(const char *name, float *param, size_t rows, size_t cols) {
    HfTensor t = {.param = param, .rows = rows, .cols = cols, .conv1d = 0};
    snprintf(t.name, sizeof t.name, "%s", name);
    return t;
}

void hf_gpt2_tensors(const GPT2 *model, HfTensor *out) {
    const GPT2Config *c = &model->config;
    const ParameterTensors *p = &model->params;
    size_t C = (size_t)c->C;
    int n = 0;
    out[n++] = plain("wte.weight", p->wte, (size_t)c->V, C); /* the first V of Vp rows */
    out[n++] = plain("wpe.weight", p->wpe, (size_t)c->maxT, C);
    for (int l = 0; l < c->L; l++, n += 12) block_tensors(model, l, out + n);
    out[n++] = plain("ln_f.weight", p->lnfw, C, 0);
    out[n++] = plain("ln_f.bias", p->lnfb, C, 0);
}

/* dst (cols, rows) = src (rows, cols) transposed. Walking the source in
 * row-major order writes the destination with stride `rows`; fine at these
 * sizes (at most 6400 x 1600), and it runs once per conversion. */
static void transpose(float *dst, const float *src, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
}

static size_t numel(const HfTensor *t) { return t->rows * (t->cols ? t->cols : 1); }

/* ------------------------------------------------------------------------ */
/* config.json                                                               */

/* The keys that give the shape; -1 where config.json does not say. */
typedef struct {
    int n_head, n_layer, n_embd, n_positions, vocab_size;
    long n_inner; /* -1: null or absent (then 4 * n_embd) */
} HfConfig;

/* The value of `key` must be one of the strings `allowed`; else an error
 * naming the value and `why`. */
static void expect_string(JsonReader *r, const char *key, const char *const *allowed, const char *why) {
    json_peek(r);
    size_t at = r->pos, n;
    const char *v = json_string(r, &n);
    for (; *allowed; allowed++)
        if (!strcmp(v, *allowed)) return;
    r->pos = at;
    json_fail(r, "%s is \"%.40s\": %s", key, v, why);
}

static void expect_bool(JsonReader *r, const char *key, int want, const char *why) {
    json_peek(r);
    size_t at = r->pos;
    if (json_bool(r) != want) {
        r->pos = at;
        json_fail(r, "%s is %s: %s", key, want ? "false" : "true", why);
    }
}

/*
 * Reads the keys that decide the computation and passes over the rest
 * (architectures, dropout rates, task_specific_params, ...). The settings a
 * GPT-2 may have but gpt2c does not compute are refused here, so that no
 * folder imports into a model that silently computes something else.
 */
static HfConfig read_config_json(const char *path) {
    static const char *const gpt2[] = {"gpt2", NULL};
    /* three spellings of the same tanh approximation of GELU */
    static const char *const tanh_gelu[] = {"gelu_new", "gelu_pytorch_tanh", "gelu_fast", NULL};
    HfConfig hc = {-1, -1, -1, -1, -1, -1};
    struct {
        const char *key;
        int *value;
    } ints[] = {{"n_head", &hc.n_head}, {"n_layer", &hc.n_layer}, {"n_embd", &hc.n_embd},
                {"n_positions", &hc.n_positions}, {"vocab_size", &hc.vocab_size}};
    size_t len;
    uint8_t *text = (uint8_t *)read_whole_file(path, &len);
    JsonReader r = {.path = path, .what = "config", .s = text, .len = len};
    if (json_open(&r, '{', '}')) do {
            size_t n;
            const char *key = json_string(&r, &n);
            json_expect(&r, ':');
            int done = 0;
            for (size_t i = 0; i < sizeof ints / sizeof ints[0] && !done; i++)
                if (!strcmp(key, ints[i].key)) *ints[i].value = (int)json_uint(&r, INT_MAX), done = 1;
            if (done) continue;
            if (!strcmp(key, "model_type")) {
                expect_string(&r, key, gpt2, "not a GPT-2");
            } else if (!strcmp(key, "activation_function")) {
                expect_string(&r, key, tanh_gelu, "gpt2c computes GPT-2's tanh GELU (gelu_new) only");
            } else if (!strcmp(key, "layer_norm_epsilon")) {
                json_peek(&r);
                size_t at = r.pos;
                double eps = json_number(&r);
                if (eps != 1e-5) {
                    r.pos = at;
                    json_fail(&r, "layer_norm_epsilon is %g: gpt2c's layernorm uses 1e-5", eps);
                }
            } else if (!strcmp(key, "n_inner") && json_peek(&r) != 'n') {
                hc.n_inner = (long)json_uint(&r, INT_MAX);
            } else if (!strcmp(key, "scale_attn_weights")) {
                expect_bool(&r, key, 1, "gpt2c scales attention scores by 1/sqrt(head size)");
            } else if (!strcmp(key, "scale_attn_by_inverse_layer_idx")) {
                expect_bool(&r, key, 0, "gpt2c does not scale attention by layer");
            } else {
                json_skip(&r);
            }
        } while (json_next_member(&r, '}'));
    json_finish(&r);
    free(text);
    if (hc.n_head == 0) die("%s: n_head is 0", path);
    if (hc.n_inner >= 0 && hc.n_embd >= 0 && hc.n_inner != 4L * hc.n_embd)
        die("%s: n_inner is %ld: gpt2c's MLP is 4 x n_embd = %ld wide", path, hc.n_inner, 4L * hc.n_embd);
    return hc;
}

/* ------------------------------------------------------------------------ */
/* opening the folder                                                        */

static char *copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n, "path"), s, n);
}

/* The folder path is in ("." for a bare file name). */
static char *folder_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return copy_string(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *dir = xmalloc(n + 1, "path");
    memcpy(dir, path, n);
    dir[n] = '\0';
    return dir;
}

static int ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && !strcmp(s + a - b, tail);
}

/* One (tensor, shard file) pair of the index's weight_map. */
typedef struct {
    char *tensor, *file;
} MapEntry;

/*
 * model.safetensors.index.json: {"metadata": {...}, "weight_map": {"tensor":
 * "shard file", ...}}. The metadata (total_size and the like) is passed over.
 * Shard names must be plain file names in the index's own folder.
 */
static MapEntry *read_index(const char *path, int *count) {
    size_t len;
    uint8_t *text = (uint8_t *)read_whole_file(path, &len);
    JsonReader r = {.path = path, .what = "index", .s = text, .len = len};
    MapEntry *map = NULL;
    int n = 0, cap = 0, have_map = 0;
    if (json_open(&r, '{', '}')) do {
            size_t k;
            const char *key = json_string(&r, &k);
            json_expect(&r, ':');
            if (strcmp(key, "weight_map") != 0 || have_map) {
                json_skip(&r);
                continue;
            }
            have_map = 1;
            if (json_open(&r, '{', '}')) do {
                    const char *tensor = json_string(&r, &k);
                    json_expect(&r, ':');
                    json_peek(&r);
                    size_t at = r.pos;
                    const char *file = json_string(&r, &k);
                    if (!*file || strchr(file, '/') || !strcmp(file, "..") || !strcmp(file, ".")) {
                        r.pos = at;
                        json_fail(&r, "shard \"%.60s\" is not a file name in this folder", file);
                    }
                    if (n == cap) {
                        cap = cap ? 2 * cap : 256;
                        MapEntry *grown = realloc(map, mul_size((size_t)cap, sizeof *map, "weight map"));
                        if (!grown) die("out of memory reading %s", path);
                        map = grown;
                    }
                    map[n++] = (MapEntry){copy_string(tensor), copy_string(file)};
                } while (json_next_member(&r, '}'));
        } while (json_next_member(&r, '}'));
    json_finish(&r);
    free(text);
    if (n == 0) die("%s: no weight_map, or an empty one: the index lists no tensors", path);
    *count = n;
    return map;
}

static int shard_index(const HfModel *m, const char *path) {
    for (int i = 0; i < m->n_shards; i++)
        if (!strcmp(m->shards[i].path, path)) return i;
    return -1;
}

/*
 * Opens every shard the index names, once, and checks the index against
 * them: each listed tensor is in the shard it is listed in, and each shard
 * holds only tensors listed for it (so no tensor is in two shards).
 */
static void open_shards(HfModel *m, const char *folder) {
    int n_map;
    MapEntry *map = read_index(m->index_path, &n_map);
    m->shards = xcalloc((size_t)n_map, sizeof(SafeTensors), "shards");
    int *shard_of = xmalloc((size_t)n_map * sizeof(int), "weight map");
    for (int i = 0; i < n_map; i++) {
        char *path = path_join(folder, map[i].file);
        shard_of[i] = shard_index(m, path);
        if (shard_of[i] < 0) {
            shard_of[i] = m->n_shards;
            safetensors_open(&m->shards[m->n_shards++], path);
        }
        free(path);
        const SafeTensors *st = &m->shards[shard_of[i]];
        if (!safetensors_find(st, map[i].tensor))
            die("%s: the weight_map puts %s in %s, which has no such tensor", m->index_path, map[i].tensor, st->path);
    }
    for (int s = 0; s < m->n_shards; s++)
        for (int t = 0; t < m->shards[s].count; t++) {
            const char *name = m->shards[s].tensors[t].name;
            int listed = 0;
            for (int i = 0; i < n_map && !listed; i++) listed = shard_of[i] == s && !strcmp(map[i].tensor, name);
            if (!listed) die("%s: tensor %s is not listed for this shard in %s", m->shards[s].path, name, m->index_path);
        }
    for (int i = 0; i < n_map; i++) {
        free(map[i].tensor);
        free(map[i].file);
    }
    free(map);
    free(shard_of);
}

void hf_model_open(HfModel *m, const char *path) {
    memset(m, 0, sizeof *m);
    m->source = path;
    char *folder, *single = NULL;
    if (path_kind(path) == PATH_DIR) {
        folder = copy_string(path);
        single = path_join(folder, "model.safetensors");
        if (path_kind(single) == PATH_NONE) {
            free(single);
            single = NULL;
            m->index_path = path_join(folder, "model.safetensors.index.json");
            if (path_kind(m->index_path) == PATH_NONE)
                die("%s: no model.safetensors or model.safetensors.index.json in this folder", path);
        }
    } else {
        folder = folder_of(path);
        if (ends_with(path, ".index.json")) m->index_path = copy_string(path);
        else single = copy_string(path);
    }
    if (single) {
        m->shards = xcalloc(1, sizeof(SafeTensors), "shards");
        m->n_shards = 1;
        safetensors_open(&m->shards[0], single);
        free(single);
    } else {
        open_shards(m, folder);
    }
    m->config_path = path_join(folder, "config.json");
    if (path_kind(m->config_path) == PATH_NONE) {
        free(m->config_path);
        m->config_path = NULL;
    }
    free(folder);
}

void hf_model_close(HfModel *m) {
    for (int i = 0; i < m->n_shards; i++) safetensors_close(&m->shards[i]);
    free(m->shards);
    free(m->config_path);
    free(m->index_path);
    memset(m, 0, sizeof *m);
}

/* What messages call the weights: the one file, or the index. */
static const char *weights_name(const HfModel *m) { return m->index_path ? m->index_path : m->shards[0].path; }

/* ------------------------------------------------------------------------ */
/* finding tensors: "h.0.ln_1.weight" or "transformer.h.0.ln_1.weight"        */

/* The tensor called `name`, with or without the prefix, in any shard, or
 * NULL; *in gets its shard. Marks it used. */
static SafeTensor *find_tensor(const HfModel *m, const char *name, const SafeTensors **in) {
    char prefixed[256];
    snprintf(prefixed, sizeof prefixed, PREFIX "%s", name);
    SafeTensor *found = NULL;
    for (int s = 0; s < m->n_shards; s++) {
        SafeTensor *bare = safetensors_find(&m->shards[s], name), *pre = safetensors_find(&m->shards[s], prefixed);
        if ((bare || pre) && found) die("%s: tensor %s appears in two shards, or with and without the prefix",
                                        weights_name(m), name);
        if (bare && pre) die("%s: both %s and %s are present", m->shards[s].path, name, prefixed);
        if (bare || pre) {
            found = bare ? bare : pre;
            *in = &m->shards[s];
        }
    }
    if (found) found->used = 1;
    return found;
}

static SafeTensor *require_tensor(const HfModel *m, const char *name, const SafeTensors **in) {
    SafeTensor *t = find_tensor(m, name, in);
    if (!t) die("%s: missing tensor %s", weights_name(m), name);
    return t;
}

/* Die unless t has exactly the shape (rows) or (rows, cols); cols 0 means 1-D. */
static void expect_shape(const SafeTensors *st, const SafeTensor *t, uint64_t rows, uint64_t cols) {
    uint64_t want[2] = {rows, cols};
    int ndim = cols ? 2 : 1;
    if (t->ndim != ndim || t->shape[0] != rows || (ndim == 2 && t->shape[1] != cols)) {
        char got[SAFETENSORS_MAX_DIMS * 24 + 4];
        snprintf(got, sizeof got, "%s", safetensors_shape_string(t->shape, t->ndim));
        die("%s: tensor %s has shape %s, expected %s", st->path, t->name, got, safetensors_shape_string(want, ndim));
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
static int count_blocks(const HfModel *m) {
    long max = -1;
    for (int s = 0; s < m->n_shards; s++)
        for (int i = 0; i < m->shards[s].count; i++) {
            long b = block_number(m->shards[s].tensors[i].name, m->shards[s].path);
            if (b > max) max = b;
        }
    if (max < 0) die("%s: no transformer blocks (tensors h.0.*)", weights_name(m));
    for (long b = 0; b <= max; b++) {
        int found = 0;
        for (int s = 0; s < m->n_shards && !found; s++)
            for (int i = 0; i < m->shards[s].count && !found; i++)
                found = block_number(m->shards[s].tensors[i].name, m->shards[s].path) == b;
        if (!found) die("%s: blocks are not numbered 0..%ld: h.%ld is missing", weights_name(m), max, b);
    }
    return (int)max + 1;
}

static int dim_as_int(const SafeTensors *st, const SafeTensor *t, int d) {
    if (t->shape[d] == 0 || t->shape[d] > INT_MAX)
        die("%s: tensor %s has shape %s: dimension %d is out of range", st->path, t->name,
            safetensors_shape_string(t->shape, t->ndim), d);
    return (int)t->shape[d];
}

/* config.json's `key` against what the weights say; one line naming both. */
static void agree(const HfModel *m, const char *key, int said, int found, const char *where, const char *what) {
    if (said >= 0 && said != found)
        die("%s says %s=%d, but %s has %s", m->config_path, key, said, where, what);
}

GPT2Config hf_model_config(const HfModel *m, int heads, HeadsSource *from, int *config_heads) {
    GPT2Config c;
    const SafeTensors *wte_in, *wpe_in;
    const SafeTensor *wte = require_tensor(m, "wte.weight", &wte_in);
    const SafeTensor *wpe = require_tensor(m, "wpe.weight", &wpe_in);
    if (wte->ndim != 2)
        die("%s: tensor %s has shape %s, expected (V, C)", wte_in->path, wte->name,
            safetensors_shape_string(wte->shape, wte->ndim));
    if (wpe->ndim != 2)
        die("%s: tensor %s has shape %s, expected (maxT, C)", wpe_in->path, wpe->name,
            safetensors_shape_string(wpe->shape, wpe->ndim));
    c.V = dim_as_int(wte_in, wte, 0);
    c.C = dim_as_int(wte_in, wte, 1);
    c.maxT = dim_as_int(wpe_in, wpe, 0);
    c.L = count_blocks(m);
    HfConfig hc = {-1, -1, -1, -1, -1, -1};
    if (m->config_path) {
        hc = read_config_json(m->config_path);
        char what[96];
        snprintf(what, sizeof what, "%s of shape %s", wte->name, safetensors_shape_string(wte->shape, 2));
        agree(m, "vocab_size", hc.vocab_size, c.V, wte_in->path, what);
        agree(m, "n_embd", hc.n_embd, c.C, wte_in->path, what);
        snprintf(what, sizeof what, "%s of shape %s", wpe->name, safetensors_shape_string(wpe->shape, 2));
        agree(m, "n_positions", hc.n_positions, c.maxT, wpe_in->path, what);
        snprintf(what, sizeof what, "%d blocks (h.0 .. h.%d)", c.L, c.L - 1);
        agree(m, "n_layer", hc.n_layer, c.L, weights_name(m), what);
    }
    expect_shape(wpe_in, wpe, (uint64_t)c.maxT, (uint64_t)c.C);
    if (c.V > INT_MAX - 127) die("%s: vocabulary of %d is too large", wte_in->path, c.V);
    /* Vp: V rounded up to a multiple of 128, so the output matmul's rows
     * divide evenly into tiles */
    c.Vp = (c.V + 127) / 128 * 128;
    *config_heads = hc.n_head;
    *from = heads ? HEADS_FROM_FLAG : hc.n_head >= 0 ? HEADS_FROM_CONFIG : HEADS_FROM_TABLE;
    c.NH = heads ? heads : hc.n_head >= 0 ? hc.n_head : standard_heads(c.C);
    if (!c.NH)
        die_usage("%s: C=%d is not a standard GPT-2 width, and no config.json gives n_head; give the head count with "
                  "--heads N", weights_name(m), c.C);
    if (c.C % c.NH && *from == HEADS_FROM_CONFIG)
        die("%s: n_head=%d does not divide n_embd=%d", m->config_path, c.NH, c.C);
    if (c.C % c.NH) die_usage("%s: C=%d is not divisible by %d heads", weights_name(m), c.C, c.NH);
    gpt2_validate_config(&c, weights_name(m));
    return c;
}

/* ------------------------------------------------------------------------ */
/* loading the weights                                                       */

/* The mask buffers HF keeps in the state dict: not parameters. */
static int is_ignored_buffer(const char *name) {
    return block_number(name, "") >= 0 && (ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias"));
}

/* An untied lm_head would silently change the model, so it must equal wte. */
static void check_lm_head(const HfModel *m, const GPT2 *model, SafetensorsScratch *s) {
    const SafeTensors *in;
    const SafeTensor *t = find_tensor(m, "lm_head.weight", &in);
    if (!t) return;
    const GPT2Config *c = &model->config;
    expect_shape(in, t, (uint64_t)c->V, (uint64_t)c->C);
    const float *v = safetensors_read_floats(in, t, s);
    if (memcmp(v, model->params.wte, t->numel * sizeof(float)) != 0)
        die("%s: lm_head.weight differs from wte.weight; gpt2c ties the output layer to wte", in->path);
}

void hf_model_load(const HfModel *m, GPT2 *model) {
    int n = hf_gpt2_num_tensors(model->config.L);
    HfTensor *table = xmalloc(mul_size((size_t)n, sizeof(HfTensor), "tensor table"), "tensor table");
    hf_gpt2_tensors(model, table);
    /* every tensor found and its shape checked before any data is read */
    const SafeTensor **src = xmalloc((size_t)n * sizeof *src, "tensor table");
    const SafeTensors **src_in = xmalloc((size_t)n * sizeof *src_in, "tensor table");
    for (int i = 0; i < n; i++) {
        src[i] = require_tensor(m, table[i].name, &src_in[i]);
        expect_shape(src_in[i], src[i], table[i].rows, table[i].cols);
        if (src[i]->dtype != ST_F32 && src[i]->dtype != ST_F16 && src[i]->dtype != ST_BF16)
            die("%s: tensor %s has dtype %s; only F32, F16 and BF16 weights can be imported", src_in[i]->path,
                src[i]->name, SAFETENSORS_DTYPE_NAMES[src[i]->dtype]);
    }
    const SafeTensors *ignored;
    find_tensor(m, "lm_head.weight", &ignored); /* claimed here, checked after the copies */
    for (int s = 0; s < m->n_shards; s++)
        for (int i = 0; i < m->shards[s].count; i++)
            if (!m->shards[s].tensors[i].used && !is_ignored_buffer(m->shards[s].tensors[i].name))
                die("%s: unexpected tensor %s (not part of a GPT-2 model)", m->shards[s].path,
                    m->shards[s].tensors[i].name);
    SafetensorsScratch scratch = {0};
    for (int i = 0; i < n; i++) {
        const float *v = safetensors_read_floats(src_in[i], src[i], &scratch);
        if (table[i].conv1d) transpose(table[i].param, v, table[i].rows, table[i].cols);
        else memcpy(table[i].param, v, numel(&table[i]) * sizeof(float));
    }
    check_lm_head(m, model, &scratch);
    safetensors_scratch_free(&scratch);
    free(src);
    free(src_in);
    free(table);
}

/* ------------------------------------------------------------------------ */
/* writing a folder                                                          */

/* The keys GPT2Config.from_pretrained needs, and what gpt2c computes. */
static void write_config_json(const GPT2Config *c, const char *path, int dtype, int eot_id) {
    const char *torch_dtype = dtype == ST_F16 ? "float16" : dtype == ST_BF16 ? "bfloat16" : "float32";
    AtomicFile af = atomic_open(path);
    int ok = fprintf(af.f,
                     "{\n"
                     "  \"architectures\": [\"GPT2LMHeadModel\"],\n"
                     "  \"model_type\": \"gpt2\",\n"
                     "  \"n_embd\": %d,\n"
                     "  \"n_head\": %d,\n"
                     "  \"n_layer\": %d,\n"
                     "  \"n_positions\": %d,\n"
                     "  \"n_ctx\": %d,\n"
                     "  \"vocab_size\": %d,\n"
                     "  \"layer_norm_epsilon\": 1e-05,\n"
                     "  \"activation_function\": \"gelu_new\",\n"
                     "  \"bos_token_id\": %d,\n"
                     "  \"eos_token_id\": %d,\n"
                     "  \"torch_dtype\": \"%s\"\n"
                     "}\n",
                     c->C, c->NH, c->L, c->maxT, c->maxT, c->V, eot_id, eot_id, torch_dtype) > 0;
    if (!ok) die("%s: cannot write", af.tmp_path);
    atomic_commit(&af);
}

void hf_gpt2_save(const GPT2 *model, const char *dir, int dtype, int eot_id) {
    int n = hf_gpt2_num_tensors(model->config.L);
    HfTensor *table = xmalloc(mul_size((size_t)n, sizeof(HfTensor), "tensor table"), "tensor table");
    hf_gpt2_tensors(model, table);
    SafeTensor *decl = xcalloc((size_t)n, sizeof(SafeTensor), "tensor table");
    size_t largest = 0;
    for (int i = 0; i < n; i++) {
        decl[i].name = table[i].name;
        decl[i].ndim = table[i].cols ? 2 : 1;
        decl[i].shape[0] = table[i].rows;
        decl[i].shape[1] = table[i].cols;
        if (numel(&table[i]) > largest) largest = numel(&table[i]);
    }
    char *path = path_join(dir, "model.safetensors");
    SafetensorsWriter w;
    safetensors_write_begin(&w, path, dtype, decl, n);
    float *hf = xmalloc(mul_size(largest, sizeof(float), "tensor buffer"), "tensor buffer");
    for (int i = 0; i < n; i++) {
        if (table[i].conv1d) transpose(hf, table[i].param, table[i].cols, table[i].rows); /* (out,in) -> (in,out) */
        safetensors_write_tensor(&w, table[i].conv1d ? hf : table[i].param);
    }
    safetensors_write_end(&w);
    free(path);
    path = path_join(dir, "config.json");
    write_config_json(&model->config, path, dtype, eot_id);
    free(path);
    free(hf);
    free(decl);
    free(table);
}
