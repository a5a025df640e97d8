/*
 * common.h: checked I/O, allocation and error reporting shared by every program.
 *
 * The rule of the project: bad input gets ONE line on stderr that names the
 * file and what is wrong, and a non-zero exit. Rather than repeat that logic
 * at every fopen/fread/malloc, each call goes through one of these wrappers.
 * Exit codes: 1 = bad data or a failed operation, 2 = bad command-line usage.
 */
#ifndef GPT2C_COMMON_H
#define GPT2C_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define EXIT_BAD_DATA 1
#define EXIT_USAGE 2

/* Print "gpt2c: <message>" and exit(1). printf-style. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Same, but for command-line mistakes: exit(2). */
void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Allocation that never returns NULL: on failure it names what it was for.
 * Every block starts on a 64-byte boundary (ALLOC_ALIGN); free() frees it. */
#define ALLOC_ALIGN 64
void *xmalloc(size_t bytes, const char *what);
void *xcalloc(size_t count, size_t size, const char *what);
/* a*b (and a*b*c) in size_t, dying with `what` if the product would overflow. */
size_t mul_size(size_t a, size_t b, const char *what);

/* fopen/fread/fwrite/fclose that report the path and reason on failure. */
FILE *xfopen(const char *path, const char *mode);
/* Read exactly `count` items or die with "PATH: truncated (...)". */
void xfread(void *buf, size_t size, size_t count, FILE *f, const char *path);
void xfwrite(const void *buf, size_t size, size_t count, FILE *f, const char *path);
void xfclose(FILE *f, const char *path);
/* Size of an open file in bytes (dies for a directory, pipe or device). */
size_t file_size(FILE *f, const char *path);
/* Read a whole file ("-": standard input) into a NUL-terminated heap buffer,
 * until end of file (so /proc files and pipes work); *len gets its size. */
char *read_whole_file(const char *path, size_t *len);
/* The same, dying with "PATH: more than MAX bytes, too large for WHAT" past
 * max bytes (a prompt file of /dev/zero is an error, not a hang). */
char *read_file_at_most(const char *path, size_t *len, size_t max, const char *what);

/* Flush standard output and die if any write to it failed (a full disk, a
 * closed pipe, /dev/full): a program's output is its result, and a lost one
 * must not end in exit 0. Call once, after the last output. */
void finish_stdout(void);

/* "dir/name" in a new heap buffer. */
char *path_join(const char *dir, const char *name);
/* What is at path: nothing (or nothing we may look at), a directory, or
 * something else (a file). */
enum { PATH_NONE, PATH_FILE, PATH_DIR };
int path_kind(const char *path);

/*
 * Atomic file replacement: write to a new temporary file beside <path>
 * ("<path>.XXXXXX.tmp", created exclusively under a fresh name, so it never
 * follows a symlink or meets another writer's), then fsync and rename over
 * <path>, then fsync the directory. A crash at any moment leaves either the
 * old file or the new one, never a half-written file under the real name; and
 * die() deletes the .tmp files of writes in progress, so a failed program
 * leaves nothing behind.
 */
typedef struct {
    FILE *f;
    char *path;     /* final name */
    char *tmp_path; /* "<path>.XXXXXX.tmp" */
} AtomicFile;
AtomicFile atomic_open(const char *path);
void atomic_commit(AtomicFile *af); /* flush, fsync, close, rename; dies on failure */
/* Several files as one: all are flushed and synced before any is renamed, so
 * a write error leaves every old file in place. */
void atomic_commit_all(AtomicFile *files, int n);

/* The 256-int32 header that starts every llm.c-format file. */
#define HEADER_INTS 256
void read_header(FILE *f, const char *path, int32_t header[HEADER_INTS]);
/* A uint64 in two header slots, low word first (the gpt2c files' convention). */
void header_put_u64(int32_t *h, int slot, uint64_t v);
uint64_t header_get_u64(const int32_t *h, int slot);

/* Strict number parsing for command-line values: die_usage on junk. */
long parse_long(const char *s, const char *flag, long min, long max);
double parse_double(const char *s, const char *flag, double min, double max);
/* Bytes of memory free for new allocations: $GPT2C_MEM_AVAILABLE if set
 * (for tests, to fake a small machine), else Linux's MemAvailable, else the
 * physical memory (sysconf); 0 if none is known. *source names which. */
size_t host_memory_available(const char **source);
/* $GPT2C_MEM_AVAILABLE in bytes, 0 if unset; a bad value is a usage error. */
size_t memory_available_override(void);
/* "512 KiB", "475 MiB", "1.9 GiB": bytes for people, into buf. */
const char *format_bytes(char *buf, size_t cap, size_t bytes);

/* The value of the option argv[*i], which must be one of `names` (a
 * NULL-terminated list of the options that take a value), moving *i onto it;
 * dies (usage) for an unknown option or a missing value. */
const char *option_value(int argc, char **argv, int *i, const char *const *names);

/*
 * A small seeded random number generator (xorshift64*), the only source of
 * randomness in the project: weight initialisation, data order and sampling
 * all draw from one of these, so a seed reproduces a run exactly. Its whole
 * state is one integer, which the trainer saves with each checkpoint.
 */
typedef struct {
    uint64_t state;
} Rng;
void rng_seed(Rng *r, uint64_t seed);
uint32_t rng_u32(Rng *r);
float rng_uniform(Rng *r); /* [0, 1) */
float rng_normal(Rng *r);  /* N(0, 1), Box-Muller */

/* A float's IEEE-754 bit pattern, and the float of a bit pattern (memcpy:
 * the copy C and C++ both define, which compilers reduce to a move). */
static inline uint32_t float_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline float bits_to_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Wall-clock seconds from a monotonic clock. */
double now_seconds(void);

#endif
