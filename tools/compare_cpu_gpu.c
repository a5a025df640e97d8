/*
 * compare_cpu_gpu: the same batch through the CPU model (gpt2.c) and the GPU
 * model (kernels/gpt2_gpu.cu), layer by layer.
 *
 *   ./compare_cpu_gpu MODEL [STATE] [--steps N] [-b B] [-t T] [--kernels fast|readable] [--tf32]
 *   ./compare_cpu_gpu random [--layers L] [--heads NH] [--channels C] [--context T]
 *                            [--vocab V] [--steps N] [-b B] [-t T] [--kernels ...] [--tf32]
 *
 * Prints, for every activation of every layer, the max abs difference and that
 * difference relative to the CPU tensor's max abs value; then the logits and
 * the loss; then every gradient tensor; then checks that a second GPU run gives
 * the same bits; then N AdamW steps on the batch on both, losses side by side.
 * Exit 1 if anything is beyond the tolerances (see usage(); --tf32 has looser
 * ones, as its products round their inputs to 10-bit mantissas). This is the tool
 * for "why do CPU and GPU differ in the last digits?": notes.md explains the
 * causes, this shows their size.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "debug_state.h"
#include "gpt2.h"
#include "train.h"
#include "kernels/gpt2_gpu.h"

/* The documented tolerances (notes.md "Why GPU and CPU results differ").
 * Relative ones are max |gpu - cpu| / max |cpu| over a whole tensor. */
typedef struct {
    double act_rel;  /* every activation, and the logits */
    double loss_abs; /* the mean loss */
    double grad_rel; /* every gradient tensor */
    double step_abs; /* each loss of the N-step trajectory */
} Tolerances;
/* FP32 products, either kernel set: an order of magnitude above the differences rounding makes */
static const Tolerances FP32_TOLERANCES = {1e-4, 1e-5, 1e-3, 1e-4};
/* TF32 products (--tf32): each input of a product carries up to 2^-10 relative
 * error. The emulator's TF32 (truncated inputs, the worse case) showed up to
 * 2.7e-3 on activations, 2.4e-3 on gradients, 2.2e-4 on the loss and a
 * trajectory drifting by 8e-4 in 3 steps (2 layers, C = 768, B = 2, T = 256);
 * these sit about 8x above that. */
static const Tolerances TF32_TOLERANCES = {2e-2, 2e-3, 2e-2, 1e-2};

static const char *const ACT_NAMES[NUM_ACTIVATION_TENSORS] = {
    "encoded", "ln1",      "ln1_mean", "ln1_rstd", "qkv",      "att",      "atty",
    "attproj", "residual2", "ln2",     "ln2_mean", "ln2_rstd", "fch",      "fch_gelu",
    "fcproj",  "residual3", "lnf",     "lnf_mean", "lnf_rstd", "logits",   "losses"};
#define FIRST_LAYER_ACT 1 /* tensors 1..15 are stacked (L, ...) */
#define LAST_LAYER_ACT 15

static int failures = 0;

static void usage(void) {
    const Tolerances *f = &FP32_TOLERANCES, *t = &TF32_TOLERANCES;
    fprintf(stderr,
            "usage: compare_cpu_gpu MODEL [STATE] [--steps N] [-b B] [-t T] [GPU options]\n"
            "       compare_cpu_gpu random [--layers L] [--heads NH] [--channels C] [--context T] [--vocab V]\n"
            "                              [--steps N] [-b B] [-t T] [GPU options]\n"
            "  Runs one batch (STATE's, or a deterministic random one of B x T, default 4 x 64)\n"
            "  through the CPU and the GPU model and prints the differences. 'random' instead of\n"
            "  MODEL: a deterministic random model (default GPT-2 124M: 12 layers, 12 heads,\n"
            "  768 channels, context 1024, vocabulary 50257).\n"
            "  --steps N   then N AdamW steps on the batch on both (lr 1e-4), losses side by side\n"
            "GPU options:\n" GPU_OPTIONS_HELP
            "Tolerances (exit 1 beyond them; relative = max|gpu-cpu| / max|cpu| per tensor):\n"
            "                          FP32     --tf32\n"
            "  activations and logits  %-8.0e %.0e  relative\n"
            "  mean loss               %-8.0e %.0e  absolute\n"
            "  gradients               %-8.0e %.0e  relative\n"
            "  step losses             %-8.0e %.0e  absolute\n",
            f->act_rel, t->act_rel, f->loss_abs, t->loss_abs, f->grad_rel, t->grad_rel, f->step_abs, t->step_abs);
}

