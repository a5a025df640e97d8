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
   [ ! -e "$TMP/f32.bin.tmp" ]; then pass "import/overwrite_output"
else fail "import/overwrite_output" "re-import over an existing file failed or left a .tmp"; fi

# ---- bad files: exit 1 with one line naming the file and the problem ----
bad() { # bad FAULT PATTERN
    local st="$TMP/bad_$1.safetensors"
    "$gen" write "$st" --dtype mixed --fault "$1" || { fail "import/bad/$1" "generator failed"; return; }
    expect_error "import/bad/$1" 1 "bad_$1.safetensors: .*$2" "$imp" --heads 2 "$st" "$TMP/bad.bin"
}
bad dtype-i64 "h.0.ln_1.weight has dtype I64"
bad dtype-f64 "h.1.mlp.c_fc.bias has dtype F64"
bad dtype-unknown 'unknown dtype "Q4"'
bad missing "missing tensor h.1.mlp.c_fc.bias"
bad gap "h.1 is missing"
bad extra "unexpected tensor h.0.attn.rotary.weight"
bad duplicate "appears twice"
bad offset-range "wte.weight: data_offsets .* run past the data section"
bad end-before-begin "h.0.ln_1.bias: data_offsets .* end before they begin"
bad overlap "h.0.ln_1.bias and h.0.ln_1.weight overlap"
bad size-mismatch "h.1.attn.c_proj.weight: 252 bytes of data, but F32 x 64 elements need 256"
bad wrong-shape "h.0.attn.c_attn.weight has shape \(24, 8\), expected \(8, 24\)"
bad wrong-shape-ln "h.1.ln_2.weight has shape \(9\), expected \(8\)"
bad header-past-eof "header length [0-9]+ runs past the end of the file"
bad header-huge "header length 18446744073709551615 runs past the end"
bad json-colon "bad safetensors header at byte [0-9]+: expected ':'"
bad json-float "fraction or exponent"
bad json-negative "expected a non-negative integer"
bad json-trailing-comma "bad safetensors header"
bad json-junk "junk after the header object"
bad json-metadata-number "__metadata__ values must be strings"
bad json-unknown-key 'unexpected or repeated key "kind"'
bad json-unterminated "unterminated string"
bad json-nul "bad safetensors header"
bad json-newline-name "control character in a name"
bad lm-head-differs "lm_head.weight differs from wte.weight"

# A good file cut short: the last tensors' bytes are gone.
head -c 3000 "$TMP/f32.safetensors" >"$TMP/truncated.safetensors"
expect_error import/bad/truncated 1 "truncated.safetensors: .*run past the data section" \
    "$imp" --heads 2 "$TMP/truncated.safetensors" "$TMP/bad.bin"
head -c 5 "$TMP/f32.safetensors" >"$TMP/tiny.safetensors"
expect_error import/bad/shorter_than_length 1 "tiny.safetensors: too short" "$imp" --heads 2 "$TMP/tiny.safetensors" "$TMP/bad.bin"
expect_error import/bad/no_such_file 1 "nope.safetensors: cannot open" "$imp" --heads 2 "$TMP/nope.safetensors" "$TMP/bad.bin"
check "import/bad/no_output_written" test ! -e "$TMP/bad.bin"

# ---- usage: exit 2 ----
expect_error import/usage/unknown_width 2 "C=8 is not a standard GPT-2 width.*--heads" "$imp" "$TMP/f32.safetensors" "$TMP/x.bin"
expect_error import/usage/heads_not_dividing 2 "C=8 is not divisible by 3 heads" "$imp" --heads 3 "$TMP/f32.safetensors" "$TMP/x.bin"
expect_error import/usage/heads_junk 2 "--heads" "$imp" --heads two "$TMP/f32.safetensors" "$TMP/x.bin"
expect_error import/usage/no_arguments 2 "usage" "$imp"
expect_error import/usage/unknown_option 2 "unknown option --frobnicate" "$imp" --frobnicate a b
if "$imp" --help | grep -q "usage: import_hf"; then pass import/usage/help; else fail import/usage/help "no usage on --help"; fi
