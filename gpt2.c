/*
 * gpt2.c: GPT-2 forward and backward passes, AdamW, and checkpoints.
 *
 * Every layer is a pair of functions, forward then backward, over flat float
 * arrays. notes.md derives each backward pass; the comments here give the
 * formula and the reason for the loop layout.
 *
 * Gradient conventions (they let the backward pass reuse one layer of scratch):
 *   - parameter gradients (dweight, dbias, dwte, ...) always ACCUMULATE (+=),
 *     so gradient accumulation over micro-batches is just "don't zero";
 *   - the residual stream gradient accumulates (+=): every layer adds to it;
 *   - every other activation gradient is WRITTEN (=): in GPT-2 each of those
 *     activations feeds exactly one op, so one op alone defines its gradient.
 *
 * OpenMP: loops are split over an index whose outputs no other thread writes
 * (positions for activations, output channels for weights), so there are no
 * atomics and results do not depend on the number of threads.
 */
#include "gpt2.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

const char *const PARAM_TENSOR_NAMES[NUM_PARAM_TENSORS] = {
    "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"};

/* ------------------------------------------------------------------------ */
/* helpers for loops the compiler can vectorise                              */

/* a*b + c. Compiled as ISO C, gcc and clang never fuse a multiply and an add
 * on their own (that would change results), so the hot loops ask for the
 * fused multiply-add explicitly where the hardware has one: one instruction
 * instead of two, and one rounding instead of two. */
#ifdef FP_FAST_FMAF
#define MULADD(a, b, c) fmaf(a, b, c)
#else
#define MULADD(a, b, c) ((a) * (b) + (c))
#endif

/* A running sum s += x[i] is a chain of dependent adds that the compiler may
 * not reorder (that would change the result), so it stays scalar. Sums here
 * keep LANES partial sums instead, lane j taking every LANES-th term: the
 * lanes vectorise, and are added in a fixed order at the end, so the result
 * is still the same on every run. */
#define LANES 16

/* sum_i x[i] * y[i] over n floats */
static float dot(const float *restrict x, const float *restrict y, int n) {
    float lanes[LANES] = {0.0f};
    int i = 0;
    for (; i + LANES <= n; i += LANES) {
#pragma omp simd
        for (int j = 0; j < LANES; j++) lanes[j] = MULADD(x[i + j], y[i + j], lanes[j]);
    }
    float sum = 0.0f;
    for (; i < n; i++) sum += x[i] * y[i];
    for (int j = 0; j < LANES; j++) sum += lanes[j];
    return sum;
}

/* e^x, for loops that must vectorise (glibc's expf is a call the compiler
 * cannot vectorise without -ffast-math). x = n ln2 + r with n an integer and
 * |r| <= ln2/2; then e^x = 2^n e^r, e^r from its Taylor series to degree 7,
 * and 2^n is the float whose exponent field is n + 127. Measured against
 * double exp over [-87, 88]: at most 8e-8 relative error (under 1 ulp).
 *  - n: adding 1.5 * 2^23 rounds x/ln2 to an integer (a float that large has
 *    no fraction bits) and leaves that integer in the low mantissa bits;
 *  - ln2 is split into a high part with few mantissa bits, so n * LN2_HI is
 *    exact, and a small correction (Cody and Waite's reduction);
 *  - x is first clamped to [-87, 88], where 2^n stays a normal float: e^-87
 *    is 1.6e-38, a stand-in for 0 in every use here. The clamp is a blend
 *    with 0/1 weights rather than a comparison select, which gcc does not
 *    vectorise; NaN stays NaN (and so do +-inf, which become NaN). */
static inline float exp_vec(float x) {
    const float LOG2E = 1.44269504f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    const float ROUND = 12582912.0f; /* 1.5 * 2^23 */
    float below = (float)(x < -87.0f), above = (float)(x > 88.0f);
    x = below * -87.0f + above * 88.0f + (1.0f - below - above) * x;
    union {
        float f;
        uint32_t u;
    } rounded = {.f = x * LOG2E + ROUND};
    float n = rounded.f - ROUND;
    float r = (x - n * LN2_HI) - n * LN2_LO;
    float p = 1.0f / 5040.0f;
    p = MULADD(p, r, 1.0f / 720.0f);
    p = MULADD(p, r, 1.0f / 120.0f);
    p = MULADD(p, r, 1.0f / 24.0f);
    p = MULADD(p, r, 1.0f / 6.0f);
    p = MULADD(p, r, 0.5f);
    p = MULADD(p, r, 1.0f);
    p = MULADD(p, r, 1.0f);
    /* the low bits of `rounded` are n + 0x400000 above the exponent 0x4B0 */
    union {
        uint32_t u;
        float f;
    } pow2n = {.u = (rounded.u - 0x4B400000u + 127u) << 23};
    return p * pow2n.f;
}

/* ------------------------------------------------------------------------ */
/* encoder: token embedding plus position embedding                          */

/* out (B,T,C) = wte[inp[b,t]] + wpe[t];  inp (B,T), wte (Vp,C), wpe (maxT,C) */
void encoder_forward(float *out, const int *inp, const float *wte, const float *wpe, int B, int T, int C) {
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;
            const float *tok = wte + (size_t)inp[(size_t)b * T + t] * C;
            const float *pos = wpe + (size_t)t * C;
            for (int i = 0; i < C; i++) o[i] = tok[i] + pos[i];
        }
    }
}

/* The embedding is a lookup, so its gradient is a scatter-add: each position
 * adds dout to the wte row of its token and to the wpe row of its time step.
 * Two positions may share a token, so this loop stays serial (a parallel
 * version would need atomics or a sort by token). */
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp, int B, int T, int C) {
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const float *d = dout + ((size_t)b * T + t) * C;
            float *dtok = dwte + (size_t)inp[(size_t)b * T + t] * C;
            float *dpos = dwpe + (size_t)t * C;
            for (int i = 0; i < C; i++) {
                dtok[i] += d[i];
                dpos[i] += d[i];
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* layernorm                                                                 */

/* Per position: xhat = (x - mean) * rstd, rstd = 1/sqrt(var + 1e-5) with the
 * biased variance; out = xhat * weight + bias. Mean and rstd (B,T) are saved
 * because the backward pass needs them. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int B, int T, int C) {
    const float eps = 1e-5f;
#pragma omp parallel for
    for (size_t bt = 0; bt < (size_t)B * T; bt++) {
        const float *x = inp + bt * C;
        /* the two sums in LANES partial sums each (see dot) */
        float lanes[LANES] = {0.0f}, m = 0.0f, var = 0.0f;
        int tail = C - C % LANES;
        for (int i = 0; i < tail; i += LANES)
            for (int j = 0; j < LANES; j++) lanes[j] += x[i + j];
        for (int i = tail; i < C; i++) m += x[i];
        for (int j = 0; j < LANES; j++) m += lanes[j], lanes[j] = 0.0f;
        m /= C;
        for (int i = 0; i < tail; i += LANES)
            for (int j = 0; j < LANES; j++) lanes[j] += (x[i + j] - m) * (x[i + j] - m);
        for (int i = tail; i < C; i++) var += (x[i] - m) * (x[i] - m);
        for (int j = 0; j < LANES; j++) var += lanes[j];
        var /= C;
        float s = 1.0f / sqrtf(var + eps);
        float *o = out + bt * C;
        for (int i = 0; i < C; i++) o[i] = (x[i] - m) * s * weight[i] + bias[i];
        mean[bt] = m;
        rstd[bt] = s;
    }
}

