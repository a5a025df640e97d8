/*
 * test_kernels: every GPU kernel against its CPU function (gpt2.c).
 *
 *   ./test_kernels [--kernels fast|readable] [--tf32]
 *                  all checks (SKIP when there is no GPU); without --kernels,
 *                  the matrix products (gemm, matmul, attention) are checked
 *                  with each kernel set in turn: readable, fast, fast+tf32
 *   ./test_kernels --gpu-present  exit 0 if a CUDA GPU is usable, 1 if not
 *
 * Each op runs on the same random inputs on both sides, at several shapes,
 * including awkward ones: C odd (33), NH = 3, T = 1, and sizes that are not
 * multiples of the 64x64 tiles. Output buffers start filled with random
 * values on both sides, so a kernel that writes where the CPU accumulates
 * (or the other way round) fails. Tolerances:
 *   - exact (bit for bit) for the encoder and residual ops, whose GPU
 *     versions add the same numbers in the same order as the CPU, and for
 *     the readable set's gemm against plain loops in the reference order,
 *     wherever no multiply-add is fused (the emulator; `make cuda FMAD=0`);
 *   - max |gpu - cpu| <= 1e-5 * max |cpu| for the others (different
 *     summation order, fused multiply-adds, CUDA's expf/tanhf);
 *   - TF32_REL_TOL instead for the products under --tf32 (each input cut
 *     to a 10-bit mantissa);
 * and every backward op is run twice to check the GPU gives the same bits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "../common.h"
#include "../gpt2.h"
#include "../train.h"
}
#include "../kernels/cuda_common.cuh"
#include "../kernels/gpt2_gpu.h"
#include "../kernels/kernels.h"
#include "check.h"

#define REL_TOL 1e-5
#define TF32_REL_TOL 5e-3
static double rel_tol = REL_TOL; /* TF32_REL_TOL while the products are checked with --tf32 */

/* ---- random inputs (xorshift64*, fixed seed: the same test every run) ---- */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float rand_uniform(void) { /* in [-1, 1) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (float)((double)((rng_state * 2685821657736338717ull) >> 11) / 4503599627370496.0 - 1.0);
}

/* Every buffer of one test case, freed together at its end. */
#define MAX_BUFFERS 1024
static void *host_bufs[MAX_BUFFERS], *dev_bufs[MAX_BUFFERS];
static int n_host, n_dev;

static float *host_random(size_t n, float scale) {
    float *h = (float *)xmalloc(n * sizeof(float), "test input");
    for (size_t i = 0; i < n; i++) h[i] = scale * rand_uniform();
    if (n_host == MAX_BUFFERS) die("test_kernels: too many buffers");
    host_bufs[n_host++] = h;
    return h;
}
static int *host_tokens(size_t n, int V) {
    int *h = (int *)xmalloc(n * sizeof(int), "test tokens");
    for (size_t i = 0; i < n; i++) h[i] = (int)((rand_uniform() + 1.0f) * 0.5f * V) % V;
    if (n_host == MAX_BUFFERS) die("test_kernels: too many buffers");
    host_bufs[n_host++] = h;
    return h;
}
static void *device_copy(const void *h, size_t bytes) {
    void *d = NULL;
    CUDA_CHECK(cudaMalloc(&d, bytes ? bytes : 1));
    CUDA_CHECK(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice));
    if (n_dev == MAX_BUFFERS) die("test_kernels: too many buffers");
    dev_bufs[n_dev++] = d;
    return d;
}
static float *dev(const float *h, size_t n) { return (float *)device_copy(h, n * sizeof(float)); }
static int *dev_int(const int *h, size_t n) { return (int *)device_copy(h, n * sizeof(int)); }
static float *host_copy(const float *d, size_t n) {
    float *h = (float *)xmalloc(n * sizeof(float), "test result");
    CUDA_CHECK(cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost));
    if (n_host == MAX_BUFFERS) die("test_kernels: too many buffers");
    host_bufs[n_host++] = h;
    return h;
}
static void free_all(void) {
    for (int i = 0; i < n_host; i++) free(host_bufs[i]);
    for (int i = 0; i < n_dev; i++) CUDA_CHECK(cudaFree(dev_bufs[i]));
    n_host = n_dev = 0;
}

