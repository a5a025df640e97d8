/*
 * tokenizer.h: GPT-2's byte-level BPE tokenizer, encode and decode.
 *
 * Text -> ids goes in two steps (notes.md, "Byte-level BPE tokenizer"):
 *   1. pre-tokenization cuts the text into pieces with GPT-2's pattern
 *      '(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   2. each piece starts as single bytes, and adjacent pairs are merged in
 *      the order of vocab.bpe until no listed pair is left.
 * Ids -> text is concatenating each id's bytes.
 *
 * Every byte string encodes, valid UTF-8 or not, and decode(encode(x)) == x.
 * A byte that does not start a valid UTF-8 sequence is classed like U+FFFD,
 * as "other" (neither letter, number nor white space), one byte at a time.
 *
 * Errors in the vocabulary files end the program with one line naming the
 * file and the problem (die() from common.h, exit 1).
 */
#ifndef GPT2C_TOKENIZER_H
#define GPT2C_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GPT2_EOT_TEXT "<|endoftext|>"
#define TOKENIZER_MAX_TOKEN_BYTES 1024 /* no token's byte string is longer (a loaded vocabulary is checked) */

typedef struct Tokenizer Tokenizer;

/* A growable array of token ids; zero-initialise, free with token_ids_free. */
typedef struct {
    int *ids;
    size_t len, cap;
} TokenIds;
void token_ids_push(TokenIds *t, int id);
void token_ids_free(TokenIds *t);

/*
 * Loads the full tokenizer (can encode and decode) from vocab_dir, which holds
 * encoder.json + vocab.bpe (OpenAI's names) or vocab.json + merges.txt
 * (Hugging Face's names for the same two formats; encoder.json wins if both
 * are there), checking that they agree: ids 0..255 are the 256 single bytes,
 * id 256+i is merge line i, the last id is <|endoftext|>.
 */
Tokenizer *tokenizer_load(const char *vocab_dir);
/* 1 if vocab_dir holds a vocabulary that tokenizer_load would read (it may
 * still turn out to be broken), 0 if it holds none. */
int tokenizer_vocab_exists(const char *vocab_dir);

/*
 * Loads llm.c's gpt2_tokenizer.bin (magic 20240328, version 1 or 2): only the
 * id -> bytes table, so the result can decode but not encode.
 */
Tokenizer *tokenizer_load_bin(const char *path);
/* Writes dir/vocab.json and dir/merges.txt (atomically): Hugging Face's names
 * for encoder.json and vocab.bpe, which GPT2Tokenizer.from_pretrained(dir)
 * reads. Needs the merges (not a tokenizer loaded from a .bin). */
void tokenizer_save_hf(const Tokenizer *tok, const char *dir);
/* Writes the id -> bytes table as gpt2_tokenizer.bin, version 2 (atomically). */
void tokenizer_save_bin(const Tokenizer *tok, const char *path);

void tokenizer_free(Tokenizer *tok);

int tokenizer_vocab_size(const Tokenizer *tok);
int tokenizer_eot_id(const Tokenizer *tok);
/* 1 if loaded from encoder.json + vocab.bpe (has merges), 0 if from a .bin. */
int tokenizer_can_encode(const Tokenizer *tok);

/*
 * Appends the ids of text[0..len) to *out. With allow_special, each literal
 * "<|endoftext|>" becomes the end-of-text id; without it, that text is
 * ordinary text like any other. Not thread-safe: it uses the tokenizer's
 * piece cache and scratch space (one Tokenizer per thread).
 */
void tokenizer_encode(Tokenizer *tok, const uint8_t *text, size_t len, int allow_special, TokenIds *out);

/*
 * Encoding in steps, for progress reports on large inputs: encodes whole
 * pieces (never special tokens) from text[pos] on until at least min_bytes
 * are consumed or the text ends, and returns the new position. The result
 * of any sequence of steps equals one tokenizer_encode with allow_special=0.
 */
size_t tokenizer_encode_step(Tokenizer *tok, const uint8_t *text, size_t len, size_t pos, size_t min_bytes,
                             TokenIds *out);

