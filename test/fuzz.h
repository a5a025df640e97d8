/*
 * fuzz.h: the glue that lets libFuzzer drive the project's loaders, which
 * report bad input the project's way: die(), one line, exit(1). A fuzzer
 * must survive that and go on to the next input, in the same process (its
 * coverage feedback lives there). So every source of a fuzz build is
 * compiled with `-include test/fuzz.h`, which
 *   - turns exit() into fuzz_exit(), a longjmp back to fuzz_run() while an
 *     input is being tried (a plain exit otherwise), and
 *   - routes malloc/calloc/realloc/aligned_alloc/free and fopen/fclose
 *     through a registry, so that fuzz_run() can free and close whatever the
 *     aborted load held. aligned_alloc becomes a plain registered malloc:
 *     the alignment is for speed (xmalloc), nothing depends on it.
 * The production code is unchanged; only the build differs (Makefile, `make
 * fuzz`). A load that returns normally must have released everything itself:
 * fuzz_run() aborts on anything left over, so leaks on success paths count
 * as bugs, as under LeakSanitizer.
 */
#ifndef GPT2C_FUZZ_H
#define GPT2C_FUZZ_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

void *fuzz_malloc(size_t n);
void *fuzz_calloc(size_t count, size_t size);
void *fuzz_realloc(void *p, size_t n);
void fuzz_free(void *p);
FILE *fuzz_fopen(const char *path, const char *mode);
int fuzz_fclose(FILE *f);
_Noreturn void fuzz_exit(int status);

/* Runs fn(arg). Returns -1 if it returned (then nothing may be left
 * allocated or open), or the exit status it died with (then everything it
 * left is released). */
int fuzz_run(void (*fn)(void *), void *arg);

/* The loaders read files by name: fuzz_temp_dir() is a fresh folder for the
 * input files (deleted with its files at exit), fuzz_write_file fills one. */
const char *fuzz_temp_dir(void);
void fuzz_write_file(const char *path, const void *data, size_t n);
/* The input as the file `name` in fuzz_temp_dir(); returns its path (a static buffer). */
const char *fuzz_input_file(const char *name, const unsigned char *data, size_t size);

#define malloc(n) fuzz_malloc(n)
#define calloc(n, s) fuzz_calloc(n, s)
#define realloc(p, n) fuzz_realloc(p, n)
#define aligned_alloc(a, n) fuzz_malloc(n)
#define free(p) fuzz_free(p)
#define fopen(p, m) fuzz_fopen(p, m)
#define fclose(f) fuzz_fclose(f)
#define exit(s) fuzz_exit(s)

#endif
