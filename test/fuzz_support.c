/* fuzz_support.c: the registry and the jump behind test/fuzz.h. */
#include "fuzz.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* this file implements the hooks with the real functions */
#undef malloc
#undef calloc
#undef realloc
#undef free
#undef fopen
#undef fclose
#undef exit

/* Every live allocation sits behind a header that links it into a circular
 * list, so that all of them can be found and freed after a die(). */
typedef union Block {
    struct {
        union Block *prev, *next;
    } link;
    max_align_t align; /* keeps the memory after the header aligned */
} Block;
static Block live = {.link = {&live, &live}};

static void *track(Block *b) {
    b->link.prev = &live;
    b->link.next = live.link.next;
    live.link.next->link.prev = b;
    live.link.next = b;
    return b + 1;
}

static Block *untrack(void *p) {
    Block *b = (Block *)p - 1;
    b->link.prev->link.next = b->link.next;
    b->link.next->link.prev = b->link.prev;
    return b;
}

void *fuzz_malloc(size_t n) {
    Block *b = n > SIZE_MAX - sizeof(Block) ? NULL : malloc(sizeof(Block) + n);
    return b ? track(b) : NULL;
}

void *fuzz_calloc(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    void *p = fuzz_malloc(count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void *fuzz_realloc(void *p, size_t n) {
    if (!p) return fuzz_malloc(n);
    if (n > SIZE_MAX - sizeof(Block)) return NULL;
    Block *old = untrack(p);
    Block *b = realloc(old, sizeof(Block) + n);
    if (!b) {
        track(old); /* realloc failed: the old block is still live */
        return NULL;
    }
    return track(b);
}

void fuzz_free(void *p) {
    if (p) free(untrack(p));
}

enum { MAX_FILES = 64 };
static FILE *open_files[MAX_FILES];

FILE *fuzz_fopen(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    for (int i = 0; f && i < MAX_FILES; i++)
        if (!open_files[i]) {
            open_files[i] = f;
            return f;
        }
    if (f) abort(); /* more than MAX_FILES open at once: a leak */
    return NULL;
}

int fuzz_fclose(FILE *f) {
    for (int i = 0; i < MAX_FILES; i++)
        if (open_files[i] == f) open_files[i] = NULL;
    return fclose(f);
}

static jmp_buf *armed; /* set while fuzz_run is inside fn */

_Noreturn void fuzz_exit(int status) {
    if (armed) longjmp(*armed, status + 1); /* +1: setjmp's 0 means "first pass" */
    exit(status);
}

/* Frees and closes everything still registered; returns how many there were. */
static int release_all(void) {
    int n = 0;
    while (live.link.next != &live) {
        free(untrack(live.link.next + 1));
        n++;
    }
    for (int i = 0; i < MAX_FILES; i++)
        if (open_files[i]) {
            fclose(open_files[i]);
            open_files[i] = NULL;
            n++;
        }
    return n;
}

int fuzz_run(void (*fn)(void *), void *arg) {
    jmp_buf here;
    int jumped = setjmp(here);
    if (jumped) {
        armed = NULL;
        release_all();
        return jumped - 1;
    }
    armed = &here;
    fn(arg);
    armed = NULL;
    int left = release_all();
    if (left) {
        fprintf(stderr, "fuzz: a successful load left %d allocations or files behind (a leak)\n", left);
        abort();
    }
    return -1;
}

void fuzz_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

static char temp_dir[64];

static void remove_temp_dir(void) {
    DIR *d = opendir(temp_dir);
    if (!d) return;
    char path[512];
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", temp_dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(temp_dir);
}

const char *fuzz_temp_dir(void) {
    if (!temp_dir[0]) {
        strcpy(temp_dir, "/tmp/gpt2c_fuzz_XXXXXX");
        if (!mkdtemp(temp_dir)) {
            perror("mkdtemp");
            abort();
        }
        atexit(remove_temp_dir);
    }
    return temp_dir;
}

const char *fuzz_input_file(const char *name, const unsigned char *data, size_t size) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", fuzz_temp_dir(), name);
    fuzz_write_file(path, data, size);
    return path;
}
