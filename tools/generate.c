/*
 * generate: sample text from a GPT-2 checkpoint, streamed as it is made.
 *
 *   ./generate --model CKPT [--vocab DIR] (--prompt TEXT | --prompt-file F)
 *              [--tokens N | --max-length N] [--temperature T] [--top-k K]
 *              [--top-p P] [--seed S] [--samples N] [--raw]
 *
 * The prompt is encoded with GPT-2's tokenizer, fed through the model once,
 * then each new token costs one step with the key/value cache
 * (gpt2_forward_step): one pass over the weights plus attention over the
 * cached positions. The prompt plus the new tokens must fit in the model's
 * context (no sliding window): a longer request is an error.
 *
 * Output is text the way Hugging Face's tokenizer.decode prints it: byte
 * tokens that do not form UTF-8 characters become U+FFFD (a TokenPrinter
 * with replace on), so a terminal always gets valid UTF-8; --raw prints the
 * exact bytes instead. With --temperature 0 and --max-length, the command
 * computes what HF's model.generate(inputs, max_length=N) does: greedy
 * decoding until N tokens, prompt included.
 *
 * --samples N decodes N continuations of the prompt as one batch
 * (gpt2_generate_batch): every step reads the weights once for all N, so
 * four samples cost little more than one. Sample i draws from its own
 * random stream, seeded from (--seed, i); sample 1 is what --samples 1
 * prints. The samples print one after another: the first streams as it is
 * made, each later one prints what it has so far once those before it have
 * finished, then streams on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "generation.h"
#include "gpt2.h"
#include "tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: generate --model CKPT (--prompt TEXT | --prompt-file FILE) [options]\n"
            "  --model CKPT       a gpt2c or llm.c checkpoint (version 3 fp32 or 5 bf16)\n"
            "  --vocab DIR        encoder.json + vocab.bpe, or vocab.json + merges.txt (a Hugging Face\n"
            "                     folder) (default $GPT2_VOCAB_DIR, else data/gpt2)\n"
            "  --prompt TEXT      the text to continue (UTF-8, any language); empty: start from <|endoftext|>\n"
            "  --prompt-file F    read the prompt from a file instead (- = standard input)\n"
            "  --tokens N         new tokens at most (default 128); stops early at <|endoftext|>\n"
            "  --max-length N     instead of --tokens: prompt plus new tokens at most (Hugging Face's\n"
            "                     max_length)\n"
            "  --temperature T    0 = greedy: the most likely token at every step (default 0.8)\n"
            "  --top-k K          sample among the K most likely tokens, 0 = all (default 40)\n"
            "  --top-p P          ... and among the fewest whose probability reaches P (default 1.0 = all)\n"
            "  --seed S           random seed (default 1337)\n"
            "  --samples N        N continuations of the prompt, decoded together (1..16, default 1):\n"
            "                     each step reads the weights once for all of them, so 4 samples cost\n"
            "                     little more than 1. Each has its own random stream, seeded from\n"
            "                     (S, its number); sample 1 is what --samples 1 prints. They print\n"
            "                     one after another, each under a line \"--- sample i of N ---\"\n"
            "  --raw              print the tokens' exact bytes; by default bytes that do not form\n"
            "                     valid UTF-8 print as U+FFFD, as Hugging Face's decode prints them\n"
            "The prompt plus the new tokens must fit in the model's context.\n");
}

/* The samples' text, printed in order: the sample being shown streams token
 * by token; a later sample's tokens wait in its buffer until every sample
 * before it has finished, then print at once, and it streams on. */
typedef struct {
    const Tokenizer *tok;
    const uint8_t *prompt;
    size_t plen;
    int raw, N, max_new;
    TokenIds *waiting; /* (N) tokens made but not yet printed */
    int *made;         /* (N) */
    int *finished;     /* (N) */
    int shown;         /* the sample being printed */
    TokenPrinter printer;
} SampleOutput;

/* Starts printing sample s: its heading (with several samples), the prompt,
 * and the tokens it made while earlier samples were printing. */
static void sample_begin(SampleOutput *o, int s) {
    if (o->N > 1) printf("%s--- sample %d of %d ---\n", s ? "\n" : "", s + 1, o->N);
    o->printer = (TokenPrinter){.tok = o->tok, .out = stdout, .utf8 = {.replace = !o->raw}};
    token_printer_bytes(&o->printer, o->prompt, o->plen);
    for (size_t i = 0; i < o->waiting[s].len; i++) token_printer_token(o->waiting[s].ids[i], &o->printer);
}

/* gpt2_generate_batch's on_token: prints or keeps sample s's token; returns
 * 0 when the sample has finished (end of text, or max_new tokens). */
