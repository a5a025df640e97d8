/*
 * bench: how fast the CPU model trains and generates, and how much memory it
 * needs. Random weights, so nothing is downloaded or read.
 *
 *   ./bench [--steps N]      (make bench; OMP_NUM_THREADS sets the threads)
 *
 * For GPT-2 124M (maxT 1024, V 50257, L 12, NH 12, C 768) at B=4, T=64:
 * the median train step (forward + backward + AdamW, which leaves the
 * gradients zero for the next step, as in ./train) and forward
 * alone over N steps after a warm-up, the achieved GFLOP/s (6 x parameters x
 * B x T per train step: 2 for the forward products, 4 for the two backward
 * ones; 2 x parameters x B x T per forward), a per-op table of where the step
 * goes, the peak resident memory of training, and the costs of generation:
 * one token's matrix products, a generated token and a step of 4 samples
 * decoded together (each the fastest of 4 passes of 128, the two kinds of
 * pass alternating). Then the step figures for the `make demo` model.
 *
 * Every speed is also printed as a fraction of this machine's own limit,
 * measured at the start of the same run (engineering.md, "Performance on the
 * CPU"): the FMA peak (every thread running independent fused multiply-add
 * chains) for the matrix products and the train step, the streaming read
 * bandwidth (every thread summing a buffer far larger than the caches) for
 * AdamW and generation, whose floor is the weight bytes read per token over
 * that bandwidth. On a shared machine the absolute figures move with the
 * other jobs, but a limit and a speed measured minutes apart move together,
 * so their ratio is the figure to compare. Three lines are machine readable,
 * the last one the main one:
 *   bench-demo: train_step_ms=X fwd_ms=Y train_gflops=Z
 *   bench: matvec_ms_per_token=X samples4_ms_per_step=Y
 *   bench: train_step_ms=X fwd_ms=Y train_gflops=Z gen_ms_per_token=W peak_rss_mib=M threads=N
 *          bandwidth_gbs=B fma_peak_gflops=P gen_floor_ms=F   (one line)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common.h"
#include "generation.h"
#include "gpt2.h"
#include "train.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

/* The model `make demo` trains, and its batch: the one place to change them. */
static const GPT2Config DEMO_CONFIG = {.maxT = 128, .V = 50257, .Vp = 50304, .L = 4, .NH = 4, .C = 128};
enum { DEMO_B = 8, DEMO_T = 64 }; /* keep in step with tools/demo.sh */

static const GPT2Config GPT2_124M = {.maxT = 1024, .V = 50257, .Vp = 50304, .L = 12, .NH = 12, .C = 768};
enum { BENCH_B = 4, BENCH_T = 64 };

enum { GEN_PROMPT = 16, GEN_NEW = 128 }; /* generation: B=1, a 16-token prompt, 128 new tokens */
/* generation is timed as the fastest of GEN_PASSES passes, at B=1 and for
 * GEN_SAMPLES sequences at once (what `./generate --samples 4` runs) */
enum { GEN_PASSES = 4, GEN_SAMPLES = 4 };
_Static_assert(GEN_SAMPLES <= GENERATE_MAX_SAMPLES, "bench's samples must fit one batched step");
enum { OP_REPS = 7 };                   /* each op in the per-op table: the fastest (and median) of 7 calls */
enum { LIMIT_REPS = 7 };                /* each limit: the best of 7 measurements */

/* AdamW (train.c's adamw_step, which consumes the gradient) reads a
 * parameter, its gradient, m and v, and writes back the parameter, m, v and
 * the cleared gradient: 4 + 4 + 4 + 4 read, 4 + 4 + 4 + 4 written. Lines that
 * are read before they are written cost no extra read. */
enum { ADAMW_BYTES_PER_PARAM = 32 };

