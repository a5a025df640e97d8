/*
 * check_inspect: checks ./inspect's JSON against the forward pass's own
 * numbers and against small independent computations in double (a helper
 * of test/test_inspect.sh; it speaks check.h's protocol).
 *
 *   check_inspect random-model OUT L NH C maxT   writes a random GPT-2 with
 *       GPT-2's vocabulary (V = 50257) and the given shape to OUT
 *   check_inspect check MODEL JSON NAME          the checks, named NAME/...
 *   check_inspect update-ratios STEP BEFORE AFTER   prints updates.csv's rows
 *       for step STEP as two checkpoints imply them, computed here in double
 *       (test_train.sh compares them with what ./train wrote)
 *
 * The JSON is read with the project's own scanner (json.c). The checks:
 * every attention row sums to 1 within 1e-6, is exactly 0 above the
 * diagonal, and equals softmax(q.k / sqrt(hs)) recomputed in double from
 * the forward's q and k; the top-K next tokens are the K most likely under
 * a double softmax of the logits, in order; the lens equals a double
 * layernorm + wte projection of each block's residual stream (its last row
 * is softmax(logits) and its argmax); the surprisal equals the forward's
 * per-position cross-entropy.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../gpt2.h"
#include "../json.h"
#include "check.h"

typedef struct {
    int L, NH, T, K;
    int *tokens;           /* (T) */
    double *att;           /* (L,NH,T,T) */
    int *next_id;          /* (T,K) */
    double *next_p;
    int *lens_id;          /* (L,T) */
    double *lens_p;
    double *surprisal;     /* (T-1) */
    int npieces;
} Json;

/* Reads a JSON array of numbers or nested arrays into a flat list, counting
 * the elements at each depth into dims[] (checked to be rectangular). */
static size_t read_nested(JsonReader *r, int depth, int *dims, int ndims, double *out, size_t at) {
    if (depth == ndims) {
        out[at] = json_number(r);
        return at + 1;
    }
    int n = 0;
    if (json_open(r, '[', ']')) do {
            at = read_nested(r, depth + 1, dims, ndims, out, at);
            n++;
        } while (json_next_member(r, ']'));
    if (dims[depth] < 0) dims[depth] = n;
    else if (dims[depth] != n) json_fail(r, "ragged array at depth %d: %d, not %d", depth, n, dims[depth]);
    return at;
}

/* [[{"id": I, "p": P}, ...], ...] -> ids and ps, rows x cols */
static void read_guesses(JsonReader *r, int *rows, int *cols, int **ids, double **ps, size_t cap) {
    *ids = malloc(cap * sizeof(int));
    *ps = malloc(cap * sizeof(double));
    size_t n = 0;
    *rows = 0;
    *cols = -1;
    if (json_open(r, '[', ']')) do {
            int c = 0;
            if (json_open(r, '[', ']')) do {
                    if (n == cap) json_fail(r, "too many guesses");
                    json_open(r, '{', '}');
                    do {
                        size_t len;
                        char *key = json_string(r, &len);
                        json_expect(r, ':');
                        if (!strcmp(key, "id")) (*ids)[n] = (int)json_uint(r, 1u << 30);
                        else if (!strcmp(key, "p")) (*ps)[n] = json_number(r);
                        else json_fail(r, "unknown key %s", key);
                    } while (json_next_member(r, '}'));
                    n++;
                    c++;
                } while (json_next_member(r, ']'));
            if (*cols >= 0 && *cols != c) json_fail(r, "ragged guesses");
            *cols = c;
            (*rows)++;
        } while (json_next_member(r, ']'));
}

static Json read_json(const char *path, const GPT2Config *c) {
    size_t len;
    char *text = read_whole_file(path, &len);
    JsonReader r = {.path = path, .what = "inspect JSON", .s = (uint8_t *)text, .len = len};
    Json j = {.L = c->L, .NH = c->NH};
    size_t cap = (size_t)c->L * c->NH * c->maxT * c->maxT + (size_t)c->maxT * 64;
    double *flat = malloc(cap * sizeof(double));
    json_open(&r, '{', '}');
    do {
        size_t n;
        char *key = json_string(&r, &n);
        json_expect(&r, ':');
        int dims[4] = {-1, -1, -1, -1}, rows, cols;
        if (!strcmp(key, "tokens")) {
            size_t got = read_nested(&r, 0, dims, 1, flat, 0);
            j.T = (int)got;
            j.tokens = malloc(got * sizeof(int));
            for (size_t i = 0; i < got; i++) j.tokens[i] = (int)flat[i];
        } else if (!strcmp(key, "attention")) {
            size_t got = read_nested(&r, 0, dims, 4, flat, 0);
            if (dims[0] != c->L || dims[1] != c->NH || dims[2] != dims[3]) json_fail(&r, "attention is not L x NH x T x T");
            j.att = malloc(got * sizeof(double));
            memcpy(j.att, flat, got * sizeof(double));
        } else if (!strcmp(key, "next")) {
            read_guesses(&r, &rows, &cols, &j.next_id, &j.next_p, cap);
            j.K = cols;
        } else if (!strcmp(key, "lens")) {
            read_guesses(&r, &rows, &cols, &j.lens_id, &j.lens_p, cap);
            if (rows != c->L) json_fail(&r, "lens has %d rows, not L = %d", rows, c->L);
        } else if (!strcmp(key, "surprisal")) {
            size_t got = read_nested(&r, 0, dims, 1, flat, 0);
            j.surprisal = malloc((got + 1) * sizeof(double));
            memcpy(j.surprisal, flat, got * sizeof(double));
            if (j.T && got != (size_t)j.T - 1) json_fail(&r, "surprisal has %zu entries, not T-1", got);
        } else if (!strcmp(key, "pieces")) {
            j.npieces = 0;
            if (json_open(&r, '[', ']')) do {
                    json_string(&r, &n);
                    j.npieces++;
                } while (json_next_member(&r, ']'));
        } else json_skip(&r);
    } while (json_next_member(&r, '}'));
    json_finish(&r);
    free(flat);
    free(text);
    return j;
}

