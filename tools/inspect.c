/*
 * inspect: one forward pass over a prompt, and a picture of what the model
 * did with it: a self-contained HTML page and, on request, the numbers as JSON.
 *
 *   ./inspect --model CKPT --vocab DIR (--prompt TEXT | --prompt-file F)
 *             [--top K] [--html FILE] [--json FILE]
 *
 * Everything shown comes from the activations that gpt2_forward keeps for
 * the backward pass (gpt2.h): acts.att (L,B,NH,T,T) holds every head's
 * attention probabilities, acts.residual3 (L,B,T,C) the residual stream
 * leaving each block, acts.logits (B,T,V) the output. There is no second
 * model here: only softmax, sorting, and the logit lens, which runs the
 * model's own final layernorm and output projection on each block's stream.
 * notes.md, "Looking inside", explains how to read the page.
 *
 * The page's size is bounded whatever the prompt: a thumbnail has at most
 * 32 x 32 cells and a large view 64 x 64, so a head costs at most about
 * 50 KB; tokens, predictions and lens cost about 100 bytes per position for
 * each of the K predictions and L layers. GPT-2 124M's full context of 1024
 * tokens stays under 10 MB (a random model of that shape measured 4 MB).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "gpt2.h"
#include "json.h"
#include "svg.h"
#include "tokenizer.h"

#define MAX_TOP 20        /* --top at most */
#define VIEW_WINDOW 64    /* the large attention views show at most the last 64 positions */
#define THUMB_BINS 32     /* a thumbnail has at most 32 x 32 cells */

typedef struct {
    int id;
    float p;
} Guess;

/* What one forward pass over the prompt shows, in the shapes of the JSON. */
typedef struct {
    const char *model_path;
    const GPT2 *model;
    const Tokenizer *tok;
    int T, K;
    const int *ids;        /* (T) */
    char **pieces;         /* (T) each token's text alone, invalid UTF-8 as U+FFFD */
    const float *att;      /* (L,NH,T,T) acts.att of a batch of one */
    Guess *next;           /* (T,K) the most likely next tokens, by p descending */
    Guess *lens;           /* (L,T) the top-1 next token if the model stopped after block l */
    float *surprisal;      /* (T-1) -ln p(ids[t+1] | ids[0..t]), nats */
    int *rank;             /* (T-1) how many tokens were more likely than ids[t+1] (0: the top-1) */
} Inspection;

static void usage(FILE *f) {
    fprintf(f,
            "usage: inspect --model CKPT --vocab DIR (--prompt TEXT | --prompt-file FILE) [options]\n"
            "  --model CKPT       a gpt2c or llm.c checkpoint\n"
            "  --vocab DIR        the model's vocabulary: encoder.json + vocab.bpe (or vocab.json +\n"
            "                     merges.txt); default $GPT2_VOCAB_DIR, else data/gpt2\n"
            "  --prompt TEXT      the text to look at (not empty; at most the model's context in tokens)\n"
            "  --prompt-file F    read it from a file instead\n"
            "  --top K            next-token predictions shown per position, 1..%d (default 5)\n"
            "  --html FILE        the page (default inspect.html): tokens coloured by surprisal, top-K\n"
            "                     predictions, every head's attention map, the logit lens\n"
            "  --json FILE        also the numbers: tokens, pieces, attention, next, lens, surprisal\n",
            MAX_TOP);
}

/* A token's text on its own: bytes that are not valid UTF-8 by themselves
 * (half of a character split across tokens) become U+FFFD. */
static char *token_piece(const Tokenizer *tok, int id) {
    size_t len;
    const uint8_t *bytes = tokenizer_token_bytes(tok, id, &len);
    uint8_t *out = xmalloc(UTF8_STREAM_ROOM(len) + 1, "token text");
    Utf8Stream s = {.replace = 1};
    size_t n = utf8_stream_push(&s, bytes, len, out);
    n += utf8_stream_flush(&s, out + n);
    out[n] = 0;
    return (char *)out;
}

/* p = softmax(x) over V logits, in double; returns ln(sum e^x), the log of
 * the normaliser, so -ln p[i] = lse - x[i] without rounding p first. */
