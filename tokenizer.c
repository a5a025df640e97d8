/* tokenizer.c: GPT-2's byte-level BPE. See tokenizer.h and notes.md. */
#define _POSIX_C_SOURCE 200809L
#include "tokenizer.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "json.h"
#include "tokenizer_unicode.h"
#include "utf8.h"

#define TOKENIZER_BIN_MAGIC 20240328

/* ------------------------------------------------------------------ */
/* Token id arrays                                                     */

void token_ids_push(TokenIds *t, int id) {
    if (t->len == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        int *ids = realloc(t->ids, mul_size(cap, sizeof(int), "token ids"));
        if (!ids) die("out of memory growing token ids to %zu", cap);
        t->ids = ids;
        t->cap = cap;
    }
    t->ids[t->len++] = id;
}

void token_ids_free(TokenIds *t) {
    free(t->ids);
    t->ids = NULL;
    t->len = t->cap = 0;
}

/* ------------------------------------------------------------------ */
/* bytes_to_unicode: GPT-2's spelling of bytes as printable characters */

/*
 * The files spell every byte as one visible character, so that a token can be
 * a JSON key and a merge line can use a plain space as its separator. The 188
 * printable Latin-1 bytes stand for themselves; the other 68 (controls,
 * space, 0x7F-0xA0, the soft hyphen 0xAD) take U+0100, U+0101, ... in order.
 */
static int byte_is_printable(int b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

static void bytes_to_unicode(uint32_t char_of_byte[256]) {
    uint32_t next_free = 0x100;
    for (int b = 0; b < 256; b++) char_of_byte[b] = byte_is_printable(b) ? (uint32_t)b : next_free++;
}

/* The inverse: every spelling character is below U+0144. -1 if c spells no byte. */
#define SPELLING_CHARS 0x144
static void unicode_to_bytes(int byte_of_char[SPELLING_CHARS]) {
    uint32_t char_of_byte[256];
    bytes_to_unicode(char_of_byte);
    for (int c = 0; c < SPELLING_CHARS; c++) byte_of_char[c] = -1;
    for (int b = 0; b < 256; b++) byte_of_char[char_of_byte[b]] = b;
}

/*
 * Spells a token back into bytes: s[0..n) is its spelling in UTF-8 (a key of
 * encoder.json, a symbol of vocab.bpe), one character per byte. out needs
 * room for n bytes (a character takes at least one byte of UTF-8). Returns
 * the byte count, or -1 if a character spells no byte.
 */
static long spelling_to_bytes(const int byte_of_char[SPELLING_CHARS], const uint8_t *s, size_t n, uint8_t *out) {
    size_t nb = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += utf8_next(s + i, n - i, &cp);
        if (cp >= SPELLING_CHARS || byte_of_char[cp] < 0) return -1; /* UTF8_INVALID included */
        out[nb++] = (uint8_t)byte_of_char[cp];
    }
    return (long)nb;
}

/* ------------------------------------------------------------------ */
/* Character classes (decoding UTF-8: utf8.h)                          */

/* Letter, number, white space or other, by binary search in the generated table. */
static int char_class(uint32_t cp) {
    size_t lo = 0, hi = N_UNICODE_RANGES;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < unicode_ranges[mid].first) hi = mid;
        else if (cp > unicode_ranges[mid].last) lo = mid + 1;
        else return unicode_ranges[mid].char_class;
    }
    return CHAR_OTHER; /* including UTF8_INVALID, like U+FFFD */
}

/* The class of the character at text[pos]; *end gets the position after it. */
static int class_at(const uint8_t *text, size_t len, size_t pos, size_t *end) {
    if (text[pos] < 0x80) {
        *end = pos + 1;
        return unicode_ascii_class[text[pos]];
    }
    uint32_t cp;
    *end = pos + utf8_next(text + pos, len - pos, &cp);
    return char_class(cp);
}

/* ------------------------------------------------------------------ */
/* Pre-tokenization: GPT-2's pattern as a hand-written scanner          */

/* The end of the maximal run of class `cls` that starts at pos. */
static size_t run_end(const uint8_t *text, size_t len, size_t pos, int cls) {
    while (pos < len) {
        size_t next;
        if (class_at(text, len, pos, &next) != cls) break;
        pos = next;
    }
    return pos;
}

/* '(?:[sdmt]|ll|ve|re): the end of a contraction at pos, or 0 if none.
 * Case-sensitive: "'S" is not a contraction in this pattern. */
static size_t contraction_end(const uint8_t *text, size_t len, size_t pos) {
    if (text[pos] != '\'' || pos + 1 >= len) return 0;
    uint8_t a = text[pos + 1];
    if (a == 's' || a == 'd' || a == 'm' || a == 't') return pos + 2;
    if (pos + 2 >= len) return 0;
    uint8_t b = text[pos + 2];
    if ((a == 'l' && b == 'l') || (a == 'v' && b == 'e') || (a == 'r' && b == 'e')) return pos + 3;
    return 0;
}

