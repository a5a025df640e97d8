#!/usr/bin/env bash
# gpu_check.sh: what the GPU path promises, checked on a machine with a GPU in
# at most 8 minutes, whatever happens. Run from anywhere:
#     bash test/gpu_check.sh [SHARED_DIR]      (default ../shared)
# Phases, in order of importance; before each, the time left of the overall
# budget (GPU_CHECK_BUDGET, 480 s) is checked, and a phase that no longer fits
# is skipped with a SKIP line; every command runs under a timeout that ends
# within the budget.
#  1. build, for this GPU's architecture only (nvidia-smi's compute capability),
#     with warnings not fatal (WERROR=0), into build/gpu_check;
#  2. test_kernels: every kernel against its CPU function, the products with
#     each kernel set (readable, fast, fast+tf32);
#  3. compare_cpu_gpu with --kernels fast and readable: every reference fixture
#     (10 AdamW steps; 3 emulated) and a random 2-layer model of GPT-2 small's width at
#     B=2, T=1024 (full-length attention, dW sums over 2048 rows; 2 steps);
#     then that model with --tf32 (its own tolerances);
#  4. train_gpu on GPT-2 124M (random init, a random token shard), T=1024,
#     each kernel set at B=16 (with a per-op profile of step 3, CUDA events)
#     and B=4: the steady-state step time train_gpu measures itself (the
#     median of the steps after the first 2: start-up, initialisation and
#     the final checkpoint never counted), and tokens/s;
#  5. one summary block, ready to paste into an issue note (also written to
#     $LOGS/summary.md), then "N passed, N failed, N skipped".
# Exit 1 if anything failed. Full outputs stay in $LOGS (/tmp/gpu_check).
#
# GPU_CHECK_EMULATE=1 runs every phase through the CUDA emulator (make emu)
# at toy sizes, so that this script is tested on every machine (make test
# does, in test_cuda_emu.sh); its timings mean nothing.
cd "$(dirname "$0")/.." || exit 1
SHARED=${1:-${SHARED:-../shared}}
source test/lib.sh
EMULATE=${GPU_CHECK_EMULATE:-0}
LOGS=${GPU_CHECK_LOGS:-/tmp/gpu_check}
[ "$EMULATE" = 1 ] && LOGS=$TMP/logs
mkdir -p "$LOGS"
BUDGET=${GPU_CHECK_BUDGET:-480}
RESERVE=20 # seconds kept back for the summary and a killed command's grace period
t0=$(date +%s)
npass=0; nfail=0; nskip=0
pass() { echo "PASS $1"; npass=$((npass + 1)); }
fail() { echo "FAIL $1: $2"; nfail=$((nfail + 1)); echo "FAIL $1: $2" >>"$LOGS/problems"; }
skip() { echo "SKIP $1: $2"; nskip=$((nskip + 1)); echo "SKIP $1: $2" >>"$LOGS/problems"; }
: >"$LOGS/problems"
used() { echo $(( $(date +%s) - t0 )); }
left() { echo $(( BUDGET - $(used) - RESERVE )); }
# fits NAME SECONDS: is there time for a step that may take SECONDS? (SKIP line if not)
fits() {
    if [ "$(left)" -ge "$2" ]; then return 0; fi
    skip "$1" "budget: $(left) s left of $BUDGET s, this needs up to $2 s"
    return 1
}
# run_capped CAP LOG CMD...: CMD with a timeout of CAP seconds or what is left,
# whichever is less; its output goes to LOG; its exit status is returned (124: timed out).
run_capped() {
    local cap=$1 log=$2; shift 2
    local limit; limit=$(left)
    [ "$limit" -gt "$cap" ] && limit=$cap
    [ "$limit" -lt 1 ] && limit=1
    timeout -k 5 "$limit" "$@" >"$log" 2>&1
}
# why STATUS LOG: one line on a failed command
why() { if [ "$1" -eq 124 ] || [ "$1" -eq 137 ]; then echo "timed out"; else echo "exit $1: $(grep -m2 -E 'FAIL|gpt2c|rror' "$2" | tr '\n' ' ')"; fi; }

# The sizes: real (GPT-2 small's width, T=1024), or toys for the emulator.
pick() { if [ "$EMULATE" = 1 ]; then echo "$2"; else echo "$1"; fi; } # pick REAL TOY
# shellcheck disable=SC2207
CMP_RANDOM=($(pick "--layers 2 --heads 12 --channels 768 --context 1024 --vocab 50257 -b 2 -t 1024 --steps 2" \
                   "--layers 2 --heads 3 --channels 48 --context 64 --vocab 500 -b 2 -t 64 --steps 2"))
