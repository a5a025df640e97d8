/*
 * train_setup.c: everything before the first step, shared by ./train and
 * ./train_gpu: the defaults and --help, the flags, the memory plan (checked
 * before anything big is loaded), the model to train (new, --init or
 * resumed), the data, the optimizer state of a resumed run, and the
 * tokenizer for samples. train_setup() is the entry point; train.c's
 * train_main calls it.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "dataloader.h"
#include "generation.h"
#include "gpt2.h"
#include "rundir.h"
#include "tokenizer.h"
#include "train.h"

/* ------------------------------------------------------------------------ */
/* configuration                                                             */

static const TrainConfig TRAIN_DEFAULTS = {
    .layers = 4, .heads = 4, .channels = 256, .context = 256,
    .B = 8, .T = 128, .steps = 200, .warmup = 20, .grad_accum = 1,
    .lr = 6e-4f, .lr_min = 6e-5f, .wd = 0.1f, .grad_clip = 1.0f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
    .eval_every = 50, .eval_batches = 10, .sample_every = 0, .sample_tokens = 64,
    .checkpoint_every = 0, .keep_checkpoints = 2, .shuffle = 1, .seed = 1337, .stop_after = 0,
    .lora_rank = 0, .lora_alpha = 0, .lora_targets = 1u << LORA_QKV | 1u << LORA_ATTPROJ,
};

static void usage(FILE *f, const char *prog) {
    fprintf(f,
        "usage: %s --train PATTERN [--val PATTERN] [options]\n"
        "Train GPT-2 on llm.c-format token shards (make them with ./tokenize shard).\n"
        "data:\n"
        "  --train PATTERN        training shards (a glob, quote it), required unless --resume\n"
        "  --val PATTERN          validation shards (a glob)\n"
        "  --no-shuffle           read training batches in file order (default: shuffled per epoch)\n"
        "model (a new model, GPT-2 initialisation, V=50257):\n"
        "  --layers N --heads N --channels N --context N   (default 4 4 256 256)\n"
        "  --init CKPT            start from a checkpoint instead (fine-tuning)\n"
        "LoRA (fine-tune --init's model through low-rank adapters; its weights stay frozen):\n"
        "  --lora R               adapters of rank R: a matmul's weight W acts as W + (alpha/R) B A\n"
        "  --lora-alpha X         the adapters' scale numerator alpha (default R, a scale of 1)\n"
        "  --lora-targets LIST    which matmuls get adapters, from qkv,attproj,fc,fcproj\n"
        "                         (default qkv,attproj). Checkpoints are then lora_N.bin adapters\n"
        "                         files; ./merge_lora DIR OUT.bin makes a full checkpoint.\n"
        "optimisation:\n"
        "  -b, --batch N          sequences per micro-batch (default 8)\n"
        "  -t, --seq N            tokens per sequence, at most the context (default 128)\n"
        "  --steps N              optimizer steps (default 200)\n"
        "  --grad-accum N         micro-batches per step (default 1)\n"
        "  --lr X --lr-min X      peak and final learning rate (default 6e-4, 6e-5)\n"
        "  --warmup N             linear warmup steps, then cosine decay to --lr-min (default 20)\n"
        "  --wd X                 weight decay on 2-D weight matrices only (default 0.1)\n"
        "  --grad-clip X          clip the global gradient norm to X, 0 = off (default 1.0)\n"
        "  --beta1 X --beta2 X    AdamW betas (default 0.9, 0.95)\n"
        "  --seed N               initialisation, data order and sampling (default 1337)\n"
        "evaluation, samples, checkpoints:\n"
        "  --eval-every N         validation loss and update ratios every N steps, 0 = only at the end\n"
        "                         (default 50)\n"
        "  --eval-batches N       batches per validation (default 10)\n"
        "  --sample-every N       print a sample every N steps, 0 = off (default 0)\n"
        "  --sample-tokens N      tokens per sample (default 64)\n"
        "  --vocab DIR            the vocabulary for samples: encoder.json + vocab.bpe, or Hugging Face's\n"
        "                         vocab.json + merges.txt (default $GPT2_VOCAB_DIR or data/gpt2)\n"
        "  --out DIR              checkpoints, log.csv, loss.svg, updates.csv/.svg go here (default out)\n"
        "  --checkpoint-every N   also checkpoint every N steps, 0 = only at the end (default 0)\n"
        "  --keep-checkpoints N   keep the newest N checkpoints (default 2)\n"
        "  --resume DIR           continue the run in DIR from its newest checkpoint; its settings\n"
        "                         are restored, flags given here override them (except the model's:\n"
        "                         --layers --heads --channels --context --init, and --out)\n"
        "  --stop-after N         stop (with a checkpoint) after step N, as if interrupted\n"
        "memory (notes.md, \"The memory plan\"):\n"
        "  --plan-only            print the memory plan (bytes per part) and exit; needs no --train\n"
        "  --force                train even if the plan exceeds the available memory (by default the\n"
        "                         run refuses before loading anything, and says what would fit)\n"
        "                         GPT2C_MEM_AVAILABLE=BYTES replaces the available amount (for tests)\n"
        "Ctrl-C or SIGTERM saves a checkpoint and exits; --resume continues exactly.\n"
        "One run per --out folder at a time: a run locks its folder while it trains.\n",
        prog);
}

