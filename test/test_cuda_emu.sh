#!/usr/bin/env bash
# The GPU code, run on the CPU by the CUDA emulator (test/cuda_emu, `make emu`),
# so that every machine checks what the kernels compute, not only that nvcc
# compiles them:
#   1. the emulator's own checks (test_cuda_emu: it must catch a missing
#      barrier, an out-of-bounds write, a host pointer, a deadlock, a bad
#      cuBLAS call, ...);
#   2. test/gpu_check.sh, the script for a GPU machine, at toy sizes
#      (GPU_CHECK_EMULATE=1), its PASS/FAIL/SKIP lines passed on as
#      emu/gpu_check/...: test_kernels (every kernel against its CPU function,
#      the products with each kernel set), compare_cpu_gpu on every reference
#      fixture (3 AdamW steps) and a random NH = 3 model with --kernels fast
#      and readable (and --tf32), train_gpu's step timing and per-op profile;
#      and its summary block, within its budget;
#   3. compare_cpu_gpu on one layer as wide as GPT-2 small (C = 768, hs = 64),
#      both kernel sets;
#   4. train_gpu against train: the same flags give the same losses (with
#      either kernel set), and a run moves between the two through its
#      checkpoint, either way.
# Speed says nothing here (the emulator is slow); test_cuda.sh and
# test/gpu_check.sh run the same programs on a real GPU.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.." || exit 1
EMU=${EMU_BUILD:-build/emu}
CXX=${CXX:-g++}
if ! command -v "$CXX" >/dev/null 2>&1; then
    skip emu/build "no C++ compiler ($CXX)"
    exit 0
fi
if make -s emu >"$TMP/build" 2>&1; then pass emu/build
else
    fail emu/build "$(grep -m3 -E 'error|warning' "$TMP/build" || tail -3 "$TMP/build")"
    exit 0
fi

# 1.
"$EMU/test_cuda_emu" >"$TMP/self" 2>&1
rc=$?
cat "$TMP/self"
[ $rc -eq 0 ] || grep -q '^FAIL ' "$TMP/self" || fail emu/test_cuda_emu "exited with status $rc"

# 2. Its checks count as this script's; the summary must be there, its budget kept,
# and test_kernels must have run a full set of checks.
start=$(date +%s)
GPU_CHECK_EMULATE=1 timeout 600 bash test/gpu_check.sh "$SHARED" >"$TMP/gpu_check" 2>&1
rc=$?
secs=$(( $(date +%s) - start ))
sed -nE 's#^(PASS|FAIL|SKIP) #\1 emu/gpu_check/#p' "$TMP/gpu_check"
[ $rc -eq 0 ] || grep -q '^FAIL ' "$TMP/gpu_check" || fail emu/gpu_check "exited with status $rc: $(tail -2 "$TMP/gpu_check")"
nkernel=$(sed -nE 's/^test_kernels: ([0-9]+) checks passed.*/\1/p' "$TMP/gpu_check")
if grep -q '^==== gpu_check summary' "$TMP/gpu_check" && [ "$secs" -le 480 ] && [ "${nkernel:-0}" -gt 400 ]; then
    pass "emu/gpu_check/summary (in $secs s of its 480 s budget; test_kernels ran $nkernel checks)"
else fail emu/gpu_check/summary "summary block $(grep -c '^==== gpu_check summary' "$TMP/gpu_check"), $secs s, ${nkernel:-no} test_kernels checks"; fi

# 3. One layer at GPT-2 small's width (C = 768, hs = 64)
for kernels in fast readable; do
    if timeout 300 "$EMU/compare_cpu_gpu" random --layers 1 --heads 12 --channels 768 --context 64 --vocab 1000 -b 1 \
        -t 64 --steps 1 --kernels "$kernels" >"$TMP/cmp" 2>&1; then pass "emu/compare_cpu_gpu/random_gpt2_width/$kernels"
    else fail "emu/compare_cpu_gpu/random_gpt2_width/$kernels" "$(grep -m3 -E 'FAIL|gpt2c' "$TMP/cmp")"; fi
done

# 4. A synthetic shard (a repeating pattern, so the loss falls), no vocabulary needed.
make_pattern_shard() { # FILE NTOK
    # shellcheck disable=SC2046
    make_shard "$1" 20240520 1 "$2" $(awk -v n="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%d ", (i * 7 + int(i / 13)) % 300 }')
}
make_pattern_shard "$TMP/train.bin" 3000
make_pattern_shard "$TMP/val.bin" 400
flags=(--train "$TMP/train.bin" --val "$TMP/val.bin" --layers 2 --heads 2 --channels 32 --context 32 -b 2 -t 32
       --steps 4 --warmup 1 --lr 1e-3 --eval-every 2 --eval-batches 2 --grad-accum 2 --grad-clip 1.0)
