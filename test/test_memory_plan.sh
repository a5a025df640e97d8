#!/usr/bin/env bash
# The memory plan of ./train (notes.md "Memory"): the bytes it plans equal
# the sizes computed here from the model's shape, a run that exceeds the
# available memory (faked by GPT2C_MEM_AVAILABLE) is refused before anything
# is written, the smaller run it suggests is accepted, --force goes on, and a
# resumed run is checked too. Needs no shared data.
source "$(dirname "$0")/lib.sh"
make_shard "$TMP/data.bin" 20240520 1 2000 $(awk 'BEGIN { x = 7; for (i = 0; i < 2000; i++) { x = (x * 1103515245 + 12345) % 2147483648; print x % 50257 } }')
L=2 NH=2 C=32 maxT=32 B=4 T=32 V=50257 Vp=50304
shape=(--layers $L --heads $NH --channels $C --context $maxT -b $B -t $T)
# value NAME: a line "NAME BYTES" of --plan-only's output
value() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/plan"; }

# 1. The plan's parts, against sizes computed here from the shape (4 bytes a float).
"$BIN/train" --plan-only "${shape[@]}" >"$TMP/plan" 2>&1
P=$(( Vp*C + maxT*C + L*(12*C*C + 13*C) + 2*C ))
BT=$((B*T)) BTC=$((B*T*C)) att=$((B*NH*T*T))
acts=$(( BTC + L*(18*BTC + 4*BT + att) + BTC + 2*BT + BT*V + BT ))
scratch=$(( 14*BTC + att ))
check plan/parameter_count [ "$(value parameters)" = $P ]
check plan/params_grads_adamw_16_bytes_each [ $(( $(value params) + $(value grads) + $(value adamw) )) = $((16 * P)) ]
check plan/activations_and_scratch [ "$(value activations)" = $((4 * acts)) ] && [ "$(value scratch)" = $((4 * scratch)) ]
check plan/eval_copy_is_the_weights [ "$(value eval_copy)" = $((4 * P)) ]
check plan/no_kv_cache_without_samples [ "$(value kv_cache)" = 0 ]
check plan/one_line_printed grep -q '^memory plan: .* = params .* + grads .* + AdamW ' "$TMP/plan"
total=$(value total)
GPT2_VOCAB_DIR="$VOCAB" "$BIN/train" --plan-only "${shape[@]}" --sample-every 1 >"$TMP/plan" 2>&1
if [ -f "$VOCAB/encoder.json" ]; then
    check plan/kv_cache_with_samples [ "$(value kv_cache)" = $(( 4 * (L*maxT*3*C + 8*C + maxT + 3*V) )) ]
else skip plan/kv_cache_with_samples "no vocabulary in $VOCAB"; fi

# 2. A checkpoint's plan comes from its header: the count it implies, no loading.
read -r _ _ maxT1 V1 L1 NH1 C1 Vp1 < <(od -An -t d4 -N 32 -w32 test/corpus/checkpoint/fp32_L1)
P1=$(( Vp1*C1 + maxT1*C1 + L1*(12*C1*C1 + 13*C1) + 2*C1 ))
"$BIN/train" --plan-only --init test/corpus/checkpoint/fp32_L1 -b 1 -t 2 >"$TMP/plan" 2>&1
check plan/init_from_header [ "$(value parameters)" = $P1 ] && [ "$(value params)" = $((4 * P1)) ]

# 3. More than is available: one line naming the need, what is available and
# what would fit; exit 1, and no run folder.
limit=$(( total - 4*acts/2 ))   # room for about half the activations
run=("$BIN/train" --train "$TMP/data.bin" "${shape[@]}" --steps 1 --eval-every 0)
GPT2C_MEM_AVAILABLE=$limit expect_error plan/refused_when_over 1 \
    'needs [0-9.]+ [KMG]iB of memory but [0-9.]+ [KMG]iB is available \(GPT2C_MEM_AVAILABLE\): -b [0-9]+ -t [0-9]+ would fit' \
    "${run[@]}" --out "$TMP/over"
check plan/refused_leaves_no_folder [ ! -e "$TMP/over" ]
suggested=$(grep -Eo -- '-b [0-9]+ -t [0-9]+' "$TMP/err")
GPT2C_MEM_AVAILABLE=$limit "$BIN/train" --train "$TMP/data.bin" --layers $L --heads $NH --channels $C --context $maxT \
    $suggested --steps 1 --eval-every 0 --out "$TMP/fits" >"$TMP/log" 2>&1