static const char *next_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) die_usage("%s needs a value", argv[*i]);
    return argv[++*i];
}

static void copy_string(char *dst, size_t cap, const char *src, const char *flag) {
    if (strlen(src) >= cap) die_usage("%s: value is longer than %zu characters", flag, cap - 1);
    strcpy(dst, src);
}

/* Apply the command-line flags on top of `c`. Called after the defaults, or
 * after the settings restored from a checkpoint, so that flags always win. */
static void parse_flags(TrainConfig *c, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define FLAG(name) (!strcmp(a, name))
#define INT(lo, hi) (int)parse_long(next_value(argc, argv, &i), a, lo, hi)
#define REAL(lo, hi) (float)parse_double(next_value(argc, argv, &i), a, lo, hi)
        if (FLAG("--train")) copy_string(c->train_pattern, sizeof c->train_pattern, next_value(argc, argv, &i), a);
        else if (FLAG("--val")) copy_string(c->val_pattern, sizeof c->val_pattern, next_value(argc, argv, &i), a);
        else if (FLAG("--init")) copy_string(c->init_path, sizeof c->init_path, next_value(argc, argv, &i), a);
        else if (FLAG("--vocab")) copy_string(c->vocab_dir, sizeof c->vocab_dir, next_value(argc, argv, &i), a);
        else if (FLAG("--out")) copy_string(c->out_dir, sizeof c->out_dir, next_value(argc, argv, &i), a);
        else if (FLAG("--resume")) next_value(argc, argv, &i); /* train_setup reads it first */
        else if (FLAG("--no-shuffle")) c->shuffle = 0;
        else if (FLAG("--layers")) c->layers = INT(1, 1000);
        else if (FLAG("--heads")) c->heads = INT(1, 1000);
        else if (FLAG("--channels")) c->channels = INT(1, 100000);
        else if (FLAG("--context")) c->context = INT(1, 1000000);
        else if (FLAG("-b") || FLAG("--batch")) c->B = INT(1, 1000000);
        else if (FLAG("-t") || FLAG("--seq")) c->T = INT(1, 1000000);
        else if (FLAG("--steps")) c->steps = INT(1, 1000000000);
        else if (FLAG("--grad-accum")) c->grad_accum = INT(1, 100000);
        else if (FLAG("--lr")) c->lr = REAL(0.0, 10.0);
        else if (FLAG("--lr-min")) c->lr_min = REAL(0.0, 10.0);
        else if (FLAG("--warmup")) c->warmup = INT(0, 1000000000);
        else if (FLAG("--wd")) c->wd = REAL(0.0, 10.0);
        else if (FLAG("--grad-clip")) c->grad_clip = REAL(0.0, 1e9);
        else if (FLAG("--beta1")) c->beta1 = REAL(0.0, 0.999999);
        else if (FLAG("--beta2")) c->beta2 = REAL(0.0, 0.999999);
        else if (FLAG("--seed")) c->seed = (uint64_t)parse_long(next_value(argc, argv, &i), a, 0, 2147483647L);
        else if (FLAG("--eval-every")) c->eval_every = INT(0, 1000000000);
        else if (FLAG("--eval-batches")) c->eval_batches = INT(1, 1000000);
        else if (FLAG("--sample-every")) c->sample_every = INT(0, 1000000000);
        else if (FLAG("--sample-tokens")) c->sample_tokens = INT(1, 1000000);
        else if (FLAG("--checkpoint-every")) c->checkpoint_every = INT(0, 1000000000);
        else if (FLAG("--keep-checkpoints")) c->keep_checkpoints = INT(1, 1000000);
        else if (FLAG("--stop-after")) c->stop_after = INT(0, 1000000000);
        else if (FLAG("--lora")) c->lora_rank = INT(1, 4096);
        else if (FLAG("--lora-alpha")) c->lora_alpha = REAL(1e-6, 1e5);
        else if (FLAG("--lora-targets")) c->lora_targets = lora_parse_targets(next_value(argc, argv, &i));
        else if (FLAG("--force")) c->force = 1;
        else if (FLAG("--plan-only")) c->plan_only = 1;
        else die_usage("unknown option '%s' (see --help)", a);
#undef FLAG
#undef INT
#undef REAL
    }
}

