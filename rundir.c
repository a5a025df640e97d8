/*
 * rundir.c: a run's folder: checkpoint file names, saving a checkpoint and
 * reading a state file back, finding the newest checkpoint and pruning old
 * ones, and log.csv (see rundir.h for the files).
 */
#define _DEFAULT_SOURCE /* flock */
#include "rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

/* ------------------------------------------------------------------------ */
/* the folder and its file names                                             */

void ckpt_path(char *buf, size_t cap, const char *dir, const char *kind, int step) {
    if ((size_t)snprintf(buf, cap, "%s/%s_%08d.bin", dir, kind, step) >= cap) die("%s: path too long", dir);
}

void make_dir(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) die("%s: cannot create directory: %s", dir, strerror(errno));
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/.write_test", dir);
    FILE *f = fopen(probe, "wb");
    if (!f) die("%s: cannot write in this directory: %s", dir, strerror(errno));
    fclose(f);
    remove(probe);
}

/*
 * One run per folder at a time. Two trainers writing the same folder would
 * interleave checkpoints and prune each other's files, so the trainer holds
 * an exclusive flock on the folder itself for as long as it runs. The kernel
 * drops the lock when the process ends however it ends (even kill -9), so a
 * crashed run never leaves a stale lock behind, and no lock file is left in
 * the folder. The descriptor is deliberately never closed.
 */
void lock_run_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) die("%s: cannot open the run folder: %s", dir, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            die("%s: another training run is using this folder (it holds its lock); wait for it to finish, "
                "or pick another --out", dir);
        die("%s: cannot lock the run folder: %s", dir, strerror(errno));
    }
}

/* ------------------------------------------------------------------------ */
/* checkpoints: model_N.bin (gpt2_save) and state_N.bin                      */

#define TRAIN_STATE_MAGIC 20241128
#define TRAIN_STATE_VERSION 1

static void put_f32(int32_t *h, int slot, float v) { memcpy(&h[slot], &v, 4); }
static float get_f32(const int32_t *h, int slot) {
    float v;
    memcpy(&v, &h[slot], 4);
    return v;
}

/* The state file (format in notes.md, "Training"): a 256-int32 header with
 * the step, data position, RNG and every numeric setting; the three path
 * strings (512 bytes each); then AdamW's m and v (num_parameters floats each). */
static void state_header(int32_t *h, const TrainConfig *c, const TrainProgress *p, size_t nparams) {
    memset(h, 0, HEADER_INTS * sizeof(int32_t));
    h[0] = TRAIN_STATE_MAGIC; h[1] = TRAIN_STATE_VERSION; h[2] = p->step;
    h[3] = c->B; h[4] = c->T; h[5] = c->steps; h[6] = c->warmup; h[7] = c->grad_accum;
    h[8] = c->eval_every; h[9] = c->eval_batches; h[10] = c->sample_every; h[11] = c->checkpoint_every;
    h[12] = c->shuffle; header_put_u64(h, 13, nparams); header_put_u64(h, 15, p->rng.state);
    h[17] = p->data_epoch; h[18] = p->data_shard; header_put_u64(h, 19, p->data_batch);
    header_put_u64(h, 21, c->seed); h[23] = c->keep_checkpoints; h[24] = c->sample_tokens;
    put_f32(h, 32, c->lr); put_f32(h, 33, c->lr_min); put_f32(h, 34, c->wd); put_f32(h, 35, c->grad_clip);
    put_f32(h, 36, c->beta1); put_f32(h, 37, c->beta2); put_f32(h, 38, c->eps);
    put_f32(h, 39, (float)p->elapsed);
}

static void write_path_field(FILE *f, const char *s, const char *path) {
    char field[PATH_FIELD] = {0};
    size_t n = strlen(s);
    memcpy(field, s, n < PATH_FIELD - 1 ? n : PATH_FIELD - 1);
    xfwrite(field, 1, PATH_FIELD, f, path);
}

void save_checkpoint(const TrainConfig *c, const TrainProgress *p, const GPT2 *model) {
    char path[1200];
    /* with LoRA the base stays as it is on disk (c->init_path): only the adapters change */
    ckpt_path(path, sizeof path, c->out_dir, model->lora.rank ? "lora" : "model", p->step);
    if (model->lora.rank) lora_save(model, c->init_path, path);
    else gpt2_save(model, path);
    /* the state is written after the weights: a state file always has its weights */
    ckpt_path(path, sizeof path, c->out_dir, "state", p->step);
    TrainedParams t = gpt2_trained(model);
    int32_t h[HEADER_INTS];
    state_header(h, c, p, t.n);
    AtomicFile af = atomic_open(path);
    xfwrite(h, sizeof(int32_t), HEADER_INTS, af.f, af.tmp_path);
    write_path_field(af.f, c->train_pattern, af.tmp_path);
    write_path_field(af.f, c->val_pattern, af.tmp_path);
    write_path_field(af.f, c->vocab_dir, af.tmp_path);
    xfwrite(t.m, sizeof(float), t.n, af.f, af.tmp_path);
    xfwrite(t.v, sizeof(float), t.n, af.f, af.tmp_path);
    atomic_commit(&af);
}