/* With g = dout * weight (the gradient reaching xhat):
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))       (notes.md derives it)
 *   dweight += sum over positions of dout * xhat,  dbias += sum of dout.
 * dinp ACCUMULATES: the input of a layernorm is the residual stream.
 * The two parameter sums run over positions, so they get their own loop:
 * threads split the channels into blocks, and each walks the positions in
 * order with the channels of its block as the vector dimension. The input
 * gradient is split over positions. */
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int B, int T, int C) {
    size_t BT = (size_t)B * T;
#pragma omp parallel for
    for (size_t bt = 0; bt < BT; bt++) {
        const float *x = inp + bt * C, *d = dout + bt * C;
        float m = mean[bt], s = rstd[bt];
        float g_lanes[LANES] = {0.0f}, gx_lanes[LANES] = {0.0f}, g_mean = 0.0f, gx_mean = 0.0f;
        int tail = C - C % LANES;
        for (int i = 0; i < tail; i += LANES) {
            for (int j = 0; j < LANES; j++) {
                float g = d[i + j] * weight[i + j];
                g_lanes[j] += g;
                gx_lanes[j] += g * (x[i + j] - m) * s;
            }
        }
        for (int i = tail; i < C; i++) {
            float g = d[i] * weight[i];
            g_mean += g;
            gx_mean += g * (x[i] - m) * s;
        }
        for (int j = 0; j < LANES; j++) g_mean += g_lanes[j], gx_mean += gx_lanes[j];
        g_mean /= C;
        gx_mean /= C;
        float *dx = dinp + bt * C;
        for (int i = 0; i < C; i++) {
            float xhat = (x[i] - m) * s;
            dx[i] += s * (d[i] * weight[i] - g_mean - xhat * gx_mean);
        }
    }
    enum { BLOCK = 64 };
#pragma omp parallel for schedule(static)
    for (int i0 = 0; i0 < C; i0 += BLOCK) {
        int n = C - i0 < BLOCK ? C - i0 : BLOCK;
        float dw[BLOCK] = {0.0f}, db[BLOCK] = {0.0f};
        for (size_t bt = 0; bt < BT; bt++) {
            const float *d = dout + bt * C + i0, *x = inp + bt * C + i0;
            float m = mean[bt], s = rstd[bt];
            for (int i = 0; i < n; i++) {
                dw[i] += d[i] * (x[i] - m) * s;
                db[i] += d[i];
            }
        }
        for (int i = 0; i < n; i++) {
            dweight[i0 + i] += dw[i];
            dbias[i0 + i] += db[i];
        }
    }
}

/* ------------------------------------------------------------------------ */
/* matmul: a linear layer, out = inp @ weight^T + bias                       */

/*
 * The three products of a linear layer,
 *   forward   out (BT,OC)  = inp (BT,C) @ weight^T (C,OC) + bias
 *   backward  dinp (BT,C)  = dout (BT,OC) @ weight (OC,C)
 *             dweight (OC,C) += dout^T (OC,BT) @ inp (BT,C)
 * are each the plain triple loop
 *   for i < M: for j < N: c[i][j] (+)= sum_k a[i][k] * b[k][j]
 * over matrices read with different strides. They are nearly all of the
 * time of a training step, and the plain loop runs at a few percent of the
 * machine's peak: every multiply-add loads its operands from memory. gemm()
 * computes the same sums reorganised for the memory hierarchy (notes.md,
 * "Performance on the CPU"):
 *   - a register tile: GEMM_MR x GEMM_NR outputs are summed in local
 *     accumulators that the compiler keeps in vector registers, so each
 *     loaded a[i][k] serves NR multiply-adds and each b[k][j] serves MR;
 *   - packing: a (KC x NC) block of b and an (MC x KC) block of a are first
 *     copied into contiguous panels in the order the tile reads them, which
 *     also turns every transposed or strided operand into the same layout;
 *   - cache blocking: the packed blocks are sized to stay in L1/L2 while
 *     they are reused.
 * Threads split the output into (MC x NC) blocks, so no two threads write the
 * same element. Every element sums k in the same order whatever the blocks and
 * the number of threads: in chunks of KC, each chunk from zero in k order,
 * added to the output chunk after chunk. Results are therefore deterministic
 * and independent of the thread count.
 */
#define GEMM_MR 8   /* rows of a register tile */
#define GEMM_NR 32  /* columns: two AVX-512 vectors (four AVX2 ones) */
#define GEMM_KC 256 /* the k-chunk: a packed b panel of KC x NR floats is 32 KiB, L1-sized */
#define GEMM_MC 256 /* the largest block of rows ... */
#define GEMM_NC 256 /* ... and of columns given to one thread */

/* A matrix read through strides: element (i, j) is p[i*rs + j*cs]. */
typedef struct {
    const float *p;
    size_t rs, cs;
} MatView;

/* One panel of a packed block: dst[k*W + x] = src(x, k) for x < w and
 * k < kc, where src(x, k) is p[x*xs + k*ks]; entries w <= x < W are zero, so
 * edge tiles need no special case in the kernel. The loop order follows the
 * source: a copy of contiguous rows when xs == 1, else a transpose that reads
 * along k. Inlined with W a constant, the full-width copy is vector moves. */
static inline void pack_panel(float *restrict dst, int W, const float *restrict p, size_t xs, size_t ks, int w,
                              int kc) {
    if (xs == 1 && w == W) {
        for (int k = 0; k < kc; k++)
            for (int x = 0; x < W; x++) dst[k * W + x] = p[(size_t)k * ks + x];
        return;
    }
    for (int x = 0; x < w; x++)
        for (int k = 0; k < kc; k++) dst[k * W + x] = p[x * xs + (size_t)k * ks];
    for (int k = 0; k < kc; k++)
        for (int x = w; x < W; x++) dst[k * W + x] = 0.0f;
}

/* Copy a (rows x kc) block of `a` at (i0, k0) into panels of GEMM_MR rows:
 * panel q holds, for each k, the MR values a[i0+q*MR+r][k0+k] side by side. */
static void pack_a(float *restrict dst, MatView a, int i0, int rows, int k0, int kc) {
    for (int q = 0; q < rows; q += GEMM_MR) {
        int mr = rows - q < GEMM_MR ? rows - q : GEMM_MR;
        pack_panel(dst + (size_t)q * kc, GEMM_MR, a.p + (size_t)(i0 + q) * a.rs + (size_t)k0 * a.cs, a.rs, a.cs,
                   mr, kc);
    }
}

/* The same for a (kc x cols) block of `b` at (k0, j0), in panels of GEMM_NR
 * columns: for each k, the NR values b[k0+k][j0+q*NR+j] side by side. */
static void pack_b(float *restrict dst, MatView b, int k0, int kc, int j0, int cols) {
    for (int q = 0; q < cols; q += GEMM_NR) {
        int nr = cols - q < GEMM_NR ? cols - q : GEMM_NR;
        pack_panel(dst + (size_t)q * kc, GEMM_NR, b.p + (size_t)k0 * b.rs + (size_t)(j0 + q) * b.cs, b.cs, b.rs,
                   nr, kc);
    }
}

/* gcc finds that j is the loop to vectorise; clang, left alone, unrolls r and
 * j fully and vectorises k with gathers (50x slower), so it is told. */
#ifdef __clang__
#define TILE_K_LOOP _Pragma("clang loop vectorize(disable) interleave(disable)")
#define TILE_R_LOOP _Pragma("clang loop unroll(full)")
#else
#define TILE_K_LOOP
#define TILE_R_LOOP
#endif

/* The register tile: acc[r][j] = sum over k < kc of a[r][k] * b[k][j] from
 * packed panels. MR and NR are constants, so the compiler unrolls r, turns
 * the j loop into vector multiply-adds and keeps all of acc in registers.
 * Then c (mr x nr valid entries, row stride ldc) is updated: with `init`,
 * c = init[j] + acc (init NULL: zero), otherwise c += acc. */
static void gemm_tile(int kc, const float *restrict a, const float *restrict b, float *restrict c, size_t ldc,
                      int mr, int nr, int overwrite, const float *init) {
    float acc[GEMM_MR][GEMM_NR] = {{0.0f}};
    TILE_K_LOOP
    for (int k = 0; k < kc; k++) {
        TILE_R_LOOP
        for (int r = 0; r < GEMM_MR; r++) {
            float ar = a[k * GEMM_MR + r];
#pragma omp simd
            for (int j = 0; j < GEMM_NR; j++) acc[r][j] = MULADD(ar, b[k * GEMM_NR + j], acc[r][j]);
        }
    }
    for (int r = 0; r < mr; r++) {
        float *cr = c + (size_t)r * ldc;
        if (overwrite) {
            for (int j = 0; j < nr; j++) cr[j] = (init ? init[j] : 0.0f) + acc[r][j];
        } else {
            for (int j = 0; j < nr; j++) cr[j] += acc[r][j];
        }
    }
}

/* One (mc x nc) block of c at (i0, j0), the whole sum over k. apack and
 * bpack are this thread's panel buffers. */
