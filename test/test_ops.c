/*
 * test_ops: every op that has a fast twin (fastops.c), both the twin and
 * gpt2.c's plain function, against the formula in double, and the twin
 * against its plain function.
 *
 * The shapes are the awkward ones: one position and three (the
 * matrix-vector path), sizes that are not multiples of the 8 x 48 register
 * tile, the 16 lanes or the 384-deep k-chunk, and the 50257-wide
 * vocabulary. Each result must be within a float rounding bound of the
 * double reference, accumulate where the convention says accumulate,
 * overwrite where it says write, and be bitwise the same on a second run
 * and with one thread. Layernorm (no twin) is checked the same way. In a
 * `make REFERENCE=1` build only the plain functions exist and are checked.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common.h"
#include "../gpt2.h"
#include "../train.h" /* adamw_update */
#include "check.h"
#ifndef REFERENCE
#include "../fastops.h"
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static float rand_sym(void) { /* uniform in [-1, 1) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (float)((rng_state * 2685821657736338717ull) >> 40) / 8388608.0f - 1.0f;
}
static float *random_floats(size_t n) {
    float *p = xmalloc(n * sizeof(float), "test data");
    for (size_t i = 0; i < n; i++) p[i] = rand_sym();
    return p;
}
static float *copy_floats(const float *src, size_t n) {
    float *p = xmalloc(n * sizeof(float), "test data");
    memcpy(p, src, n * sizeof(float));
    return p;
}

/* A float sum of K products, however ordered, is within about
 * (K_chunk + K/K_chunk) * 2^-24 * sum |products| of the exact value; a
 * dropped or doubled product is off by a whole |product|, ~1/K of the sum. */
static double sum_tolerance(int K, double abs_sum) {
    return (384.0 + K / 384.0 + 4.0) * 6e-8 * abs_sum + 1e-30; /* K_chunk: fastops.c's GEMM_KC */
}

/* worst |got - ref| / tol[i] over n entries; > 1 fails. NaN counts as a failure. */
static double worst_bound(const float *got, const double *ref, const double *tol, size_t n) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)got[i] - ref[i]) / tol[i];
        if (!(r <= worst)) worst = isnan(r) ? INFINITY : r;
    }
    return worst;
}

/* The tables under test: gpt2.c's plain loops, then (default build) the speed layer. */
static const GPT2Ops *const TABLES[] = {
    &GPT2_REFERENCE_OPS,
#ifndef REFERENCE
    &GPT2_FAST_OPS,
#endif
};
enum { NTABLES = sizeof TABLES / sizeof TABLES[0] };

/* A twin and its plain function are each within `bound` of the exact value,
 * so within 2 bounds of each other: worst |fast - plain| / (2 tol_i) over n
 * entries, with tol_i from `tol` (NULL: tol_scalar * (1 + |plain|)). */
static double twin_gap(const float *fast, const float *plain, size_t n, const double *tol, double tol_scalar) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double t = tol ? tol[i] : tol_scalar * (1.0 + fabs((double)plain[i]));
        double r = fabs((double)fast[i] - plain[i]) / (2.0 * t);
        if (!(r <= worst)) worst = isnan(r) ? INFINITY : r;
    }
    return worst;
}

static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof(float)) == 0;
}

/* sets the OpenMP thread count, returns the previous one */
static int set_threads(int n) {
#ifdef _OPENMP
    int old = omp_get_max_threads();
    omp_set_num_threads(n);
    return old;
#else
    (void)n;
    return 1;
#endif
}

/* matmul_forward, then matmul_backward, for one (BT, C, OC) against the
 * plain loops:
 *   out[bt][o]  = bias[o] + sum_i inp[bt][i] w[o][i]
 *   dinp[bt][i] = sum_o dout[bt][o] w[o][i]                 (written)
 *   dw[o][i]   += sum_bt dout[bt][o] inp[bt][i]             (accumulated)
 *   dbias[o]   += sum_bt dout[bt][o]                        (accumulated) */
/* init + sum_k x[k*sx] * y[k*sy] in double, with the sum of absolute terms
 * (the scale of the float rounding error) and the number of terms. */
static void ref_dot(double *sum, double *abs_sum, int *terms, double init, const float *x, size_t sx, const float *y,
                    size_t sy, int n) {
    double s = init, a = fabs(init);
    for (int k = 0; k < n; k++) {
        double p = (double)x[(size_t)k * sx] * y[(size_t)k * sy];
        s += p;
        a += fabs(p);
    }
    *sum = s;
    *abs_sum = a;
    *terms = n + (init != 0.0);
}

/* tol[i] = the rounding bound of each of n entries */
static double *bounds(const double *abs_sum, const int *K, size_t n) {
    double *tol = xmalloc(n * sizeof(double), "bounds");
    for (size_t i = 0; i < n; i++) tol[i] = sum_tolerance(K[i], abs_sum[i]);
    return tol;
}

