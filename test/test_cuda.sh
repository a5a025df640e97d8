#!/usr/bin/env bash
# The GPU path: `make cuda` must build wherever nvcc exists (with host and
# device warnings as errors, PTX included); ./test_kernels (both kernel sets)
# and ./compare_cpu_gpu on every fixture with --kernels fast and readable run
# only where a GPU is present, and are listed as SKIP otherwise.
# (test/gpu_check.sh is the fuller check for a GPU machine.)
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.." || exit 1
NVCC=${NVCC:-nvcc}
root="$SHARED/fixtures/gpt2"
fixtures=()
for dir in "$root"/*/; do
    [ -f "$dir/model.bin" ] && [ -f "$dir/state.bin" ] && fixtures+=("$(basename "$dir")")
done

skip_gpu_tests() { # why
    skip test_kernels "$1"
    for name in "${fixtures[@]}"; do
        for kernels in fast readable; do skip "compare_cpu_gpu/$name/$kernels" "$1"; done
    done
}

if ! command -v "$NVCC" >/dev/null 2>&1; then
    skip cuda_build "no nvcc ($NVCC)"
    skip_gpu_tests "no nvcc"
    exit 0
fi
start=$(date +%s)
if make -s cuda >"$TMP/build" 2>&1; then pass cuda_build
else
    fail cuda_build "$(grep -m3 -E 'error|warning' "$TMP/build" || tail -3 "$TMP/build")"
    skip_gpu_tests "the CUDA build failed"
    exit 0
fi
echo "  (make cuda: $(( $(date +%s) - start )) s)"

if ! "$BIN/test_kernels" --gpu-present; then
    skip_gpu_tests "no GPU"
    exit 0
fi
"$BIN/test_kernels" >"$TMP/kernels" 2>&1
rc=$?
cat "$TMP/kernels"
if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$TMP/kernels"; then fail test_kernels "exited with status $rc"; fi
for name in "${fixtures[@]}"; do
    dir="$root/$name"
    for kernels in fast readable; do
        if timeout 120 "$BIN/compare_cpu_gpu" "$dir/model.bin" "$dir/state.bin" --steps 10 --kernels "$kernels" \
            >"$TMP/cmp" 2>&1; then pass "compare_cpu_gpu/$name/$kernels"
        else fail "compare_cpu_gpu/$name/$kernels" "$(grep -m3 -E 'FAIL|gpt2c' "$TMP/cmp")"; fi
    done
done
