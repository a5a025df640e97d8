/* common.c: see common.h. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * The temporary files of atomic writes in progress. die() deletes them before
 * exiting, so that a failed program leaves neither a half-written output nor
 * a stray "<path>.tmp" behind. (A SIGKILL can still leave a .tmp, never a
 * half-written file under the real name; the trainer sweeps its own.)
 */
#define MAX_PENDING 16
static char *pending_tmp[MAX_PENDING];

static void remove_pending_files(void) {
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending_tmp[i]) {
            remove(pending_tmp[i]);
            pending_tmp[i] = NULL;
        }
}

static void set_pending(char *tmp_path, char *replace_with) {
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending_tmp[i] == tmp_path) {
            pending_tmp[i] = replace_with;
            return;
        }
    die("too many files open for writing at once (%d)", MAX_PENDING);
}

static void vreport(const char *fmt, va_list ap) {
    fflush(stdout);
    fputs("gpt2c: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    remove_pending_files();
    exit(EXIT_BAD_DATA);
}

void die_usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    remove_pending_files();
    exit(EXIT_USAGE);
}

/* glibc's large (mmap'd) blocks start 16 bytes into a cache line, and then
 * every 64-byte vector load of a weight row or a packed panel straddles two
 * lines and costs two loads: generation's weight stream ran at half speed
 * with 4 samples, and the gemm's panels paid it on every load. So every
 * block is aligned to a cache line (aligned_alloc wants the size a multiple
 * of it). */
void *xmalloc(size_t bytes, const char *what) {
    if (bytes > SIZE_MAX - ALLOC_ALIGN) die("out of memory allocating %zu bytes for %s", bytes, what);
    size_t rounded = (bytes + ALLOC_ALIGN - 1) / ALLOC_ALIGN * ALLOC_ALIGN;
    void *p = aligned_alloc(ALLOC_ALIGN, rounded ? rounded : ALLOC_ALIGN);
    if (!p) die("out of memory allocating %zu bytes for %s", bytes, what);
    return p;
}

/* Zeroed by a pass over the block, where calloc could hand out untouched
 * zero pages: every such block here (parameters, gradients, AdamW's moments)
 * is written in full before long anyway. */
void *xcalloc(size_t count, size_t size, const char *what) {
    size_t bytes = mul_size(count, size, what);
    void *p = xmalloc(bytes, what);
    memset(p, 0, bytes);
    return p;
}

size_t mul_size(size_t a, size_t b, const char *what) {
    if (a != 0 && b > SIZE_MAX / a) die("%s: size overflows", what);
    return a * b;
}

FILE *xfopen(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    if (!f) die("%s: cannot open: %s", path, strerror(errno));
    return f;
}

void xfread(void *buf, size_t size, size_t count, FILE *f, const char *path) {
    size_t got = fread(buf, size, count, f);
    if (got != count) {
        if (ferror(f)) die("%s: read error: %s", path, strerror(errno));
        die("%s: truncated (wanted %zu items of %zu bytes, got %zu)", path, count, size, got);
    }
}

void xfwrite(const void *buf, size_t size, size_t count, FILE *f, const char *path) {
    if (fwrite(buf, size, count, f) != count) die("%s: write error: %s", path, strerror(errno));
}

void xfclose(FILE *f, const char *path) {
    if (fclose(f) != 0) die("%s: error on close: %s", path, strerror(errno));
}

size_t file_size(FILE *f, const char *path) {
    /* fstat rather than seeking to the end: a directory opens fine and seeks
     * to a nonsense size, and a pipe cannot be sized at all */
    struct stat st;
    if (fstat(fileno(f), &st) != 0) die("%s: cannot stat: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) die("%s: is a directory, not a file", path);
    if (!S_ISREG(st.st_mode)) die("%s: not a regular file (a pipe or device cannot be sized)", path);
    return (size_t)st.st_size;
}

void finish_stdout(void) {
    if (fflush(stdout) != 0 || ferror(stdout)) die("standard output: write error: %s", strerror(errno));
}

char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n, "path");
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int path_kind(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return PATH_NONE;
    return S_ISDIR(st.st_mode) ? PATH_DIR : PATH_FILE;
}