/* The four results of one table's matmul_forward + matmul_backward. */
typedef struct {
    float *out, *dinp, *dw, *db;
} MatmulResult;

static MatmulResult run_matmul(const GPT2Ops *op, const float *inp, const float *w, const float *bias,
                               const float *dout, const float *dw0, const float *db0, int B, int T, int C, int OC) {
    size_t BT = (size_t)B * T, nx = BT * C, nw = (size_t)OC * C, no = BT * OC;
    MatmulResult r = {xmalloc(no * sizeof(float), "out"), xmalloc(nx * sizeof(float), "dinp"), copy_floats(dw0, nw),
                      copy_floats(db0, OC)};
    /* garbage in the written outputs: it must not leak into the results */
    for (size_t i = 0; i < no; i++) r.out[i] = 1e30f;
    for (size_t i = 0; i < nx; i++) r.dinp[i] = -1e30f;
    op->matmul_forward(r.out, inp, w, bias, B, T, C, OC);
    op->matmul_backward(r.dinp, r.dw, bias ? r.db : NULL, dout, inp, w, B, T, C, OC);
    return r;
}

static void free_matmul(MatmulResult *r) {
    free(r->out), free(r->dinp), free(r->dw), free(r->db);
}

static void check_matmul(int B, int T, int C, int OC, int with_bias) {
    int BT = B * T;
    char shape[96], name[160];
    snprintf(shape, sizeof(shape), "BT=%d C=%d OC=%d%s", BT, C, OC, with_bias ? "" : " (no bias)");
    size_t nx = (size_t)BT * C, nw = (size_t)OC * C, no = (size_t)BT * OC;
    float *inp = random_floats(nx), *w = random_floats(nw), *bias = with_bias ? random_floats(OC) : NULL;
    float *dout = random_floats(no), *dw0 = random_floats(nw), *db0 = random_floats(OC);

    /* the double reference: each product a dot product over its own index */
    size_t nmax = no > nw ? no : nw;
    nmax = nmax > nx ? nmax : nx;
    double *abs_sum = xmalloc(nmax * sizeof(double), "abs");
    double *r_out = xmalloc(no * sizeof(double), "ref"), *r_dx = xmalloc(nx * sizeof(double), "ref");
    double *r_dw = xmalloc(nw * sizeof(double), "ref"), *r_db = xmalloc(OC * sizeof(double), "ref");
    double *tol_out, *tol_dx, *tol_dw, *tol_db;
    int *K_out = xmalloc(no * sizeof(int), "K"), *K_dx = xmalloc(nx * sizeof(int), "K");
    int *K_dw = xmalloc(nw * sizeof(int), "K"), *K_db = xmalloc(OC * sizeof(int), "K");
    for (int bt = 0; bt < BT; bt++)
        for (int o = 0; o < OC; o++)
            ref_dot(&r_out[(size_t)bt * OC + o], &abs_sum[(size_t)bt * OC + o], &K_out[(size_t)bt * OC + o],
                    bias ? bias[o] : 0.0, inp + (size_t)bt * C, 1, w + (size_t)o * C, 1, C);
    tol_out = bounds(abs_sum, K_out, no);
    for (int bt = 0; bt < BT; bt++)
        for (int i = 0; i < C; i++)
            ref_dot(&r_dx[(size_t)bt * C + i], &abs_sum[(size_t)bt * C + i], &K_dx[(size_t)bt * C + i], 0.0,
                    dout + (size_t)bt * OC, 1, w + i, (size_t)C, OC);
    tol_dx = bounds(abs_sum, K_dx, nx);
    for (int o = 0; o < OC; o++)
        for (int i = 0; i < C; i++)
            ref_dot(&r_dw[(size_t)o * C + i], &abs_sum[(size_t)o * C + i], &K_dw[(size_t)o * C + i],
                    dw0[(size_t)o * C + i], dout + o, (size_t)OC, inp + i, (size_t)C, BT);
    tol_dw = bounds(abs_sum, K_dw, nw);
    for (int o = 0; o < OC; o++) {
        double s = db0[o], a = fabs(s);
        for (int bt = 0; bt < BT; bt++) {
            s += dout[(size_t)bt * OC + o];
            a += fabs(dout[(size_t)bt * OC + o]);
        }
        r_db[o] = with_bias ? s : db0[o], abs_sum[o] = a, K_db[o] = BT + 1;
    }
    tol_db = bounds(abs_sum, K_db, OC);

    MatmulResult res[NTABLES];
    for (int k = 0; k < NTABLES; k++) {
        const GPT2Ops *op = TABLES[k];
        MatmulResult *r = &res[k];
        *r = run_matmul(op, inp, w, bias, dout, dw0, db0, B, T, C, OC);
        double e_out = worst_bound(r->out, r_out, tol_out, no), e_dx = worst_bound(r->dinp, r_dx, tol_dx, nx);
        double e_dw = worst_bound(r->dw, r_dw, tol_dw, nw), e_db = worst_bound(r->db, r_db, tol_db, OC);
        snprintf(name, sizeof(name), "%s matmul %s", op->name, shape);
        CHECK(e_out <= 1 && e_dx <= 1 && e_dw <= 1 && e_db <= 1, name,
              "error / rounding bound: out %.3g, dinp %.3g, dweight %.3g, dbias %.3g (must be <= 1)", e_out, e_dx,
              e_dw, e_db);

        /* deterministic: a second run, and a run on one thread, give the same bits */
        int same = 1;
        for (int threads = 0; threads < 2; threads++) {
            int saved_threads = threads == 1 ? set_threads(1) : 0;
            MatmulResult again = run_matmul(op, inp, w, bias, dout, dw0, db0, B, T, C, OC);
            same &= same_bits(r->out, again.out, no) && same_bits(r->dinp, again.dinp, nx) &&
                    same_bits(r->dw, again.dw, nw) && same_bits(r->db, again.db, OC);
            free_matmul(&again);
            if (threads == 1) set_threads(saved_threads);
        }
        snprintf(name, sizeof(name), "%s matmul %s deterministic", op->name, shape);
        CHECK(same, name, "a second run or a one-thread run gave different bits");
    }
    for (int k = 1; k < NTABLES; k++) {
        double gaps[4] = {twin_gap(res[k].out, res[0].out, no, tol_out, 0),
                          twin_gap(res[k].dinp, res[0].dinp, nx, tol_dx, 0),
                          twin_gap(res[k].dw, res[0].dw, nw, tol_dw, 0), twin_gap(res[k].db, res[0].db, OC, tol_db, 0)};
        double g = 0.0;
        for (int j = 0; j < 4; j++) g = gaps[j] > g || isnan(gaps[j]) ? gaps[j] : g;
        snprintf(name, sizeof(name), "%s matmul %s vs its plain twin", TABLES[k]->name, shape);
        CHECK(g <= 1, name, "|fast - plain| / (2 rounding bounds) = %.3g (must be <= 1)", g);
    }
    for (int k = 0; k < NTABLES; k++) free_matmul(&res[k]);
    free(inp), free(w), free(bias), free(dout), free(dw0), free(db0), free(abs_sum);
    free(r_out), free(r_dx), free(r_dw), free(r_db), free(tol_out), free(tol_dx), free(tol_dw), free(tol_db);
    free(K_out), free(K_dx), free(K_dw), free(K_db);
}

