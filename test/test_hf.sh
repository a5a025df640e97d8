#!/usr/bin/env bash
# Hugging Face folders in and out (README "Fine-tune real GPT-2"; notes.md
# "Importing Hugging Face weights" and "Exporting to Hugging Face"):
#   1. import_hf DIR: config.json gives the shape and the heads; the sharded
#      layout; a file path; the width-table fallback, said so; --heads overrides;
#   2. held-out checkpoints (the shared fixtures) made into HF folders by
#      make_safetensors, not by export_hf, import exactly (F32, F16, BF16, with
#      and without "transformer.");
#   3. export_hf: HF's layout checked by make_safetensors, and
#      import_hf(export_hf(x)) == x bit for bit at odd shapes;
#   4. vocabularies under HF's names: read, and written by export_hf;
#   5. generate prints what HF prints: greedy --max-length on a held-out model
#      equals a full recompute's tokens decoded with U+FFFD; --raw is exact;
#   6. end to end: a synthetic HF folder at an odd shape -> import_hf ->
#      train --init -> generate -> export_hf -> import_hf;
#   7. make demo's Chinese-prompt sample is valid UTF-8.
# Config errors and bad folders are rows of test/bad_inputs.sh.
source "$(dirname "$0")/lib.sh"
BUILD=${BUILD:-build}
gen="$BUILD/make_safetensors" imp="$BIN/import_hf" exp="$BIN/export_hf" G="$BIN/generate" T="$BIN/tokenize"
export OMP_NUM_THREADS=1 # tiny models: threads only add start-up time
FIXTURES="$SHARED/fixtures/gpt2"
HAVE_VOCAB=; [ -f "$VOCAB/encoder.json" ] && [ -f "$VOCAB/vocab.bpe" ] && HAVE_VOCAB=1
ARTICLE_PROMPT="作为科研工作者,我们该如何使用大语言模型"

# config_json FILE n_head n_layer n_embd n_positions vocab_size: a GPT-2
# config.json as HF writes one, with keys of every JSON kind the importer
# passes over.
config_json() {
    printf '{\n  "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
  "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
  "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": %d, "n_embd": %d, "n_head": %d,
  "n_inner": null, "n_layer": %d, "n_positions": %d, "reorder_and_upcast_attn": false,
  "scale_attn_by_inverse_layer_idx": false, "scale_attn_weights": true, "summary_first_dropout": 0.1,
  "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}},
  "torch_dtype": "float32", "use_cache": true, "vocab_size": %d\n}\n' "$5" "$4" "$2" "$3" "$5" "$6" >"$1"
}
# header_int FILE SLOT: an int32 of a checkpoint's header
header_int() { od -An -tu4 -j $((4 * $2)) -N4 "$1" | tr -d ' '; }
# config_of CKPT FILE: config.json for a checkpoint's shape
config_of() { config_json "$2" "$(header_int "$1" 5)" "$(header_int "$1" 4)" "$(header_int "$1" 6)" \
    "$(header_int "$1" 2)" "$(header_int "$1" 3)"; }
# valid_utf8 FILE
valid_utf8() { iconv -f UTF-8 -t UTF-8 "$1" >/dev/null 2>&1; }
# run NAME COMMAND...: runs it with its output in $TMP/log; fails NAME and returns 1 if it fails
run() { local name=$1; shift; if "$@" >"$TMP/log" 2>&1; then return 0; fi; fail "$name" "$*: $(head -c 300 "$TMP/log")"; return 1; }

# ---- 1. folders of the tiny synthetic model (C=8: no released width, so only config.json knows NH=2)
summary="L=2 NH=2 C=8 V=50 (Vp=128) maxT=16, 2288 parameters"
for dtype in f32 f16 bf16 mixed; do
    for prefix in "" --prefix; do
        name=folder_${dtype}${prefix:+_prefixed}; d="$TMP/$name"; mkdir -p "$d"
        "$gen" write "$d/model.safetensors" --dtype "$dtype" $prefix && config_json "$d/config.json" 2 2 8 16 50
        run "hf/$name" "$imp" "$d" "$TMP/$name.bin" || continue
        if grep -q "$summary" "$TMP/log" && ! grep -q "width" "$TMP/log" && "$gen" check "$TMP/$name.bin" >"$TMP/check"; then
            pass "hf/$name"
        else fail "hf/$name" "$(head -c 300 "$TMP/log" "$TMP/check")"; fi
    done
