/*
 * tokenize: GPT-2 text <-> token ids from the command line, and llm.c token
 * shards for training. See usage() and notes.md ("Byte-level BPE tokenizer").
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "tokenizer.h"

#define SHARD_MAGIC 20240520
#define SHARD_VERSION 1
#define PROGRESS_BYTES ((size_t)16 << 20)

static void usage(FILE *f) {
    fprintf(f,
            "usage:\n"
            "  tokenize encode [--vocab DIR] [--allow-special] [FILE|-]\n"
            "      prints the ids of the text, separated by spaces, then a newline\n"
            "  tokenize decode [--vocab DIR] [FILE|-]\n"
            "      reads white-space separated ids, writes their exact bytes\n"
            "  tokenize shard [--vocab DIR] [--val-fraction F] --out PREFIX FILES...\n"
            "      writes PREFIX_train.bin and PREFIX_val.bin (llm.c format, uint16 ids);\n"
            "      each file is one document, preceded by <|endoftext|>; the last F\n"
            "      (default 0.1, rounded up) of each document's tokens go to val\n"
            "\n"
            "  --vocab DIR      folder with encoder.json + vocab.bpe, or vocab.json + merges.txt\n"
            "                   (a Hugging Face model folder); decode also takes llm.c's\n"
            "                   gpt2_tokenizer.bin\n"
            "                   (default: $GPT2_VOCAB_DIR, else data/gpt2; see 'make vocab')\n"
            "  --allow-special  the text <|endoftext|> becomes id 50256 (default: ordinary text)\n");
}

typedef struct {
    const char *command;
    const char *vocab_dir;
    int allow_special;
    double val_fraction;
    const char *out_prefix;
    const char **files;
    int n_files;
} Options;

/* The value after a flag, or a usage error if there is none. */
static const char *flag_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) die_usage("%s needs a value (see --help)", argv[*i]);
    return argv[++*i];
}

static Options parse_args(int argc, char **argv) {
    Options o = {0};
    o.vocab_dir = getenv("GPT2_VOCAB_DIR");
    if (!o.vocab_dir || !*o.vocab_dir) o.vocab_dir = "data/gpt2";
    o.val_fraction = 0.1;
    o.files = xmalloc(sizeof(char *) * (size_t)argc, "arguments");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (!o.command && a[0] != '-') {
            o.command = a;
        } else if (strcmp(a, "--vocab") == 0) {
            o.vocab_dir = flag_value(argc, argv, &i);
        } else if (strcmp(a, "--allow-special") == 0) {
            o.allow_special = 1;
        } else if (strcmp(a, "--val-fraction") == 0) {
            o.val_fraction = parse_double(flag_value(argc, argv, &i), "--val-fraction", 0.0, 1.0);
        } else if (strcmp(a, "--out") == 0) {
            o.out_prefix = flag_value(argc, argv, &i);
        } else if (a[0] == '-' && a[1] != '\0') {
            die_usage("unknown option '%s' (see --help)", a);
        } else {
            o.files[o.n_files++] = a;
        }
    }
    if (!o.command) die_usage("no command: expected encode, decode or shard (see --help)");
    int is_shard = strcmp(o.command, "shard") == 0;
    if (!is_shard && strcmp(o.command, "encode") != 0 && strcmp(o.command, "decode") != 0)
        die_usage("unknown command '%s': expected encode, decode or shard", o.command);
    if (o.allow_special && strcmp(o.command, "encode") != 0) die_usage("--allow-special is for encode only");
    if (is_shard && !o.out_prefix) die_usage("shard needs --out PREFIX");
    if (is_shard && o.n_files == 0) die_usage("shard needs at least one input file");
    if (!is_shard && (o.out_prefix || o.n_files > 1)) die_usage("%s takes one input (FILE or -) and no --out", o.command);
    return o;
}

static const char *input_name(const char *path) { return strcmp(path, "-") == 0 ? "standard input" : path; }

