/*
 * fastops.c: the speed layer. The same ops as gpt2.c, computed faster.
 *
 * gpt2.c writes every op as the plain loops of its formula, and that is what
 * a reader should read. This file holds faster twins of the few ops where
 * nearly all of a training step's time goes, each named after the plain
 * function it stands in for (`matmul_forward_fast` for `matmul_forward`).
 * The default build's model calls them through GPT2_FAST_OPS (model->ops);
 * `make REFERENCE=1` leaves this file out; test/test_ops.c checks each
 * against its plain twin at awkward shapes.
 *
 * What is sped up, and why it is slow as written in gpt2.c:
 *   - the matrix products (matmul_forward/_backward): ~95% of a step. The
 *     plain dot-product loop loads both operands for every multiply-add and
 *     adds into one running sum, a chain of dependent additions the
 *     compiler may not reorder. Here a packed, cache-blocked, register-tiled
 *     gemm keeps 8x48 sums in vector registers (the blocking, below).
 *   - attention, GELU and the softmax of the cross-entropy: their loops call
 *     expf/tanhf, which the compiler cannot vectorise (a libm call per
 *     element), and sum into one running float. Here e^x is a short
 *     polynomial that vectorises (exp_fast), and sums keep 16 partial sums.
 *     Attention for training goes a head at a time, its sums vectorised along
 *     the keys and kept in registers (attention_forward_fast says how).
 *   - AdamW (adamw_update_fast, standing in for train.c's adamw_update): one
 *     division and one square root per element instead of three divisions
 *     and a root, so that it runs at memory speed, and the gradient cleared in
 *     the same pass, which saves gpt2_zero_grad's pass over all of them.
 * By how much (`make bench`, GPT-2 124M at B=4, T=64, on 2 cores of an AMD
 * EPYC with AVX-512, one run of 2026-12-05; bench prints this table
 * each time, the plain loops beside their twins): the matrix products
 * 31-42x forward and 3-7x backward (the plain backward loops already
 * vectorise along the rows), GELU 24-28x, the cross-entropy 5x, attention
 * 1.5-2x at T=64 (more at longer T); a whole training step about 12x
 * (1.3 s instead of 15.9 s).
 *
 * Why the gemm's blocking is what it is (AMD EPYC Zen 5: two 512-bit FMAs a
 * cycle per core, 32 vector registers, 48 KiB L1 data cache and 1 MiB L2 per
 * core; Zen 4, with one 512-bit FMA a cycle and 32 KiB of L1, is served by
 * the same choices):
 *   - the register tile is 8 rows x 48 columns: 24 accumulator vectors of
 *     16 floats, plus 3 vectors of b and 1 broadcast of a = 28 of the 32
 *     registers. Each k step loads 3 vectors of b (192 bytes) and broadcasts
 *     8 floats of a (32 bytes) for 24 FMAs: 11 loads per 12 cycles of FMAs
 *     on Zen 5, inside the 2 vector loads a cycle it can issue, and 24
 *     independent chains cover the FMA latency (4 cycles x 2 pipes needs 8).
 *     Measured, the k loop alone runs at about 90% of the peak.
 *   - the k-chunk KC is 384: a's rows of the tile (8 x 384 floats, 12 KiB)
 *     sit in L1, b's panel (384 x 48, 72 KiB) streams from L2, in order. A
 *     chunk ends with a pass over the output tile (load, add, store 8 x 48
 *     floats, which missed in cache and stalled: the tile is prefetched as
 *     the chunk starts). A longer chunk makes that pass rarer: measured on
 *     one core, KC 128 (b's panel in L1) ran at 77% of peak, 384 at 83-87%,
 *     768 no better.
 *   - an operand is copied (packed) only where its layout forces it. a is
 *     read in place when its rows run along k (inp in the forward pass, dout
 *     in dinp's): a tile's 8 rows are then 8 streams read in order, and a
 *     copy would only add traffic and, with the copy shared by the threads,
 *     a wait for it. b is read in place when its rows run along j (the
 *     weight in dinp's product, inp in dweight's): the tile loads 3 vectors
 *     from each of its rows. Two operands need the copy: dout^T in dweight's
 *     product and the weight in the forward pass. The weight's rows run
 *     along k; they are transposed 16x16 at a time in registers into panels
 *     of b, once per block of columns by the thread that owns it. dout^T is
 *     packed by each thread for its own block of 128 rows (threads split
 *     dweight's rows, so none waits for another's copy; gemm_by_rows), or,
 *     for products wider than 768 columns, once by all threads together and
 *     shared (gemm_by_columns).
 *     Measured on Zen 5, reading in place and the 16x16 transpose (it was
 *     8x8) together took the five products of a step from 76% to 82-87% of
 *     the two-thread peak (the same harness, runs minutes apart): the
 *     copies and the wait for them had cost about a tenth of the time.
 *
 * The price is the order of the additions: sums here are split into lanes
 * and k-chunks, so results differ from gpt2.c's in the last bits (test_ops
 * bounds the difference). Every order is fixed, so results are still the same
 * on every run and for any number of threads.
 */
#include "fastops.h"

#include <math.h>
#ifdef __AVX__
#include <immintrin.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "generation.h" /* GENERATE_MAX_SAMPLES */
#include "gpt2.h"
#include "train.h" /* adamw_bias_correction */

#ifdef _OPENMP
#include <omp.h>
#endif

/* building blocks: fused multiply-add, lane sums, a vectorisable e^x        */

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

/* e^x, standing in for expf in loops that must vectorise (glibc's expf is a
 * call the compiler cannot vectorise without -ffast-math). x = n ln2 + r with n an integer and
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
static inline float exp_fast(float x) {
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
/* matmul: a linear layer, out = inp @ weight^T + bias (gpt2.c's matmul_*)   */

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
 *   - packing, where the layout needs it: an operand that the tile cannot
 *     read in order (a whose rows do not run along k, b whose rows do not
 *     run along j) is first copied into contiguous panels in the order the
 *     tile reads them; the others are read where they lie;
 *   - cache blocking: the sum over k is cut into chunks of KC, so the panels
 *     a tile reads stay in L1/L2 while they are reused (the file's opening
 *     comment gives the arithmetic).
 * Threads split the output into blocks of columns (or, for dweight's
 * product, of rows), so no two threads write the same element. Every element sums k in the same order whatever the blocks and
 * the number of threads: in chunks of KC, each chunk from zero in k order,
 * added to the output chunk after chunk. Results are therefore deterministic
 * and independent of the thread count.
 */
