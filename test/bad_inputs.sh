#!/usr/bin/env bash
# Bad input, every program, one table. Each row is
#     name | exit code | stderr pattern (ERE) | command
# and passes when the command, run with a 60 s timeout, exits with that code
# (1 = bad data, 2 = bad usage), prints exactly one line on stderr matching
# the pattern (the file and the problem), and leaves nothing in $OUT: every
# command that writes writes there, so a half-written output or a stray .tmp
# shows. The files the rows read are made first, in $TMP, by the generators
# below; rows that need the GPT-2 vocabulary are skipped without it.
# Then: text that must NOT be an error (invalid UTF-8, NUL bytes, an empty
# corpus, a 20 MB line) and a tokenizer .bin that decodes.
source "$(dirname "$0")/lib.sh"
BUILD=${BUILD:-build}
HAVE_VOCAB=; [ -f "$VOCAB/encoder.json" ] && [ -f "$VOCAB/vocab.bpe" ] && HAVE_VOCAB=1
T="$BIN/tokenize" TR="$BIN/train" G="$BIN/generate" IMP="$BIN/import_hf" EXP="$BIN/export_hf" TG="$BIN/test_gpt2"
ML="$BIN/merge_lora"
ST="$BUILD/make_safetensors"
OUT="$TMP/out"
mkdir -p "$OUT" "$TMP/dir"
export OMP_NUM_THREADS=1 # tiny models: threads only add start-up time

# ---- checkpoints: ckpt FILE MAGIC VERSION maxT V L NH C Vp DATA_BYTES ----
ckpt() { local f=$1 n=${10}; { le32 "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9"; head -c 992 /dev/zero; head -c "$n" /dev/zero; } >"$f"; }
# maxT=4 V=8 L=1 NH=1 C=4 Vp=8: 300 parameters, 1200 bytes in fp32, 600 in bf16
M=20240326
ckpt "$TMP/ck_ok.bin"        $M 3 4 8 1 1 4 8 1200
ckpt "$TMP/ck_short.bin"     $M 3 4 8 1 1 4 8 1199
ckpt "$TMP/ck_long.bin"      $M 3 4 8 1 1 4 8 1201
ckpt "$TMP/ck_bf16.bin"      $M 5 4 8 1 1 4 8 599
ckpt "$TMP/ck_magic.bin"     12345 3 4 8 1 1 4 8 1200
ckpt "$TMP/ck_version.bin"   $M 4 4 8 1 1 4 8 1200
ckpt "$TMP/ck_zero.bin"      $M 3 4 8 1 1 0 8 1200
ckpt "$TMP/ck_negative.bin"  $M 3 4 8 -1 1 4 8 1200
ckpt "$TMP/ck_heads.bin"     $M 3 4 8 1 3 4 8 1200
ckpt "$TMP/ck_vp.bin"        $M 3 4 8 1 1 4 7 1200
ckpt "$TMP/ck_overflow.bin"  $M 3 2147483647 2147483647 2147483647 1 2147483647 2147483647 1200
ckpt "$TMP/ck_huge.bin"      $M 3 1024 50257 100000 16 4096 50304 1200
# V=50304 (GPT-2's padded size as its vocabulary): ids past the tokenizer's 50257
# NaN in qkvw (element 4), +inf in lnfb (element 2), -inf in a bf16 wpe (element 0)
cp "$TMP/ck_ok.bin" "$TMP/ck_nan.bin"; printf '\x00\x00\xc0\x7f' | dd of="$TMP/ck_nan.bin" bs=1 seek=$((1024 + 4 * 60)) conv=notrunc status=none
cp "$TMP/ck_ok.bin" "$TMP/ck_inf.bin"; printf '\x00\x00\x80\x7f' | dd of="$TMP/ck_inf.bin" bs=1 seek=$((1024 + 4 * 298)) conv=notrunc status=none
ckpt "$TMP/ck_bf16_inf.bin"  $M 5 4 8 1 1 4 8 600; printf '\x80\xff' | dd of="$TMP/ck_bf16_inf.bin" bs=1 seek=$((1024 + 2 * 32)) conv=notrunc status=none
ckpt "$TMP/ck_v50304.bin"    $M 3 4 50304 1 1 4 50304 $((4 * (50304 * 4 + 16 + 244 + 8)))
: >"$TMP/ck_empty.bin"
head -c 500 "$TMP/ck_ok.bin" >"$TMP/ck_header.bin"
# a debug state for the tiny model: B=1 T=2, x and y, logits (2x8), loss, 300 gradients
dstate() { local f=$1; { le32 20240327 "$2" "$3" "$4"; head -c 1008 /dev/zero; head -c "$5" /dev/zero; } >"$f"; }
dstate "$TMP/ds_ok.bin" 2 1 2 $((16 + 64 + 4 + 1200))
dstate "$TMP/ds_short.bin" 2 1 2 $((16 + 64 + 4 + 1199))
dstate "$TMP/ds_magic.bin" 7 1 2 $((16 + 64 + 4 + 1200))
dstate "$TMP/ds_batch.bin" 2 0 2 $((16 + 64 + 4 + 1200))
dstate "$TMP/ds_long_T.bin" 2 1 5 $((16 + 64 + 4 + 1200))
dstate "$TMP/ds_overflow.bin" 2 2147483647 4 100
{ le32 20240327 2 1 2; head -c 1008 /dev/zero; le32 3 9; head -c $((8 + 64 + 4 + 1200)) /dev/zero; } >"$TMP/ds_token.bin"

# ---- token shards (V = 50257 for a new model) ----
toks=$(seq 1 200)
make_shard "$TMP/sh_ok.bin" 20240520 1 200 $toks
make_shard "$TMP/sh_magic.bin" 12345 1 200 $toks
make_shard "$TMP/sh_version.bin" 20240520 2 200 $toks
make_shard "$TMP/sh_more.bin" 20240520 1 300 $toks
make_shard "$TMP/sh_fewer.bin" 20240520 1 100 $toks
make_shard "$TMP/sh_negative.bin" 20240520 1 -5 $toks
make_shard "$TMP/sh_bigid.bin" 20240520 1 200 $(seq 1 199) 50257
make_shard "$TMP/sh_short.bin" 20240520 1 10 $(seq 1 10)
make_shard "$TMP/sh_eot_only.bin" 20240520 1 1 50256
: >"$TMP/sh_empty.bin"
head -c 700 "$TMP/sh_ok.bin" >"$TMP/sh_header.bin"
small=(--layers 1 --heads 1 --channels 8 --context 16 -b 2 -t 8 --steps 2)
# a real run, for generate and --resume: 2 steps of a tiny model (context 16)
make_shard "$TMP/data.bin" 20240520 1 2000 $(awk 'BEGIN { x = 3; for (i = 0; i < 2000; i++) { x = (x * 1103515245 + 12345) % 2147483648; print x % 50257 } }')
"$TR" --train "$TMP/data.bin" "${small[@]}" --out "$TMP/good" >/dev/null 2>&1 || fail bad_inputs/setup "tiny training run failed"
MODEL="$TMP/good/model_00000002.bin"
resume_copy() { rm -rf "$TMP/$1"; cp -r "$TMP/good" "$TMP/$1"; } # then break its state file
resume_copy rs_keep; printf '\0\0\0\0' | dd of="$TMP/rs_keep/state_00000002.bin" bs=1 seek=92 conv=notrunc status=none
resume_copy rs_short; truncate -s -4 "$TMP/rs_short/state_00000002.bin"
resume_copy rs_magic; printf 'junk' | dd of="$TMP/rs_magic/state_00000002.bin" conv=notrunc status=none
resume_copy rs_shard; printf '\7\0\0\0' | dd of="$TMP/rs_shard/state_00000002.bin" bs=1 seek=72 conv=notrunc status=none
resume_copy rs_model; truncate -s 2000 "$TMP/rs_model/model_00000002.bin"
resume_copy rs_nostate; rm "$TMP/rs_nostate"/state_*
resume_copy rs_T; printf '\x40\0\0\0' | dd of="$TMP/rs_T/state_00000002.bin" bs=1 seek=16 conv=notrunc status=none
resume_copy rs_lrmin; printf '\0\0\x80\x3f' | dd of="$TMP/rs_lrmin/state_00000002.bin" bs=1 seek=132 conv=notrunc status=none
# LoRA runs on MODEL: lgood; lmoved, whose base is gone; lswapped, whose base
# file now holds another model of the same shape (seed 7); broken adapters files
"$TR" --train "$TMP/data.bin" --seed 7 "${small[@]}" --out "$TMP/good7" >/dev/null 2>&1
lora_run() { cp "$MODEL" "$TMP/base_$1.bin"; rm -rf "$TMP/$1"
    "$TR" --train "$TMP/data.bin" --init "$TMP/base_$1.bin" --lora 2 -b 2 -t 8 --steps 2 --out "$TMP/$1" >/dev/null 2>&1 ||
        fail bad_inputs/setup "LoRA run $1 failed"; }
