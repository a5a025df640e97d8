/* json.c: the JSON scanner (see json.h). */
#include "json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "utf8.h"

void json_fail(const JsonReader *r, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t at = r->base_offset + r->pos;
    if (r->pos >= r->len) die("%s: bad %s at byte %zu: %s (the %s ends too early)", r->path, r->what, at, msg, r->what);
    die("%s: bad %s at byte %zu: %s", r->path, r->what, at, msg);
}

static int is_space(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* The byte at the cursor, or JSON_END. */
static int json_at(const JsonReader *r) { return r->pos < r->len ? r->s[r->pos] : JSON_END; }

int json_peek(JsonReader *r) {
    while (is_space(json_at(r))) r->pos++;
    return json_at(r);
}

void json_expect(JsonReader *r, char c) {
    int got = json_peek(r);
    if (got == c) {
        r->pos++;
        return;
    }
    if (got == JSON_END) json_fail(r, "expected '%c'", c);
    if (got < 0x20 || got > 0x7E) json_fail(r, "expected '%c', found byte 0x%02X", c, (unsigned)got);
    json_fail(r, "expected '%c', found '%c'", c, got);
}

int json_open(JsonReader *r, char open, char close) {
    json_expect(r, open);
    if (json_peek(r) != close) return 1;
    r->pos++;
    return 0;
}

int json_next_member(JsonReader *r, char close) {
    int c = json_peek(r);
    if (c != ',' && c != close) json_fail(r, "expected ',' or '%c'", close);
    r->pos++;
    return c == ',';
}

void json_finish(JsonReader *r) {
    if (json_peek(r) != JSON_END) json_fail(r, "junk after the top-level value");
}

/* ---- strings ---- */

static uint32_t json_hex4(JsonReader *r) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++, r->pos++) {
        int c = json_at(r);
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) json_fail(r, "bad \\u escape: expected 4 hex digits");
        v = v * 16 + (uint32_t)d;
    }
    return v;
}

/* After "\u": one code point. Characters beyond U+FFFF are written as a
 * UTF-16 surrogate pair, \uD8xx-\uDBxx then \uDCxx-\uDFxx, which join into
 * 0x10000 + (high - 0xD800) * 0x400 + (low - 0xDC00); either half alone is
 * an error, since it is no character. */
static uint32_t json_unicode_escape(JsonReader *r) {
    uint32_t u = json_hex4(r);
    if (u >= 0xDC00 && u <= 0xDFFF) json_fail(r, "lone low surrogate \\u%04X", (unsigned)u);
    if (u < 0xD800 || u > 0xDBFF) return u;
    if (r->pos + 2 > r->len || r->s[r->pos] != '\\' || r->s[r->pos + 1] != 'u')
        json_fail(r, "high surrogate \\u%04X not followed by a low surrogate", (unsigned)u);
    r->pos += 2;
    uint32_t lo = json_hex4(r);
    if (lo < 0xDC00 || lo > 0xDFFF) json_fail(r, "high surrogate \\u%04X followed by \\u%04X", (unsigned)u, (unsigned)lo);
    return 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
}

/* The cursor on a backslash: the code point the escape stands for. */
static uint32_t json_escape(JsonReader *r) {
    if (r->pos + 1 >= r->len) json_fail(r, "unterminated string");
    uint8_t e = r->s[r->pos + 1];
    r->pos += 2;
    if (e == 'u') return json_unicode_escape(r);
    const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
    const char *hit = e ? strchr(from, e) : NULL;
    if (!hit) {
        r->pos -= 2;
        json_fail(r, "bad escape '\\%c'", e >= 0x20 && e < 0x7F ? e : '?');
    }
    return (uint8_t)to[hit - from];
}

/*
 * Decoding in place is safe because the output never overtakes the input:
 * every piece decodes to at most as many bytes as it took (\n: 2 -> 1,
 * \uXXXX: 6 -> at most 3, a surrogate pair: 12 -> 4, a raw character: n -> n),
 * so out + n <= the cursor throughout, and the final NUL lands at the latest
 * on the closing quote.
 */
char *json_string(JsonReader *r, size_t *len) {
    json_expect(r, '"');
    uint8_t *out = r->s + r->pos;
    size_t n = 0;
    for (;;) {
        int c = json_at(r);
        if (c == JSON_END) json_fail(r, "unterminated string");
        if (c == '"') break;
        if (c == '\\') {
            n += utf8_put(json_escape(r), out + n);
        } else if (c < 0x20) {
            json_fail(r, "control character 0x%02X inside a string", (unsigned)c);
        } else if (c < 0x80) {
            out[n++] = r->s[r->pos++]; /* ASCII, the common case */
        } else {
            uint32_t cp;
            size_t k = utf8_next(r->s + r->pos, r->len - r->pos, &cp);
            if (cp == UTF8_INVALID) json_fail(r, "invalid UTF-8 in a string");
            for (size_t i = 0; i < k; i++) out[n++] = r->s[r->pos++]; /* forward: out + n <= cursor */
        }
    }
    r->pos++; /* the closing quote */
    out[n] = '\0';
    *len = n;
    return (char *)out;
}