char *read_file_at_most(const char *path, size_t *len, size_t max, const char *what) {
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "standard input" : path;
    FILE *f = is_stdin ? stdin : xfopen(path, "rb");
    /* Read until end of file rather than trust the file's size: files under
     * /proc report 0, and a pipe or terminal has none. The size, when there
     * is one, only sets the first buffer. */
    struct stat st;
    if (fstat(fileno(f), &st) != 0) die("%s: cannot stat: %s", name, strerror(errno));
    if (S_ISDIR(st.st_mode)) die("%s: is a directory, not a file", name);
    size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size < max ? (size_t)st.st_size + 1 : 65536;
    size_t n = 0;
    char *buf = xmalloc(cap, name);
    for (;;) {
        n += fread(buf + n, 1, cap - n, f);
        if (ferror(f)) die("%s: read error: %s", name, strerror(errno));
        if (n > max) die("%s: more than %zu bytes, too large for %s", name, max, what);
        if (n < cap) break; /* end of file */
        cap = mul_size(cap, 2, name);
        char *grown = realloc(buf, cap);
        if (!grown) die("out of memory reading %s", name);
        buf = grown;
    }
    buf[n] = '\0'; /* n < cap: there is room */
    if (!is_stdin) xfclose(f, path);
    if (len) *len = n;
    return buf;
}

char *read_whole_file(const char *path, size_t *len) { return read_file_at_most(path, len, SIZE_MAX / 4, "memory"); }

/*
 * The temporary name is "<path>.XXXXXX.tmp", six characters that change with
 * every try, and it is created exclusively (O_EXCL): if anything is already
 * there, a file or a symlink planted by someone else, the open fails and
 * another name is tried, so an atomic write never writes through a link and
 * two processes writing the same path never share a temporary file.
 * O_NOFOLLOW adds nothing to O_EXCL on a conforming system; it states the
 * intent. Mode 0666 less the umask, as fopen would give.
 */
static FILE *create_unique_tmp(const char *path, char **tmp_path) {
    static const char ALPHABET[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    static uint64_t tries; /* differs between calls in one process */
    size_t n = strlen(path);
    char *tmp = xmalloc(n + 12, "file name");
    Rng rng;
    rng_seed(&rng, (uint64_t)getpid() << 32 ^ (uint64_t)(now_seconds() * 1e9) ^ tries);
    for (int attempt = 0;; attempt++) {
        tries++;
        memcpy(tmp, path, n);
        tmp[n] = '.';
        for (int i = 0; i < 6; i++) tmp[n + 1 + i] = ALPHABET[rng_u32(&rng) % 36];
        memcpy(tmp + n + 7, ".tmp", 5);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0) {
            FILE *f = fdopen(fd, "wb");
            if (!f) die("%s: cannot open for writing: %s", tmp, strerror(errno));
            *tmp_path = tmp;
            return f;
        }
        if (errno != EEXIST || attempt == 100) die("%s: cannot create: %s", path, strerror(errno));
    }
}

AtomicFile atomic_open(const char *path) {
    AtomicFile af;
    size_t n = strlen(path);
    af.path = xmalloc(n + 1, "file name");
    memcpy(af.path, path, n + 1);
    af.f = create_unique_tmp(path, &af.tmp_path);
    set_pending(NULL, af.tmp_path);
    return af;
}

/* fsync the directory holding `path`, so that a rename into it is on disk
 * before the caller goes on (say, to delete the older files it replaces).
 * Without it, a power cut could keep the deletions and lose the rename. */
static void fsync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    char *dir = xmalloc(n + 2, "directory name");
    if (!slash) strcpy(dir, ".");
    else if (n == 0) strcpy(dir, "/");
    else { memcpy(dir, path, n); dir[n] = '\0'; }
    int fd = open(dir, O_RDONLY);
    /* some file systems cannot fsync a directory (EINVAL): nothing more to do there */
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL)) die("%s: cannot sync directory: %s", dir, strerror(errno));
    close(fd);
    free(dir);
}

/* The part of a commit that can fail for want of space or a bad disk: the
 * data reaches the disk under the temporary name. */
static void atomic_sync(AtomicFile *af) {
    if (fflush(af->f) != 0) die("%s: write error: %s", af->tmp_path, strerror(errno));
    if (fsync(fileno(af->f)) != 0) die("%s: fsync failed: %s", af->tmp_path, strerror(errno));
    xfclose(af->f, af->tmp_path);
    af->f = NULL;
}

static void atomic_rename(AtomicFile *af) {
    if (rename(af->tmp_path, af->path) != 0)
        die("%s: cannot rename to %s: %s", af->tmp_path, af->path, strerror(errno));
    set_pending(af->tmp_path, NULL);
    fsync_parent_dir(af->path);
    free(af->path);
    free(af->tmp_path);
    af->path = af->tmp_path = NULL;
}

void atomic_commit(AtomicFile *af) { atomic_commit_all(af, 1); }

/* Every file is synced before any is renamed: a full disk stops the commit
 * while all the old files are still in place (and die() deletes every
 * temporary file). Only a failing rename, within one folder, could still
 * leave some files new and some old. */