static int sample_token_out(int s, int id, void *ctx) {
    SampleOutput *o = ctx;
    int going = id != tokenizer_eot_id(o->tok) && ++o->made[s] < o->max_new;
    if (s == o->shown) token_printer_token(id, &o->printer);
    else token_ids_push(&o->waiting[s], id);
    if (!going) o->finished[s] = 1;
    while (o->shown < o->N && o->finished[o->shown]) { /* the shown sample is done: on to the next */
        token_printer_end(&o->printer);
        if (++o->shown < o->N) sample_begin(o, o->shown);
    }
    return going;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL, *prompt_file = NULL;
    const char *vocab = getenv("GPT2_VOCAB_DIR");
    if (!vocab || !*vocab) vocab = "data/gpt2";
    int ntokens = 128, max_length = 0, tokens_given = 0, raw = 0, samples = 1;
    SamplerConfig sc = {.temperature = 0.8f, .top_k = 40, .top_p = 1.0f};
    long seed = 1337;
    static const char *const options[] = {"--model", "--vocab", "--prompt", "--prompt-file", "--tokens",
                                          "--max-length", "--temperature", "--top-k", "--top-p", "--seed", "--samples", NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--raw")) { raw = 1; continue; }
        const char *v = option_value(argc, argv, &i, options);
        if (!strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--vocab")) vocab = v;
        else if (!strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "--prompt-file")) prompt_file = v;
        else if (!strcmp(a, "--tokens")) ntokens = (int)parse_long(v, a, 1, 1000000), tokens_given = 1;
        else if (!strcmp(a, "--max-length")) max_length = (int)parse_long(v, a, 1, 1000000);
        else if (!strcmp(a, "--temperature")) sc.temperature = (float)parse_double(v, a, 0.0, 100.0);
        else if (!strcmp(a, "--top-k")) sc.top_k = (int)parse_long(v, a, 0, 1000000);
        else if (!strcmp(a, "--top-p")) sc.top_p = (float)parse_double(v, a, 1e-6, 1.0);
        else if (!strcmp(a, "--samples")) samples = (int)parse_long(v, a, 1, GENERATE_MAX_SAMPLES);
        else seed = parse_long(v, a, 0, 2147483647L);
    }
    if (!model_path) die_usage("--model CKPT is required (see --help)");
    if (!prompt == !prompt_file) die_usage("give exactly one of --prompt TEXT and --prompt-file FILE");
    if (tokens_given && max_length) die_usage("give --tokens N (new tokens) or --max-length N (prompt included), not both");

    size_t plen;
    /* a prompt must fit in the model's context: 16 MiB is far more than any needs */
    char *text = prompt_file ? read_file_at_most(prompt_file, &plen, 16u << 20, "a prompt") : NULL;
    if (!text) plen = strlen(prompt);
    const char *prompt_bytes = text ? text : prompt;

    Tokenizer *tok = tokenizer_load(vocab);
    GPT2 model;
    gpt2_load(&model, model_path);
    check_vocab_pair(&model, model_path, tok, vocab);
    TokenIds ids = {0};
    if (plen == 0) token_ids_push(&ids, tokenizer_eot_id(tok));
    else tokenizer_encode(tok, (const uint8_t *)prompt_bytes, plen, 0, &ids);
    if (max_length) {
        if ((size_t)max_length <= ids.len)
            die("--max-length %d leaves no room for new tokens: the prompt is %zu tokens", max_length, ids.len);
        if (max_length > model.config.maxT)
            die("%s: --max-length %d exceeds the model's context of %d", model_path, max_length, model.config.maxT);
        ntokens = max_length - (int)ids.len;
    }
    if (ids.len + (size_t)ntokens > (size_t)model.config.maxT)
        die("%s: the prompt (%zu tokens) plus --tokens %d exceed the model's context of %d", model_path, ids.len,
            ntokens, model.config.maxT);

    SampleOutput out = {.tok = tok, .prompt = (const uint8_t *)prompt_bytes, .plen = plen, .raw = raw, .N = samples,
                        .max_new = ntokens};
    out.waiting = xcalloc((size_t)samples, sizeof(TokenIds), "samples");
    out.made = xcalloc((size_t)samples, sizeof(int), "samples");
    out.finished = xcalloc((size_t)samples, sizeof(int), "samples");
    Rng *rngs = xmalloc((size_t)samples * sizeof(Rng), "samples");
    for (int i = 0; i < samples; i++) sample_rng_seed(&rngs[i], (uint64_t)seed, i);
    sample_begin(&out, 0);
    double t0 = now_seconds();
    int made = gpt2_generate_batch(&model, ids.ids, (int)ids.len, ntokens, &sc, samples, rngs, sample_token_out, &out);
    double dt = now_seconds() - t0;
    printf("\n");
    finish_stdout();
    int steps = 0; /* positions fed: the prompt's, then one per token of the longest sample but its last */
    for (int i = 0; i < samples; i++) steps = out.made[i] > steps ? out.made[i] : steps;
    steps += (int)ids.len;
    if (samples == 1)
        fprintf(stderr, "generate: %zu prompt tokens, %d new tokens in %.2f s (%.1f ms per token)\n", ids.len, made, dt,
                made ? 1000.0 * dt / ((double)ids.len + made) : 0.0);
    else
        fprintf(stderr, "generate: %zu prompt tokens, %d samples, %d new tokens in %.2f s (%.1f ms per step)\n", ids.len,
                samples, made, dt, 1000.0 * dt / steps);
    for (int i = 0; i < samples; i++) token_ids_free(&out.waiting[i]);
    free(out.waiting);
    free(out.made);
    free(out.finished);
    free(rngs);
    token_ids_free(&ids);
    free(text);
    gpt2_free(&model);
    tokenizer_free(tok);
    return 0;
}