/* A setting restored from a state file, held to the range its flag allows:
 * a corrupt file must not become, say, a zero batch or keep_checkpoints = 0. */
static int state_int(const int32_t *h, int slot, const char *name, long lo, long hi, const char *path) {
    if (h[slot] < lo || h[slot] > hi) die("%s: corrupt state: %s = %d is outside [%ld, %ld]", path, name, h[slot], lo, hi);
    return h[slot];
}
static float state_real(const int32_t *h, int slot, const char *name, double lo, double hi, const char *path) {
    float v = get_f32(h, slot);
    if (!(v >= lo && v <= hi)) die("%s: corrupt state: %s = %g is outside [%g, %g]", path, name, v, lo, hi);
    return v;
}

/* m and v are left in the file: train_setup reads them (restore_optimizer)
 * once the model is loaded and its parameter count known. */
FILE *read_state(const char *path, TrainConfig *c, TrainProgress *p, size_t *nparams) {
    FILE *f = xfopen(path, "rb");
    size_t fsize = file_size(f, path);
    int32_t h[HEADER_INTS];
    read_header(f, path, h);
    if (h[0] != TRAIN_STATE_MAGIC) die("%s: not a gpt2c training state (magic %d)", path, h[0]);
    if (h[1] != TRAIN_STATE_VERSION) die("%s: unsupported training state version %d", path, h[1]);
    *nparams = (size_t)header_get_u64(h, 13);
    size_t want = 1024 + 3 * PATH_FIELD;
    if (*nparams > (SIZE_MAX - want) / (2 * sizeof(float)) || fsize != want + 2 * sizeof(float) * *nparams)
        die("%s: file is %zu bytes, but a state for %zu parameters needs %s", path, fsize, *nparams,
            *nparams > (SIZE_MAX - want) / 8 ? "more than fits" : "another size (truncated?)");
    p->step = state_int(h, 2, "step", 0, 1000000000, path);
    c->B = state_int(h, 3, "B", 1, 1000000, path);
    c->T = state_int(h, 4, "T", 1, 1000000, path);
    c->steps = state_int(h, 5, "steps", 1, 1000000000, path);
    c->warmup = state_int(h, 6, "warmup", 0, 1000000000, path);
    c->grad_accum = state_int(h, 7, "grad_accum", 1, 100000, path);
    c->eval_every = state_int(h, 8, "eval_every", 0, 1000000000, path);
    c->eval_batches = state_int(h, 9, "eval_batches", 1, 1000000, path);
    c->sample_every = state_int(h, 10, "sample_every", 0, 1000000000, path);
    c->checkpoint_every = state_int(h, 11, "checkpoint_every", 0, 1000000000, path);
    c->shuffle = state_int(h, 12, "shuffle", 0, 1, path);
    p->rng.state = header_get_u64(h, 15);
    if (p->rng.state == 0) die("%s: corrupt state: the sampling RNG state is 0", path);
    p->data_epoch = state_int(h, 17, "data_epoch", 0, INT32_MAX, path);
    p->data_shard = state_int(h, 18, "data_shard", 0, INT32_MAX, path); /* loader_seek checks it against the data */
    p->data_batch = (size_t)header_get_u64(h, 19);
    c->seed = header_get_u64(h, 21);
    c->keep_checkpoints = state_int(h, 23, "keep_checkpoints", 1, 1000000, path);
    c->sample_tokens = state_int(h, 24, "sample_tokens", 1, 1000000, path);
    c->lr = state_real(h, 32, "lr", 0, 10, path);
    c->lr_min = state_real(h, 33, "lr_min", 0, 10, path);
    c->wd = state_real(h, 34, "wd", 0, 10, path);
    c->grad_clip = state_real(h, 35, "grad_clip", 0, 1e9, path);
    c->beta1 = state_real(h, 36, "beta1", 0, 0.999999, path);
    c->beta2 = state_real(h, 37, "beta2", 0, 0.999999, path);
    c->eps = state_real(h, 38, "eps", 0, 1, path);
    p->elapsed = state_real(h, 39, "elapsed", 0, 1e12, path);
    char field[PATH_FIELD];
    char *dst[3] = {c->train_pattern, c->val_pattern, c->vocab_dir};
    for (int i = 0; i < 3; i++) {
        xfread(field, 1, PATH_FIELD, f, path);
        field[PATH_FIELD - 1] = '\0';
        strcpy(dst[i], field);
    }
    return f;
}

