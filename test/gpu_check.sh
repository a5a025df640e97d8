#!/usr/bin/env bash
# gpu_check.sh: everything the GPU path promises, on a machine with a GPU, in
# under 5 minutes (H200 estimate: about 2). Run from anywhere:
#     bash test/gpu_check.sh [SHARED_DIR]      (default ../shared)
#  1. builds the CPU and GPU programs (make -j, make cuda);
#  2. ./test_kernels: every kernel against its CPU function;
#  3. ./compare_cpu_gpu on every reference fixture (10 steps), and on a random
#     GPT-2 124M-shaped model (B=4, T=64, 3 steps);
#  4. times ./train_gpu for 20 steps at B=4, T=64 and at B=16, T=1024 on a
#     random 124M-shaped model and a generated token shard (SKIP if there is
#     no ./train_gpu yet).
# Ends with "N passed, N failed, N skipped"; exit 1 if anything failed.
# GPU_CHECK_EMULATE=1 runs it all through the CUDA emulator at toy sizes (make
# test does, in test_cuda_emu.sh): a check of this script, not of a GPU.
cd "$(dirname "$0")/.." || exit 1
SHARED=${1:-${SHARED:-../shared}}
BIN=.
source test/lib.sh
# every program's full output is kept here (the summary shows only the gist)
LOGS=${GPU_CHECK_LOGS:-/tmp/gpu_check}
mkdir -p "$LOGS"
npass=0; nfail=0; nskip=0
pass() { echo "PASS $1"; npass=$((npass + 1)); }
fail() { echo "FAIL $1: $2"; nfail=$((nfail + 1)); }
skip() { echo "SKIP $1: $2"; nskip=$((nskip + 1)); }
t0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - t0 )) s"; }

# train_gpu takes the CPU trainer's flags; these are the ones this script uses.
MODEL_FLAGS=(--layers 12 --heads 12 --channels 768 --context 1024)
RANDOM_NAME=random_124M
RANDOM_MODEL=("${MODEL_FLAGS[@]}" --vocab 50257)
TRAIN_SHAPES=("4 64" "16 1024")
TRAIN_STEPS=20
PROGS=.
BUILD_TARGET=cuda
# GPU_CHECK_EMULATE=1: the same script through the CUDA emulator (make emu) at
# toy sizes, so that its plumbing is tested on every machine (test_cuda_emu.sh);
# its timings mean nothing.
if [ "${GPU_CHECK_EMULATE:-0}" = 1 ]; then
    MODEL_FLAGS=(--layers 2 --heads 2 --channels 32 --context 64)
    RANDOM_NAME=random_small
    RANDOM_MODEL=(--layers 2 --heads 3 --channels 48 --context 64 --vocab 500)
    TRAIN_SHAPES=("2 16" "2 64")
    TRAIN_STEPS=2
    PROGS=${EMU_BUILD:-build/emu}
    BUILD_TARGET=emu
    LOGS=$TMP/logs
    mkdir -p "$LOGS"
fi
DATA_FLAG=--train
STEPS_FLAG=--steps

echo "== build ($(nvidia-smi -L 2>/dev/null | head -1))"
jobs=$(nproc 2>/dev/null || echo 4)
if make -j"$jobs" >"$TMP/build" 2>&1 && make -j"$jobs" $BUILD_TARGET >>"$TMP/build" 2>&1; then pass build
else fail build "$(grep -m3 -E 'error|warning' "$TMP/build")"; fi
echo "  ($(elapsed))"

echo "== test_kernels"
if [ ! -x $PROGS/test_kernels ]; then fail test_kernels "not built"
elif ! $PROGS/test_kernels --gpu-present; then fail test_kernels "no usable CUDA GPU"
else
    timeout 120 $PROGS/test_kernels >"$LOGS/test_kernels.txt" 2>&1; rc=$?
    grep -v '^PASS ' "$LOGS/test_kernels.txt" | sed 's/^/  /'
    echo "  $(grep -c '^PASS ' "$LOGS/test_kernels.txt") kernel checks passed"
    if [ $rc -eq 0 ] && ! grep -q '^FAIL ' "$LOGS/test_kernels.txt"; then pass test_kernels
    else fail test_kernels "exit $rc, $(grep -c '^FAIL ' "$LOGS/test_kernels.txt") failed checks"; fi
