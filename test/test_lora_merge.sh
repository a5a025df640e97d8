#!/usr/bin/env bash
# A held-out check of LoRA merged checkpoints (issue 15): train a tiny base,
# fine-tune it through adapters at two settings, merge, and let
# check_lora_merge (which reads the checkpoints itself and shares no code with
# lora.c) confirm that only the targeted matrices changed, each layer by an
# update of rank <= R. Then show the checker can fail, and that the merged
# checkpoint scores the validation loss the adapted model scored.
source "$(dirname "$0")/lib.sh"
BUILD=${BUILD:-build}
names=(only_targets_change_rank_le_2 only_targets_change_rank_le_3_all_targets merged_val_loss_equals_adapted_r2
       merged_val_loss_equals_adapted_r3 fails_below_rank_r2 fails_below_rank_r3 fails_on_flipped_nontarget_byte
       fails_on_flipped_target_bias_byte fails_on_undeclared_target fails_on_full_finetune
       fails_rank_on_full_finetune_qkvw checker_rejects_truncated checker_usage)
if [ ! -f "$VOCAB/encoder.json" ]; then
    for t in "${names[@]}"; do skip "lora_merge/$t" "no vocabulary in $VOCAB"; done
    exit 0
fi
# Any text will do for a check of the merge: the project's own notes and code.
cat notes.md ./*.c | head -c 60000 >"$TMP/text.txt"
GPT2_VOCAB_DIR=$VOCAB "$BIN/tokenize" shard --val-fraction 0.1 --out "$TMP/d" "$TMP/text.txt" 2>/dev/null
data=(--train "$TMP/d_train.bin" --val "$TMP/d_val.bin" -b 4 -t 32 --eval-batches 4)

# A tiny base, trained a little so that fine-tuning it is not fine-tuning noise.
"$BIN/train" "${data[@]}" --layers 2 --heads 2 --channels 32 --context 32 --steps 30 --lr 1e-2 --warmup 3 \
    --eval-every 0 --out "$TMP/base" >"$TMP/base.log" 2>&1
base="$TMP/base/model_00000030.bin"
[ -f "$base" ] || { fail lora_merge/base_trains "$(tail -2 "$TMP/base.log")"; exit 0; }

# val_loss CSV ROW: the val_loss column of log.csv's first (1) or last ($) data row
val_loss() { tail -n +2 "$1" | sed -n "$2p" | cut -d, -f3; }

# lora_run NAME R TARGETS TEST [train options...]: fine-tune through adapters, merge,
# check the merge at rank R (it must pass) and at R-1 (it must fail: after a
# few steps every column of B has moved, so the update has rank exactly R).
lora_run() {
    local name=$1 r=$2 targets=$3 test=$4; shift 4
    "$BIN/train" --init "$base" "${data[@]}" --lora "$r" --lora-targets "$targets" --steps 20 --lr 2e-2 "$@" \
        --warmup 2 --eval-every 10 --out "$TMP/$name" >"$TMP/$name.log" 2>&1
    "$BIN/merge_lora" "$TMP/$name" "$TMP/$name.bin" >"$TMP/$name.merge.log" 2>&1
    if "$BUILD/check_lora_merge" "$base" "$TMP/$name.bin" "$r" "$targets" >"$TMP/$name.check" 2>&1; then
        sed 's/^/  /' "$TMP/$name.check"   # the residual ratios, for the log
        pass "lora_merge/$test"
    else fail "lora_merge/$test" "$(cat "$TMP/$name.check") $(tail -1 "$TMP/$name.log") $(cat "$TMP/$name.merge.log")"; fi
    expect_error "lora_merge/fails_below_rank_$name" 1 "layer [0-9]+: rank > $((r - 1))" \
        "$BUILD/check_lora_merge" "$base" "$TMP/$name.bin" $((r - 1)) "$targets"

    # The merged checkpoint, evaluated by a plain run that does not move it
    # (--lr 0), scores the adapted model's last validation loss; and that
    # loss moved away from the base's (step 0, where B = 0), so the equality
    # says something.
    "$BIN/train" --init "$TMP/$name.bin" "${data[@]}" --steps 1 --lr 0 --lr-min 0 --out "$TMP/$name.eval" \
        >"$TMP/$name.eval.log" 2>&1
    local adapted merged start
    adapted=$(val_loss "$TMP/$name/log.csv" '$'); start=$(val_loss "$TMP/$name/log.csv" 1)
    merged=$(val_loss "$TMP/$name.eval/log.csv" 1)
    if awk -v a="$adapted" -v m="$merged" -v s="$start" 'BEGIN { d = a - m; e = a - s
        exit !(a != "" && m != "" && d * d <= 1e-8 && e * e > 1e-6) }'
    then pass "lora_merge/merged_val_loss_equals_adapted_$name ($start -> $adapted, merged $merged)"
    else fail "lora_merge/merged_val_loss_equals_adapted_$name" "base $start, adapted $adapted, merged '$merged'"; fi
}
lora_run r2 2 qkv,attproj only_targets_change_rank_le_2 --lr 5e-2
lora_run r3 3 qkv,attproj,fc,fcproj only_targets_change_rank_le_3_all_targets --lora-alpha 6

# The checker fails on a merge that touched anything else. Byte offsets from
# the header (llm.c v3: 256 int32, then wte (Vp,C), wpe (maxT,C), ln1w, ln1b
# (L,C), qkvw (L,3C,C), qkvb (L,3C), ...); flipping a mantissa bit keeps the
# float finite but changes it.
header() { od -An -t d4 -j $((4 * $2)) -N 4 "$1" | tr -d ' '; }
maxT=$(header "$base" 2) L=$(header "$base" 4) C=$(header "$base" 6) Vp=$(header "$base" 7)
qkvw_at=$((1024 + 4 * (Vp * C + maxT * C + 2 * L * C))) qkvw_bytes=$((4 * L * 3 * C * C))
flip_byte() { # flip_byte FILE OFFSET: xor the byte's lowest bit
    local b; b=$(od -An -t u1 -j "$2" -N 1 "$1" | tr -d ' ')
    printf "\\x$(printf %02x $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
cp "$TMP/r2.bin" "$TMP/flip_lnfb.bin"; flip_byte "$TMP/flip_lnfb.bin" $(($(stat -c %s "$base") - 3))
expect_error lora_merge/fails_on_flipped_nontarget_byte 1 "lnfb \(not a target\) changed" \
    "$BUILD/check_lora_merge" "$base" "$TMP/flip_lnfb.bin" 2 qkv,attproj
cp "$TMP/r2.bin" "$TMP/flip_qkvb.bin"; flip_byte "$TMP/flip_qkvb.bin" $((qkvw_at + qkvw_bytes + 4 * 3 * C + 1))
expect_error lora_merge/fails_on_flipped_target_bias_byte 1 "qkvb \(not a target\) changed: layer 1" \
    "$BUILD/check_lora_merge" "$base" "$TMP/flip_qkvb.bin" 2 qkv,attproj
expect_error lora_merge/fails_on_undeclared_target 1 "fcw \(not a target\) changed" \
    "$BUILD/check_lora_merge" "$base" "$TMP/r3.bin" 3 qkv,attproj

# A full fine-tune of the same base changes everything, and its update of a
# weight matrix has full rank: with only its qkvw spliced into the base, the
# other tensors are the base's and the rank check itself must fail.
"$BIN/train" --init "$base" "${data[@]}" --steps 5 --lr 1e-2 --warmup 1 --eval-every 0 --out "$TMP/full" \
    >"$TMP/full.log" 2>&1
full="$TMP/full/model_00000005.bin"
expect_error lora_merge/fails_on_full_finetune 1 "wte \(not a target\) changed" \
    "$BUILD/check_lora_merge" "$base" "$full" 3 qkv,attproj,fc,fcproj
cp "$base" "$TMP/spliced.bin"
dd if="$full" of="$TMP/spliced.bin" bs=4 skip=$((qkvw_at / 4)) seek=$((qkvw_at / 4)) count=$((qkvw_bytes / 4)) \
    conv=notrunc status=none
expect_error lora_merge/fails_rank_on_full_finetune_qkvw 1 "qkvw layer 0: rank > 8" \
    "$BUILD/check_lora_merge" "$base" "$TMP/spliced.bin" 8 qkv

# The checker's own bad input: one line, exit 1 for a bad file, 2 for bad usage.
head -c -4 "$TMP/r2.bin" >"$TMP/short.bin"
expect_error lora_merge/checker_rejects_truncated 1 "short.bin: truncated" \
    "$BUILD/check_lora_merge" "$base" "$TMP/short.bin" 2 qkv,attproj
expect_error lora_merge/checker_usage 2 "unknown target 'mlp'" "$BUILD/check_lora_merge" "$base" "$TMP/r2.bin" 2 qkv,mlp