/* a fixed random stream, so every run benches the same numbers */
static Rng rng = {0x9E3779B97F4A7C15ull};
static uint32_t rand_u32(void) { return rng_u32(&rng); }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double peak_rss_mb(void) {
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0) die("getrusage failed");
    return (double)u.ru_maxrss / 1024.0; /* Linux reports kilobytes */
}

typedef struct {
    double step_ms, fwd_ms, step_gflops, fwd_gflops;
    double step_min_ms, step_max_ms; /* the spread: on a shared machine, other jobs show here */
} StepTimes;

/* One warm-up step, then `steps` timed train steps and `steps` forwards. */
static StepTimes time_steps(GPT2 *m, const int *x, const int *y, int B, int T, int steps) {
    AdamWConfig opt = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
    double *t = xmalloc((size_t)steps * sizeof(double), "timings");
    for (int s = 0; s <= steps; s++) {
        double t0 = now_seconds();
        gpt2_forward(m, x, y, B, T);
        gpt2_backward(m);
        adamw_step(m, &opt, s + 1);
        if (s > 0) t[s - 1] = (now_seconds() - t0) * 1e3;
    }
    StepTimes r;
    r.step_ms = median(t, steps); /* sorts t */
    r.step_min_ms = t[0];
    r.step_max_ms = t[steps - 1];
    for (int s = 0; s < steps; s++) {
        double t0 = now_seconds();
        gpt2_forward(m, x, y, B, T);
        t[s] = (now_seconds() - t0) * 1e3;
    }
    r.fwd_ms = median(t, steps);
    double flops_fwd = 2.0 * (double)m->num_parameters * B * T;
    r.step_gflops = 3.0 * flops_fwd / (r.step_ms * 1e6);
    r.fwd_gflops = flops_fwd / (r.fwd_ms * 1e6);
    free(t);
    return r;
}

/* ---- the machine's limits ---- */

typedef struct {
    double best, median; /* the same figure, best and median over LIMIT_REPS tries */
} Measured;

static Measured best_and_median(double *v, int n, int higher_is_better) {
    Measured r;
    r.median = median(v, n); /* sorts v */
    r.best = higher_is_better ? v[n - 1] : v[0];
    return r;
}

/* The FMA peak in GFLOP/s: every thread runs FMA_CHAINS independent chains
 * x = x * m + a of fused multiply-adds on full vectors. A chain waits for its
 * previous result (4 cycles on recent x86), and each core starts one or two
 * FMAs a cycle, so it takes about 8 chains in flight to keep the units busy;
 * 12 leave a margin. Each chain starts from a different value: with equal
 * starts the compiler sees equal chains, computes one and copies it, and the
 * figure comes out 12x too high. (Check: 2 flops x lanes x FMAs per cycle x
 * GHz x cores. On AVX-512 Zen 4, one 16-lane FMA a cycle: ~115 GFLOP/s per
 * core at 3.6 GHz.) */
enum { FMA_CHAINS = 12 };
#if defined(__AVX512F__)
typedef __m512 fvec;
#define FVEC_LANES 16
#define fvec_set1 _mm512_set1_ps
#define fvec_fma _mm512_fmadd_ps
#define fvec_sum _mm512_reduce_add_ps
#elif defined(__FMA__)
typedef __m256 fvec;
#define FVEC_LANES 8
#define fvec_set1 _mm256_set1_ps
#define fvec_fma _mm256_fmadd_ps
static float fvec_sum(fvec x) {
    float l[8];
    _mm256_storeu_ps(l, x);
    return l[0] + l[1] + l[2] + l[3] + l[4] + l[5] + l[6] + l[7];
}
#else
typedef float fvec; /* no vector FMA known at compile time: a scalar peak */
#define FVEC_LANES 1
#define fvec_set1(x) (x)
#define fvec_fma fmaf
#define fvec_sum(x) (x)
#endif

/* one thread's share: iters rounds of FMA_CHAINS FMAs; returns a sum of the
 * results, so the compiler cannot drop the work */
