#!/usr/bin/env bash
# The reference build (`make REFERENCE=1`: every op from gpt2.c's plain
# loops, no speed layer) through the checks that say the model is right:
# the fixtures (logits, loss, gradients, AdamW steps), the finite-difference
# gradient check, the KV cache against the full forward pass, and the
# end-to-end training run. Results are the same checks' lines, named
# reference/... . REF_BIN is that build's folder (the Makefile builds it).
source "$(dirname "$0")/lib.sh"
REF_BIN=${REF_BIN:-build/ref}
if [ ! -x "$REF_BIN/train" ] || [ ! -x "$REF_BIN/test_gradcheck" ]; then
    skip reference "no reference build in $REF_BIN (make REFERENCE=1 all $REF_BIN/test_gradcheck $REF_BIN/test_kvcache)"
    exit 0
fi
# run COMMAND...: its result lines renamed reference/NAME; a non-zero exit
# without a FAIL line is a failure too (as in test/run.sh)
run() {
    local name=$1; shift
    "$@" >"$TMP/log" 2>&1
    local rc=$?
    sed -nE 's/^(PASS|FAIL|SKIP) /\1 reference\//p' "$TMP/log"
    grep -v -E '^(PASS|FAIL|SKIP) ' "$TMP/log" | head -20
    if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$TMP/log"; then fail "reference/$name" "exited with status $rc"; fi
}
run fixtures env BIN="$REF_BIN" bash test/test_fixtures.sh
run gradcheck "$REF_BIN/test_gradcheck"
run kvcache "$REF_BIN/test_kvcache"
run train env BIN="$REF_BIN" bash test/test_train.sh