/*
 * The alternatives are tried in order, as a backtracking regex engine does:
 *   '(?:[sdmt]|ll|ve|re)     a contraction
 *   ' ?\p{L}+' ' ?\p{N}+' ' ?[^\s\p{L}\p{N}]+'
 *                            a run of one class, taking one leading U+0020
 *   \s+(?!\S)                white space not followed by a non-space: at the
 *                            end of the text the whole run, else the run
 *                            minus its last character (which then becomes
 *                            the optional space of the next piece, or a
 *                            piece of its own)
 *   \s+                      a lone white-space character before a non-space
 */
size_t pretokenize_next(const uint8_t *text, size_t len, size_t pos) {
    size_t end = contraction_end(text, len, pos);
    if (end) return end;
    if (text[pos] == ' ' && pos + 1 < len) {
        int next_class = class_at(text, len, pos + 1, &end);
        if (next_class != CHAR_SPACE) return run_end(text, len, end, next_class);
    }
    int cls = class_at(text, len, pos, &end);
    if (cls != CHAR_SPACE) return run_end(text, len, end, cls);
    size_t last_start = pos; /* start of the run's last character */
    while (end < len) {
        size_t next;
        if (class_at(text, len, end, &next) != CHAR_SPACE) break;
        last_start = end;
        end = next;
    }
    if (end < len && last_start > pos) return last_start;
    return end;
}

/* ------------------------------------------------------------------ */
/* Hash maps                                                           */

static uint64_t hash_bytes(const uint8_t *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

/* Fibonacci hashing: the multiply spreads the pair's bits into the top bits. */
static uint64_t hash_pair(int left, int right) {
    return ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) * 0x9E3779B97F4A7C15ull;
}

static size_t table_size_for(size_t n) {
    size_t size = 16;
    while (size < 2 * n) size *= 2; /* load factor <= 1/2 keeps probes short */
    return size;
}

typedef struct {
    int left, right; /* left == -1: empty slot */
    int rank, merged;
} PairSlot;

typedef struct {
    uint64_t hash; /* 0: empty slot */
    uint32_t key_off, ids_off;
    uint16_t key_len, n_ids;
} CacheSlot;

/*
 * Cache of finished pieces: bytes -> ids. Text repeats its words, so most
 * pieces have been merged before. When it fills up it is simply emptied,
 * which keeps it bounded and its contents a function of the input alone.
 */
#define CACHE_SLOTS (1u << 16)
#define CACHE_MAX_ENTRIES (CACHE_SLOTS / 2)
#define CACHE_MAX_PIECE 64
#define CACHE_KEY_BYTES (CACHE_MAX_ENTRIES * 16u)
#define CACHE_IDS (CACHE_MAX_ENTRIES * 4u)
typedef struct {
    CacheSlot *slots;
    uint8_t *keys;
    int *ids;
    size_t n_entries, keys_used, ids_used;
} PieceCache;

/* One symbol of a piece being merged: a doubly linked list in byte order. */
typedef struct {
    int id; /* -1 once merged into its left neighbour */
    int prev, next;
} Symbol;

/* A candidate merge of symbols left and right; stale once either changed. */
typedef struct {
    int rank, left, right;
    int right_id, merged;
} Candidate;

struct Tokenizer {
    int n_vocab, eot_id;
    uint8_t *pool;     /* every token's bytes, back to back */
    uint32_t *tok_off; /* token id -> offset in pool */
    uint32_t *tok_len;
    int byte_id[256];
    int can_encode;
    int32_t *id_slots; /* bytes -> id, open addressing; -1 empty */
    size_t id_mask;
    PairSlot *pairs; /* (left id, right id) -> merge rank and result */
    size_t pair_mask;
    PieceCache cache;
    Symbol *symbols; /* scratch for bpe_merge */
    Candidate *heap;
    size_t scratch_cap;
};

static const uint8_t *token_ptr(const Tokenizer *tok, int id) { return tok->pool + tok->tok_off[id]; }

static int lookup_bytes(const Tokenizer *tok, const uint8_t *s, size_t n) {
    for (size_t i = hash_bytes(s, n) & tok->id_mask;; i = (i + 1) & tok->id_mask) {
        int id = tok->id_slots[i];
        if (id < 0) return -1;
        if (tok->tok_len[id] == n && memcmp(token_ptr(tok, id), s, n) == 0) return id;
    }
}

/* Adds id (whose bytes are already in the pool); returns the existing id if those bytes are taken. */
static int insert_bytes(Tokenizer *tok, int id) {
    const uint8_t *s = token_ptr(tok, id);
    size_t n = tok->tok_len[id];
    size_t i = hash_bytes(s, n) & tok->id_mask;
    for (; tok->id_slots[i] >= 0; i = (i + 1) & tok->id_mask) {
        int other = tok->id_slots[i];
        if (tok->tok_len[other] == n && memcmp(token_ptr(tok, other), s, n) == 0) return other;
    }
    tok->id_slots[i] = id;
    return id;
}

static const PairSlot *lookup_pair(const Tokenizer *tok, int left, int right) {
    for (size_t i = (hash_pair(left, right) >> 32) & tok->pair_mask;; i = (i + 1) & tok->pair_mask) {
        const PairSlot *p = &tok->pairs[i];
        if (p->left < 0) return NULL;
        if (p->left == left && p->right == right) return p;
    }
}

