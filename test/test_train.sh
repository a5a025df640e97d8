#!/usr/bin/env bash
# End to end: tokenize a slice of Tiny Shakespeare (or, without the shared
# data, of this repository's notes and sources), train a tiny GPT-2 on it,
# check that validation loss falls, that resume is bit-identical, that Ctrl-C
# saves a resumable checkpoint and that generation works. (Bad data and bad
# flags: test/bad_inputs.sh; kills and NaN: test/test_crash.sh.)
source "$(dirname "$0")/lib.sh"
BUILD=${BUILD:-build}
vocab="$VOCAB"
if [ ! -f "$vocab/encoder.json" ]; then
    for t in learns resume_bit_identical sigINT_checkpoint sigTERM_checkpoint second_run_on_a_folder_refused sample_valid_utf8 generate samples lora_learns lora_resume_bit_identical merge_lora_generates; do skip "train/$t" "no vocabulary in $vocab"; done
    exit 0
fi
export GPT2_VOCAB_DIR=$vocab
corpus="$SHARED/data/tinyshakespeare.txt"
[ -f "$corpus" ] || { corpus="$TMP/own.txt"; cat notes.md README.md ./*.c >"$corpus"; }
head -c 60000 "$corpus" >"$TMP/slice.txt"
"$BIN/tokenize" shard --val-fraction 0.1 --out "$TMP/d" "$TMP/slice.txt" 2>/dev/null
tiny=(--layers 2 --heads 2 --channels 32 --context 32 -b 4 -t 32)

# 1. A short run lowers validation loss by a clear margin (from ln(50257) = 10.8).
"$BIN/train" --train "$TMP/d_train.bin" --val "$TMP/d_val.bin" "${tiny[@]}" --steps 40 --warmup 5 --lr 1e-2 \
    --lr-min 1e-3 --eval-every 20 --eval-batches 4 --out "$TMP/run" >"$TMP/log" 2>&1
first=$(grep -m1 'val loss' "$TMP/log" | awk '{print $NF}')
last=$(grep 'val loss' "$TMP/log" | tail -1 | awk '{print $NF}')
if awk -v a="$first" -v b="$last" 'BEGIN { exit !(a > 10 && b < a - 2.5) }'; then pass train/learns
else fail train/learns "val loss $first -> $last; $(tail -2 "$TMP/log")"; fi
rows=$(tail -n +2 "$TMP/run/log.csv" | wc -l)
check train/log_csv_has_every_step [ "$rows" = 41 ]
check train/loss_svg_written grep -q '<polyline' "$TMP/run/loss.svg"
check train/log_csv_grad_norm [ "$(head -1 "$TMP/run/log.csv")" = step,train_loss,val_loss,lr,elapsed_s,grad_norm ] && \
    [ "$(awk -F, 'NR > 2 && $6 + 0 > 0' "$TMP/run/log.csv" | wc -l)" = 40 ]
out=$("$BUILD/xml_check" "$TMP/run/loss.svg" polyline text)
check train/loss_svg_wellformed_with_panels grep -q "^ok .* polyline 4 " <<<"$out" && grep -q 'gradient norm' "$TMP/run/loss.svg"
check train/checkpoint_written [ -f "$TMP/run/model_00000040.bin" ] && [ -f "$TMP/run/state_00000040.bin" ]

# 1b. updates.csv at the eval steps (2 and 4) equals the ratios that consecutive
# checkpoints imply, recomputed in double by check_inspect; updates.svg is well-formed.
"$BIN/train" --train "$TMP/d_train.bin" --layers 2 --heads 2 --channels 32 --context 32 -b 4 -t 32 --steps 4 \
    --eval-every 2 --checkpoint-every 1 --keep-checkpoints 10 --out "$TMP/u" >"$TMP/u.log" 2>&1
{ "$BUILD/check_inspect" update-ratios 2 "$TMP/u/model_00000001.bin" "$TMP/u/model_00000002.bin"
  "$BUILD/check_inspect" update-ratios 4 "$TMP/u/model_00000003.bin" "$TMP/u/model_00000004.bin"; } >"$TMP/u.want"
worst=$(paste -d, "$TMP/u.want" <(tail -n +2 "$TMP/u/updates.csv") | awk -F, '
    $1 != $5 || $2 != $6 || $3 != $7 || ($4 == "") != ($8 == "") { print "mismatch " NR; exit }
    { d = $4 - $8; if (d < 0) d = -d; if (d > w) w = d } END { if (NR != 2 * 28) print "rows " NR; else print w + 0 }')
if awk -v w="$worst" 'BEGIN { exit !(w ~ /^[0-9.e-]+$/ && w <= 2e-4) }'; then pass train/updates_csv_matches_checkpoints
else fail train/updates_csv_matches_checkpoints "$worst"; fi
out=$("$BUILD/xml_check" "$TMP/u/updates.svg" polyline)
check train/updates_svg_wellformed grep -q "^ok .* polyline 28" <<<"$out"
check train/updates_svg_rule_of_thumb grep -q 'rule of thumb: about -3' "$TMP/u/updates.svg"

# 2. N steps, resume, N more steps == 2N steps in one go, bit for bit (with
# shuffling, gradient accumulation, clipping and samples drawing from the RNG).
common=(--train "$TMP/d_train.bin" --val "$TMP/d_val.bin" "${tiny[@]}" --steps 8 --warmup 2 --grad-accum 2
        --eval-every 3 --eval-batches 2 --sample-every 3 --sample-tokens 8 --grad-clip 0.5)
"$BIN/train" "${common[@]}" --out "$TMP/a" >"$TMP/a.log" 2>&1
"$BIN/train" "${common[@]}" --out "$TMP/b" --stop-after 4 >"$TMP/b1.log" 2>&1
"$BIN/train" --resume "$TMP/b" >"$TMP/b2.log" 2>&1
if cmp -s "$TMP/a/model_00000008.bin" "$TMP/b/model_00000008.bin"; then pass train/resume_bit_identical
else fail train/resume_bit_identical "weights differ after 4+4 vs 8 steps; $(tail -1 "$TMP/b2.log")"; fi
# the gradient norms of steps 1-4 come back from log.csv on resume, as the one-go run wrote them
check train/resume_keeps_grad_norm cmp -s <(cut -d, -f1,6 "$TMP/a/log.csv") <(cut -d, -f1,6 "$TMP/b/log.csv")
check train/resume_keeps_updates_csv cmp -s "$TMP/a/updates.csv" "$TMP/b/updates.csv"
# resuming keeps log.csv's earlier rows as they were (only elapsed_s may differ)
check train/resume_keeps_log_history cmp -s <(cut -d, -f1-4 "$TMP/a/log.csv") <(cut -d, -f1-4 "$TMP/b/log.csv")
check train/resume_same_samples cmp -s <(grep -a -A2 -- '---- sample' "$TMP/a.log" | tail -3) \
    <(grep -a -A2 -- '---- sample' "$TMP/b2.log" | tail -3)

# 3. Ctrl-C (SIGINT), and SIGTERM (what timeout, schedulers and docker stop
# send), save a checkpoint, exit 0, and --resume finishes the run.
for sig in INT TERM; do
    d="$TMP/c$sig"
    "$BIN/train" --train "$TMP/d_train.bin" "${tiny[@]}" --steps 100000 --out "$d" >"$d.log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do grep -q '^step  *3/' "$d.log" 2>/dev/null && break; sleep 0.1; done
    kill -$sig $pid; wait $pid; rc=$?
    step=$(ls "$d" | sed -n 's/^model_0*\([0-9]*\)\.bin$/\1/p' | tail -1)
    if [ $rc = 0 ] && [ -n "$step" ] && [ -f "$d/state_$(printf %08d "$step").bin" ]; then pass train/sig${sig}_checkpoint
    else fail train/sig${sig}_checkpoint "exit $rc, checkpoint step '$step'"; fi
    if "$BIN/train" --resume "$d" --steps $((step + 2)) >"$d.2.log" 2>&1 && grep -q "resuming .* at step $step" "$d.2.log" &&
       [ -f "$d/model_$(printf %08d $((step + 2))).bin" ]; then pass train/resume_after_sig$sig
    else fail train/resume_after_sig$sig "$(tail -2 "$d.2.log")"; fi
done

# 3b. Two runs on one folder: the second is refused at once (the folder's
# lock), and the first finishes untouched.
"$BIN/train" --train "$TMP/d_train.bin" "${tiny[@]}" --steps 100000 --out "$TMP/l" >"$TMP/l.log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q '^step  *1/' "$TMP/l.log" 2>/dev/null && break; sleep 0.1; done
"$BIN/train" --train "$TMP/d_train.bin" "${tiny[@]}" --steps 5 --out "$TMP/l" >/dev/null 2>"$TMP/l2.err"; rc2=$?
"$BIN/train" --resume "$TMP/l" >/dev/null 2>"$TMP/l3.err"; rc3=$?
kill -TERM $pid; wait $pid; rc=$?
if [ $rc = 0 ] && [ $rc2 = 1 ] && [ $rc3 = 1 ] && grep -q 'another training run is using this folder' "$TMP/l2.err" &&
   grep -q 'another training run' "$TMP/l3.err" && ls "$TMP/l"/state_*.bin >/dev/null 2>&1; then pass train/second_run_on_a_folder_refused
else fail train/second_run_on_a_folder_refused "first exit $rc, second $rc2 ($(head -c 200 "$TMP/l2.err")), resume $rc3"; fi

# 4. Samples print valid UTF-8: an untrained model often samples byte tokens
# that do not make up a character, and those must print as U+FFFD (the lines
# grep's UTF-8 '.*' cannot match are the ill-formed ones).
"$BIN/train" --train "$TMP/d_train.bin" --layers 1 --heads 2 --channels 32 --context 64 -b 1 -t 16 --steps 8 \
    --sample-every 1 --sample-tokens 63 --seed 1 --out "$TMP/s" >"$TMP/s.log" 2>&1
ill_formed=$(LC_ALL=C.UTF-8 grep -caxv '.*' "$TMP/s.log")
replaced=$(grep -o $'\xef\xbf\xbd' "$TMP/s.log" | wc -l)
if [ "$(printf 'a\xe4\xb8\n' | LC_ALL=C.UTF-8 grep -caxv '.*')" != 1 ]; then
    skip train/sample_valid_utf8 "grep cannot tell ill-formed UTF-8 here (no C.UTF-8 locale)"
elif [ "$ill_formed" != 0 ] || ! grep -q -- '---- sample' "$TMP/s.log"; then
    fail train/sample_valid_utf8 "$ill_formed lines of ill-formed UTF-8; $(tail -1 "$TMP/s.log")"
elif [ "$replaced" = 0 ]; then skip train/sample_valid_utf8 "these samples held no ill-formed bytes to replace"
else pass "train/sample_valid_utf8 ($replaced U+FFFD)"; fi

# 5. Generation from the trained checkpoint: greedy is reproducible, a
# Chinese prompt works, and the prompt is echoed.
model="$TMP/run/model_00000040.bin"
"$BIN/generate" --model "$model" --prompt "ROMEO:" --tokens 12 --temperature 0 >"$TMP/g1" 2>/dev/null
"$BIN/generate" --model "$model" --prompt "ROMEO:" --tokens 12 --temperature 0 >"$TMP/g2" 2>/dev/null
check generate/greedy_reproducible cmp -s "$TMP/g1" "$TMP/g2"
check generate/echoes_prompt grep -q '^ROMEO:' "$TMP/g1"
"$BIN/generate" --model "$model" --prompt "今天天气很好" --tokens 5 --seed 2 >"$TMP/g3" 2>/dev/null
check generate/chinese_prompt grep -q '^今天天气很好' "$TMP/g3"
check generate/sampling_seeded cmp -s <("$BIN/generate" --model "$model" --prompt "a" --tokens 9 --seed 5 2>/dev/null) \
    <("$BIN/generate" --model "$model" --prompt "a" --tokens 9 --seed 5 2>/dev/null)
# --samples: sample 1 is the single run with the same seed, every sample is
# printed under its heading, greedy samples are all the same, and --raw and
# --max-length still work with several.
"$BIN/generate" --model "$model" --prompt "a" --tokens 9 --seed 5 --samples 4 >"$TMP/g4" 2>/dev/null
awk '/^--- sample 2 of 4 ---$/ {exit} seen {print} /^--- sample 1 of 4 ---$/ {seen = 1}' "$TMP/g4" >"$TMP/g4_first"
check generate/samples_first_equals_single_run cmp -s "$TMP/g4_first" \
    <("$BIN/generate" --model "$model" --prompt "a" --tokens 9 --seed 5 2>/dev/null)
check generate/samples_each_headed [ "$(grep -- '^--- sample' "$TMP/g4" | tr '\n' '|')" \
    = "--- sample 1 of 4 ---|--- sample 2 of 4 ---|--- sample 3 of 4 ---|--- sample 4 of 4 ---|" ]
"$BIN/generate" --model "$model" --prompt "ROMEO:" --tokens 12 --temperature 0 --samples 3 >"$TMP/g5" 2>/dev/null
check generate/samples_greedy_identical cmp -s "$TMP/g5" <(for i in 1 2 3; do echo "--- sample $i of 3 ---"; cat "$TMP/g1"; done)
check generate/samples_raw_max_length [ "$("$BIN/generate" --model "$model" --prompt "a" --max-length 6 --raw \
    --samples 2 2>/dev/null | grep -c -- '^--- sample')" = 2 ]

# 6. LoRA: the model of 1 fine-tuned through adapters on another text (this
# repository's C sources). Validation loss falls; the checkpoints are small
# adapters files (no model file); resume is bit-identical, samples included
# (they run through the adapters); merge_lora makes a checkpoint generate reads.
cat gpt2.c lora.c train.c | head -c 60000 >"$TMP/code.txt"
"$BIN/tokenize" shard --val-fraction 0.1 --out "$TMP/code" "$TMP/code.txt" 2>/dev/null
lora=(--init "$model" --train "$TMP/code_train.bin" --val "$TMP/code_val.bin" -b 4 -t 32)
"$BIN/train" "${lora[@]}" --lora 8 --lora-targets qkv,attproj,fc,fcproj --steps 60 --lr 1e-2 --warmup 5 \
    --eval-every 20 --eval-batches 4 --out "$TMP/lora" >"$TMP/lora.log" 2>&1
first=$(grep -m1 'val loss' "$TMP/lora.log" | awk '{print $NF}')
last=$(grep 'val loss' "$TMP/lora.log" | tail -1 | awk '{print $NF}')
if awk -v a="$first" -v b="$last" 'BEGIN { exit !(a > 0 && b < a - 0.3) }'; then pass "train/lora_learns ($first -> $last)"
else fail train/lora_learns "val loss $first -> $last; $(tail -2 "$TMP/lora.log")"; fi
check train/lora_checkpoint_is_adapters [ -f "$TMP/lora/lora_00000060.bin" ] && [ -f "$TMP/lora/state_00000060.bin" ] && \
    [ ! -e "$TMP/lora/model_00000060.bin" ] && [ "$(stat -c %s "$TMP/lora/lora_00000060.bin")" -lt $(( $(stat -c %s "$model") / 4 )) ]
check train/lora_line_says_what_trains grep -q '^LoRA: rank 8, alpha 8, on qkv,attproj,fc,fcproj' "$TMP/lora.log"
common=("${lora[@]}" --lora 3 --lora-alpha 6 --steps 8 --warmup 2 --grad-accum 2 --eval-every 3 --eval-batches 2
        --sample-every 3 --sample-tokens 8 --grad-clip 0.5)
"$BIN/train" "${common[@]}" --out "$TMP/la" >"$TMP/la.log" 2>&1
"$BIN/train" "${common[@]}" --out "$TMP/lb" --stop-after 4 >"$TMP/lb1.log" 2>&1
"$BIN/train" --resume "$TMP/lb" >"$TMP/lb2.log" 2>&1
check train/lora_resume_bit_identical cmp -s "$TMP/la/lora_00000008.bin" "$TMP/lb/lora_00000008.bin"
check train/lora_resume_same_samples cmp -s <(grep -a -A2 -- '---- sample' "$TMP/la.log" | tail -3) \
    <(grep -a -A2 -- '---- sample' "$TMP/lb2.log" | tail -3)
if "$BIN/merge_lora" "$TMP/lora" "$TMP/merged.bin" >"$TMP/m.log" 2>&1 &&
   "$BIN/generate" --model "$TMP/merged.bin" --prompt "int main" --tokens 8 --temperature 0 >"$TMP/g_merged" 2>/dev/null &&
   grep -q '^int main' "$TMP/g_merged"; then pass train/merge_lora_generates
else fail train/merge_lora_generates "$(head -c 300 "$TMP/m.log")"; fi
# Bad data and bad flags: test/bad_inputs.sh.