done
d="$TMP/folder_f16"
if run hf/file_path_reads_config_beside_it "$imp" "$d/model.safetensors" "$TMP/file.bin"; then
    check hf/file_path_reads_config_beside_it cmp -s "$TMP/file.bin" "$TMP/folder_f16.bin"
fi
# sharded: three shards and model.safetensors.index.json, named as a folder and as the index file
d="$TMP/sharded"; mkdir -p "$d"
"$gen" write "$d/model.safetensors.index.json" --dtype mixed --prefix --shards 3 && config_json "$d/config.json" 2 2 8 16 50
if run hf/sharded_folder "$imp" "$d" "$TMP/sharded.bin" && "$gen" check "$TMP/sharded.bin" >"$TMP/check" &&
   [ "$(ls "$d"/model-0000?-of-00003.safetensors | wc -l)" = 3 ]; then pass hf/sharded_folder
else fail hf/sharded_folder "$(head -c 300 "$TMP/check")"; fi
if run hf/sharded_index_path "$imp" "$d/model.safetensors.index.json" "$TMP/sharded2.bin"; then
    check hf/sharded_index_path cmp -s "$TMP/sharded.bin" "$TMP/sharded2.bin"
fi
# --heads overrides config.json, and says so
d="$TMP/override"; mkdir -p "$d"; cp "$TMP/folder_f32/model.safetensors" "$d/"; config_json "$d/config.json" 4 2 8 16 50
if run hf/heads_flag_overrides_config "$imp" --heads 2 "$d" "$TMP/override.bin" &&
   grep -q -- "--heads 2 overrides config.json's n_head=4" "$TMP/log" && "$gen" check "$TMP/override.bin" >/dev/null; then
    pass hf/heads_flag_overrides_config
else fail hf/heads_flag_overrides_config "$(head -c 300 "$TMP/log")"; fi
# no config.json at a released width (C=768): NH from the width table, said so
{ le32 20240326 3 4 8 1 12 768 128; head -c 992 /dev/zero
  head -c $((4 * (128 * 768 + 4 * 768 + 12 * 768 * 768 + 13 * 768 + 2 * 768))) /dev/zero; } >"$TMP/w768.bin"
mkdir -p "$TMP/w768"
"$gen" from-checkpoint "$TMP/w768.bin" "$TMP/w768/model.safetensors" --dtype bf16
if run hf/no_config_width_table "$imp" "$TMP/w768" "$TMP/w768_back.bin" &&
   grep -q "no config.json beside .*w768: NH=12 from the width of the released GPT-2 sizes (C=768)" "$TMP/log" &&
   grep -q "L=1 NH=12 C=768 V=8 (Vp=128) maxT=4" "$TMP/log"; then
    check hf/no_config_width_table cmp -s "$TMP/w768.bin" "$TMP/w768_back.bin"
else fail hf/no_config_width_table "$(head -c 300 "$TMP/log")"; fi
rm -f "$TMP"/w768*.bin "$TMP/w768/model.safetensors"

# ---- 2. held-out checkpoints made into HF folders by make_safetensors, imported
for fx in tiny gpt2vocab; do
    ckpt="$FIXTURES/$fx/model.bin"
    if [ ! -f "$ckpt" ]; then
        for dtype in f32 f16 bf16; do skip "hf/held_out_${fx}_$dtype" "no $ckpt"; done
        continue
    fi
    for dtype in f32 f16 bf16; do
        for prefix in "" --prefix; do
            name=held_out_${fx}_${dtype}${prefix:+_prefixed}; d="$TMP/$name"; mkdir -p "$d"
            "$gen" from-checkpoint "$ckpt" "$d/model.safetensors" --dtype "$dtype" $prefix && config_of "$ckpt" "$d/config.json"
            run "hf/$name" "$imp" "$d" "$TMP/$name.bin" || continue
            if [ "$dtype" = f32 ]; then check "hf/$name" cmp -s "$ckpt" "$TMP/$name.bin"
            elif "$gen" check-rounded "$ckpt" "$TMP/$name.bin" "$dtype" >"$TMP/check"; then pass "hf/$name"
            else fail "hf/$name" "$(head -c 300 "$TMP/check")"; fi
            rm -rf "$d" "$TMP/$name.bin"
        done
    done