/* ------------------------------------------------------------------------ */
/* setting up a run                                                          */

static const char *default_vocab_dir(void) {
    const char *env = getenv("GPT2_VOCAB_DIR");
    return env && *env ? env : "data/gpt2";
}

/* A new model's config: GPT-2's vocabulary, the --layers/--heads/--channels/--context shape. */
static GPT2Config new_model_config(const TrainConfig *c) {
    if (c->channels % c->heads != 0) die_usage("--channels %d is not divisible by --heads %d", c->channels, c->heads);
    GPT2Config mc = {.maxT = c->context, .V = 50257, .Vp = 50304, .L = c->layers, .NH = c->heads, .C = c->channels};
    return mc;
}

/* The checkpoint the run starts from: the one being resumed (for a LoRA
 * run, the base its adapters name, whose LoRA settings go to *c), or
 * --init's; NULL for a new model. */
static const char *start_checkpoint(char *buf, size_t cap, TrainConfig *c, const char *resume, int step) {
    if (resume) {
        const char *kind = checkpoint_weights_kind(resume, step);
        ckpt_path(buf, cap, resume, kind, step);
        if (strcmp(kind, "lora") != 0) return buf;
        LoRAFileInfo info = lora_read_info(buf);
        copy_string(c->init_path, sizeof c->init_path, info.base_path, buf);
        c->lora_rank = info.rank;
        c->lora_alpha = info.alpha;
        c->lora_targets = info.targets;
    }
    return c->init_path[0] ? c->init_path : NULL;
}

/* The model to train: the checkpoint being resumed (with LoRA: its adapters
 * on the base they name), the --init checkpoint (with fresh adapters under
 * --lora), or a new GPT-2 of the --layers/--heads/--channels/--context shape. */
static void load_model(GPT2 *host, TrainConfig *c, const char *resume, int step) {
    char path[1200];
    const char *ckpt = start_checkpoint(path, sizeof path, c, resume, step);
    if (ckpt) {
        gpt2_load(host, ckpt);
        if (resume && c->lora_rank) {
            ckpt_path(path, sizeof path, resume, "lora", step);
            lora_load(host, path);
        } else if (c->lora_rank) {
            lora_init(host, c->lora_rank, c->lora_alpha > 0 ? c->lora_alpha : (float)c->lora_rank, c->lora_targets,
                      c->seed);
        }
    } else {
        GPT2Config mc = new_model_config(c);
        gpt2_init_random(host, &mc, c->seed);
    }
}

/* ------------------------------------------------------------------------ */
/* the memory plan, before anything big is allocated                         */

static int plan_fits(const MemoryTarget *mem, const GPT2Config *mc, int B, int T, TrainedSpec trained, int kv,
                     size_t available) {
    MemoryPlan plan = mem->plan(mc, B, T, trained, kv);
    return memory_plan_total(&plan) <= available;
}

/* The largest n in [1, hi] for which fits(n) holds, 0 if none; fits must
 * hold for every n below one that fits (the plan grows with B and with T). */