static void insert_pair(Tokenizer *tok, int left, int right, int rank, int merged) {
    size_t i = (hash_pair(left, right) >> 32) & tok->pair_mask;
    while (tok->pairs[i].left >= 0) i = (i + 1) & tok->pair_mask;
    tok->pairs[i] = (PairSlot){left, right, rank, merged};
}

int tokenizer_pair_rank(const Tokenizer *tok, int left, int right) {
    if (!tok->can_encode) return -1;
    const PairSlot *p = lookup_pair(tok, left, right);
    return p ? p->rank : -1;
}

/* ------------------------------------------------------------------ */
/* Building a Tokenizer                                                 */

/* A tokenizer for n tokens whose bytes are (or will be) in pool. */
static Tokenizer *tokenizer_new(int n, uint8_t *pool) {
    Tokenizer *tok = xcalloc(1, sizeof *tok, "tokenizer");
    tok->n_vocab = n;
    tok->eot_id = -1;
    tok->pool = pool;
    tok->tok_off = xcalloc((size_t)n, sizeof(uint32_t), "token offsets");
    tok->tok_len = xcalloc((size_t)n, sizeof(uint32_t), "token lengths");
    return tok;
}

static void init_bytes_map(Tokenizer *tok) {
    size_t size = table_size_for((size_t)tok->n_vocab);
    tok->id_slots = xmalloc(mul_size(size, sizeof(int32_t), "token map"), "token map");
    memset(tok->id_slots, 0xFF, size * sizeof(int32_t));
    tok->id_mask = size - 1;
}

static void init_encoder_state(Tokenizer *tok, int n_merges) {
    size_t size = table_size_for((size_t)n_merges);
    tok->pairs = xmalloc(mul_size(size, sizeof(PairSlot), "merge map"), "merge map");
    for (size_t i = 0; i < size; i++) tok->pairs[i].left = -1;
    tok->pair_mask = size - 1;
    tok->cache.slots = xcalloc(CACHE_SLOTS, sizeof(CacheSlot), "piece cache");
    tok->cache.keys = xmalloc(CACHE_KEY_BYTES, "piece cache");
    tok->cache.ids = xmalloc(CACHE_IDS * sizeof(int), "piece cache");
    tok->can_encode = 1;
}

void tokenizer_free(Tokenizer *tok) {
    if (!tok) return;
    free(tok->pool);
    free(tok->tok_off);
    free(tok->tok_len);
    free(tok->id_slots);
    free(tok->pairs);
    free(tok->cache.slots);
    free(tok->cache.keys);
    free(tok->cache.ids);
    free(tok->symbols);
    free(tok->heap);
    free(tok);
}

/* ------------------------------------------------------------------ */
/* encoder.json: a JSON object of string keys and integer values        */

#define MAX_TOKEN_BYTES TOKENIZER_MAX_TOKEN_BYTES

/* An entry as read, before ids are known to be a permutation of 0..n-1. */
typedef struct {
    uint32_t off, len;
    long id;
} JsonEntry;

/* Parses encoder.json into a tokenizer with every id's bytes; dies on any error. */
static Tokenizer *read_encoder_json(const char *path) {
    size_t len;
    uint8_t *text = (uint8_t *)read_whole_file(path, &len);
    JsonReader r = {.path = path, .what = "JSON", .s = text, .len = len};
    int byte_of_char[SPELLING_CHARS];
    unicode_to_bytes(byte_of_char);
    size_t cap = 1024, n = 0;
    JsonEntry *entries = xmalloc(cap * sizeof *entries, "encoder.json entries");
    uint8_t *pool = xmalloc(len + 1, "token bytes"); /* a key's bytes never outnumber its spelling */
    size_t pool_used = 0;
    if (!json_open(&r, '{', '}')) json_fail(&r, "empty object: no tokens");
    do {
        size_t spelling_len;
        const uint8_t *key = (const uint8_t *)json_string(&r, &spelling_len);
        if (spelling_len == 0) json_fail(&r, "empty key");
        long nb = spelling_to_bytes(byte_of_char, key, spelling_len, pool + pool_used);
        if (nb < 0) json_fail(&r, "key has a character outside GPT-2's byte alphabet");
        if (nb > MAX_TOKEN_BYTES) json_fail(&r, "key longer than %d bytes", MAX_TOKEN_BYTES);
        json_expect(&r, ':');
        long id = (long)json_uint(&r, INT_MAX);
        if (n == cap) {
            cap *= 2;
            entries = realloc(entries, mul_size(cap, sizeof *entries, "encoder.json entries"));
            if (!entries) die("out of memory reading %s", path);
        }
        entries[n++] = (JsonEntry){(uint32_t)pool_used, (uint32_t)nb, id};
        pool_used += (size_t)nb;
    } while (json_next_member(&r, '}'));
    json_finish(&r);
    free(text);

    Tokenizer *tok = tokenizer_new((int)n, pool);
    for (size_t i = 0; i < n; i++) {
        const JsonEntry *e = &entries[i];
        if (e->id >= (long)n) die("%s: token id %ld out of range: %zu tokens need ids 0..%zu", path, e->id, n, n - 1);
        if (tok->tok_len[e->id] != 0) die("%s: duplicate token id %ld", path, e->id);
        tok->tok_off[e->id] = e->off;
        tok->tok_len[e->id] = e->len;
    }
    free(entries);
    return tok;
}