/* The bytes of one token, for streaming decode; NULL if id is out of range. */
const uint8_t *tokenizer_token_bytes(const Tokenizer *tok, int id, size_t *len);

/*
 * Streaming decode. Tokens are byte strings, and GPT-2 often splits one
 * multi-byte UTF-8 character (most Chinese characters, emoji) across two
 * tokens. A Utf8Stream takes each token's bytes as it comes and releases only
 * complete characters, holding back an incomplete one at the end until the
 * bytes that complete it arrive, or a byte that cannot continue it does.
 *
 * What it does with bytes that are not valid UTF-8 depends on `replace`:
 *   0: they are released as they are, so everything released plus the final
 *      flush is exactly the input (the bytes of `generate --raw`);
 *   1: every maximal subpart of an ill-formed sequence becomes one U+FFFD,
 *      and so does an incomplete character left at the flush, so the output
 *      is always valid UTF-8 and equals Python's
 *      bytes.decode('utf-8', errors='replace') of the whole input, however
 *      it was cut into pushes (what Hugging Face's tokenizer.decode prints).
 * Zero-initialise (then set replace); `out` needs UTF8_STREAM_ROOM(len) bytes.
 */
typedef struct {
    int replace;
    uint8_t held[4]; /* a well-formed prefix of at most 3 bytes, plus room to try one more */
    size_t nheld;
} Utf8Stream;
/* Every held or new byte may become a 3-byte U+FFFD. */
#define UTF8_STREAM_ROOM(len) (3 * ((size_t)(len) + 3))
/* Appends bytes[0..len) and writes what is ready to out; returns its length. */
size_t utf8_stream_push(Utf8Stream *s, const uint8_t *bytes, size_t len, uint8_t *out);
/* Writes whatever is still held (at the end of the text); returns its length. */
size_t utf8_stream_flush(Utf8Stream *s, uint8_t *out);

/*
 * Text printed as it is generated (generate, train's samples): each token's
 * bytes go through a Utf8Stream to `out`, flushed at once, so the text shows
 * token by token; with utf8.replace = 1 the output is always valid UTF-8.
 * Zero-initialise, then set tok, out and utf8.replace.
 */
typedef struct {
    const Tokenizer *tok;
    FILE *out;
    Utf8Stream utf8;
} TokenPrinter;
/* Prints bytes that are not a token's (a prompt's text) through the same stream. */
void token_printer_bytes(TokenPrinter *p, const uint8_t *bytes, size_t len);
/* Prints token `id` and returns 1; at <|endoftext|> prints nothing and
 * returns 0. It has the shape of gpt2_generate's on_token (ctx: the printer). */
int token_printer_token(int id, void *printer);
/* Prints what the stream still holds: once, at the end of the text. */
void token_printer_end(TokenPrinter *p);

/* The concatenated bytes of ids[0..n) in a new heap buffer (NUL-terminated;
 * *len excludes the NUL). Dies if an id is out of range. */
uint8_t *tokenizer_decode(const Tokenizer *tok, const int *ids, size_t n, size_t *len);

/*
 * Parses ids written as text (decimal numbers separated by white space, the
 * format `tokenize encode` prints) and appends them to *out. Returns 1, or 0
 * if a word is not a number below n_vocab; then *bad_at is its offset.
 */
int parse_token_ids(const uint8_t *text, size_t len, int n_vocab, TokenIds *out, size_t *bad_at);

/*
 * The pre-tokenizer on its own: the end of the piece that starts at
 * text[pos] (pos < len). Exposed for tests and for teaching.
 */
size_t pretokenize_next(const uint8_t *text, size_t len, size_t pos);

/* The merge rank of the adjacent pair (left, right), or -1 if vocab.bpe has
 * no such merge. Exposed for tests (a naive reference BPE). */
int tokenizer_pair_rank(const Tokenizer *tok, int left, int right);
/* The id of a single byte (ids are not in byte order). */
int tokenizer_byte_id(const Tokenizer *tok, uint8_t byte);

#endif
