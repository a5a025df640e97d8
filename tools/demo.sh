#!/usr/bin/env bash
# make demo: the whole pipeline on a fresh clone, in C, in a few minutes.
#   corpus -> ./tokenize shard -> ./train (a small GPT-2 from scratch) -> ./generate -> ./inspect
# The corpus, in order of preference:
#   1. $CORPUS, if set (any text file);
#   2. Tiny Shakespeare from the project's shared data folder ($SHARED/data), if present;
#   3. Tiny Shakespeare downloaded, if the network allows;
#   4. offline fallback: this repository's own sources and notes (it says so).
# It ends with two samples: one from the corpus's own start, and one from the
# source article's Chinese prompt, which the model has never seen: its bytes
# that do not form characters print as U+FFFD, as Hugging Face's decode prints
# them, so the terminal gets valid UTF-8. Last, ./inspect looks inside the
# trained model on one prompt and writes $out/inspect.html (open it in a browser).
# Knobs (environment): CORPUS, DEMO_STEPS, DEMO_OUT (default out/demo), BIN
# (where the programs are, default .).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
out=${DEMO_OUT:-out/demo}
BIN=${BIN:-.}
steps=${DEMO_STEPS:-1200}
prompt="ROMEO:"
mkdir -p "$out"
corpus="$out/corpus.txt"
url=https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt

if [ -n "${CORPUS:-}" ]; then
    [ -r "$CORPUS" ] || { echo "demo: cannot read CORPUS=$CORPUS" >&2; exit 1; }
    cp "$CORPUS" "$corpus"; echo "demo: corpus is $CORPUS"; prompt=$(head -c 16 "$CORPUS" | tr -d '\0')
elif [ -r "$SHARED/data/tinyshakespeare.txt" ]; then
    cp "$SHARED/data/tinyshakespeare.txt" "$corpus"; echo "demo: corpus is Tiny Shakespeare ($SHARED/data)"
elif command -v curl >/dev/null && curl -fsSL --max-time 30 -o "$corpus.part" "$url" 2>/dev/null; then
    mv "$corpus.part" "$corpus"; echo "demo: corpus is Tiny Shakespeare (downloaded)"
else
    rm -f "$corpus.part"
    cat README.md notes.md ./*.h ./*.c tools/*.c >"$corpus"; prompt="/* "
    echo "demo: no network and no CORPUS: training on this repository's own sources and notes instead"
fi
echo "demo: $(wc -c <"$corpus") bytes of text"

"$BIN/tokenize" shard --val-fraction 0.05 --out "$out/data" "$corpus"
rm -f "$out"/model_*.bin "$out"/state_*.bin "$out"/log.csv "$out"/loss.svg "$out"/updates.csv "$out"/updates.svg
# A small GPT-2 (4 layers, 4 heads, 128 channels, GPT-2's 50257-token
# vocabulary) trained from scratch; most of its compute is the logits layer.
"$BIN/train" --train "$out/data_train.bin" --val "$out/data_val.bin" \
    --layers 4 --heads 4 --channels 128 --context 128 -b 8 -t 64 \
    --steps "$steps" --warmup 50 --lr 3e-3 --lr-min 3e-4 --wd 0.1 \
    --eval-every 100 --eval-batches 16 --sample-every 0 --out "$out"
echo
echo "demo: validation loss (step: loss), from $out/log.csv:"
awk -F, 'NR > 1 && $3 != "" { printf "  %5d: %s\n", $1, $3 }' "$out/log.csv"
echo "demo: loss plot in $out/loss.svg, update-to-weight ratios in $out/updates.svg"
model=$(ls "$out"/model_*.bin | tail -1)
echo "demo: a sample from $model:"
echo "----"
"$BIN/generate" --model "$model" --prompt "${DEMO_PROMPT:-$prompt}" --tokens 100 --temperature 0.8 --top-k 40 --seed 42
echo "----"
echo "demo: and from the source article's prompt, in a language the model has not seen:"
echo "----"
"$BIN/generate" --model "$model" --prompt "作为科研工作者,我们该如何使用大语言模型" --tokens 40 --temperature 0.8 --top-k 40 --seed 42
echo "----"
echo "demo: inside the model, on one prompt:"
"$BIN/inspect" --model "$model" --prompt "${DEMO_INSPECT_PROMPT:-$prompt But soft, what light through yonder window breaks?}" \
    --html "$out/inspect.html" --json "$out/inspect.json"
echo "demo: open $out/inspect.html in a browser (tokens, predictions, attention maps, logit lens)"