/*
 * Checks the layout GPT-2's files have (and the merge reader relies on):
 * unique byte strings, ids 0..255 the 256 single bytes, the last id
 * <|endoftext|>. Fills the bytes -> id map and byte_id[].
 */
static void index_tokens(Tokenizer *tok, const char *path) {
    init_bytes_map(tok);
    if (tok->n_vocab < 257) die("%s: only %d tokens; GPT-2 needs 256 bytes + merges + <|endoftext|>", path, tok->n_vocab);
    for (int id = 0; id < tok->n_vocab; id++) {
        int other = insert_bytes(tok, id);
        if (other != id) die("%s: ids %d and %d have the same bytes", path, other, id);
        if (id < 256) {
            if (tok->tok_len[id] != 1) die("%s: id %d is not a single byte (ids 0..255 must be the 256 bytes)", path, id);
            tok->byte_id[token_ptr(tok, id)[0]] = id;
        }
    }
    int last = tok->n_vocab - 1;
    if (tok->tok_len[last] != strlen(GPT2_EOT_TEXT) || memcmp(token_ptr(tok, last), GPT2_EOT_TEXT, tok->tok_len[last]) != 0)
        die("%s: the last id %d is not %s", path, last, GPT2_EOT_TEXT);
    tok->eot_id = last;
}

/* ------------------------------------------------------------------ */
/* vocab.bpe: "#version: 0.2", then one merge "LEFT RIGHT" per line     */

/* One half of a merge line -> token id; dies naming the line if unknown. */
static int merge_symbol_id(const Tokenizer *tok, const int byte_of_char[SPELLING_CHARS], const uint8_t *s,
                           size_t n, const char *path, long line_no) {
    /* A token of MAX_TOKEN_BYTES bytes is spelled in at most twice as many
     * bytes of UTF-8 (every spelling character is below U+0800): a longer
     * symbol is no token. */
    uint8_t bytes[2 * MAX_TOKEN_BYTES];
    long nb = n <= sizeof bytes ? spelling_to_bytes(byte_of_char, s, n, bytes) : 0;
    if (nb < 0)
        die("%s: line %ld: unknown merge symbol '%.*s' (not in GPT-2's byte alphabet)", path, line_no, (int)(n > 60 ? 60 : n), s);
    int id = nb > 0 ? lookup_bytes(tok, bytes, (size_t)nb) : -1;
    if (id < 0) die("%s: line %ld: unknown merge symbol '%.*s' (not a token in encoder.json)", path, line_no, (int)(n > 60 ? 60 : n), s);
    return id;
}

static void read_merges(Tokenizer *tok, const char *path) {
    size_t len;
    uint8_t *text = (uint8_t *)read_whole_file(path, &len);
    int byte_of_char[SPELLING_CHARS];
    unicode_to_bytes(byte_of_char);
    int want = tok->n_vocab - 257; /* every id between the bytes and <|endoftext|> */
    init_encoder_state(tok, want);
    uint8_t *nl = memchr(text, '\n', len);
    if (len < 8 || memcmp(text, "#version", 8) != 0 || !nl) die("%s: line 1: expected the header '#version: 0.2'", path);
    size_t pos = (size_t)(nl - text) + 1;
    int rank = 0;
    for (long line_no = 2; pos < len; line_no++, rank++) {
        uint8_t *line = text + pos;
        uint8_t *end = memchr(line, '\n', len - pos);
        size_t n = end ? (size_t)(end - line) : len - pos;
        pos += n + 1;
        /* a file saved with Windows line ends (CRLF) reads the same: a raw
         * \r is never part of a merge, whose symbols spell bytes as printable
         * characters */
        if (n > 0 && line[n - 1] == '\r') n--;
        if (rank == want) die("%s: line %ld: more merges than encoder.json's %d tokens allow (%d)", path, line_no, tok->n_vocab, want);
        uint8_t *space = memchr(line, ' ', n);
        if (!space || space == line || space == line + n - 1 || memchr(space + 1, ' ', (size_t)(line + n - space - 1)))
            die("%s: line %ld: expected two symbols separated by one space", path, line_no);
        int left = merge_symbol_id(tok, byte_of_char, line, (size_t)(space - line), path, line_no);
        int right = merge_symbol_id(tok, byte_of_char, space + 1, (size_t)(line + n - space - 1), path, line_no);
        size_t ln = tok->tok_len[left], rn = tok->tok_len[right];
        uint8_t joined[2 * MAX_TOKEN_BYTES];
        memcpy(joined, token_ptr(tok, left), ln);
        memcpy(joined + ln, token_ptr(tok, right), rn);
        int merged = lookup_bytes(tok, joined, ln + rn);
        if (merged != 256 + rank)
            die("%s: line %ld: merge '%.*s' should make id %d, but encoder.json %s", path, line_no, (int)(n > 60 ? 60 : n),
                line, 256 + rank, merged < 0 ? "has no such token" : "gives it another id");
        insert_pair(tok, left, right, rank, merged);
    }
    if (rank != want) die("%s: %d merges, but encoder.json's %d tokens need %d (missing merges?)", path, rank, tok->n_vocab, want);
    free(text);
}

/* The two names the same pair of files goes by: OpenAI's, and Hugging
 * Face's (a model folder holds them beside config.json). */