static void gemm_block(int K, MatView a, MatView b, float *c, size_t ldc, int accumulate, const float *bias, int i0,
                       int mc, int j0, int nc, float *apack, float *bpack) {
    for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
        int kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
        int overwrite = k0 == 0 && !accumulate;
        pack_b(bpack, b, k0, kc, j0, nc);
        pack_a(apack, a, i0, mc, k0, kc);
        for (int jp = 0; jp < nc; jp += GEMM_NR) {
            int nr = nc - jp < GEMM_NR ? nc - jp : GEMM_NR;
            for (int ip = 0; ip < mc; ip += GEMM_MR) {
                int mr = mc - ip < GEMM_MR ? mc - ip : GEMM_MR;
                gemm_tile(kc, apack + (size_t)ip * kc, bpack + (size_t)jp * kc,
                          c + (size_t)(i0 + ip) * ldc + j0 + jp, ldc, mr, nr, overwrite,
                          bias ? bias + j0 + jp : NULL);
            }
        }
    }
}

static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int round_up(int x, int m) {
    return (x + m - 1) / m * m;
}

/* c (M,N) with row stride ldc:  c = bias + a @ b  (bias (N) or NULL), or with
 * `accumulate`, c += a @ b. a is (M,K), b is (K,N). */
static void gemm(int M, int N, int K, MatView a, MatView b, float *c, size_t ldc, int accumulate, const float *bias) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* an empty sum */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                if (!accumulate) c[(size_t)i * ldc + j] = bias ? bias[j] : 0.0f;
        return;
    }
    /* Blocks as large as allowed, then halved until every thread has several
     * to do (so an uneven split costs little). The block sizes do not change
     * any sum, only who computes it. */
    int threads = max_threads();
    int mc = round_up(M < GEMM_MC ? M : GEMM_MC, GEMM_MR);
    int nc = round_up(N < GEMM_NC ? N : GEMM_NC, GEMM_NR);
    while (((M + mc - 1) / mc) * ((N + nc - 1) / nc) < 4 * threads && (mc > 2 * GEMM_MR || nc > 2 * GEMM_NR)) {
        if (mc >= nc && mc > 2 * GEMM_MR) mc = round_up(mc / 2, GEMM_MR);
        else if (nc > 2 * GEMM_NR) nc = round_up(nc / 2, GEMM_NR);
        else mc = round_up(mc / 2, GEMM_MR);
    }
    int mblocks = (M + mc - 1) / mc, nblocks = (N + nc - 1) / nc;
    int kc = K < GEMM_KC ? K : GEMM_KC;
    size_t apack_size = (size_t)mc * kc, bpack_size = (size_t)nc * kc;
    float *packs = xmalloc((apack_size + bpack_size) * threads * sizeof(float), "matmul panels");
#pragma omp parallel
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *apack = packs + (apack_size + bpack_size) * tid, *bpack = apack + apack_size;
        /* blocks are handed out as threads become free (which block a thread
         * gets changes no result). Row blocks vary fastest: with B*T <= MC
         * there is one row block, and each block of b (the weights, in the
         * forward pass) is packed and read from memory once. */
#pragma omp for schedule(dynamic)
        for (int blk = 0; blk < mblocks * nblocks; blk++) {
            int i0 = (blk % mblocks) * mc, j0 = (blk / mblocks) * nc;
            gemm_block(K, a, b, c, ldc, accumulate, bias, i0, M - i0 < mc ? M - i0 : mc, j0,
                       N - j0 < nc ? N - j0 : nc, apack, bpack);
        }
    }
    free(packs);
}

/* Below this many positions the forward pass is a matrix-vector product (a
 * token at a time in generation): each weight is used BT times only, so it is
 * memory-bound and packing would only add traffic. */
#define MATVEC_MAX_ROWS 4

/* out (B,T,OC), inp (B,T,C), weight (OC,C) stored (out, in), bias (OC) or NULL.
 * The plain loop (test_ops.c checks the fast paths against it):
 *   for bt: for oc: out[bt][oc] = bias[oc] + sum_i inp[bt][i] * weight[oc][i]
 * With few positions the output channels are split across threads, each
 * weight row is streamed once and dotted with every position; otherwise it is
 * gemm with b[i][oc] = weight[oc][i]. */
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int B, int T, int C,
                    int OC) {
    int BT = B * T;
    if (BT <= MATVEC_MAX_ROWS) {
#pragma omp parallel for schedule(static)
        for (int oc = 0; oc < OC; oc++) {
            const float *w = weight + (size_t)oc * C;
            for (int bt = 0; bt < BT; bt++)
                out[(size_t)bt * OC + oc] = (bias ? bias[oc] : 0.0f) + dot(inp + (size_t)bt * C, w, C);
        }
        return;
    }
    MatView a = {inp, (size_t)C, 1}, b = {weight, 1, (size_t)C};
    gemm(BT, OC, C, a, b, out, (size_t)OC, 0, bias);
}

/* dinp (B,T,C)  = dout @ weight            (WRITTEN: each input feeds one matmul)
 * dweight (OC,C) += dout^T @ inp,  dbias (OC) += sum over positions of dout.
 * Plain loops: dinp[bt][i] = sum_oc dout[bt][oc] * weight[oc][i];
 *              dweight[oc][i] += sum_bt dout[bt][oc] * inp[bt][i]. */
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int B, int T, int C, int OC) {
    int BT = B * T;
    MatView d = {dout, (size_t)OC, 1}, w = {weight, (size_t)C, 1};
    gemm(BT, C, OC, d, w, dinp, (size_t)C, 0, NULL);
    MatView dT = {dout, 1, (size_t)OC}, x = {inp, (size_t)C, 1};
    gemm(OC, C, BT, dT, x, dweight, (size_t)C, 1, NULL);
    if (dbias) {
        /* each thread owns a range of channels and sums positions in order */
#pragma omp parallel for schedule(static)
        for (int o0 = 0; o0 < OC; o0 += 256) {
            int o1 = OC - o0 < 256 ? OC : o0 + 256;
            for (int bt = 0; bt < BT; bt++) {
                const float *g = dout + (size_t)bt * OC;
#pragma omp simd
                for (int oc = o0; oc < o1; oc++) dbias[oc] += g[oc];
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* attention: causal multi-head self-attention                              */

/* One query attending over n keys (positions 0..n-1) of one head:
 *   score[t2] = q . k[t2] / sqrt(hs),  att = softmax(score),  out = sum_t2 att[t2] v[t2]
 * k and v point at position 0 of this head; consecutive positions are
 * kv_stride floats apart. Shared by the full forward pass (keys inside the
 * (B,T,3C) qkv activation) and the KV-cache step (keys inside the cache). */
static void attend_one_query(float *out, float *att, const float *q, const float *k, const float *v,
                             size_t kv_stride, int n, int hs) {
    float scale = 1.0f / sqrtf((float)hs);
    float maxv = -INFINITY;
    for (int t2 = 0; t2 < n; t2++) {
        att[t2] = dot(q, k + (size_t)t2 * kv_stride, hs) * scale;
        if (att[t2] > maxv) maxv = att[t2];
    }
    /* subtracting the max keeps e^x from overflowing; softmax is unchanged */
    for (int t2 = 0; t2 < n; t2++) att[t2] = exp_vec(att[t2] - maxv);
    float sum = 0.0f;
    for (int t2 = 0; t2 < n; t2++) sum += att[t2];
    float inv = 1.0f / sum;
    for (int t2 = 0; t2 < n; t2++) att[t2] *= inv;
    for (int i = 0; i < hs; i++) out[i] = 0.0f;
    for (int t2 = 0; t2 < n; t2++) {
        const float *vt = v + (size_t)t2 * kv_stride;
        for (int i = 0; i < hs; i++) out[i] += att[t2] * vt[i];
    }
}

/* qkv (B,T,3C) holds [q | k | v] per position; head h uses channels
 * h*hs .. h*hs+hs-1 of each part. Query position t of head h attends over
 * positions 0..t (causal). att (B,NH,T,T) keeps the probabilities for the
 * backward pass (zero above the diagonal); out (B,T,C), heads concatenated. */
void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    int hs = C / NH;
    size_t C3 = (size_t)3 * C;
#pragma omp parallel for collapse(3)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {
                const float *seq = qkv + (size_t)b * T * C3 + (size_t)h * hs; /* position 0, head h */
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                attend_one_query(out + ((size_t)b * T + t) * C + (size_t)h * hs, a, seq + t * C3, seq + C,
                                 seq + 2 * (size_t)C, C3, t + 1, hs);
                for (int t2 = t + 1; t2 < T; t2++) a[t2] = 0.0f;
            }
        }
    }
}