# the train and val losses of steps FROM..4 of two runs agree to 1e-4
same_losses() { # NAME CSV_A CSV_B FROM
    local worst
    worst=$(awk -F, -v from="$4" 'FNR == 1 { next }
        NR == FNR { if ($1 >= from) { t[$1] = $2; v[$1] = $3; want++ } next }
        $1 >= from && ($1 in t) { seen++
            for (k = 2; k <= 3; k++) { a = (k == 2 ? t[$1] : v[$1])
                if ((a == "") != ($k == "")) bad = 1
                else if (a != "") { d = a - $k; if (d < 0) d = -d; if (d > w) w = d } } }
        END { if (bad || want == 0 || seen != want) print "missing"; else print w + 0 }' "$2" "$3")
    if [ -f "$2" ] && [ -f "$3" ] && awk -v w="$worst" 'BEGIN { exit !(w != "missing" && w + 0 <= 1e-4) }'
    then pass "$1"; else fail "$1" "worst loss difference $worst (tolerance 1e-4; missing: a step absent from one log)"; fi
}
run() { # PROGRAM LOG ARGS...
    local prog=$1 log=$2; shift 2
    timeout 300 "$prog" "$@" >"$log" 2>&1 || echo "gpt2c test: $prog exited with status $?" >>"$log"
}
run "$BIN/train" "$TMP/cpu.log" "${flags[@]}" --out "$TMP/cpu"
for kernels in fast readable; do
    run "$EMU/train_gpu" "$TMP/gpu.log" "${flags[@]}" --kernels "$kernels" --out "$TMP/gpu_$kernels"
    grep -h 'gpt2c' "$TMP/cpu.log" "$TMP/gpu.log"
    same_losses "emu/train_gpu_same_losses_as_train/$kernels" "$TMP/cpu/log.csv" "$TMP/gpu_$kernels/log.csv" 0
done

# GPU for 2 steps, CPU resumes for 2; and the other way round.
run "$EMU/train_gpu" "$TMP/g2.log" "${flags[@]}" --out "$TMP/g2c" --stop-after 2
run "$BIN/train" "$TMP/g2c.log" --resume "$TMP/g2c"
run "$BIN/train" "$TMP/c2.log" "${flags[@]}" --out "$TMP/c2g" --stop-after 2
run "$EMU/train_gpu" "$TMP/c2g.log" --resume "$TMP/c2g"
grep -h 'gpt2c' "$TMP/g2.log" "$TMP/g2c.log" "$TMP/c2.log" "$TMP/c2g.log"
same_losses emu/train_resumes_train_gpu_checkpoint "$TMP/cpu/log.csv" "$TMP/g2c/log.csv" 3
same_losses emu/train_gpu_resumes_train_checkpoint "$TMP/cpu/log.csv" "$TMP/c2g/log.csv" 3
check emu/resumed_runs_reach_step_4 test -f "$TMP/g2c/model_00000004.bin" -a -f "$TMP/c2g/model_00000004.bin"
# LoRA trains on the CPU only: train_gpu refuses --lora before loading anything,
# and a LoRA run's folder on --resume
expect_error emu/train_gpu_refuses_lora 2 'LoRA trains on the CPU' "$EMU/train_gpu" "${flags[@]}" --init "$TMP/cpu/model_00000004.bin" --lora 2 --out "$TMP/gl"
run "$BIN/train" "$TMP/lr.log" "${flags[@]}" --init "$TMP/cpu/model_00000004.bin" --lora 2 --steps 2 --out "$TMP/lr"
expect_error emu/train_gpu_refuses_lora_resume 1 'lr: a LoRA run; it continues on the CPU' "$EMU/train_gpu" --resume "$TMP/lr"

# 5. train_gpu's memory plan is the device's: the host's params, grads, AdamW,
# activations and scratch (no KV cache, no eval copy) plus its workspace; a
# plan over the (faked) free memory is refused, and the suggestion fits.
plan_flags=(--layers 2 --heads 2 --channels 32 --context 32 -b 2 -t 32)
"$BIN/train" --plan-only "${plan_flags[@]}" >"$TMP/cpu.plan" 2>&1
"$EMU/train_gpu" --plan-only "${plan_flags[@]}" >"$TMP/gpu.plan" 2>&1
same_parts=1
for k in parameters params grads adamw activations scratch; do
    [ "$(awk -v k=$k '$1 == k' "$TMP/cpu.plan")" = "$(awk -v k=$k '$1 == k' "$TMP/gpu.plan")" ] || same_parts=0
done
check emu/train_gpu_plan_matches_the_host_parts [ $same_parts = 1 ] && grep -q '^GPU memory plan: ' "$TMP/gpu.plan" && \
    [ "$(awk '$1 == "kv_cache" || $1 == "eval_copy" { s += $2 } END { print s + 0 }' "$TMP/gpu.plan")" = 0 ]
limit=$(( $(awk '$1 == "total" { print $2 }' "$TMP/gpu.plan") - 1 ))
GPT2C_MEM_AVAILABLE=$limit expect_error emu/train_gpu_refuses_over_device_memory 1 \
    'needs .* of GPU memory but .* is available .*: -b 1 -t 32 would fit' \
    "$EMU/train_gpu" --train "$TMP/train.bin" "${plan_flags[@]}" --steps 1 --out "$TMP/gpu_over"
GPT2C_MEM_AVAILABLE=$limit run "$EMU/train_gpu" "$TMP/gpu_fits.log" --train "$TMP/train.bin" "${plan_flags[@]}" -b 1 \
    --steps 1 --eval-every 0 --out "$TMP/gpu_fits"
check emu/train_gpu_suggestion_fits [ ! -e "$TMP/gpu_over" ] && [ -f "$TMP/gpu_fits/model_00000001.bin" ]
