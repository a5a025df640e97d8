/*
 * test_checkpoint: checkpoint save/load round trips, bf16 (version 5) loading,
 * and bad checkpoints that must die with one clear line.
 *
 * Bad files are loaded in a child process (fork), whose exit status and stderr
 * are checked: exit 1, exactly one line, naming the file and the problem.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glob.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common.h"
#include "../gpt2.h"
#include "check.h"

static char tmpdir[] = "/tmp/gpt2c_ckpt_XXXXXX";

static const char *tmp_path(const char *name) {
    static char buf[4][256];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void random_model(GPT2 *m, GPT2Config c, unsigned seed) {
    gpt2_init_empty(m, &c);
    srand(seed);
    for (size_t i = 0; i < m->num_parameters; i++) m->params_memory[i] = (float)((double)rand() / RAND_MAX) - 0.5f;
    for (size_t i = (size_t)c.V * c.C; i < (size_t)c.Vp * c.C; i++) m->params_memory[i] = 0.0f;
}

static int files_equal(const char *a, const char *b) {
    size_t na, nb;
    char *x = read_whole_file(a, &na), *y = read_whole_file(b, &nb);
    int eq = na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return eq;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = xfopen(path, "wb");
    xfwrite(data, 1, n, f, path);
    xfclose(f, path);
}

static size_t count_matching(const char *pattern) {
    glob_t g;
    size_t n = glob(pattern, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
    if (n) globfree(&g);
    return n;
}

/* atomic_open never writes through a symlink planted at a temporary name
 * (the old, predictable "<path>.tmp" did), and two writes of one path in
 * flight at once get temporary files of their own. */
static void atomic_writes(void) {
    const char *victim = tmp_path("victim.txt"), *target = tmp_path("sym.bin");
    write_file(victim, "keep me", 7);
    if (symlink(victim, tmp_path("sym.bin.tmp")) != 0) die("cannot make a symlink");
    GPT2Config c = {.maxT = 4, .V = 8, .Vp = 8, .L = 1, .NH = 1, .C = 4};
    GPT2 m;
    random_model(&m, c, 3);
    gpt2_save(&m, target);
    size_t n;
    char *kept = read_whole_file(victim, &n);
    struct stat st;
    CHECK(n == 7 && !memcmp(kept, "keep me", 7), "atomic_write_ignores_planted_symlink", "victim.txt was overwritten");
    CHECK(lstat(target, &st) == 0 && S_ISREG(st.st_mode), "atomic_write_target_is_a_regular_file",
          "sym.bin is not a regular file");
    free(kept);
    AtomicFile a = atomic_open(target), b = atomic_open(target);
    CHECK(strcmp(a.tmp_path, b.tmp_path) != 0, "atomic_writes_in_flight_have_own_temp_files", "both use %s",
          a.tmp_path);
    fputs("a", a.f);
    fputs("b", b.f);
    atomic_commit(&a);
    atomic_commit(&b);
    char *last = read_whole_file(target, &n);
    CHECK(n == 1 && last[0] == 'b' && count_matching(tmp_path("sym.bin.*.tmp")) == 0,
          "atomic_writes_in_flight_both_commit", "%zu bytes, temporary files left: %zu", n,
          count_matching(tmp_path("sym.bin.*.tmp")));
    free(last);
    gpt2_free(&m);
}

/* atomic_commit_all is all or nothing: when the second file's write fails
 * (its descriptor closed under it, as a full disk would fail its flush), the
 * first target keeps its old contents and no temporary file is left. The
 * failing commit runs in a child process, since it dies. */
static void commit_all_or_nothing(void) {
    const char *first = tmp_path("pair_train.bin"), *second = tmp_path("pair_val.bin");
    write_file(first, "old", 3);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) _exit(3);
        AtomicFile files[2] = {atomic_open(first), atomic_open(second)};
        fputs("new", files[0].f);
        fputs("new", files[1].f);
        close(fileno(files[1].f)); /* the flush of the second fails */
        atomic_commit_all(files, 2);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    size_t n;
    char *kept = read_whole_file(first, &n);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "commit_all_failure_exits_1", "status %d", status);
    CHECK(n == 3 && !memcmp(kept, "old", 3) && !path_exists(second), "commit_all_keeps_old_files",
          "the first file was replaced although the second failed");
    CHECK(count_matching(tmp_path("pair_*.tmp")) == 0, "commit_all_failure_leaves_no_temp_files", "%zu left",
          count_matching(tmp_path("pair_*.tmp")));
    free(kept);
}