/* ---- comparisons ---- */
static char case_name[64]; /* the shape of the current case, e.g. "B3_T5_C33_NH3" */

/* GPU result d_gpu (device, n floats) against the CPU's cpu (host). */
static void expect_close(const char *what, const float *d_gpu, const float *cpu, size_t n, int exact) {
    const float *gpu = host_copy(d_gpu, n);
    double diff = 0.0, refmax = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)gpu[i] - (double)cpu[i]);
        if (e > diff || isnan(e)) diff = e;
        if (fabs(cpu[i]) > refmax) refmax = fabs(cpu[i]);
    }
    char name[160];
    snprintf(name, sizeof(name), "%s/%s", what, case_name);
    if (exact)
        CHECK(memcmp(gpu, cpu, n * sizeof(float)) == 0, name, "not bit-identical to the CPU (max abs diff %.3e)", diff);
    else
        CHECK(diff <= rel_tol * refmax, name, "max abs diff %.3e > %.0e x max |cpu| %.3e", diff, rel_tol, refmax);
}

/* Two GPU results (device) that must be the same bits. */
static void expect_same_bits(const char *what, const float *d_a, const float *d_b, size_t n) {
    const float *a = host_copy(d_a, n), *b = host_copy(d_b, n);
    char name[160];
    snprintf(name, sizeof(name), "%s/deterministic/%s", what, case_name);
    CHECK(memcmp(a, b, n * sizeof(float)) == 0, name, "two runs on the same inputs differ");
}

/* ---- one test per op; each takes a shape ---- */

static void test_encoder(int B, int T, int C, int V) {
    size_t BT = (size_t)B * T, BTC = BT * C;
    int *inp = host_tokens(BT, V); /* V small: many repeated tokens */
    float *wte = host_random((size_t)V * C, 1.0f), *wpe = host_random((size_t)T * C, 1.0f);
    float *out = host_random(BTC, 1.0f), *d_out = dev(out, BTC);
    int *d_inp = dev_int(inp, BT);
    encoder_forward(out, inp, wte, wpe, B, T, C);
    encoder_forward_gpu(d_out, d_inp, dev(wte, (size_t)V * C), dev(wpe, (size_t)T * C), B, T, C);
    expect_close("encoder_forward/out", d_out, out, BTC, 1);

    float *dout = host_random(BTC, 1.0f), *dwte = host_random((size_t)V * C, 1.0f), *dwpe = host_random((size_t)T * C, 1.0f);
    float *d_dout = dev(dout, BTC);
    float *d_dwte[2] = {dev(dwte, (size_t)V * C), dev(dwte, (size_t)V * C)};
    float *d_dwpe[2] = {dev(dwpe, (size_t)T * C), dev(dwpe, (size_t)T * C)};
    int *buckets = (int *)xmalloc((3 * BT + 1) * sizeof(int), "buckets");
    TokenBuckets tb;
    tb.num_tokens = token_buckets_build(buckets, buckets + BT, buckets + 2 * BT + 1, inp, (int)BT);
    int *d_buckets = dev_int(buckets, 3 * BT + 1);
    tb.token = d_buckets;
    tb.start = d_buckets + BT;
    tb.position = d_buckets + 2 * BT + 1;
    free(buckets);
    encoder_backward(dwte, dwpe, dout, inp, B, T, C);
    for (int r = 0; r < 2; r++) encoder_backward_gpu(d_dwte[r], d_dwpe[r], d_dout, &tb, B, T, C);
    expect_close("encoder_backward/dwte", d_dwte[0], dwte, (size_t)V * C, 1);
    expect_close("encoder_backward/dwpe", d_dwpe[0], dwpe, (size_t)T * C, 1);
}