#define GEMM_MR 8   /* rows of a register tile */
#define GEMM_NR 48  /* columns: three AVX-512 vectors */
#define GEMM_KC 384 /* the k-chunk */
#define GEMM_MC_MAX 1024 /* rows of a taken at a time (gemm_by_columns) */
#define GEMM_MC_ROWS 128 /* rows of a packed by one thread at a time (gemm_by_rows) */
#define GEMM_NC_ROWS 768 /* the widest product gemm_by_rows takes */
#define GEMM_NC 384 /* the widest block of columns given to one thread */
#define GEMM_KS (8 * GEMM_KC) /* the k-range of a taken at a time (gemm_by_columns) */

/* A matrix read through strides: element (i, j) is p[i*rs + j*cs]. */
typedef struct {
    const float *p;
    size_t rs, cs;
} MatView;

#ifdef __AVX__
/* dst[kk*ds + x] = src[x*ss + kk] for x, kk < 8: eight rows of eight floats
 * become eight columns. unpack interleaves row pairs, shuffle gathers four
 * rows' values of one k into each 128-bit half, permute joins the halves. */
static inline void transpose8x8(const float *src, size_t ss, float *dst, size_t ds) {
    __m256 r[8], t[8], u[8];
    for (int x = 0; x < 8; x++) r[x] = _mm256_loadu_ps(src + x * ss);
    for (int x = 0; x < 8; x += 2) {
        t[x] = _mm256_unpacklo_ps(r[x], r[x + 1]);     /* k = 0,0,1,1 | 4,4,5,5 of rows x, x+1 */
        t[x + 1] = _mm256_unpackhi_ps(r[x], r[x + 1]); /* k = 2,2,3,3 | 6,6,7,7 */
    }
    for (int h = 0; h < 8; h += 4) { /* rows 0-3, then rows 4-7 */
        u[h] = _mm256_shuffle_ps(t[h], t[h + 2], 0x44);         /* k = 0 | 4 */
        u[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], 0xEE);     /* k = 1 | 5 */
        u[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0x44); /* k = 2 | 6 */
        u[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0xEE); /* k = 3 | 7 */
    }
    for (int kk = 0; kk < 4; kk++) {
        _mm256_storeu_ps(dst + kk * ds, _mm256_permute2f128_ps(u[kk], u[kk + 4], 0x20));
        _mm256_storeu_ps(dst + (kk + 4) * ds, _mm256_permute2f128_ps(u[kk], u[kk + 4], 0x31));
    }
}
#endif

#ifdef __AVX512F__
/* The same for 16 x 16 floats: dst[kk*ds + x] = src[x*ss + kk]. Each row
 * read is a whole 64-byte cache line, and it takes 4 shuffles per 16 floats
 * where transpose8x8 takes 3 per 8. Rows are interleaved in pairs (floats),
 * then in fours (pairs of floats), which leaves each 128-bit lane holding
 * four rows' values of one k; shuffle_f32x4 then moves whole lanes, twice,
 * to gather one k's 16 values in one register. */
static inline void transpose16x16(const float *src, size_t ss, float *dst, size_t ds) {
    __m512 r[16], t[16];
    for (int x = 0; x < 16; x++) r[x] = _mm512_loadu_ps(src + x * ss);
    for (int x = 0; x < 16; x += 2) {
        t[x] = _mm512_unpacklo_ps(r[x], r[x + 1]);     /* per lane: k = 0,0,1,1 of rows x, x+1 */
        t[x + 1] = _mm512_unpackhi_ps(r[x], r[x + 1]); /* k = 2,2,3,3 */
    }
    for (int x = 0; x < 16; x += 4) { /* per lane of r[x + m]: k = m of rows x..x+3 */
        __m512d t0 = _mm512_castps_pd(t[x]), t1 = _mm512_castps_pd(t[x + 1]);
        __m512d t2 = _mm512_castps_pd(t[x + 2]), t3 = _mm512_castps_pd(t[x + 3]);
        r[x] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        r[x + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        r[x + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        r[x + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    /* lane l of r[4q + m] holds k = 4l + m of rows 4q..4q+3 */
    for (int m = 0; m < 4; m++) {
        __m512 even_lo = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x88);  /* lanes 0,2 of rows 0-3, 0,2 of 4-7 */
        __m512 odd_lo = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xDD);   /* lanes 1,3 */
        __m512 even_hi = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x88); /* the same for rows 8-15 */
        __m512 odd_hi = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xDD);
        _mm512_storeu_ps(dst + (size_t)m * ds, _mm512_shuffle_f32x4(even_lo, even_hi, 0x88));        /* k = m */
        _mm512_storeu_ps(dst + (size_t)(8 + m) * ds, _mm512_shuffle_f32x4(even_lo, even_hi, 0xDD));  /* k = 8+m */
        _mm512_storeu_ps(dst + (size_t)(4 + m) * ds, _mm512_shuffle_f32x4(odd_lo, odd_hi, 0x88));    /* k = 4+m */
        _mm512_storeu_ps(dst + (size_t)(12 + m) * ds, _mm512_shuffle_f32x4(odd_lo, odd_hi, 0xDD));   /* k = 12+m */
    }
}
#endif

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
    int k_done = 0;
    /* rows along k (the weights in the forward pass): squares transposed in
     * registers, a few shuffles per 8 or 16 floats instead of a load and a
     * store per float */
#ifdef __AVX512F__
    if (ks == 1 && w == W && W % 16 == 0) {
        /* 16 rows at a time, each read in order along k (16 streams rather
         * than W), and each asked for 8 cache lines ahead: the weights come
         * from L3 or memory, and waiting for them had cost the forward
         * products more than the shuffles (measured: 1-3 points of peak) */
        int k16 = kc / 16 * 16;
        for (int x = 0; x < W; x += 16)
            for (int k = 0; k < k16; k += 16) {
                for (int r = 0; r < 16; r++)
                    __builtin_prefetch((const void *)((uintptr_t)(p + (size_t)(x + r) * xs + k) + 128 * sizeof(float)));
                transpose16x16(p + (size_t)x * xs + k, xs, dst + (size_t)k * W + x, W);
            }
        k_done = k16;
    }
