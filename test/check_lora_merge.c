/*
 * check_lora_merge: a held-out check of a LoRA merged checkpoint (a helper of
 * test/test_lora_merge.sh). It reads both checkpoints itself and shares no
 * code with the project's LoRA, so a bug there cannot hide here.
 *
 *   check_lora_merge BASE.bin MERGED.bin R TARGETS
 *
 * TARGETS is a comma list from qkv, attproj, fc, fcproj (the weight matrices
 * qkvw, attprojw, fcw, fcprojw). It checks:
 *   1. the two headers are equal;
 *   2. every tensor that is not a target is bit-identical (biases included:
 *      LoRA adapts matmul weights only);
 *   3. every target changed in at least one layer;
 *   4. for every target and layer, D = W' - W has rank <= R, up to the
 *      rounding that storing W' in float32 costs (below).
 * It prints one line per target with its figures and exits 0, or names the
 * first tensor/layer that fails in one line on stderr and exits 1 (also for
 * an unreadable checkpoint); bad usage exits 2.
 *
 * Why rank <= R, and what "numerically" means here. A merge computes
 * W' = fl32(W + s B A), with B (out, R) and A (R, in), so in exact arithmetic
 * D = s B A + E, where s B A has rank <= R and E is the rounding to float32:
 * |E_ij| <= 2^-24 |W'_ij| (round to nearest), so ||E||_F <= 2^-24 ||W'||_F.
 * By Eckart-Young, the best rank-R approximation of D is its truncated SVD,
 * and its error is no larger than that of s B A:
 *     residual_R = sqrt(sum_{k>R} sigma_k^2) <= ||D - s B A||_F = ||E||_F.
 * So the tolerance is tol = 2^-24 max|W'| sqrt(out in), the per-element bound
 * times the square root of the count; it is >= 2^-24 ||W'||_F and leaves room
 * for the rounding of B A itself. A generic update (full fine-tuning, or a
 * rank-R update checked at R-1) leaves residual_R many orders above tol, so
 * the check passes exactly when the update really lies in R directions.
 *
 * The singular values come from one-sided Jacobi (Hestenes) in double:
 * rotate pairs of columns of D until every pair is orthogonal; then the
 * column norms are the singular values. It works on D itself, never on D^T D,
 * so small singular values keep their accuracy.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { HEADER_INTS = 256, NTENSORS = 16 };
static const char *tensor_name[NTENSORS] = {
    "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"};
/* the four LoRA targets: the option's word and the tensor it adapts */
static const char *target_word[4] = {"qkv", "attproj", "fc", "fcproj"};
static const int target_tensor[4] = {4, 6, 10, 12};