static void test_layernorm(int B, int T, int C) {
    size_t BT = (size_t)B * T, BTC = BT * C;
    float *inp = host_random(BTC, 2.0f), *w = host_random(C, 1.0f), *b = host_random(C, 1.0f);
    float *out = host_random(BTC, 1.0f), *mean = host_random(BT, 1.0f), *rstd = host_random(BT, 1.0f);
    float *d_inp = dev(inp, BTC), *d_w = dev(w, C);
    float *d_out = dev(out, BTC), *d_mean = dev(mean, BT), *d_rstd = dev(rstd, BT);
    layernorm_forward(out, mean, rstd, inp, w, b, B, T, C);
    layernorm_forward_gpu(d_out, d_mean, d_rstd, d_inp, d_w, dev(b, C), B, T, C);
    expect_close("layernorm_forward/out", d_out, out, BTC, 0);
    expect_close("layernorm_forward/mean", d_mean, mean, BT, 0);
    expect_close("layernorm_forward/rstd", d_rstd, rstd, BT, 0);

    /* backward from the CPU's saved statistics, so both sides see the same inputs */
    float *dout = host_random(BTC, 1.0f), *dinp = host_random(BTC, 1.0f);
    float *dw = host_random(C, 1.0f), *db = host_random(C, 1.0f);
    float *d_dout = dev(dout, BTC), *d_m = dev(mean, BT), *d_r = dev(rstd, BT);
    float *ws = dev(host_random(column_partials_size(BT, 2 * (size_t)C), 1.0f), column_partials_size(BT, 2 * (size_t)C));
    float *d_dinp[2] = {dev(dinp, BTC), dev(dinp, BTC)}, *d_dw[2] = {dev(dw, C), dev(dw, C)}, *d_db[2] = {dev(db, C), dev(db, C)};
    layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, B, T, C);
    for (int r = 0; r < 2; r++)
        layernorm_backward_gpu(d_dinp[r], d_dw[r], d_db[r], d_dout, d_inp, d_w, d_m, d_r, B, T, C, ws);
    expect_close("layernorm_backward/dinp", d_dinp[0], dinp, BTC, 0);
    expect_close("layernorm_backward/dweight", d_dw[0], dw, C, 0);
    expect_close("layernorm_backward/dbias", d_db[0], db, C, 0);
    expect_same_bits("layernorm_backward/dweight", d_dw[0], d_dw[1], C);
    expect_same_bits("layernorm_backward/dinp", d_dinp[0], d_dinp[1], BTC);
}

static void test_matmul(int B, int T, int C, int OC, int with_bias) {
    size_t BT = (size_t)B * T;
    float *inp = host_random(BT * C, 1.0f), *w = host_random((size_t)OC * C, 1.0f), *bias = host_random(OC, 1.0f);
    float *out = host_random(BT * OC, 1.0f), *d_out = dev(out, BT * OC);
    float *d_inp = dev(inp, BT * C), *d_w = dev(w, (size_t)OC * C);
    matmul_forward(out, inp, w, with_bias ? bias : NULL, B, T, C, OC);
    matmul_forward_gpu(d_out, d_inp, d_w, with_bias ? dev(bias, OC) : NULL, B, T, C, OC);
    expect_close("matmul_forward/out", d_out, out, BT * OC, 0);

    float *dout = host_random(BT * OC, 1.0f), *dinp = host_random(BT * C, 1.0f);
    float *dw = host_random((size_t)OC * C, 1.0f), *db = host_random(OC, 1.0f);
    float *d_dout = dev(dout, BT * OC);
    size_t nws = column_partials_size(BT, OC);
    float *ws = dev(host_random(nws, 1.0f), nws);
    float *d_dinp[2] = {dev(dinp, BT * C), dev(dinp, BT * C)};
    float *d_dw[2] = {dev(dw, (size_t)OC * C), dev(dw, (size_t)OC * C)}, *d_db[2] = {dev(db, OC), dev(db, OC)};
    matmul_backward(dinp, dw, with_bias ? db : NULL, dout, inp, w, B, T, C, OC);
    for (int r = 0; r < 2; r++)
        matmul_backward_gpu(d_dinp[r], d_dw[r], with_bias ? d_db[r] : NULL, d_dout, d_inp, d_w, B, T, C, OC, ws);
    expect_close("matmul_backward/dinp", d_dinp[0], dinp, BT * C, 0);
    expect_close("matmul_backward/dweight", d_dw[0], dw, (size_t)OC * C, 0);
    expect_close("matmul_backward/dbias", d_db[0], db, OC, 0); /* untouched on both sides without a bias */
    expect_same_bits("matmul_backward/dweight", d_dw[0], d_dw[1], (size_t)OC * C);
    expect_same_bits("matmul_backward/dbias", d_db[0], d_db[1], OC);
}

