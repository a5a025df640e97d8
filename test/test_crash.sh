#!/usr/bin/env bash
# Crash safety of ./train (see "Crash safety" in rundir.c and notes.md).
# A tiny model checkpoints after every step, so most of its time is spent
# writing checkpoints, and it is killed with SIGKILL at random moments, again
# and again, each time resumed from what the previous kill left. After every
# kill: each checkpoint file under its real name is complete, the newest
# complete checkpoint is the one --resume picks, and resuming works. At the
# end, the run that was killed N times equals an uninterrupted run bit for bit
# (the learning rate is held constant so that --steps does not change it).
# Then: NaN weights or optimizer state are refused at load, and a run whose
# loss turns NaN stops with a clear message.
source "$(dirname "$0")/lib.sh"
KILLS=${CRASH_KILLS:-12}
# One thread: on a machine shared with other jobs, OpenMP's spinning threads
# can make each step 20x slower, and then few kills would land after a save.
export OMP_NUM_THREADS=1

# 4000 pseudo-random token ids below 50257, deterministic
make_shard "$TMP/data.bin" 20240520 1 4000 $(awk 'BEGIN { x = 7; for (i = 0; i < 4000; i++) { x = (x * 1103515245 + 12345) % 2147483648; print x % 50257 } }')
tiny=(--train "$TMP/data.bin" --layers 1 --heads 1 --channels 8 --context 16 -b 2 -t 8
      --lr 1e-3 --lr-min 1e-3 --warmup 0 --checkpoint-every 1 --keep-checkpoints 2)
D="$TMP/run"