static const Tolerances *tol; /* FP32_TOLERANCES or TF32_TOLERANCES, by --tf32 */

/* Prints one line "name  max abs diff  relative  OK/FAIL". */
static void compare(const char *name, const float *gpu, const float *cpu, size_t n, double rel_tol) {
    double diff = 0.0, refmax = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)gpu[i] - (double)cpu[i]);
        if (e > diff || isnan(e)) diff = e;
        if (fabs(cpu[i]) > refmax) refmax = fabs(cpu[i]);
    }
    double rel = refmax > 0 ? diff / refmax : diff;
    int ok = rel <= rel_tol;
    printf("  %-22s %11.3e %11.3e  %s\n", name, diff, rel, ok ? "OK" : "FAIL");
    if (!ok) failures++;
}

/* ---- a deterministic random model and batch (the project's Rng, fixed seed) ---- */
static Rng rng = {0x2545F4914F6CDD1Dull};
static double rand_uniform(void) { return rng_uniform(&rng); } /* in [0, 1) */

/* Weights uniform with standard deviation 0.02 (GPT-2's init scale), layernorm
 * gains near 1, padded vocabulary rows zero. Unlike the trainer's GPT-2
 * initialisation (gpt2_init_random), biases are random too, so that every
 * gradient path carries a signal worth comparing. */
static void random_model(GPT2 *model, const GPT2Config *c) {
    gpt2_init_empty(model, c);
    float *p = model->params_memory;
    const float a = 0.02f * sqrtf(3.0f);
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        int is_gain = i == 2 || i == 8 || i == 14; /* ln1w, ln2w, lnfw */
        size_t n = model->param_sizes[i];
        if (i == 0) n = (size_t)c->V * c->C; /* rows V..Vp-1 stay zero */
        for (size_t k = 0; k < n; k++) p[k] = (is_gain ? 1.0f : 0.0f) + a * (float)(2.0 * rand_uniform() - 1.0);
        p += model->param_sizes[i];
    }
}

static int *random_tokens(size_t n, int V) {
    int *x = xmalloc(n * sizeof(int), "random batch");
    for (size_t i = 0; i < n; i++) x[i] = (int)(rand_uniform() * V);
    return x;
}

/* ---- the comparisons ---- */

static void compare_activations(GPT2 *cpu, GPT2GPU *gpu, int B, int T) {
    const GPT2Config *c = &cpu->config;
    size_t sizes[NUM_ACTIVATION_TENSORS];
    size_t n = gpt2_activation_sizes(c, B, T, sizes);
    float *gpu_acts = xmalloc(n * sizeof(float), "GPU activations");
    gpt2_gpu_activations_to_host(gpu, gpu_acts);
    /* Both sides lay the tensors out back to back in struct order
     * (gpt2_point_activations), so tensor k starts at the sum of the sizes before it. */
    const float *gpu_t[NUM_ACTIVATION_TENSORS], *cpu_t[NUM_ACTIVATION_TENSORS];
    size_t off = 0;
    for (int k = 0; k < NUM_ACTIVATION_TENSORS; k++) {
        gpu_t[k] = gpu_acts + off;
        cpu_t[k] = cpu->acts_memory + off;
        off += sizes[k];
    }
    char name[64];
    printf("activations%*s max abs diff    relative  (tolerance: relative %.0e)\n", 12, "", tol->act_rel);
    compare("encoded", gpu_t[0], cpu_t[0], sizes[0], tol->act_rel);
    for (int l = 0; l < c->L; l++) {
        for (int k = FIRST_LAYER_ACT; k <= LAST_LAYER_ACT; k++) {
            size_t per_layer = sizes[k] / c->L;
            snprintf(name, sizeof(name), "layer %d %s", l, ACT_NAMES[k]);
            compare(name, gpu_t[k] + l * per_layer, cpu_t[k] + l * per_layer, per_layer, tol->act_rel);
        }
    }
    for (int k = LAST_LAYER_ACT + 1; k < NUM_ACTIVATION_TENSORS; k++)
        compare(ACT_NAMES[k], gpu_t[k], cpu_t[k], sizes[k], tol->act_rel);
    free(gpu_acts);
}

