#!/usr/bin/env bash
# The ./tokenize program: every fixture both ways, stdin, --allow-special, a
# shard round trip, usage errors, bad ids and malformed vocabulary files.
source "$(dirname "$0")/lib.sh"
T="$BIN/tokenize"
VOCAB="$SHARED/data/gpt2"
FIX="$SHARED/fixtures/tokenizer"

if [ ! -f "$VOCAB/encoder.json" ]; then
    skip tokenize_cli "$VOCAB not found"
    exit 0
fi

# --- fixtures, both ways
for txt in "$FIX"/*.txt; do
    name=$(basename "$txt" .txt)
    "$T" encode --vocab "$VOCAB" "$txt" >"$TMP/ids" 2>"$TMP/err"
    check "cli_encode_$name" cmp -s "$TMP/ids" "$FIX/$name.ids"
    "$T" decode --vocab "$VOCAB" "$FIX/$name.ids" >"$TMP/txt" 2>"$TMP/err"
    check "cli_decode_$name" cmp -s "$TMP/txt" "$txt"
done

# --- standard input, the vocabulary from the environment
GPT2_VOCAB_DIR="$VOCAB" "$T" encode - <"$FIX/english_plain.txt" >"$TMP/ids"
check cli_encode_stdin_and_env_vocab cmp -s "$TMP/ids" "$FIX/english_plain.ids"
GPT2_VOCAB_DIR="$VOCAB" "$T" decode <"$FIX/english_plain.ids" >"$TMP/txt"
check cli_decode_stdin cmp -s "$TMP/txt" "$FIX/english_plain.txt"

# --- <|endoftext|>: ordinary text unless --allow-special
printf 'a<|endoftext|>b' >"$TMP/special.txt"
check cli_allow_special [ "$("$T" encode --vocab "$VOCAB" --allow-special "$TMP/special.txt")" = "64 50256 65" ]
check cli_endoftext_is_text_by_default [ "$("$T" encode --vocab "$VOCAB" "$TMP/special.txt")" = "64 27 91 437 1659 5239 91 29 65" ]
check cli_decode_endoftext [ "$(echo 50256 | "$T" decode --vocab "$VOCAB")" = "<|endoftext|>" ]

# --- shard: two documents, then a single one
# u16 FILE: the token ids of a shard, one per line; header FILE: its first 3 int32
u16() { od -An -v -tu2 -j1024 "$1" | tr -s ' ' '\n' | sed '/^$/d'; }
header() { od -An -v -td4 -N12 "$1" | tr -s ' ' ' ' | sed 's/^ //'; }
# part FILE K: the ids of document K (1-based) in a shard, between its EOTs
part() { u16 "$1" | awk -v k="$2" '$1 == 50256 { d++; next } d == k'; }
shard_round_trip() { # shard_round_trip NAME FRACTION DOCS...
    local name=$1 frac=$2; shift 2
    "$T" shard --vocab "$VOCAB" --val-fraction "$frac" --out "$TMP/$name" "$@" 2>"$TMP/shard.err" \
        || { fail "$name" "shard failed: $(head -c 300 "$TMP/shard.err")"; return; }
    local f n k=0 ok=1 why=""
    for f in "$TMP/${name}_train.bin" "$TMP/${name}_val.bin"; do
        n=$(u16 "$f" | wc -l)
        [ "$(header "$f")" = "20240520 1 $n" ] || { ok=0; why="$f header '$(header "$f")', $n tokens"; }
        [ "$(stat -c %s "$f")" -eq $((1024 + 2 * n)) ] || { ok=0; why="$f size"; }
        [ "$(u16 "$f" | head -1)" = 50256 ] || { ok=0; why="$f does not start with <|endoftext|>"; }
    done
    [ "$(u16 "$TMP/${name}_train.bin" | grep -c '^50256$')" -eq $# ] || { ok=0; why="train: not one <|endoftext|> per document"; }
    [ "$(u16 "$TMP/${name}_val.bin" | wc -l)" -gt 1 ] || { ok=0; why="val is empty"; }
    for doc in "$@"; do
        k=$((k + 1))
        { part "$TMP/${name}_train.bin" $k; part "$TMP/${name}_val.bin" $k; } | "$T" decode --vocab "$VOCAB" >"$TMP/doc"
        cmp -s "$TMP/doc" "$doc" || { ok=0; why="document $k does not decode back to $doc"; }
    done
    if [ $ok -eq 1 ]; then pass "$name"; else fail "$name" "$why"; fi
}
shard_round_trip shard_two_documents 0.25 "$FIX/english_paragraph.txt" "$FIX/chinese.txt"
shard_round_trip shard_single_document 0.01 "$FIX/c_source.txt"
if [ -f "$SHARED/data/tinyshakespeare.txt" ]; then
    shard_round_trip shard_tinyshakespeare 0.1 "$SHARED/data/tinyshakespeare.txt"
else
    skip shard_tinyshakespeare "$SHARED/data/tinyshakespeare.txt not found"
fi

# --- usage errors: exit 2
expect_error usage_no_command 2 'no command' "$T"
expect_error usage_unknown_command 2 "unknown command 'frob'" "$T" frob
expect_error usage_unknown_flag 2 "unknown option '--bogus'" "$T" encode --bogus
expect_error usage_missing_value 2 '--vocab needs a value' "$T" encode --vocab
expect_error usage_bad_fraction 2 'val-fraction' "$T" shard --val-fraction 2 --out "$TMP/x" "$FIX/url.txt"
expect_error usage_shard_no_out 2 'needs --out' "$T" shard "$FIX/url.txt"
expect_error usage_shard_no_files 2 'at least one input' "$T" shard --out "$TMP/x"
"$T" --help >"$TMP/help" 2>&1
check usage_help_exits_0 grep -q 'usage:' "$TMP/help"

# --- bad data: exit 1, one line naming the problem
printf '31373 x12 995' >"$TMP/bad.ids"
expect_error decode_non_numeric_id 1 "bad.ids: token 2: 'x12' is not a token id" "$T" decode --vocab "$VOCAB" "$TMP/bad.ids"
printf '31373 50257' >"$TMP/big.ids"
expect_error decode_id_too_large 1 "token 2: '50257' is not a token id \(0..50256\)" "$T" decode --vocab "$VOCAB" "$TMP/big.ids"
expect_error missing_input_file 1 'nope.txt: cannot open' "$T" encode --vocab "$VOCAB" "$TMP/nope.txt"
expect_error missing_vocab_dir 1 'nodir/encoder.json: cannot open' "$T" encode --vocab "$TMP/nodir" "$FIX/url.txt"

# bad_vocab NAME PATTERN: $TMP/v holds a broken vocabulary; encoding must fail cleanly.
fresh_vocab() { rm -rf "$TMP/v"; mkdir -p "$TMP/v"; cp "$VOCAB/encoder.json" "$VOCAB/vocab.bpe" "$TMP/v/"; }
bad_vocab() { expect_error "$1" 1 "$2" "$T" encode --vocab "$TMP/v" "$FIX/url.txt"; }

fresh_vocab; sed -i 's/"!": 0,/"!"; 0,/' "$TMP/v/encoder.json"
bad_vocab vocab_bad_json "encoder.json: line 1: expected ':'"
fresh_vocab; head -c 500000 "$VOCAB/encoder.json" >"$TMP/v/encoder.json"
bad_vocab vocab_truncated_json 'encoder.json: line 1: .*file ends too early'
fresh_vocab; : >"$TMP/v/encoder.json"
bad_vocab vocab_empty_json "encoder.json: line 1: expected '\{'"
fresh_vocab; sed -i 's/"\\u0120t": 256/"\\u01G0t": 256/' "$TMP/v/encoder.json"
bad_vocab vocab_bad_unicode_escape 'encoder.json: line 1: bad \\u escape'
fresh_vocab; sed -i 's/"\\u0120t": 256/"\\ud800t": 256/' "$TMP/v/encoder.json"
bad_vocab vocab_lone_surrogate 'encoder.json: line 1: high surrogate'
fresh_vocab; sed -i 's/"\\u0120t": 256/"\\u4e2dt": 256/' "$TMP/v/encoder.json"
bad_vocab vocab_key_outside_alphabet "encoder.json: line 1: key has a character outside GPT-2's byte alphabet"
fresh_vocab; sed -i 's/"\\"": 1,/"\\"": 0,/' "$TMP/v/encoder.json"
bad_vocab vocab_duplicate_id 'encoder.json: duplicate token id 0'
fresh_vocab; sed -i 's/"#": 2,/"!": 2,/' "$TMP/v/encoder.json"
bad_vocab vocab_duplicate_key 'encoder.json: ids 0 and 2 have the same bytes'
fresh_vocab; sed -i 's/, "#": 2//' "$TMP/v/encoder.json"
bad_vocab vocab_json_missing_entry 'encoder.json: token id 50256 out of range: 50256 tokens'
fresh_vocab; sed -i 's/"!": 0,/"!": 0, "zqzqzqzq": 50257,/' "$TMP/v/encoder.json"
bad_vocab vocab_json_extra_entry 'encoder.json: the last id 50257 is not <\|endoftext\|>'
fresh_vocab; head -n 40001 "$VOCAB/vocab.bpe" >"$TMP/v/vocab.bpe"
bad_vocab vocab_missing_merges 'vocab.bpe: 40000 merges, but encoder.json.s 50257 tokens need 50000'
fresh_vocab; echo "a b" >>"$TMP/v/vocab.bpe"
bad_vocab vocab_extra_merge 'vocab.bpe: line 50002: more merges than'
fresh_vocab; sed -i '100s/.*/zqzqzqzq xyxyxyxy/' "$TMP/v/vocab.bpe"
bad_vocab vocab_unknown_merge_symbol "vocab.bpe: line 100: unknown merge symbol 'zqzqzqzq' \(not a token"
fresh_vocab; sed -i '100s/.*/中 a/' "$TMP/v/vocab.bpe"
bad_vocab vocab_merge_symbol_outside_alphabet "vocab.bpe: line 100: unknown merge symbol '中' \(not in GPT-2's byte alphabet"
fresh_vocab; sed -i '100s/ /  /' "$TMP/v/vocab.bpe"
bad_vocab vocab_merge_line_format 'vocab.bpe: line 100: expected two symbols separated by one space'
fresh_vocab; sed -i '2{h;d};3G' "$TMP/v/vocab.bpe"
bad_vocab vocab_merges_out_of_order 'vocab.bpe: line 2: merge .* should make id 256'
fresh_vocab; sed -i '1s/.*/version 0.2/' "$TMP/v/vocab.bpe"
bad_vocab vocab_missing_header "vocab.bpe: line 1: expected the header"
fresh_vocab; rm "$TMP/v/vocab.bpe"
bad_vocab vocab_missing_merge_file 'vocab.bpe: cannot open'