static double softmax(const float *x, int V, double *p) {
    double maxv = -INFINITY, sum = 0.0;
    for (int i = 0; i < V; i++) maxv = fmax(maxv, x[i]);
    for (int i = 0; i < V; i++) sum += p[i] = exp((double)x[i] - maxv);
    for (int i = 0; i < V; i++) p[i] /= sum;
    return maxv + log(sum);
}

/* The K largest of p[0..V) by p descending (ties: the smaller id first). */
static void top_k(const double *p, int V, int K, Guess *out) {
    int n = 0;
    for (int i = 0; i < V; i++) {
        if (n == K && p[i] <= out[K - 1].p) continue;
        int j = n < K ? n++ : K - 1; /* insertion into the sorted list */
        while (j > 0 && out[j - 1].p < p[i]) { out[j] = out[j - 1]; j--; }
        out[j] = (Guess){i, (float)p[i]};
    }
}

/* Next-token predictions and surprisal from the forward's logits (T,V). */
static void read_predictions(Inspection *in, const float *logits, double *p) {
    int V = in->model->config.V;
    for (int t = 0; t < in->T; t++) {
        const float *x = logits + (size_t)t * V;
        double lse = softmax(x, V, p);
        top_k(p, V, in->K, in->next + (size_t)t * in->K);
        if (t + 1 < in->T) {
            int target = in->ids[t + 1];
            in->surprisal[t] = (float)(lse - x[target]);
            int above = 0;
            for (int i = 0; i < V; i++) above += p[i] > p[target];
            in->rank[t] = above;
        }
    }
}

/* The logit lens (nostalgebraist, 2020): the residual stream leaving block l
 * read as if it were the last, through the final layernorm and the tied
 * output projection wte:  lens[l][t] = top-1 of softmax(wte . lnf(x_l[t])).
 * For l = L-1 this is exactly the model's own output. */
static void logit_lens(Inspection *in, double *p) {
    const GPT2 *m = in->model;
    const GPT2Config *c = &m->config;
    int T = in->T, C = c->C, V = c->V;
    float *ln = xmalloc(mul_size((size_t)T, C, "lens") * sizeof(float), "lens layernorm (T,C)");
    float *mean = xmalloc((size_t)T * sizeof(float), "lens mean"), *rstd = xmalloc((size_t)T * sizeof(float), "rstd");
    float *logits = xmalloc(mul_size((size_t)T, V, "lens") * sizeof(float), "lens logits (T,V)");
    for (int l = 0; l < c->L; l++) {
        const float *stream = m->acts.residual3 + (size_t)l * T * C; /* (T,C) with B = 1 */
        layernorm_forward(ln, mean, rstd, stream, m->params.lnfw, m->params.lnfb, 1, T, C);
        m->ops->matmul_forward(logits, ln, m->params.wte, NULL, 1, T, C, V);
        for (int t = 0; t < T; t++) {
            softmax(logits + (size_t)t * V, V, p);
            top_k(p, V, 1, in->lens + (size_t)l * T + t);
        }
    }
    free(ln);
    free(mean);
    free(rstd);
    free(logits);
}

static void inspect_prompt(Inspection *in, GPT2 *model) {
    int T = in->T, L = model->config.L;
    gpt2_alloc(model, 1, T);
    gpt2_forward(model, in->ids, NULL, 1, T);
    in->model = model;
    in->att = model->acts.att;
    in->pieces = xmalloc((size_t)T * sizeof(char *), "pieces");
    for (int t = 0; t < T; t++) in->pieces[t] = token_piece(in->tok, in->ids[t]);
    in->next = xmalloc((size_t)T * in->K * sizeof(Guess), "top-K");
    in->lens = xmalloc((size_t)L * T * sizeof(Guess), "lens");
    in->surprisal = xmalloc((size_t)T * sizeof(float), "surprisal");
    in->rank = xmalloc((size_t)T * sizeof(int), "ranks");
    double *p = xmalloc((size_t)model->config.V * sizeof(double), "probabilities (V)");
    read_predictions(in, model->acts.logits, p);
    logit_lens(in, p);
    free(p);
}

/* ---- JSON ---- */

static void json_guess(FILE *f, Guess g) { fprintf(f, "{\"id\": %d, \"p\": %.9g}", g.id, (double)g.p); }