CMP_RANDOM_NAME=$(pick random_2L_C768_B2_T1024 random_2L_C48_B2_T64)
# shellcheck disable=SC2207
TRAIN_MODEL=($(pick "--layers 12 --heads 12 --channels 768 --context 1024" "--layers 2 --heads 2 --channels 32 --context 32"))
TRAIN_NAME=$(pick "GPT-2 124M" "toy 2L C32")
TRAIN_T=$(pick 1024 16)
# shellcheck disable=SC2207
TRAIN_BATCHES=($(pick "16 4" "2 1"))
PROFILE_B=${TRAIN_BATCHES[0]} # the first batch size's run also profiles one step
TRAIN_STEPS=$(pick 8 4)
SHARD_TOKENS=$(pick 400000 4000)
FIXTURE_STEPS=$(pick 10 3)

# ---- 1. build
echo "== build (at $(used) s)"
if [ "$EMULATE" = 1 ]; then
    PROGS=${EMU_BUILD:-build/emu}
    gpu="CUDA emulator on the CPU (toy sizes: the timings mean nothing)"
    arch="emulated"
    build=(make -j"$(nproc)" emu)
else
    PROGS=build/gpu_check
    gpu=$(nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
    cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
    NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
    if [ -n "$cc" ] && "$NVCC" --list-gpu-arch 2>/dev/null | grep -qx "compute_$cc"; then
        arch="-gencode arch=compute_$cc,code=sm_$cc"
    else # no GPU seen, or one newer than this nvcc: PTX, compiled by the driver at the first launch
        arch="-gencode arch=compute_90,code=compute_90"
    fi
    build=(make -j"$(nproc)" BUILD="$PROGS" BIN="$PROGS" NVCC="$NVCC" NVCC_ARCH="$arch" WERROR=0 cuda)
fi
echo "  GPU: ${gpu:-none found}; building for: $arch"
build_s=""
if fits build 60; then
    start=$(date +%s)
    run_capped 240 "$LOGS/build.txt" "${build[@]}"; rc=$?
    build_s=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then pass "build (${build_s} s)"
    else fail build "$(why $rc "$LOGS/build.txt"): $(grep -m2 -E 'error' "$LOGS/build.txt" | tr '\n' ' ')"; fi
    warnings=$(grep -c 'warning' "$LOGS/build.txt")
fi

# ---- 2. test_kernels
echo "== test_kernels (at $(used) s)"
kernel_summary="not run"
gpu_ok=1 # without a usable GPU the later phases are skipped, not failed one by one
if [ ! -x "$PROGS/test_kernels" ]; then skip test_kernels "not built"
elif ! "$PROGS/test_kernels" --gpu-present; then fail test_kernels "no usable CUDA GPU"; kernel_summary="no GPU"; gpu_ok=0
elif fits test_kernels 30; then
    run_capped 120 "$LOGS/test_kernels.txt" "$PROGS/test_kernels"; rc=$?
    out="$LOGS/test_kernels.txt"
    grep -v '^PASS ' "$out" | head -20 | sed 's/^/  /'
    n=$(grep -c '^PASS ' "$out"); nf=$(grep -c '^FAIL ' "$out")
    per_set=""
    for set in readable fast fast+tf32; do # names hold /SET/ or end in /SET
        per_set+="$set $(awk -v s="/$set" '$1 == "PASS" && (index($2, s "/") || substr($2, length($2) - length(s) + 1) == s)' "$out" | wc -l), "
    done
    kernel_summary="$n checks passed, $nf failed (${per_set%, }; the rest are the ops both sets share)"
    echo "  $kernel_summary"
    if [ $rc -eq 0 ] && [ "$nf" -eq 0 ]; then pass test_kernels; else fail test_kernels "$(why $rc "$out"), $nf failed checks"; fi
fi

# ---- 3. compare_cpu_gpu
echo "== compare_cpu_gpu (at $(used) s)"
printf '| comparison | kernels | result | worst activation | worst gradient | loss diff | last step diff |\n|---|---|---|---|---|---|---|\n' >"$LOGS/compare.md"
# compare NAME KERNEL_FLAGS CAP ARGS...: one comparison, one row of the table
compare() {
    local name=$1 flags=$2 cap=$3; shift 3
    local set=${flags#--kernels }; [ "$flags" = --tf32 ] && set=fast+tf32
    local check="compare_cpu_gpu/$name/$set" out="$LOGS/compare_${name}_$set.txt" rc row
    fits "$check" 20 || return
    # shellcheck disable=SC2086
    run_capped "$cap" "$out" "$PROGS/compare_cpu_gpu" "$@" $flags; rc=$?
    # the largest relative difference among activations and among gradients; the loss and the last step
    row=$(awk '/^activations/ { sec = "a" } /^gradients/ { sec = "g" }
        /^  / && ($NF == "OK" || $NF == "FAIL") { # "  NAME  max-abs-diff  relative  OK"
            v = $(NF - 1) + 0; name = $1; for (i = 2; i <= NF - 3; i++) name = name " " $i
            if (!(sec in w) || v > w[sec]) { w[sec] = v; at[sec] = name } }
        $1 == "loss:" || $1 == "step" { for (i = 1; i < NF; i++) if ($i == "diff") d = $(i + 1)
            if ($1 == "loss:") loss = d; else last = d }
        function worst(s) { return (s in w) ? sprintf("%.1e (%s)", w[s], at[s]) : "-" }
        END { printf "%s | %s | %s | %s", worst("a"), worst("g"), loss == "" ? "-" : loss, last == "" ? "-" : last }' "$out")
    grep -E 'FAIL' "$out" | head -3 | sed 's/^/  /'
    if [ $rc -eq 0 ]; then pass "$check"; result=PASS
    else fail "$check" "$(why $rc "$out")"; result=FAIL; fi
    echo "  $row"
    echo "| $name | $set | $result | $row |" >>"$LOGS/compare.md"
}
if [ ! -x "$PROGS/compare_cpu_gpu" ]; then skip compare_cpu_gpu "not built"
elif [ $gpu_ok = 0 ]; then skip compare_cpu_gpu "no usable CUDA GPU"
else
    ls "$SHARED"/fixtures/gpt2/*/state.bin >/dev/null 2>&1 ||
        skip compare_cpu_gpu/fixtures "no fixtures in $SHARED/fixtures/gpt2"
    for flags in "--kernels fast" "--kernels readable"; do
        for dir in "$SHARED"/fixtures/gpt2/*/; do
            [ -f "$dir/model.bin" ] && [ -f "$dir/state.bin" ] || continue
            compare "fixture_$(basename "$dir")" "$flags" 60 "$dir/model.bin" "$dir/state.bin" --steps "$FIXTURE_STEPS"
        done
        compare "$CMP_RANDOM_NAME" "$flags" 90 random "${CMP_RANDOM[@]}"
    done
    compare "$CMP_RANDOM_NAME" "--tf32" 90 random "${CMP_RANDOM[@]}"
fi

# ---- 4. train_gpu step time
echo "== train_gpu step time ($TRAIN_NAME, T=$TRAIN_T; at $(used) s)"
printf '| kernels | B | median ms/step | tokens/s | steady-state steps |\n|---|---:|---:|---:|---:|\n' >"$LOGS/timing.md"
if [ ! -x "$PROGS/train_gpu" ]; then skip train_gpu "not built"
elif [ $gpu_ok = 0 ]; then skip train_gpu "no usable CUDA GPU"
else
    # a shard of random GPT-2 token ids (magic 20240520, version 1, uint16)
    cat >"$TMP/shard.c" <<'C'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int n = atoi(argv[2]);
    uint16_t *tok = malloc(2 * (size_t)n);
    int32_t header[256] = {20240520, 1, n};
    uint64_t s = 88172645463325252ull;
    for (int i = 0; tok && i < n; i++) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; tok[i] = (uint16_t)(s % 50257); }
    FILE *f = fopen(argv[1], "wb");
    if (!tok || !f || fwrite(header, 4, 256, f) != 256 || fwrite(tok, 2, (size_t)n, f) != (size_t)n) return 1;
    return fclose(f) != 0;
}
C
    if ! { ${CC:-cc} -O2 -o "$TMP/shard" "$TMP/shard.c" && "$TMP/shard" "$TMP/tokens.bin" "$SHARD_TOKENS"; }; then
        fail train_gpu/shard "could not write the token shard"
    else
        for kernels in fast readable; do
            for B in "${TRAIN_BATCHES[@]}"; do
                name="train_gpu/$kernels/B$B"
                out="$LOGS/train_gpu_${kernels}_B$B.txt"
                profile=(); [ "$B" = "$PROFILE_B" ] && profile=(--profile-step 3)
                fits "$name" 40 || continue
                run_capped 120 "$out" "$PROGS/train_gpu" "${TRAIN_MODEL[@]}" --train "$TMP/tokens.bin" \
                    --steps "$TRAIN_STEPS" -b "$B" -t "$TRAIN_T" --warmup 2 --kernels "$kernels" \
                    "${profile[@]}" --out "$TMP/run"; rc=$?
                rm -rf "$TMP/run" # the final checkpoint: 1.5 GB for 124M
                line=$(grep -m1 '^step time' "$out")
                if [ $rc -eq 0 ] && [ -n "$line" ]; then
                    pass "$name"
                    echo "  $line"
                    echo "$line" | awk -v k="$kernels" -v b="$B" '{ for (i = 1; i <= NF; i++) {
                            if ($i == "median") ms = $(i + 1); if ($i == "over") n = $(i + 1)
                            if ($i == "tokens/s") tok = $(i - 1) } }
                        END { printf "| %s | %d | %s | %s | %s |\n", k, b, ms, tok, n }' >>"$LOGS/timing.md"
                else fail "$name" "$(why $rc "$out")"; fi
                if [ -n "${profile[*]}" ]; then # keep the per-op table
                    awk '/^per-op profile/ { on = 1; next } on && /^\|/ { print; next } on { exit }' "$out" |
                        grep -v -e '^|---' -e '^| op ' >"$LOGS/profile_$kernels.txt"
                fi
            done
        done
    fi