for r in lgood lmoved lswapped lshort lmagic; do lora_run $r; done
rm "$TMP/base_lmoved.bin"; cp "$TMP/good7/model_00000002.bin" "$TMP/base_lswapped.bin"
truncate -s -4 "$TMP/lshort/lora_00000002.bin"; printf 'junk' | dd of="$TMP/lmagic/lora_00000002.bin" conv=notrunc status=none
# a folder holding only a model file (no state): a new run must not prune it
mkdir -p "$TMP/lone" "$TMP/lockd" "$TMP/other"; cp "$MODEL" "$TMP/lone/model_00000001.bin"

# ---- safetensors (test/make_safetensors.c: a tiny GPT-2, broken one way per --fault) ----
faults="dtype-i64 dtype-f64 dtype-unknown missing gap extra duplicate offset-range end-before-begin overlap
        size-mismatch wrong-shape wrong-shape-ln header-past-eof header-huge json-colon json-float json-negative
        json-trailing-comma json-junk json-metadata-number json-unknown-key json-unterminated json-nul
        json-newline-name lm-head-differs"
for f in $faults; do "$ST" write "$TMP/st_$f.safetensors" --dtype mixed --fault "$f" || fail "bad_inputs/setup" "make_safetensors --fault $f"; done
"$ST" write "$TMP/st_ok.safetensors" --dtype f32
head -c 3000 "$TMP/st_ok.safetensors" >"$TMP/st_truncated.safetensors"
head -c 5 "$TMP/st_ok.safetensors" >"$TMP/st_tiny.safetensors"
# a safetensors file that is only a header: st_from_json NAME JSON-FILE
st_from_json() { { le32 "$(stat -c %s "$2")" 0; cat "$2"; } >"$TMP/st_$1.safetensors"; }
printf '{"wte.weight":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}' >"$TMP/overflow.json"
st_from_json bytes_overflow "$TMP/overflow.json"
# 200000 empty tensors, the last name repeated: an n log n check answers at once, a quadratic one takes minutes
awk 'BEGIN { printf "{"; for (i = 0; i < 200000; i++) printf "\"t%d\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},", i
             printf "\"t199999\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}" }' >"$TMP/many.json"
st_from_json many "$TMP/many.json"

# ---- Hugging Face folders: st_ok.safetensors beside a config.json, one thing wrong in each
# (hf_folder NAME n_head n_layer n_embd n_positions vocab_size [SED-SCRIPT for config.json])
hf_folder() {
    mkdir -p "$TMP/hf_$1"; cp "$TMP/st_ok.safetensors" "$TMP/hf_$1/model.safetensors"
    printf '{"model_type": "gpt2", "n_head": %s, "n_layer": %s, "n_embd": %s, "n_positions": %s, "vocab_size": %s,
 "activation_function": "gelu_new", "layer_norm_epsilon": 1e-05, "n_inner": null, "scale_attn_weights": true}\n' \
        "$2" "$3" "$4" "$5" "$6" >"$TMP/hf_$1/config.json"
    [ -z "${7:-}" ] || sed -i "$7" "$TMP/hf_$1/config.json"
}
hf_folder embd 2 2 16 16 50
hf_folder vocab 2 2 8 16 51
hf_folder positions 2 2 8 32 50
hf_folder layers 2 3 8 16 50
hf_folder heads 3 2 8 16 50
hf_folder heads_zero 0 2 8 16 50
hf_folder gelu 2 2 8 16 50 's/gelu_new/gelu/'
hf_folder eps 2 2 8 16 50 's/1e-05/1e-06/'
hf_folder llama 2 2 8 16 50 's/"gpt2"/"llama"/'
hf_folder inner 2 2 8 16 50 's/null/16/'
hf_folder scale 2 2 8 16 50 's/"scale_attn_weights": true/"scale_attn_weights": false/'
hf_folder json 2 2 8 16 50 's/}$/,}/'
hf_folder heads_string 2 2 8 16 50 's/"n_head": 2/"n_head": "two"/'
mkdir -p "$TMP/hf_empty"
for f in index-missing index-unlisted index-path missing-shard; do
    mkdir -p "$TMP/hf_$f"; "$ST" write "$TMP/hf_$f/model.safetensors.index.json" --shards 2 --fault "$f"
done
rm "$TMP/hf_missing-shard/model-00002-of-00002.safetensors"
printf '{"weight_map": {"wte.weight": "model-00001-of-00002.safetensors",}}' >"$TMP/hf_index-missing/bad.index.json"

# ---- vocabularies: a copy of GPT-2's, broken one way (vocab_variant NAME FILE SED-SCRIPT) ----
vocab_variant() { mkdir -p "$TMP/v_$1"; cp "$VOCAB/encoder.json" "$VOCAB/vocab.bpe" "$TMP/v_$1/" && sed -i "$3" "$TMP/v_$1/$2"; }
if [ -n "$HAVE_VOCAB" ]; then
    vocab_variant bad_json encoder.json 's/"!": 0,/"!"; 0,/'
    vocab_variant truncated encoder.json '$!b'; head -c 500000 "$VOCAB/encoder.json" >"$TMP/v_truncated/encoder.json"
    vocab_variant empty encoder.json '$!b'; : >"$TMP/v_empty/encoder.json"
    vocab_variant escape encoder.json 's/"\\u0120t": 256/"\\u01G0t": 256/'
    vocab_variant surrogate encoder.json 's/"\\u0120t": 256/"\\ud800t": 256/'
    vocab_variant alphabet encoder.json 's/"\\u0120t": 256/"\\u4e2dt": 256/'
    vocab_variant dup_id encoder.json 's/"\\"": 1,/"\\"": 0,/'
    vocab_variant dup_key encoder.json 's/"#": 2,/"!": 2,/'
    vocab_variant missing_entry encoder.json 's/, "#": 2//'
    vocab_variant extra_entry encoder.json 's/"!": 0,/"!": 0, "zqzqzqzq": 50257,/'
    vocab_variant big_id encoder.json 's/"!": 0,/"!": 99999999999,/'
    vocab_variant missing_merges vocab.bpe '40002,$d'
    vocab_variant extra_merge vocab.bpe '$a a b'
    vocab_variant unknown_symbol vocab.bpe '100s/.*/zqzqzqzq xyxyxyxy/'
    vocab_variant merge_alphabet vocab.bpe '100s/.*/中 a/'
    vocab_variant merge_format vocab.bpe '100s/ /  /'
    vocab_variant merge_order vocab.bpe '2{h;d};3G'
    vocab_variant duplicate_rank vocab.bpe '3s/.*/Ġ t/'
    vocab_variant bpe_header vocab.bpe '1s/.*/version 0.2/'
    vocab_variant no_bpe vocab.bpe '$!b'; rm "$TMP/v_no_bpe/vocab.bpe"
    # under Hugging Face's names, vocab.json + merges.txt
    mkdir -p "$TMP/v_hf_bad_json" "$TMP/v_hf_no_merges"
    sed 's/"!": 0,/"!"; 0,/' "$VOCAB/encoder.json" >"$TMP/v_hf_bad_json/vocab.json"; cp "$VOCAB/vocab.bpe" "$TMP/v_hf_bad_json/merges.txt"
    cp "$VOCAB/encoder.json" "$TMP/v_hf_no_merges/vocab.json"
fi
# llm.c's gpt2_tokenizer.bin: magic, version 2, N tokens, eot id; then per token a length byte and the bytes
tokbin() { local f=$1; shift; { le32 20240328 2 "$1" "$2"; head -c 1008 /dev/zero; shift 2; printf "$@"; } >"$f"; }
tokbin "$TMP/tb_ok.bin" 3 2 '\1a\2bc\015<|endoftext|>'
tokbin "$TMP/tb_past_end.bin" 3 2 '\1a\2bc\077<|endoftext|>'
tokbin "$TMP/tb_zero_len.bin" 3 2 '\1a\0\015<|endoftext|>'
tokbin "$TMP/tb_count.bin" 0 0 ''
tokbin "$TMP/tb_eot.bin" 3 7 '\1a\2bc\015<|endoftext|>'
tokbin "$TMP/tb_extra.bin" 3 2 '\1a\2bc\015<|endoftext|>zz'
printf 'abc' >"$TMP/tb_short.bin"

# ---- text inputs ----
printf 'hello world\n' >"$TMP/hello.txt"
printf '31373 x12 995' >"$TMP/ids_junk.txt"
printf '31373 50257' >"$TMP/ids_big.txt"
printf '31373\001' >"$TMP/ids_stray.txt"
printf '1.5\n\n2x\n' >"$TMP/losses_junk.txt"
seq 1200 >"$TMP/losses_1200.txt"
printf -- '-5' >"$TMP/ids_negative.txt"
printf 'ROMEO: %.0s' $(seq 30) >"$TMP/long_prompt.txt"
: >"$TMP/empty.txt"
if [ -n "$HAVE_VOCAB" ]; then
    "$T" shard --vocab "$VOCAB" --out "$TMP/empty_corpus" "$TMP/empty.txt" 2>/dev/null
