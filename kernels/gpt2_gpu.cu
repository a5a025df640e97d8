/*
 * gpt2_gpu.cu: the GPT-2 model driver on the GPU (see gpt2_gpu.h).
 *
 * gpt2_gpu_forward and gpt2_gpu_backward are gpt2_forward and gpt2_backward
 * with every op replaced by its _gpu twin: read them side by side. The only
 * additions are what the GPU needs and the CPU does not: a workspace (the
 * two-pass reductions, attention's head-major copies), the token buckets of
 * the embedding backward (encoder.cu), built on the host from the inputs at
 * each forward, and OP(name, call) around each op call, which does nothing
 * but the call unless the step is being profiled (timing.cu).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"
#include "gpt2_gpu.h"
#include "kernels.h"

/* the call, between two CUDA events when the step is profiled; `label` tells
 * calls of one op apart ("qkv", "fc", ...) */
#define OP(label, call)                 \
    do {                                \
        profile_op_begin(#call, label); \
        call;                           \
        profile_op_end();               \
    } while (0)

struct GPT2GPU {
    GPT2Config config;
    size_t param_sizes[NUM_PARAM_TENSORS];
    size_t num_parameters;
    /* device memory, all in checkpoint order */
    float *params_memory, *grads_memory, *m_memory, *v_memory;
    ParameterTensors params, grads;
    /* activations and one layer of backward scratch, laid out as on the CPU */
    int B_max, T_max, B, T;
    float *acts_memory, *scratch_memory;
    ActivationTensors acts;
    BackwardScratch scratch;
    float *workspace;      /* column partials, attention's head-major copies and dscore */
    double *norm_partials; /* GRAD_NORM_BLOCKS */
    int *inputs, *targets; /* (B,T) on the device */
    int *bucket_memory;    /* device: token (n), start (n+1), position (n) */
    int *host_buckets;     /* the same on the host, where they are built */
    TokenBuckets buckets;
    float *host_losses;    /* (B,T) */
    float mean_loss;       /* -1 after a forward without targets */
};

static void *device_alloc(size_t bytes, const char *what) {
    void *p = NULL;
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err != cudaSuccess) die("GPU: cannot allocate %zu bytes for %s: %s", bytes, what, cudaGetErrorString(err));
    return p;
}

int gpu_available(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* clear the error so later calls start clean */
        return 0;
    }
    return n > 0;
}

int gpu_options_take(GpuOptions *o, int argc, char **argv, int with_profile) {
    memset(o, 0, sizeof(*o));
    o->kernels = GPU_KERNELS_FAST;
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--kernels")) {
            if (!val) die_usage("--kernels needs a value: fast or readable");
            if (!strcmp(val, "fast")) o->kernels = GPU_KERNELS_FAST;
            else if (!strcmp(val, "readable")) o->kernels = GPU_KERNELS_READABLE;
            else die_usage("--kernels %s: expected fast or readable", val);
            o->kernels_given = 1;
            i++;
        } else if (!strcmp(a, "--tf32")) {
            o->tf32 = 1;
        } else if (with_profile && !strcmp(a, "--profile-step")) {
            o->profile_step = (int)parse_long(val, a, 1, 1000000000L);
            i++;
        } else {
            argv[kept++] = argv[i];
        }
    }
    argv[kept] = NULL; /* as argv[argc] is */
    gpu_select_kernels(o->kernels, o->tf32);
    return kept;
}

/* One workspace serves every op, as large as the largest need: attention's,
 * or the column partials of the 4C-wide fc layer. */
static size_t workspace_floats(const GPT2Config *c, int B_max, int T_max) {
    size_t ws = attention_workspace_size(B_max, T_max, c->C, c->NH);
    size_t fc = column_partials_size((size_t)B_max * T_max, 4 * (size_t)c->C);
    return fc > ws ? fc : ws;
}

/* What gpt2_gpu_create allocates on the device: the host's plan for the
 * parameters (params, grads and AdamW for every one: the GPU trains all of
 * them: train_gpu has no LoRA), activations and scratch; then the
 * workspace, the norm partials and the token buffers. Samples are drawn on
 * the host, so no KV cache, and the eval copy is the host's too. */