typedef struct {
    int32_t header[HEADER_INTS];
    float *params;                 /* all 16 tensors, one after the other */
    size_t size[NTENSORS];         /* floats in each tensor */
    size_t offset[NTENSORS];       /* where each starts in params */
    int L, rows[NTENSORS], cols[NTENSORS]; /* a layer's matrix is (rows, cols) */
} Checkpoint;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "check_lora_merge: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* Reads an llm.c v3 float32 checkpoint: the header, then the 16 tensors. */
static void read_checkpoint(const char *path, Checkpoint *ck) {
    FILE *f = fopen(path, "rb");
    if (!f) fail("%s: cannot open", path);
    if (fread(ck->header, sizeof(int32_t), HEADER_INTS, f) != HEADER_INTS) fail("%s: shorter than a header", path);
    const int32_t *h = ck->header;
    if (h[0] != 20240326 || h[1] != 3) fail("%s: not a float32 llm.c checkpoint (magic %d, version %d)", path, h[0], h[1]);
    int maxT = h[2], V = h[3], L = h[4], NH = h[5], C = h[6], Vp = h[7];
    if (maxT < 1 || V < 1 || L < 1 || NH < 1 || C < 1 || Vp < V || maxT > 1 << 20 || Vp > 1 << 24 || L > 1024 ||
        C > 1 << 16)
        fail("%s: implausible shape maxT=%d V=%d L=%d NH=%d C=%d Vp=%d", path, maxT, V, L, NH, C, Vp);
    ck->L = L;
    /* each tensor as (layers, rows, cols): 1 layer for the unlayered ones */
    const int shape[NTENSORS][3] = {
        {1, Vp, C}, {1, maxT, C}, {L, 1, C}, {L, 1, C}, {L, 3 * C, C}, {L, 1, 3 * C}, {L, C, C}, {L, 1, C},
        {L, 1, C}, {L, 1, C}, {L, 4 * C, C}, {L, 1, 4 * C}, {L, C, 4 * C}, {L, 1, C}, {1, 1, C}, {1, 1, C}};
    size_t total = 0;
    for (int i = 0; i < NTENSORS; i++) {
        ck->rows[i] = shape[i][1];
        ck->cols[i] = shape[i][2];
        ck->size[i] = (size_t)shape[i][0] * shape[i][1] * shape[i][2];
        ck->offset[i] = total;
        total += ck->size[i];
    }
    ck->params = malloc(total * sizeof(float));
    if (!ck->params) fail("%s: out of memory for %zu parameters", path, total);
    if (fread(ck->params, sizeof(float), total, f) != total) fail("%s: truncated (%zu parameters expected)", path, total);
    if (fgetc(f) != EOF) fail("%s: longer than its %zu parameters", path, total);
    fclose(f);
}

/* The singular values of the (m, n) column-major matrix x, m >= n, into
 * sigma[n], largest first. One-sided Jacobi: each rotation makes columns p
 * and q orthogonal (it diagonalises their 2x2 Gram matrix [a g; g b]); a
 * sweep over all pairs repeats until no pair is measurably non-orthogonal.
 * x is overwritten with U Sigma. */
static void singular_values(double *x, int m, int n, double *sigma) {
    for (int sweep = 0; sweep < 100; sweep++) {
        int rotated = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double *xp = x + (size_t)p * m, *xq = x + (size_t)q * m, a = 0, b = 0, g = 0;
                for (int i = 0; i < m; i++) { a += xp[i] * xp[i]; b += xq[i] * xq[i]; g += xp[i] * xq[i]; }
                if (g == 0 || fabs(g) <= 4 * DBL_EPSILON * sqrt(a * b)) continue;
                /* the angle with tan(2 theta) = 2g / (b - a); t = tan(theta), the smaller root */
                double zeta = (b - a) / (2 * g);
                double t = (zeta >= 0 ? 1 : -1) / (fabs(zeta) + sqrt(1 + zeta * zeta));
                double c = 1 / sqrt(1 + t * t), s = c * t;
                for (int i = 0; i < m; i++) {
                    double u = xp[i], v = xq[i];
                    xp[i] = c * u - s * v;
                    xq[i] = s * u + c * v;
                }
                rotated = 1;
            }
        if (!rotated) break;
    }
    for (int j = 0; j < n; j++) {
        double s2 = 0;
        for (int i = 0; i < m; i++) s2 += x[(size_t)j * m + i] * x[(size_t)j * m + i];
        sigma[j] = sqrt(s2);
    }
    for (int j = 1; j < n; j++) /* insertion sort, largest first */
        for (int k = j; k > 0 && sigma[k] > sigma[k - 1]; k--) { double t = sigma[k]; sigma[k] = sigma[k - 1]; sigma[k - 1] = t; }
}

/* One layer of one target: D = W' - W as (rows, cols). Returns residual_R
 * / tol (it passes below 1) and stores sigma_R / tol in *signal (how far the
 * R-th kept direction stands above the rounding; 0 when R >= min(rows,cols)). */
