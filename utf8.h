/*
 * utf8.h: decoding one UTF-8 character, shared by the tokenizer (which
 * classes every character of the text it encodes) and the JSON scanner
 * (which checks that strings are valid UTF-8); and the "maximal subpart" view
 * that streaming decode uses to print text the way Python's
 * bytes.decode('utf-8', errors='replace') does. utf8_next is defined here, static,
 * so that the tokenizer, which calls it once per non-ASCII character of the
 * text it encodes, gets a copy the compiler can inline where it pays. Not
 * `inline`: that hint made gcc inline it into every call site of the
 * pre-tokenizer, and English text encoded about 7% slower.
 */
#ifndef GPT2C_UTF8_H
#define GPT2C_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define UTF8_INVALID 0x110000u /* "code point" of a byte that starts no valid UTF-8 sequence */

/*
 * Decodes the character at s[0..len) into *cp and returns its length. Any
 * ill-formed sequence (stray continuation byte, overlong form, surrogate,
 * above U+10FFFF, cut short) yields one byte with *cp = UTF8_INVALID, so a
 * scan always moves forward and every byte is accounted for.
 */
__attribute__((unused)) static size_t utf8_next(const uint8_t *s, size_t len, uint32_t *cp) {
    uint8_t b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t n;
    uint32_t c, min;
    if (b >= 0xC2 && b <= 0xDF) n = 2, c = b & 0x1F, min = 0x80;
    else if (b >= 0xE0 && b <= 0xEF) n = 3, c = b & 0x0F, min = 0x800;
    else if (b >= 0xF0 && b <= 0xF4) n = 4, c = b & 0x07, min = 0x10000;
    else n = 0, c = 0, min = 0;
    if (n == 0 || n > len) {
        *cp = UTF8_INVALID;
        return 1;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = UTF8_INVALID;
            return 1;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        *cp = UTF8_INVALID;
        return 1;
    }
    *cp = c;
    return n;
}

/* Code point cp (not a surrogate, at most U+10FFFF) as UTF-8 into out;
 * returns its length, 1 to 4. */
__attribute__((unused)) static size_t utf8_put(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * The well-formed sequences (the Unicode standard, Table 3-7): a lead byte
 * says how long the sequence is, and every later byte is a continuation
 * 80..BF, except that four leads narrow the range of the second byte:
 *
 *   00..7F                                    U+0000..U+007F
 *   C2..DF  80..BF                            U+0080..U+07FF
 *   E0      A0..BF  80..BF                    (E0 80..9F would be overlong)
 *   E1..EC  80..BF  80..BF
 *   ED      80..9F  80..BF                    (ED A0..BF would be surrogates)
 *   EE..EF  80..BF  80..BF
 *   F0      90..BF  80..BF  80..BF            (F0 80..8F would be overlong)
 *   F1..F3  80..BF  80..BF  80..BF
 *   F4      80..8F  80..BF  80..BF            (F4 90.. would be above U+10FFFF)
 *
 * 80..C1 and F5..FF lead nothing. utf8_prefix returns how many bytes of
 * s[0..len) (len >= 1) are a prefix of a well-formed sequence, and *want the
 * length the lead byte asks for (0 for a byte that leads nothing, then the
 * return is 0 too). So k == *want is a whole character; k < *want with k == len
 * is a character cut short by the end of the input, which more bytes may
 * complete; anything else is ill-formed, and its first max(k, 1) bytes are
 * what Unicode calls a "maximal subpart", replaced by one U+FFFD.
 */
__attribute__((unused)) static size_t utf8_prefix(const uint8_t *s, size_t len, size_t *want) {
    uint8_t b = s[0], lo = 0x80, hi = 0xBF;
    if (b < 0x80) {
        *want = 1;
        return 1;
    }
    if (b >= 0xC2 && b <= 0xDF) {
        *want = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        *want = 3;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        *want = 4;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        *want = 0;
        return 0;
    }
    size_t k = 1;
    for (; k < *want && k < len; k++, lo = 0x80, hi = 0xBF)
        if (s[k] < lo || s[k] > hi) break;
    return k;
}

#endif