/* softmax in double; returns the argmax (the first largest) */
static int softmax_d(const float *x, int V, double *p) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[best]) best = i;
    double sum = 0;
    for (int i = 0; i < V; i++) sum += p[i] = exp((double)x[i] - x[best]);
    for (int i = 0; i < V; i++) p[i] /= sum;
    return best;
}

static void check(const char *model_path, const char *json_path, const char *name) {
    GPT2 m;
    gpt2_load(&m, model_path);
    const GPT2Config *c = &m.config;
    Json j = read_json(json_path, c);
    int T = j.T, L = c->L, NH = c->NH, C = c->C, V = c->V, hs = C / NH;
    char what[200];
    snprintf(what, sizeof what, "%s/json_shapes", name);
    CHECK(T > 0 && j.att && j.next_id && j.lens_id && j.surprisal && j.npieces == T, what, "T %d pieces %d", T,
          j.npieces);
    if (check_failures || T > 4096) exit(1);
    /* the forward pass with targets: its per-position losses are the cross-entropy */
    int *targets = malloc((size_t)T * sizeof(int));
    for (int t = 0; t < T; t++) targets[t] = j.tokens[t + 1 < T ? t + 1 : 0];
    gpt2_alloc(&m, 1, T);
    gpt2_forward(&m, j.tokens, targets, 1, T);

    /* attention */
    double worst_sum = 0, worst_diff = 0;
    long above = 0;
    for (int l = 0; l < L; l++) {
        const float *qkv = m.acts.qkv + (size_t)l * T * 3 * C;
        for (int h = 0; h < NH; h++)
            for (int q = 0; q < T; q++) {
                const double *row = j.att + (((size_t)l * NH + h) * T + q) * T;
                double sum = 0, s[4096], z = 0, mx = -INFINITY;
                for (int k = 0; k < T; k++) {
                    sum += row[k];
                    if (k > q) above += row[k] != 0.0;
                }
                worst_sum = fmax(worst_sum, fabs(sum - 1));
                for (int k = 0; k <= q; k++) { /* softmax(q.k / sqrt(hs)), independently */
                    double dot = 0;
                    for (int i = 0; i < hs; i++)
                        dot += (double)qkv[(size_t)q * 3 * C + h * hs + i] * qkv[(size_t)k * 3 * C + C + h * hs + i];
                    s[k] = dot / sqrt((double)hs);
                    mx = fmax(mx, s[k]);
                }
                for (int k = 0; k <= q; k++) z += s[k] = exp(s[k] - mx);
                for (int k = 0; k <= q; k++) worst_diff = fmax(worst_diff, fabs(s[k] / z - row[k]));
            }
    }
    snprintf(what, sizeof what, "%s/attention_rows_sum_to_1", name);
    CHECK(worst_sum <= 1e-6, what, "worst |sum - 1| = %g", worst_sum);
    snprintf(what, sizeof what, "%s/attention_zero_above_diagonal", name);
    CHECK(above == 0, what, "%ld entries above the diagonal are not 0", above);
    snprintf(what, sizeof what, "%s/attention_equals_softmax_qk", name);
    CHECK(worst_diff <= 1e-5, what, "worst difference %g", worst_diff);

    /* next-token top-K and the last lens row, against a double softmax of the logits */
    double *p = malloc((size_t)V * sizeof(double));
    int next_ok = 1, last_lens_ok = 1;
    double worst_p = 0;
    for (int t = 0; t < T; t++) {
        int best = softmax_d(m.acts.logits + (size_t)t * V, V, p);
        for (int k = 0; k < j.K; k++) {
            int id = j.next_id[(size_t)t * j.K + k];
            double pk = j.next_p[(size_t)t * j.K + k];
            worst_p = fmax(worst_p, fabs(p[id] - pk));
            if (k && pk > j.next_p[(size_t)t * j.K + k - 1]) next_ok = 0; /* descending */
            int more = 0;                                                 /* ranks above it */
            for (int i = 0; i < V; i++) more += p[i] > p[id] + 1e-7;
            if (more > k) next_ok = 0;
        }
        size_t at = (size_t)(L - 1) * T + t;
        if (fabs(j.lens_p[at] - p[best]) > 1e-6 || fabs(p[j.lens_id[at]] - p[best]) > 1e-7) last_lens_ok = 0;
    }
    snprintf(what, sizeof what, "%s/next_topk_is_softmax_topk", name);
    CHECK(next_ok && worst_p <= 1e-6, what, "order ok %d, worst |p| difference %g", next_ok, worst_p);
    snprintf(what, sizeof what, "%s/last_lens_row_is_softmax_logits", name);
    CHECK(last_lens_ok, what, "the last lens row is not the output's argmax and its p");

    /* every lens row: layernorm (eps 1e-5) and wte, in double */
    double worst_lens = 0;
    double *ln = malloc((size_t)C * sizeof(double));
    for (int l = 0; l < L; l++)
        for (int t = 0; t < T; t++) {
            const float *x = m.acts.residual3 + ((size_t)l * T + t) * C;
            double mean = 0, var = 0;
            for (int i = 0; i < C; i++) mean += x[i];
            mean /= C;
            for (int i = 0; i < C; i++) var += (x[i] - mean) * (x[i] - mean);
            double rstd = 1 / sqrt(var / C + 1e-5);
            for (int i = 0; i < C; i++) ln[i] = (x[i] - mean) * rstd * m.params.lnfw[i] + m.params.lnfb[i];
            double mx = -INFINITY, z = 0;
            for (int v = 0; v < V; v++) {
                double d = 0;
                for (int i = 0; i < C; i++) d += m.params.wte[(size_t)v * C + i] * ln[i];
                p[v] = d;
                mx = fmax(mx, d);
            }
            for (int v = 0; v < V; v++) z += p[v] = exp(p[v] - mx);
            double top = 0;
            for (int v = 0; v < V; v++) top = fmax(top, p[v] / z);
            size_t at = (size_t)l * T + t;
            worst_lens = fmax(worst_lens, fmax(fabs(j.lens_p[at] - top), fabs(p[j.lens_id[at]] / z - top)));
        }
    snprintf(what, sizeof what, "%s/lens_equals_layernorm_wte", name);
    CHECK(worst_lens <= 1e-4, what, "worst difference %g", worst_lens);

    /* surprisal = the forward's per-position cross-entropy */
    double worst_ce = 0;
    for (int t = 0; t + 1 < T; t++) worst_ce = fmax(worst_ce, fabs(j.surprisal[t] - m.acts.losses[t]));
    snprintf(what, sizeof what, "%s/surprisal_is_cross_entropy", name);
    CHECK(worst_ce <= 1e-5, what, "worst difference %g nats", worst_ce);
    free(p);
    free(ln);
    free(targets);
    free(j.tokens);
    free(j.att);
    free(j.next_id);
    free(j.next_p);
    free(j.lens_id);
    free(j.lens_p);
    free(j.surprisal);
    gpt2_free(&m);
}

