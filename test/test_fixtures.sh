#!/usr/bin/env bash
# Every reference fixture in $SHARED/fixtures/gpt2/*/ through ./test_gpt2:
# logits, loss, 16 gradients, 10-step losses without and with weight decay,
# and the weights after one AdamW step.
source "$(dirname "$0")/lib.sh"
root="$SHARED/fixtures/gpt2"
if [ ! -d "$root" ]; then skip fixtures "no $root"; exit 0; fi
found=0
for dir in "$root"/*/; do
    name=$(basename "$dir")
    [ -f "$dir/model.bin" ] && [ -f "$dir/state.bin" ] || continue
    found=1
    args=("$dir/model.bin" "$dir/state.bin")
    if "$BIN/test_gpt2" "${args[@]}" >"$TMP/fwd" 2>&1; then pass "fixture/$name/logits_loss_gradients"
    else fail "fixture/$name/logits_loss_gradients" "$(grep -E 'FAIL|gpt2c' "$TMP/fwd" | head -3)"; fi
    if [ -f "$dir/losses.txt" ]; then
        step1=(); [ -f "$dir/model_step1.bin" ] && step1=(--expect-step1 "$dir/model_step1.bin")
        if "$BIN/test_gpt2" "${args[@]}" --steps 10 --expect-losses "$dir/losses.txt" "${step1[@]}" >"$TMP/nowd" 2>&1; then
            pass "fixture/$name/steps_losses_and_step1_weights"
        else fail "fixture/$name/steps_losses_and_step1_weights" "$(grep -E 'FAIL|gpt2c' "$TMP/nowd" | head -3)"; fi
        # without --steps, the expectations run the steps they check (one
        # per loss, and step 1 for --expect-step1), and a wrong loss fails
        n=$(grep -c . "$dir/losses.txt")
        "$BIN/test_gpt2" "${args[@]}" --expect-losses "$dir/losses.txt" "${step1[@]}" >"$TMP/nosteps" 2>&1; rc=$?
        awk '{ print $1 + 1 }' "$dir/losses.txt" >"$TMP/wrong_losses.txt"
        "$BIN/test_gpt2" "${args[@]}" --expect-losses "$TMP/wrong_losses.txt" >/dev/null 2>&1; rc_wrong=$?
        if [ $rc = 0 ] && [ "$(grep -c '^step [0-9]*: loss .*OK)' "$TMP/nosteps")" = "$n" ] && [ $rc_wrong = 1 ] &&
           { [ ${#step1[@]} = 0 ] || grep -q '^step1 .*OK$' "$TMP/nosteps"; }; then
            pass "fixture/$name/expectations_without_steps_run_their_steps"
        else fail "fixture/$name/expectations_without_steps_run_their_steps" "exit $rc (wrong losses: $rc_wrong); $(tail -2 "$TMP/nosteps")"; fi
    fi
    if [ -f "$dir/losses_wd.txt" ]; then
        if "$BIN/test_gpt2" "${args[@]}" --steps 10 --wd 0.1 --expect-losses "$dir/losses_wd.txt" >"$TMP/wd" 2>&1; then
            pass "fixture/$name/steps_losses_weight_decay"
        else fail "fixture/$name/steps_losses_weight_decay" "$(grep -E 'FAIL|gpt2c' "$TMP/wd" | head -3)"; fi
        # Weight decay moves the step-10 loss by only ~1e-5, so the sharpest
        # check that decay is applied is the difference of the two runs.
        ours=$(paste <(grep '^step 10:' "$TMP/wd" | awk '{print $4}') <(grep '^step 10:' "$TMP/nowd" | awk '{print $4}') | awk '{printf "%.9g", $1-$2}')
        ref=$(paste <(sed -n 10p "$dir/losses_wd.txt") <(sed -n 10p "$dir/losses.txt") | awk '{printf "%.9g", $1-$2}')
        if awk -v a="$ours" -v b="$ref" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= 4e-6) }'; then
            pass "fixture/$name/weight_decay_difference"
        else fail "fixture/$name/weight_decay_difference" "ours $ours vs reference $ref"; fi
        echo "  (wd - no-wd at step 10: ours $ours, reference $ref)"
    fi
    # --out writes what was computed in the debug-state format: same size as
    # the reference, and checking against it passes.
    if "$BIN/test_gpt2" "${args[@]}" --out "$TMP/out.bin" >/dev/null 2>&1 &&
       [ "$(stat -c %s "$TMP/out.bin")" = "$(stat -c %s "$dir/state.bin")" ] &&
       "$BIN/test_gpt2" "$dir/model.bin" "$TMP/out.bin" >/dev/null 2>&1; then pass "fixture/$name/out_state_round_trip"
    else fail "fixture/$name/out_state_round_trip" "--out state missing, wrong size, or not self-consistent"; fi
done
[ $found = 1 ] || skip fixtures "no fixture folders in $root"