static void write_json(const Inspection *in, const char *path) {
    const GPT2Config *c = &in->model->config;
    int T = in->T;
    AtomicFile af = atomic_open(path);
    FILE *f = af.f;
    fputs("{\n\"tokens\": [", f);
    for (int t = 0; t < T; t++) fprintf(f, "%s%d", t ? ", " : "", in->ids[t]);
    fputs("],\n\"pieces\": [", f);
    for (int t = 0; t < T; t++) {
        if (t) fputs(", ", f);
        json_put_string(f, (const uint8_t *)in->pieces[t], strlen(in->pieces[t]), path);
    }
    fputs("],\n\"attention\": [", f);
    for (int l = 0; l < c->L; l++) {
        fputs(l ? ",\n [" : "\n [", f);
        for (int h = 0; h < c->NH; h++) {
            fputs(h ? ",\n  [" : "\n  [", f);
            for (int q = 0; q < T; q++) {
                const float *row = in->att + (((size_t)l * c->NH + h) * T + q) * T;
                fputs(q ? ",\n   [" : "\n   [", f);
                for (int k = 0; k < T; k++) fprintf(f, "%s%.9g", k ? ", " : "", (double)row[k]);
                fputc(']', f);
            }
            fputc(']', f);
        }
        fputc(']', f);
    }
    fputs("],\n\"next\": [", f);
    for (int t = 0; t < T; t++) {
        fputs(t ? ",\n [" : "\n [", f);
        for (int k = 0; k < in->K; k++) {
            if (k) fputs(", ", f);
            json_guess(f, in->next[(size_t)t * in->K + k]);
        }
        fputc(']', f);
    }
    fputs("],\n\"lens\": [", f);
    for (int l = 0; l < c->L; l++) {
        fputs(l ? ",\n [" : "\n [", f);
        for (int t = 0; t < T; t++) {
            if (t) fputs(", ", f);
            json_guess(f, in->lens[(size_t)l * T + t]);
        }
        fputc(']', f);
    }
    fputs("],\n\"surprisal\": [", f);
    for (int t = 0; t + 1 < T; t++) fprintf(f, "%s%.9g", t ? ", " : "", (double)in->surprisal[t]);
    fputs("]\n}\n", f);
    atomic_commit(&af);
}

/* ---- the HTML page ---- */

/* GLTR's buckets for the rank of the token that came: top-1, top-10, top-100, beyond. */
static int rank_bucket(int rank) { return rank < 1 ? 0 : rank < 10 ? 1 : rank < 100 ? 2 : 3; }
static const char *const BUCKET_NAMES[4] = {"top-1", "top-10", "top-100", "beyond top-100"};

static void put_piece(const Inspection *in, FILE *f, int id) {
    char *s = token_piece(in->tok, id);
    xml_str(f, s);
    free(s);
}

static void page_tokens(const Inspection *in, FILE *f) {
    fputs("<h2>Tokens</h2>\n<p>The prompt as the model sees it: one box per token, its id below. The colour says "
          "how surprising the token was after the ones before it, by the rank of its probability among the "
          "model's next-token predictions (GLTR's buckets): ", f);
    for (int b = 0; b < 4; b++) fprintf(f, "<span class=\"tok b%d\">%s</span> ", b, BUCKET_NAMES[b]);
    fputs("(the first token has no prediction). Hover over a token for its surprisal, -ln p in nats.</p>\n"
          "<div class=\"tokens\">", f);
    for (int t = 0; t < in->T; t++) {
        if (t == 0) fprintf(f, "<span class=\"tok\" title=\"position 0, id %d\">", in->ids[0]);
        else
            fprintf(f, "<span class=\"tok b%d\" title=\"position %d, id %d: surprisal %.3f nats, rank %d\">",
                    rank_bucket(in->rank[t - 1]), t, in->ids[t], (double)in->surprisal[t - 1], in->rank[t - 1] + 1);
        xml_str(f, in->pieces[t]);
        fprintf(f, "<sub>%d</sub></span>", in->ids[t]);
    }
    fputs("</div>\n", f);
}

/* A table cell holding a token's text, its background as dark as its probability. */
static void guess_cell(const Inspection *in, FILE *f, Guess g) {
    fprintf(f, "<td style=\"background:rgba(31,119,180,%.2f)\" title=\"id %d, p = %.4f\">", (double)g.p * 0.8, g.id,
            (double)g.p);
    put_piece(in, f, g.id);
    fputs("</td>", f);
}

