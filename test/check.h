/*
 * check.h: the tiny test protocol every test program speaks.
 *
 * Each check prints one line: "PASS name", "FAIL name: why" or "SKIP name: why".
 * test/run.sh counts those lines over all test programs and prints the closing
 * "N passed, N failed, N skipped". A program that crashes or exits non-zero
 * without printing a FAIL line is counted as one failure by the runner.
 */
#ifndef GPT2C_CHECK_H
#define GPT2C_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

static int check_failures = 0;

static inline void check_report(int ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void check_report(int ok, const char *name, const char *fmt, ...) {
    printf("%s %s", ok ? "PASS" : "FAIL", name);
    if (!ok && fmt) {
        va_list ap;
        va_start(ap, fmt);
        printf(": ");
        vprintf(fmt, ap);
        va_end(ap);
    }
    printf("\n");
    fflush(stdout);
    if (!ok) check_failures++;
}

/* CHECK(cond, name, "why it failed %d", ...) */
#define CHECK(cond, name, ...) check_report((cond) ? 1 : 0, name, __VA_ARGS__)

static inline void check_skip(const char *name, const char *why) {
    printf("SKIP %s: %s\n", name, why);
    fflush(stdout);
}

static inline int path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

#endif