static double rank_ratio(const float *w, const float *merged, int rows, int cols, int R, double *signal) {
    /* Jacobi wants m >= n: take D's columns when rows >= cols, else D^T's */
    int m = rows >= cols ? rows : cols, n = rows >= cols ? cols : rows;
    double *x = malloc((size_t)m * n * sizeof(double)), *sigma = malloc((size_t)n * sizeof(double));
    if (!x || !sigma) fail("out of memory for a %d x %d matrix", rows, cols);
    double maxw = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            size_t at = (size_t)r * cols + c;
            double d = (double)merged[at] - (double)w[at]; /* exact: both are floats */
            if (rows >= cols) x[(size_t)c * m + r] = d; else x[(size_t)r * m + c] = d;
            if (fabs(merged[at]) > maxw) maxw = fabs(merged[at]);
        }
    singular_values(x, m, n, sigma);
    double tol = ldexp(maxw, -24) * sqrt((double)rows * cols), residual2 = 0;
    for (int k = R; k < n; k++) residual2 += sigma[k] * sigma[k];
    *signal = R <= n ? sigma[R - 1] / tol : 0;
    free(x);
    free(sigma);
    return sqrt(residual2) / tol;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: check_lora_merge BASE.bin MERGED.bin R TARGETS (a comma list of qkv,attproj,fc,fcproj)\n");
        return 2;
    }
    char *end;
    long R = strtol(argv[3], &end, 10);
    if (*end || R < 1 || R > 1 << 20) { fprintf(stderr, "check_lora_merge: R must be a positive integer, not '%s'\n", argv[3]); return 2; }
    int targeted[NTENSORS] = {0};
    char list[256];
    snprintf(list, sizeof list, "%s", argv[4]);
    for (char *word = strtok(list, ","); word; word = strtok(NULL, ",")) {
        int k = 0;
        while (k < 4 && strcmp(word, target_word[k]) != 0) k++;
        if (k == 4) { fprintf(stderr, "check_lora_merge: unknown target '%s' (qkv, attproj, fc, fcproj)\n", word); return 2; }
        targeted[target_tensor[k]] = 1;
    }

    Checkpoint base, merged;
    read_checkpoint(argv[1], &base);
    read_checkpoint(argv[2], &merged);
    if (memcmp(base.header, merged.header, sizeof base.header) != 0) fail("the headers differ");

    for (int t = 0; t < NTENSORS; t++) {
        const float *w = base.params + base.offset[t], *m = merged.params + merged.offset[t];
        size_t per_layer = (size_t)base.rows[t] * base.cols[t];
        if (!targeted[t]) { /* must be bit-identical */
            for (size_t i = 0; i < base.size[t]; i++)
                if (memcmp(&w[i], &m[i], sizeof(float)) != 0)
                    fail("%s (not a target) changed: layer %zu, element %zu, %.9g -> %.9g", tensor_name[t],
                         i / per_layer, i % per_layer, w[i], m[i]);
            continue;
        }
        int changed = 0;
        double worst = 0, weakest = INFINITY;
        for (int l = 0; l < base.L; l++) {
            const float *wl = w + l * per_layer, *ml = m + l * per_layer;
            if (memcmp(wl, ml, per_layer * sizeof(float)) == 0) continue; /* D = 0 has rank 0 */
            changed++;
            double signal, ratio = rank_ratio(wl, ml, base.rows[t], base.cols[t], (int)R, &signal);
            if (ratio >= 1)
                fail("%s layer %d: rank > %ld: the residual after %ld directions is %.3g x the float32 rounding "
                     "tolerance", tensor_name[t], l, R, R, ratio);
            if (ratio > worst) worst = ratio;
            if (signal < weakest) weakest = signal;
        }
        if (!changed) fail("%s (a target) is unchanged in all %d layers", tensor_name[t], base.L);
        printf("%-8s rank <= %ld in %d/%d changed layers: residual after %ld directions <= %.3g x tolerance; "
               "smallest sigma_%ld = %.3g x tolerance\n", tensor_name[t], R, changed, base.L, R, worst, R, weakest);
    }
    free(base.params);
    free(merged.params);
    return 0;
}