static void compare_loss(const char *what, float cpu, float gpu, double tol) {
    double d = fabs((double)cpu - (double)gpu);
    int ok = d <= tol;
    printf("%s cpu %.9g  gpu %.9g  diff %.3e  (tolerance %.0e)  %s\n", what, cpu, gpu, d, tol, ok ? "OK" : "FAIL");
    if (!ok) failures++;
}

static void compare_gradients(GPT2 *cpu, GPT2GPU *gpu, float *gpu_grads) {
    gpt2_gpu_grads_to_host(gpu, gpu_grads);
    printf("gradients%*s max abs diff    relative  (tolerance: relative %.0e)\n", 14, "", tol->grad_rel);
    size_t off = 0;
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        compare(PARAM_TENSOR_NAMES[i], gpu_grads + off, cpu->grads_memory + off, cpu->param_sizes[i], tol->grad_rel);
        off += cpu->param_sizes[i];
    }
}

/* The same batch again on the GPU: every reduction has a fixed order, so the
 * loss and the gradients must be the same bits. */
static void check_gpu_rerun(GPT2GPU *gpu, const int *x, const int *y, int B, int T, const float *first_grads,
                            float first_loss, size_t nparams) {
    float *again = xmalloc(nparams * sizeof(float), "GPU gradients");
    gpt2_gpu_forward(gpu, x, y, B, T);
    gpt2_gpu_zero_grad(gpu);
    gpt2_gpu_backward(gpu);
    gpt2_gpu_grads_to_host(gpu, again);
    float loss = gpt2_gpu_mean_loss(gpu);
    int same = memcmp(again, first_grads, nparams * sizeof(float)) == 0 && memcmp(&loss, &first_loss, sizeof(float)) == 0;
    printf("gpu rerun: loss and gradients %s\n", same ? "bit-identical  OK" : "DIFFER  FAIL");
    if (!same) failures++;
    free(again);
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *state_path = NULL;
    int steps = 0, B = 4, T = 64, t_given = 0;
    GPT2Config rc = {.maxT = 1024, .V = 50257, .Vp = 0, .L = 12, .NH = 12, .C = 768};
    GpuOptions gpu_options;
    argc = gpu_options_take(&gpu_options, argc, argv, 0);
    tol = gpu_options.tf32 ? &TF32_TOLERANCES : &FP32_TOLERANCES;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(); return 0; }
        else if (!strcmp(a, "--steps")) { steps = (int)parse_long(val, a, 0, 100000); i++; }
        else if (!strcmp(a, "-b")) { B = (int)parse_long(val, a, 1, 1 << 20); i++; }
        else if (!strcmp(a, "-t")) { T = (int)parse_long(val, a, 1, 1 << 20); t_given = 1; i++; }
        else if (!strcmp(a, "--layers")) { rc.L = (int)parse_long(val, a, 1, 1000); i++; }
        else if (!strcmp(a, "--heads")) { rc.NH = (int)parse_long(val, a, 1, 1000); i++; }
        else if (!strcmp(a, "--channels")) { rc.C = (int)parse_long(val, a, 1, 1 << 16); i++; }
        else if (!strcmp(a, "--context")) { rc.maxT = (int)parse_long(val, a, 1, 1 << 20); i++; }
        else if (!strcmp(a, "--vocab")) { rc.V = (int)parse_long(val, a, 1, 1 << 24); i++; }
        else if (a[0] == '-' && a[1]) die_usage("unknown option %s (try --help)", a);
        else if (!model_path) model_path = a;
        else if (!state_path) state_path = a;
        else die_usage("unexpected argument %s (try --help)", a);
    }
    if (!model_path) { usage(); return EXIT_USAGE; }

    GPT2 cpu;
    if (!strcmp(model_path, "random")) {
        if (state_path) die_usage("a random model takes no STATE");
        rc.Vp = (rc.V + 127) / 128 * 128;
        gpt2_validate_config(&rc, "random model");
        random_model(&cpu, &rc);
    } else {
        gpt2_load(&cpu, model_path);
    }
    const GPT2Config *c = &cpu.config;
    int *x, *y;
    DebugState state = {0};
    if (state_path) {
        debug_state_load(&state, state_path, &cpu);
        B = state.B;
        T = state.T;
        x = state.x;
        y = state.y;
    } else {
        if (!t_given && T > c->maxT) T = c->maxT;
        if (T > c->maxT) die_usage("-t %d exceeds the model's context of %d", T, c->maxT);
        x = random_tokens((size_t)B * T, c->V);
        y = random_tokens((size_t)B * T, c->V);
    }
    printf("model %s: maxT=%d V=%d Vp=%d L=%d NH=%d C=%d, %zu parameters; batch B=%d T=%d (%s); kernels %s\n",
           model_path, c->maxT, c->V, c->Vp, c->L, c->NH, c->C, cpu.num_parameters, B, T,
           state_path ? state_path : "random tokens", gpu_kernels_name());

    gpt2_alloc(&cpu, B, T);
    GPT2GPU *gpu = gpt2_gpu_create(&cpu, B, T);
    gpt2_forward(&cpu, x, y, B, T);
    gpt2_gpu_forward(gpu, x, y, B, T);
    compare_activations(&cpu, gpu, B, T); /* includes the logits, before backward overwrites them */
    compare_loss("loss:", cpu.mean_loss, gpt2_gpu_mean_loss(gpu), tol->loss_abs);

    gpt2_zero_grad(&cpu);
    gpt2_backward(&cpu);
    gpt2_gpu_zero_grad(gpu);
    gpt2_gpu_backward(gpu);
    float *gpu_grads = xmalloc(cpu.num_parameters * sizeof(float), "GPU gradients");
    compare_gradients(&cpu, gpu, gpu_grads);
    check_gpu_rerun(gpu, x, y, B, T, gpu_grads, gpt2_gpu_mean_loss(gpu), cpu.num_parameters);
    free(gpu_grads);

    if (steps > 0) printf("steps (AdamW lr 1e-4 on this batch; tolerance %.0e):\n", tol->step_abs);
    AdamWConfig opt = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f, .decay_all = 1};
    for (int k = 1; k <= steps; k++) {
        if (k > 1) {
            gpt2_forward(&cpu, x, y, B, T);
            gpt2_zero_grad(&cpu);
            gpt2_backward(&cpu);
            gpt2_gpu_forward(gpu, x, y, B, T);
            gpt2_gpu_zero_grad(gpu);
            gpt2_gpu_backward(gpu);
        }
        char what[32];
        snprintf(what, sizeof(what), "step %d:", k);
        compare_loss(what, cpu.mean_loss, gpt2_gpu_mean_loss(gpu), tol->step_abs);
        adamw_step(&cpu, &opt, k);
        gpt2_gpu_update(gpu, &opt, k);
    }
    printf("%s\n", failures ? "FAIL" : "all OK");
    if (state_path) debug_state_free(&state);
    else { free(x); free(y); }
    gpt2_gpu_free(gpu);
    gpt2_free(&cpu);
    return failures ? 1 : 0;
}