static void page_predictions(const Inspection *in, FILE *f) {
    fprintf(f, "<h2>Predictions</h2>\n<p>At each position, the %d tokens the model finds most likely to come next, "
               "with their probabilities (hover), shaded by p.</p>\n<div class=\"scroll\"><table>\n"
               "<tr><th>pos</th><th>token</th>", in->K);
    for (int k = 0; k < in->K; k++) fprintf(f, "<th>#%d</th>", k + 1);
    fputs("</tr>\n", f);
    for (int t = 0; t < in->T; t++) {
        fprintf(f, "<tr><td>%d</td><td class=\"tt\">", t);
        xml_str(f, in->pieces[t]);
        fputs("</td>", f);
        for (int k = 0; k < in->K; k++) guess_cell(in, f, in->next[(size_t)t * in->K + k]);
        fputs("</tr>\n", f);
    }
    fputs("</table></div>\n", f);
}

/* Head h of layer l's attention (T,T), queries as rows. */
static const float *head_map(const Inspection *in, int l, int h) {
    return in->att + ((size_t)l * in->model->config.NH + h) * in->T * in->T;
}

/* The grey staircase over the cells that the causal mask hides (key > query)
 * of an n x n map at (x, y), `cell` pixels a cell. */
static void causal_mask(FILE *f, int n, double x, double y, double cell) {
    fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"white\"/>", x, y, n * cell, n * cell);
    fprintf(f, "<path transform=\"translate(%g %g) scale(%g)\" fill=\"#ddd\" d=\"", x, y, cell);
    for (int q = 0; q + 1 < n; q++) fprintf(f, "M%d %dh%dv1h%dz", q + 1, q, n - q - 1, -(n - q - 1));
    fputs("\"/>\n", f);
}

/* A thumbnail of a whole map in at most THUMB_BINS x THUMB_BINS cells: bin i
 * holds positions [i*T/n, (i+1)*T/n); a cell is the mean over its queries of
 * the summed attention to its keys, so each row of bins still sums to 1. */
static void thumbnail(const Inspection *in, FILE *f, int l, int h, float *bins) {
    int T = in->T, n = T < THUMB_BINS ? T : THUMB_BINS;
    const float *a = head_map(in, l, h);
    memset(bins, 0, sizeof(float) * n * n);
    for (int q = 0; q < T; q++)
        for (int k = 0; k <= q; k++) bins[(q * n / T) * n + k * n / T] += a[(size_t)q * T + k];
    for (int i = 0; i < n; i++) {
        int first = (i * T + n - 1) / n, end = ((i + 1) * T + n - 1) / n; /* queries q with q*n/T == i */
        for (int j = 0; j < n; j++) bins[i * n + j] /= (float)(end - first);
    }
    double cell = 96.0 / n;
    fprintf(f, "<a href=\"#att-%d-%d\">", l, h);
    svg_open(f, 96, 96);
    fprintf(f, "<title>layer %d, head %d</title>", l, h);
    causal_mask(f, n, 0, 0, cell);
    svg_heatmap(f, bins, (size_t)n, n, n, 0, 0, cell, "#08306b");
    svg_close(f);
    fputs("</a>", f);
}

/* The large view: the last W <= VIEW_WINDOW positions, tokens as labels. */
static void head_view(const Inspection *in, FILE *f, int l, int h) {
    int T = in->T, W = T < VIEW_WINDOW ? T : VIEW_WINDOW, first = T - W;
    const double cell = 10, margin = 90, size = margin + W * cell + 4;
    fprintf(f, "<div class=\"view\" id=\"att-%d-%d\"><h3>layer %d, head %d</h3>\n", l, h, l, h);
    svg_open(f, size, size);
    causal_mask(f, W, margin, margin, cell);
    for (int i = 0; i < W; i++) { /* keys along the top (rotated), queries down the left */
        double at = margin + (i + 0.5) * cell;
        fprintf(f, "<text font-size=\"9\" text-anchor=\"end\" x=\"%g\" y=\"%g\">", margin - 3, at + 3);
        xml_str(f, in->pieces[first + i]);
        fprintf(f, "</text><text font-size=\"9\" transform=\"translate(%g %g) rotate(-90)\">", at + 3, margin - 3);
        xml_str(f, in->pieces[first + i]);
        fputs("</text>\n", f);
    }
    const float *a = head_map(in, l, h);
    svg_heatmap(f, a + (size_t)first * T + first, (size_t)T, W, W, margin, margin, cell, "#08306b");
    svg_close(f);
    fputs("</div>\n", f);
}