static const struct {
    const char *tokens, *merges;
} VOCAB_FILES[] = {{"encoder.json", "vocab.bpe"}, {"vocab.json", "merges.txt"}};
enum { NUM_VOCAB_FILES = sizeof VOCAB_FILES / sizeof VOCAB_FILES[0] };

/* Which pair dir holds (the first whose token file is there), or -1. */
static int find_vocab_files(const char *dir) {
    for (int i = 0; i < NUM_VOCAB_FILES; i++) {
        char *path = path_join(dir, VOCAB_FILES[i].tokens);
        int found = path_kind(path) != PATH_NONE;
        free(path);
        if (found) return i;
    }
    return -1;
}

int tokenizer_vocab_exists(const char *vocab_dir) { return find_vocab_files(vocab_dir) >= 0; }

Tokenizer *tokenizer_load(const char *vocab_dir) {
    int which = find_vocab_files(vocab_dir);
    if (which < 0)
        die("%s: no vocabulary here (neither %s + %s nor %s + %s)", vocab_dir, VOCAB_FILES[0].tokens,
            VOCAB_FILES[0].merges, VOCAB_FILES[1].tokens, VOCAB_FILES[1].merges);
    char *json_path = path_join(vocab_dir, VOCAB_FILES[which].tokens);
    char *bpe_path = path_join(vocab_dir, VOCAB_FILES[which].merges);
    Tokenizer *tok = read_encoder_json(json_path);
    index_tokens(tok, json_path);
    read_merges(tok, bpe_path);
    free(json_path);
    free(bpe_path);
    return tok;
}

/* ------------------------------------------------------------------ */
/* gpt2_tokenizer.bin (llm.c): header, then per id a uint8 length + bytes */

Tokenizer *tokenizer_load_bin(const char *path) {
    FILE *f = xfopen(path, "rb");
    int32_t header[HEADER_INTS];
    read_header(f, path, header);
    if (header[0] != TOKENIZER_BIN_MAGIC) die("%s: bad magic %d (want %d)", path, header[0], TOKENIZER_BIN_MAGIC);
    if (header[1] != 1 && header[1] != 2) die("%s: unsupported version %d (want 1 or 2)", path, header[1]);
    int n = header[2];
    if (n < 1 || n > (1 << 24)) die("%s: bad token count %d", path, n);
    int eot = header[1] == 2 ? header[3] : 50256;
    if (eot < 0 || eot >= n) die("%s: end-of-text id %d out of range for %d tokens", path, eot, n);
    size_t body = file_size(f, path) - sizeof(int32_t) * HEADER_INTS;
    Tokenizer *tok = tokenizer_new(n, xmalloc(body + 1, "token bytes"));
    tok->eot_id = eot;
    size_t used = 0;
    for (int id = 0; id < n; id++) {
        uint8_t len;
        xfread(&len, 1, 1, f, path);
        if (len == 0) die("%s: token %d has length 0", path, id);
        if (used + len > body) die("%s: truncated at token %d", path, id);
        xfread(tok->pool + used, 1, len, f, path);
        tok->tok_off[id] = (uint32_t)used;
        tok->tok_len[id] = len;
        used += len;
    }
    if (fgetc(f) != EOF) die("%s: unexpected data after the %d tokens", path, n);
    xfclose(f, path);
    return tok;
}

void tokenizer_save_bin(const Tokenizer *tok, const char *path) {
    int32_t header[HEADER_INTS] = {0};
    header[0] = TOKENIZER_BIN_MAGIC;
    header[1] = 2;
    header[2] = tok->n_vocab;
    header[3] = tok->eot_id;
    AtomicFile af = atomic_open(path);
    xfwrite(header, sizeof header, 1, af.f, af.tmp_path);
    for (int id = 0; id < tok->n_vocab; id++) {
        if (tok->tok_len[id] > 255) die("%s: token %d is %u bytes; the format allows 255", path, id, tok->tok_len[id]);
        uint8_t len = (uint8_t)tok->tok_len[id];
        xfwrite(&len, 1, 1, af.f, af.tmp_path);
        xfwrite(token_ptr(tok, id), 1, len, af.f, af.tmp_path);
    }
    atomic_commit(&af);
}

/* ------------------------------------------------------------------ */
/* Writing vocab.json + merges.txt (Hugging Face's names)              */

/* A token's bytes spelled in GPT-2's byte alphabet, as UTF-8 (every
 * spelling character is below U+0800: at most 2 bytes per byte). */
static size_t spell_bytes(const uint32_t char_of_byte[256], const uint8_t *bytes, size_t n, uint8_t *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += utf8_put(char_of_byte[bytes[i]], out + k);
    return k;
}

static void write_spelled(FILE *f, const uint32_t char_of_byte[256], const Tokenizer *tok, int id, const char *path) {
    uint8_t spelled[2 * MAX_TOKEN_BYTES];
    size_t n = spell_bytes(char_of_byte, token_ptr(tok, id), tok->tok_len[id], spelled);
    xfwrite(spelled, 1, n, f, path);
}

/* vocab.json is encoder.json under another name: {"spelling": id, ...}, in
 * id order. */