fi

# ---- the table ----
while IFS= read -r line; do
    [[ -z "$line" || "$line" == \#* ]] && continue
    name=${line%% | *}; rest=${line#* | }
    want=${rest%% | *}; rest=${rest#* | }
    pat=${rest%% | *}; cmd=${rest#* | }
    if [[ "$cmd" == *'$VOCAB'* || "$cmd" == *'$TMP/v_'* || "$cmd" == *empty_corpus* ]] && [ -z "$HAVE_VOCAB" ]; then
        skip "bad/$name" "no vocabulary in $VOCAB"; continue
    fi
    # no leak reports on these deliberate error exits (see expect_error in lib.sh)
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} eval "timeout 60 $cmd" >"$TMP/stdout" 2>"$TMP/err" </dev/null
    rc=$?
    left=$(find "$OUT" -type f | head -3)
    if [ "$rc" -ne "$want" ]; then fail "bad/$name" "exit $rc, wanted $want; stderr: $(head -c 300 "$TMP/err")"
    elif ! grep -Eq -- "$pat" "$TMP/err"; then fail "bad/$name" "stderr does not match /$pat/: $(head -c 300 "$TMP/err")"
    elif [ "$(wc -l <"$TMP/err")" -ne 1 ]; then fail "bad/$name" "stderr has $(wc -l <"$TMP/err") lines: $(head -c 300 "$TMP/err")"
    elif [ -n "$left" ]; then fail "bad/$name" "left files behind: $left"
    else pass "bad/$name"; fi
    rm -rf "${OUT:?}"/*
done <<'TABLE'
# --- checkpoints (through train --init, generate --model and test_gpt2)
ckpt/missing | 1 | none.bin: cannot open: No such file | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/none.bin" --out "$OUT/r"
ckpt/unreadable_directory | 1 | dir: is a directory, not a file | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/dir" --out "$OUT/r"
ckpt/empty | 1 | ck_empty.bin: truncated header \(0 of 1024 bytes\) | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_empty.bin" --out "$OUT/r"
ckpt/truncated_header | 1 | ck_header.bin: truncated header \(500 of 1024 | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_header.bin" --out "$OUT/r"
ckpt/truncated_weights | 1 | ck_short.bin: file is 2223 bytes, but its header .* needs 2224 | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_short.bin" --out "$OUT/r"
ckpt/extra_bytes | 1 | ck_long.bin: file is 2225 bytes | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_long.bin" --out "$OUT/r"
ckpt/bf16_truncated | 1 | ck_bf16.bin: file is 1623 bytes, .*version 5\) needs 1624 | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_bf16.bin" --out "$OUT/r"
ckpt/wrong_magic | 1 | ck_magic.bin: not a GPT-2 checkpoint \(magic 12345 | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_magic.bin" --out "$OUT/r"
ckpt/wrong_version | 1 | ck_version.bin: unsupported checkpoint version 4 | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_version.bin" --out "$OUT/r"
ckpt/zero_dim | 1 | ck_zero.bin: bad config: .*C=0 \(all must be positive\) | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_zero.bin" --out "$OUT/r"
ckpt/negative_dim | 1 | ck_negative.bin: bad config: .*L=-1 | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_negative.bin" --out "$OUT/r"
ckpt/heads_do_not_divide | 1 | ck_heads.bin: bad config: C=4 is not divisible by NH=3 | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_heads.bin" --out "$OUT/r"
ckpt/padded_vocab_too_small | 1 | ck_vp.bin: bad config: padded vocabulary Vp=7 is smaller than V=8 | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_vp.bin" --out "$OUT/r"
ckpt/size_overflows | 1 | ck_overflow.bin: bad config: .*parameter count overflows | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_overflow.bin" --out "$OUT/r"
ckpt/huge_dims_small_file | 1 | ck_huge.bin: file is 2224 bytes, but its header .* needs [0-9]{12} | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_huge.bin" --out "$OUT/r"
ckpt/nan_weight | 1 | ck_nan.bin: tensor qkvw holds NaN at element 4 | "$G" --model "$TMP/ck_nan.bin" --vocab "$VOCAB" --prompt hi --temperature 0
ckpt/inf_weight | 1 | ck_inf.bin: tensor lnfb holds an infinity at element 2 | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_inf.bin" -t 4 --out "$OUT/r"
ckpt/bf16_inf_weight | 1 | ck_bf16_inf.bin: tensor wpe holds an infinity at element 0 | "$TG" "$TMP/ck_bf16_inf.bin" "$TMP/ds_ok.bin"
ckpt/generate_truncated | 1 | ck_short.bin: file is 2223 bytes | "$G" --model "$TMP/ck_short.bin" --vocab "$VOCAB" --prompt hi
ckpt/generate_vocab_larger_than_model | 1 | ck_ok.bin: the model's vocabulary has 8 tokens, but the one in .* has 50257: they must match | "$G" --model "$TMP/ck_ok.bin" --vocab "$VOCAB" --prompt hi
ckpt/generate_model_larger_than_vocab | 1 | ck_v50304.bin: the model's vocabulary has 50304 tokens, but the one in .* has 50257 | "$G" --model "$TMP/ck_v50304.bin" --vocab "$VOCAB" --prompt hi --temperature 0
ckpt/train_samples_vocab_mismatch | 1 | ck_v50304.bin: the model's vocabulary has 50304 tokens, but the one in .* has 50257 | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_v50304.bin" -b 1 -t 4 --steps 2 --sample-every 1 --vocab "$VOCAB" --out "$OUT/r"
ckpt/test_gpt2_wrong_version | 1 | ck_version.bin: unsupported checkpoint version 4 | "$TG" "$TMP/ck_version.bin" "$TMP/ds_ok.bin"
ckpt/shard_ids_beyond_model_vocab | 1 | sh_ok.bin: token 8 at position 7 is outside the vocabulary \[0, 8\) | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_ok.bin" -b 1 -t 4 --out "$OUT/r"
# --- debug states (test_gpt2 MODEL STATE)
state/truncated | 1 | ds_short.bin: file is 2307 bytes, but B=1 T=2 .* needs 2308 | "$TG" "$TMP/ck_ok.bin" "$TMP/ds_short.bin"
state/wrong_magic | 1 | ds_magic.bin: unsupported debug state version 7 | "$TG" "$TMP/ck_ok.bin" "$TMP/ds_magic.bin"
state/zero_batch | 1 | ds_batch.bin: bad batch B=0 T=2 | "$TG" "$TMP/ck_ok.bin" "$TMP/ds_batch.bin"
state/seq_above_context | 1 | ds_long_T.bin: bad batch B=1 T=5 for a model with maxT=4 | "$TG" "$TMP/ck_ok.bin" "$TMP/ds_long_T.bin"
state/size_overflows | 1 | ds_overflow.bin: (file is|.*overflow) | "$TG" "$TMP/ck_ok.bin" "$TMP/ds_overflow.bin"
state/token_out_of_vocab | 1 | ds_token.bin: token at position 1 is outside the vocabulary \[0, 8\) | "$TG" "$TMP/ck_ok.bin" "$TMP/ds_token.bin"
state/missing | 1 | none.bin: cannot open | "$TG" "$TMP/ck_ok.bin" "$TMP/none.bin"
test_gpt2/stdout_full | 1 | standard output: write error | "$TG" "$TMP/ck_ok.bin" "$TMP/ds_ok.bin" >/dev/full
test_gpt2/expect_losses_directory | 1 | dir: is a directory | "$TG" "$TMP/ck_ok.bin" "$TMP/ds_ok.bin" --expect-losses "$TMP/dir"
test_gpt2/expect_losses_junk | 1 | losses_junk.txt: line 3 is not a number | "$TG" "$TMP/ck_ok.bin" "$TMP/ds_ok.bin" --expect-losses "$TMP/losses_junk.txt"
test_gpt2/expect_losses_fewer_than_steps | 1 | losses_1200.txt: has 1200 losses, fewer than --steps 1201 | "$TG" "$TMP/ck_ok.bin" "$TMP/ds_ok.bin" --expect-losses "$TMP/losses_1200.txt" --steps 1201
test_gpt2/expect_losses_empty | 1 | empty.txt: holds no losses | "$TG" "$TMP/ck_ok.bin" "$TMP/ds_ok.bin" --expect-losses "$TMP/empty.txt"
test_gpt2/expect_step1_zero_steps | 2 | --expect-step1 needs at least one step | "$TG" "$TMP/ck_ok.bin" "$TMP/ds_ok.bin" --expect-step1 "$TMP/ck_ok.bin" --steps 0
test_gpt2/no_arguments | 2 | usage: test_gpt2 MODEL STATE | "$TG"
test_gpt2/unknown_flag | 2 | unknown option --frob | "$TG" a b --frob
test_gpt2/bad_steps | 2 | --steps: 'x' is not an integer | "$TG" a b --steps x
test_gpt2/out_unwritable | 1 | /proc/nope/out.bin: cannot create: No such file | "$TG" "$TMP/ck_ok.bin" "$TMP/ds_ok.bin" --out /proc/nope/out.bin
# --- training states (train --resume DIR)
resume/nothing_to_resume | 1 | dir: no checkpoint to resume from | "$TR" --resume "$TMP/dir"
resume/model_without_state | 1 | rs_nostate: no checkpoint to resume from | "$TR" --resume "$TMP/rs_nostate"
resume/corrupt_setting | 1 | rs_keep/state_00000002.bin: corrupt state: keep_checkpoints = 0 is outside \[1, | "$TR" --resume "$TMP/rs_keep"
resume/truncated_state | 1 | rs_short/state_00000002.bin: file is [0-9]+ bytes, but a state for [0-9]+ parameters | "$TR" --resume "$TMP/rs_short"
resume/wrong_magic | 1 | rs_magic/state_00000002.bin: not a gpt2c training state | "$TR" --resume "$TMP/rs_magic"
resume/data_position_gone | 1 | data position \(epoch 0, shard 7, batch [0-9]+\) does not exist | "$TR" --resume "$TMP/rs_shard"
resume/truncated_model | 1 | rs_model/model_00000002.bin: file is 2000 bytes, but its header | "$TR" --resume "$TMP/rs_model"
# --- token shards (train --train / --val)
shard/no_match | 1 | nothing\*.bin: no files match | "$TR" --train "$TMP/nothing*.bin" "${small[@]}" --out "$OUT/r"
shard/empty_file | 1 | sh_empty.bin: truncated header \(0 of 1024 | "$TR" --train "$TMP/sh_empty.bin" "${small[@]}" --out "$OUT/r"
shard/truncated_header | 1 | sh_header.bin: truncated header \(700 of 1024 | "$TR" --train "$TMP/sh_header.bin" "${small[@]}" --out "$OUT/r"
shard/bad_magic | 1 | sh_magic.bin: not a token shard \(magic 12345 | "$TR" --train "$TMP/sh_magic.bin" "${small[@]}" --out "$OUT/r"
shard/bad_version | 1 | sh_version.bin: unsupported token shard version 2 | "$TR" --train "$TMP/sh_version.bin" "${small[@]}" --out "$OUT/r"
shard/count_above_size | 1 | sh_more.bin: header says 300 tokens but the file holds 400 bytes | "$TR" --train "$TMP/sh_more.bin" "${small[@]}" --out "$OUT/r"
shard/count_below_size | 1 | sh_fewer.bin: header says 100 tokens but the file holds 400 bytes | "$TR" --train "$TMP/sh_fewer.bin" "${small[@]}" --out "$OUT/r"
shard/negative_count | 1 | sh_negative.bin: header says -5 tokens | "$TR" --train "$TMP/sh_negative.bin" "${small[@]}" --out "$OUT/r"
shard/id_out_of_vocab | 1 | sh_bigid.bin: token 50257 at position 199 is outside the vocabulary \[0, 50257\) | "$TR" --train "$TMP/sh_bigid.bin" "${small[@]}" --out "$OUT/r"
shard/shorter_than_a_batch | 1 | sh_short.bin: the data is shorter than one batch \(B\*T\+1 = 17 tokens | "$TR" --train "$TMP/sh_short.bin" "${small[@]}" --out "$OUT/r"
shard/only_endoftext | 1 | sh_eot_only.bin: the data is shorter than one batch | "$TR" --train "$TMP/sh_eot_only.bin" "${small[@]}" --out "$OUT/r"
shard/a_directory | 1 | dir: is a directory, not a file | "$TR" --train "$TMP/dir" "${small[@]}" --out "$OUT/r"
shard/bad_val_shard | 1 | sh_magic.bin: not a token shard | "$TR" --train "$TMP/sh_ok.bin" --val "$TMP/sh_magic.bin" "${small[@]}" --out "$OUT/r"
shard/empty_corpus | 1 | empty_corpus_train.bin: the data is shorter than one batch | "$TR" --train "$TMP/empty_corpus_train.bin" "${small[@]}" --out "$OUT/r"
# --- train command lines
train/unknown_flag | 2 | unknown option '--bogus' | "$TR" --train "$TMP/sh_ok.bin" --bogus 1
train/out_holds_another_run | 1 | good: already holds another run.s files \(.*state_00000002.bin\): continue it with --resume | "$TR" --train "$TMP/data.bin" "${small[@]}" --out "$TMP/good"
train/out_holds_a_lone_model | 1 | lone: already holds another run.s files \(.*model_00000001.bin\) | "$TR" --train "$TMP/data.bin" "${small[@]}" --out "$TMP/lone"
train/out_empty | 2 | --out needs a folder name | "$TR" --train "$TMP/data.bin" "${small[@]}" --out ""
train/out_locked_by_another_run | 1 | lockd: another training run is using this folder | flock "$TMP/lockd" "$TR" --train "$TMP/data.bin" "${small[@]}" --out "$TMP/lockd"
resume/locked_by_another_run | 1 | good: another training run is using this folder | flock "$TMP/good" "$TR" --resume "$TMP/good"
resume/state_T_above_context | 1 | rs_T/state_00000002.bin: corrupt state: T = 64 is longer than the model's context of 16 | "$TR" --resume "$TMP/rs_T"
resume/state_lr_min_above_lr | 1 | rs_lrmin/state_00000002.bin: corrupt state: lr_min 1 is larger than lr 0.0006 | "$TR" --resume "$TMP/rs_lrmin"
resume/flag_lr_min_above_lr | 2 | --lr-min 0.5 is larger than --lr 0.0006 | "$TR" --resume "$TMP/good" --lr-min 0.5
resume/out_elsewhere | 2 | --resume .*good continues the run in .*good; --out .*other names another folder | "$TR" --resume "$TMP/good" --out "$TMP/other"
resume/layers_flag | 2 | --layers cannot change on --resume | "$TR" --resume "$TMP/good" --layers 3
resume/init_flag | 2 | --init cannot change on --resume | "$TR" --resume "$TMP/good" --init "$TMP/ck_ok.bin"
train/missing_value | 2 | --train needs a value | "$TR" --train
train/no_train | 2 | --train PATTERN is required | "$TR" "${small[@]}"
train/non_numeric | 2 | --layers: 'two' is not an integer | "$TR" --train "$TMP/sh_ok.bin" "${small[@]}" --layers two
train/trailing_junk | 2 | -b: '4x' is not an integer | "$TR" --train "$TMP/sh_ok.bin" "${small[@]}" -b 4x
train/negative_steps | 2 | --steps: -3 is out of range | "$TR" --train "$TMP/sh_ok.bin" "${small[@]}" --steps -3
train/zero_batch | 2 | -b: 0 is out of range | "$TR" --train "$TMP/sh_ok.bin" "${small[@]}" -b 0
train/huge_number | 2 | --steps: '99999999999999999999' is not an integer | "$TR" --train "$TMP/sh_ok.bin" "${small[@]}" --steps 99999999999999999999
train/lr_absurd | 2 | --lr: 1e\+30 is out of range | "$TR" --train "$TMP/sh_ok.bin" "${small[@]}" --lr 1e30
train/lr_nan | 2 | --lr: 'nan' is not a number | "$TR" --train "$TMP/sh_ok.bin" "${small[@]}" --lr nan
train/lr_min_above_lr | 2 | --lr-min 0.1 is larger than --lr 0.01 | "$TR" --train "$TMP/sh_ok.bin" "${small[@]}" --lr 0.01 --lr-min 0.1
train/seq_above_context | 2 | --seq 64 is longer than the model's context of 16 | "$TR" --train "$TMP/sh_ok.bin" "${small[@]}" -t 64
train/seq_above_init_context | 2 | --seq 8 is longer than the model's context of 4 | "$TR" --train "$TMP/sh_ok.bin" --init "$TMP/ck_ok.bin" -t 8 --out "$OUT/r"
train/heads_do_not_divide | 2 | --channels 8 is not divisible by --heads 3 | "$TR" --train "$TMP/sh_ok.bin" "${small[@]}" --heads 3
train/out_unwritable | 1 | /proc/gpt2c_out: cannot create directory | "$TR" --train "$TMP/sh_ok.bin" "${small[@]}" --out /proc/gpt2c_out
train/out_is_a_file | 1 | hello.txt: cannot (create|write) | "$TR" --train "$TMP/sh_ok.bin" "${small[@]}" --out "$TMP/hello.txt"
# --- generate
generate/no_model | 2 | --model CKPT is required | "$G" --prompt hi
generate/missing_model | 1 | none.bin: cannot open | "$G" --model "$TMP/none.bin" --vocab "$VOCAB" --prompt hi
generate/no_prompt | 2 | exactly one of --prompt | "$G" --model "$MODEL"
generate/two_prompts | 2 | exactly one of --prompt | "$G" --model "$MODEL" --prompt a --prompt-file "$TMP/hello.txt"
generate/prompt_too_long | 1 | model_00000002.bin: the prompt \(91 tokens\) plus --tokens 1 exceed the model's context of 16 | "$G" --model "$MODEL" --vocab "$VOCAB" --prompt-file "$TMP/long_prompt.txt" --tokens 1
generate/tokens_above_context | 1 | the prompt \(2 tokens\) plus --tokens 40 exceed the model's context of 16 | "$G" --model "$MODEL" --vocab "$VOCAB" --prompt "ROMEO" --tokens 40
generate/prompt_file_endless | 1 | /dev/zero: more than [0-9]+ bytes, too large for a prompt | "$G" --model "$MODEL" --vocab "$VOCAB" --prompt-file /dev/zero
generate/prompt_file_directory | 1 | dir: is a directory | "$G" --model "$MODEL" --vocab "$VOCAB" --prompt-file "$TMP/dir"
generate/stdout_full | 1 | standard output: write error | "$G" --model "$MODEL" --vocab "$VOCAB" --prompt ROMEO --tokens 3 >/dev/full
generate/missing_prompt_file | 1 | none.txt: cannot open | "$G" --model "$MODEL" --vocab "$VOCAB" --prompt-file "$TMP/none.txt"
generate/zero_tokens | 2 | --tokens: 0 is out of range | "$G" --model "$MODEL" --prompt hi --tokens 0
generate/bad_temperature | 2 | --temperature: -1 is out of range | "$G" --model "$MODEL" --prompt hi --temperature -1
generate/bad_top_p | 2 | --top-p: 2 is out of range | "$G" --model "$MODEL" --prompt hi --top-p 2
generate/samples_zero | 2 | --samples: 0 is out of range \[1, 16\] | "$G" --model "$MODEL" --prompt hi --samples 0
generate/samples_negative | 2 | --samples: -3 is out of range | "$G" --model "$MODEL" --prompt hi --samples -3
generate/samples_too_many | 2 | --samples: 17 is out of range | "$G" --model "$MODEL" --prompt hi --samples 17
generate/samples_huge | 2 | --samples: '99999999999999999999' is not an integer | "$G" --model "$MODEL" --prompt hi --samples 99999999999999999999
generate/non_numeric_seed | 2 | --seed: 'abc' is not an integer | "$G" --model "$MODEL" --prompt hi --seed abc
generate/unknown_flag | 2 | unknown option '--bogus' | "$G" --bogus
generate/missing_value | 2 | --tokens needs a value | "$G" --model "$MODEL" --prompt hi --tokens
generate/tokens_and_max_length | 2 | give --tokens N \(new tokens\) or --max-length N \(prompt included\), not both | "$G" --model "$MODEL" --prompt hi --tokens 3 --max-length 9
generate/max_length_within_prompt | 1 | --max-length 2 leaves no room for new tokens: the prompt is 2 tokens | "$G" --model "$MODEL" --vocab "$VOCAB" --prompt "ROMEO" --max-length 2
generate/max_length_above_context | 1 | model_00000002.bin: --max-length 40 exceeds the model's context of 16 | "$G" --model "$MODEL" --vocab "$VOCAB" --prompt "ROMEO" --max-length 40
generate/zero_max_length | 2 | --max-length: 0 is out of range | "$G" --model "$MODEL" --prompt hi --max-length 0
generate/missing_vocab | 1 | nodir: no vocabulary here \(neither encoder.json \+ vocab.bpe nor vocab.json \+ merges.txt\) | "$G" --model "$MODEL" --vocab "$TMP/nodir" --prompt hi
# --- tokenize: command lines
tokenize/no_command | 2 | no command | "$T"
tokenize/unknown_command | 2 | unknown command 'frob' | "$T" frob
tokenize/unknown_flag | 2 | unknown option '--bogus' | "$T" encode --bogus
tokenize/missing_value | 2 | --vocab needs a value | "$T" encode --vocab
tokenize/bad_fraction | 2 | --val-fraction: 2 is out of range | "$T" shard --val-fraction 2 --out "$OUT/x" "$TMP/hello.txt"
tokenize/shard_no_out | 2 | shard needs --out | "$T" shard "$TMP/hello.txt"
tokenize/shard_no_files | 2 | shard needs at least one input | "$T" shard --out "$OUT/x"
tokenize/special_on_decode | 2 | --allow-special is for encode only | "$T" decode --allow-special
tokenize/two_inputs | 2 | encode takes one input | "$T" encode a b
tokenize/bin_cannot_encode | 2 | tb_ok.bin: a tokenizer .bin can only decode | "$T" encode --vocab "$TMP/tb_ok.bin" "$TMP/hello.txt"
# --- tokenize: data
tokenize/missing_input | 1 | nope.txt: cannot open | "$T" encode --vocab "$VOCAB" "$TMP/nope.txt"
tokenize/input_is_directory | 1 | dir: is a directory, not a file | "$T" encode --vocab "$VOCAB" "$TMP/dir"
tokenize/decode_non_numeric | 1 | ids_junk.txt: token 2: 'x12' is not a token id | "$T" decode --vocab "$VOCAB" "$TMP/ids_junk.txt"
tokenize/decode_id_too_large | 1 | ids_big.txt: token 2: '50257' is not a token id \(0..50256\) | "$T" decode --vocab "$VOCAB" "$TMP/ids_big.txt"
tokenize/decode_stray_byte_after_id | 1 | ids_stray.txt: token 1: '31373' is followed by byte 0x01, not white space | "$T" decode --vocab "$VOCAB" "$TMP/ids_stray.txt"
tokenize/decode_negative_id | 1 | standard input: token 1: '-5' is not a token id | "$T" decode --vocab "$VOCAB" - <"$TMP/ids_negative.txt"
tokenize/shard_second_input_missing | 1 | nope.txt: cannot open | "$T" shard --vocab "$VOCAB" --out "$OUT/x" "$TMP/hello.txt" "$TMP/nope.txt"
tokenize/shard_out_dir_missing | 1 | nodir/x_train.bin: cannot create: No such file | "$T" shard --vocab "$VOCAB" --out "$TMP/nodir/x" "$TMP/hello.txt"
# --- vocabularies: encoder.json + vocab.bpe
vocab/missing_dir | 1 | nodir: no vocabulary here | "$T" encode --vocab "$TMP/nodir" "$TMP/hello.txt"
vocab/bad_json | 1 | encoder.json: bad JSON at byte [0-9]+: expected ':', found ';' | "$T" encode --vocab "$TMP/v_bad_json" "$TMP/hello.txt"
vocab/truncated_json | 1 | encoder.json: bad JSON at byte 500000: .*\(the JSON ends too early\) | "$T" encode --vocab "$TMP/v_truncated" "$TMP/hello.txt"
vocab/empty_json | 1 | encoder.json: bad JSON at byte 0: expected '\{' \(the JSON ends too early\) | "$T" encode --vocab "$TMP/v_empty" "$TMP/hello.txt"
vocab/bad_unicode_escape | 1 | encoder.json: bad JSON at byte [0-9]+: bad \\u escape | "$T" encode --vocab "$TMP/v_escape" "$TMP/hello.txt"
vocab/lone_surrogate | 1 | encoder.json: bad JSON at byte [0-9]+: high surrogate | "$T" encode --vocab "$TMP/v_surrogate" "$TMP/hello.txt"
vocab/key_outside_alphabet | 1 | encoder.json: bad JSON at byte [0-9]+: key has a character outside GPT-2's byte alphabet | "$T" encode --vocab "$TMP/v_alphabet" "$TMP/hello.txt"
vocab/duplicate_id | 1 | encoder.json: duplicate token id 0 | "$T" encode --vocab "$TMP/v_dup_id" "$TMP/hello.txt"
vocab/duplicate_key | 1 | encoder.json: ids 0 and 2 have the same bytes | "$T" encode --vocab "$TMP/v_dup_key" "$TMP/hello.txt"
vocab/missing_entry | 1 | encoder.json: token id 50256 out of range: 50256 tokens | "$T" encode --vocab "$TMP/v_missing_entry" "$TMP/hello.txt"
vocab/extra_entry | 1 | encoder.json: the last id 50257 is not <\|endoftext\|> | "$T" encode --vocab "$TMP/v_extra_entry" "$TMP/hello.txt"
vocab/huge_id | 1 | encoder.json: bad JSON at byte [0-9]+: integer larger than 2147483647 | "$T" encode --vocab "$TMP/v_big_id" "$TMP/hello.txt"
vocab/missing_merges | 1 | vocab.bpe: 40000 merges, but encoder.json.s 50257 tokens need 50000 | "$T" encode --vocab "$TMP/v_missing_merges" "$TMP/hello.txt"
vocab/extra_merge | 1 | vocab.bpe: line 50002: more merges than | "$T" encode --vocab "$TMP/v_extra_merge" "$TMP/hello.txt"
vocab/unknown_merge_symbol | 1 | vocab.bpe: line 100: unknown merge symbol 'zqzqzqzq' \(not a token | "$T" encode --vocab "$TMP/v_unknown_symbol" "$TMP/hello.txt"
vocab/merge_symbol_outside_alphabet | 1 | vocab.bpe: line 100: unknown merge symbol '中' \(not in GPT-2's byte alphabet | "$T" encode --vocab "$TMP/v_merge_alphabet" "$TMP/hello.txt"
vocab/merge_line_format | 1 | vocab.bpe: line 100: expected two symbols separated by one space | "$T" encode --vocab "$TMP/v_merge_format" "$TMP/hello.txt"
vocab/merges_out_of_order | 1 | vocab.bpe: line 2: merge .* should make id 256 | "$T" encode --vocab "$TMP/v_merge_order" "$TMP/hello.txt"
vocab/duplicate_rank | 1 | vocab.bpe: line 3: merge .* should make id 257 | "$T" encode --vocab "$TMP/v_duplicate_rank" "$TMP/hello.txt"
vocab/missing_header | 1 | vocab.bpe: line 1: expected the header | "$T" encode --vocab "$TMP/v_bpe_header" "$TMP/hello.txt"
vocab/missing_merge_file | 1 | vocab.bpe: cannot open | "$T" encode --vocab "$TMP/v_no_bpe" "$TMP/hello.txt"
vocab/hf_names_bad_json | 1 | v_hf_bad_json/vocab.json: bad JSON at byte [0-9]+: expected ':', found ';' | "$T" encode --vocab "$TMP/v_hf_bad_json" "$TMP/hello.txt"
vocab/hf_names_without_merges | 1 | v_hf_no_merges/merges.txt: cannot open | "$T" encode --vocab "$TMP/v_hf_no_merges" "$TMP/hello.txt"
vocab/generate_bad_json | 1 | encoder.json: bad JSON at byte [0-9]+: expected ':' | "$G" --model "$MODEL" --vocab "$TMP/v_bad_json" --prompt hi
# --- tokenizer .bin (decode only)
tokbin/length_past_end | 1 | tb_past_end.bin: truncated at token 2 | "$T" decode --vocab "$TMP/tb_past_end.bin" "$TMP/empty.txt"
tokbin/zero_length | 1 | tb_zero_len.bin: token 1 has length 0 | "$T" decode --vocab "$TMP/tb_zero_len.bin" "$TMP/empty.txt"
tokbin/zero_tokens | 1 | tb_count.bin: bad token count 0 | "$T" decode --vocab "$TMP/tb_count.bin" "$TMP/empty.txt"
tokbin/eot_out_of_range | 1 | tb_eot.bin: end-of-text id 7 out of range for 3 tokens | "$T" decode --vocab "$TMP/tb_eot.bin" "$TMP/empty.txt"
tokbin/trailing_bytes | 1 | tb_extra.bin: unexpected data after the 3 tokens | "$T" decode --vocab "$TMP/tb_extra.bin" "$TMP/empty.txt"
tokbin/truncated_header | 1 | tb_short.bin: truncated header \(0 of 1024 | "$T" decode --vocab "$TMP/tb_short.bin" "$TMP/empty.txt"
# --- safetensors (import_hf IN OUT)
import/dtype_i64 | 1 | st_dtype-i64.safetensors: .*h.0.ln_1.weight has dtype I64 | "$IMP" --heads 2 "$TMP/st_dtype-i64.safetensors" "$OUT/m.bin"
import/dtype_f64 | 1 | st_dtype-f64.safetensors: .*h.1.mlp.c_fc.bias has dtype F64 | "$IMP" --heads 2 "$TMP/st_dtype-f64.safetensors" "$OUT/m.bin"
import/dtype_unknown | 1 | st_dtype-unknown.safetensors: .*unknown dtype "Q4" | "$IMP" --heads 2 "$TMP/st_dtype-unknown.safetensors" "$OUT/m.bin"
import/missing_tensor | 1 | st_missing.safetensors: .*missing tensor h.1.mlp.c_fc.bias | "$IMP" --heads 2 "$TMP/st_missing.safetensors" "$OUT/m.bin"
import/missing_block | 1 | st_gap.safetensors: .*h.1 is missing | "$IMP" --heads 2 "$TMP/st_gap.safetensors" "$OUT/m.bin"
import/extra_tensor | 1 | st_extra.safetensors: .*unexpected tensor h.0.attn.rotary.weight | "$IMP" --heads 2 "$TMP/st_extra.safetensors" "$OUT/m.bin"
import/byte_count_overflows | 1 | st_bytes_overflow.safetensors: tensor wte.weight: F32 x 4611686018427387904 elements need more bytes than 64 bits can count | "$IMP" --heads 2 "$TMP/st_bytes_overflow.safetensors" "$OUT/m.bin"
import/duplicate_among_200000_tensors | 1 | st_many.safetensors: bad safetensors header at byte [0-9]+: tensor "t199999" appears twice | timeout 20 "$IMP" --heads 2 "$TMP/st_many.safetensors" "$OUT/m.bin"
import/duplicate_tensor | 1 | st_duplicate.safetensors: .*appears twice | "$IMP" --heads 2 "$TMP/st_duplicate.safetensors" "$OUT/m.bin"
import/offsets_out_of_range | 1 | st_offset-range.safetensors: .*wte.weight: data_offsets .* run past the data section | "$IMP" --heads 2 "$TMP/st_offset-range.safetensors" "$OUT/m.bin"
import/offsets_reversed | 1 | st_end-before-begin.safetensors: .*h.0.ln_1.bias: data_offsets .* end before they begin | "$IMP" --heads 2 "$TMP/st_end-before-begin.safetensors" "$OUT/m.bin"
import/offsets_overlap | 1 | st_overlap.safetensors: .*h.0.ln_1.bias and h.0.ln_1.weight overlap | "$IMP" --heads 2 "$TMP/st_overlap.safetensors" "$OUT/m.bin"
import/size_mismatch | 1 | st_size-mismatch.safetensors: .*h.1.attn.c_proj.weight: 252 bytes of data, but F32 x 64 elements need 256 | "$IMP" --heads 2 "$TMP/st_size-mismatch.safetensors" "$OUT/m.bin"
import/wrong_shape | 1 | st_wrong-shape.safetensors: .*h.0.attn.c_attn.weight has shape \(24, 8\), expected \(8, 24\) | "$IMP" --heads 2 "$TMP/st_wrong-shape.safetensors" "$OUT/m.bin"
import/wrong_shape_1d | 1 | st_wrong-shape-ln.safetensors: .*h.1.ln_2.weight has shape \(9\), expected \(8\) | "$IMP" --heads 2 "$TMP/st_wrong-shape-ln.safetensors" "$OUT/m.bin"
import/header_past_end | 1 | st_header-past-eof.safetensors: header length [0-9]+ runs past the end of the file | "$IMP" --heads 2 "$TMP/st_header-past-eof.safetensors" "$OUT/m.bin"
import/header_length_huge | 1 | st_header-huge.safetensors: header length 18446744073709551615 runs past the end | "$IMP" --heads 2 "$TMP/st_header-huge.safetensors" "$OUT/m.bin"
import/json_colon | 1 | st_json-colon.safetensors: bad safetensors header at byte [0-9]+: expected ':' | "$IMP" --heads 2 "$TMP/st_json-colon.safetensors" "$OUT/m.bin"
import/json_float | 1 | st_json-float.safetensors: .*fraction or exponent | "$IMP" --heads 2 "$TMP/st_json-float.safetensors" "$OUT/m.bin"
import/json_negative | 1 | st_json-negative.safetensors: .*expected a non-negative integer | "$IMP" --heads 2 "$TMP/st_json-negative.safetensors" "$OUT/m.bin"
import/json_trailing_comma | 1 | st_json-trailing-comma.safetensors: bad safetensors header | "$IMP" --heads 2 "$TMP/st_json-trailing-comma.safetensors" "$OUT/m.bin"
import/json_junk | 1 | st_json-junk.safetensors: bad safetensors header at byte [0-9]+: junk after the top-level value | "$IMP" --heads 2 "$TMP/st_json-junk.safetensors" "$OUT/m.bin"
import/json_metadata_number | 1 | st_json-metadata-number.safetensors: .*__metadata__ values must be strings | "$IMP" --heads 2 "$TMP/st_json-metadata-number.safetensors" "$OUT/m.bin"
import/json_unknown_key | 1 | st_json-unknown-key.safetensors: .*unexpected or repeated key "kind" | "$IMP" --heads 2 "$TMP/st_json-unknown-key.safetensors" "$OUT/m.bin"
import/json_unterminated | 1 | st_json-unterminated.safetensors: .*unterminated string | "$IMP" --heads 2 "$TMP/st_json-unterminated.safetensors" "$OUT/m.bin"
import/json_nul | 1 | st_json-nul.safetensors: bad safetensors header | "$IMP" --heads 2 "$TMP/st_json-nul.safetensors" "$OUT/m.bin"
import/json_control_in_name | 1 | st_json-newline-name.safetensors: .*control character in a name | "$IMP" --heads 2 "$TMP/st_json-newline-name.safetensors" "$OUT/m.bin"
import/lm_head_differs | 1 | st_lm-head-differs.safetensors: lm_head.weight differs from wte.weight | "$IMP" --heads 2 "$TMP/st_lm-head-differs.safetensors" "$OUT/m.bin"
import/truncated | 1 | st_truncated.safetensors: .*run past the data section | "$IMP" --heads 2 "$TMP/st_truncated.safetensors" "$OUT/m.bin"
import/shorter_than_length | 1 | st_tiny.safetensors: too short | "$IMP" --heads 2 "$TMP/st_tiny.safetensors" "$OUT/m.bin"
import/empty | 1 | empty.txt: too short | "$IMP" --heads 2 "$TMP/empty.txt" "$OUT/m.bin"
import/no_such_file | 1 | nope.safetensors: cannot open | "$IMP" --heads 2 "$TMP/nope.safetensors" "$OUT/m.bin"
import/output_unwritable | 1 | /proc/nope/m.bin: cannot create: No such file | "$IMP" --heads 2 "$TMP/st_ok.safetensors" /proc/nope/m.bin
import/unknown_width | 2 | C=8 is not a standard GPT-2 width.*--heads | "$IMP" "$TMP/st_ok.safetensors" "$OUT/m.bin"
import/heads_not_dividing | 2 | C=8 is not divisible by 3 heads | "$IMP" --heads 3 "$TMP/st_ok.safetensors" "$OUT/m.bin"
import/heads_junk | 2 | --heads: 'two' is not an integer | "$IMP" --heads two "$TMP/st_ok.safetensors" "$OUT/m.bin"
import/heads_missing_value | 2 | --heads needs a value | "$IMP" "$TMP/st_ok.safetensors" "$OUT/m.bin" --heads
import/no_arguments | 2 | usage | "$IMP"
# --- Hugging Face folders (import_hf DIR OUT): config.json against the tensors, settings gpt2c cannot compute, shards
import/config_embd_disagrees | 1 | hf_embd/config.json says n_embd=16, but .*hf_embd/model.safetensors has wte.weight of shape \(50, 8\) | "$IMP" "$TMP/hf_embd" "$OUT/m.bin"
import/config_vocab_disagrees | 1 | hf_vocab/config.json says vocab_size=51, but .*model.safetensors has wte.weight of shape \(50, 8\) | "$IMP" "$TMP/hf_vocab" "$OUT/m.bin"
import/config_positions_disagree | 1 | hf_positions/config.json says n_positions=32, but .*model.safetensors has wpe.weight of shape \(16, 8\) | "$IMP" "$TMP/hf_positions" "$OUT/m.bin"
import/config_layers_disagree | 1 | hf_layers/config.json says n_layer=3, but .*model.safetensors has 2 blocks \(h.0 .. h.1\) | "$IMP" "$TMP/hf_layers/model.safetensors" "$OUT/m.bin"
import/config_heads_do_not_divide | 1 | hf_heads/config.json: n_head=3 does not divide n_embd=8 | "$IMP" "$TMP/hf_heads" "$OUT/m.bin"
import/config_zero_heads | 1 | hf_heads_zero/config.json: n_head is 0 | "$IMP" "$TMP/hf_heads_zero" "$OUT/m.bin"
import/config_other_gelu | 1 | hf_gelu/config.json: bad config at byte [0-9]+: activation_function is "gelu": gpt2c computes GPT-2's tanh GELU | "$IMP" "$TMP/hf_gelu" "$OUT/m.bin"
import/config_epsilon | 1 | hf_eps/config.json: bad config at byte [0-9]+: layer_norm_epsilon is 1e-06: gpt2c's layernorm uses 1e-5 | "$IMP" "$TMP/hf_eps" "$OUT/m.bin"
import/config_not_gpt2 | 1 | hf_llama/config.json: bad config at byte [0-9]+: model_type is "llama": not a GPT-2 | "$IMP" "$TMP/hf_llama" "$OUT/m.bin"
import/config_n_inner | 1 | hf_inner/config.json: n_inner is 16: gpt2c's MLP is 4 x n_embd = 32 wide | "$IMP" "$TMP/hf_inner" "$OUT/m.bin"
import/config_unscaled_attention | 1 | hf_scale/config.json: bad config at byte [0-9]+: scale_attn_weights is false | "$IMP" "$TMP/hf_scale" "$OUT/m.bin"
import/config_trailing_comma | 1 | hf_json/config.json: bad config at byte [0-9]+: expected '"', found '}' | "$IMP" "$TMP/hf_json" "$OUT/m.bin"
import/config_heads_not_a_number | 1 | hf_heads_string/config.json: bad config at byte [0-9]+: expected a non-negative integer | "$IMP" "$TMP/hf_heads_string" "$OUT/m.bin"
import/folder_without_weights | 1 | hf_empty: no model.safetensors or model.safetensors.index.json in this folder | "$IMP" "$TMP/hf_empty" "$OUT/m.bin"
import/index_tensor_not_in_its_shard | 1 | index.json: the weight_map puts h.0.ln_1.weight in .*model-00002-of-00002.safetensors, which has no such tensor | "$IMP" "$TMP/hf_index-missing" "$OUT/m.bin"
import/index_leaves_a_tensor_out | 1 | model-00002-of-00002.safetensors: tensor ln_f.bias is not listed for this shard | "$IMP" "$TMP/hf_index-unlisted" "$OUT/m.bin"
import/index_shard_outside_folder | 1 | index.json: bad index at byte [0-9]+: shard "../model-00001-of-00002.safetensors" is not a file name in this folder | "$IMP" "$TMP/hf_index-path" "$OUT/m.bin"
import/index_shard_missing | 1 | model-00002-of-00002.safetensors: cannot open | "$IMP" "$TMP/hf_missing-shard" "$OUT/m.bin"
import/index_bad_json | 1 | bad.index.json: bad index at byte [0-9]+: expected '"' | "$IMP" "$TMP/hf_index-missing/bad.index.json" "$OUT/m.bin"
# --- export_hf CKPT OUTDIR
export/no_arguments | 2 | usage: export_hf | "$EXP"
export/unknown_option | 2 | unknown option --frob | "$EXP" --frob a b
export/too_many_arguments | 2 | too many arguments | "$EXP" a b c
export/bad_dtype | 2 | --dtype: 'f8' is not f32, f16 or bf16 | "$EXP" "$TMP/ck_ok.bin" "$OUT/x" --dtype f8
export/dtype_missing_value | 2 | --dtype needs a value | "$EXP" "$TMP/ck_ok.bin" "$OUT/x" --dtype
export/missing_checkpoint | 1 | none.bin: cannot open | "$EXP" "$TMP/none.bin" "$OUT/x"
export/truncated_checkpoint | 1 | ck_short.bin: file is 2223 bytes | "$EXP" "$TMP/ck_short.bin" "$OUT/x"
export/out_is_a_file | 1 | hello.txt: exists and is not a directory | "$EXP" "$TMP/ck_ok.bin" "$TMP/hello.txt"
export/out_unwritable | 1 | /proc/nope: cannot create directory | "$EXP" "$TMP/ck_ok.bin" /proc/nope
export/vocab_missing | 1 | nodir: no vocabulary here | "$EXP" "$TMP/ck_ok.bin" "$OUT/x" --vocab "$TMP/nodir"
export/vocab_larger_than_model | 1 | ck_ok.bin: the model's vocabulary has 8 tokens, but the one in .* has 50257: they must match | "$EXP" "$TMP/ck_ok.bin" "$OUT/x" --vocab "$VOCAB"
# --- LoRA (train --lora, merge_lora)
lora/needs_init | 2 | --lora fine-tunes a trained model through adapters: give it one with --init | "$TR" --train "$TMP/data.bin" --lora 4 --out "$OUT/r"
lora/rank_zero | 2 | --lora: 0 is out of range \[1, 4096\] | "$TR" --train "$TMP/data.bin" --init "$MODEL" --lora 0 --out "$OUT/r"
lora/unknown_target | 2 | --lora-targets: 'mlp' is not one of qkv, attproj, fc, fcproj | "$TR" --train "$TMP/data.bin" --init "$MODEL" --lora 4 --lora-targets qkv,mlp --out "$OUT/r"
lora/empty_target | 2 | --lora-targets: '' is not one of | "$TR" --train "$TMP/data.bin" --init "$MODEL" --lora 4 --lora-targets qkv, --out "$OUT/r"
lora/alpha_without_rank | 2 | --lora-alpha and --lora-targets shape LoRA adapters: give --lora R too | "$TR" --train "$TMP/data.bin" --init "$MODEL" --lora-alpha 16 --out "$OUT/r"
lora/rank_on_resume | 2 | --lora cannot change on --resume | "$TR" --resume "$TMP/lgood" --lora 4
lora/resume_base_gone | 1 | base_lmoved.bin: cannot open | "$TR" --resume "$TMP/lmoved" --steps 3
lora/resume_other_base | 1 | lswapped/lora_00000002.bin: these adapters were trained on another base checkpoint \(it names .*base_lswapped.bin\) | "$TR" --resume "$TMP/lswapped" --steps 3
lora/resume_truncated_adapters | 1 | lshort/lora_00000002.bin: file is [0-9]+ bytes, but adapters of rank 2 for L=1 C=8 need [0-9]+ | "$TR" --resume "$TMP/lshort" --steps 3
lora/resume_not_adapters | 1 | lmagic/lora_00000002.bin: not a gpt2c LoRA adapters file | "$TR" --resume "$TMP/lmagic" --steps 3
merge/no_arguments | 2 | usage: merge_lora RUN_DIR\|ADAPTERS OUT.bin | "$ML"
merge/unknown_option | 2 | unknown option --frob | "$ML" --frob a b
merge/too_many_arguments | 2 | too many arguments | "$ML" a b c
merge/empty_folder | 1 | dir: no checkpoint \(no state_N.bin with its lora_N.bin\) | "$ML" "$TMP/dir" "$OUT/m.bin"
merge/full_fine_tuning_run | 1 | good/model_00000002.bin: a full fine-tuning checkpoint, not LoRA adapters: it needs no merge | "$ML" "$TMP/good" "$OUT/m.bin"
merge/not_adapters | 1 | model_00000002.bin: not a gpt2c LoRA adapters file | "$ML" "$MODEL" "$OUT/m.bin"
merge/other_base | 1 | these adapters were trained on another base checkpoint | "$ML" "$TMP/lgood" "$OUT/m.bin" --base "$TMP/good7/model_00000002.bin"
merge/base_gone | 1 | base_lmoved.bin: cannot open | "$ML" "$TMP/lmoved" "$OUT/m.bin"
merge/truncated_adapters | 1 | lshort/lora_00000002.bin: file is [0-9]+ bytes | "$ML" "$TMP/lshort/lora_00000002.bin" "$OUT/m.bin"
merge/out_unwritable | 1 | /proc/nope/m.bin.*: cannot create | "$ML" "$TMP/lgood" /proc/nope/m.bin
import/unknown_option | 2 | unknown option --frobnicate | "$IMP" --frobnicate a b
import/too_many_arguments | 2 | too many arguments | "$IMP" a b c
TABLE
# the refused run left the other run's lone model where it was
check bad/train/lone_model_kept cmp -s "$MODEL" "$TMP/lone/model_00000001.bin"

# ---- text that is not an error ----
if [ -z "$HAVE_VOCAB" ]; then
    for t in invalid_utf8_and_nul empty_corpus huge_line tokenizer_bin_decodes; do skip "text/$t" "no vocabulary in $VOCAB"; done
    exit 0
fi
# any bytes (invalid UTF-8, NUL, lone continuation bytes, overlong forms, CR) survive encode -> decode
printf 'a\0b\xff\xfe\xc0\xaf\xed\xa0\x80 \x80\x80\r\n\0\0 \xf4\x90\x80\x80z' >"$TMP/bytes.txt"
"$T" encode --vocab "$VOCAB" "$TMP/bytes.txt" | "$T" decode --vocab "$VOCAB" >"$TMP/bytes.back"
check text/invalid_utf8_and_nul_round_trip cmp -s "$TMP/bytes.txt" "$TMP/bytes.back"
"$T" shard --vocab "$VOCAB" --out "$TMP/bytes" "$TMP/bytes.txt" 2>/dev/null
check text/invalid_utf8_and_nul_shard [ -s "$TMP/bytes_train.bin" ]
# an empty corpus: shards holding only <|endoftext|> (train then says "shorter than one batch", above)
check text/empty_corpus_gives_eot_only_shards [ "$(od -An -tu4 -j8 -N4 "$TMP/empty_corpus_train.bin" | tr -d ' ')" = 1 ] &&
    [ "$(od -An -tu2 -j1024 "$TMP/empty_corpus_train.bin" | tr -d ' ')" = 50256 ]
# a 20 MB text without a newline: one piece per word, and one 1 MB word
if [ -f "$SHARED/data/tinyshakespeare.txt" ]; then
    for _ in $(seq 20); do tr '\n' ' ' <"$SHARED/data/tinyshakespeare.txt"; done | head -c 20000000 >"$TMP/line.txt"
else
    yes 'All the world is a stage, and all the men and women merely players.' | tr -d '\n' | head -c 20000000 >"$TMP/line.txt"
fi
start=$(date +%s)
if "$T" encode --vocab "$VOCAB" "$TMP/line.txt" >"$TMP/line.ids" 2>"$TMP/line.err" &&
   [ "$(wc -l <"$TMP/line.ids")" -eq 1 ] && "$T" decode --vocab "$VOCAB" "$TMP/line.ids" | cmp -s - "$TMP/line.txt"; then
    pass "text/huge_line_round_trip ($(($(date +%s) - start)) s)"
else fail text/huge_line_round_trip "$(head -c 300 "$TMP/line.err")"; fi
head -c 1000000 /dev/zero | tr '\0' 'a' >"$TMP/word.txt"
if "$T" shard --vocab "$VOCAB" --out "$TMP/word" "$TMP/word.txt" 2>"$TMP/word.err" &&
   [ "$(stat -c %s "$TMP/word_train.bin")" -gt 1024 ]; then pass text/huge_word_shards
else fail text/huge_word_shards "$(head -c 300 "$TMP/word.err")"; fi
# files that report no size (/proc) or have none (a pipe, "-") are read to their end
check text/proc_file_encodes [ -n "$("$T" encode --vocab "$VOCAB" /proc/version)" ] &&
    [ "$("$T" encode --vocab "$VOCAB" /proc/version)" = "$(cat /proc/version | "$T" encode --vocab "$VOCAB" -)" ]
check text/generate_prompt_from_proc_file [ "$("$G" --model "$MODEL" --vocab "$VOCAB" --prompt-file /proc/sys/kernel/ostype --tokens 1 \
    --temperature 0 2>/dev/null | head -c 5)" = "$(head -c 5 /proc/sys/kernel/ostype)" ]
check text/generate_prompt_from_stdin [ "$(printf 'ROMEO' | "$G" --model "$MODEL" --vocab "$VOCAB" --prompt-file - --tokens 1 \
    --temperature 0 2>/dev/null | head -c 5)" = ROMEO ]
# a vocab.bpe saved with Windows line ends (CRLF) reads the same
mkdir -p "$TMP/v_crlf"; cp "$VOCAB/encoder.json" "$TMP/v_crlf/"; sed 's/$/\r/' "$VOCAB/vocab.bpe" >"$TMP/v_crlf/vocab.bpe"
head -c 200000 "$TMP/line.txt" >"$TMP/some_text.txt"
check text/crlf_vocab_bpe_reads_the_same [ "$("$T" encode --vocab "$TMP/v_crlf" "$TMP/some_text.txt" | md5sum)" = \
    "$("$T" encode --vocab "$VOCAB" "$TMP/some_text.txt" | md5sum)" ]
# an atomic write never follows a symlink planted at its old temporary name
printf 'victim' >"$TMP/victim.txt"; ln -s "$TMP/victim.txt" "$TMP/sym_train.bin.tmp"
"$T" shard --vocab "$VOCAB" --out "$TMP/sym" "$TMP/hello.txt" 2>/dev/null
check text/shard_does_not_follow_a_symlink [ "$(cat "$TMP/victim.txt")" = victim ] && [ -f "$TMP/sym_train.bin" ] &&
    [ ! -L "$TMP/sym_train.bin" ]
check text/tokenizer_bin_decodes [ "$(echo 1 0 2 | "$T" decode --vocab "$TMP/tb_ok.bin")" = "bca<|endoftext|>" ]