static void round_trips(void) {
    GPT2Config c = {.maxT = 16, .V = 50, .Vp = 64, .L = 2, .NH = 2, .C = 8};
    GPT2 m, back;
    random_model(&m, c, 1);
    const char *p1 = tmp_path("a.bin"), *p2 = tmp_path("b.bin");
    gpt2_save(&m, p1);
    gpt2_load(&back, p1);
    CHECK(back.num_parameters == m.num_parameters &&
              !memcmp(back.params_memory, m.params_memory, m.num_parameters * sizeof(float)) &&
              !memcmp(&back.config, &m.config, sizeof(GPT2Config)),
          "save_load_same_parameters", "loaded model differs");
    gpt2_save(&back, p2);
    CHECK(files_equal(p1, p2), "save_load_save_identical_bytes", "files differ");
    size_t n;
    free(read_whole_file(p1, &n));
    CHECK(n == 1024 + 4 * m.num_parameters, "saved_file_size", "%zu bytes", n);
    CHECK(count_matching(tmp_path("a.bin*.tmp")) == 0, "save_leaves_no_temp_file", "a temporary a.bin...tmp is left");

    /* A fixture written by another implementation round-trips byte for byte. */
    const char *fx = SHARED_DIR "/fixtures/gpt2/tiny/model.bin";
    if (path_exists(fx)) {
        GPT2 f;
        gpt2_load(&f, fx);
        gpt2_save(&f, p2);
        CHECK(files_equal(fx, p2), "fixture_load_save_identical_bytes", "re-saved tiny/model.bin differs");
        gpt2_free(&f);
    } else {
        check_skip("fixture_load_save_identical_bytes", "no " SHARED_DIR "/fixtures/gpt2/tiny/model.bin");
    }
    gpt2_free(&back);

    /* Version 5: the same layout with bfloat16 values. Written here by taking
     * the top 16 bits of each float; loading must widen them back exactly. */
    int32_t h[HEADER_INTS] = {CHECKPOINT_MAGIC, 5, c.maxT, c.V, c.L, c.NH, c.C, c.Vp};
    size_t bytes = 1024 + 2 * m.num_parameters;
    unsigned char *buf = xcalloc(bytes, 1, "bf16 file");
    memcpy(buf, h, sizeof h);
    for (size_t i = 0; i < m.num_parameters; i++) {
        uint32_t bits;
        memcpy(&bits, &m.params_memory[i], 4);
        uint16_t top = (uint16_t)(bits >> 16);
        memcpy(buf + 1024 + 2 * i, &top, 2);
    }
    const char *p5 = tmp_path("bf16.bin");
    write_file(p5, buf, bytes);
    GPT2 b16;
    gpt2_load(&b16, p5);
    size_t bad = 0;
    double maxerr = 0;
    for (size_t i = 0; i < m.num_parameters; i++) {
        uint32_t bits;
        memcpy(&bits, &m.params_memory[i], 4);
        bits &= 0xFFFF0000u;
        float widened;
        memcpy(&widened, &bits, 4);
        if (b16.params_memory[i] != widened) bad++;
        maxerr = fmax(maxerr, fabs(b16.params_memory[i] - m.params_memory[i]));
    }
    CHECK(bad == 0 && maxerr > 0 && maxerr < 4e-3, "bf16_v5_loads_widened_values",
          "%zu entries differ from the widened bf16 values (max err vs fp32 %.3g)", bad, maxerr);
    free(buf);
    gpt2_free(&b16);
    gpt2_free(&m);
}

/* ---- bad checkpoints ---- */

/* Load `path` in a child; check exit 1, one stderr line containing the path and `want`. */
static void expect_load_dies(const char *name, const char *path, const char *want) {
    int fds[2];
    if (pipe(fds) != 0) die("pipe failed");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        GPT2 m;
        gpt2_load(&m, path);
        _exit(0); /* loaded: the test fails below */
    }
    close(fds[1]);
    char err[1024] = {0};
    size_t n = 0;
    ssize_t r;
    while ((r = read(fds[0], err + n, sizeof err - 1 - n)) > 0) n += (size_t)r;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += err[i] == '\n';
    int exited1 = WIFEXITED(status) && WEXITSTATUS(status) == 1;
    CHECK(exited1 && lines == 1 && strstr(err, path) && strstr(err, want), name,
          "status %d, %d lines, wanted '%s': %s", status, lines, want, err);
}