/* Backward, per (b, h), query position t, key position t2 <= t:
 *   datt[t2]   = dout[t] . v[t2]                  dv[t2] += att[t2] * dout[t]
 *   dscore[t2] = att[t2] * (datt[t2] - sum_j att[j] * datt[j])    (softmax backward)
 *   dq[t]     += dscore[t2] * k[t2] / sqrt(hs)     dk[t2] += dscore[t2] * q[t] / sqrt(hs)
 * Keys and values of position t2 collect from every later query, so threads
 * split over (b, h) pairs, which own disjoint slices of dqkv. dqkv is WRITTEN. */
void attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att, int B,
                        int T, int C, int NH) {
    int hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
    size_t C3 = (size_t)3 * C;
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++)
                for (int part = 0; part < 3; part++)
                    memset(dqkv + ((size_t)b * T + t) * C3 + (size_t)part * C + (size_t)h * hs, 0,
                           (size_t)hs * sizeof(float));
            for (int t = 0; t < T; t++) {
                const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float *da = datt + (((size_t)b * NH + h) * T + t) * T;
                const float *d = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
                const float *q = qkv + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                float *dq = dqkv + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                float att_datt = 0.0f; /* sum_j att[j] * datt[j] */
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *v = qkv + ((size_t)b * T + t2) * C3 + 2 * (size_t)C + (size_t)h * hs;
                    float *dv = dqkv + ((size_t)b * T + t2) * C3 + 2 * (size_t)C + (size_t)h * hs;
                    float s = dot(d, v, hs);
                    for (int i = 0; i < hs; i++) dv[i] += a[t2] * d[i];
                    da[t2] = s;
                    att_datt += a[t2] * s;
                }
                for (int t2 = t + 1; t2 < T; t2++) da[t2] = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = qkv + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    float *dk = dqkv + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    float ds = a[t2] * (da[t2] - att_datt) * scale;
                    for (int i = 0; i < hs; i++) {
                        dq[i] += ds * k[i];
                        dk[i] += ds * q[i];
                    }
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* GELU, tanh approximation                                                  */

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

/* tanh u = 1 - 2 / (e^{2u} + 1), through exp_vec so the GELU loops vectorise
 * (near u = 0 the subtraction loses relative precision in tanh, but GELU
 * only uses 1 + tanh and 1 - tanh^2, whose absolute error stays ~1e-7) */
static inline float tanh_vec(float u) {
    return 1.0f - 2.0f / (exp_vec(2.0f * u) + 1.0f);
}

/* out = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3) */
void gelu_forward(float *out, const float *inp, size_t N) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        out[i] = 0.5f * x * (1.0f + tanh_vec(u));
    }
}

/* d out/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2).
 * dinp is WRITTEN. */
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t N) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        float th = tanh_vec(u);
        float du = GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] = dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
    }
}

/* ------------------------------------------------------------------------ */
/* residual connection                                                       */

void residual_forward(float *out, const float *inp1, const float *inp2, size_t N) {
#pragma omp parallel for
    for (size_t i = 0; i < N; i++) out[i] = inp1[i] + inp2[i];
}

/* A sum passes its gradient unchanged to both inputs. gpt2_backward does not
 * call this: it lets both branches read the one dresidual buffer in place,
 * which is the same thing without the copies. Kept as the op's definition
 * and for the GPU comparison. */
void residual_backward(float *dinp1, float *dinp2, const float *dout, size_t N) {
#pragma omp parallel for
    for (size_t i = 0; i < N; i++) {
        dinp1[i] += dout[i];
        dinp2[i] += dout[i];
    }
}

/* ------------------------------------------------------------------------ */
/* softmax + cross-entropy over the first V logits                          */

/* max_i l[i] over n > 0 floats, in LANES running maxima (see dot) */
static float max_lanes(const float *l, int n) {
    float lanes[LANES];
    for (int j = 0; j < LANES; j++) lanes[j] = l[0];
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) lanes[j] = l[i + j] > lanes[j] ? l[i + j] : lanes[j];
    float m = l[0];
    for (; i < n; i++) m = l[i] > m ? l[i] : m;
    for (int j = 0; j < LANES; j++) m = lanes[j] > m ? lanes[j] : m;
    return m;
}

/* Softmax numerators of one row, e^(l[i] - max), written to `e` (which may be
 * `l` itself); returns their sum, kept in double: over 50257 terms float
 * rounding would show in the 6th digit of the loss. Subtracting the max keeps
 * e^x from overflowing and leaves the softmax unchanged. */
static double softmax_numerators(float *e, const float *l, int n, float maxv) {
    double lanes[LANES] = {0.0};
    int i = 0;
    for (; i + LANES <= n; i += LANES) {
        for (int j = 0; j < LANES; j++) {
            e[i + j] = exp_vec(l[i + j] - maxv);
            lanes[j] += e[i + j];
        }
    }
    double sum = 0.0;
    for (; i < n; i++) {
        e[i] = exp_vec(l[i] - maxv);
        sum += e[i];
    }
    for (int j = 0; j < LANES; j++) sum += lanes[j];
    return sum;
}

/* losses (B,T): -log softmax(logits)[target] = logsumexp(logits) - logits[target].
 * logits (B,T,V). The numerators go to a per-thread row buffer, as the logits
 * must survive for the backward pass. */
void crossentropy_forward(float *losses, const float *logits, const int *targets, int B, int T, int V) {
#pragma omp parallel
    {
        float *row = xmalloc((size_t)V * sizeof(float), "softmax row");
#pragma omp for schedule(static)
        for (size_t bt = 0; bt < (size_t)B * T; bt++) {
            const float *l = logits + bt * V;
            float maxv = max_lanes(l, V);
            double sum = softmax_numerators(row, l, V, maxv);
            losses[bt] = (float)(log(sum) + maxv - l[targets[bt]]);
        }
        free(row);
    }
}

/* For the mean loss over B*T positions:
 *   dlogits[i] = (softmax(logits)[i] - [i == target]) / (B*T).
 * IN PLACE: on entry dlogits holds the logits, on exit their gradient. The
 * (B,T,V) logits are the largest activation, so not keeping a second copy
 * matters for memory. */
void crossentropy_backward(float *dlogits, const int *targets, int B, int T, int V) {
    float dloss = 1.0f / ((float)B * (float)T);
#pragma omp parallel for schedule(static)
    for (size_t bt = 0; bt < (size_t)B * T; bt++) {
        float *l = dlogits + bt * V;
        float maxv = max_lanes(l, V);
        double sum = softmax_numerators(l, l, V, maxv);
        float scale = (float)(1.0 / sum) * dloss;
#pragma omp simd
        for (int i = 0; i < V; i++) l[i] *= scale;
        l[targets[bt]] -= dloss;
    }
}

/* ------------------------------------------------------------------------ */
/* the model: memory layout                                                  */

/* a * b, or 0 if the product does not fit in a size_t (0 is never a valid size here) */
static size_t mul_or_zero(size_t a, size_t b) {
    return (a != 0 && b > SIZE_MAX / a) ? 0 : a * b;
}

size_t gpt2_param_sizes(const GPT2Config *c, size_t s[NUM_PARAM_TENSORS]) {
    size_t C = (size_t)c->C, L = (size_t)c->L;
    size_t CC = mul_or_zero(C, C);
    s[0] = mul_or_zero((size_t)c->Vp, C);         /* wte */
    s[1] = mul_or_zero((size_t)c->maxT, C);       /* wpe */
    s[2] = s[3] = mul_or_zero(L, C);              /* ln1w, ln1b */
    s[4] = mul_or_zero(L, mul_or_zero(3, CC));    /* qkvw */
    s[5] = mul_or_zero(L, 3 * C);                 /* qkvb */
    s[6] = mul_or_zero(L, CC);                    /* attprojw */
    s[7] = s[8] = s[9] = mul_or_zero(L, C);       /* attprojb, ln2w, ln2b */
    s[10] = mul_or_zero(L, mul_or_zero(4, CC));   /* fcw */
    s[11] = mul_or_zero(L, 4 * C);                /* fcb */
    s[12] = s[10];                                /* fcprojw */
    s[13] = mul_or_zero(L, C);                    /* fcprojb */
    s[14] = s[15] = C;                            /* lnfw, lnfb */
    size_t total = 0;
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        if (s[i] == 0 || total > SIZE_MAX - s[i]) return 0;
        total += s[i];
    }
    /* the byte count (x4) must fit too */
    return total > SIZE_MAX / sizeof(float) ? 0 : total;
}