#endif
#ifdef __AVX__
    if (ks == 1 && w == W && W % 8 == 0) {
        for (; k_done + 8 <= kc; k_done += 8)
            for (int x = 0; x < W; x += 8) transpose8x8(p + (size_t)x * xs + k_done, xs, dst + (size_t)k_done * W + x, W);
    }
#endif
    for (int x = 0; x < w; x++)
        for (int k = k_done; k < kc; k++) dst[k * W + x] = p[x * xs + (size_t)k * ks];
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

/* The register tile: acc[r][j] = sum over k < kc of a[r][k] * b[k][j], with
 * a[r][k] read at a[r*ars + k*aks] and b[k][j] at b[k*bks + j]. MR and NR
 * are constants, so the compiler unrolls r, turns the j loop into vector
 * multiply-adds and keeps all of acc in registers. Then c (mr x nr valid
 * entries, row stride ldc) is updated: with `overwrite`, c = init[j] + acc
 * (init NULL: zero), otherwise c += acc. Always inlined into gemm_tile,
 * which calls it with the strides constant where they are, so each way of
 * reading the operands compiles to its own loop. */
__attribute__((always_inline)) static inline void tile_sums(int kc, const float *restrict a, size_t ars, size_t aks,
                                                            const float *restrict b, size_t bks, float *restrict c,
                                                            size_t ldc, int mr, int nr, int overwrite,
                                                            const float *init) {
    float acc[GEMM_MR][GEMM_NR] = {{0.0f}};
    /* c's tile is read and written only after the k loop; asking for its
     * lines now overlaps their trip from L2/L3/memory with the arithmetic */
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j += 16) __builtin_prefetch(c + (size_t)r * ldc + j, 1);
    TILE_K_LOOP
    for (int k = 0; k < kc; k++) {
        TILE_R_LOOP
        for (int r = 0; r < GEMM_MR; r++) {
            float ar = a[r * ars + k * aks];
#pragma omp simd
            for (int j = 0; j < GEMM_NR; j++) acc[r][j] = MULADD(ar, b[k * bks + j], acc[r][j]);
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

/* A leading dimension of PACKED: the operand is a packed panel (pack_a's
 * a[k*MR + r], pack_b's b[k*NR + j]). Otherwise it is the matrix itself,
 * read in place: a[r*lda + k], b[k*ldb + j]. */
enum { PACKED = 0 };

static void gemm_tile(int kc, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc, int mr,
                      int nr, int overwrite, const float *init) {
    if (lda == PACKED && ldb == PACKED)
        tile_sums(kc, a, 1, GEMM_MR, b, GEMM_NR, c, ldc, mr, nr, overwrite, init);
    else if (lda == PACKED)
        tile_sums(kc, a, 1, GEMM_MR, b, ldb, c, ldc, mr, nr, overwrite, init);
    else if (ldb == PACKED)
        tile_sums(kc, a, lda, 1, b, GEMM_NR, c, ldc, mr, nr, overwrite, init);
    else
        tile_sums(kc, a, lda, 1, b, ldb, c, ldc, mr, nr, overwrite, init);
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

/* The last rows of a read in place, when fewer than MR remain: copied to
 * dst (MR x kc, row stride kc) with zero rows below, so that the tile reads
 * no row past the matrix. */
static void edge_rows(float *dst, MatView a, int i, int mr, int k0, int kc) {
    for (int r = 0; r < GEMM_MR; r++)
        for (int k = 0; k < kc; k++) dst[r * kc + k] = r < mr ? a.p[(size_t)(i + r) * a.rs + (size_t)(k0 + k)] : 0.0f;
}

/* One block of nc columns of c at column j0, rows i0 .. i0+rows-1, the whole
 * sum over k, chunk by chunk. a comes from apack (packed chunk by chunk, as
 * gemm_by_columns lays it out for the rows i0..) or, apack NULL, from the
 * matrix in place. b is read in place when its rows run along j and the block is
 * whole panels; otherwise this thread packs the block's chunk into bpack.
 * The column panel is the inner loop's constant, and the row panels stream
 * past it. */
static void gemm_column_block(int k_begin, int k_end, const float *apack, MatView a, int rows, MatView b, float *c,
                              size_t ldc, int accumulate, const float *bias, int i0, int j0, int nc, float *bpack) {
    int rows_padded = round_up(rows, GEMM_MR);
    int b_in_place = b.cs == 1 && nc % GEMM_NR == 0;
    float edge[GEMM_MR * GEMM_KC];
    for (int k0 = k_begin; k0 < k_end; k0 += GEMM_KC) {
        int kc = k_end - k0 < GEMM_KC ? k_end - k0 : GEMM_KC;
        int overwrite = k0 == 0 && !accumulate;
        if (!b_in_place) pack_b(bpack, b, k0, kc, j0, nc);
        for (int jp = 0; jp < nc; jp += GEMM_NR) {
            int nr = nc - jp < GEMM_NR ? nc - jp : GEMM_NR;
            const float *bt = b_in_place ? b.p + (size_t)k0 * b.rs + j0 + jp : bpack + (size_t)jp * kc;
            size_t ldb = b_in_place ? b.rs : PACKED;
            for (int ip = 0; ip < rows; ip += GEMM_MR) {
                int mr = rows - ip < GEMM_MR ? rows - ip : GEMM_MR;
                float *ct = c + (size_t)(i0 + ip) * ldc + j0 + jp;
                const float *init = bias ? bias + j0 + jp : NULL;
                if (apack) {
                    const float *at = apack + (size_t)(k0 - k_begin) * rows_padded + (size_t)ip * kc;
                    gemm_tile(kc, at, PACKED, bt, ldb, ct, ldc, mr, nr, overwrite, init);
                } else if (mr == GEMM_MR) {
                    const float *at = a.p + (size_t)(i0 + ip) * a.rs + k0;
                    gemm_tile(kc, at, a.rs, bt, ldb, ct, ldc, mr, nr, overwrite, init);
                } else {
                    edge_rows(edge, a, i0 + ip, mr, k0, kc);
                    gemm_tile(kc, edge, (size_t)kc, bt, ldb, ct, ldc, mr, nr, overwrite, init);
                }
            }
        }
    }
}

/* One block of rows of c, i0 .. i0+rows-1, across all N columns, the whole
 * sum over k, chunk by chunk: this thread packs the block's chunk of a into
 * apack, and b is read in place when its rows run along j and N is whole
 * panels, else packed (the chunk's N columns) into bpack. */
static void row_block(MatView a, int i0, int rows, MatView b, int N, int K, float *c, size_t ldc, int accumulate,
                      const float *bias, float *apack, float *bpack) {
    int b_in_place = b.cs == 1 && N % GEMM_NR == 0;
    for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
        int kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
        int overwrite = k0 == 0 && !accumulate;
        pack_a(apack, a, i0, rows, k0, kc);
        if (!b_in_place) pack_b(bpack, b, k0, kc, 0, N);
        for (int jp = 0; jp < N; jp += GEMM_NR) {
            int nr = N - jp < GEMM_NR ? N - jp : GEMM_NR;
            const float *bt = b_in_place ? b.p + (size_t)k0 * b.rs + jp : bpack + (size_t)jp * kc;
            size_t ldb = b_in_place ? b.rs : PACKED;
            for (int ip = 0; ip < rows; ip += GEMM_MR) {
                int mr = rows - ip < GEMM_MR ? rows - ip : GEMM_MR;
                gemm_tile(kc, apack + (size_t)ip * kc, PACKED, bt, ldb, c + (size_t)(i0 + ip) * ldc + jp, ldc, mr, nr,
                          overwrite, bias ? bias + jp : NULL);
            }
        }
    }
}

/* The packed panels' memory, kept from one gemm to the next and grown when
 * a call needs more. A fresh multi-megabyte malloc is fresh pages from the
 * OS, and faulting them in took 4% of the gemm's time. One buffer per
 * calling thread (_Thread_local), so two threads calling gemm at once do
 * not share it; it lives as long as the program. */
static float *pack_buffer(size_t bytes) {
    static _Thread_local float *buffer;
    static _Thread_local size_t capacity;
    if (bytes > capacity) {
        free(buffer);
        buffer = xmalloc(bytes, "matmul panels");
        capacity = bytes;
    }
    return buffer;
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* gemm with the threads splitting the columns: the forward pass and dinp's
 * product, and dweight's when wider than GEMM_NC_ROWS. */
static void gemm_by_columns(int M, int N, int K, MatView a, MatView b, float *c, size_t ldc, int accumulate,
                            const float *bias) {
    /* a is read in place when its rows run along k (inp in the forward
     * pass, dout in dinp's): a tile then reads MR rows of it, each in order.
     * Otherwise (dout^T in a wide dweight's) it is packed once by all
     * threads together, and shared. Either way its rows are taken
     * GEMM_MC_MAX at a time and k GEMM_KS at a time, and every block of
     * columns runs over that part of a before the next: the part (up to 12
     * MiB) is read from L3 by every block, where a whole long a (the logits'
     * dout, 51 MiB) would come from memory for each block. Columns are dealt
     * out in blocks of nc to the threads; a thread packs its block of b once
     * per k-chunk, unless b's rows run along j and it can be read in place
     * too. So every element of a and b is copied at most once per row group,
     * never once per output block. nc is the largest multiple of NR that
     * gives each thread about 4 blocks (an uneven split then costs little). */
    int threads = max_threads();
    int nc = round_up((N + 4 * threads - 1) / (4 * threads), GEMM_NR);
    if (nc > GEMM_NC) nc = GEMM_NC;
    int nblocks = (N + nc - 1) / nc;
    int group = M < GEMM_MC_MAX ? M : GEMM_MC_MAX;
    int a_in_place = a.cs == 1, ks = GEMM_KS;
    int kc_max = K < GEMM_KC ? K : GEMM_KC, ks_max = K < ks ? K : ks;
    size_t apack_size = a_in_place ? 0 : (size_t)round_up(group, GEMM_MR) * ks_max;
    size_t bpack_size = (size_t)nc * kc_max;
    float *apack = pack_buffer((apack_size + bpack_size * threads) * sizeof(float));
#pragma omp parallel
    {
        float *bpack = apack + apack_size + bpack_size * thread_id();
        for (int i0 = 0; i0 < M; i0 += group) {
            int rows = M - i0 < group ? M - i0 : group, panels = round_up(rows, GEMM_MR) / GEMM_MR;
            for (int k_begin = 0; k_begin < K; k_begin += ks) {
                int k_end = K - k_begin < ks ? K : k_begin + ks;
                int kchunks = (k_end - k_begin + GEMM_KC - 1) / GEMM_KC;
                if (!a_in_place) {
                    /* pack a: chunk after chunk, each chunk's row panels contiguous */
#pragma omp for schedule(static)
                    for (int q = 0; q < kchunks * panels; q++) {
                        int k0 = k_begin + (q / panels) * GEMM_KC, ip = (q % panels) * GEMM_MR;
                        int kc = k_end - k0 < GEMM_KC ? k_end - k0 : GEMM_KC;
                        pack_a(apack + (size_t)(k0 - k_begin) * panels * GEMM_MR + (size_t)ip * kc, a, i0 + ip,
                               rows - ip < GEMM_MR ? rows - ip : GEMM_MR, k0, kc);
                    }
                    /* (the implied barrier: all of a is packed before any
                     * block runs, and every block is done before a is
                     * repacked) */
                }
#pragma omp for schedule(dynamic)
                for (int blk = 0; blk < nblocks; blk++) {
                    int j0 = blk * nc;
                    gemm_column_block(k_begin, k_end, a_in_place ? NULL : apack, a, rows, b, c, ldc, accumulate,
                                      bias, i0, j0, N - j0 < nc ? N - j0 : nc, bpack);
                }
            }
        }
    }
}

/* gemm for a product whose a has to be packed and whose rows are at most
 * GEMM_NC_ROWS wide (dweight's, for GPT-2 124M's C = 768). Threads split the
 * rows, in blocks of GEMM_MC_ROWS, and each packs its own block's a, so no
 * thread waits for another's copy; all of b (dweight's inp, read in place)
 * stays in L2 and every block runs against it. Measured on Zen 5, dweight's
 * products at C = 768 ran 5-10% faster this way than with a shared; at
 * C = 3072 (fcproj's), where b no longer fits L2, 5-10% slower, so wider
 * products keep the column split. */
static void gemm_by_rows(int M, int N, int K, MatView a, MatView b, float *c, size_t ldc, int accumulate,
                         const float *bias) {
    int threads = max_threads(), nblocks = (M + GEMM_MC_ROWS - 1) / GEMM_MC_ROWS;
    int kc_max = K < GEMM_KC ? K : GEMM_KC;
    size_t apack_size = (size_t)GEMM_MC_ROWS * kc_max, bpack_size = (size_t)round_up(N, GEMM_NR) * kc_max;
    float *buffer = pack_buffer((apack_size + bpack_size) * threads * sizeof(float));
#pragma omp parallel
    {
        float *apack = buffer + (apack_size + bpack_size) * thread_id(), *bpack = apack + apack_size;
#pragma omp for schedule(dynamic)
        for (int blk = 0; blk < nblocks; blk++) {
            int i0 = blk * GEMM_MC_ROWS;
            row_block(a, i0, M - i0 < GEMM_MC_ROWS ? M - i0 : GEMM_MC_ROWS, b, N, K, c, ldc, accumulate, bias, apack,
                      bpack);
        }
    }
}

/* c (M,N) with row stride ldc:  c = bias + a @ b  (bias (N) or NULL), or with
 * `accumulate`, c += a @ b. a is (M,K), b is (K,N). Block sizes, and which
 * thread takes a block, change who computes a sum, never its order. */
static void gemm(int M, int N, int K, MatView a, MatView b, float *c, size_t ldc, int accumulate, const float *bias) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* an empty sum */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                if (!accumulate) c[(size_t)i * ldc + j] = bias ? bias[j] : 0.0f;
        return;
    }
    if (a.cs != 1 && N <= GEMM_NC_ROWS)
        gemm_by_rows(M, N, K, a, b, c, ldc, accumulate, bias);
    else
        gemm_by_columns(M, N, K, a, b, c, ldc, accumulate, bias);
}

/* ---- the matrix-vector path: generation's products --------------------- */

/* Below this many positions the forward pass is a matrix-vector product, or
 * a few of them side by side (a token at a time in generation, one row per
 * sample): each weight is used BT times only, so the product is bound by
 * reading the weights from memory, and packing would only add traffic.
 * Generation relies on this path for its batches (a sequence's outputs then
 * do not depend on how many rows share the batch), hence the assertion. */
#define MATVEC_MAX_ROWS 16
_Static_assert(GENERATE_MAX_SAMPLES <= MATVEC_MAX_ROWS, "generation's batches must take the matrix-vector path");

/* Rows of the input dotted with MATVEC_WEIGHT_ROWS weight rows at a time:
 * 4 inputs x 4 weight rows are 16 independent chains of vector multiply-adds
 * (16 of AVX-512's 32 vector registers), enough to hide the multiply-add's
 * latency, and each weight row is read from memory once (from L1 for the
 * inputs after the first 4). Four rows are four streams from memory per
 * thread; notes.md ("Generation at the memory-bandwidth limit") has the
 * figures for two rows and four, with and without the prefetch. */
#define MATVEC_INPUTS 4
#define MATVEC_WEIGHT_ROWS 4
/* how far ahead in memory the weights are asked for: 4 KiB (measured: 2
 * and 8 KiB no better, 2 KiB less steady) */
#define MATVEC_PREFETCH 1024

/* sums[r][o] = x_r . w_o for r < R inputs x_r = x + r*C and o < O weight
 * rows w_o = w + o*C, every sum in dot()'s order (16 lanes, the tail, then
 * the lanes in order), so each output is the one dot() gives whichever
 * group computed it: results do not depend on R, O or the thread count.
 * Called with constant R and O and always inlined, so each (R, O) compiles
 * to its own loop with the R x O x 16 sums in registers (as a function of
 * variable R they would live on the stack, a store and a load per step). */
__attribute__((always_inline)) static inline void dot_group(float sums[MATVEC_INPUTS][MATVEC_WEIGHT_ROWS], const float *restrict x,
                             const float *restrict w, int C, int R, int O) {
    float lanes[MATVEC_INPUTS][MATVEC_WEIGHT_ROWS][LANES] = {{{0.0f}}};
    int i = 0;
    for (; i + LANES <= C; i += LANES) {
        /* the core's own prefetcher, left alone, kept too few lines in
         * flight to stream at memory speed. A thread reads its weights
         * nearly in order (a group of rows side by side, then the next
         * group), so the line 4 KiB on from where each row is now is one it
         * will read soon: in the same row, or for short rows in a later one
         * (some of those were read already; measured, a prefetch that
         * followed each row exactly into the next group did no better). The
         * address is formed as an integer: it may lie past the matrix, which
         * a prefetch tolerates and pointer arithmetic does not. */
        for (int o = 0; o < O; o++)
            __builtin_prefetch((const void *)((uintptr_t)(w + (size_t)o * C + i) + MATVEC_PREFETCH * sizeof(float)));
        for (int r = 0; r < R; r++)
            for (int o = 0; o < O; o++) {
#pragma omp simd
                for (int j = 0; j < LANES; j++)
                    lanes[r][o][j] = MULADD(x[(size_t)r * C + i + j], w[(size_t)o * C + i + j], lanes[r][o][j]);
            }
    }
    for (int r = 0; r < R; r++)
        for (int o = 0; o < O; o++) {
            float sum = 0.0f;
            for (int k = i; k < C; k++) sum += x[(size_t)r * C + k] * w[(size_t)o * C + k];
            for (int j = 0; j < LANES; j++) sum += lanes[r][o][j];
            sums[r][o] = sum;
        }
}

/* dot_group for R <= MATVEC_INPUTS inputs and a constant O, each R its own
 * call with constant arguments, so the compiler keeps the lanes in registers */
__attribute__((always_inline)) static inline void dot_group_r(float sums[MATVEC_INPUTS][MATVEC_WEIGHT_ROWS],
                                                              const float *x, const float *w, int C, int R, int O) {
    switch (R) {
    case 4: dot_group(sums, x, w, C, 4, O); break;
    case 3: dot_group(sums, x, w, C, 3, O); break;
    case 2: dot_group(sums, x, w, C, 2, O); break;
    default: dot_group(sums, x, w, C, 1, O); break;
    }
}

/* out (BT,OC) = bias + inp (BT,C) @ weight^T for weight rows oc0..oc0+O-1
 * (O <= MATVEC_WEIGHT_ROWS): those rows against every input, R at a time.
 * A group of fewer rows (the end of the matrix) goes a row at a time. */
static void matvec_rows(float *out, const float *inp, const float *weight, const float *bias, int BT, int C, int OC,
                        int oc0, int O) {
    const float *w = weight + (size_t)oc0 * C;
    for (int r0 = 0; r0 < BT; r0 += MATVEC_INPUTS) {
        int R = BT - r0 < MATVEC_INPUTS ? BT - r0 : MATVEC_INPUTS;
        float sums[MATVEC_INPUTS][MATVEC_WEIGHT_ROWS];
        const float *x = inp + (size_t)r0 * C;
        if (O == MATVEC_WEIGHT_ROWS) {
            dot_group_r(sums, x, w, C, R, MATVEC_WEIGHT_ROWS);
        } else {
            for (int o = 0; o < O; o++) {
                float one[MATVEC_INPUTS][MATVEC_WEIGHT_ROWS];
                dot_group_r(one, x, w + (size_t)o * C, C, R, 1);
                for (int r = 0; r < R; r++) sums[r][o] = one[r][0];
            }
        }
        for (int r = 0; r < R; r++)
            for (int o = 0; o < O; o++)
                out[(size_t)(r0 + r) * OC + oc0 + o] = (bias ? bias[oc0 + o] : 0.0f) + sums[r][o];
    }
}

/* Stands in for matmul_forward: out (B,T,OC) = bias + inp (B,T,C) @ weight^T,
 * weight (OC,C), bias (OC) or NULL. With few positions (matrix-vector): the
 * output channels are split across threads in equal contiguous ranges
 * (static, so which thread computes a channel changes nothing), both cores
 * stream their half of the weights once, and each weight row is dotted with
 * every position while it is in cache. Otherwise it is gemm with
 * b[i][oc] = weight[oc][i]. */
void matmul_forward_fast(float *out, const float *inp, const float *weight, const float *bias, int B, int T, int C,
                    int OC) {
    int BT = B * T;
    if (BT <= MATVEC_MAX_ROWS) {
        int groups = (OC + MATVEC_WEIGHT_ROWS - 1) / MATVEC_WEIGHT_ROWS;
#pragma omp parallel for schedule(static)
        for (int g = 0; g < groups; g++) {
            int oc0 = g * MATVEC_WEIGHT_ROWS;
            matvec_rows(out, inp, weight, bias, BT, C, OC, oc0, OC - oc0 < MATVEC_WEIGHT_ROWS ? OC - oc0 : MATVEC_WEIGHT_ROWS);
        }
        return;
    }
    MatView a = {inp, (size_t)C, 1}, b = {weight, 1, (size_t)C};
    gemm(BT, OC, C, a, b, out, (size_t)OC, 0, bias);
}

/* Stands in for matmul_backward, as two products and a column sum:
 * dinp (B,T,C) = dout @ weight (WRITTEN), dweight (OC,C) += dout^T @ inp,
 * dbias (OC) += sum over positions of dout. dweight NULL: frozen, dinp only. */
void matmul_backward_fast(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int B, int T, int C, int OC) {
    int BT = B * T;
    MatView d = {dout, (size_t)OC, 1}, w = {weight, (size_t)C, 1};
    gemm(BT, C, OC, d, w, dinp, (size_t)C, 0, NULL);
    if (!dweight) return; /* a frozen weight (LoRA) */
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

/* Stands in for attention_query, with lane-sum dot products and exp_fast.
 * One query attending over n keys (positions 0..n-1) of one head:
 *   score[t2] = q . k[t2] / sqrt(hs),  att = softmax(score),  out = sum_t2 att[t2] v[t2]
 * k and v point at position 0 of this head; consecutive positions are
 * kv_stride floats apart. Shared by the full forward pass (keys inside the
 * (B,T,3C) qkv activation) and the KV-cache step (keys inside the cache). */
void attention_query_fast(float *out, float *att, const float *q, const float *k, const float *v,
                             size_t kv_stride, int n, int hs) {
    float scale = 1.0f / sqrtf((float)hs);
    float maxv = -INFINITY;
    for (int t2 = 0; t2 < n; t2++) {
        att[t2] = dot(q, k + (size_t)t2 * kv_stride, hs) * scale;
        if (att[t2] > maxv) maxv = att[t2];
    }
    /* subtracting the max keeps e^x from overflowing; softmax is unchanged */
    for (int t2 = 0; t2 < n; t2++) att[t2] = exp_fast(att[t2] - maxv);
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

static float max_lanes(const float *l, int n);

/* Copies one head's rows (T of them, hs floats each, `stride` apart) into
 * dst (hs, ld), transposed: dst[i][t] = src[t][i]. */
static void transpose_head(float *restrict dst, size_t ld, const float *restrict src, size_t stride, int T, int hs) {
    for (int t = 0; t < T; t++)
        for (int i = 0; i < hs; i++) dst[(size_t)i * ld + t] = src[t * stride + i];
}

/* row[0..n) = sum_i x[i] * mt[i][0..n), mt (hs, ld) a transposed head: n dot
 * products of length hs at once, vectorised along the row, each summed over
 * i in order (the plain loop's order). The row is built ROW_CHUNK elements
 * at a time in a local array that stays in vector registers: adding into
 * row[] in memory instead would make every step of the sum over i wait for
 * the previous step's store. ld is a multiple of ROW_CHUNK, so a chunk may
 * read past n (never past the buffer); those sums are dropped. */
enum { ROW_CHUNK = 64 };
static void row_times_transposed(float *restrict row, const float *restrict x, const float *restrict mt, int n,
                                 size_t ld, int hs) {
    for (int j0 = 0; j0 < n; j0 += ROW_CHUNK) {
        float acc[ROW_CHUNK] = {0.0f};
        for (int i = 0; i < hs; i++) {
            const float *mi = mt + (size_t)i * ld + j0;
            float xi = x[i];
#pragma omp simd
            for (int j = 0; j < ROW_CHUNK; j++) acc[j] = MULADD(xi, mi[j], acc[j]);
        }
        int w = n - j0 < ROW_CHUNK ? n - j0 : ROW_CHUNK;
        for (int j = 0; j < w; j++) row[j0 + j] = acc[j];
    }
}

/* out[0..hs) = sum_t2 w[t2] * rows[t2][0..hs) over n rows `stride` apart,
 * summed over t2 in order. As in row_times_transposed, the sums are kept in
 * a local array (vector registers) ROW_CHUNK columns at a time; columns past
 * the last whole chunk (a head size that is not a multiple of it) are summed
 * in out itself. */
static void weighted_row_sum(float *restrict out, const float *restrict w, const float *restrict rows, size_t stride,
                             int n, int hs) {
    int i0 = 0;
    for (; i0 + ROW_CHUNK <= hs; i0 += ROW_CHUNK) {
        float acc[ROW_CHUNK] = {0.0f};
        for (int t2 = 0; t2 < n; t2++) {
            const float *r = rows + t2 * stride + i0;
            float wt = w[t2];
#pragma omp simd
            for (int j = 0; j < ROW_CHUNK; j++) acc[j] = MULADD(wt, r[j], acc[j]);
        }
        memcpy(out + i0, acc, sizeof acc);
    }
    if (i0 == hs) return;
    for (int i = i0; i < hs; i++) out[i] = 0.0f;
    for (int t2 = 0; t2 < n; t2++) {
        const float *r = rows + t2 * stride;
        for (int i = i0; i < hs; i++) out[i] = MULADD(w[t2], r[i], out[i]);
    }
}

/* the row length of a transposed head: T rounded up to whole ROW_CHUNKs */
static size_t transposed_ld(int T) { return ((size_t)T + ROW_CHUNK - 1) / ROW_CHUNK * ROW_CHUNK; }

/* Stands in for attention_forward, a whole head at a time: the scores of
 * query t against keys 0..t are row_times_transposed over the head's keys
 * (transposed once per head), where attention_query_fast would take t + 1
 * dot products of only hs = 64 terms, each ending in a sum of its lanes.
 * Then the softmax with exp_fast, and out = sum_t2 att[t2] v[t2] along hs. */
void attention_forward_fast(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    int hs = C / NH;
    size_t C3 = (size_t)3 * C;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel
    {
        size_t ld = transposed_ld(T);
        float *kt = xcalloc((size_t)hs * ld, sizeof(float), "transposed keys");
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                const float *seq = qkv + (size_t)b * T * C3 + (size_t)h * hs; /* position 0, head h */
                const float *v0 = seq + 2 * (size_t)C;
                transpose_head(kt, ld, seq + C, C3, T, hs);
                for (int t = 0; t < T; t++) {
                    float *a = att + (((size_t)b * NH + h) * T + t) * T;
                    float *o = out + ((size_t)b * T + t) * C + (size_t)h * hs;
                    int n = t + 1;
                    row_times_transposed(a, seq + t * C3, kt, n, ld, hs);
                    for (int t2 = 0; t2 < n; t2++) a[t2] *= scale;
                    float maxv = max_lanes(a, n);
                    /* subtracting the max keeps e^x from overflowing; softmax is
                     * unchanged. The e^x loop vectorises apart from the sum. */
                    for (int t2 = 0; t2 < n; t2++) a[t2] = exp_fast(a[t2] - maxv);
                    float sum = 0.0f;
                    for (int t2 = 0; t2 < n; t2++) sum += a[t2];
                    float inv = 1.0f / sum;
                    for (int t2 = 0; t2 < n; t2++) a[t2] *= inv;
                    for (int t2 = n; t2 < T; t2++) a[t2] = 0.0f;
                    weighted_row_sum(o, a, v0, C3, n, hs);
                }
            }
        }
        free(kt);
    }
}

/* Stands in for attention_backward, a whole head at a time. Going query by
 * query as attention_query_backward does, datt[t2] = dout . v[t2] is a dot
 * product of hs = 64 terms for every pair (t, t2): too short to keep vector
 * lanes busy, and each ends in adding its lanes together. Here each head's
 * values are first copied transposed, vt (hs, T), so that the row of datt
 * for query t is a sum over i of dout[i] * vt[i][0..t], vectorised along t2,
 * each element summed over i in order, as the plain loop sums it. dq is then
 * a weighted sum of key rows (weighted_row_sum), and dk[t2], dv[t2]
 * accumulate along i, hs wide. */
static void attention_head_backward(float *restrict dq0, float *restrict dk0, float *restrict dv0,
                                    float *restrict datt, const float *restrict dout0, const float *restrict q0,
                                    const float *restrict k0, const float *restrict v0, const float *restrict att,
                                    float *restrict vt, float *restrict ds, size_t stride, size_t dout_stride,
                                    int T, int hs) {
    float scale = 1.0f / sqrtf((float)hs);
    size_t ld = transposed_ld(T);
    transpose_head(vt, ld, v0, stride, T, hs);
    for (int t = 0; t < T; t++) { /* dq is written, dk and dv accumulate from zero over the queries */
        memset(dq0 + t * stride, 0, hs * sizeof(float));
        memset(dk0 + t * stride, 0, hs * sizeof(float));
        memset(dv0 + t * stride, 0, hs * sizeof(float));
    }
    for (int t = 0; t < T; t++) {
        const float *dout = dout0 + t * dout_stride, *q = q0 + t * stride, *a = att + (size_t)t * T;
        float *dq = dq0 + t * stride, *drow = datt + (size_t)t * T;
        int n = t + 1;
        row_times_transposed(drow, dout, vt, n, ld, hs);
        for (int t2 = n; t2 < T; t2++) drow[t2] = 0.0f;
        float att_datt = 0.0f; /* sum_j att[j] * datt[j] */
        for (int t2 = 0; t2 < n; t2++) att_datt += a[t2] * drow[t2];
        for (int t2 = 0; t2 < n; t2++) ds[t2] = a[t2] * (drow[t2] - att_datt) * scale;
        weighted_row_sum(dq, ds, k0, stride, n, hs); /* dq was zero: this query's alone */
        for (int t2 = 0; t2 < n; t2++) {
            float *dkt = dk0 + t2 * stride, *dvt = dv0 + t2 * stride;
            float at = a[t2], dst = ds[t2];
#pragma omp simd
            for (int i = 0; i < hs; i++) {
                dvt[i] = MULADD(at, dout[i], dvt[i]);
                dkt[i] = MULADD(dst, q[i], dkt[i]);
            }
        }
    }
}

void attention_backward_fast(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att, int B,
                             int T, int C, int NH) {
    int hs = C / NH;
    size_t C3 = (size_t)3 * C;
#pragma omp parallel
    {
        float *vt = xcalloc((size_t)hs * transposed_ld(T), sizeof(float), "transposed values");
        float *ds = xmalloc((size_t)T * sizeof(float), "score gradients");
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                size_t head = (size_t)b * T * C3 + (size_t)h * hs; /* head h at position 0 in qkv, dqkv */
                size_t rows = ((size_t)b * NH + h) * T * T;
                attention_head_backward(dqkv + head, dqkv + head + C, dqkv + head + 2 * (size_t)C, datt + rows,
                                        dout + (size_t)b * T * C + (size_t)h * hs, qkv + head, qkv + head + C,
                                        qkv + head + 2 * (size_t)C, att + rows, vt, ds, C3, C, T, hs);
            }
        }
        free(vt);
        free(ds);
    }
}