static float fma_chains(long iters, int seed) {
    fvec x[FMA_CHAINS];
    fvec mul = fvec_set1(0.9999999f), add = fvec_set1(1e-7f);
    for (int c = 0; c < FMA_CHAINS; c++) x[c] = fvec_set1(1.0f + 0.01f * (float)(c + FMA_CHAINS * seed));
    for (long i = 0; i < iters; i++)
        for (int c = 0; c < FMA_CHAINS; c++) x[c] = fvec_fma(x[c], mul, add);
    float sum = 0.0f;
    for (int c = 0; c < FMA_CHAINS; c++) sum += fvec_sum(x[c]);
    return sum;
}

static Measured measure_fma_peak(int threads) {
    const long iters = 20000000; /* ~0.1 s a try at one FMA a cycle */
    double gflops[LIMIT_REPS];
    volatile float sink = 0.0f;
    for (int r = 0; r < LIMIT_REPS; r++) {
        float sum = 0.0f;
        double t0 = now_seconds();
#pragma omp parallel reduction(+ : sum)
        {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            sum += fma_chains(iters, tid);
        }
        double seconds = now_seconds() - t0;
        sink += sum;
        gflops[r] = 2.0 * FVEC_LANES * FMA_CHAINS * (double)iters * threads / seconds / 1e9;
    }
    (void)sink;
    return best_and_median(gflops, LIMIT_REPS, 1);
}

/* Streaming read bandwidth in GB/s: all threads sum a buffer of 512 MiB, far
 * larger than any cache. The buffer is cut into BW_STREAMS parts, and each
 * thread reads its share of every part side by side: BW_STREAMS streams per
 * thread, as the matrix-vector products read 4 weight rows at once. One
 * stream per thread measured a quarter less on Zen 5 (33-34 against 40-44
 * GB/s): a single stream leaves the core too few cache misses in flight,
 * and AdamW, with 8 streams, moved more bytes a second than that "limit".
 * 64 partial sums per thread, 16 per part: the adds vectorise, and four run
 * at once. (The pages are first touched by the threads that read them.) */
enum { BW_STREAMS = 4 };
static Measured measure_bandwidth(void) {
    const size_t n = (size_t)128 << 20; /* floats: 512 MiB */
    const size_t part = n / BW_STREAMS;
    float *buf = xmalloc(n * sizeof(float), "bandwidth buffer");
#pragma omp parallel for schedule(static)
    for (size_t i0 = 0; i0 < part; i0 += 4096)
        for (int s = 0; s < BW_STREAMS; s++)
            for (size_t i = i0; i < i0 + 4096; i++) buf[s * part + i] = (float)(i & 1023);
    double gbs[LIMIT_REPS];
    volatile float sink = 0.0f;
    for (int r = 0; r < LIMIT_REPS; r++) {
        float total = 0.0f;
        double t0 = now_seconds();
#pragma omp parallel for schedule(static) reduction(+ : total)
        for (size_t i0 = 0; i0 < part; i0 += 4096) {
            float lanes[BW_STREAMS][16] = {{0.0f}};
            for (size_t i = i0; i < i0 + 4096; i += 16)
                for (int s = 0; s < BW_STREAMS; s++)
                    for (int j = 0; j < 16; j++) lanes[s][j] += buf[s * part + i + j];
            for (int s = 0; s < BW_STREAMS; s++)
                for (int j = 0; j < 16; j++) total += lanes[s][j];
        }
        double seconds = now_seconds() - t0;
        sink += total;
        gbs[r] = (double)(n * sizeof(float)) / seconds / 1e9;
    }
    (void)sink;
    free(buf);
    return best_and_median(gbs, LIMIT_REPS, 1);
}

/* ---- where the time goes: every op once at the model's shapes ---- */