static void page_attention(const Inspection *in, FILE *f) {
    const GPT2Config *c = &in->model->config;
    int T = in->T;
    fprintf(f, "<h2>Attention</h2>\n<p>Each map is one head of one layer: row = query position, column = key "
               "position, darker = more attention (each row sums to 1). Grey above the diagonal is what the "
               "causal mask hides. A head that attends to the previous token shows a line just below the diagonal; "
               "a dark first column is a head that parks its attention on the first token. %d layers x %d heads; "
               "click a thumbnail for its large view.", c->L, c->NH);
    if (T > THUMB_BINS) fprintf(f, " Thumbnails pool the %d positions into %d x %d bins.", T, THUMB_BINS, THUMB_BINS);
    fputs("</p>\n<table class=\"grid\"><tr><th></th>", f);
    for (int h = 0; h < c->NH; h++) fprintf(f, "<th>head %d</th>", h);
    fputs("</tr>\n", f);
    int n = T < THUMB_BINS ? T : THUMB_BINS;
    float *bins = xmalloc(sizeof(float) * n * n, "thumbnail");
    for (int l = 0; l < c->L; l++) {
        fprintf(f, "<tr><th>layer %d</th>", l);
        for (int h = 0; h < c->NH; h++) {
            fputs("<td class=\"thumb\">", f);
            thumbnail(in, f, l, h, bins);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    free(bins);
    fputs("</table>\n<h3>Each head, larger</h3>\n", f);
    if (T > VIEW_WINDOW)
        fprintf(f, "<p>The prompt has %d tokens: these views show the last %d positions only (queries and keys "
                   "%d..%d); attention to earlier keys is not drawn.</p>\n", T, VIEW_WINDOW, T - VIEW_WINDOW, T - 1);
    for (int l = 0; l < c->L; l++)
        for (int h = 0; h < c->NH; h++) head_view(in, f, l, h);
}

static void page_lens(const Inspection *in, FILE *f) {
    const GPT2Config *c = &in->model->config;
    fputs("<h2>Logit lens</h2>\n<p>Row l: the token the model would predict next if it stopped after block l, "
          "its residual stream sent through the final layernorm and the output projection (wte), shaded by "
          "probability. The last row is the model's own prediction.</p>\n<div class=\"scroll\"><table>\n"
          "<tr><th>after block</th>", f);
    for (int t = 0; t < in->T; t++) {
        fputs("<th class=\"tt\">", f);
        xml_str(f, in->pieces[t]);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (int l = 0; l < c->L; l++) {
        fprintf(f, "<tr><th>%d%s</th>", l, l == c->L - 1 ? " (output)" : "");
        for (int t = 0; t < in->T; t++) guess_cell(in, f, in->lens[(size_t)l * in->T + t]);
        fputs("</tr>\n", f);
    }
    fputs("</table></div>\n", f);
}

static const char *const PAGE_STYLE =
    "body{font-family:sans-serif;margin:1.5em;max-width:1400px}"
    ".tokens{line-height:2.6}"
    ".tok{display:inline-block;border:1px solid #999;margin:1px;padding:0 2px;white-space:pre;font-family:monospace}"
    ".tok sub{font-size:60%;color:#555;margin-left:2px}"
    ".b0{background:#c7e9c0}.b1{background:#fff3b0}.b2{background:#fdbba0}.b3{background:#dabcf0}"
    ".scroll{overflow-x:auto}table{border-collapse:collapse}"
    "td,th{border:1px solid #ddd;padding:1px 4px;font-size:12px;white-space:pre}"
    "td{font-family:monospace}.tt{font-family:monospace}"
    ".grid td{padding:2px}.view{display:inline-block;vertical-align:top;margin:4px}";

static void write_html(const Inspection *in, const char *path) {
    const GPT2Config *c = &in->model->config;
    AtomicFile af = atomic_open(path);
    FILE *f = af.f;
    /* XHTML: well-formed XML that any browser opens, so the test can parse it */
    fputs("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head><meta charset=\"utf-8\"/>"
          "<title>gpt2c inspect</title><style>", f);
    fputs(PAGE_STYLE, f);
    fputs("</style></head>\n<body>\n<h1>What the model did with a prompt</h1>\n<p class=\"model\">model ", f);
    xml_str(f, in->model_path);
    fprintf(f, ": %d layers, %d heads, %d channels, vocabulary %d, context %d; %d prompt tokens</p>\n<p>Prompt: "
               "<span class=\"tt\">", c->L, c->NH, c->C, c->V, c->maxT, in->T);
    size_t len;
    uint8_t *bytes = tokenizer_decode(in->tok, in->ids, (size_t)in->T, &len);
    uint8_t *text = xmalloc(UTF8_STREAM_ROOM(len), "prompt text");
    Utf8Stream s = {.replace = 1}; /* the whole text at once: split characters join up again */
    size_t n = utf8_stream_push(&s, bytes, len, text);
    n += utf8_stream_flush(&s, text + n);
    xml_text(f, text, n);
    free(bytes);
    free(text);
    fputs("</span></p>\n", f);
    page_tokens(in, f);
    page_predictions(in, f);
    page_attention(in, f);
    page_lens(in, f);
    fputs("</body>\n</html>\n", f);
    atomic_commit(&af);
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL, *prompt_file = NULL, *html = "inspect.html", *json = NULL;
    const char *vocab = getenv("GPT2_VOCAB_DIR");
    if (!vocab || !*vocab) vocab = "data/gpt2";
    int K = 5;
    static const char *const options[] = {"--model", "--vocab", "--prompt", "--prompt-file", "--top", "--html",
                                          "--json", NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        const char *v = option_value(argc, argv, &i, options);
        if (!strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--vocab")) vocab = v;
        else if (!strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "--prompt-file")) prompt_file = v;
        else if (!strcmp(a, "--top")) K = (int)parse_long(v, a, 1, MAX_TOP);
        else if (!strcmp(a, "--html")) html = v;
        else json = v;
    }
    if (!model_path) die_usage("--model CKPT is required (see --help)");
    if (!prompt == !prompt_file) die_usage("give exactly one of --prompt TEXT and --prompt-file FILE");
    if (prompt && !*prompt) die_usage("--prompt is empty: inspect needs at least one token");
    size_t plen;
    char *text = prompt_file ? read_whole_file(prompt_file, &plen) : NULL;
    if (!text) plen = strlen(prompt);
    if (plen == 0) die("%s: the prompt file is empty: inspect needs at least one token", prompt_file);

    Tokenizer *tok = tokenizer_load(vocab);
    GPT2 model;
    gpt2_load(&model, model_path);
    if (tokenizer_vocab_size(tok) != model.config.V)
        die("%s: the model's vocabulary has %d tokens but %s has %d: not this model's vocabulary", model_path,
            model.config.V, vocab, tokenizer_vocab_size(tok));
    TokenIds ids = {0};
    tokenizer_encode(tok, (const uint8_t *)(text ? text : prompt), plen, 0, &ids);
    if (ids.len > (size_t)model.config.maxT)
        die("%s: the prompt is %zu tokens, longer than the model's context of %d", prompt_file ? prompt_file : "--prompt",
            ids.len, model.config.maxT);
    if (K > model.config.V) K = model.config.V;

    Inspection in = {.model_path = model_path, .tok = tok, .T = (int)ids.len, .K = K, .ids = ids.ids};
    inspect_prompt(&in, &model);
    write_html(&in, html);
    if (json) write_json(&in, json);
    fprintf(stderr, "inspect: %d tokens; page %s%s%s\n", in.T, html, json ? ", numbers " : "", json ? json : "");

    for (int t = 0; t < in.T; t++) free(in.pieces[t]);
    free(in.pieces);
    free(in.next);
    free(in.lens);
    free(in.surprisal);
    free(in.rank);
    token_ids_free(&ids);
    free(text);
    gpt2_free(&model);
    tokenizer_free(tok);
    return 0;
}