void gpt2_point_params(ParameterTensors *t, float *memory, const size_t sizes[NUM_PARAM_TENSORS]) {
    float **ptrs[NUM_PARAM_TENSORS] = {&t->wte,  &t->wpe,      &t->ln1w,     &t->ln1b,   &t->qkvw,    &t->qkvb,
                                       &t->attprojw, &t->attprojb, &t->ln2w,  &t->ln2b,   &t->fcw,     &t->fcb,
                                       &t->fcprojw, &t->fcprojb, &t->lnfw,    &t->lnfb};
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        *ptrs[i] = memory;
        memory += sizes[i];
    }
}

void gpt2_validate_config(const GPT2Config *c, const char *path) {
    if (c->maxT <= 0 || c->V <= 0 || c->Vp <= 0 || c->L <= 0 || c->NH <= 0 || c->C <= 0)
        die("%s: bad config: maxT=%d V=%d Vp=%d L=%d NH=%d C=%d (all must be positive)", path, c->maxT, c->V,
            c->Vp, c->L, c->NH, c->C);
    if (c->C % c->NH != 0) die("%s: bad config: C=%d is not divisible by NH=%d", path, c->C, c->NH);
    if (c->Vp < c->V) die("%s: bad config: padded vocabulary Vp=%d is smaller than V=%d", path, c->Vp, c->V);
}

void gpt2_init_empty(GPT2 *model, const GPT2Config *config) {
    memset(model, 0, sizeof(*model));
    model->config = *config;
    model->num_parameters = gpt2_param_sizes(config, model->param_sizes);
    if (model->num_parameters == 0) die("config too large: the parameter count overflows");
    model->params_memory = xcalloc(model->num_parameters, sizeof(float), "parameters");
    gpt2_point_params(&model->params, model->params_memory, model->param_sizes);
    model->mean_loss = -1.0f;
}

/* GPT-2's initialisation: weights N(0, 0.02), the two projections that write
 * into the residual stream (attprojw, fcprojw) N(0, 0.02/sqrt(2L)) so the
 * stream's variance does not grow with depth, biases 0, layernorm scales 1
 * and shifts 0; the padded wte rows stay 0. */
void gpt2_init_random(GPT2 *m, const GPT2Config *c, uint64_t seed) {
    gpt2_init_empty(m, c);
    Rng r;
    rng_seed(&r, seed);
    ParameterTensors p = m->params;
    float resid_std = 0.02f / sqrtf(2.0f * (float)c->L);
    struct { float *t; size_t n; float std; } normal[] = {
        {p.wte, (size_t)c->V * c->C, 0.02f},       {p.wpe, m->param_sizes[1], 0.02f},
        {p.qkvw, m->param_sizes[4], 0.02f},        {p.attprojw, m->param_sizes[6], resid_std},
        {p.fcw, m->param_sizes[10], 0.02f},        {p.fcprojw, m->param_sizes[12], resid_std},
    };
    for (size_t k = 0; k < sizeof normal / sizeof normal[0]; k++)
        for (size_t i = 0; i < normal[k].n; i++) normal[k].t[i] = normal[k].std * rng_normal(&r);
    float *ones[] = {p.ln1w, p.ln2w, p.lnfw};
    size_t nones[] = {m->param_sizes[2], m->param_sizes[8], m->param_sizes[14]};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < nones[k]; i++) ones[k][i] = 1.0f;
}

/* ------------------------------------------------------------------------ */
/* checkpoints                                                               */

/* bfloat16 is the top 16 bits of a float32, so widening is a shift. */
static float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

void gpt2_load(GPT2 *model, const char *path) {
    FILE *f = xfopen(path, "rb");
    size_t fsize = file_size(f, path);
    int32_t h[HEADER_INTS];
    read_header(f, path, h);
    if (h[0] != CHECKPOINT_MAGIC) die("%s: not a GPT-2 checkpoint (magic %d, expected %d)", path, h[0], CHECKPOINT_MAGIC);
    if (h[1] != 3 && h[1] != 5) die("%s: unsupported checkpoint version %d (3 = fp32 and 5 = bf16 are supported)", path, h[1]);
    GPT2Config c = {.maxT = h[2], .V = h[3], .L = h[4], .NH = h[5], .C = h[6], .Vp = h[7]};
    gpt2_validate_config(&c, path);
    size_t sizes[NUM_PARAM_TENSORS];
    size_t n = gpt2_param_sizes(&c, sizes);
    if (n == 0) die("%s: bad config: maxT=%d V=%d Vp=%d L=%d NH=%d C=%d: the parameter count overflows", path, c.maxT,
                    c.V, c.Vp, c.L, c.NH, c.C);
    size_t elem = h[1] == 3 ? sizeof(float) : sizeof(uint16_t);
    /* Check the size before allocating, so a corrupt header cannot ask for terabytes. */
    size_t want = mul_size(n, elem, path);
    if (want > SIZE_MAX - 1024 || fsize != 1024 + want)
        die("%s: file is %zu bytes, but its header (maxT=%d V=%d Vp=%d L=%d NH=%d C=%d, version %d) needs %s%zu",
            path, fsize, c.maxT, c.V, c.Vp, c.L, c.NH, c.C, h[1], want > SIZE_MAX - 1024 ? "more than " : "",
            want > SIZE_MAX - 1024 ? SIZE_MAX : 1024 + want);
    gpt2_init_empty(model, &c);
    if (h[1] == 3) {
        xfread(model->params_memory, sizeof(float), n, f, path);
    } else {
        /* widen in chunks to avoid a second full-size buffer */
        enum { CHUNK = 1 << 16 };
        uint16_t *buf = xmalloc(CHUNK * sizeof(uint16_t), "bf16 read buffer");
        for (size_t done = 0; done < n;) {
            size_t k = n - done < CHUNK ? n - done : CHUNK;
            xfread(buf, sizeof(uint16_t), k, f, path);
            for (size_t i = 0; i < k; i++) model->params_memory[done + i] = bf16_to_float(buf[i]);
            done += k;
        }
        free(buf);
    }
    xfclose(f, path);
}

void gpt2_save(const GPT2 *model, const char *path) {
    const GPT2Config *c = &model->config;
    int32_t h[HEADER_INTS] = {0};
    h[0] = CHECKPOINT_MAGIC;
    h[1] = 3;
    h[2] = c->maxT;
    h[3] = c->V;
    h[4] = c->L;
    h[5] = c->NH;
    h[6] = c->C;
    h[7] = c->Vp;
    AtomicFile af = atomic_open(path);
    xfwrite(h, sizeof(int32_t), HEADER_INTS, af.f, af.tmp_path);
    xfwrite(model->params_memory, sizeof(float), model->num_parameters, af.f, af.tmp_path);
    atomic_commit(&af);
}

/* ------------------------------------------------------------------------ */
/* activations                                                               */

/* Element counts of the activation tensors for a batch of (B,T), in the order
 * of the ActivationTensors struct. */
static void activation_sizes(const GPT2Config *c, size_t B, size_t T, size_t s[NUM_ACTIVATION_TENSORS]) {
    const char *what = "activation size";
    size_t L = (size_t)c->L, NH = (size_t)c->NH;
    size_t BT = mul_size(B, T, what);
    size_t BTC = mul_size(BT, (size_t)c->C, what);
    size_t LBTC = mul_size(L, BTC, what);
    size_t LBT = mul_size(L, BT, what);
    s[0] = BTC;                                       /* encoded */
    s[1] = LBTC; s[2] = LBT; s[3] = LBT;              /* ln1, ln1_mean, ln1_rstd */
    s[4] = mul_size(3, LBTC, what);                   /* qkv */
    s[5] = mul_size(mul_size(L * B, NH, what), mul_size(T, T, what), what); /* att */
    s[6] = LBTC; s[7] = LBTC; s[8] = LBTC;            /* atty, attproj, residual2 */
    s[9] = LBTC; s[10] = LBT; s[11] = LBT;            /* ln2, ln2_mean, ln2_rstd */
    s[12] = mul_size(4, LBTC, what);                  /* fch */
    s[13] = s[12];                                    /* fch_gelu */
    s[14] = LBTC; s[15] = LBTC;                       /* fcproj, residual3 */
    s[16] = BTC; s[17] = BT; s[18] = BT;              /* lnf, lnf_mean, lnf_rstd */
    s[19] = mul_size(BT, (size_t)c->V, what);         /* logits */
    s[20] = BT;                                       /* losses */
}

