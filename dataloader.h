/*
 * dataloader.h: the trainer's data: llm.c-format token shards, read as (B,T)
 * batches of inputs and next-token targets, in file order or in a shuffled
 * order that a resumed run recomputes exactly.
 *
 * A shard is a 256-int32 header (magic 20240520, version 1, token count)
 * followed by that many uint16 token ids (make them with ./tokenize shard).
 */
#ifndef GPT2C_DATALOADER_H
#define GPT2C_DATALOADER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *path;
    size_t ntok, nbatches;
} Shard;

typedef struct {
    Shard *shards;
    int nshards, B, T, V, shuffle;
    uint64_t seed;
    size_t total_batches;
    int epoch, shard;    /* position: shard `shard` of epoch `epoch`, */
    size_t batch;        /* next index into `order` */
    size_t *order;       /* the batch order of the current shard */
    uint16_t *buf;
    int *inputs, *targets; /* (B,T) of the last batch */
} DataLoader;

/* Open and check every shard matching the glob `pattern` (header, size, every
 * id below V); dies naming the file on a bad one. Positioned at the start. */
void loader_init(DataLoader *dl, const char *pattern, int B, int T, int V, int shuffle, uint64_t seed);
/* Move to batch `batch` of shard `shard` in epoch `epoch` (a resumed run's position). */
void loader_seek(DataLoader *dl, int epoch, int shard, size_t batch);
/* Load the next (B,T) batch into dl->inputs / dl->targets and advance. */
void loader_next(DataLoader *dl);
void loader_free(DataLoader *dl);

#endif