static void write_vocab_json(const Tokenizer *tok, const uint32_t char_of_byte[256], const char *path) {
    AtomicFile af = atomic_open(path);
    xfwrite("{", 1, 1, af.f, af.tmp_path);
    for (int id = 0; id < tok->n_vocab; id++) {
        uint8_t spelled[2 * MAX_TOKEN_BYTES];
        size_t n = spell_bytes(char_of_byte, token_ptr(tok, id), tok->tok_len[id], spelled);
        if (id) xfwrite(", ", 1, 2, af.f, af.tmp_path);
        json_put_string(af.f, spelled, n, af.tmp_path);
        if (fprintf(af.f, ": %d", id) < 0) die("%s: cannot write", af.tmp_path);
    }
    xfwrite("}\n", 1, 2, af.f, af.tmp_path);
    atomic_commit(&af);
}

/*
 * merges.txt is vocab.bpe: "#version: 0.2", then merge i as the spellings of
 * its two halves, every line ending in a newline (Hugging Face's slow
 * GPT2Tokenizer drops the last line of the file, expecting it empty). The
 * merge list is rebuilt from the pair map: merge i joins the pair whose slot
 * holds rank i.
 */
static void write_merges_txt(const Tokenizer *tok, const uint32_t char_of_byte[256], const char *path) {
    int n_merges = tok->n_vocab - 257;
    PairSlot *by_rank = xmalloc(mul_size((size_t)n_merges, sizeof(PairSlot), "merge list"), "merge list");
    for (size_t i = 0; i <= tok->pair_mask; i++)
        if (tok->pairs[i].left >= 0) by_rank[tok->pairs[i].rank] = tok->pairs[i];
    AtomicFile af = atomic_open(path);
    const char header[] = "#version: 0.2\n";
    xfwrite(header, 1, sizeof header - 1, af.f, af.tmp_path);
    for (int r = 0; r < n_merges; r++) {
        write_spelled(af.f, char_of_byte, tok, by_rank[r].left, af.tmp_path);
        xfwrite(" ", 1, 1, af.f, af.tmp_path);
        write_spelled(af.f, char_of_byte, tok, by_rank[r].right, af.tmp_path);
        xfwrite("\n", 1, 1, af.f, af.tmp_path);
    }
    atomic_commit(&af);
    free(by_rank);
}

void tokenizer_save_hf(const Tokenizer *tok, const char *dir) {
    if (!tok->can_encode) die("%s: a tokenizer without merges (a .bin) cannot be saved as vocab.json + merges.txt", dir);
    uint32_t char_of_byte[256];
    bytes_to_unicode(char_of_byte);
    char *path = path_join(dir, VOCAB_FILES[1].tokens);
    write_vocab_json(tok, char_of_byte, path);
    free(path);
    path = path_join(dir, VOCAB_FILES[1].merges);
    write_merges_txt(tok, char_of_byte, path);
    free(path);
}

/* ------------------------------------------------------------------ */
/* Queries and decoding                                                */

int tokenizer_vocab_size(const Tokenizer *tok) { return tok->n_vocab; }
int tokenizer_eot_id(const Tokenizer *tok) { return tok->eot_id; }
int tokenizer_can_encode(const Tokenizer *tok) { return tok->can_encode; }
int tokenizer_byte_id(const Tokenizer *tok, uint8_t byte) { return tok->byte_id[byte]; }

const uint8_t *tokenizer_token_bytes(const Tokenizer *tok, int id, size_t *len) {
    if (id < 0 || id >= tok->n_vocab) return NULL;
    *len = tok->tok_len[id];
    return token_ptr(tok, id);
}

static int is_space_byte(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int parse_token_ids(const uint8_t *text, size_t len, int n_vocab, TokenIds *out, size_t *bad_at) {
    for (size_t pos = 0; pos < len;) {
        if (is_space_byte(text[pos])) {
            pos++;
            continue;
        }
        size_t start = pos;
        long v = 0;
        while (pos < len && text[pos] >= '0' && text[pos] <= '9' && v < n_vocab) v = v * 10 + (text[pos++] - '0');
        if (pos == start || v >= n_vocab || (pos < len && !is_space_byte(text[pos]))) {
            *bad_at = start;
            return 0;
        }
        token_ids_push(out, (int)v);
    }
    return 1;
}

uint8_t *tokenizer_decode(const Tokenizer *tok, const int *ids, size_t n, size_t *len) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tok->n_vocab) die("decode: token id %d out of range (vocabulary of %d)", ids[i], tok->n_vocab);
        total += tok->tok_len[ids[i]];
    }
    uint8_t *out = xmalloc(total + 1, "decoded text");
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(out + at, token_ptr(tok, ids[i]), tok->tok_len[ids[i]]);
        at += tok->tok_len[ids[i]];
    }
    out[at] = '\0';
    *len = at;
    return out;
}

/* ------------------------------------------------------------------ */
/* BPE merging: a linked list of symbols and a min-heap of candidates   */