static void scratch_sizes(const GPT2Config *c, size_t B, size_t T, size_t s[NUM_SCRATCH_TENSORS]) {
    size_t BTC = B * T * (size_t)c->C;
    s[0] = BTC;                          /* dresidual */
    s[1] = BTC;                          /* dln */
    s[2] = 3 * BTC;                      /* dqkv */
    s[3] = B * (size_t)c->NH * T * T;    /* datt */
    s[4] = BTC;                          /* datty */
    s[5] = 4 * BTC;                      /* dfch */
    s[6] = 4 * BTC;                      /* dfch_gelu */
}

/* Carve `memory` into n consecutive tensors; `ptrs` lists the struct fields. */
static float *carve(float *memory, float **ptrs[], const size_t sizes[], int n) {
    for (int i = 0; i < n; i++) {
        *ptrs[i] = memory;
        memory += sizes[i];
    }
    return memory;
}

static size_t sum_sizes(const size_t *s, int n) {
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (total > SIZE_MAX - s[i]) die("activation size overflows");
        total += s[i];
    }
    return total;
}

size_t gpt2_activation_sizes(const GPT2Config *c, int B, int T, size_t sizes[NUM_ACTIVATION_TENSORS]) {
    activation_sizes(c, (size_t)B, (size_t)T, sizes);
    return sum_sizes(sizes, NUM_ACTIVATION_TENSORS);
}

size_t gpt2_scratch_sizes(const GPT2Config *c, int B, int T, size_t sizes[NUM_SCRATCH_TENSORS]) {
    scratch_sizes(c, (size_t)B, (size_t)T, sizes);
    return sum_sizes(sizes, NUM_SCRATCH_TENSORS);
}

void gpt2_point_activations(ActivationTensors *a, float *memory, const GPT2Config *c, int B, int T) {
    float **ptrs[NUM_ACTIVATION_TENSORS] = {
        &a->encoded, &a->ln1,      &a->ln1_mean, &a->ln1_rstd,  &a->qkv,      &a->att,      &a->atty,
        &a->attproj, &a->residual2, &a->ln2,     &a->ln2_mean,  &a->ln2_rstd, &a->fch,      &a->fch_gelu,
        &a->fcproj,  &a->residual3, &a->lnf,     &a->lnf_mean,  &a->lnf_rstd, &a->logits,   &a->losses};
    size_t sizes[NUM_ACTIVATION_TENSORS];
    activation_sizes(c, (size_t)B, (size_t)T, sizes);
    carve(memory, ptrs, sizes, NUM_ACTIVATION_TENSORS);
}

void gpt2_point_scratch(BackwardScratch *s, float *memory, const GPT2Config *c, int B, int T) {
    float **ptrs[NUM_SCRATCH_TENSORS] = {&s->dresidual, &s->dln,  &s->dqkv,     &s->datt,
                                         &s->datty,     &s->dfch, &s->dfch_gelu};
    size_t sizes[NUM_SCRATCH_TENSORS];
    scratch_sizes(c, (size_t)B, (size_t)T, sizes);
    carve(memory, ptrs, sizes, NUM_SCRATCH_TENSORS);
}

/* Point the activation tensors at `memory` laid out for a batch of (B,T). The
 * layout depends on B and T, so it is redone whenever they change; memory was
 * allocated for (B_max, T_max), which bounds every smaller layout. */
static void point_activations(GPT2 *model, int B, int T) {
    gpt2_point_activations(&model->acts, model->acts_memory, &model->config, B, T);
    gpt2_point_scratch(&model->scratch, model->scratch_memory, &model->config, B, T);
    model->B = B;
    model->T = T;
}

void gpt2_alloc(GPT2 *model, int B_max, int T_max) {
    const GPT2Config *c = &model->config;
    if (B_max <= 0 || T_max <= 0) die("batch size %d and sequence length %d must be positive", B_max, T_max);
    if (T_max > c->maxT) die("sequence length %d exceeds the model's context of %d", T_max, c->maxT);
    size_t sizes[NUM_ACTIVATION_TENSORS], ssizes[NUM_SCRATCH_TENSORS];
    activation_sizes(c, (size_t)B_max, (size_t)T_max, sizes);
    scratch_sizes(c, (size_t)B_max, (size_t)T_max, ssizes);
    size_t nacts = sum_sizes(sizes, NUM_ACTIVATION_TENSORS);
    size_t nscratch = sum_sizes(ssizes, NUM_SCRATCH_TENSORS);
    model->acts_memory = xmalloc(mul_size(nacts, sizeof(float), "activations"), "activations");
    model->scratch_memory = xmalloc(mul_size(nscratch, sizeof(float), "gradient scratch"), "gradient scratch");
    model->grads_memory = xcalloc(model->num_parameters, sizeof(float), "gradients");
    gpt2_point_params(&model->grads, model->grads_memory, model->param_sizes);
    size_t BT = (size_t)B_max * T_max;
    model->inputs = xmalloc(BT * sizeof(int), "inputs");
    model->targets = xmalloc(BT * sizeof(int), "targets");
    model->B_max = B_max;
    model->T_max = T_max;
    point_activations(model, B_max, T_max);
}

static void kv_free(KVCache *kv); /* in the generation section below */

void gpt2_free(GPT2 *model) {
    free(model->params_memory);
    free(model->grads_memory);
    free(model->m_memory);
    free(model->v_memory);
    free(model->acts_memory);
    free(model->scratch_memory);
    free(model->inputs);
    free(model->targets);
    kv_free(&model->kv);
    memset(model, 0, sizeof(*model));
}

/* ------------------------------------------------------------------------ */
/* the model: forward and backward                                           */

LayerParams gpt2_layer_params(const ParameterTensors *p, const GPT2Config *c, int l) {
    size_t C = (size_t)c->C, lC = (size_t)l * C;
    LayerParams w = {
        .ln1w = p->ln1w + lC, .ln1b = p->ln1b + lC,
        .qkvw = p->qkvw + 3 * lC * C, .qkvb = p->qkvb + 3 * lC,
        .attprojw = p->attprojw + lC * C, .attprojb = p->attprojb + lC,
        .ln2w = p->ln2w + lC, .ln2b = p->ln2b + lC,
        .fcw = p->fcw + 4 * lC * C, .fcb = p->fcb + 4 * lC,
        .fcprojw = p->fcprojw + 4 * lC * C, .fcprojb = p->fcprojb + lC,
    };
    return w;
}

LayerActs gpt2_layer_acts(const ActivationTensors *a, const GPT2Config *c, int l, int B, int T) {
    size_t BT = (size_t)B * T, BTC = BT * c->C, L = (size_t)l;
    LayerActs x = {
        .residual = l == 0 ? a->encoded : a->residual3 + (L - 1) * BTC,
        .ln1 = a->ln1 + L * BTC, .ln1_mean = a->ln1_mean + L * BT, .ln1_rstd = a->ln1_rstd + L * BT,
        .qkv = a->qkv + L * 3 * BTC, .att = a->att + L * BT * c->NH * T,
        .atty = a->atty + L * BTC, .attproj = a->attproj + L * BTC, .residual2 = a->residual2 + L * BTC,
        .ln2 = a->ln2 + L * BTC, .ln2_mean = a->ln2_mean + L * BT, .ln2_rstd = a->ln2_rstd + L * BT,
        .fch = a->fch + L * 4 * BTC, .fch_gelu = a->fch_gelu + L * 4 * BTC,
        .fcproj = a->fcproj + L * BTC, .residual3 = a->residual3 + L * BTC,
    };
    return x;
}