fi
echo "  ($(elapsed))"

echo "== compare_cpu_gpu"
run_compare() { # NAME ARGS...
    local name=$1; shift
    local out="$LOGS/compare_$name.txt"
    timeout 150 "$PROGS/compare_cpu_gpu" "$@" >"$out" 2>&1; local rc=$?
    grep -E 'FAIL|^loss|^step|rerun|^model' "$out" | sed 's/^/  /'
    # the largest relative difference among activations and among gradients
    awk '($NF == "OK" || $NF == "FAIL") && $1 != "loss:" && $1 != "step" { if ($(NF-1) + 0 > worst) { worst = $(NF-1) + 0; at = $0 } }
         END { if (at != "") print "  worst relative difference:" at }' "$out"
    if [ $rc -eq 0 ]; then pass "compare_cpu_gpu/$name"
    else fail "compare_cpu_gpu/$name" "exit $rc: $(grep -m2 -E 'FAIL|gpt2c' "$out" | tr '\n' ' ')"; fi
}
for dir in "$SHARED"/fixtures/gpt2/*/; do
    [ -f "$dir/model.bin" ] && [ -f "$dir/state.bin" ] || continue
    run_compare "$(basename "$dir")" "$dir/model.bin" "$dir/state.bin" --steps 10
done
run_compare "$RANDOM_NAME" random "${RANDOM_MODEL[@]}" -b 4 -t 64 --steps 3
echo "  ($(elapsed))"

echo "== train_gpu timing"
if [ ! -x $PROGS/train_gpu ]; then
    skip train_gpu/B4_T64 "no $PROGS/train_gpu"
    skip train_gpu/B16_T1024 "no $PROGS/train_gpu"
else
    # a shard of 400k random GPT-2 token ids (magic 20240520, version 1, uint16)
    cat >"$TMP/shard.c" <<'C'
#include <stdint.h>
#include <stdio.h>
int main(int argc, char **argv) {
    enum { N = 400000 };
    static uint16_t tok[N];
    int32_t header[256] = {20240520, 1, N};
    uint64_t s = 88172645463325252ull;
    for (int i = 0; i < N; i++) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; tok[i] = (uint16_t)(s % 50257); }
    FILE *f = argc > 1 ? fopen(argv[1], "wb") : NULL;
    if (!f || fwrite(header, 4, 256, f) != 256 || fwrite(tok, 2, N, f) != N) return 1;
    return fclose(f) != 0;
}
C
    ${CC:-cc} -O2 -o "$TMP/shard" "$TMP/shard.c" && "$TMP/shard" "$TMP/tokens.bin" || fail train_gpu/shard "could not write the token shard"
    for bt in "${TRAIN_SHAPES[@]}"; do
        set -- $bt
        name="train_gpu/B$1_T$2"
        out="$LOGS/train_gpu_B$1_T$2.txt"
        start=$(date +%s.%N)
        if timeout 200 $PROGS/train_gpu "${MODEL_FLAGS[@]}" $DATA_FLAG "$TMP/tokens.bin" $STEPS_FLAG "$TRAIN_STEPS" -b "$1" -t "$2" --warmup 2 --out "$TMP/run_B$1_T$2" >"$out" 2>&1; then
            pass "$name"
            awk -v n="$TRAIN_STEPS" -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "  %d steps in %.1f s including start-up: %.0f ms/step\n", n, b - a, 1000 * (b - a) / n }'
            tail -2 "$out" | sed 's/^/  /'
        else fail "$name" "$(tail -2 "$out" | tr '\n' ' ')"; fi
    done
fi
echo "  ($(elapsed))"

echo
echo "$npass passed, $nfail failed, $nskip skipped (in $(elapsed)); full outputs in $LOGS"
[ "$nfail" -eq 0 ]