/* Generation decodes N samples as one product of N rows (B=N, T=1) and
 * promises each sample what it would get alone: on every table, row r of a
 * product with BT rows (up to --samples' limit) equals, bit for bit, the
 * product of row r alone. */
static void check_matvec_rows_independent(int BT, int C, int OC) {
    float *inp = random_floats((size_t)BT * C), *w = random_floats((size_t)OC * C), *bias = random_floats(OC);
    float *all = xmalloc((size_t)BT * OC * sizeof(float), "out"), *one = xmalloc((size_t)OC * sizeof(float), "out");
    for (int k = 0; k < NTABLES; k++) {
        TABLES[k]->matmul_forward(all, inp, w, bias, BT, 1, C, OC);
        int first_diff = -1;
        for (int r = 0; r < BT && first_diff < 0; r++) {
            TABLES[k]->matmul_forward(one, inp + (size_t)r * C, w, bias, 1, 1, C, OC);
            if (!same_bits(one, all + (size_t)r * OC, OC)) first_diff = r;
        }
        char name[128];
        snprintf(name, sizeof(name), "%s matmul rows of BT=%d C=%d OC=%d equal each row alone", TABLES[k]->name, BT, C,
                 OC);
        CHECK(first_diff < 0, name, "row %d differs from the same row computed alone", first_diff);
    }
    free(inp), free(w), free(bias), free(all), free(one);
}

#define SQRT_2_OVER_PI 0.79788456080286535588

/* GELU forward and backward against the formula in double, for x across
 * [-12, 12] (tanh saturates well inside it) plus a few exact points. */