static int largest_fitting(const MemoryTarget *mem, const GPT2Config *mc, int hi, int vary_b, int T,
                           TrainedSpec trained, int kv, size_t available) {
    int lo = 0; /* fits(lo) holds, or lo == 0 */
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        int ok = vary_b ? plan_fits(mem, mc, mid, T, trained, kv, available)
                        : plan_fits(mem, mc, 1, mid, trained, kv, available);
        if (ok) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* What would fit in `available` instead: a smaller -b at this -t, or -b 1
 * with a shorter -t, and (for full fine-tuning) LoRA of rank 8 on qkv and
 * attproj, the default targets, where it needs less. */
static void what_would_fit(char *buf, size_t cap, const MemoryTarget *mem, const GPT2Config *mc, const TrainConfig *c,
                           TrainedSpec trained, int kv, size_t available) {
    char need[32];
    int n = 0;
    int B = c->B > 1 ? largest_fitting(mem, mc, c->B - 1, 1, c->T, trained, kv, available) : 0;
    int T = !B && c->T > 1 ? largest_fitting(mem, mc, c->T - 1, 0, 0, trained, kv, available) : 0;
    if (B) n = snprintf(buf, cap, "-b %d -t %d would fit", B, c->T);
    else if (T) n = snprintf(buf, cap, "-b 1 -t %d would fit", T);
    else n = snprintf(buf, cap, "not even -b 1 -t 1 fits");
    MemoryPlan full = mem->plan(mc, c->B, c->T, trained, kv);
    MemoryPlan lora = mem->plan(mc, c->B, c->T, (TrainedSpec){8, 1u << LORA_QKV | 1u << LORA_ATTPROJ}, kv);
    if (!trained.lora_rank && n > 0 && (size_t)n < cap && memory_plan_total(&lora) < memory_plan_total(&full))
        snprintf(buf + n, cap - (size_t)n, "; --lora 8 needs %s",
                 format_bytes(need, sizeof need, memory_plan_total(&lora)));
}

/* The plan in one line: the total, then each part that is not empty. */
static void print_plan(const MemoryTarget *mem, const MemoryPlan *p, size_t available, const char *source) {
    struct { const char *name; size_t bytes; } parts[] = {
        {"params", p->params},     {"grads", p->grads},       {"AdamW", p->adamw},
        {"activations", p->activations}, {"scratch", p->scratch}, {"KV cache", p->kv_cache},
        {"eval copy", p->eval_copy}, {"buffers", p->other}};
    char b[32];
    printf("%s plan: %s =", mem->name, format_bytes(b, sizeof b, memory_plan_total(p)));
    const char *sep = " ";
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (!parts[i].bytes) continue;
        printf("%s%s %s", sep, parts[i].name, format_bytes(b, sizeof b, parts[i].bytes));
        sep = " + ";
    }
    if (available) printf(" (available %s, %s)\n", format_bytes(b, sizeof b, available), source);
    else printf(" (available: unknown, so not checked)\n");
    fflush(stdout);
}

/* --plan-only: every part in bytes, for scripts and notes.md's table. */
static void print_plan_bytes(const MemoryPlan *p, size_t num_parameters, size_t trainable) {
    printf("parameters %zu\ntrainable %zu\nparams %zu\ngrads %zu\nadamw %zu\nactivations %zu\nscratch %zu\n"
           "kv_cache %zu\neval_copy %zu\nbuffers %zu\ntotal %zu\n",
           num_parameters, trainable, p->params, p->grads, p->adamw, p->activations, p->scratch, p->kv_cache,
           p->eval_copy, p->other, memory_plan_total(p));
}

/* Print the run's memory plan and refuse (exit 1) if it exceeds what is
 * available, unless --force: a run that cannot fit would otherwise be
 * killed by the kernel minutes later, without a word (calloc succeeds
 * under overcommit; the pages fail only when touched). */
static void check_memory(const MemoryTarget *mem, const GPT2Config *mc, const TrainConfig *c) {
    size_t sizes[NUM_PARAM_TENSORS];
    size_t num_parameters = gpt2_param_sizes(mc, sizes);
    TrainedSpec trained = {c->lora_rank, c->lora_targets};
    size_t trainable = gpt2_trained_count(mc, trained);
    int kv = c->sample_every > 0 && tokenizer_vocab_exists(c->vocab_dir);
    MemoryPlan plan = mem->plan(mc, c->B, c->T, trained, kv);
    const char *source;
    size_t available = mem->available(&source);
    print_plan(mem, &plan, available, source);
    if (c->plan_only) {
        print_plan_bytes(&plan, num_parameters, trainable);
        exit(0);
    }
    size_t total = memory_plan_total(&plan);
    if (c->force || !available || total <= available) return;
    char need[32], have[32], fit[160];
    what_would_fit(fit, sizeof fit, mem, mc, c, trained, kv, available);
    die("this run needs %s of %s but %s is available (%s): %s (or --force to try anyway)",
        format_bytes(need, sizeof need, total), mem->name, format_bytes(have, sizeof have, available), source, fit);
}