static int candidate_less(const Candidate *a, const Candidate *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(Candidate *heap, size_t *n, Candidate c) {
    size_t i = (*n)++;
    while (i > 0 && candidate_less(&c, &heap[(i - 1) / 2])) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = c;
}

static Candidate heap_pop(Candidate *heap, size_t *n) {
    Candidate top = heap[0], last = heap[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= *n) break;
        if (child + 1 < *n && candidate_less(&heap[child + 1], &heap[child])) child++;
        if (!candidate_less(&heap[child], &last)) break;
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = last;
    return top;
}

/* Pushes the merge of symbols left and right, if vocab.bpe has one. */
static void push_candidate(const Tokenizer *tok, const Symbol *sym, int left, int right, Candidate *heap, size_t *n) {
    if (left < 0 || right < 0) return;
    const PairSlot *p = lookup_pair(tok, sym[left].id, sym[right].id);
    if (p) heap_push(heap, n, (Candidate){p->rank, left, right, sym[right].id, p->merged});
}

static void ensure_scratch(Tokenizer *tok, size_t n) {
    if (n <= tok->scratch_cap) return;
    size_t cap = n < 256 ? 256 : 2 * n;
    free(tok->symbols);
    free(tok->heap);
    tok->symbols = xmalloc(mul_size(cap, sizeof(Symbol), "bpe symbols"), "bpe symbols");
    /* n-1 initial candidates, at most 2 more per merge and n-1 merges: < 3n */
    tok->heap = xmalloc(mul_size(mul_size(cap, 3, "bpe heap"), sizeof(Candidate), "bpe heap"), "bpe heap");
    tok->scratch_cap = cap;
}

/*
 * Merges one piece, lowest rank first, leftmost first among equal ranks (the
 * order GPT-2's own loop produces). A merge changes only its two neighbours'
 * pairs, so instead of rescanning the piece we push those two new candidates;
 * a candidate whose symbols have changed since it was pushed is stale and is
 * dropped when popped. Each of the < 3n heap operations costs O(log n).
 */
static void bpe_merge(Tokenizer *tok, const uint8_t *piece, size_t n, TokenIds *out) {
    ensure_scratch(tok, n);
    Symbol *sym = tok->symbols;
    Candidate *heap = tok->heap;
    size_t n_heap = 0;
    for (size_t i = 0; i < n; i++)
        sym[i] = (Symbol){tok->byte_id[piece[i]], (int)i - 1, i + 1 < n ? (int)i + 1 : -1};
    for (size_t i = 0; i + 1 < n; i++) push_candidate(tok, sym, (int)i, (int)i + 1, heap, &n_heap);
    while (n_heap > 0) {
        Candidate c = heap_pop(heap, &n_heap);
        Symbol *left = &sym[c.left], *right = &sym[c.right];
        if (left->id < 0 || left->next != c.right || right->id != c.right_id) continue; /* stale */
        left->id = c.merged;
        left->next = right->next;
        if (right->next >= 0) sym[right->next].prev = c.left;
        right->id = -1;
        push_candidate(tok, sym, left->prev, c.left, heap, &n_heap);
        push_candidate(tok, sym, c.left, left->next, heap, &n_heap);
    }
    for (int i = 0; i >= 0; i = sym[i].next) token_ids_push(out, sym[i].id);
}

/* ------------------------------------------------------------------ */
/* The piece cache                                                     */

static void cache_clear(PieceCache *c) {
    memset(c->slots, 0, CACHE_SLOTS * sizeof(CacheSlot));
    c->n_entries = c->keys_used = c->ids_used = 0;
}

/* Appends the cached ids of piece to out and returns 1, or returns 0. */
static int cache_get(const PieceCache *c, uint64_t hash, const uint8_t *piece, size_t n, TokenIds *out) {
    for (size_t i = hash & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
        const CacheSlot *s = &c->slots[i];
        if (s->hash == 0) return 0;
        if (s->hash == hash && s->key_len == n && memcmp(c->keys + s->key_off, piece, n) == 0) {
            for (size_t k = 0; k < s->n_ids; k++) token_ids_push(out, c->ids[s->ids_off + k]);
            return 1;
        }
    }
}

static void cache_put(PieceCache *c, uint64_t hash, const uint8_t *piece, size_t n, const int *ids, size_t n_ids) {
    if (c->n_entries == CACHE_MAX_ENTRIES || c->keys_used + n > CACHE_KEY_BYTES || c->ids_used + n_ids > CACHE_IDS)
        cache_clear(c);
    size_t i = hash & (CACHE_SLOTS - 1);
    while (c->slots[i].hash != 0) i = (i + 1) & (CACHE_SLOTS - 1);
    c->slots[i] = (CacheSlot){hash, (uint32_t)c->keys_used, (uint32_t)c->ids_used, (uint16_t)n, (uint16_t)n_ids};
    memcpy(c->keys + c->keys_used, piece, n);
    memcpy(c->ids + c->ids_used, ids, n_ids * sizeof(int));
    c->keys_used += n;
    c->ids_used += n_ids;
    c->n_entries++;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */

static void encode_piece(Tokenizer *tok, const uint8_t *piece, size_t n, TokenIds *out) {
    if (n == 1) {
        token_ids_push(out, tok->byte_id[piece[0]]);
        return;
    }
    if (n > CACHE_MAX_PIECE) {
        bpe_merge(tok, piece, n, out);
        return;
    }
    uint64_t hash = hash_bytes(piece, n) | 1; /* never 0, the empty-slot mark */
    if (cache_get(&tok->cache, hash, piece, n, out)) return;
    size_t first = out->len;
    bpe_merge(tok, piece, n, out);
    cache_put(&tok->cache, hash, piece, n, out->ids + first, out->len - first);
}

size_t tokenizer_encode_step(Tokenizer *tok, const uint8_t *text, size_t len, size_t pos, size_t min_bytes,
                             TokenIds *out) {
    if (!tok->can_encode) die("this tokenizer was loaded from a decode-only table; encoding needs encoder.json + vocab.bpe");
    size_t stop = len - pos > min_bytes ? pos + min_bytes : len;
    while (pos < stop) {
        size_t end = pretokenize_next(text, len, pos);
        encode_piece(tok, text + pos, end - pos, out);
        pos = end;
    }
    return pos;
}

/* The next "<|endoftext|>" at or after pos, or len. */
static size_t find_special(const uint8_t *text, size_t len, size_t pos) {
    const size_t n = strlen(GPT2_EOT_TEXT);
    for (; pos + n <= len; pos++) {
        const uint8_t *hit = memchr(text + pos, '<', len - n + 1 - pos);
        if (!hit) break;
        pos = (size_t)(hit - text);
        if (memcmp(hit, GPT2_EOT_TEXT, n) == 0) return pos;
    }
    return len;
}

void tokenizer_encode(Tokenizer *tok, const uint8_t *text, size_t len, int allow_special, TokenIds *out) {
    if (!allow_special) {
        tokenizer_encode_step(tok, text, len, 0, len, out);
        return;
    }
    /* Special tokens split the text first; the parts between them are ordinary. */
    size_t pos = 0;
    for (;;) {
        size_t special = find_special(text, len, pos);
        tokenizer_encode_step(tok, text, special, pos, special - pos, out);
        if (special == len) break;
        token_ids_push(out, tok->eot_id);
        pos = special + strlen(GPT2_EOT_TEXT);
    }
}

/* ------------------------------------------------------------------ */
/* Streaming decode                                                    */

/* An ill-formed sequence of n bytes: itself, or one U+FFFD. */
static size_t stream_ill_formed(const Utf8Stream *s, const uint8_t *bytes, size_t n, uint8_t *out) {
    if (!s->replace) {
        memcpy(out, bytes, n);
        return n;
    }
    memcpy(out, "\xEF\xBF\xBD", 3);
    return 3;
}

/*
 * The held bytes (a well-formed prefix) and the new ones are one text. First
 * the held character takes new bytes one at a time until it is complete, or
 * a byte cannot continue it (then the held bytes are a maximal subpart, and
 * that byte starts afresh), or the new bytes run out. Then the new bytes are
 * read sequence by sequence (utf8_prefix), and a character cut short by
 * their end is held for the next push.
 */
size_t utf8_stream_push(Utf8Stream *s, const uint8_t *bytes, size_t len, uint8_t *out) {
    size_t n = 0, i = 0, want, k;
    while (s->nheld > 0 && i < len) {
        s->held[s->nheld] = bytes[i];
        k = utf8_prefix(s->held, s->nheld + 1, &want);
        if (k <= s->nheld) { /* bytes[i] does not continue the character */
            n += stream_ill_formed(s, s->held, s->nheld, out + n);
            s->nheld = 0;
            break;
        }
        i++;
        s->nheld++;
        if (k == want) {
            memcpy(out + n, s->held, k);
            n += k;
            s->nheld = 0;
        }
    }
    while (i < len) {
        if (bytes[i] < 0x80) {
            out[n++] = bytes[i++];
            continue;
        }
        k = utf8_prefix(bytes + i, len - i, &want);
        if (want && k == want) {
            memcpy(out + n, bytes + i, k);
            n += k;
        } else if (want && i + k == len) {
            memcpy(s->held, bytes + i, k);
            s->nheld = k;
        } else {
            k = k ? k : 1;
            n += stream_ill_formed(s, bytes + i, k, out + n);
        }
        i += k;
    }
    return n;
}

size_t utf8_stream_flush(Utf8Stream *s, uint8_t *out) {
    size_t n = s->nheld ? stream_ill_formed(s, s->held, s->nheld, out) : 0;
    s->nheld = 0;
    return n;
}

/* Chunks of 256 bytes keep the output buffer on the stack. */
void token_printer_bytes(TokenPrinter *p, const uint8_t *bytes, size_t len) {
    uint8_t buf[UTF8_STREAM_ROOM(256)];
    for (size_t at = 0; at < len; at += 256) {
        size_t n = len - at < 256 ? len - at : 256;
        fwrite(buf, 1, utf8_stream_push(&p->utf8, bytes + at, n, buf), p->out);
    }
    fflush(p->out);
}

int token_printer_token(int id, void *printer) {
    TokenPrinter *p = printer;
    if (id == tokenizer_eot_id(p->tok)) return 0;
    size_t len;
    const uint8_t *bytes = tokenizer_token_bytes(p->tok, id, &len);
    if (bytes) token_printer_bytes(p, bytes, len); /* else: an id of a model whose vocabulary is larger than this one */
    return 1;
}

void token_printer_end(TokenPrinter *p) {
    uint8_t tail[UTF8_STREAM_ROOM(0)];
    fwrite(tail, 1, utf8_stream_flush(&p->utf8, tail), p->out);
    fflush(p->out);
}