fi

# ---- 5. the summary
# the per-op tables side by side: | op | calls | fast ms | readable ms |
profile_table() {
    [ -s "$LOGS/profile_fast.txt" ] || [ -s "$LOGS/profile_readable.txt" ] || return 0
    echo
    echo "per-op GPU time, step 3 at B=$PROFILE_B, T=$TRAIN_T (CUDA events around each op; ms summed over its calls)"
    echo "| op | calls | fast ms | readable ms |"
    echo "|---|---:|---:|---:|"
    local files=()
    for f in "$LOGS/profile_fast.txt" "$LOGS/profile_readable.txt"; do [ -s "$f" ] && files+=("$f"); done
    awk -F'|' 'function trim(s) { gsub(/^ +| +$/, "", s); return s }
        { op = trim($2); set = FILENAME ~ /profile_fast/ ? "f" : "r"
          if (!(op in calls)) { order[++n] = op; calls[op] = trim($3) }
          ms[op, set] = trim($4) }
        END { for (i = 1; i <= n; i++) { op = order[i]
                  f = ((op, "f") in ms) ? ms[op, "f"] : "-"; r = ((op, "r") in ms) ? ms[op, "r"] : "-"
                  printf "| %s | %s | %s | %s |\n", op, calls[op], f, r } }' "${files[@]}"
}
summary() {
    echo "==== gpu_check summary (paste into the issue note) ===="
    echo "gpt2c $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+changes'), $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "GPU: ${gpu:-none}; nvcc: $("${NVCC:-nvcc}" --version 2>/dev/null | grep -o 'release [0-9.]*' || echo '-'); built for: $arch${build_s:+ in $build_s s}${warnings:+ ($warnings warning lines)}"
    echo "budget: $(used) s used of $BUDGET s; $npass passed, $nfail failed, $nskip skipped"
    echo
    echo "test_kernels: $kernel_summary"
    echo
    echo "compare_cpu_gpu (relative = max |gpu-cpu| / max |cpu| per tensor; tolerances: compare_cpu_gpu --help)"
    cat "$LOGS/compare.md"
    echo
    echo "train_gpu on $TRAIN_NAME, T=$TRAIN_T: median step time over the steady-state steps (the first 2 and the profiled one left out)"
    cat "$LOGS/timing.md"
    profile_table
    if [ -s "$LOGS/problems" ]; then echo; echo "failed or skipped:"; sed 's/^/  /' "$LOGS/problems"; fi
    echo "===="
}
echo
summary | tee "$LOGS/summary.md"
echo
echo "$npass passed, $nfail failed, $nskip skipped (in $(used) s); full outputs in $LOGS"
[ "$nfail" -eq 0 ]