static size_t host_available(const char **source) { return host_memory_available(source); }
const MemoryTarget HOST_MEMORY = {.name = "memory", .plan = gpt2_memory_plan, .available = host_available};

/* AdamW's m and v (of the trained parameters: all, or the adapters) from
 * the rest of an open state file (read_state read its head). */
static void restore_optimizer(GPT2 *host, FILE *state, const char *path, size_t state_params) {
    gpt2_alloc_moments(host);
    TrainedParams t = gpt2_trained(host);
    if (state_params != t.n)
        die("%s: optimizer state has %zu parameters, the %s %zu", path, state_params,
            host->lora.rank ? "adapters" : "model", t.n);
    xfread(t.m, sizeof(float), t.n, state, path);
    xfread(t.v, sizeof(float), t.n, state, path);
    xfclose(state, path);
    /* a NaN here would pass into the weights at the first update (and into
     * the next checkpoint) although every gradient is finite */
    for (size_t i = 0; i < t.n; i++) {
        float m = t.m[i], v = t.v[i];
        if (!isfinite(m)) die("%s: corrupt state: AdamW's m holds %g at parameter %zu", path, m, i);
        if (!isfinite(v) || v < 0) die("%s: corrupt state: AdamW's v holds %g at parameter %zu", path, v, i);
    }
}

/* Whether the command line holds flag a or b. A setting that fails a check
 * on --resume without its flag came from the state file: the file's fault
 * (exit 1, naming it), not a usage mistake (exit 2). */
static int flag_given(int argc, char **argv, const char *a, const char *b) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], a) || !strcmp(argv[i], b)) return 1;
    return 0;
}

/* A resumed run continues the model in its folder: the flags that would make
 * another model (its shape, or --init's weights) cannot apply, so they are
 * refused rather than silently ignored. */
static void refuse_model_flags_on_resume(int argc, char **argv) {
    static const char *const fixed[] = {"--layers", "--heads", "--channels", "--context", "--init",
                                        "--lora", "--lora-alpha", "--lora-targets"};
    for (int i = 1; i < argc; i++)
        for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++)
            if (!strcmp(argv[i], fixed[k]))
                die_usage("%s cannot change on --resume: the run continues the model in its checkpoint", fixed[k]);
}

/* Everything main() and train_gpu's main() share: settings, data, model,
 * resume. Fills *c, *host, *p, the loaders; returns 1 if there is validation data. */