void gpt2_forward(GPT2 *model, const int *inputs, const int *targets, int B, int T) {
    const GPT2Config *c = &model->config;
    if (!model->acts_memory) die("gpt2_forward: call gpt2_alloc first");
    if (B <= 0 || T <= 0 || B > model->B_max || T > model->T_max)
        die("batch (%d, %d) is outside the allocated (%d, %d)", B, T, model->B_max, model->T_max);
    size_t BT = (size_t)B * T;
    for (size_t i = 0; i < BT; i++) {
        if (inputs[i] < 0 || inputs[i] >= c->V) die("input token %d is outside the vocabulary [0, %d)", inputs[i], c->V);
        if (targets && (targets[i] < 0 || targets[i] >= c->V))
            die("target token %d is outside the vocabulary [0, %d)", targets[i], c->V);
    }
    point_activations(model, B, T);
    memcpy(model->inputs, inputs, BT * sizeof(int));
    if (targets) memcpy(model->targets, targets, BT * sizeof(int));

    int C = c->C, NH = c->NH, L = c->L, V = c->V;
    size_t BTC = BT * C;
    ParameterTensors p = model->params;
    ActivationTensors a = model->acts;

    encoder_forward(a.encoded, inputs, p.wte, p.wpe, B, T, C);
    for (int l = 0; l < L; l++) {
        LayerParams w = gpt2_layer_params(&p, c, l);
        LayerActs x = gpt2_layer_acts(&a, c, l, B, T);
        layernorm_forward(x.ln1, x.ln1_mean, x.ln1_rstd, x.residual, w.ln1w, w.ln1b, B, T, C);
        matmul_forward(x.qkv, x.ln1, w.qkvw, w.qkvb, B, T, C, 3 * C);
        attention_forward(x.atty, x.att, x.qkv, B, T, C, NH);
        matmul_forward(x.attproj, x.atty, w.attprojw, w.attprojb, B, T, C, C);
        residual_forward(x.residual2, x.residual, x.attproj, BTC);
        layernorm_forward(x.ln2, x.ln2_mean, x.ln2_rstd, x.residual2, w.ln2w, w.ln2b, B, T, C);
        matmul_forward(x.fch, x.ln2, w.fcw, w.fcb, B, T, C, 4 * C);
        gelu_forward(x.fch_gelu, x.fch, 4 * BTC);
        matmul_forward(x.fcproj, x.fch_gelu, w.fcprojw, w.fcprojb, B, T, 4 * C, C);
        residual_forward(x.residual3, x.residual2, x.fcproj, BTC);
    }
    const float *last = a.residual3 + (size_t)(L - 1) * BTC;
    layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, last, p.lnfw, p.lnfb, B, T, C);
    /* The output projection is the token embedding (tied weights). Only its
     * first V rows are real tokens, so only V logits are computed. */
    matmul_forward(a.logits, a.lnf, p.wte, NULL, B, T, C, V);

    if (targets) {
        crossentropy_forward(a.losses, a.logits, targets, B, T, V);
        double sum = 0.0;
        for (size_t i = 0; i < BT; i++) sum += a.losses[i];
        model->mean_loss = (float)(sum / (double)BT);
    } else {
        model->mean_loss = -1.0f;
    }
}

void gpt2_zero_grad(GPT2 *model) {
    if (!model->grads_memory) return;
    /* memory-bound: every thread clears its own contiguous slice */
    const size_t chunk = (size_t)1 << 20;
    size_t n = model->num_parameters;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += chunk)
        memset(model->grads_memory + i, 0, (n - i < chunk ? n - i : chunk) * sizeof(float));
}

void gpt2_backward(GPT2 *model) {
    if (model->mean_loss < 0) die("gpt2_backward: the last forward pass had no targets");
    const GPT2Config *c = &model->config;
    int B = model->B, T = model->T, C = c->C, NH = c->NH, L = c->L, V = c->V;
    size_t BT = (size_t)B * T, BTC = BT * C;
    ParameterTensors p = model->params, g = model->grads;
    ActivationTensors a = model->acts;
    BackwardScratch s = model->scratch;

    /* loss -> logits -> final layernorm -> the residual stream of the last layer */
    crossentropy_backward(a.logits, model->targets, B, T, V); /* a.logits now holds dlogits */
    matmul_backward(s.dln, g.wte, NULL, a.logits, a.lnf, p.wte, B, T, C, V);
    memset(s.dresidual, 0, BTC * sizeof(float));
    layernorm_backward(s.dresidual, g.lnfw, g.lnfb, s.dln, a.residual3 + (size_t)(L - 1) * BTC, p.lnfw,
                       a.lnf_mean, a.lnf_rstd, B, T, C);

    for (int l = L - 1; l >= 0; l--) {
        LayerParams w = gpt2_layer_params(&p, c, l), dw = gpt2_layer_params(&g, c, l);
        LayerActs x = gpt2_layer_acts(&a, c, l, B, T);
        /* residual3 = residual2 + fcproj: s.dresidual is the gradient of both
         * summands (residual_backward's identity, read in place). */
        matmul_backward(s.dfch_gelu, dw.fcprojw, dw.fcprojb, s.dresidual, x.fch_gelu, w.fcprojw, B, T, 4 * C, C);
        gelu_backward(s.dfch, x.fch, s.dfch_gelu, 4 * BTC);
        matmul_backward(s.dln, dw.fcw, dw.fcb, s.dfch, x.ln2, w.fcw, B, T, C, 4 * C);
        layernorm_backward(s.dresidual, dw.ln2w, dw.ln2b, s.dln, x.residual2, w.ln2w, x.ln2_mean, x.ln2_rstd, B, T, C);
        /* residual2 = residual + attproj: the same identity */
        matmul_backward(s.datty, dw.attprojw, dw.attprojb, s.dresidual, x.atty, w.attprojw, B, T, C, C);
        attention_backward(s.dqkv, s.datt, s.datty, x.qkv, x.att, B, T, C, NH);
        matmul_backward(s.dln, dw.qkvw, dw.qkvb, s.dqkv, x.ln1, w.qkvw, B, T, C, 3 * C);
        layernorm_backward(s.dresidual, dw.ln1w, dw.ln1b, s.dln, x.residual, w.ln1w, x.ln1_mean, x.ln1_rstd, B, T, C);
    }
    encoder_backward(g.wte, g.wpe, s.dresidual, model->inputs, B, T, C);
}

/* ------------------------------------------------------------------------ */
/* generation: one token at a time with a key/value cache                    */

/* The cache holds, per layer, the qkv rows of every position fed so far:
 * (L, maxT, 3C). Keeping the whole qkv row (not only k and v) lets the step
 * write the qkv projection straight into the cache and attend with the same
 * stride as the full forward pass. Per-token buffers hold one position. */
void gpt2_kv_alloc(GPT2 *model) {
    const GPT2Config *c = &model->config;
    KVCache *kv = &model->kv;
    size_t C = (size_t)c->C;
    kv->qkv = xmalloc(mul_size(mul_size((size_t)c->L * c->maxT, 3 * C, "KV cache"), sizeof(float), "KV cache"),
                      "KV cache");
    kv->x = xmalloc(C * sizeof(float), "step buffer");
    kv->ln = xmalloc(C * sizeof(float), "step buffer");
    kv->atty = xmalloc(C * sizeof(float), "step buffer");
    kv->proj = xmalloc(C * sizeof(float), "step buffer");
    kv->fch = xmalloc(4 * C * sizeof(float), "step buffer");
    kv->fch_gelu = xmalloc(4 * C * sizeof(float), "step buffer");
    kv->att = xmalloc((size_t)c->maxT * sizeof(float), "step buffer");
    kv->logits = xmalloc((size_t)c->V * sizeof(float), "step logits");
}

/* The forward pass of gpt2_forward for a single position pos (B = T = 1),
 * reading earlier positions' keys and values from the cache instead of
 * recomputing them. Cost per token: one pass over the weights plus
 * attention over pos+1 cached rows. */
