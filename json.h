/*
 * json.h: the one JSON scanner of the project, for the JSON texts it
 * reads: GPT-2's encoder.json (tokenizer.c), the header of a safetensors
 * file (safetensors.c), and a Hugging Face folder's config.json and shard
 * index (hf_gpt2.c).
 *
 * It builds no tree. A JsonReader is a cursor over the text, and the caller
 * walks the structure it expects, giving each value its meaning:
 *
 *     if (json_open(r, '{', '}')) do {
 *         char *key = json_string(r, &n);
 *         json_expect(r, ':');
 *         ... read the value key names ...
 *     } while (json_next_member(r, '}'));
 *     json_finish(r);
 *
 * It covers what those files hold: objects, arrays, strings (every escape,
 * \uXXXX with UTF-16 surrogate pairs) and non-negative integers; for the
 * config.json and model.safetensors.index.json of a Hugging Face folder also
 * any number (json_number) and, to pass over what a program does not use,
 * any value at all (json_skip, which accepts true/false/null too). Trailing
 * commas, invalid UTF-8, anything else where a value is expected and data
 * after the value are errors. Every error dies with one line naming the file,
 * the byte where it happened and the problem:
 *
 *     PATH: bad WHAT at byte N: PROBLEM
 */
#ifndef GPT2C_JSON_H
#define GPT2C_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *path;   /* the file, for error messages */
    const char *what;   /* what the text is, for error messages: "JSON", "safetensors header" */
    uint8_t *s;         /* the text, len bytes (no NUL needed); json_string decodes into it */
    size_t len, pos;    /* pos: the cursor */
    size_t base_offset; /* byte offset of s[0] in the file, so errors give file offsets */
} JsonReader;

#define JSON_END (-1) /* json_peek's answer past the last byte */

/* Dies with "PATH: bad WHAT at byte N: <printf message>", N the cursor's
 * offset in the file; a message at the very end adds that the text ends too
 * early (a truncated file). */
void json_fail(const JsonReader *r, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

/* Skips white space, then returns the next byte without consuming it, or
 * JSON_END. (A NUL byte is a byte like any other: it ends nothing.) */
int json_peek(JsonReader *r);

/* Skips white space and consumes c, or dies. */
void json_expect(JsonReader *r, char c);

/* Consumes the opening bracket `open` of an object or array. Returns 1 if a
 * member follows, 0 if the container is empty (its `close` consumed too). */
int json_open(JsonReader *r, char open, char close);

/* After a member: 1 if another follows (the ',' consumed), 0 at `close`
 * (consumed). Anything else, a trailing comma included, dies. */
int json_next_member(JsonReader *r, char close);

/* A string, decoded to UTF-8 in place in the text (never longer than the
 * escaped form) and NUL-terminated there; *len gets its byte count. The
 * bytes may include NUL and control characters from escapes (\u0000, \n):
 * which ones a name may hold is the caller's business. The pointer stays
 * valid as long as the text. */
char *json_string(JsonReader *r, size_t *len);

/* A non-negative integer without sign, fraction, exponent or leading zero;
 * dies if it is larger than max. */
uint64_t json_uint(JsonReader *r, uint64_t max);

/* Any JSON number (sign, fraction, exponent), as a double. */
double json_number(JsonReader *r);

/* Passes over one value of any kind, checking its syntax; nesting deeper than
 * 64 is refused. */
void json_skip(JsonReader *r);

/* true or false. */
int json_bool(JsonReader *r);

/* After the top-level value: only white space may follow. */
void json_finish(JsonReader *r);

/* Writes s[0..n) as a JSON string, quoted, escaping '"', '\\' and control
 * characters; other bytes (UTF-8 included) go out as they are. */
void json_put_string(FILE *f, const uint8_t *s, size_t n, const char *path);

#endif