/* ------------------------------------------------------------------------ */
/* which checkpoints exist, and pruning                                      */

/*
 * Crash safety. A checkpoint is step N's model_N.bin and state_N.bin, each
 * written to a .tmp file, fsynced and renamed into place (atomic_commit), the
 * model first. So at any moment, whatever kills the process:
 *   - a file under its real name is complete (rename is atomic);
 *   - a state_N.bin implies its model_N.bin (written before it);
 *   - a checkpoint counts only when both exist (newest_checkpoint);
 *   - older checkpoints are deleted only after a newer one is complete, the
 *     state before the model, so a half-deleted one is never picked up.
 * A kill can leave a .tmp file or a model without its state; the next
 * prune_checkpoints sweeps them.
 */

/* The steps N for which DIR/KIND_NNNNNNNN.bin exists (exactly that name), ascending. */
static size_t checkpoint_steps(const char *dir, const char *kind, int **steps) {
    char pattern[1200], path[1200];
    ckpt_path(pattern, sizeof pattern, dir, kind, 0);
    strcpy(strrchr(pattern, '_') + 1, "*.bin");
    glob_t g;
    size_t n = 0;
    *steps = NULL;
    if (glob(pattern, 0, NULL, &g) != 0) return 0;
    *steps = xmalloc(g.gl_pathc * sizeof(int), "checkpoint list");
    for (size_t i = 0; i < g.gl_pathc; i++) { /* glob sorts, and the 8 digits make that step order */
        const char *digits = strrchr(g.gl_pathv[i], '_') + 1;
        int step = atoi(digits);
        ckpt_path(path, sizeof path, dir, kind, step);
        if (step >= 0 && !strcmp(path, g.gl_pathv[i])) (*steps)[n++] = step;
    }
    globfree(&g);
    return n;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* A checkpoint's weights are a model file, or with LoRA an adapters file. */
static const char *const WEIGHT_KINDS[] = {"model", "lora"};

const char *checkpoint_weights_kind(const char *dir, int step) {
    char path[1200];
    for (int k = 0; k < 2; k++) {
        ckpt_path(path, sizeof path, dir, WEIGHT_KINDS[k], step);
        if (file_exists(path)) return WEIGHT_KINDS[k];
    }
    return NULL;
}

int newest_checkpoint(const char *dir) {
    int *steps, best = -1;
    for (size_t i = checkpoint_steps(dir, "state", &steps); i-- > 0 && best < 0;)
        if (checkpoint_weights_kind(dir, steps[i])) best = steps[i];
    free(steps);
    return best;
}

int find_checkpoint_file(const char *dir, char *name, size_t cap) {
    static const char *const kinds[] = {"state", "model", "lora"};
    int *steps, found = 0;
    for (int k = 0; k < 3 && !found; k++) {
        const char *kind = kinds[k];
        size_t n = checkpoint_steps(dir, kind, &steps);
        if (n > 0) {
            ckpt_path(name, cap, dir, kind, steps[n - 1]);
            found = 1;
        }
        free(steps);
    }
    return found;
}

static void remove_matching(const char *pattern) {
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0) return;
    for (size_t i = 0; i < g.gl_pathc; i++) remove(g.gl_pathv[i]);
    globfree(&g);
}

/* Called once the checkpoint of step `newest` is complete: keep it and the
 * newest keep_checkpoints - 1 complete ones before it; delete older ones,
 * models left without a state, and temporary files of writes a kill cut short.
 * Checkpoints after `newest` (another run's) are left alone. */
void prune_checkpoints(const TrainConfig *c, int newest) {
    char path[1200];
    int *steps, kept = 0;
    for (size_t i = checkpoint_steps(c->out_dir, "state", &steps); i-- > 0;) {
        if (steps[i] > newest) continue;
        if (checkpoint_weights_kind(c->out_dir, steps[i]) && kept < c->keep_checkpoints) { kept++; continue; }
        ckpt_path(path, sizeof path, c->out_dir, "state", steps[i]);
        remove(path); /* the state first: weights without their state are never resumed from */
        for (int k = 0; k < 2; k++) {
            ckpt_path(path, sizeof path, c->out_dir, WEIGHT_KINDS[k], steps[i]);
            remove(path);
        }
    }
    free(steps);
    for (int k = 0; k < 2; k++) {
        for (size_t i = checkpoint_steps(c->out_dir, WEIGHT_KINDS[k], &steps); i-- > 0;) {
            ckpt_path(path, sizeof path, c->out_dir, "state", steps[i]);
            if (steps[i] >= newest || file_exists(path)) continue;
            ckpt_path(path, sizeof path, c->out_dir, WEIGHT_KINDS[k], steps[i]);
            remove(path);
        }
        free(steps);
    }
    /* atomic_open's temporary files (checkpoints, log.csv, loss.svg) that a
     * kill left: the folder's lock means no other process is writing them */
    if ((size_t)snprintf(path, sizeof path, "%s/*.??????.tmp", c->out_dir) >= sizeof path) die("%s: path too long", c->out_dir);
    remove_matching(path);
}