static void check_gelu(void) {
    float *plain_y = NULL, *plain_dx = NULL;
    enum { N = 24001 };
    float *x = xmalloc(N * sizeof(float), "x"), *d = xmalloc(N * sizeof(float), "d");
    for (int i = 0; i < N; i++) {
        x[i] = -12.0f + 24.0f * (float)i / (N - 1);
        d[i] = 1.0f + 0.5f * rand_sym();
    }
    for (int k = 0; k < NTABLES; k++) {
        const GPT2Ops *op = TABLES[k];
        float *y = xmalloc(N * sizeof(float), "y"), *dx = xmalloc(N * sizeof(float), "dx");
        op->gelu_forward(y, x, N);
        op->gelu_backward(dx, x, d, N);
        double worst_y = 0.0, worst_dx = 0.0;
        for (int i = 0; i < N; i++) {
            double v = x[i], u = SQRT_2_OVER_PI * (v + 0.044715 * v * v * v), th = tanh(u);
            double ry = 0.5 * v * (1.0 + th);
            double rd =
                d[i] * (0.5 * (1.0 + th) + 0.5 * v * (1.0 - th * th) * SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v));
            /* float evaluation of the formula: a few ulps of |x| (the terms are that size) */
            double ey = fabs(y[i] - ry) / (1e-6 * (fabs(v) + 1e-3)), ed = fabs(dx[i] - rd) / (1e-6 * (fabs(v) + 1.0));
            if (!(ey <= worst_y)) worst_y = isnan(ey) ? INFINITY : ey;
            if (!(ed <= worst_dx)) worst_dx = isnan(ed) ? INFINITY : ed;
        }
        char name[64];
        snprintf(name, sizeof(name), "%s gelu forward and backward vs double", op->name);
        CHECK(worst_y <= 1 && worst_dx <= 1, name, "error / (1e-6 |x|): forward %.3g, backward %.3g", worst_y,
              worst_dx);
        if (k == 0) {
            plain_y = y, plain_dx = dx;
            continue;
        }
        /* both within the bounds above, so within twice them of each other */
        double gap_y = 0.0, gap_dx = 0.0;
        for (int i = 0; i < N; i++) {
            double ey = fabs(y[i] - plain_y[i]) / (2e-6 * (fabs(x[i]) + 1e-3));
            double ed = fabs(dx[i] - plain_dx[i]) / (2e-6 * (fabs(x[i]) + 1.0));
            if (!(ey <= gap_y)) gap_y = isnan(ey) ? INFINITY : ey;
            if (!(ed <= gap_dx)) gap_dx = isnan(ed) ? INFINITY : ed;
        }
        snprintf(name, sizeof(name), "%s gelu vs its plain twin", op->name);
        CHECK(gap_y <= 1 && gap_dx <= 1, name, "|fast - plain| / twice the bound: forward %.3g, backward %.3g", gap_y,
              gap_dx);
        free(y), free(dx);
    }
    free(x), free(d), free(plain_y), free(plain_dx);
}

/* cross-entropy and its in-place backward against double, for rows with a
 * wide spread of logits (down to e^-100 relative: the clamp of e^x at -87
 * must not matter) at V = 7 and V = 50257. */
static void check_crossentropy(int B, int T, int V) {
    int BT = B * T;
    float *logits = xmalloc((size_t)BT * V * sizeof(float), "logits"), *losses;
    int *targets = xmalloc(BT * sizeof(int), "targets");
    for (size_t i = 0; i < (size_t)BT * V; i++) logits[i] = 8.0f * rand_sym() + (i % 97 == 0 ? -100.0f : 0.0f);
    for (int bt = 0; bt < BT; bt++) targets[bt] = (int)((bt * 7919u) % (unsigned)V);
    float *plain_losses = NULL, *plain_dl = NULL;
    for (int k = 0; k < NTABLES; k++) {
        const GPT2Ops *op = TABLES[k];
        float *dl = copy_floats(logits, (size_t)BT * V);
        losses = xmalloc(BT * sizeof(float), "losses");
        op->crossentropy_forward(losses, logits, targets, B, T, V);
        op->crossentropy_backward(dl, targets, B, T, V);
        double worst_loss = 0.0, worst_grad = 0.0;
        for (int bt = 0; bt < BT; bt++) {
            const float *l = logits + (size_t)bt * V;
            double maxv = l[0], sum = 0.0;
            for (int i = 0; i < V; i++) maxv = l[i] > maxv ? l[i] : maxv;
            for (int i = 0; i < V; i++) sum += exp(l[i] - maxv);
            double loss = log(sum) + maxv - l[targets[bt]];
            double e = fabs(losses[bt] - loss) / (1e-6 * (1.0 + fabs(loss)));
            if (!(e <= worst_loss)) worst_loss = isnan(e) ? INFINITY : e;
            for (int i = 0; i < V; i++) {
                double g = (exp(l[i] - maxv) / sum - (i == targets[bt])) / BT;
                /* relative to the gradient's scale 1/BT: float rounding ~1e-7 */
                double eg = fabs(dl[(size_t)bt * V + i] - g) * BT / 1e-6;
                if (!(eg <= worst_grad)) worst_grad = isnan(eg) ? INFINITY : eg;
            }
        }
        char name[80];
        snprintf(name, sizeof(name), "%s crossentropy forward and backward vs double, V=%d", op->name, V);
        CHECK(worst_loss <= 1 && worst_grad <= 1, name, "error / 1e-6: loss %.3g, dlogits %.3g", worst_loss,
              worst_grad);
        if (k == 0) {
            plain_losses = losses, plain_dl = dl;
            continue;
        }
        /* the gradients are of size 1/BT: the tolerance scales with it */
        double gap_l = twin_gap(losses, plain_losses, BT, NULL, 1e-6);
        double gap_d = twin_gap(dl, plain_dl, (size_t)BT * V, NULL, 1e-6 / BT);
        snprintf(name, sizeof(name), "%s crossentropy V=%d vs its plain twin", op->name, V);
        CHECK(gap_l <= 1 && gap_d <= 1, name, "|fast - plain| / 2 tolerances: loss %.3g, dlogits %.3g", gap_l, gap_d);
        free(losses), free(dl);
    }
    free(logits), free(targets), free(plain_losses), free(plain_dl);
}