done
if [ -f "$FIXTURES/tiny/model.bin" ]; then
    d="$TMP/held_out_sharded"; mkdir -p "$d"
    "$gen" from-checkpoint "$FIXTURES/tiny/model.bin" "$d/model.safetensors.index.json" --shards 2 &&
        config_of "$FIXTURES/tiny/model.bin" "$d/config.json"
    run hf/held_out_tiny_sharded "$imp" "$d" "$TMP/held_sharded.bin" &&
        check hf/held_out_tiny_sharded cmp -s "$FIXTURES/tiny/model.bin" "$TMP/held_sharded.bin"
else skip hf/held_out_tiny_sharded "no $FIXTURES/tiny"; fi

# ---- 3. export_hf: HF's layout, and back bit for bit
# export_round_trip NAME CKPT [export options]: export at f32, f16 and bf16;
# make_safetensors checks the layout and values; F32 comes back identical,
# F16/BF16 as the checkpoint rounded, and exporting that again changes nothing.
export_round_trip() {
    local name=$1 ckpt=$2; shift 2
    for dtype in f32 f16 bf16; do
        local d="$TMP/ex_${name}_$dtype" back="$TMP/ex_${name}_$dtype.bin"
        run "hf/export_${name}_$dtype" "$exp" "$ckpt" "$d" --dtype "$dtype" "$@" || continue
        if ! "$gen" check-hf "$d/model.safetensors" "$ckpt" "$dtype" >"$TMP/check"; then
            fail "hf/export_${name}_$dtype" "layout: $(head -c 300 "$TMP/check")"; continue
        fi
        run "hf/export_${name}_$dtype" "$imp" "$d" "$back" || continue
        if [ "$dtype" = f32 ]; then check "hf/export_${name}_f32_imports_bit_identical" cmp -s "$ckpt" "$back"; continue; fi
        if "$gen" check-rounded "$ckpt" "$back" "$dtype" >"$TMP/check" &&
           "$exp" "$back" "$d.again" --dtype "$dtype" "$@" >/dev/null && cmp -s "$d/model.safetensors" "$d.again/model.safetensors"; then
            pass "hf/export_${name}_${dtype}_rounds_once"
        else fail "hf/export_${name}_${dtype}_rounds_once" "$(head -c 300 "$TMP/check")"; fi
    done
}
export_round_trip synthetic "$TMP/folder_f32.bin" # C=8 L=2 V=50 (Vp=128) maxT=16
if [ -f "$FIXTURES/tiny/model.bin" ]; then export_round_trip tiny "$FIXTURES/tiny/model.bin" # C=32 NH=4 V=101
else skip hf/export_tiny "no $FIXTURES/tiny"; fi
d="$TMP/ex_synthetic_f32"
if grep -q '"architectures": \["GPT2LMHeadModel"\]' "$d/config.json" && grep -q '"model_type": "gpt2"' "$d/config.json" &&
   grep -q '"n_embd": 8,' "$d/config.json" && grep -q '"n_head": 2,' "$d/config.json" && grep -q '"n_layer": 2,' "$d/config.json" &&
   grep -q '"n_positions": 16,' "$d/config.json" && grep -q '"n_ctx": 16,' "$d/config.json" &&
   grep -q '"vocab_size": 50,' "$d/config.json" && grep -q '"layer_norm_epsilon": 1e-05,' "$d/config.json" &&
   grep -q '"activation_function": "gelu_new",' "$d/config.json" && grep -q '"bos_token_id": 49,' "$d/config.json" &&
   grep -q '"eos_token_id": 49,' "$d/config.json"; then pass hf/export_config_json
else fail hf/export_config_json "$(tr '\n' ' ' <"$d/config.json" | head -c 400)"; fi
check hf/export_no_tmp_files_left [ -z "$(find "$TMP" -name '*.tmp')" ]