static void command_encode(const Options *o, Tokenizer *tok) {
    const char *path = o->n_files ? o->files[0] : "-";
    size_t len;
    uint8_t *text = (uint8_t *)read_whole_file(path, &len); /* "-": standard input */
    TokenIds ids = {0};
    tokenizer_encode(tok, text, len, o->allow_special, &ids);
    for (size_t i = 0; i < ids.len; i++) printf(i ? " %d" : "%d", ids.ids[i]);
    putchar('\n');
    finish_stdout();
    token_ids_free(&ids);
    free(text);
}

static void command_decode(const Options *o, Tokenizer *tok) {
    const char *path = o->n_files ? o->files[0] : "-";
    size_t len;
    uint8_t *text = (uint8_t *)read_whole_file(path, &len); /* "-": standard input */
    TokenIds ids = {0};
    size_t bad;
    if (!parse_token_ids(text, len, tokenizer_vocab_size(tok), &ids, &bad)) {
        /* say what is wrong: a valid id followed by a stray byte ("31373\001")
         * is not the same mistake as a word that is no id at all */
        int digits = 0, n = 0;
        long v = 0;
        while (bad + digits < len && digits < 9 && text[bad + digits] >= '0' && text[bad + digits] <= '9')
            v = v * 10 + (text[bad + digits++] - '0');
        if (digits > 0 && digits < 9 && v < tokenizer_vocab_size(tok))
            die("%s: token %zu: '%.*s' is followed by byte 0x%02X, not white space", input_name(path), ids.len + 1,
                digits, (const char *)text + bad, text[bad + digits]);
        while (bad + n < len && n < 20 && text[bad + n] > ' ' && text[bad + n] < 0x7F) n++;
        die("%s: token %zu: '%.*s' is not a token id (0..%d)", input_name(path), ids.len + 1, n,
            (const char *)text + bad, tokenizer_vocab_size(tok) - 1);
    }
    for (size_t i = 0; i < ids.len; i++) {
        size_t n;
        const uint8_t *bytes = tokenizer_token_bytes(tok, ids.ids[i], &n);
        xfwrite(bytes, 1, n, stdout, "standard output");
    }
    finish_stdout();
    token_ids_free(&ids);
    free(text);
}

/* ------------------------------------------------------------------ */
/* shard: llm.c token files                                            */

typedef struct {
    AtomicFile file;
    size_t n_tokens;
} Shard;

static Shard shard_open(const char *prefix, const char *suffix) {
    size_t n = strlen(prefix) + strlen(suffix) + 1;
    char *path = xmalloc(n, "file name");
    snprintf(path, n, "%s%s", prefix, suffix);
    Shard s = {atomic_open(path), 0};
    free(path);
    int32_t header[HEADER_INTS] = {0}; /* rewritten with the count by shard_write_header */
    xfwrite(header, sizeof header, 1, s.file.f, s.file.tmp_path);
    return s;
}

static void shard_append(Shard *s, const int *ids, size_t n) {
    uint16_t buf[4096];
    for (size_t i = 0; i < n; i += 4096) {
        size_t k = n - i < 4096 ? n - i : 4096;
        for (size_t j = 0; j < k; j++) buf[j] = (uint16_t)ids[i + j];
        xfwrite(buf, sizeof(uint16_t), k, s->file.f, s->file.tmp_path);
    }
    s->n_tokens += n;
    if (s->n_tokens > INT32_MAX) die("%s: more than %d tokens do not fit the header", s->file.path, INT32_MAX);
}

/* The header, now that the token count is known; the file is committed by
 * the caller, together with the other shard. */
static void shard_write_header(Shard *s) {
    int32_t header[HEADER_INTS] = {0};
    header[0] = SHARD_MAGIC;
    header[1] = SHARD_VERSION;
    header[2] = (int32_t)s->n_tokens;
    if (fseek(s->file.f, 0, SEEK_SET) != 0) die("%s: cannot seek", s->file.tmp_path);
    xfwrite(header, sizeof header, 1, s->file.f, s->file.tmp_path);
}

