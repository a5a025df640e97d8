/*
 * xml_check FILE [NAME=VALUE]...: is FILE well-formed XML? A small checker
 * of the XML 1.0 rules the project's pictures rely on, so the tests need no
 * XML library: one root element; tags nest and close in order; attributes
 * are quoted, unique per tag, and hold no '<'; character data and attribute
 * values hold no bare '&' (only &lt; &gt; &amp; &quot; &apos; &#N; &#xN;,
 * and no character XML forbids: C0 controls other than tab, newline and
 * carriage return); the text is valid UTF-8. Comments, a leading <?xml?>
 * declaration and a <!DOCTYPE> are allowed.
 *
 * On success it prints "ok E elements" and, for each NAME=VALUE given, how
 * many elements have attribute NAME equal to VALUE ("class=thumb 12"), or
 * for a bare NAME how many elements are called NAME ("svg 24"). On a
 * violation it prints "FILE: not well-formed at byte N: WHY" and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common.h"
#include "../utf8.h"

static const char *path;
static const unsigned char *s;
static size_t n, pos;

static void bad(const char *why) {
    printf("%s: not well-formed at byte %zu: %s\n", path, pos, why);
    exit(1);
}

static int is_name_char(unsigned char c) {
    return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':' || c == '-' || c == '.';
}

static size_t name(void) { /* returns its length; pos moves past it */
    size_t start = pos;
    if (pos >= n || !is_name_char(s[pos]) || s[pos] == '-' || s[pos] == '.' || (s[pos] >= '0' && s[pos] <= '9'))
        bad("a name was expected");
    while (pos < n && is_name_char(s[pos])) pos++;
    return pos - start;
}

static void space(void) {
    while (pos < n && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r')) pos++;
}

/* Text up to `stop` (or '<' for character data): entities and characters. */
static void text(unsigned char stop) {
    while (pos < n && s[pos] != stop && s[pos] != '<') {
        unsigned char c = s[pos];
        if (c == '&') {
            static const char *const known[] = {"lt;", "gt;", "amp;", "quot;", "apos;"};
            pos++;
            int ok = 0;
            for (int k = 0; k < 5 && !ok; k++)
                if (!strncmp((const char *)s + pos, known[k], strlen(known[k]))) ok = 1, pos += strlen(known[k]);
            if (!ok && pos < n && s[pos] == '#') {
                pos++;
                int hex = pos < n && s[pos] == 'x';
                pos += hex;
                size_t digits = strspn((const char *)s + pos, hex ? "0123456789abcdefABCDEF" : "0123456789");
                unsigned long v = strtoul((const char *)s + pos, NULL, hex ? 16 : 10);
                pos += digits;
                if (!digits || pos >= n || s[pos] != ';' || (v < 0x20 && v != 9 && v != 10 && v != 13) || v > 0x10FFFF)
                    bad("a bad character reference");
                pos++;
                ok = 1;
            }
            if (!ok) bad("a bare '&' (not an entity)");
        } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') bad("a control character XML forbids");
        else pos++;
    }
}

typedef struct {
    const char *name;
    size_t count;
} Count;

int main(int argc, char **argv) {
    if (argc < 2) die_usage("usage: xml_check FILE [NAME=VALUE | NAME]...");
    path = argv[1];
    s = (const unsigned char *)read_whole_file(path, &n);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_next(s + i, n - i, &cp);
        if (cp == UTF8_INVALID) {
            pos = i;
            bad("the text is not valid UTF-8");
        }
        i += len;
    }
    int ncount = argc - 2;
    size_t *counts = xcalloc(ncount + 1, sizeof(size_t), "counts");
    size_t stack[256], depth = 0, elements = 0, roots = 0;
    size_t stack_len[256];
    while (pos < n) {
        if (s[pos] != '<') {
            if (depth == 0) { /* only white space outside the root */
                space();
                if (pos < n && s[pos] != '<') bad("text outside the root element");
                continue;
            }
            text('<');
            continue;
        }
        if (!strncmp((const char *)s + pos, "<!--", 4)) {
            const char *end = strstr((const char *)s + pos + 4, "-->");
            if (!end) bad("an unclosed comment");
            pos = (size_t)(end - (const char *)s) + 3;
        } else if (!strncmp((const char *)s + pos, "<?", 2)) {
            const char *end = strstr((const char *)s + pos, "?>");
            if (!end || elements) bad("a processing instruction where none may be");
            pos = (size_t)(end - (const char *)s) + 2;
        } else if (!strncmp((const char *)s + pos, "<!DOCTYPE", 9)) {
            const char *end = strchr((const char *)s + pos, '>');
            if (!end || elements) bad("a DOCTYPE where none may be");
            pos = (size_t)(end - (const char *)s) + 1;
        } else if (pos + 1 < n && s[pos + 1] == '/') { /* an end tag */
            pos += 2;
            size_t at = pos, len = name();
            if (!depth || len != stack_len[depth - 1] || memcmp(s + at, s + stack[depth - 1], len)) bad("a mismatched end tag");
            depth--;
            space();
            if (pos >= n || s[pos] != '>') bad("'>' expected");
            pos++;
        } else { /* a start tag */
            pos++;
            size_t at = pos, len = name();
            if (depth == 0 && roots++) bad("a second root element");
            elements++;
            for (int k = 0; k < ncount; k++)
                if (!strchr(argv[k + 2], '=') && strlen(argv[k + 2]) == len && !memcmp(argv[k + 2], s + at, len))
                    counts[k]++;
            size_t attr_at[64], attr_len[64], nattr = 0;
            for (;;) {
                size_t before = pos;
                space();
                if (pos >= n) bad("the file ends inside a tag");
                if (s[pos] == '>' || s[pos] == '/') break;
                if (pos == before) bad("space expected before an attribute");
                size_t aat = pos, alen = name();
                for (size_t i = 0; i < nattr; i++)
                    if (attr_len[i] == alen && !memcmp(s + attr_at[i], s + aat, alen)) bad("a repeated attribute");
                if (nattr < 64) attr_at[nattr] = aat, attr_len[nattr++] = alen;
                space();
                if (pos >= n || s[pos] != '=') bad("'=' expected after an attribute name");
                pos++;
                space();
                if (pos >= n || (s[pos] != '"' && s[pos] != '\'')) bad("an unquoted attribute value");
                unsigned char q = s[pos++];
                size_t vat = pos;
                text(q);
                if (pos >= n || s[pos] != q) bad("'<' in an attribute value, or an unclosed one");
                for (int k = 0; k < ncount; k++) { /* NAME=VALUE counts */
                    const char *eq = strchr(argv[k + 2], '=');
                    if (eq && (size_t)(eq - argv[k + 2]) == alen && !memcmp(argv[k + 2], s + aat, alen) &&
                        strlen(eq + 1) == pos - vat && !memcmp(eq + 1, s + vat, pos - vat))
                        counts[k]++;
                }
                pos++;
            }
            if (s[pos] == '/') {
                if (pos + 1 >= n || s[pos + 1] != '>') bad("'/>' expected");
                pos += 2;
            } else {
                if (depth == 256) bad("nesting deeper than 256");
                stack[depth] = at, stack_len[depth++] = len;
                pos++;
            }
        }
    }
    if (depth) bad("the file ends with open elements");
    if (!roots) bad("no root element");
    printf("ok %zu elements", elements);
    for (int k = 0; k < ncount; k++) printf(" %s %zu", argv[k + 2], counts[k]);
    printf("\n");
    free(counts);
    free((void *)s);
    return 0;
}