static void test_attention(int B, int T, int C, int NH) {
    size_t BT = (size_t)B * T, natt = BT * NH * T;
    float *qkv = host_random(BT * 3 * C, 2.0f);
    float *out = host_random(BT * C, 1.0f), *att = host_random(natt, 1.0f);
    float *d_qkv = dev(qkv, BT * 3 * C), *d_out = dev(out, BT * C), *d_att = dev(att, natt);
    size_t nws = attention_workspace_size(B, T, C, NH);
    float *ws = dev(host_random(nws, 1.0f), nws);
    attention_forward(out, att, qkv, B, T, C, NH);
    attention_forward_gpu(d_out, d_att, d_qkv, B, T, C, NH, ws);
    expect_close("attention_forward/out", d_out, out, BT * C, 0);
    expect_close("attention_forward/att", d_att, att, natt, 0);

    float *dout = host_random(BT * C, 1.0f), *dqkv = host_random(BT * 3 * C, 1.0f), *datt = host_random(natt, 1.0f);
    float *d_dout = dev(dout, BT * C), *d_att_cpu = dev(att, natt);
    float *d_dqkv[2] = {dev(dqkv, BT * 3 * C), dev(dqkv, BT * 3 * C)}, *d_datt[2] = {dev(datt, natt), dev(datt, natt)};
    attention_backward(dqkv, datt, dout, qkv, att, B, T, C, NH);
    for (int r = 0; r < 2; r++) attention_backward_gpu(d_dqkv[r], d_datt[r], d_dout, d_qkv, d_att_cpu, B, T, C, NH, ws);
    expect_close("attention_backward/dqkv", d_dqkv[0], dqkv, BT * 3 * C, 0);
    expect_close("attention_backward/datt", d_datt[0], datt, natt, 0);
    expect_same_bits("attention_backward/dqkv", d_dqkv[0], d_dqkv[1], BT * 3 * C);
}

/* gemm_gpu against plain loops in the reference order (gemm.cu's top):
 * each C[z][m][n] starts from its value (accumulate) or 0, adds
 * A(m,k) * B(k,n) for k = 0..K-1, then is multiplied by scale. The readable
 * kernel does exactly that, so without fused multiply-adds it must match bit
 * for bit; cuBLAS adds in its own order. */
static void test_gemm(int M, int N, int K, GemmLayout la, GemmLayout lb, float scale, int accumulate, int batch) {
    size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
    float *A = host_random(na * batch, 1.0f), *B = host_random(nb * batch, 1.0f), *C = host_random(nc * batch, 1.0f);
    float *d_C = dev(C, nc * batch);
    gemm_batched_gpu(d_C, dev(A, na * batch), la, dev(B, nb * batch), lb, M, N, K, scale, accumulate, batch, na, nb,
                     nc);
    for (int z = 0; z < batch; z++) {
        const float *a = A + z * na, *b = B + z * nb;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                float *c = &C[z * nc + (size_t)m * N + n];
                float acc = accumulate ? *c : 0.0f;
                for (int k = 0; k < K; k++)
                    acc += a[la == GEMM_TRANSPOSED ? (size_t)k * M + m : (size_t)m * K + k] *
                           b[lb == GEMM_TRANSPOSED ? (size_t)n * K + k : (size_t)k * N + n];
                *c = acc * scale;
            }
    }
    char what[96];
    snprintf(what, sizeof(what), "gemm/%dx%dx%d_%s%s_x%d%s", M, N, K, la == GEMM_TRANSPOSED ? "T" : "N",
             lb == GEMM_TRANSPOSED ? "T" : "N", batch, accumulate ? "_accumulate" : "");
#if defined(GPT2C_CUDA_EMULATOR) || defined(GPT2C_NO_FMAD)
    int exact = gpu_kernels() == GPU_KERNELS_READABLE;
#else
    int exact = 0; /* nvcc fuses a*b+c into one rounding */
#endif
    expect_close(what, d_C, C, nc * batch, exact);
}