/* times `stmt` reps times: dst (ms) is the fastest, dst##_median the median */
#define TIME_OP(dst, stmt) TIME_OP_REPS(dst, OP_REPS, stmt)
#define TIME_OP_REPS(dst, reps, stmt)                                         \
    do {                                                                      \
        double t_[OP_REPS];                                                   \
        for (int r_ = 0; r_ < (reps); r_++) {                                 \
            double t0_ = now_seconds();                                       \
            stmt;                                                             \
            t_[r_] = (now_seconds() - t0_) * 1e3;                             \
        }                                                                     \
        dst##_median = median(t_, (reps)); /* sorts t_ */                     \
        dst = t_[0];                                                          \
    } while (0)

typedef struct {
    const char *name;
    double ms;    /* per train step: one call's time times the calls per step (the fastest call) */
    double median_ms; /* the same from the median call */
    double flops; /* per train step, 0 where not counted */
    double ref_ms; /* the same through gpt2.c's plain loop, where the op has a fast twin; else 0 */
} OpRow;

/* An op with a fast twin: times `call` through the model's table (fastops.c
 * in the default build) and once through gpt2.c's plain loops, which are
 * too slow at these sizes for repeats. */
#define TIME_TWIN(row, calls, flops_, call)                                   \
    do {                                                                      \
        const GPT2Ops *op = m->ops;                                           \
        TIME_OP(ms, op->call);                                                \
        row.ms = ms * (calls);                                                \
        row.median_ms = ms_median * (calls);                                  \
        row.flops = (flops_);                                                 \
        row.ref_ms = 0;                                                       \
        if (compare_reference) {                                              \
            op = &GPT2_REFERENCE_OPS;                                         \
            TIME_OP_REPS(ms, 1, op->call);                                    \
            row.ref_ms = ms * (calls);                                        \
        }                                                                     \
    } while (0)

/* Calls each op on layer 0's buffers and scales by how often a train step
 * calls it. Run after time_steps: it overwrites activations and gradients. */