# newest DIR: the newest step with both files, or -1 (the rule of newest_checkpoint)
newest() {
    local s
    for s in $(ls "$1" 2>/dev/null | sed -n 's/^state_\([0-9]\{8\}\)\.bin$/\1/p' | sort -r); do
        [ -f "$1/model_$s.bin" ] && { echo $((10#$s)); return; }
    done
    echo -1
}
# complete_files DIR: every model and state file under its real name has the full size
complete_files() {
    local f want
    for f in "$1"/model_*.bin "$1"/state_*.bin; do
        [ -e "$f" ] || continue
        case $f in */model_*) want=$model_bytes ;; *) want=$state_bytes ;; esac
        [ "$(stat -c %s "$f")" -eq "$want" ] || { echo "$f is $(stat -c %s "$f") bytes, not $want"; return 1; }
    done
}

# A first, uninterrupted step gives the file sizes.
"$BIN/train" "${tiny[@]}" --steps 1 --out "$TMP/sizes" >/dev/null 2>&1
model_bytes=$(stat -c %s "$TMP/sizes/model_00000001.bin" 2>/dev/null || echo 0)
state_bytes=$(stat -c %s "$TMP/sizes/state_00000001.bin" 2>/dev/null || echo 0)
if [ "$model_bytes" -eq 0 ]; then fail crash/setup "a one-step run wrote no checkpoint"; exit 0; fi

ok=1 why="" during_write=0 resumed=0 expect=-1
RANDOM=42
for k in $(seq "$KILLS"); do
    if [ "$expect" -lt 0 ]; then args=("${tiny[@]}" --out "$D"); else args=(--resume "$D"); fi
    "$BIN/train" "${args[@]}" --steps 1000000 >"$TMP/log$k" 2>&1 &
    pid=$!
    sleep "0.$((RANDOM % 40 + 10))"
    kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null
    # a kill during start-up leaves an empty log; otherwise it names the step
    if [ "$expect" -ge 0 ] && grep -q "^resuming" "$TMP/log$k"; then
        if grep -q "^resuming $D at step $expect of" "$TMP/log$k"; then resumed=$((resumed + 1))
        else ok=0; why="kill $k: --resume did not start at step $expect: $(head -c 200 "$TMP/log$k")"; break; fi
    fi
    ls "$D"/*.tmp >/dev/null 2>&1 && during_write=$((during_write + 1))
    msg=$(complete_files "$D") || { ok=0; why="kill $k: $msg"; break; }
    expect=$(newest "$D")
done
if [ $ok = 1 ] && [ "$expect" -ge 1 ]; then
    pass "crash/every_kill_leaves_complete_checkpoints ($KILLS kills, $during_write during a write, newest step $expect)"
else fail crash/every_kill_leaves_complete_checkpoints "${why:-no checkpoint after $KILLS kills}"; fi
check "crash/resume_after_kills ($resumed)" [ "$resumed" -ge $((KILLS / 2)) ]

# Finish the run: resume to a fixed step; compare with an uninterrupted run.
final=$((expect + 3))
"$BIN/train" --resume "$D" --steps $final >"$TMP/final.log" 2>&1
"$BIN/train" "${tiny[@]}" --steps $final --out "$TMP/ref" >/dev/null 2>&1
m=model_$(printf %08d $final).bin
if cmp -s "$D/$m" "$TMP/ref/$m"; then pass "crash/killed_run_equals_uninterrupted_run (step $final)"
else fail crash/killed_run_equals_uninterrupted_run "$D/$m differs from $TMP/ref/$m; $(tail -1 "$TMP/final.log")"; fi
n_states=$(ls "$D" | grep -c '^state_')
n_models=$(ls "$D" | grep -c '^model_')
n_tmp=$(ls "$D" | grep -c '\.tmp$')
check crash/prune_sweeps_leftovers [ "$n_states" -eq 2 ] && [ "$n_models" -eq 2 ] && [ "$n_tmp" -eq 0 ]

# A NaN weight (here the final layernorm's shift) is refused when the
# checkpoint is loaded, naming the tensor; so is a NaN in AdamW's state. The
# checkpoint stays as it was, no new one is written, and once repaired the
# run resumes.
last=$(newest "$D")
mfile="$D/model_$(printf %08d "$last").bin" sfile="$D/state_$(printf %08d "$last").bin"
cp "$mfile" "$TMP/good.bin"; cp "$sfile" "$TMP/good_state.bin"
printf '\x00\x00\xc0\x7f' | dd of="$mfile" bs=1 seek=$((model_bytes - 4)) conv=notrunc status=none
cp "$mfile" "$TMP/nan.bin"
expect_error crash/nan_weight_refused_at_load 1 "model_[0-9]{8}.bin: tensor lnfb holds NaN at element 7" \
    "$BIN/train" --resume "$D" --steps $((last + 5))
check crash/nan_keeps_last_checkpoint cmp -s "$mfile" "$TMP/nan.bin"
check crash/nan_writes_no_new_checkpoint [ "$(newest "$D")" -eq "$last" ]
cp "$TMP/good.bin" "$mfile"
printf '\x00\x00\x80\x7f' | dd of="$sfile" bs=1 seek=$((1024 + 3 * 512 + 4 * 3)) conv=notrunc status=none
expect_error crash/nan_optimizer_state_refused 1 "state_[0-9]{8}.bin: corrupt state: AdamW's m holds inf at parameter 3" \
    "$BIN/train" --resume "$D" --steps $((last + 5))
cp "$TMP/good_state.bin" "$sfile"
"$BIN/train" --resume "$D" --steps $((last + 1)) >/dev/null 2>&1; rc=$?
check crash/resume_after_repair [ $rc = 0 ] && [ "$(newest "$D")" -eq $((last + 1)) ]

# A run that diverges (a learning rate of 10) stops at the first non-finite
# loss with exit 1, and says that it wrote no checkpoint yet.
expect_error crash/diverged_run_stops 1 "step [0-9]+: the loss is (NaN|infinite); stopping \(no checkpoint was written to .*diverge\)" \
    "$BIN/train" "${tiny[@]}" --lr 10 --lr-min 10 --grad-clip 0 --wd 0 --beta2 0 --checkpoint-every 0 --steps 50 \
    --out "$TMP/diverge"
