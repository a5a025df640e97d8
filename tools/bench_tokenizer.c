/*
 * bench_tokenizer: encode and decode speed, one thread, in MB/s of text.
 *
 *   bench_tokenizer VOCAB_DIR ENGLISH_FILE
 *
 * Two inputs: an English file (tinyshakespeare) and about 1 MB of Chinese
 * made here, deterministically: sentences of 4..30 characters drawn by a
 * fixed-seed xorshift generator from 499 common Hanzi, ended by Chinese
 * punctuation, with an occasional number and a newline every few sentences.
 * Random draws make few repeated pieces, so the piece cache helps far less
 * than on real text: a conservative figure.
 *
 * Each encode runs on a freshly loaded tokenizer (cold cache); best of 3.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "tokenizer.h"

static const char common_hanzi[] =
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好"
    "都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此"
    "实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真"
    "听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路"
    "期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统"
    "色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半"
    "候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容"
    "研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坐集编宝谈府拉黑且"
    "随格尽剑讲布杀微怕母调局根曾准团段终乐切级克精哪官示冷域";
static const char *const punctuation[] = {"，", "，", "，", "。", "。", "、", "；", "：", "？", "！", "……"};

static uint64_t rng_state = 20240520;
static uint32_t rng_below(uint32_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static void append(uint8_t *buf, size_t *len, const void *s, size_t n) {
    memcpy(buf + *len, s, n);
    *len += n;
}

static uint8_t *make_chinese(size_t target, size_t *len) {
    uint8_t *buf = xmalloc(target + 256, "chinese text");
    size_t n_hanzi = (sizeof common_hanzi - 1) / 3; /* each is 3 bytes of UTF-8 */
    *len = 0;
    for (int sentence = 1; *len < target; sentence++) {
        size_t chars = 4 + rng_below(27);
        for (size_t i = 0; i < chars; i++) append(buf, len, common_hanzi + 3 * rng_below((uint32_t)n_hanzi), 3);
        if (rng_below(10) == 0) {
            char num[16];
            int k = snprintf(num, sizeof num, "%u年", 1900 + rng_below(130));
            append(buf, len, num, (size_t)k);
        }
        const char *p = punctuation[rng_below(sizeof punctuation / sizeof *punctuation)];
        append(buf, len, p, strlen(p));
        if (sentence % 8 == 0) append(buf, len, "\n", 1);
    }
    return buf;
}

static void bench(const char *vocab_dir, const char *name, const uint8_t *text, size_t len) {
    double best_encode = 1e30;
    TokenIds ids = {0};
    for (int run = 0; run < 3; run++) {
        Tokenizer *tok = tokenizer_load(vocab_dir);
        ids.len = 0;
        double t0 = now_seconds();
        tokenizer_encode(tok, text, len, 0, &ids);
        double dt = now_seconds() - t0;
        if (dt < best_encode) best_encode = dt;
        tokenizer_free(tok);
    }
    Tokenizer *tok = tokenizer_load(vocab_dir);
    enum { DECODE_RUNS = 20 };
    double t0 = now_seconds();
    size_t out_len = 0, checksum = 0;
    for (int run = 0; run < DECODE_RUNS; run++) {
        uint8_t *out = tokenizer_decode(tok, ids.ids, ids.len, &out_len);
        checksum += out[out_len / 2];
        if (out_len != len) die("%s: decode gave %zu bytes, want %zu", name, out_len, len);
        free(out);
    }
    double decode_time = (now_seconds() - t0) / DECODE_RUNS;
    printf("%-16s %8.2f MB %9zu tokens  encode %7.1f MB/s  decode %8.1f MB/s\n", name, len / 1e6, ids.len,
           len / 1e6 / best_encode, len / 1e6 / decode_time);
    (void)checksum;
    token_ids_free(&ids);
    tokenizer_free(tok);
}

int main(int argc, char **argv) {
    if (argc != 3) die_usage("usage: bench_tokenizer VOCAB_DIR ENGLISH_FILE");
    size_t len;
    uint8_t *english = (uint8_t *)read_whole_file(argv[2], &len);
    bench(argv[1], "english", english, len);
    free(english);
    uint8_t *chinese = make_chinese(1000000, &len);
    bench(argv[1], "chinese", chinese, len);
    free(chinese);
    return 0;
}