/* ------------------------------------------------------------------------ */
/* log.csv                                                                   */

static void log_csv_path(char *buf, size_t cap, const char *dir) {
    if ((size_t)snprintf(buf, cap, "%s/log.csv", dir) >= cap) die("%s: path too long", dir);
}

void history_add(History *h, int step, float train, float val, float lr, double elapsed, float grad_norm) {
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 256;
        HistoryRow *rows = realloc(h->rows, h->cap * sizeof(HistoryRow));
        if (!rows) die("out of memory for the training log");
        h->rows = rows;
    }
    h->rows[h->n++] = (HistoryRow){step, train, val, lr, elapsed, grad_norm};
}

/* One comma-separated field of `line` starting at *at: a NUL-terminated copy
 * in buf (empty for an empty field); *at moves past its comma. */
static void csv_field(const char **at, char *buf, size_t cap) {
    size_t n = strcspn(*at, ",\r\n");
    size_t k = n < cap - 1 ? n : cap - 1;
    memcpy(buf, *at, k);
    buf[k] = '\0';
    *at += n;
    if (**at == ',') (*at)++;
}

/* log.csv's columns are found by their names in the header row, so an empty
 * field (no validation that step) reads as NAN and every other field keeps
 * its value, and a file whose columns are in another order still reads. */
enum { COL_STEP, COL_TRAIN, COL_VAL, COL_LR, COL_ELAPSED, COL_GRAD_NORM, NUM_COLS };
static const char *const LOG_COLUMNS[NUM_COLS] = {"step", "train_loss", "val_loss", "lr", "elapsed_s", "grad_norm"};

void history_load(History *h, const char *dir, int upto) {
    char path[1200];
    log_csv_path(path, sizeof path, dir);
    FILE *f = fopen(path, "r"); /* none yet is fine: a run stopped before its first log */
    if (!f) return;
    char line[1024], field[128];
    int column_of[32]; /* which known column each field is, or -1 */
    int nfields = 0;
    if (fgets(line, sizeof line, f)) {
        for (const char *at = line; *at && *at != '\n' && *at != '\r' && nfields < 32; nfields++) {
            csv_field(&at, field, sizeof field);
            column_of[nfields] = -1;
            for (int c = 0; c < NUM_COLS; c++)
                if (!strcmp(field, LOG_COLUMNS[c])) column_of[nfields] = c;
        }
    }
    while (fgets(line, sizeof line, f)) {
        double value[NUM_COLS] = {NAN, NAN, NAN, 0, 0, NAN}; /* grad_norm: NAN in a log written before it existed */
        const char *at = line;
        for (int i = 0; i < nfields; i++) {
            csv_field(&at, field, sizeof field);
            if (column_of[i] >= 0 && field[0]) value[column_of[i]] = strtod(field, NULL);
        }
        if (isnan(value[COL_STEP])) continue;
        int step = (int)value[COL_STEP];
        if (step > upto) break;
        history_add(h, step, (float)value[COL_TRAIN], (float)value[COL_VAL], (float)value[COL_LR],
                    value[COL_ELAPSED], (float)value[COL_GRAD_NORM]);
    }
    fclose(f);
}

void write_log_csv(const History *h, const char *dir) {
    char path[1200];
    log_csv_path(path, sizeof path, dir);
    AtomicFile af = atomic_open(path);
    fprintf(af.f, "step,train_loss,val_loss,lr,elapsed_s,grad_norm\n");
    for (size_t i = 0; i < h->n; i++) {
        const HistoryRow *r = &h->rows[i];
        fprintf(af.f, "%d,", r->step);
        if (!isnan(r->train)) fprintf(af.f, "%.6f", r->train);
        fprintf(af.f, ",");
        if (!isnan(r->val)) fprintf(af.f, "%.6f", r->val);
        fprintf(af.f, ",%.6g,%.2f,", r->lr, r->elapsed);
        if (!isnan(r->grad_norm)) fprintf(af.f, "%.6g", r->grad_norm);
        fprintf(af.f, "\n");
    }
    atomic_commit(&af);
}
