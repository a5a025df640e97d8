#!/usr/bin/env bash
# ./inspect: its JSON equals the forward pass's numbers (build/check_inspect:
# attention rows, top-K, logit lens, surprisal = cross-entropy), its page is
# well-formed XML with one thumbnail per layer and head (build/xml_check),
# long prompts show the last 64 positions and say so, and bad input gets one
# line and the right exit code. Models: a random 3-layer GPT-2 with GPT-2's
# vocabulary made here, and the shared gpt2vocab fixture.
source "$(dirname "$0")/lib.sh"
BUILD=${BUILD:-build}
names="random/json random/page random/long_prompt fixture/json bad/empty_prompt bad/too_long bad/vocab_mismatch xml_check"
if [ ! -f "$VOCAB/encoder.json" ]; then
    for t in $names; do skip "inspect/$t" "no GPT-2 vocabulary in $VOCAB"; done
    exit 0
fi
zh="作为科研工作者,我们该如何使用大语言模型"
en="The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times, it was"

# 1. A random model: L=3, NH=4, C=32, context 96.
"$BUILD/check_inspect" random-model "$TMP/r.bin" 3 4 32 96
"$BIN/inspect" --model "$TMP/r.bin" --vocab "$VOCAB" --prompt "$en $zh" --top 7 --html "$TMP/r.html" \
    --json "$TMP/r.json" 2>"$TMP/err" || fail inspect/random/runs "$(cat "$TMP/err")"
"$BUILD/check_inspect" check "$TMP/r.bin" "$TMP/r.json" inspect/random || fail inspect/random/check_inspect "exited with status $?"
out=$("$BUILD/xml_check" "$TMP/r.html" class=thumb class=view svg 2>&1)
if [[ "$out" == "ok "*" class=thumb 12 class=view 12 svg 24" ]]; then pass inspect/random/page_wellformed_12_maps
else fail inspect/random/page_wellformed_12_maps "$out"; fi
check inspect/random/json_floats_9_digits grep -Eq '"p": [0-9]\.[0-9]{6,8}(e-[0-9]+)?}' "$TMP/r.json"

# 2. A prompt longer than 64 tokens: the large views show the last 64 and say so.
long="$en $en $en"
"$BIN/inspect" --model "$TMP/r.bin" --vocab "$VOCAB" --prompt "$long" --html "$TMP/l.html" --json "$TMP/l.json" \
    2>"$TMP/err"
T=$(grep -o '^"tokens": \[[^]]*' "$TMP/l.json" | tr ',' '\n' | wc -l)
if [ "$T" -gt 64 ] && grep -q "show the last 64 positions only" "$TMP/l.html"; then pass inspect/random/long_prompt_window
else fail inspect/random/long_prompt_window "T=$T; $(cat "$TMP/err")"; fi
"$BUILD/check_inspect" check "$TMP/r.bin" "$TMP/l.json" inspect/random_long || fail inspect/random_long/check_inspect "exited with status $?"
out=$("$BUILD/xml_check" "$TMP/l.html" class=thumb)
check inspect/random_long/page_wellformed [ "${out##* }" = 12 ]

# 3. The shared gpt2vocab fixture (1 layer, 2 heads), with a Chinese prompt
# whose characters are split across byte tokens (pieces of U+FFFD).
fx="$SHARED/fixtures/gpt2/gpt2vocab/model.bin"
if [ -f "$fx" ]; then
    "$BIN/inspect" --model "$fx" --vocab "$VOCAB" --prompt "$zh" --html "$TMP/f.html" --json "$TMP/f.json" 2>"$TMP/err"
    "$BUILD/check_inspect" check "$fx" "$TMP/f.json" inspect/fixture || fail inspect/fixture/check_inspect "exited with status $?"
    fffd=$'\xef\xbf\xbd'
    check inspect/fixture/pieces_replace_split_characters grep -qF "\"$fffd\"" "$TMP/f.json"
    out=$("$BUILD/xml_check" "$TMP/f.html" class=thumb)
    check inspect/fixture/page_wellformed [ "${out##* }" = 2 ]
else
    skip inspect/fixture/json "no $fx"
fi

# 4. Bad input: one line, exit 1 (data) or 2 (usage).
expect_error inspect/bad/empty_prompt 2 'prompt is empty' "$BIN/inspect" --model "$TMP/r.bin" --vocab "$VOCAB" --prompt ""
: >"$TMP/empty.txt"
expect_error inspect/bad/empty_prompt_file 1 'empty.txt: the prompt file is empty' "$BIN/inspect" --model "$TMP/r.bin" \
    --vocab "$VOCAB" --prompt-file "$TMP/empty.txt"
expect_error inspect/bad/too_long 1 'longer than the model.s context of 96' "$BIN/inspect" --model "$TMP/r.bin" \
    --vocab "$VOCAB" --prompt "$long $long"
tiny="$SHARED/fixtures/gpt2/tiny/model.bin"
if [ -f "$tiny" ]; then
    expect_error inspect/bad/vocab_mismatch 1 'vocabulary has 101 tokens .* not this model' "$BIN/inspect" \
        --model "$tiny" --vocab "$VOCAB" --prompt hi
else skip inspect/bad/vocab_mismatch "no $tiny"; fi
expect_error inspect/bad/unknown_option 2 "unknown option .--bogus." "$BIN/inspect" --model "$TMP/r.bin" --prompt hi --bogus
expect_error inspect/bad/top_zero 2 'top' "$BIN/inspect" --model "$TMP/r.bin" --vocab "$VOCAB" --prompt hi --top 0

# 5. The checker itself rejects what is not well-formed.
rejects=0
for bad in '<a><b></a>' '<a x=1/>' '<a>&nbsp;</a>' '<a/><b/>' '<a x="1" x="2"/>' '<a>1 < 2</a>' $'<a>\x01</a>'; do
    printf '%s' "$bad" >"$TMP/bad.xml"
    "$BUILD/xml_check" "$TMP/bad.xml" >/dev/null && echo "accepted: $bad"
    [ $? -eq 0 ] || rejects=$((rejects + 1))
done
printf '<a x="&amp;">&#x240A;<b/><!-- c --></a>' >"$TMP/good.xml"
if [ $rejects = 7 ] && "$BUILD/xml_check" "$TMP/good.xml" >/dev/null; then pass inspect/xml_check_rejects_bad_xml
else fail inspect/xml_check_rejects_bad_xml "rejected $rejects of 7, or refused a good file"; fi