/* log10(rms(after - before) / rms(before)) per tensor and layer, as updates.h defines it */
static void update_ratios(const char *step, const char *before_path, const char *after_path) {
    GPT2 a, b;
    gpt2_load(&a, before_path);
    gpt2_load(&b, after_path);
    size_t at = 0;
    for (int t = 0; t < NUM_PARAM_TENSORS; t++) {
        int layers = t >= PARAM_LN1W && t <= PARAM_FCPROJB ? a.config.L : 1;
        size_t slice = a.param_sizes[t] / layers;
        for (int l = 0; l < layers; l++, at += slice) {
            double dd = 0, ww = 0;
            for (size_t i = at; i < at + slice; i++) {
                double w = a.params_memory[i], d = (double)b.params_memory[i] - w;
                dd += d * d;
                ww += w * w;
            }
            printf("%s,%s,", step, PARAM_TENSOR_NAMES[t]);
            if (layers > 1) printf("%d", l);
            if (dd > 0 && ww > 0) printf(",%.4f\n", log10(sqrt(dd / slice) / sqrt(ww / slice)));
            else printf(",\n");
        }
    }
    gpt2_free(&a);
    gpt2_free(&b);
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "update-ratios")) {
        update_ratios(argv[2], argv[3], argv[4]);
        return 0;
    }
    if (argc == 7 && !strcmp(argv[1], "random-model")) {
        GPT2Config c = {.maxT = atoi(argv[6]), .V = 50257, .Vp = 50304, .L = atoi(argv[3]), .NH = atoi(argv[4]),
                        .C = atoi(argv[5])};
        GPT2 m;
        gpt2_init_random(&m, &c, 7);
        gpt2_save(&m, argv[2]);
        gpt2_free(&m);
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "check")) {
        check(argv[2], argv[3], argv[4]);
        return check_failures ? 1 : 0;
    }
    fprintf(stderr, "usage: check_inspect random-model OUT L NH C maxT | check MODEL JSON NAME | update-ratios STEP BEFORE AFTER\n");
    return 2;
}