static int profile_ops(GPT2 *m, int B, int T, OpRow *rows) {
    int compare_reference = m->ops != &GPT2_REFERENCE_OPS;
    const GPT2Config *c = &m->config;
    int C = c->C, NH = c->NH, L = c->L, V = c->V;
    size_t BT = (size_t)B * T, BTC = BT * C;
    ParameterTensors p = m->params, g = m->grads;
    ActivationTensors a = m->acts;
    BackwardScratch s = m->scratch;
    AdamWConfig opt = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
    struct {
        const char *name;
        int in, out;
        const float *w, *bias;
        float *dw, *dbias, *x, *y, *dx, *dy;
    } mm[5] = {
        {"qkv", C, 3 * C, p.qkvw, p.qkvb, g.qkvw, g.qkvb, a.ln1, a.qkv, s.dln, s.dqkv},
        {"attproj", C, C, p.attprojw, p.attprojb, g.attprojw, g.attprojb, a.atty, a.attproj, s.datty, s.dresidual},
        {"fc", C, 4 * C, p.fcw, p.fcb, g.fcw, g.fcb, a.ln2, a.fch, s.dln, s.dfch},
        {"fcproj", 4 * C, C, p.fcprojw, p.fcprojb, g.fcprojw, g.fcprojb, a.fch_gelu, a.fcproj, s.dfch_gelu,
         s.dresidual},
        {"logits", C, V, p.wte, NULL, g.wte, NULL, a.lnf, a.logits, s.dln, a.logits},
    };
    static char names[10][40];
    int n = 0;
    double ms, ms_median;
    for (int i = 0; i < 5; i++) {
        int calls = i == 4 ? 1 : L;
        double flops = 2.0 * BT * mm[i].in * mm[i].out * calls;
        snprintf(names[2 * i], sizeof(names[0]), "matmul_forward %s", mm[i].name);
        rows[n].name = names[2 * i];
        TIME_TWIN(rows[n], calls, flops,
                  matmul_forward(mm[i].y, mm[i].x, mm[i].w, mm[i].bias, B, T, mm[i].in, mm[i].out));
        n++;
        snprintf(names[2 * i + 1], sizeof(names[0]), "matmul_backward %s", mm[i].name);
        rows[n].name = names[2 * i + 1];
        TIME_TWIN(rows[n], calls, 2 * flops,
                  matmul_backward(mm[i].dx, mm[i].dw, mm[i].dbias, mm[i].dy, mm[i].x, mm[i].w, B, T, mm[i].in,
                                  mm[i].out));
        n++;
    }
    rows[n].name = "attention_forward";
    TIME_TWIN(rows[n], L, 0, attention_forward(a.atty, a.att, a.qkv, B, T, C, NH));
    n++;
    rows[n].name = "attention_backward";
    TIME_TWIN(rows[n], L, 0, attention_backward(s.dqkv, s.datt, s.datty, a.qkv, a.att, B, T, C, NH));
    n++;
    TIME_OP(ms, layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, a.encoded, p.ln1w, p.ln1b, B, T, C));
    rows[n++] = (OpRow){"layernorm_forward", ms * (2 * L + 1), ms_median * (2 * L + 1), 0, 0};
    TIME_OP(ms, layernorm_backward(s.dresidual, g.ln1w, g.ln1b, s.dln, a.encoded, p.ln1w, a.ln1_mean, a.ln1_rstd,
                                   B, T, C));
    rows[n++] = (OpRow){"layernorm_backward", ms * (2 * L + 1), ms_median * (2 * L + 1), 0, 0};
    rows[n].name = "gelu_forward";
    TIME_TWIN(rows[n], L, 0, gelu_forward(a.fch_gelu, a.fch, 4 * BTC));
    n++;
    rows[n].name = "gelu_backward";
    TIME_TWIN(rows[n], L, 0, gelu_backward(s.dfch, a.fch, s.dfch_gelu, 4 * BTC));
    n++;
    TIME_OP(ms, residual_forward(a.residual2, a.encoded, a.attproj, BTC));
    rows[n++] = (OpRow){"residual_forward", ms * 2 * L, ms_median * 2 * L, 0, 0};
    TIME_OP(ms, encoder_forward(a.encoded, m->inputs, p.wte, p.wpe, B, T, C));
    rows[n++] = (OpRow){"encoder_forward", ms, ms_median, 0, 0};
    TIME_OP(ms, encoder_backward(g.wte, g.wpe, s.dresidual, m->inputs, B, T, C));
    rows[n++] = (OpRow){"encoder_backward", ms, ms_median, 0, 0};
    rows[n].name = "crossentropy_forward";
    TIME_TWIN(rows[n], 1, 0, crossentropy_forward(a.losses, a.logits, m->targets, B, T, V));
    n++;
    rows[n].name = "crossentropy_backward";
    TIME_TWIN(rows[n], 1, 0, crossentropy_backward(a.logits, m->targets, B, T, V));
    n++;
    TIME_OP(ms, adamw_step(m, &opt, 100));
    rows[n++] = (OpRow){"adamw (adamw_step)", ms, ms_median, 0, 0};
    return n;
}

/* The per-op table; each matmul row also as a fraction of the FMA peak
 * (fastest call, then median call), and AdamW against the bandwidth. */