/* worst |got - ref| / (tol * (1 + |ref|)) over n entries; > 1 fails */
static double worst_scaled(const float *got, const double *ref, size_t n, double tol) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)got[i] - ref[i]) / (tol * (1.0 + fabs(ref[i])));
        if (!(r <= worst)) worst = isnan(r) ? INFINITY : r;
    }
    return worst;
}

/* layernorm forward and backward against double, for C below, at and above
 * the 16-lane sums and the 64-channel blocks of the parameter gradients:
 *   out = (x - mean) * rstd * w + b,  rstd = 1 / sqrt(var + 1e-5)
 *   dx += rstd * (g - mean(g) - xhat * mean(g * xhat)),  g = dout * w
 *   dw += sum over positions of dout * xhat,  db += sum of dout */
static void check_layernorm(int B, int T, int C) {
    int BT = B * T;
    size_t n = (size_t)BT * C;
    float *x = random_floats(n), *w = random_floats(C), *bias = random_floats(C), *dout = random_floats(n);
    float *dx = random_floats(n), *dw = random_floats(C), *db = random_floats(C);
    double *rdx = xmalloc(n * sizeof(double), "ref"), *rout = xmalloc(n * sizeof(double), "ref");
    double *rdw = xmalloc(C * sizeof(double), "ref"), *rdb = xmalloc(C * sizeof(double), "ref");
    for (size_t i = 0; i < n; i++) x[i] = 3.0f * x[i] + 0.5f; /* an offset the mean must remove */
    for (size_t i = 0; i < n; i++) rdx[i] = dx[i];
    for (int i = 0; i < C; i++) rdw[i] = dw[i], rdb[i] = db[i];
    float *out = xmalloc(n * sizeof(float), "out"), *mean = xmalloc(BT * sizeof(float), "mean");
    float *rstd = xmalloc(BT * sizeof(float), "rstd");
    layernorm_forward(out, mean, rstd, x, w, bias, B, T, C);
    layernorm_backward(dx, dw, db, dout, x, w, mean, rstd, B, T, C);
    for (int bt = 0; bt < BT; bt++) {
        const float *xr = x + (size_t)bt * C, *d = dout + (size_t)bt * C;
        double m = 0.0, v = 0.0, gm = 0.0, gxm = 0.0;
        for (int i = 0; i < C; i++) m += xr[i];
        m /= C;
        for (int i = 0; i < C; i++) v += (xr[i] - m) * (xr[i] - m);
        double s = 1.0 / sqrt(v / C + 1e-5);
        for (int i = 0; i < C; i++) {
            double xhat = (xr[i] - m) * s, g = (double)d[i] * w[i];
            rout[(size_t)bt * C + i] = xhat * w[i] + bias[i];
            gm += g / C;
            gxm += g * xhat / C;
            rdw[i] += d[i] * xhat;
            rdb[i] += d[i];
        }
        for (int i = 0; i < C; i++) {
            double xhat = (xr[i] - m) * s;
            rdx[(size_t)bt * C + i] += s * ((double)d[i] * w[i] - gm - xhat * gxm);
        }
    }
    double e_out = worst_scaled(out, rout, n, 1e-5), e_dx = worst_scaled(dx, rdx, n, 1e-5);
    double e_dw = worst_scaled(dw, rdw, C, 1e-5), e_db = worst_scaled(db, rdb, C, 1e-5);
    char name[64];
    snprintf(name, sizeof(name), "layernorm BT=%d C=%d vs double", BT, C);
    CHECK(e_out <= 1 && e_dx <= 1 && e_dw <= 1 && e_db <= 1, name,
          "error / (1e-5 (1 + |ref|)): out %.3g, dinp %.3g, dweight %.3g, dbias %.3g", e_out, e_dx, e_dw, e_db);
    free(x), free(w), free(bias), free(dout), free(dx), free(dw), free(db), free(out), free(mean), free(rstd);
    free(rdx), free(rout), free(rdw), free(rdb);
}