int train_setup(int argc, char **argv, const MemoryTarget *mem, TrainConfig *c, GPT2 *host, TrainProgress *p,
                DataLoader *train_dl, DataLoader *val_dl) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout, argv[0]); exit(0); }
    *c = TRAIN_DEFAULTS;
    strcpy(c->out_dir, "out");
    strcpy(c->vocab_dir, default_vocab_dir());
    memset(p, 0, sizeof(*p));
    const char *resume = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--resume")) resume = argv[i + 1];
    FILE *state = NULL;
    size_t state_params = 0;
    char path[1200];
    if (resume) {
        refuse_model_flags_on_resume(argc, argv);
        copy_string(c->out_dir, sizeof c->out_dir, resume, "--resume");
        lock_run_dir(resume); /* before reading: no other run may be changing it */
        int step = newest_checkpoint(resume);
        if (step < 0) die("%s: no checkpoint to resume from (no state_N.bin with its model_N.bin or lora_N.bin)", resume);
        ckpt_path(path, sizeof path, resume, "state", step);
        state = read_state(path, c, p, &state_params);
        if (p->step != step) die("%s: holds step %d, not %d", path, p->step, step);
    }
    parse_flags(c, argc, argv); /* flags win over restored settings */
    if (!resume && !c->train_pattern[0] && !c->plan_only) die_usage("--train PATTERN is required (see --help)");
    if (!c->out_dir[0]) die_usage("--out needs a folder name, not an empty string");
    /* a run lives in one folder: writing a resumed run elsewhere would mix
     * it into whatever that folder holds */
    if (resume && strcmp(c->out_dir, resume) != 0)
        die_usage("--resume %s continues the run in %s; --out %s names another folder (to branch the run, copy "
                  "the folder and resume the copy)", resume, resume, c->out_dir);
    if (!resume && c->lora_rank && !c->init_path[0])
        die_usage("--lora fine-tunes a trained model through adapters: give it one with --init CKPT");
    if (!resume && !c->lora_rank && (flag_given(argc, argv, "--lora-alpha", "--lora-targets")))
        die_usage("--lora-alpha and --lora-targets shape LoRA adapters: give --lora R too");
    if (c->lr_min > c->lr) {
        if (resume && !flag_given(argc, argv, "--lr", "--lr-min"))
            die("%s: corrupt state: lr_min %g is larger than lr %g", path, c->lr_min, c->lr);
        die_usage("--lr-min %g is larger than --lr %g", c->lr_min, c->lr);
    }

    /* the config from the checkpoint's header (or the flags), so the plan
     * comes before gigabytes of weights are read */
    char model_path[1200];
    const char *ckpt = start_checkpoint(model_path, sizeof model_path, c, resume, p->step);
    GPT2Config shape = ckpt ? gpt2_read_config(ckpt) : new_model_config(c);
    if (c->T > shape.maxT) {
        if (resume && !flag_given(argc, argv, "-t", "--seq"))
            die("%s: corrupt state: T = %d is longer than the model's context of %d", path, c->T, shape.maxT);
        die_usage("--seq %d is longer than the model's context of %d", c->T, shape.maxT);
    }
    check_memory(mem, &shape, c);
    load_model(host, c, resume, p->step);
    if (!resume) {
        make_dir(c->out_dir);
        lock_run_dir(c->out_dir);
        /* A new run must not mix its files with another run's: pruning would
         * delete them, and --resume would pick whichever has the highest step. */
        if (find_checkpoint_file(c->out_dir, path, sizeof path))
            die("%s: already holds another run's files (%s): continue it with --resume %s, or pick another --out",
                c->out_dir, path, c->out_dir);
    }

    loader_init(train_dl, c->train_pattern, c->B, c->T, host->config.V, c->shuffle, c->seed);
    int has_val = c->val_pattern[0] != 0;
    if (has_val) loader_init(val_dl, c->val_pattern, c->B, c->T, host->config.V, 0, 0);
    if (resume) {
        restore_optimizer(host, state, path, state_params);
        loader_seek(train_dl, p->data_epoch, p->data_shard, p->data_batch);
        printf("resuming %s at step %d of %d\n", resume, p->step, c->steps);
    } else {
        rng_seed(&p->rng, c->seed ^ 0x5DEECE66Dull);
    }
    const GPT2Config *mc = &host->config;
    printf("model: L=%d NH=%d C=%d maxT=%d V=%d, %.2fM parameters | batch %dx%d x%d accum | %zu training batches "
           "per epoch | %d steps\n",
           mc->L, mc->NH, mc->C, mc->maxT, mc->V, host->num_parameters / 1e6, c->B, c->T, c->grad_accum,
           train_dl->total_batches, c->steps);
    if (host->lora.rank) {
        char list[64];
        printf("LoRA: rank %d, alpha %g, on %s: %.3fM trained parameters (%.2f%% of the model's, which stay frozen)\n",
               host->lora.rank, host->lora.alpha, lora_target_list(host->lora.targets, list, sizeof list),
               host->lora.num_parameters / 1e6, 100.0 * host->lora.num_parameters / host->num_parameters);
    }
    fflush(stdout); /* shown at once, even through a pipe */
    return has_val;
}

/* Samples need the full tokenizer; without vocabulary files, training goes
 * on and says so once. */
const Tokenizer *train_tokenizer(const TrainConfig *c, const GPT2 *host) {
    if (c->sample_every <= 0) return NULL;
    if (!tokenizer_vocab_exists(c->vocab_dir)) {
        printf("note: no vocabulary in %s, so no samples (run 'make vocab' or pass --vocab DIR)\n", c->vocab_dir);
        return NULL;
    }
    Tokenizer *tok = tokenizer_load(c->vocab_dir);
    /* the model is named by the file it came from, or the run folder */
    check_vocab_pair(host, c->init_path[0] ? c->init_path : c->out_dir, tok, c->vocab_dir);
    return tok;
}