/* Encodes a whole document, reporting progress on big ones. */
static void encode_document(Tokenizer *tok, const char *path, const uint8_t *text, size_t len, TokenIds *ids) {
    double start = now_seconds();
    for (size_t pos = 0; pos < len;) {
        pos = tokenizer_encode_step(tok, text, len, pos, PROGRESS_BYTES, ids);
        if (len > PROGRESS_BYTES)
            fprintf(stderr, "tokenize: %s: %.0f/%.0f MB, %zu tokens, %.1f MB/s\n", path, pos / 1e6, len / 1e6, ids->len,
                    pos / 1e6 / (now_seconds() - start + 1e-9));
    }
}

/*
 * Each document goes to both shards: <|endoftext|> + its first tokens to
 * train, <|endoftext|> + its last ceil(F * n) tokens to val. Splitting every
 * document (rather than the stream) keeps val representative of all inputs
 * and non-empty even for a single file, and depends on nothing but the input.
 */
static void command_shard(const Options *o, Tokenizer *tok) {
    if (tokenizer_vocab_size(tok) > 65536) die("%s: %d tokens do not fit uint16 shards", o->vocab_dir, tokenizer_vocab_size(tok));
    int eot = tokenizer_eot_id(tok);
    Shard train = shard_open(o->out_prefix, "_train.bin");
    Shard val = shard_open(o->out_prefix, "_val.bin");
    TokenIds ids = {0};
    for (int f = 0; f < o->n_files; f++) {
        size_t len;
        uint8_t *text = (uint8_t *)read_whole_file(o->files[f], &len); /* "-": standard input */
        ids.len = 0;
        encode_document(tok, input_name(o->files[f]), text, len, &ids);
        size_t n_val = (size_t)ceil(o->val_fraction * (double)ids.len);
        if (n_val > ids.len) n_val = ids.len;
        shard_append(&train, &eot, 1);
        shard_append(&train, ids.ids, ids.len - n_val);
        if (n_val > 0) {
            shard_append(&val, &eot, 1);
            shard_append(&val, ids.ids + ids.len - n_val, n_val);
        }
        free(text);
    }
    /* both shards or neither: a failed write must not leave a new train
     * shard beside an old val shard */
    shard_write_header(&train);
    shard_write_header(&val);
    AtomicFile files[2] = {train.file, val.file};
    atomic_commit_all(files, 2);
    fprintf(stderr, "tokenize: wrote %s_train.bin (%zu tokens) and %s_val.bin (%zu tokens)\n", o->out_prefix,
            train.n_tokens, o->out_prefix, val.n_tokens);
    token_ids_free(&ids);
}

/* --vocab names a folder (encoder.json + vocab.bpe, or HF's vocab.json + merges.txt), or llm.c's
 * gpt2_tokenizer.bin, which holds only the id -> bytes table and so can only decode. */
static Tokenizer *load_tokenizer(const Options *o) {
    size_t n = strlen(o->vocab_dir);
    if (n < 4 || strcmp(o->vocab_dir + n - 4, ".bin") != 0) return tokenizer_load(o->vocab_dir);
    if (strcmp(o->command, "decode") != 0)
        die_usage("%s: a tokenizer .bin can only decode; %s needs a folder with encoder.json + vocab.bpe "
                  "(or vocab.json + merges.txt)", o->vocab_dir, o->command);
    return tokenizer_load_bin(o->vocab_dir);
}

/* At file scope so that it stays reachable, for leak checkers, when die() exits mid-command. */
static Tokenizer *tokenizer;

int main(int argc, char **argv) {
    Options o = parse_args(argc, argv);
    tokenizer = load_tokenizer(&o);
    if (strcmp(o.command, "encode") == 0) command_encode(&o, tokenizer);
    else if (strcmp(o.command, "decode") == 0) command_decode(&o, tokenizer);
    else command_shard(&o, tokenizer);
    tokenizer_free(tokenizer);
    free(o.files);
    return 0;
}