/* attention forward and backward against double, from the formulas in
 * gpt2.c: per (b, h), query t and key t2 <= t,
 *   att = softmax_t2(q[t] . k[t2] / sqrt(hs)),  out[t] = sum_t2 att v[t2]
 *   datt = dout[t] . v[t2],  dv[t2] += att dout[t]
 *   ds = att (datt - sum_j att[j] datt[j]),  dq[t] += ds k[t2] / sqrt(hs),
 *   dk[t2] += ds q[t] / sqrt(hs) */
static void check_attention(int B, int T, int C, int NH) {
    int hs = C / NH;
    size_t n3 = (size_t)B * T * 3 * C, n = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    float *qkv = random_floats(n3), *dout = random_floats(n);
    for (size_t i = 0; i < n3; i++) qkv[i] *= 2.0f; /* scores spread enough to make softmax uneven */
    double *rout = xcalloc(n, sizeof(double), "ref"), *ratt = xcalloc(na, sizeof(double), "ref");
    double *rd = xcalloc(n3, sizeof(double), "ref"), *da = xmalloc(T * sizeof(double), "da");
    double scale = 1.0 / sqrt((double)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((size_t)b * T + t) * 3 * C + (size_t)h * hs;
                double *a = ratt + (((size_t)b * NH + h) * T + t) * T, maxv = -INFINITY, sum = 0.0, dot = 0.0;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = qkv + ((size_t)b * T + t2) * 3 * C + C + (size_t)h * hs;
                    double sc = 0.0;
                    for (int i = 0; i < hs; i++) sc += (double)q[i] * k[i];
                    a[t2] = sc * scale;
                    maxv = a[t2] > maxv ? a[t2] : maxv;
                }
                for (int t2 = 0; t2 <= t; t2++) sum += (a[t2] = exp(a[t2] - maxv));
                for (int t2 = 0; t2 <= t; t2++) a[t2] /= sum;
                const float *d = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *v = qkv + ((size_t)b * T + t2) * 3 * C + 2 * C + (size_t)h * hs;
                    double *dv = rd + ((size_t)b * T + t2) * 3 * C + 2 * C + (size_t)h * hs;
                    da[t2] = 0.0;
                    for (int i = 0; i < hs; i++) {
                        rout[((size_t)b * T + t) * C + (size_t)h * hs + i] += a[t2] * v[i];
                        da[t2] += (double)d[i] * v[i];
                        dv[i] += a[t2] * d[i];
                    }
                    dot += a[t2] * da[t2];
                }
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = qkv + ((size_t)b * T + t2) * 3 * C + C + (size_t)h * hs;
                    double ds = a[t2] * (da[t2] - dot) * scale;
                    for (int i = 0; i < hs; i++) {
                        rd[((size_t)b * T + t) * 3 * C + (size_t)h * hs + i] += ds * k[i];
                        rd[((size_t)b * T + t2) * 3 * C + C + (size_t)h * hs + i] += ds * q[i];
                    }
                }
            }
    float *plain[3] = {NULL, NULL, NULL}; /* out, att, dqkv of the plain functions */
    for (int k = 0; k < NTABLES; k++) {
        const GPT2Ops *op = TABLES[k];
        float *out = xmalloc(n * sizeof(float), "out"), *att = xmalloc(na * sizeof(float), "att");
        float *dqkv = xmalloc(n3 * sizeof(float), "dqkv"), *datt = xmalloc(na * sizeof(float), "datt");
        op->attention_forward(out, att, qkv, B, T, C, NH);
        op->attention_backward(dqkv, datt, dout, qkv, att, B, T, C, NH);
        double e_out = worst_scaled(out, rout, n, 1e-5), e_att = worst_scaled(att, ratt, na, 1e-5);
        double e_d = worst_scaled(dqkv, rd, n3, 1e-5);
        char name[80];
        snprintf(name, sizeof(name), "%s attention B=%d T=%d C=%d NH=%d vs double", op->name, B, T, C, NH);
        CHECK(e_out <= 1 && e_att <= 1 && e_d <= 1, name,
              "error / (1e-5 (1 + |ref|)): out %.3g, att %.3g, dqkv %.3g", e_out, e_att, e_d);
        free(datt);
        if (k == 0) {
            plain[0] = out, plain[1] = att, plain[2] = dqkv;
            continue;
        }
        double g_out = twin_gap(out, plain[0], n, NULL, 1e-5), g_att = twin_gap(att, plain[1], na, NULL, 1e-5);
        double g_d = twin_gap(dqkv, plain[2], n3, NULL, 1e-5);
        snprintf(name, sizeof(name), "%s attention B=%d T=%d C=%d NH=%d vs its plain twin", op->name, B, T, C, NH);
        CHECK(g_out <= 1 && g_att <= 1 && g_d <= 1, name,
              "|fast - plain| / (2e-5 (1 + |plain|)): out %.3g, att %.3g, dqkv %.3g", g_out, g_att, g_d);
        /* heads are split between threads; each head's sums have one order */
        float *out1 = xmalloc(n * sizeof(float), "out"), *att1 = xmalloc(na * sizeof(float), "att");
        float *dqkv1 = xmalloc(n3 * sizeof(float), "dqkv"), *datt1 = xmalloc(na * sizeof(float), "datt");
        int old = set_threads(1);
        op->attention_forward(out1, att1, qkv, B, T, C, NH);
        op->attention_backward(dqkv1, datt1, dout, qkv, att1, B, T, C, NH);
        set_threads(old);
        snprintf(name, sizeof(name), "%s attention B=%d T=%d same bits with 1 thread", op->name, B, T);
        CHECK(same_bits(out, out1, n) && same_bits(att, att1, na) && same_bits(dqkv, dqkv1, n3), name,
              "the results differ");
        free(out1), free(att1), free(dqkv1), free(datt1);
        free(out), free(att), free(dqkv);
    }
    free(qkv), free(dout), free(rout), free(ratt), free(rd), free(da), free(plain[0]), free(plain[1]), free(plain[2]);
}