MemoryPlan gpt2_gpu_memory_plan(const GPT2Config *c, int B, int T, TrainedSpec trained, int with_kv_cache) {
    (void)trained;
    (void)with_kv_cache;
    MemoryPlan host = gpt2_memory_plan(c, B, T, (TrainedSpec){0, 0}, 0);
    MemoryPlan m = host;
    m.kv_cache = 0;  /* samples are drawn on the host */
    m.eval_copy = 0; /* kept on the host */
    size_t BT = (size_t)B * T;
    m.other = workspace_floats(c, B, T) * sizeof(float) + GRAD_NORM_BLOCKS * sizeof(double) +
              (2 * BT + 3 * BT + 1) * sizeof(int); /* inputs, targets, token buckets */
    return m;
}

size_t gpu_memory_available(const char **source) {
    size_t bytes = memory_available_override();
    if (bytes) {
        *source = "GPT2C_MEM_AVAILABLE";
        return bytes;
    }
    size_t free_bytes = 0, total = 0;
    if (!gpu_available() || cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) {
        (void)cudaGetLastError();
        *source = "unknown";
        return 0;
    }
    *source = "cudaMemGetInfo";
    return free_bytes;
}

GPT2GPU *gpt2_gpu_create(const GPT2 *host, int B_max, int T_max) {
    const GPT2Config *c = &host->config;
    gpt2_check_alloc_size(c, B_max, T_max);
    if (!gpu_available()) die("no CUDA GPU is available");
    GPT2GPU *g = (GPT2GPU *)xcalloc(1, sizeof(GPT2GPU), "GPU model");
    g->config = *c;
    memcpy(g->param_sizes, host->param_sizes, sizeof(g->param_sizes));
    g->num_parameters = host->num_parameters;
    size_t pbytes = mul_size(g->num_parameters, sizeof(float), "parameters");
    g->params_memory = (float *)device_alloc(pbytes, "parameters");
    g->grads_memory = (float *)device_alloc(pbytes, "gradients");
    g->m_memory = (float *)device_alloc(pbytes, "AdamW m");
    g->v_memory = (float *)device_alloc(pbytes, "AdamW v");
    CUDA_CHECK(cudaMemcpy(g->params_memory, host->params_memory, pbytes, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemset(g->grads_memory, 0, pbytes));
    CUDA_CHECK(cudaMemset(g->m_memory, 0, pbytes));
    CUDA_CHECK(cudaMemset(g->v_memory, 0, pbytes));
    gpt2_point_params(&g->params, g->params_memory, g->param_sizes);
    gpt2_point_params(&g->grads, g->grads_memory, g->param_sizes);

    size_t sizes[NUM_ACTIVATION_TENSORS], ssizes[NUM_SCRATCH_TENSORS];
    size_t nacts = gpt2_activation_sizes(c, B_max, T_max, sizes);
    size_t nscratch = gpt2_scratch_sizes(c, B_max, T_max, ssizes);
    g->acts_memory = (float *)device_alloc(mul_size(nacts, sizeof(float), "activations"), "activations");
    g->scratch_memory = (float *)device_alloc(mul_size(nscratch, sizeof(float), "scratch"), "gradient scratch");
    size_t BT = (size_t)B_max * T_max;
    size_t ws = workspace_floats(c, B_max, T_max);
    g->workspace = (float *)device_alloc(mul_size(ws, sizeof(float), "workspace"), "workspace");
    g->norm_partials = (double *)device_alloc(GRAD_NORM_BLOCKS * sizeof(double), "norm partials");
    g->inputs = (int *)device_alloc(BT * sizeof(int), "inputs");
    g->targets = (int *)device_alloc(BT * sizeof(int), "targets");
    g->bucket_memory = (int *)device_alloc((3 * BT + 1) * sizeof(int), "token buckets");
    g->host_buckets = (int *)xmalloc((3 * BT + 1) * sizeof(int), "token buckets");
    g->host_losses = (float *)xmalloc(BT * sizeof(float), "losses");
    g->B_max = B_max;
    g->T_max = T_max;
    g->mean_loss = -1.0f;
    return g;
}

void gpt2_gpu_free(GPT2GPU *g) {
    if (!g) return;
    void *device[] = {g->params_memory, g->grads_memory, g->m_memory,      g->v_memory, g->acts_memory,
                      g->scratch_memory, g->workspace,  g->norm_partials, g->inputs,   g->targets,
                      g->bucket_memory};
    for (size_t i = 0; i < sizeof(device) / sizeof(device[0]); i++) CUDA_CHECK(cudaFree(device[i]));
    free(g->host_buckets);
    free(g->host_losses);
    free(g);
}

/* Send the batch, and its positions grouped by token (encoder.cu), to the device. */
static void upload_inputs(GPT2GPU *g, const int *inputs, const int *targets, size_t n) {
    CUDA_CHECK(cudaMemcpy(g->inputs, inputs, n * sizeof(int), cudaMemcpyHostToDevice));
    if (targets) CUDA_CHECK(cudaMemcpy(g->targets, targets, n * sizeof(int), cudaMemcpyHostToDevice));
    int *token = g->host_buckets, *start = token + n, *position = start + n + 1;
    int num = token_buckets_build(token, start, position, inputs, (int)n);
    CUDA_CHECK(cudaMemcpy(g->bucket_memory, g->host_buckets, (3 * n + 1) * sizeof(int), cudaMemcpyHostToDevice));
    g->buckets.num_tokens = num;
    g->buckets.token = g->bucket_memory;
    g->buckets.start = g->bucket_memory + n;
    g->buckets.position = g->bucket_memory + 2 * n + 1;
}

void gpt2_gpu_forward(GPT2GPU *g, const int *inputs, const int *targets, int B, int T) {
    const GPT2Config *c = &g->config;
    gpt2_check_batch(c, inputs, targets, B, T, g->B_max, g->T_max); /* the CPU's checks */
    size_t BT = (size_t)B * T;
    gpt2_point_activations(&g->acts, g->acts_memory, c, B, T);
    gpt2_point_scratch(&g->scratch, g->scratch_memory, c, B, T);
    g->B = B;
    g->T = T;
    OP("", upload_inputs(g, inputs, targets, BT));

    int C = c->C, NH = c->NH, L = c->L, V = c->V;
    size_t BTC = BT * C;
    ParameterTensors p = g->params;
    ActivationTensors a = g->acts;
    float *ws = g->workspace;

    OP("", encoder_forward_gpu(a.encoded, g->inputs, p.wte, p.wpe, B, T, C));
    for (int l = 0; l < L; l++) {
        LayerParams w = gpt2_layer_params(&p, c, l);
        LayerActs x = gpt2_layer_acts(&a, c, l, B, T);
        OP("ln1", layernorm_forward_gpu(x.ln1, x.ln1_mean, x.ln1_rstd, x.residual, w.ln1w, w.ln1b, B, T, C));
        OP("qkv", matmul_forward_gpu(x.qkv, x.ln1, w.qkvw, w.qkvb, B, T, C, 3 * C));
        OP("", attention_forward_gpu(x.atty, x.att, x.qkv, B, T, C, NH, ws));
        OP("attproj", matmul_forward_gpu(x.attproj, x.atty, w.attprojw, w.attprojb, B, T, C, C));
        OP("", residual_forward_gpu(x.residual2, x.residual, x.attproj, BTC));
        OP("ln2", layernorm_forward_gpu(x.ln2, x.ln2_mean, x.ln2_rstd, x.residual2, w.ln2w, w.ln2b, B, T, C));
        OP("fc", matmul_forward_gpu(x.fch, x.ln2, w.fcw, w.fcb, B, T, C, 4 * C));
        OP("", gelu_forward_gpu(x.fch_gelu, x.fch, 4 * BTC));
        OP("fcproj", matmul_forward_gpu(x.fcproj, x.fch_gelu, w.fcprojw, w.fcprojb, B, T, 4 * C, C));
        OP("", residual_forward_gpu(x.residual3, x.residual2, x.fcproj, BTC));
    }
    const float *last = a.residual3 + (size_t)(L - 1) * BTC;
    OP("lnf", layernorm_forward_gpu(a.lnf, a.lnf_mean, a.lnf_rstd, last, p.lnfw, p.lnfb, B, T, C));
    /* tied output projection: only the first V rows of wte are real tokens */
    OP("logits", matmul_forward_gpu(a.logits, a.lnf, p.wte, NULL, B, T, C, V));

    if (targets) {
        OP("", crossentropy_forward_gpu(a.losses, a.logits, g->targets, B, T, V));
        /* B*T losses are few: add them on the host, in order and in double,
         * exactly as gpt2_forward does, so equal losses give an equal mean */
        CUDA_CHECK(cudaMemcpy(g->host_losses, a.losses, BT * sizeof(float), cudaMemcpyDeviceToHost));
        double sum = 0.0;
        for (size_t i = 0; i < BT; i++) sum += g->host_losses[i];
        g->mean_loss = (float)(sum / (double)BT);
    } else {
        g->mean_loss = -1.0f;
    }
}

float gpt2_gpu_mean_loss(const GPT2GPU *g) { return g->mean_loss; }

/* x[0..n) = 0 */
static void zero_gpu(float *x, size_t n) { CUDA_CHECK(cudaMemset(x, 0, n * sizeof(float))); }

void gpt2_gpu_zero_grad(GPT2GPU *g) { OP("grads", zero_gpu(g->grads_memory, g->num_parameters)); }

void gpt2_gpu_backward(GPT2GPU *g) {
    if (g->mean_loss < 0) die("gpt2_gpu_backward: the last forward pass had no targets");
    const GPT2Config *c = &g->config;
    int B = g->B, T = g->T, C = c->C, NH = c->NH, L = c->L, V = c->V;
    size_t BT = (size_t)B * T, BTC = BT * C;
    ParameterTensors p = g->params, d = g->grads;
    ActivationTensors a = g->acts;
    BackwardScratch s = g->scratch;
    float *ws = g->workspace;

    OP("", crossentropy_backward_gpu(a.logits, g->targets, B, T, V)); /* a.logits now holds dlogits */
    OP("logits", matmul_backward_gpu(s.dln, d.wte, NULL, a.logits, a.lnf, p.wte, B, T, C, V, ws));
    OP("dresidual", zero_gpu(s.dresidual, BTC));
    OP("lnf", layernorm_backward_gpu(s.dresidual, d.lnfw, d.lnfb, s.dln, a.residual3 + (size_t)(L - 1) * BTC, p.lnfw,
                                     a.lnf_mean, a.lnf_rstd, B, T, C, ws));

    for (int l = L - 1; l >= 0; l--) {
        LayerParams w = gpt2_layer_params(&p, c, l), dw = gpt2_layer_params(&d, c, l);
        LayerActs x = gpt2_layer_acts(&a, c, l, B, T);
        OP("fcproj", matmul_backward_gpu(s.dfch_gelu, dw.fcprojw, dw.fcprojb, s.dresidual, x.fch_gelu, w.fcprojw, B, T,
                                         4 * C, C, ws));
        OP("", gelu_backward_gpu(s.dfch, x.fch, s.dfch_gelu, 4 * BTC));
        OP("fc", matmul_backward_gpu(s.dln, dw.fcw, dw.fcb, s.dfch, x.ln2, w.fcw, B, T, C, 4 * C, ws));
        OP("ln2", layernorm_backward_gpu(s.dresidual, dw.ln2w, dw.ln2b, s.dln, x.residual2, w.ln2w, x.ln2_mean,
                                         x.ln2_rstd, B, T, C, ws));
        OP("attproj", matmul_backward_gpu(s.datty, dw.attprojw, dw.attprojb, s.dresidual, x.atty, w.attprojw, B, T, C,
                                          C, ws));
        OP("", attention_backward_gpu(s.dqkv, s.datt, s.datty, x.qkv, x.att, B, T, C, NH, ws));
        OP("qkv", matmul_backward_gpu(s.dln, dw.qkvw, dw.qkvb, s.dqkv, x.ln1, w.qkvw, B, T, C, 3 * C, ws));
        OP("ln1", layernorm_backward_gpu(s.dresidual, dw.ln1w, dw.ln1b, s.dln, x.residual, w.ln1w, x.ln1_mean,
                                         x.ln1_rstd, B, T, C, ws));
    }
    OP("", encoder_backward_gpu(d.wte, d.wpe, s.dresidual, &g->buckets, B, T, C));
    CUDA_CHECK(cudaDeviceSynchronize()); /* report any fault here, not at some later copy */
}

float gpt2_gpu_grad_norm(GPT2GPU *g) {
    double sum = 0.0;
    OP("", sum = sum_of_squares_gpu(g->grads_memory, g->num_parameters, g->norm_partials));
    return (float)sqrt(sum);
}

void gpt2_gpu_scale_grads(GPT2GPU *g, float s) { OP("", scale_gpu(g->grads_memory, s, g->num_parameters)); }

void gpt2_gpu_update(GPT2GPU *g, const AdamWConfig *opt, int t) {
    size_t off = 0;
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        size_t n = g->param_sizes[i];
        float wd = adamw_weight_decay(opt, i); /* train.c's decay rule */
        OP("", adamw_update_gpu(g->params_memory + off, g->grads_memory + off, g->m_memory + off, g->v_memory + off,
                                n, opt->lr, opt->beta1, opt->beta2, opt->eps, wd, t));
        off += n;
    }
}