static void print_profile(const OpRow *rows, int n, double step_ms, size_t num_parameters, double peak_gflops,
                          double bandwidth_gbs) {
    double total = 0.0, ref_total = 0.0, twin_total = 0.0;
    printf("\n| op (124M, B=%d, T=%d, per train step) | ms (fastest) | ms (median) | %% of step | GFLOP/s | "
           "%% of FMA peak (fastest, median) | gpt2.c's plain loops, ms | speedup |\n", BENCH_B, BENCH_T);
    printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++) {
        const OpRow *r = &rows[i];
        total += r->ms;
        printf("| %s | %.1f | %.1f | %.1f |", r->name, r->ms, r->median_ms, 100.0 * r->ms / step_ms);
        if (r->flops > 0) {
            double best = r->flops / (r->ms * 1e6), med = r->flops / (r->median_ms * 1e6);
            printf(" %.0f | %.0f%%, %.0f%% |", best, 100.0 * best / peak_gflops, 100.0 * med / peak_gflops);
        } else {
            printf(" | |");
        }
        if (r->ref_ms > 0) {
            printf(" %.1f | %.1fx |\n", r->ref_ms, r->ref_ms / r->ms);
            ref_total += r->ref_ms;
            twin_total += r->ms;
        } else {
            printf(" | |\n");
        }
    }
    double adamw_ms = rows[n - 1].ms;
    printf("| sum of the ops | %.1f | | %.1f | | |", total, 100.0 * total / step_ms);
    if (ref_total > 0) printf(" %.1f | %.1fx |\n", ref_total + total - twin_total, (ref_total + total - twin_total) / total);
    else printf(" | |\n");
    double adamw_gbs = (double)ADAMW_BYTES_PER_PARAM * num_parameters / (adamw_ms * 1e6);
    printf("(AdamW moves %d bytes per parameter: %.1f GB/s, %.0f%% of the streaming bandwidth)\n\n",
           ADAMW_BYTES_PER_PARAM, adamw_gbs, 100.0 * adamw_gbs / bandwidth_gbs);
}

/* ---- generation ---- */

/* Every matmul of one generated token, B=T=1 through matmul_forward: the
 * four of each layer and the logits. Each weight is used once, so this is
 * the memory-bound floor of generation. Median over 10 tokens. */
static double time_matvec(GPT2 *m) {
    const GPT2Config *c = &m->config;
    int C = c->C;
    size_t lC = (size_t)C;
    const GPT2Ops *op = m->ops;
    ParameterTensors p = m->params;
    float *x = m->acts.fch_gelu, *out = m->acts.logits; /* >= 4C and >= V floats */
    for (int i = 0; i < 4 * C; i++) x[i] = rng_uniform(&rng) - 0.5f;
    double t[10];
    for (int r = -1; r < 10; r++) {
        double t0 = now_seconds();
        for (int l = 0; l < c->L; l++) {
            op->matmul_forward(out, x, p.qkvw + 3 * l * lC * C, p.qkvb + 3 * l * lC, 1, 1, C, 3 * C);
            op->matmul_forward(out, x, p.attprojw + l * lC * C, p.attprojb + l * lC, 1, 1, C, C);
            op->matmul_forward(out, x, p.fcw + 4 * l * lC * C, p.fcb + 4 * l * lC, 1, 1, C, 4 * C);
            op->matmul_forward(out, x, p.fcprojw + 4 * l * lC * C, p.fcprojb + l * lC, 1, 1, 4 * C, C);
        }
        op->matmul_forward(out, x, p.wte, NULL, 1, 1, C, c->V);
        if (r >= 0) t[r] = (now_seconds() - t0) * 1e3;
    }
    return median(t, 10);
}

/* One pass of greedy generation with the KV cache for N sequences decoded
 * together: a 16-token prompt, then 128 new tokens, each one forward step of
 * all N. Returns ms per step. Sampling is greedy (an argmax per sequence), so
 * this times the model; `./generate` adds its sampling (about 0.3 ms per
 * sample, the samples' draws shared among the threads). */