const float *gpt2_forward_step(GPT2 *model, int token, int pos) {
    const GPT2Config *c = &model->config;
    KVCache *kv = &model->kv;
    if (!kv->qkv) die("gpt2_forward_step: call gpt2_kv_alloc first");
    if (pos < 0 || pos >= c->maxT) die("position %d is outside the context [0, %d)", pos, c->maxT);
    if (token < 0 || token >= c->V) die("token %d is outside the vocabulary [0, %d)", token, c->V);
    int C = c->C, NH = c->NH, hs = C / NH;
    size_t C3 = (size_t)3 * C;
    ParameterTensors p = model->params;
    float mean, rstd; /* layernorm statistics: not needed without a backward pass */

    encoder_forward(kv->x, &token, p.wte, p.wpe + (size_t)pos * C, 1, 1, C);
    for (int l = 0; l < c->L; l++) {
        LayerParams w = gpt2_layer_params(&p, c, l);
        float *cache = kv->qkv + (size_t)l * c->maxT * C3; /* position 0 of layer l */
        layernorm_forward(kv->ln, &mean, &rstd, kv->x, w.ln1w, w.ln1b, 1, 1, C);
        matmul_forward(cache + (size_t)pos * C3, kv->ln, w.qkvw, w.qkvb, 1, 1, C, 3 * C);
        for (int h = 0; h < NH; h++) {
            const float *head = cache + (size_t)h * hs;
            attend_one_query(kv->atty + (size_t)h * hs, kv->att, head + (size_t)pos * C3, head + C,
                             head + 2 * (size_t)C, C3, pos + 1, hs);
        }
        matmul_forward(kv->proj, kv->atty, w.attprojw, w.attprojb, 1, 1, C, C);
        residual_forward(kv->x, kv->x, kv->proj, (size_t)C);
        layernorm_forward(kv->ln, &mean, &rstd, kv->x, w.ln2w, w.ln2b, 1, 1, C);
        matmul_forward(kv->fch, kv->ln, w.fcw, w.fcb, 1, 1, C, 4 * C);
        gelu_forward(kv->fch_gelu, kv->fch, 4 * (size_t)C);
        matmul_forward(kv->proj, kv->fch_gelu, w.fcprojw, w.fcprojb, 1, 1, 4 * C, C);
        residual_forward(kv->x, kv->x, kv->proj, (size_t)C);
    }
    layernorm_forward(kv->ln, &mean, &rstd, kv->x, p.lnfw, p.lnfb, 1, 1, C);
    matmul_forward(kv->logits, kv->ln, p.wte, NULL, 1, 1, C, c->V);
    return kv->logits;
}

/* Order for qsort: larger probability first, then smaller id, so equal
 * probabilities always sort the same way. */
static int by_prob_desc(const void *a, const void *b) {
    const float *x = a, *y = b; /* (prob, id) pairs */
    if (x[0] != y[0]) return x[0] > y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : (x[1] > y[1]);
}

int sample_token(const float *logits, int V, float temperature, int top_k, float top_p, float coin, float *scratch) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (temperature <= 0.0f) return best;
    /* probabilities at this temperature, as (prob, id) pairs */
    float *pairs = scratch;
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        float p = expf((logits[i] - logits[best]) / temperature);
        pairs[2 * i] = p;
        pairs[2 * i + 1] = (float)i;
        sum += p;
    }
    int n = V;
    if ((top_k > 0 && top_k < V) || top_p < 1.0f) {
        /* sorting all V is O(V log V): negligible next to a forward pass */
        qsort(pairs, (size_t)V, 2 * sizeof(float), by_prob_desc);
        if (top_k > 0 && top_k < n) n = top_k;
        double kept = 0.0;
        for (int i = 0; i < n; i++) kept += pairs[2 * i];
        if (top_p < 1.0f) {
            double cum = 0.0;
            for (int i = 0; i < n; i++) {
                cum += pairs[2 * i];
                if (cum >= top_p * kept) { n = i + 1; break; }
            }
        }
        sum = 0.0;
        for (int i = 0; i < n; i++) sum += pairs[2 * i];
    }
    double target = coin * sum, cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += pairs[2 * i];
        if (target < cum) return (int)pairs[2 * i + 1];
    }
    return (int)pairs[2 * (n - 1) + 1]; /* rounding left target just past the end */
}

int gpt2_generate(GPT2 *model, const int *prompt, int n_prompt, int max_new, const SamplerConfig *sc, Rng *rng,
                  int (*on_token)(int id, void *ctx), void *ctx) {
    const GPT2Config *c = &model->config;
    if (n_prompt < 1) die("generation needs a prompt of at least one token");
    if (max_new < 0 || n_prompt > c->maxT - max_new)
        die("prompt (%d tokens) plus %d new tokens exceed the model's context of %d", n_prompt, max_new, c->maxT);
    if (!model->kv.qkv) gpt2_kv_alloc(model);
    float *scratch = xmalloc(2 * (size_t)c->V * sizeof(float), "sampling buffer");
    const float *logits = NULL;
    for (int i = 0; i < n_prompt; i++) logits = gpt2_forward_step(model, prompt[i], i);
    int made = 0;
    for (int pos = n_prompt; made < max_new; pos++) {
        int next = sample_token(logits, c->V, sc->temperature, sc->top_k, sc->top_p, rng_uniform(rng), scratch);
        made++;
        if (!on_token(next, ctx) || made == max_new) break;
        logits = gpt2_forward_step(model, next, pos);
    }
    free(scratch);
    return made;
}

static void kv_free(KVCache *kv) {
    free(kv->qkv);
    free(kv->x);
    free(kv->ln);
    free(kv->atty);
    free(kv->proj);
    free(kv->fch);
    free(kv->fch_gelu);
    free(kv->att);
    free(kv->logits);
}

/* ------------------------------------------------------------------------ */
/* debug state                                                               */

void debug_state_load(DebugState *s, const char *path, const GPT2 *model) {
    const GPT2Config *c = &model->config;
    FILE *f = xfopen(path, "rb");
    size_t fsize = file_size(f, path);
    int32_t h[HEADER_INTS];
    read_header(f, path, h);
    if (h[0] != STATE_MAGIC) die("%s: not a debug state (magic %d, expected %d)", path, h[0], STATE_MAGIC);
    if (h[1] != STATE_VERSION) die("%s: unsupported debug state version %d (expected %d)", path, h[1], STATE_VERSION);
    int B = h[2], T = h[3];
    if (B <= 0 || T <= 0 || T > c->maxT) die("%s: bad batch B=%d T=%d for a model with maxT=%d", path, B, T, c->maxT);
    size_t BT = (size_t)B * T;
    /* x, y (int32) + logits (float) + loss + grads, sized without overflow for any header */
    size_t want = mul_size(BT, 8 + 4 * (size_t)c->V, path);
    if (want > SIZE_MAX - 1028 - 4 * model->num_parameters) die("%s: B=%d T=%d: the size overflows", path, B, T);
    want += 1024 + 4 + 4 * model->num_parameters;
    if (fsize != want)
        die("%s: file is %zu bytes, but B=%d T=%d with this model (V=%d, %zu parameters) needs %zu", path, fsize, B,
            T, c->V, model->num_parameters, want);
    s->B = B;
    s->T = T;
    s->V = c->V;
    s->num_parameters = model->num_parameters;
    s->x = xmalloc(BT * sizeof(int), "state inputs");
    s->y = xmalloc(BT * sizeof(int), "state targets");
    s->logits = xmalloc(BT * c->V * sizeof(float), "state logits");
    s->grads = xmalloc(model->num_parameters * sizeof(float), "state gradients");
    xfread(s->x, sizeof(int), BT, f, path);
    xfread(s->y, sizeof(int), BT, f, path);
    xfread(s->logits, sizeof(float), BT * c->V, f, path);
    xfread(&s->loss, sizeof(float), 1, f, path);
    xfread(s->grads, sizeof(float), model->num_parameters, f, path);
    xfclose(f, path);
    for (size_t i = 0; i < BT; i++)
        if (s->x[i] < 0 || s->x[i] >= c->V || s->y[i] < 0 || s->y[i] >= c->V)
            die("%s: token at position %zu is outside the vocabulary [0, %d)", path, i, c->V);
}

void debug_state_save(const DebugState *s, const char *path) {
    int32_t h[HEADER_INTS] = {0};
    h[0] = STATE_MAGIC;
    h[1] = STATE_VERSION;
    h[2] = s->B;
    h[3] = s->T;
    size_t BT = (size_t)s->B * s->T;
    AtomicFile af = atomic_open(path);
    xfwrite(h, sizeof(int32_t), HEADER_INTS, af.f, af.tmp_path);
    xfwrite(s->x, sizeof(int), BT, af.f, af.tmp_path);
    xfwrite(s->y, sizeof(int), BT, af.f, af.tmp_path);
    xfwrite(s->logits, sizeof(float), BT * s->V, af.f, af.tmp_path);
    xfwrite(&s->loss, sizeof(float), 1, af.f, af.tmp_path);
    xfwrite(s->grads, sizeof(float), s->num_parameters, af.f, af.tmp_path);
    atomic_commit(&af);
}

void debug_state_free(DebugState *s) {
    free(s->x);
    free(s->y);
    free(s->logits);
    free(s->grads);
    memset(s, 0, sizeof(*s));
}