static void test_elementwise(size_t N) {
    float *x = host_random(N, 4.0f), *y = host_random(N, 1.0f), *out = host_random(N, 1.0f);
    float *d_x = dev(x, N), *d_y = dev(y, N), *d_out = dev(out, N);
    gelu_forward(out, x, N);
    gelu_forward_gpu(d_out, d_x, N);
    expect_close("gelu_forward/out", d_out, out, N, 0);
    float *dinp = host_random(N, 1.0f), *d_dinp = dev(dinp, N);
    gelu_backward(dinp, x, y, N);
    gelu_backward_gpu(d_dinp, d_x, d_y, N);
    expect_close("gelu_backward/dinp", d_dinp, dinp, N, 0);

    float *sum = host_random(N, 1.0f), *d_sum = dev(sum, N);
    residual_forward(sum, x, y, N);
    residual_forward_gpu(d_sum, d_x, d_y, N);
    expect_close("residual_forward/out", d_sum, sum, N, 1);
    float *d1 = host_random(N, 1.0f), *d2 = host_random(N, 1.0f), *d_d1 = dev(d1, N), *d_d2 = dev(d2, N);
    residual_backward(d1, d2, y, N);
    residual_backward_gpu(d_d1, d_d2, d_y, N);
    expect_close("residual_backward/dinp1", d_d1, d1, N, 1);
    expect_close("residual_backward/dinp2", d_d2, d2, N, 1);
}

static void test_crossentropy(int B, int T, int V) {
    size_t BT = (size_t)B * T, n = BT * V;
    float *logits = host_random(n, 5.0f), *losses = host_random(BT, 1.0f);
    int *targets = host_tokens(BT, V);
    float *d_logits = dev(logits, n), *d_losses = dev(losses, BT);
    int *d_targets = dev_int(targets, BT);
    crossentropy_forward(losses, logits, targets, B, T, V);
    crossentropy_forward_gpu(d_losses, d_logits, d_targets, B, T, V);
    expect_close("crossentropy_forward/losses", d_losses, losses, BT, 0);
    float *d_again = dev(logits, n);
    crossentropy_backward(logits, targets, B, T, V); /* in place on both sides */
    crossentropy_backward_gpu(d_logits, d_targets, B, T, V);
    crossentropy_backward_gpu(d_again, d_targets, B, T, V);
    expect_close("crossentropy_backward/dlogits", d_logits, logits, n, 0);
    expect_same_bits("crossentropy_backward/dlogits", d_logits, d_again, n);
}

static void test_adamw(size_t n) {
    float *p = host_random(n, 1.0f), *g = host_random(n, 0.1f), *m = host_random(n, 0.01f), *v = host_random(n, 0.001f);
    for (size_t i = 0; i < n; i++) v[i] = fabsf(v[i]); /* a second moment is never negative */
    float *d_p = dev(p, n), *d_g = dev(g, n), *d_m = dev(m, n), *d_v = dev(v, n);
    for (int t = 1; t <= 3; t++) {
        adamw_update(p, g, m, v, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, t);
        adamw_update_gpu(d_p, d_g, d_m, d_v, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, t);
    }
    expect_close("adamw_update/params", d_p, p, n, 0);
    expect_close("adamw_update/m", d_m, m, n, 0);
    expect_close("adamw_update/v", d_v, v, n, 0);

    double want = 0.0;
    for (size_t i = 0; i < n; i++) want += (double)g[i] * g[i];
    double *ws = NULL;
    CUDA_CHECK(cudaMalloc(&ws, GRAD_NORM_BLOCKS * sizeof(double)));
    double got = sum_of_squares_gpu(d_g, n, ws), again = sum_of_squares_gpu(d_g, n, ws);
    CUDA_CHECK(cudaFree(ws));
    char name[160];
    snprintf(name, sizeof(name), "sum_of_squares/%s", case_name);
    CHECK(fabs(got - want) <= 1e-12 * want && got == again, name, "gpu %.17g (again %.17g), cpu %.17g", got, again, want);
    scale_gpu(d_g, 0.5f, n);
    for (size_t i = 0; i < n; i++) g[i] *= 0.5f;
    expect_close("scale/x", d_g, g, n, 1);
}

