#!/usr/bin/env bash
# A short training run (3 steps, a checkpoint each, validation), a resume,
# and a generation, each under valgrind's memcheck: no invalid reads or
# writes, no uninitialised values, no leaks. `make valgrind` builds the
# programs for it (no OpenMP, no -march=native: valgrind cannot decode AVX-512).
source "$(dirname "$0")/lib.sh"
VOCAB="${GPT2_VOCAB_DIR:-$SHARED/data/gpt2}"
if ! command -v valgrind >/dev/null; then skip valgrind "valgrind is not installed"; exit 0; fi
vg=(valgrind --error-exitcode=99 --leak-check=full --track-origins=yes --log-file="$TMP/vg.%p")
# run_vg NAME COMMAND...: passes if the command exits 0 and valgrind saw nothing
run_vg() {
    local name=$1; shift
    rm -f "$TMP"/vg.*
    "${vg[@]}" "$@" >"$TMP/out" 2>&1
    local rc=$? summary
    summary=$(grep -h 'ERROR SUMMARY' "$TMP"/vg.* | head -1)
    if [ $rc -eq 0 ] && grep -q 'ERROR SUMMARY: 0 errors' "$TMP"/vg.* && ! grep -q 'definitely lost: [1-9]' "$TMP"/vg.*; then
        pass "valgrind/$name"
    else fail "valgrind/$name" "exit $rc; ${summary:-no summary}; $(grep -h -m3 -E 'Invalid|uninitialised|lost:' "$TMP"/vg.* | tr '\n' ' ')"; fi
}
make_shard "$TMP/data.bin" 20240520 1 400 $(seq 100 499)
tiny=(--train "$TMP/data.bin" --val "$TMP/data.bin" --layers 1 --heads 2 --channels 8 --context 16 -b 2 -t 8
      --eval-every 2 --eval-batches 2 --checkpoint-every 1 --out "$TMP/run")
run_vg train_3_steps "$BIN/train" "${tiny[@]}" --steps 3
run_vg train_resume "$BIN/train" --resume "$TMP/run" --steps 4
if [ -f "$VOCAB/encoder.json" ]; then
    run_vg generate "$BIN/generate" --model "$TMP/run/model_00000004.bin" --vocab "$VOCAB" --prompt "Hello, 世界" --tokens 4
else skip valgrind/generate "no vocabulary in $VOCAB"; fi