static double generation_pass(GPT2 *m, int N) {
    const int V = m->config.V;
    int tokens[GENERATE_MAX_SAMPLES];
    const float *logits = NULL;
    for (int pos = 0; pos < GEN_PROMPT; pos++) {
        int token = (int)(rand_u32() % (uint32_t)V);
        for (int n = 0; n < N; n++) tokens[n] = token; /* one prompt for all, as --samples */
        logits = gpt2_forward_step_batch(m, tokens, N, pos);
    }
    double t0 = now_seconds();
    for (int pos = GEN_PROMPT; pos < GEN_PROMPT + GEN_NEW; pos++) {
        for (int n = 0; n < N; n++) /* greedy: temperature 0 needs no scratch and no coin */
            tokens[n] = sample_token(logits + (size_t)n * V, V, 0.0f, 0, 1.0f, 0.0f, NULL);
        logits = gpt2_forward_step_batch(m, tokens, N, pos);
    }
    return (now_seconds() - t0) * 1e3 / GEN_NEW;
}

/* Generation at B=1 (*one_ms, ms per token) and with GEN_SAMPLES sequences
 * at once (*samples_ms, ms per step), each the fastest of GEN_PASSES passes:
 * like the limits it is compared with (their best of LIMIT_REPS), the least
 * disturbed pass on a shared machine. The two kinds of pass alternate, so
 * that both see the same spells of other jobs' load. */
static void time_generation(GPT2 *m, double *one_ms, double *samples_ms) {
    gpt2_kv_alloc_batch(m, GEN_SAMPLES, GEN_PROMPT + GEN_NEW); /* a step may run fewer sequences */
    for (int pass = 0; pass < GEN_PASSES; pass++) {
        double one = generation_pass(m, 1), several = generation_pass(m, GEN_SAMPLES);
        if (pass == 0 || one < *one_ms) *one_ms = one;
        if (pass == 0 || several < *samples_ms) *samples_ms = several;
    }
}

/* ---- main ---- */

static GPT2 *make_model(const GPT2Config *c, int B, int T, int **x, int **y) {
    GPT2 *m = xmalloc(sizeof(GPT2), "model");
    gpt2_init_random(m, c, 1337);
    gpt2_alloc(m, B, T);
    *x = xmalloc((size_t)B * T * sizeof(int), "inputs");
    *y = xmalloc((size_t)B * T * sizeof(int), "targets");
    for (int i = 0; i < B * T; i++) {
        (*x)[i] = (int)(rand_u32() % (uint32_t)c->V);
        (*y)[i] = (int)(rand_u32() % (uint32_t)c->V);
    }
    return m;
}

static void free_model(GPT2 *m, int *x, int *y) {
    gpt2_free(m);
    free(m);
    free(x);
    free(y);
}