/* ------------------------------------------------------------------------ */
/* GELU, tanh approximation                                                  */

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

/* tanh u = 1 - 2 / (e^{2u} + 1), through exp_vec so the GELU loops vectorise
 * (near u = 0 the subtraction loses relative precision in tanh, but GELU
 * only uses 1 + tanh and 1 - tanh^2, whose absolute error stays ~1e-7) */
static inline float tanh_fast(float u) {
    return 1.0f - 2.0f / (exp_fast(2.0f * u) + 1.0f);
}

/* Stands in for gelu_forward, with tanh_fast for tanhf:
 * out = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3) */
void gelu_forward_fast(float *out, const float *inp, size_t N) {
#pragma omp parallel for schedule(static) if (N >= PARALLEL_MIN_FLOATS)
    for (size_t i = 0; i < N; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        out[i] = 0.5f * x * (1.0f + tanh_fast(u));
    }
}

/* Stands in for gelu_backward, with tanh_fast for tanhf:
 * d out/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2).
 * dinp is WRITTEN. */
void gelu_backward_fast(float *dinp, const float *inp, const float *dout, size_t N) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        float th = tanh_fast(u);
        float du = GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] = dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
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
            e[i + j] = exp_fast(l[i + j] - maxv);
            lanes[j] += e[i + j];
        }
    }
    double sum = 0.0;
    for (; i < n; i++) {
        e[i] = exp_fast(l[i] - maxv);
        sum += e[i];
    }
    for (int j = 0; j < LANES; j++) sum += lanes[j];
    return sum;
}