/* AdamW for one slice against the formula in double; the plain
 * adamw_update, then (default build) adamw_update_fast, which also clears the
 * gradients it consumes. lr is large so that the update, not the rounding of
 * the weight it is added to, dominates the new weight. */
typedef struct {
    float *p, *g, *m, *v;
} AdamWState;

static AdamWState adamw_state_copy(const AdamWState *s, size_t n) {
    AdamWState c = {copy_floats(s->p, n), copy_floats(s->g, n), copy_floats(s->m, n), copy_floats(s->v, n)};
    return c;
}
static void adamw_state_free(AdamWState *s) { free(s->p), free(s->g), free(s->m), free(s->v); }

static void check_adamw(size_t n, int t, float weight_decay) {
    const float lr = 0.1f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f;
    AdamWState start = {random_floats(n), random_floats(n), random_floats(n), random_floats(n)};
    for (size_t i = 0; i < n; i++) {
        start.v[i] = start.v[i] * start.v[i]; /* a second moment is >= 0 */
        if (i % 101 == 0) start.g[i] = 0.0f, start.v[i] = 1e-17f; /* sqrt(v) near eps: eps matters */
    }
    /* the exact update and, per element, a bound on a float evaluation's
     * error: each operation rounds by at most 2^-24 of its result, and m's
     * error (its two terms may cancel) carries into the step */
    double *rp = xmalloc(n * sizeof(double), "ref"), *rm = xmalloc(n * sizeof(double), "ref");
    double *rv = xmalloc(n * sizeof(double), "ref"), *tp = xmalloc(n * sizeof(double), "tol");
    double *tm = xmalloc(n * sizeof(double), "tol"), *tv = xmalloc(n * sizeof(double), "tol");
    double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t), u = 6e-8;
    for (size_t i = 0; i < n; i++) {
        double g = start.g[i], p = start.p[i];
        double m1 = (double)b1 * start.m[i], m2 = (1.0 - (double)b1) * g;
        double v1 = (double)b2 * start.v[i], v2 = (1.0 - (double)b2) * g * g;
        rm[i] = m1 + m2, rv[i] = v1 + v2;
        tm[i] = 4 * u * (fabs(m1) + fabs(m2)) + 1e-30;
        tv[i] = 5 * u * (v1 + v2) + 1e-30;
        double denom = sqrt(rv[i] / bc2) + eps, step = (rm[i] / bc1) / denom;
        rp[i] = p - lr * (step + weight_decay * p);
        tp[i] = 12 * u * (fabs(p) + fabs(rp[i]) + lr * fabs(step)) + lr * (tm[i] / bc1) / denom + 1e-30;
    }
    AdamWState plain = adamw_state_copy(&start, n);
    adamw_update(plain.p, plain.g, plain.m, plain.v, n, lr, b1, b2, eps, weight_decay, t);
    char name[96];
    snprintf(name, sizeof name, "reference adamw_update vs double, n=%zu t=%d wd=%g", n, t, weight_decay);
    double wp = worst_bound(plain.p, rp, tp, n), wm = worst_bound(plain.m, rm, tm, n);
    double wv = worst_bound(plain.v, rv, tv, n);
    CHECK(wp <= 1 && wm <= 1 && wv <= 1, name, "error / bound: params %.3g, m %.3g, v %.3g", wp, wm, wv);