check plan/suggestion_fits [ $? = 0 ] && [ -f "$TMP/fits/model_00000001.bin" ] && [ -n "$suggested" ]
GPT2C_MEM_AVAILABLE=$limit "${run[@]}" --out "$TMP/forced" --force >"$TMP/log" 2>&1
check plan/force_goes_on [ $? = 0 ] && [ -f "$TMP/forced/model_00000001.bin" ]
GPT2C_MEM_AVAILABLE=1000 expect_error plan/nothing_fits 1 'not even -b 1 -t 1 fits; --lora 8 needs' "${run[@]}" --out "$TMP/tiny"
expect_error plan/bad_override 2 'GPT2C_MEM_AVAILABLE.*not a positive number' env GPT2C_MEM_AVAILABLE=12x "${run[@]}" \
    --out "$TMP/bad"

# 4. --resume plans from the run folder's checkpoint before reading it, and
# leaves the run as it was when refused.
"$BIN/train" --train "$TMP/data.bin" "${shape[@]}" --steps 2 --eval-every 0 --stop-after 1 --out "$TMP/r" >"$TMP/log" 2>&1
ls "$TMP/r" >"$TMP/before"
GPT2C_MEM_AVAILABLE=$limit expect_error plan/resume_refused 1 'needs .* but .* is available .* would fit' \
    "$BIN/train" --resume "$TMP/r"
check plan/resume_refused_leaves_run [ "$(ls "$TMP/r")" = "$(cat "$TMP/before")" ]
GPT2C_MEM_AVAILABLE=$total "$BIN/train" --resume "$TMP/r" >"$TMP/log" 2>&1
check plan/resume_accepted_at_its_plan [ $? = 0 ] && [ -f "$TMP/r/model_00000002.bin" ] && grep -q '^memory plan: ' "$TMP/log"

# 5. LoRA: only the adapters have gradients and AdamW state (12 bytes each,
# plus 4 for the adapter itself), the base its 4 bytes a parameter, the
# adapters' activations h (per target and layer) and scratch dh are counted,
# and there is no eval copy. The suggested --lora 8 of a refused full run fits.
R=4
A=$(( L*R*(C + 3*C) + L*R*(C + C) + L*R*(C + 4*C) ))   # qkv, attproj, fc
lora=(--lora $R --lora-targets qkv,attproj,fc)
"$BIN/train" --plan-only --init "$TMP/fits/model_00000001.bin" -b $B -t $T "${lora[@]}" >"$TMP/plan" 2>&1
check plan/lora_trains_only_the_adapters [ "$(value trainable)" = $A ] && [ "$(value grads)" = $((4 * A)) ] && \
    [ "$(value adamw)" = $((8 * A)) ] && [ "$(value params)" = $((4 * (P + A))) ] && [ "$(value eval_copy)" = 0 ]
check plan/lora_activations [ "$(value activations)" = $((4 * (acts + 3*L*BT*R))) ] && \
    [ "$(value scratch)" = $((4 * (scratch + BT*R))) ]
"$BIN/train" --plan-only --init "$TMP/fits/model_00000001.bin" -b $B -t $T --lora 8 >"$TMP/plan" 2>&1
limit=$(( $(value total) + 4096 ))
full=("$BIN/train" --train "$TMP/data.bin" --init "$TMP/fits/model_00000001.bin" -b $B -t $T --steps 1 --eval-every 0)
GPT2C_MEM_AVAILABLE=$limit expect_error plan/full_refused_suggests_lora 1 '; --lora 8 needs' "${full[@]}" --out "$TMP/lf"
GPT2C_MEM_AVAILABLE=$limit "${full[@]}" --lora 8 --out "$TMP/lora8" >"$TMP/log" 2>&1
check plan/suggested_lora_fits [ $? = 0 ] && [ -f "$TMP/lora8/lora_00000001.bin" ]
GPT2C_MEM_AVAILABLE=$((limit - 8192)) expect_error plan/lora_run_refused_when_over 1 'needs .* but .* is available' \
    "${full[@]}" --lora 8 --out "$TMP/lover"
