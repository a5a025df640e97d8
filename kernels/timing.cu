/*
 * timing.cu: how long a training step takes on the GPU, and where it goes.
 *
 * Kernel launches return at once and the GPU runs them later, in order, so a
 * host clock read right after a call measures nothing. Two tools here:
 *
 *   step times   gpu_step_begin and gpu_step_end wait for the GPU
 *                (cudaDeviceSynchronize) and read the host clock, so the time
 *                between them is the step's, all of it: the host's work
 *                (the next batch, the token buckets) and the GPU's.
 *                train_gpu brackets each optimizer step with them, so start-up,
 *                evaluation and checkpoints are never counted, and
 *                gpu_print_step_times reports the steady state: the median
 *                over the steps after the first few (cuBLAS picks its kernels
 *                and the caches fill during those).
 *   op profile   in the profiled step, every op the driver calls (gpt2_gpu.cu
 *                wraps each call in OP) is bracketed by two CUDA events: the
 *                GPU stamps an event when it reaches it in the stream, so the
 *                time between an op's two events is the time the GPU spent on
 *                that op's kernels. The table adds up the calls of each op.
 *                What is left of the step (events around the whole step) is
 *                the host's share and the gaps between launches.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"
#include "gpt2_gpu.h"
#include "kernels.h"

/* ---- step times ---- */

static double step_started;
static double *step_ms;  /* every step's time, in order */
static int steps_done, steps_cap;
static int profiled_step; /* 1-based; 0 = none */

/* ---- the op profile ---- */

typedef struct {
    char name[64];      /* "matmul_forward qkv" */
    cudaEvent_t start, end;
} OpCall;

static OpCall *calls;      /* the profiled step's op calls, in order */
static int ncalls, calls_cap;
static int profiling;      /* inside the profiled step */
static cudaEvent_t profile_start, profile_end;

/* realloc that never returns NULL (common.h has no xrealloc) */
static void *grow(void *p, size_t bytes, const char *what) {
    void *q = realloc(p, bytes);
    if (!q) die("cannot allocate %zu bytes for %s", bytes, what);
    return q;
}

static cudaEvent_t new_event(void) {
    cudaEvent_t e;
    CUDA_CHECK(cudaEventCreate(&e));
    return e;
}

/* "matmul_forward_gpu(x.qkv, ...)" and "qkv" -> "matmul_forward qkv": the
 * name of the function called (the identifier before the first parenthesis),
 * without _gpu, then the label */
static void op_name(char *dst, size_t cap, const char *call, const char *label) {
    size_t end = strcspn(call, "("), start = end;
    while (start > 0 && (isalnum((unsigned char)call[start - 1]) || call[start - 1] == '_')) start--;
    if (end - start > 4 && !strncmp(call + end - 4, "_gpu", 4)) end -= 4;
    snprintf(dst, cap, "%.*s%s%s", (int)(end - start), call + start, label[0] ? " " : "", label);
}

void profile_op_begin(const char *call, const char *label) {
    if (!profiling) return;
    if (ncalls == calls_cap) {
        int cap = calls_cap ? 2 * calls_cap : 256;
        calls = (OpCall *)grow(calls, (size_t)cap * sizeof(OpCall), "op profile");
        for (int i = calls_cap; i < cap; i++) {
            calls[i].start = new_event();
            calls[i].end = new_event();
        }
        calls_cap = cap;
    }
    OpCall *c = &calls[ncalls];
    op_name(c->name, sizeof c->name, call, label);
    CUDA_CHECK(cudaEventRecord(c->start, 0));
}

void profile_op_end(void) {
    if (!profiling) return;
    CUDA_CHECK(cudaEventRecord(calls[ncalls].end, 0));
    ncalls++;
}

static float elapsed_ms(cudaEvent_t a, cudaEvent_t b) {
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    return ms;
}

/* One row per op name, in the order of first appearance: calls, total ms, share. */
static void print_profile(int step) {
    double step_total = elapsed_ms(profile_start, profile_end), ops_total = 0.0;
    printf("\nper-op profile of step %d (kernels %s, CUDA events)\n", step, gpu_kernels_name());
    printf("| op | calls | ms | %% of step |\n|---|---:|---:|---:|\n");
    int *done = (int *)xcalloc((size_t)ncalls + 1, sizeof(int), "op profile");
    for (int i = 0; i < ncalls; i++) {
        if (done[i]) continue;
        int count = 0;
        double ms = 0.0;
        for (int j = i; j < ncalls; j++) {
            if (done[j] || strcmp(calls[j].name, calls[i].name)) continue;
            done[j] = 1;
            count++;
            ms += elapsed_ms(calls[j].start, calls[j].end);
        }
        ops_total += ms;
        printf("| %s | %d | %.3f | %.1f |\n", calls[i].name, count, ms, 100.0 * ms / step_total);
    }
    free(done);
    printf("| (host work and launch gaps) | | %.3f | %.1f |\n", step_total - ops_total,
           100.0 * (step_total - ops_total) / step_total);
    printf("| step | | %.3f | 100.0 |\n\n", step_total);
    fflush(stdout);
}

/* ---- the API (gpt2_gpu.h) ---- */

void gpu_profile_step(int step) { profiled_step = step; }

void gpu_step_begin(void) {
    CUDA_CHECK(cudaDeviceSynchronize());
    step_started = now_seconds();
    if (steps_done + 1 == profiled_step) {
        if (!profile_start) {
            profile_start = new_event();
            profile_end = new_event();
        }
        ncalls = 0;
        profiling = 1;
        CUDA_CHECK(cudaEventRecord(profile_start, 0));
    }
}

void gpu_step_end(void) {
    if (profiling) CUDA_CHECK(cudaEventRecord(profile_end, 0));
    CUDA_CHECK(cudaDeviceSynchronize());
    double ms = (now_seconds() - step_started) * 1e3;
    if (steps_done == steps_cap) {
        steps_cap = steps_cap ? 2 * steps_cap : 64;
        step_ms = (double *)grow(step_ms, (size_t)steps_cap * sizeof(double), "step times");
    }
    step_ms[steps_done++] = ms;
    if (profiling) {
        profiling = 0;
        print_profile(steps_done);
    }
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void gpu_print_step_times(int warmup, double tokens_per_step) {
    double *t = (double *)xmalloc(((size_t)steps_done + 1) * sizeof(double), "step times");
    int n = 0;
    for (int s = warmup; s < steps_done; s++)
        if (s + 1 != profiled_step) t[n++] = step_ms[s];
    if (n == 0) {
        printf("step time: no steady-state steps to report (%d steps, the first %d left out%s)\n", steps_done,
               warmup, profiled_step ? " and the profiled one" : "");
    } else {
        qsort(t, (size_t)n, sizeof(double), by_value);
        double median = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
        printf("step time (kernels %s): median %.2f ms over %d steady-state steps (min %.2f, max %.2f; the first "
               "%d%s left out), %.0f tokens/s\n",
               gpu_kernels_name(), median, n, t[0], t[n - 1], warmup, profiled_step ? " and the profiled one" : "",
               tokens_per_step / (median * 1e-3));
    }
    free(t);
    fflush(stdout);
}