static void bad_checkpoints(void) {
    GPT2Config c = {.maxT = 8, .V = 20, .Vp = 32, .L = 1, .NH = 2, .C = 8};
    GPT2 m;
    random_model(&m, c, 2);
    const char *good = tmp_path("good.bin");
    gpt2_save(&m, good);
    size_t n;
    char *bytes = read_whole_file(good, &n);

    expect_load_dies("bad_ckpt/missing_file", tmp_path("does_not_exist.bin"), "cannot open");
    write_file(tmp_path("empty.bin"), bytes, 0);
    expect_load_dies("bad_ckpt/empty_file", tmp_path("empty.bin"), "truncated header");
    write_file(tmp_path("short_header.bin"), bytes, 100);
    expect_load_dies("bad_ckpt/truncated_header", tmp_path("short_header.bin"), "truncated header");
    write_file(tmp_path("short_params.bin"), bytes, n - 4);
    expect_load_dies("bad_ckpt/truncated_parameters", tmp_path("short_params.bin"), "needs");
    write_file(tmp_path("long.bin"), bytes, n);
    FILE *f = xfopen(tmp_path("long.bin"), "ab");
    fputs("junk", f);
    fclose(f);
    expect_load_dies("bad_ckpt/trailing_bytes", tmp_path("long.bin"), "needs");

    struct { const char *name; int slot; int32_t value; const char *want; } cases[] = {
        {"bad_ckpt/wrong_magic", 0, 12345, "magic"},
        {"bad_ckpt/unknown_version", 1, 4, "version 4"},
        {"bad_ckpt/C_not_divisible_by_NH", 5, 3, "not divisible"},
        {"bad_ckpt/Vp_less_than_V", 7, 16, "smaller than V"},
        {"bad_ckpt/zero_layers", 4, 0, "positive"},
        {"bad_ckpt/negative_channels", 6, -8, "positive"},
        {"bad_ckpt/negative_maxT", 2, -1, "positive"},
        {"bad_ckpt/huge_dims_overflow", 6, 2147483646, "overflow"},
        {"bad_ckpt/huge_layers", 4, 2147483647, "needs"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *copy = xmalloc(n, "copy");
        memcpy(copy, bytes, n);
        memcpy(copy + 4 * cases[i].slot, &cases[i].value, 4);
        if (!strcmp(cases[i].name, "bad_ckpt/huge_dims_overflow")) {
            int32_t vp = 2147483520; /* Vp and NH too, so only the size is wrong */
            memcpy(copy + 4 * 7, &vp, 4);
            int32_t nh = 2;
            memcpy(copy + 4 * 5, &nh, 4);
            int32_t l = 2147483647;
            memcpy(copy + 4 * 4, &l, 4);
        }
        const char *p = tmp_path("case.bin");
        write_file(p, copy, n);
        expect_load_dies(cases[i].name, p, cases[i].want);
        free(copy);
    }
    free(bytes);
    gpt2_free(&m);
}

/* GPT-2 XL's parameter count, by the formula of the fixtures README, computed in
 * 64-bit here; the model's size_t arithmetic must agree (no int overflow). */
static void xl_sizes(void) {
    GPT2Config c = {.maxT = 1024, .V = 50257, .Vp = 50304, .L = 48, .NH = 25, .C = 1600};
    uint64_t C = 1600, want = 50304 * C + 1024 * C + 48 * (12 * C * C + 13 * C) + 2 * C;
    size_t s[NUM_PARAM_TENSORS];
    size_t got = gpt2_param_sizes(&c, s);
    CHECK(got == want && want == 1557686400ull, "gpt2_xl_parameter_count", "%zu vs %llu", got, (unsigned long long)want);
}

int main(void) {
    xl_sizes();
    if (!mkdtemp(tmpdir)) die("cannot make a temporary directory");
    round_trips();
    atomic_writes();
    commit_all_or_nothing();
    bad_checkpoints();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_failures ? 1 : 0;
}