int main(int argc, char **argv) {
    int steps = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = (int)parse_long(argv[++i], "--steps", 1, 1000);
        else die_usage("usage: bench [--steps N]   (timed steps after one warm-up, default 5)");
    }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("bench: %d threads, median of %d steps after 1 warm-up, ops: %s\n", threads, steps, gpt2_default_ops()->name);

    int *x, *y;
    GPT2 *m = make_model(&GPT2_124M, BENCH_B, BENCH_T, &x, &y);
    printf("GPT-2 124M: %zu parameters, B=%d T=%d\n", m->num_parameters, BENCH_B, BENCH_T);
    StepTimes big = time_steps(m, x, y, BENCH_B, BENCH_T, steps);
    double rss = peak_rss_mb(); /* params, grads, AdamW m and v, activations */
    printf("train step %.1f ms (%.1f GFLOP/s; steps ranged %.1f..%.1f ms), forward %.1f ms (%.1f GFLOP/s), "
           "peak RSS %.0f MiB\n",
           big.step_ms, big.step_gflops, big.step_min_ms, big.step_max_ms, big.fwd_ms, big.fwd_gflops, rss);

    /* the limits, measured after the peak RSS is read (the bandwidth buffer
     * is not the model's memory) and before the ops are timed against them */
    Measured peak = measure_fma_peak(threads), bw = measure_bandwidth();
    printf("\nthis machine's limits, best and median of %d tries (on a shared machine the best is the least "
           "disturbed):\n", LIMIT_REPS);
    printf("  FMA peak (%d threads x %d chains of %d-lane FMAs): %.1f GFLOP/s best, %.1f median\n", threads,
           FMA_CHAINS, FVEC_LANES, peak.best, peak.median);
    printf("  streaming read bandwidth (%d threads x %d streams, 512 MiB): %.1f GB/s best, %.1f median\n", threads,
           BW_STREAMS, bw.best, bw.median);
    printf("train step: %.0f%% of the FMA peak (%.1f of %.1f GFLOP/s; every flop counted is a matmul's)\n",
           100.0 * big.step_gflops / peak.best, big.step_gflops, peak.best);

    OpRow rows[32];
    int nrows = profile_ops(m, BENCH_B, BENCH_T, rows);
    print_profile(rows, nrows, big.step_ms, m->num_parameters, peak.best, bw.best);

    /* one token reads every weight once, but only one row of wpe */
    double weight_bytes = 4.0 * (double)(m->num_parameters - m->param_sizes[1]);
    double gen_floor_ms = weight_bytes / (bw.best * 1e6);
    double matvec_ms = time_matvec(m);
    printf("one token's matmuls at B=T=1 (all layers + logits): %.1f ms (%.1f GB/s of weights, %.0f%% of the "
           "bandwidth)\n", matvec_ms, weight_bytes / (matvec_ms * 1e6), 100.0 * gen_floor_ms / matvec_ms);
    double gen_ms = 0.0, samples_ms = 0.0;
    time_generation(m, &gen_ms, &samples_ms);
    char gen[32] = "NA";
    snprintf(gen, sizeof(gen), "%.1f", gen_ms);
    printf("generation with the KV cache: %s ms per token (B=1, %d-token prompt, %d new, fastest of %d passes); "
           "its floor, %.0f MB of weights at %.1f GB/s: %.1f ms, so %.2fx the floor\n", gen, GEN_PROMPT, GEN_NEW,
           GEN_PASSES, weight_bytes / 1e6, bw.best, gen_floor_ms, gen_ms / gen_floor_ms);
    printf("%d samples decoded together: %.1f ms per step, %.2fx one sample's\n", GEN_SAMPLES, samples_ms,
           samples_ms / gen_ms);
    free_model(m, x, y);

    m = make_model(&DEMO_CONFIG, DEMO_B, DEMO_T, &x, &y);
    printf("\ndemo model (L=%d NH=%d C=%d maxT=%d V=%d): %zu parameters, B=%d T=%d\n", DEMO_CONFIG.L,
           DEMO_CONFIG.NH, DEMO_CONFIG.C, DEMO_CONFIG.maxT, DEMO_CONFIG.V, m->num_parameters, DEMO_B, DEMO_T);
    StepTimes demo = time_steps(m, x, y, DEMO_B, DEMO_T, steps);
    printf("train step %.1f ms (%.1f GFLOP/s; steps ranged %.1f..%.1f ms), forward %.1f ms (%.1f GFLOP/s)\n",
           demo.step_ms, demo.step_gflops, demo.step_min_ms, demo.step_max_ms, demo.fwd_ms, demo.fwd_gflops);
    free_model(m, x, y);

    printf("bench-demo: train_step_ms=%.1f fwd_ms=%.1f train_gflops=%.1f\n", demo.step_ms, demo.fwd_ms,
           demo.step_gflops);
    printf("bench: matvec_ms_per_token=%.1f samples4_ms_per_step=%.1f\n", matvec_ms, samples_ms);
    printf("bench: train_step_ms=%.1f fwd_ms=%.1f train_gflops=%.1f gen_ms_per_token=%s peak_rss_mib=%.0f threads=%d "
           "bandwidth_gbs=%.1f fma_peak_gflops=%.1f gen_floor_ms=%.1f\n",
           big.step_ms, big.fwd_ms, big.step_gflops, gen, rss, threads, bw.best, peak.best, gen_floor_ms);
    return 0;
}