# ---- 4. vocabularies under Hugging Face's names
if [ -n "$HAVE_VOCAB" ]; then
    mkdir -p "$TMP/hfvocab"; cp "$VOCAB/encoder.json" "$TMP/hfvocab/vocab.json"; cp "$VOCAB/vocab.bpe" "$TMP/hfvocab/merges.txt"
    texts=$(ls "$SHARED"/fixtures/tokenizer/*.txt 2>/dev/null | head -12)
    [ -n "$texts" ] || { printf 'Hello 世界 "q" \\ x\n' >"$TMP/t.txt"; texts="$TMP/t.txt"; }
    same=1
    for t in $texts; do
        cmp -s <("$T" encode --vocab "$VOCAB" "$t") <("$T" encode --vocab "$TMP/hfvocab" "$t") || same=0
    done
    check hf/vocab_json_merges_txt_encode_the_same [ "$same" = 1 ]
    if [ -f "$FIXTURES/gpt2vocab/model.bin" ]; then
        d="$TMP/ex_vocab"
        if run hf/export_writes_vocabulary "$exp" "$FIXTURES/gpt2vocab/model.bin" "$d" --vocab "$TMP/hfvocab"; then
            same=1
            for t in $texts; do cmp -s <("$T" encode --vocab "$VOCAB" "$t") <("$T" encode --vocab "$d" "$t") || same=0; done
            # the merges come out line for line as OpenAI's vocab.bpe, which is also HF's merges.txt
            if [ "$same" = 1 ] && cmp -s "$d/merges.txt" "$VOCAB/vocab.bpe" && grep -q '"bos_token_id": 50256,' "$d/config.json" &&
               "$imp" "$d" "$TMP/ex_vocab.bin" >/dev/null && cmp -s "$TMP/ex_vocab.bin" "$FIXTURES/gpt2vocab/model.bin"; then
                pass hf/export_writes_vocabulary
            else fail hf/export_writes_vocabulary "encodings same: $same; $(head -c 200 "$d/merges.txt" | head -2)"; fi
        fi
    else skip hf/export_writes_vocabulary "no $FIXTURES/gpt2vocab"; fi
else
    for t in vocab_json_merges_txt_encode_the_same export_writes_vocabulary; do skip "hf/$t" "no vocabulary in $VOCAB"; done
fi

# ---- 5. generate on the held-out gpt2vocab model, the article's example
m="$FIXTURES/gpt2vocab/model.bin"
if [ -n "$HAVE_VOCAB" ] && [ -f "$m" ]; then
    # greedy, max_length 50 (prompt included): exactly the full recompute's tokens, decoded with U+FFFD
    "$BUILD/test_generate" reference "$m" "$TMP/hfvocab" "$ARTICLE_PROMPT" 50 >"$TMP/want.txt"
    if "$G" --model "$m" --vocab "$TMP/hfvocab" --prompt "$ARTICLE_PROMPT" --max-length 50 --temperature 0 \
        >"$TMP/got.txt" 2>"$TMP/err" && cmp -s "$TMP/got.txt" "$TMP/want.txt" &&
       grep -q "39 prompt tokens, 11 new tokens" "$TMP/err"; then pass hf/generate_greedy_max_length_equals_recompute
    else fail hf/generate_greedy_max_length_equals_recompute "$(head -c 200 "$TMP/got.txt") | $(head -c 200 "$TMP/want.txt") | $(cat "$TMP/err")"; fi
    # sampled with seed 1, this model emits a byte token that is no character on its own:
    # --raw prints it as it is (invalid UTF-8), the default prints U+FFFD where
    # Python's decode(errors='replace') of those bytes puts it
    "$G" --model "$m" --vocab "$VOCAB" --prompt "$ARTICLE_PROMPT" --max-length 50 --temperature 1 --top-k 0 --seed 1 \
        --raw >"$TMP/raw.txt" 2>/dev/null
    "$G" --model "$m" --vocab "$VOCAB" --prompt "$ARTICLE_PROMPT" --max-length 50 --temperature 1 --top-k 0 --seed 1 \
        >"$TMP/text.txt" 2>/dev/null
    if ! valid_utf8 "$TMP/raw.txt" && valid_utf8 "$TMP/text.txt" && grep -q $'\xEF\xBF\xBD' "$TMP/text.txt" &&
       "$BUILD/test_generate" replace "$TMP/raw.txt" | cmp -s - "$TMP/text.txt"; then
        pass hf/generate_replaces_invalid_bytes_raw_keeps_them
    else fail hf/generate_replaces_invalid_bytes_raw_keeps_them "$(od -c "$TMP/text.txt" | head -5)"; fi
else
    for t in generate_greedy_max_length_equals_recompute generate_replaces_invalid_bytes_raw_keeps_them; do
        skip "hf/$t" "no vocabulary or no $m"
    done
fi

# ---- 6. end to end on a synthetic HF folder at an odd shape
# The vocabulary: the 256 bytes (id = byte value), 12 merges for "the cat sat
# on the mat", <|endoftext|>: V = 269. GPT-2's byte alphabet spells each
# byte as a character: the 188 printable Latin-1 bytes stand for themselves,
# the other 68 take U+0100, U+0101, ... in byte order.
ft="$TMP/ft"; hf="$ft/hf"; mkdir -p "$hf"
next=256
for b in $(seq 0 255); do
    if (( (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE )); then c=$b; else c=$next; next=$((next + 1)); fi
    if ((c == 0x22 || c == 0x5C)); then printf -v s '\\\\\\x%02x' "$c"            # JSON escapes " and \
    elif ((c < 0x80)); then printf -v s '\\x%02x' "$c"
    else printf -v s '\\x%02x\\x%02x' $((0xC0 | c >> 6)) $((0x80 | (c & 0x3F))); fi
    spelled[b]=$s
done
spell() { local out="" i ch; for ((i = 0; i < ${#1}; i++)); do printf -v ch '%d' "'${1:i:1}"; out+=${spelled[ch]}; done; printf '%s' "$out"; }
merges=("t|h" "th|e" " |the" "a|t" " |c" " c|at" " |s" " s|at" "o|n" " |on" " |m" " m|at")
{
    printf '{'
    for b in $(seq 0 255); do printf '%b' "\"${spelled[b]}\": $b, "; done
    for i in "${!merges[@]}"; do pair=${merges[i]}; printf '%b' "\"$(spell "${pair%|*}${pair#*|}")\": $((256 + i)), "; done
    printf '"<|endoftext|>": %d}\n' $((256 + ${#merges[@]}))
} >"$hf/vocab.json"
{ echo "#version: 0.2"; for pair in "${merges[@]}"; do printf '%b\n' "$(spell "${pair%|*}") $(spell "${pair#*|}")"; done; } >"$hf/merges.txt"
# the model: C=24 (3 heads), L=2, V=269 (Vp=384), maxT=40
"$gen" write "$hf/model.safetensors" --shape 24,2,269,40 --dtype bf16
config_json "$hf/config.json" 3 2 24 40 269
for i in $(seq 40); do echo "the cat sat on the mat. 作为科研工作者 the mat sat on the cat."; done >"$ft/corpus.txt"
if run hf/e2e_import "$imp" "$hf" "$ft/init.bin" && grep -q "L=2 NH=3 C=24 V=269 (Vp=384) maxT=40" "$TMP/log" &&
   run hf/e2e_vocabulary "$T" shard --vocab "$hf" --val-fraction 0.1 --out "$ft/data" "$ft/corpus.txt" &&
   run hf/e2e_train "$BIN/train" --init "$ft/init.bin" --train "$ft/data_train.bin" --val "$ft/data_val.bin" --vocab "$hf" \
       -b 2 -t 16 --steps 8 --lr 3e-3 --warmup 0 --eval-every 4 --eval-batches 2 --sample-every 4 --sample-tokens 8 --out "$ft/run"; then
    first=$(grep -m1 'val loss' "$TMP/log" | awk '{print $NF}'); last=$(grep 'val loss' "$TMP/log" | tail -1 | awk '{print $NF}')
    if grep -q -- "---- sample ----" "$TMP/log" && awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }'; then
        pass hf/e2e_train_on_hf_folder
    else fail hf/e2e_train_on_hf_folder "val loss $first -> $last; samples: $(grep -c -- '---- sample' "$TMP/log")"; fi
    ck="$ft/run/model_00000008.bin"
    # greedy generation: the recompute's text, valid UTF-8 even from byte tokens
    "$BUILD/test_generate" reference "$ck" "$hf" "the cat 作为" 30 >"$ft/want.txt"
    if "$G" --model "$ck" --vocab "$hf" --prompt "the cat 作为" --max-length 30 --temperature 0 >"$ft/got.txt" 2>/dev/null &&
       cmp -s "$ft/got.txt" "$ft/want.txt" && valid_utf8 "$ft/got.txt"; then pass hf/e2e_generate_greedy
    else fail hf/e2e_generate_greedy "$(head -c 200 "$ft/got.txt") | $(head -c 200 "$ft/want.txt")"; fi
    # sampled hot from 269 tokens, most of them single bytes: --raw is not UTF-8, the default is
    sample=(--model "$ck" --vocab "$hf" --prompt "作为" --tokens 30 --temperature 2 --top-k 0 --seed 3)
    "$G" "${sample[@]}" >"$ft/sample.txt" 2>/dev/null
    "$G" "${sample[@]}" --raw >"$ft/sample_raw.txt" 2>/dev/null
    if valid_utf8 "$ft/sample.txt" && ! valid_utf8 "$ft/sample_raw.txt" &&
       "$BUILD/test_generate" replace "$ft/sample_raw.txt" | cmp -s - "$ft/sample.txt"; then
        pass hf/e2e_generate_sample_is_valid_utf8
    else fail hf/e2e_generate_sample_is_valid_utf8 "$(od -c "$ft/sample.txt" | head -3)"; fi
    if run hf/e2e_export "$exp" "$ck" "$ft/out" --vocab "$hf" && run hf/e2e_reimport "$imp" "$ft/out" "$ft/back.bin" &&
       "$gen" check-hf "$ft/out/model.safetensors" "$ck" f32 >"$TMP/check"; then
        check hf/e2e_export_import_bit_identical cmp -s "$ck" "$ft/back.bin"
        check hf/e2e_exported_vocabulary_encodes_the_same \
            cmp -s <("$T" encode --vocab "$hf" "$ft/corpus.txt") <("$T" encode --vocab "$ft/out" "$ft/corpus.txt")
    else fail hf/e2e_export "$(head -c 300 "$TMP/check")"; fi
fi

# ---- 7. make demo's Chinese-prompt sample (a 3-step demo). Its model has GPT-2's 50257-token
# output layer, a few seconds in the plain build but minutes under the sanitizers (build/san),
# where generate's printing is checked above on the small models instead.
if [[ "$BIN" == *san* ]]; then skip hf/demo_chinese_sample_is_valid_utf8 "too slow under the sanitizers; the plain build runs it"
elif [ -n "$HAVE_VOCAB" ]; then
    corpus="$SHARED/data/tinyshakespeare.txt"; [ -f "$corpus" ] || corpus=README.md
    head -c 200000 "$corpus" >"$TMP/demo_corpus.txt"
    if CORPUS="$TMP/demo_corpus.txt" DEMO_STEPS=3 DEMO_OUT="$TMP/demo" GPT2_VOCAB_DIR="$VOCAB" BIN="$BIN" SHARED="$SHARED" \
        bash tools/demo.sh >"$TMP/demo.log" 2>&1 &&
       sed -n '/article.s prompt/,$p' "$TMP/demo.log" >"$TMP/demo_zh.txt" && grep -q "$ARTICLE_PROMPT" "$TMP/demo_zh.txt"; then
        check hf/demo_chinese_sample_is_valid_utf8 valid_utf8 "$TMP/demo.log"
    else fail hf/demo_chinese_sample_is_valid_utf8 "$(tail -3 "$TMP/demo.log")"; fi
else skip hf/demo_chinese_sample_is_valid_utf8 "no vocabulary in $VOCAB"; fi

if "$exp" --help | grep -q "usage: export_hf"; then pass hf/export_usage_help; else fail hf/export_usage_help "no usage"; fi
