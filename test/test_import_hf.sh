#!/usr/bin/env bash
# import_hf: Hugging Face safetensors -> gpt2c checkpoint.
# Tiny GPT-2 files (C=8, L=2, V=50 so Vp=128 pads, maxT=16) are hand-assembled
# by $BUILD/make_safetensors, which also checks every imported parameter
# against the values it wrote (see test/make_safetensors.c).
source "$(dirname "$0")/lib.sh"
BUILD=${BUILD:-build}
gen="$BUILD/make_safetensors"
imp="$BIN/import_hf"

# import_and_check NAME CHECK-OPTIONS -- WRITE-OPTIONS...
import_and_check() {
    local name=$1 check_opt=$2; shift 2
    local st="$TMP/$name.safetensors" out="$TMP/$name.bin"
    if ! "$gen" write "$st" "$@"; then fail "import/$name" "generator failed"; return; fi
    if ! "$imp" --heads 2 "$st" "$out" >"$TMP/log" 2>&1; then fail "import/$name" "$(head -c 300 "$TMP/log")"; return; fi
    if ! grep -q "L=2 NH=2 C=8 V=50 (Vp=128) maxT=16, 2288 parameters" "$TMP/log"; then
        fail "import/$name" "summary line: $(head -c 300 "$TMP/log")"; return
    fi
    if "$gen" check "$out" $check_opt >"$TMP/check" 2>&1; then pass "import/$name"
    else fail "import/$name" "$(head -c 300 "$TMP/check")"; fi
}

for dtype in f32 f16 bf16 mixed; do
    import_and_check "$dtype" "" --dtype "$dtype"
    import_and_check "${dtype}_prefixed" "" --dtype "$dtype" --prefix
done
import_and_check lm_head_tied "" --dtype bf16 --lm-head
# F16 zeros, -0, subnormals, the smallest normal, 65504, +-inf and NaNs in wpe
import_and_check f16_special_values --f16-specials --dtype f32 --f16-specials

# The same weights through F32 and through BF16 give identical, finite logits.
if "$gen" forward "$TMP/f32.bin" "$TMP/bf16.bin" >"$TMP/fwd" 2>&1 &&
   "$gen" forward "$TMP/f32.bin" "$TMP/mixed_prefixed.bin" >>"$TMP/fwd" 2>&1; then
    pass "import/forward_logits_f32_equal_bf16_and_mixed"
else fail "import/forward_logits_f32_equal_bf16_and_mixed" "$(head -c 300 "$TMP/fwd")"; fi

# Re-importing over an existing output replaces it whole (atomic write), no .tmp left.
if "$imp" --heads 2 "$TMP/f16.safetensors" "$TMP/f32.bin" >/dev/null 2>&1 && "$gen" check "$TMP/f32.bin" >/dev/null &&
   [ -z "$(find "$TMP" -name 'f32.bin*.tmp')" ]; then pass "import/overwrite_output"
else fail "import/overwrite_output" "re-import over an existing file failed or left a .tmp"; fi

# ---- bad files and usage errors: test/bad_inputs.sh ----
if "$imp" --help | grep -q "usage: import_hf"; then pass import/usage/help; else fail import/usage/help "no usage on --help"; fi
