/*
 * dataloader.c: token shards and the batch order (see dataloader.h). Every
 * shard is checked once when the run starts, header, size and ids, so that
 * bad data fails at once rather than hours into a run.
 */
#define _POSIX_C_SOURCE 200809L
#include "dataloader.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define SHARD_MAGIC 20240520

/* Every id must be a token of the model: checked once up front, so that a bad
 * shard fails at the start rather than hours into a run. */
static void check_token_ids(const Shard *s, int V) {
    enum { CHUNK = 1 << 16 };
    uint16_t *buf = xmalloc(CHUNK * sizeof(uint16_t), "shard check buffer");
    FILE *f = xfopen(s->path, "rb");
    if (fseek(f, 1024, SEEK_SET) != 0) die("%s: cannot seek past the header", s->path);
    for (size_t done = 0; done < s->ntok;) {
        size_t n = s->ntok - done < CHUNK ? s->ntok - done : CHUNK;
        xfread(buf, sizeof(uint16_t), n, f, s->path);
        for (size_t i = 0; i < n; i++)
            if (buf[i] >= V)
                die("%s: token %u at position %zu is outside the vocabulary [0, %d)", s->path, buf[i], done + i, V);
        done += n;
    }
    xfclose(f, s->path);
    free(buf);
}

/* Open and check every shard matching `pattern` (header, size), counting the
 * (B,T) batches each holds. Batch k of a shard covers tokens
 * [k*B*T, k*B*T + B*T + 1): inputs are the first B*T, targets the last B*T. */
void loader_init(DataLoader *dl, const char *pattern, int B, int T, int V, int shuffle, uint64_t seed) {
    memset(dl, 0, sizeof(*dl));
    glob_t g;
    int rc = glob(pattern, 0, NULL, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) die("%s: no files match this pattern", pattern);
    if (rc != 0) die("%s: cannot expand this pattern", pattern);
    dl->nshards = (int)g.gl_pathc;
    dl->shards = xcalloc(g.gl_pathc, sizeof(Shard), "shard list");
    dl->B = B;
    dl->T = T;
    dl->V = V;
    dl->shuffle = shuffle;
    dl->seed = seed;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        dl->shards[i].path = xmalloc(strlen(g.gl_pathv[i]) + 1, "shard path");
        strcpy(dl->shards[i].path, g.gl_pathv[i]);
    }
    globfree(&g);
    size_t BT = (size_t)B * T, total = 0;
    for (int i = 0; i < dl->nshards; i++) {
        Shard *s = &dl->shards[i];
        FILE *f = xfopen(s->path, "rb");
        size_t size = file_size(f, s->path);
        int32_t h[HEADER_INTS];
        read_header(f, s->path, h);
        xfclose(f, s->path);
        if (h[0] != SHARD_MAGIC) die("%s: not a token shard (magic %d, expected %d)", s->path, h[0], SHARD_MAGIC);
        if (h[1] != 1) die("%s: unsupported token shard version %d (1 = uint16 tokens)", s->path, h[1]);
        if (h[2] < 0 || size != 1024 + 2 * (size_t)h[2])
            die("%s: header says %d tokens but the file holds %zu bytes of tokens", s->path, h[2], size - 1024);
        s->ntok = (size_t)h[2];
        check_token_ids(s, V);
        s->nbatches = s->ntok > BT ? (s->ntok - 1) / BT : 0;
        total += s->nbatches;
    }
    if (total == 0)
        die("%s: the data is shorter than one batch (B*T+1 = %zu tokens needed)", pattern, BT + 1);
    dl->total_batches = total;
    dl->buf = xmalloc((BT + 1) * sizeof(uint16_t), "batch buffer");
    dl->inputs = xmalloc(BT * sizeof(int), "batch inputs");
    dl->targets = xmalloc(BT * sizeof(int), "batch targets");
    loader_seek(dl, 0, 0, 0);
}

/* The batch order within shard `shard` in epoch `epoch`: file order, or a
 * Fisher-Yates shuffle seeded by (seed, epoch, shard). Derived, not stored, so
 * a resumed run recomputes exactly the same order. */
static void loader_make_order(DataLoader *dl) {
    Shard *s = &dl->shards[dl->shard];
    free(dl->order);
    dl->order = xmalloc((s->nbatches ? s->nbatches : 1) * sizeof(size_t), "batch order");
    for (size_t k = 0; k < s->nbatches; k++) dl->order[k] = k;
    if (!dl->shuffle) return;
    Rng r;
    rng_seed(&r, dl->seed * 1000003ull + (uint64_t)dl->epoch * 7919ull + (uint64_t)dl->shard);
    for (size_t k = s->nbatches; k > 1; k--) {
        size_t j = ((size_t)rng_u32(&r) << 32 | rng_u32(&r)) % k;
        size_t tmp = dl->order[k - 1];
        dl->order[k - 1] = dl->order[j];
        dl->order[j] = tmp;
    }
}

void loader_seek(DataLoader *dl, int epoch, int shard, size_t batch) {
    if (shard < 0 || shard >= dl->nshards || batch > dl->shards[shard].nbatches)
        die("data position (epoch %d, shard %d, batch %zu) does not exist in these shards", epoch, shard, batch);
    dl->epoch = epoch;
    dl->shard = shard;
    dl->batch = batch;
    loader_make_order(dl);
}

/* Load the next (B,T) batch into dl->inputs / dl->targets and advance. */
void loader_next(DataLoader *dl) {
    while (dl->batch >= dl->shards[dl->shard].nbatches) { /* end of shard: next one, or next epoch */
        int shard = dl->shard + 1, epoch = dl->epoch;
        if (shard == dl->nshards) { shard = 0; epoch++; }
        loader_seek(dl, epoch, shard, 0);
    }
    Shard *s = &dl->shards[dl->shard];
    size_t BT = (size_t)dl->B * dl->T;
    size_t start = dl->order[dl->batch] * BT;
    FILE *f = xfopen(s->path, "rb");
    if (fseek(f, (long)(1024 + 2 * start), SEEK_SET) != 0) die("%s: cannot seek to token %zu", s->path, start);
    xfread(dl->buf, sizeof(uint16_t), BT + 1, f, s->path);
    xfclose(f, s->path);
    for (size_t i = 0; i < BT; i++) {
        dl->inputs[i] = dl->buf[i];
        dl->targets[i] = dl->buf[i + 1];
    }
    dl->batch++;
}

void loader_free(DataLoader *dl) {
    for (int i = 0; i < dl->nshards; i++) free(dl->shards[i].path);
    free(dl->shards);
    free(dl->order);
    free(dl->buf);
    free(dl->inputs);
    free(dl->targets);
    memset(dl, 0, sizeof(*dl));
}
