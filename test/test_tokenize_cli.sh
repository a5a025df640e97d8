#!/usr/bin/env bash
# The ./tokenize program: every fixture both ways, stdin, --allow-special, a
# shard round trip and --help (errors: test/bad_inputs.sh).
source "$(dirname "$0")/lib.sh"
T="$BIN/tokenize"
FIX="$SHARED/fixtures/tokenizer"

if [ ! -f "$VOCAB/encoder.json" ]; then
    skip tokenize_cli "$VOCAB not found"
    exit 0
fi

# --- fixtures, both ways; standard input, the vocabulary from the environment
if [ -d "$FIX" ]; then
    for txt in "$FIX"/*.txt; do
        name=$(basename "$txt" .txt)
        "$T" encode --vocab "$VOCAB" "$txt" >"$TMP/ids" 2>"$TMP/err"
        check "cli_encode_$name" cmp -s "$TMP/ids" "$FIX/$name.ids"
        "$T" decode --vocab "$VOCAB" "$FIX/$name.ids" >"$TMP/txt" 2>"$TMP/err"
        check "cli_decode_$name" cmp -s "$TMP/txt" "$txt"
    done
    GPT2_VOCAB_DIR="$VOCAB" "$T" encode - <"$FIX/english_plain.txt" >"$TMP/ids"
    check cli_encode_stdin_and_env_vocab cmp -s "$TMP/ids" "$FIX/english_plain.ids"
    GPT2_VOCAB_DIR="$VOCAB" "$T" decode <"$FIX/english_plain.ids" >"$TMP/txt"
    check cli_decode_stdin cmp -s "$TMP/txt" "$FIX/english_plain.txt"
else
    skip cli_fixtures "no $FIX"
fi

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
# documents that every checkout has: an English text, a Chinese one, C source
printf '今天天气很好，我们去公园散步吧。人工智能正在改变世界。\n' >"$TMP/chinese.txt"
shard_round_trip shard_two_documents 0.25 README.md "$TMP/chinese.txt"
shard_round_trip shard_single_document 0.01 tokenizer.c
if [ -f "$SHARED/data/tinyshakespeare.txt" ]; then
    shard_round_trip shard_tinyshakespeare 0.1 "$SHARED/data/tinyshakespeare.txt"
else
    skip shard_tinyshakespeare "$SHARED/data/tinyshakespeare.txt not found"
fi

# --- usage and data errors, malformed vocabularies: test/bad_inputs.sh
"$T" --help >"$TMP/help" 2>&1
check usage_help_exits_0 grep -q 'usage:' "$TMP/help"