void atomic_commit_all(AtomicFile *files, int n) {
    for (int i = 0; i < n; i++) atomic_sync(&files[i]);
    for (int i = 0; i < n; i++) atomic_rename(&files[i]);
}

void header_put_u64(int32_t *h, int slot, uint64_t v) {
    h[slot] = (int32_t)(uint32_t)(v & 0xFFFFFFFFu);
    h[slot + 1] = (int32_t)(uint32_t)(v >> 32);
}
uint64_t header_get_u64(const int32_t *h, int slot) {
    return (uint64_t)(uint32_t)h[slot] | (uint64_t)(uint32_t)h[slot + 1] << 32;
}

void read_header(FILE *f, const char *path, int32_t header[HEADER_INTS]) {
    size_t got = fread(header, sizeof(int32_t), HEADER_INTS, f);
    if (got != HEADER_INTS) {
        if (ferror(f)) die("%s: read error: %s", path, strerror(errno));
        die("%s: truncated header (%zu of 1024 bytes)", path, got * sizeof(int32_t));
    }
}

long parse_long(const char *s, const char *flag, long min, long max) {
    if (!s) die_usage("%s needs a value", flag);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0') die_usage("%s: '%s' is not an integer", flag, s);
    if (v < min || v > max) die_usage("%s: %ld is out of range [%ld, %ld]", flag, v, min, max);
    return v;
}

double parse_double(const char *s, const char *flag, double min, double max) {
    if (!s) die_usage("%s needs a value", flag);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || isnan(v)) die_usage("%s: '%s' is not a number", flag, s);
    if (v < min || v > max) die_usage("%s: %g is out of range [%g, %g]", flag, v, min, max);
    return v;
}

size_t memory_available_override(void) {
    const char *env = getenv("GPT2C_MEM_AVAILABLE");
    if (!env || !*env) return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(env, &end, 10);
    if (errno || end == env || *end != '\0' || v == 0 || env[0] == '-')
        die_usage("GPT2C_MEM_AVAILABLE: '%s' is not a positive number of bytes", env);
    return v > SIZE_MAX ? SIZE_MAX : (size_t)v;
}

/* MemAvailable estimates what can be allocated without swapping: free
 * memory plus the page cache and other memory the kernel can reclaim. */
static size_t linux_mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) break;
    fclose(f);
    return kib > SIZE_MAX / 1024 ? SIZE_MAX : (size_t)kib * 1024;
}

size_t host_memory_available(const char **source) {
    size_t bytes = memory_available_override();
    if (bytes) { *source = "GPT2C_MEM_AVAILABLE"; return bytes; }
    if ((bytes = linux_mem_available())) { *source = "MemAvailable"; return bytes; }
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGE_SIZE)
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page > 0) {
        *source = "physical memory";
        return (size_t)pages > SIZE_MAX / (size_t)page ? SIZE_MAX : (size_t)pages * (size_t)page;
    }
#endif
    *source = "unknown";
    return 0;
}

const char *format_bytes(char *buf, size_t cap, size_t bytes) {
    double b = (double)bytes;
    if (b >= 1024.0 * 1024 * 1024) snprintf(buf, cap, "%.1f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024) snprintf(buf, cap, "%.0f MiB", b / (1024.0 * 1024));
    else snprintf(buf, cap, "%.0f KiB", b / 1024.0);
    return buf;
}

const char *option_value(int argc, char **argv, int *i, const char *const *names) {
    const char *a = argv[*i];
    int known = 0;
    for (const char *const *n = names; *n && !known; n++) known = !strcmp(a, *n);
    if (!known) die_usage("unknown option '%s' (see --help)", a);
    if (*i + 1 >= argc) die_usage("%s needs a value", a);
    return argv[++*i];
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void rng_seed(Rng *r, uint64_t seed) {
    /* splitmix64 of the seed, so that nearby seeds give unrelated streams
     * (and seed 0 does not give the all-zero state xorshift cannot leave) */
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    r->state = z ? z : 1;
}

uint32_t rng_u32(Rng *r) {
    r->state ^= r->state >> 12;
    r->state ^= r->state << 25;
    r->state ^= r->state >> 27;
    return (uint32_t)((r->state * 0x2545F4914F6CDD1Dull) >> 32);
}

float rng_uniform(Rng *r) {
    return (float)(rng_u32(r) >> 8) / 16777216.0f; /* 24 random bits: every value exact in float */
}

float rng_normal(Rng *r) {
    float u1 = rng_uniform(r), u2 = rng_uniform(r);
    return sqrtf(-2.0f * logf(1.0f - u1)) * cosf(6.2831853071795864f * u2);
}