/* ---- numbers ---- */

uint64_t json_uint(JsonReader *r, uint64_t max) {
    int c = json_peek(r);
    if (!is_digit(c)) json_fail(r, "expected a non-negative integer");
    size_t start = r->pos;
    uint64_t v = 0;
    for (; is_digit(json_at(r)); r->pos++) {
        unsigned d = (unsigned)(json_at(r) - '0');
        if (v > max / 10 || d > max - v * 10) { /* v * 10 + d > max, without overflowing */
            r->pos = start;
            json_fail(r, "integer larger than %" PRIu64, max);
        }
        v = v * 10 + d;
    }
    if (c == '0' && r->pos - start > 1) {
        r->pos = start;
        json_fail(r, "integer with a leading zero");
    }
    c = json_at(r);
    if (c == '.' || c == 'e' || c == 'E') json_fail(r, "expected an integer, found a fraction or exponent");
    return v;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?: the length of the number at
 * the cursor (after white space), or a failure naming what is missing. */
static size_t number_length(JsonReader *r) {
    json_peek(r);
    size_t p = r->pos;
#define AT(i) ((i) < r->len ? r->s[i] : 0)
    if (AT(p) == '-') p++;
    if (!is_digit(AT(p))) json_fail(r, "expected a number");
    if (AT(p) == '0' && is_digit(AT(p + 1))) json_fail(r, "number with a leading zero");
    while (is_digit(AT(p))) p++;
    if (AT(p) == '.') {
        if (!is_digit(AT(p + 1))) json_fail(r, "expected digits after the decimal point");
        for (p++; is_digit(AT(p));) p++;
    }
    if (AT(p) == 'e' || AT(p) == 'E') {
        p++;
        if (AT(p) == '+' || AT(p) == '-') p++;
        if (!is_digit(AT(p))) json_fail(r, "expected digits in the exponent");
        while (is_digit(AT(p))) p++;
    }
#undef AT
    return p - r->pos;
}

double json_number(JsonReader *r) {
    size_t n = number_length(r);
    char buf[64];
    if (n >= sizeof buf) json_fail(r, "number longer than %zu characters", sizeof buf - 1);
    memcpy(buf, r->s + r->pos, n);
    buf[n] = '\0';
    r->pos += n;
    return strtod(buf, NULL); /* the grammar above is a subset of strtod's */
}

/* true, false or null */
static void skip_literal(JsonReader *r) {
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if (r->len - r->pos >= n && memcmp(r->s + r->pos, words[i], n) == 0) {
            r->pos += n;
            return;
        }
    }
    json_fail(r, "expected a value");
}

/* Deeper nesting than any file we read has is refused, so that a hostile
 * "[[[[..." cannot exhaust the stack. */
#define JSON_MAX_DEPTH 64

static void skip_value(JsonReader *r, int depth) {
    if (depth > JSON_MAX_DEPTH) json_fail(r, "nested more than %d deep", JSON_MAX_DEPTH);
    int c = json_peek(r);
    size_t n;
    if (c == '{') {
        if (json_open(r, '{', '}')) do {
                json_string(r, &n);
                json_expect(r, ':');
                skip_value(r, depth + 1);
            } while (json_next_member(r, '}'));
    } else if (c == '[') {
        if (json_open(r, '[', ']')) do skip_value(r, depth + 1);
            while (json_next_member(r, ']'));
    } else if (c == '"') {
        json_string(r, &n);
    } else if (c == '-' || is_digit(c)) {
        r->pos += number_length(r);
    } else {
        skip_literal(r);
    }
}

void json_skip(JsonReader *r) { skip_value(r, 0); }

int json_bool(JsonReader *r) {
    int c = json_peek(r);
    if (c != 't' && c != 'f') json_fail(r, "expected true or false");
    skip_literal(r);
    return c == 't';
}

/* ---- writing ---- */

void json_put_string(FILE *f, const uint8_t *s, size_t n, const char *path) {
    xfwrite("\"", 1, 1, f, path);
    for (size_t i = 0; i < n; i++) {
        char esc[8];
        if (s[i] == '"' || s[i] == '\\') snprintf(esc, sizeof esc, "\\%c", s[i]);
        else if (s[i] < 0x20) snprintf(esc, sizeof esc, "\\u%04x", s[i]);
        else {
            xfwrite(s + i, 1, 1, f, path);
            continue;
        }
        xfwrite(esc, 1, strlen(esc), f, path);
    }
    xfwrite("\"", 1, 1, f, path);
}