/* Stands in for crossentropy_forward, with lane maxima and sums and exp_fast.
 * losses (B,T): -log softmax(logits)[target] = logsumexp(logits) - logits[target].
 * logits (B,T,V). The numerators go to a per-thread row buffer, as the logits
 * must survive for the backward pass. */
void crossentropy_forward_fast(float *losses, const float *logits, const int *targets, int B, int T, int V) {
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

/* Stands in for crossentropy_backward, with lane sums and exp_fast.
 * For the mean loss over B*T positions:
 *   dlogits[i] = (softmax(logits)[i] - [i == target]) / (B*T).
 * IN PLACE: on entry dlogits holds the logits, on exit their gradient. The
 * (B,T,V) logits are the largest activation, so not keeping a second copy
 * matters for memory. */
void crossentropy_backward_fast(float *dlogits, const int *targets, int B, int T, int V) {
    float mean_scale = 1.0f / ((float)B * (float)T);
#pragma omp parallel for schedule(static)
    for (size_t bt = 0; bt < (size_t)B * T; bt++) {
        float *l = dlogits + bt * V;
        float maxv = max_lanes(l, V);
        double sum = softmax_numerators(l, l, V, maxv);
        float scale = (float)(1.0 / sum) * mean_scale;
#pragma omp simd
        for (int i = 0; i < V; i++) l[i] *= scale;
        l[targets[bt]] -= mean_scale;
    }
}


/* ------------------------------------------------------------------------ */
/* AdamW, with the gradient cleared as it is consumed                       */

/* Stands in for adamw_update (train.c) followed by clearing grads: the next
 * step's micro-batches accumulate into zeroed gradients, and clearing them
 * here, as each is read, saves the separate pass over all of them that
 * gpt2_zero_grad would make. The loop is memory-bound: per parameter it reads
 * params, grads, m and v and writes all four back, 32 bytes.
 * adamw_update as written divides twice and takes a square root per element,
 * more than the vector units keep up with at the speed memory delivers.
 * The bias corrections fold into two constants, since
 *   (m/bc1) / (sqrt(v/bc2) + eps) = [sqrt(bc2)/bc1] m / (sqrt(v) + eps sqrt(bc2)),
 * leaving one division and one square root. The result is the same formula
 * rounded differently: within a few float roundings of adamw_update
 * (test_ops bounds it), not bit-identical. Every element is computed alone,
 * so the split between threads cannot change a result. */
void adamw_update_fast(float *params, float *grads, float *m, float *v, size_t n, float lr, float beta1, float beta2,
                       float eps, float weight_decay, int t) {
    float root_bc2 = sqrtf(adamw_bias_correction(beta2, t));
    float step_scale = lr * root_bc2 / adamw_bias_correction(beta1, t);
    float eps_scaled = eps * root_bc2;
    float decay = lr * weight_decay;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] -= step_scale * mi / (sqrtf(vi) + eps_scaled) + decay * params[i];
        grads[i] = 0.0f;
    }
}

/* The model's table (gpt2.h GPT2Ops): every op that has a twin here. */
const GPT2Ops GPT2_FAST_OPS = {
    .name = "fast",
    .matmul_forward = matmul_forward_fast,
    .matmul_backward = matmul_backward_fast,
    .attention_query = attention_query_fast,
    .attention_forward = attention_forward_fast,
    .attention_backward = attention_backward_fast,
    .gelu_forward = gelu_forward_fast,
    .gelu_backward = gelu_backward_fast,
    .crossentropy_forward = crossentropy_forward_fast,
    .crossentropy_backward = crossentropy_backward_fast,
};