/* ---- copies ---- */

static void copy(void *dst, const void *src, size_t count, size_t elem, cudaMemcpyKind kind) {
    CUDA_CHECK(cudaMemcpy(dst, src, mul_size(count, elem, "copy"), kind));
}

void gpt2_gpu_params_to_host(GPT2GPU *g, GPT2 *host) {
    if (host->num_parameters != g->num_parameters) die("gpt2_gpu_params_to_host: a different model shape");
    copy(host->params_memory, g->params_memory, g->num_parameters, sizeof(float), cudaMemcpyDeviceToHost);
}

void gpt2_gpu_params_from_host(GPT2GPU *g, const GPT2 *host) {
    if (host->num_parameters != g->num_parameters) die("gpt2_gpu_params_from_host: a different model shape");
    copy(g->params_memory, host->params_memory, g->num_parameters, sizeof(float), cudaMemcpyHostToDevice);
}

void gpt2_gpu_grads_to_host(GPT2GPU *g, float *grads) {
    copy(grads, g->grads_memory, g->num_parameters, sizeof(float), cudaMemcpyDeviceToHost);
}

void gpt2_gpu_opt_state_to_host(GPT2GPU *g, float *m, float *v) {
    copy(m, g->m_memory, g->num_parameters, sizeof(float), cudaMemcpyDeviceToHost);
    copy(v, g->v_memory, g->num_parameters, sizeof(float), cudaMemcpyDeviceToHost);
}

void gpt2_gpu_opt_state_from_host(GPT2GPU *g, const float *m, const float *v) {
    copy(g->m_memory, m, g->num_parameters, sizeof(float), cudaMemcpyHostToDevice);
    copy(g->v_memory, v, g->num_parameters, sizeof(float), cudaMemcpyHostToDevice);
}

void gpt2_gpu_logits_to_host(GPT2GPU *g, float *logits) {
    if (g->B == 0) die("gpt2_gpu_logits_to_host: no forward pass yet");
    copy(logits, g->acts.logits, (size_t)g->B * g->T * g->config.V, sizeof(float), cudaMemcpyDeviceToHost);
}

size_t gpt2_gpu_activations_to_host(GPT2GPU *g, float *acts) {
    if (g->B == 0) die("gpt2_gpu_activations_to_host: no forward pass yet");
    size_t sizes[NUM_ACTIVATION_TENSORS];
    size_t n = gpt2_activation_sizes(&g->config, g->B, g->T, sizes);
    copy(acts, g->acts_memory, n, sizeof(float), cudaMemcpyDeviceToHost);
    return n;
}