#ifndef REFERENCE
    AdamWState fast = adamw_state_copy(&start, n);
    adamw_update_fast(fast.p, fast.g, fast.m, fast.v, n, lr, b1, b2, eps, weight_decay, t);
    snprintf(name, sizeof name, "fast adamw_update_fast vs double, n=%zu t=%d wd=%g", n, t, weight_decay);
    wp = worst_bound(fast.p, rp, tp, n), wm = worst_bound(fast.m, rm, tm, n), wv = worst_bound(fast.v, rv, tv, n);
    CHECK(wp <= 1 && wm <= 1 && wv <= 1, name, "error / bound: params %.3g, m %.3g, v %.3g", wp, wm, wv);
    /* m and v are the same float operations in the same order: the same bits */
    snprintf(name, sizeof name, "fast adamw n=%zu t=%d vs its plain twin", n, t);
    double gap = twin_gap(fast.p, plain.p, n, tp, 0);
    CHECK(gap <= 1 && same_bits(fast.m, plain.m, n) && same_bits(fast.v, plain.v, n), name,
          "params |fast - plain| / twice the bound %.3g; m %s, v %s", gap,
          same_bits(fast.m, plain.m, n) ? "same" : "differ", same_bits(fast.v, plain.v, n) ? "same" : "differ");
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++) nonzero += fast.g[i] != 0.0f;
    snprintf(name, sizeof name, "fast adamw n=%zu clears the gradients it consumes", n);
    CHECK(nonzero == 0, name, "%zu of %zu gradients left nonzero", nonzero, n);
    /* one thread and two split the elements differently; each is computed alone */
    int old = set_threads(1);
    AdamWState one = adamw_state_copy(&start, n);
    adamw_update_fast(one.p, one.g, one.m, one.v, n, lr, b1, b2, eps, weight_decay, t);
    set_threads(2);
    AdamWState two = adamw_state_copy(&start, n);
    adamw_update_fast(two.p, two.g, two.m, two.v, n, lr, b1, b2, eps, weight_decay, t);
    set_threads(old);
    snprintf(name, sizeof name, "fast adamw n=%zu same bits with 1 and 2 threads", n);
    CHECK(same_bits(one.p, two.p, n) && same_bits(one.m, two.m, n) && same_bits(one.v, two.v, n) &&
              same_bits(one.p, fast.p, n),
          name, "the results differ");
    adamw_state_free(&fast), adamw_state_free(&one), adamw_state_free(&two);
#endif
    adamw_state_free(&plain), adamw_state_free(&start);
    free(rp), free(rm), free(rv), free(tp), free(tm), free(tv);
}

int main(void) {
    /* shapes: the matrix-vector path (up to 16 positions: one, three, five
     * (a group of four inputs and one more), 16; OC not a multiple of 4
     * leaves 1, 2 or 3 weight rows over a group of four; C=7 is all tail, 37
     * lanes and a tail), 17 (the smallest tiled one), tiles cut at every
     * edge, k deeper than one chunk */
    check_matmul(1, 1, 7, 5, 1);
    check_matmul(1, 3, 7, 5, 1);
    check_matmul(1, 1, 768, 50257, 0);
    check_matmul(1, 3, 7, 50257, 0);
    check_matmul(1, 5, 37, 45, 1);
    check_matmul(1, 2, 37, 6, 1);
    check_matmul(1, 6, 19, 7, 1);
    check_matmul(4, 4, 37, 33, 1);
    check_matmul(1, 17, 7, 5, 1);
    check_matmul(3, 13, 37, 45, 1);
    check_matmul(2, 33, 300, 70, 1);
    check_matmul(1, 9, 520, 33, 0);
    check_matmul(4, 16, 64, 257, 1);
    check_matmul(1, 19, 7, 50257, 0);
    /* the gemm's ways of reading: C a multiple of the 48-column panel (b read
     * in place in both backward products), rows not a multiple of the 8-row
     * tile (a read in place, its last rows copied), 16x16 transposes of
     * whole panels, k-chunks of 384, and a last column block too narrow to
     * be read in place */
    check_matmul(2, 37, 96, 100, 1);
    check_matmul(1, 24, 800, 144, 0);
    check_matvec_rows_independent(16, 37, 45);
    check_matvec_rows_independent(7, 768, 301);
    check_matvec_rows_independent(5, 37, 46);
    check_gelu();
    check_crossentropy(1, 3, 7);
    check_crossentropy(2, 3, 50257);
    check_layernorm(1, 1, 7);
    check_layernorm(2, 5, 70);
    check_layernorm(3, 7, 768);
    check_attention(1, 1, 15, 3);
    check_attention(2, 17, 15, 3);
    check_attention(2, 33, 84, 4);
    check_attention(1, 64, 128, 2); /* GPT-2's head size, 64, at the bench's T */
    check_adamw(1, 1, 0.0f);
    check_adamw(10007, 1, 0.1f);
    check_adamw(10007, 9, 0.0f);
    return check_failures ? 1 : 0;
}