/* B, T, C, NH: small, odd C with NH = 3, T = 1, and T past one 64-row tile */
static const int SHAPES[][4] = {{2, 16, 32, 4}, {3, 5, 33, 3}, {1, 1, 24, 3}, {2, 67, 48, 2}, {1, 130, 64, 1}};
#define NUM_SHAPES (sizeof(SHAPES) / sizeof(SHAPES[0]))

static void name_case(int B, int T, int C, int NH) {
    snprintf(case_name, sizeof(case_name), "%s/B%d_T%d_C%d_NH%d", gpu_kernels_name(), B, T, C, NH);
}

/* Everything the kernel set changes: the products, and the ops made of them. */
static void test_products(void) {
    snprintf(case_name, sizeof(case_name), "%s", gpu_kernels_name());
    for (int t = 0; t < 4; t++) { /* every layout pair, at sizes that fill no tile evenly */
        GemmLayout la = t & 1 ? GEMM_TRANSPOSED : GEMM_AS_STORED, lb = t & 2 ? GEMM_TRANSPOSED : GEMM_AS_STORED;
        test_gemm(70, 33, 19, la, lb, 1.0f, 0, 1);
        test_gemm(5, 130, 67, la, lb, 1.0f, 1, 1);
        test_gemm(17, 9, 40, la, lb, 0.125f, 0, 3);
    }
    test_gemm(3, 4, 1, GEMM_AS_STORED, GEMM_TRANSPOSED, 1.0f, 1, 2); /* K = 1 */
    free_all();
    for (size_t s = 0; s < NUM_SHAPES; s++) {
        int B = SHAPES[s][0], T = SHAPES[s][1], C = SHAPES[s][2], NH = SHAPES[s][3];
        name_case(B, T, C, NH);
        test_matmul(B, T, C, 3 * C, 1);
        test_matmul(B, T, C, 4 * C + 1, 1); /* an odd number of outputs */
        test_matmul(B, T, 4 * C, C, 0);     /* no bias, like the logits */
        test_attention(B, T, C, NH);
        free_all();
    }
    snprintf(case_name, sizeof(case_name), "%s/B2_T3_V50257", gpu_kernels_name()); /* the real vocabulary */
    test_matmul(2, 3, 48, 50257, 0);
    free_all();
}

/* The ops that are the same kernels in both sets. */
static void test_other_ops(void) {
    for (size_t s = 0; s < NUM_SHAPES; s++) {
        int B = SHAPES[s][0], T = SHAPES[s][1], C = SHAPES[s][2], NH = SHAPES[s][3];
        snprintf(case_name, sizeof(case_name), "B%d_T%d_C%d_NH%d", B, T, C, NH);
        test_encoder(B, T, C, 7);
        test_layernorm(B, T, C);
        test_elementwise((size_t)B * T * 4 * C);
        test_crossentropy(B, T, 101);
        test_adamw((size_t)B * T * C + 7);
        free_all();
    }
    snprintf(case_name, sizeof(case_name), "B2_T3_V50257"); /* a row longer than any block */
    test_crossentropy(2, 3, 50257);
    free_all();
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "--gpu-present")) return gpu_available() ? 0 : 1;
    GpuOptions o;
    argc = gpu_options_take(&o, argc, argv, 0);
    if (argc > 1) die_usage("usage: test_kernels [--kernels fast|readable] [--tf32] | --gpu-present");
    if (!gpu_available()) {
        check_skip("test_kernels", "no GPU");
        return 0;
    }
    test_other_ops();
    if (o.kernels_given || o.tf32) {
        rel_tol = o.tf32 ? TF32_REL_TOL : REL_TOL;
        test_products(); /* the set gpu_options_take selected */
    } else {
        const struct { GpuKernels set; int tf32; } sets[] = {
            {GPU_KERNELS_READABLE, 0}, {GPU_KERNELS_FAST, 0}, {GPU_KERNELS_FAST, 1}};
        for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
            gpu_select_kernels(sets[i].set, sets[i].tf32);
            rel_tol = sets[i].tf32 ? TF32_REL_TOL : REL_TOL;
            test_products();
        }
    }
    return check_failures ? 1 : 0;
}
