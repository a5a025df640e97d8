#!/usr/bin/env bash
# bench_llmc.sh: ./train beside llm.c's CPU trainer (train_gpt2.c), on the
# same GPT-2 124M checkpoint, the same token shard, B=4, T=64, the same
# number of threads, alternating the two programs in one run so that both see
# the same machine load. Not part of `make test`: it takes minutes.
#
#   tools/bench_llmc.sh LLMC_DIR [ROUNDS [STEPS]]     (run from the repository root, after `make`)
#
# LLMC_DIR is a checkout of llm.c (https://github.com/karpathy/llm.c). Its
# train_gpt2.c is compiled as its README says (-Ofast -march=native
# -fopenmp) into a scratch folder; nothing in LLMC_DIR is written. Each round
# runs each program for STEPS+1 steps (default 4+1) and drops the first, a
# warm-up that also allocates the gradients and AdamW state. llm.c prints
# each step's time itself ("took X ms"); ./train's is the time between its
# consecutive progress lines, and llm.c's is measured that way too, as a check
# that the two clocks agree. Threads: OMP_NUM_THREADS (default 2).
# BASELINE=path/to/another/train adds a third program to each round, timed as
# ./train is: an older build, to compare before and after in the same run.
#
# The checkpoint is GPT-2 124M with ./train's random initialisation (V=50257
# padded to Vp=50304), written by one ./train step at learning rate 0; the
# shard is tinyshakespeare, tokenized with ./tokenize. llm.c reads both
# formats as they are. It looks for its tokenizer file only to print samples,
# which come at its step 20, after this script has stopped it.
set -euo pipefail

usage() { echo "usage: tools/bench_llmc.sh LLMC_DIR [ROUNDS [STEPS]]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 3 ] || usage
LLMC=$1
ROUNDS=${2:-3}
STEPS=${3:-4}
[[ $ROUNDS =~ ^[1-9][0-9]*$ && $STEPS =~ ^[1-9][0-9]*$ ]] || usage
[ "$STEPS" -le 8 ] || { echo "bench_llmc: at most 8 steps a round (llm.c evaluates at its step 10)" >&2; exit 2; }
[ -f "$LLMC/train_gpt2.c" ] || { echo "bench_llmc: $LLMC/train_gpt2.c: not found (give llm.c's folder)" >&2; exit 2; }
[ -x ./train ] && [ -x ./tokenize ] || { echo "bench_llmc: run from the repository root after make" >&2; exit 2; }
BASELINE=${BASELINE:-}
if [ -n "$BASELINE" ]; then
    [ -x "$BASELINE" ] || { echo "bench_llmc: BASELINE=$BASELINE: not an executable" >&2; exit 2; }
    BASELINE=$(cd "$(dirname "$BASELINE")" && pwd)/$(basename "$BASELINE")
fi
SHARED=${SHARED:-../shared}
TEXT=$SHARED/data/tinyshakespeare.txt
VOCAB=$SHARED/data/gpt2
[ -f "$TEXT" ] && [ -f "$VOCAB/encoder.json" ] || { echo "bench_llmc: $TEXT or $VOCAB: not found" >&2; exit 1; }
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "bench_llmc: compiling llm.c's train_gpt2.c (-Ofast -march=native -fopenmp)"
cc -Ofast -march=native -fopenmp -DOMP -Wno-unused-result -I"$LLMC" "$LLMC/train_gpt2.c" -lm -o "$WORK/train_gpt2"

echo "bench_llmc: the shard and the 124M checkpoint"
./tokenize shard --vocab "$VOCAB" --out "$WORK/ts" "$TEXT" >/dev/null
./train --train "$WORK/ts_train.bin" --layers 12 --heads 12 --channels 768 --context 1024 -b 4 -t 64 --steps 1 \
    --lr 0 --lr-min 0 --out "$WORK/init" >/dev/null
CKPT=$WORK/init/model_00000001.bin
# llm.c's fixed file names, in a folder of its own
mkdir -p "$WORK/llmc/dev/data/tinyshakespeare"
ln -s "$CKPT" "$WORK/llmc/gpt2_124M.bin"
ln -s "$WORK/ts_train.bin" "$WORK/llmc/dev/data/tinyshakespeare/tiny_shakespeare_train.bin"
ln -s "$WORK/ts_val.bin" "$WORK/llmc/dev/data/tinyshakespeare/tiny_shakespeare_val.bin"

# run_steps NAME DIR COMMAND...: runs COMMAND in DIR until it has printed
# STEPS+1 step lines, then stops it (its own end-of-run work, such as
# ./train's checkpoint, is not what is measured). Appends to $WORK/times one
# line per step after the first: NAME, the gap since the previous step line
# in ms, and the program's own figure for the step (or -).
run_steps() {
    local name=$1 dir=$2
    shift 2
    local fifo=$WORK/fifo
    rm -f "$fifo" && mkfifo "$fifo"
    # line-buffered: piped, llm.c would hold its step lines back until its buffer fills
    (cd "$dir" && exec stdbuf -oL "$@" >"$fifo" 2>/dev/null) &
    local pid=$! seen=0 prev=""
    while IFS= read -r line; do
        [[ $line == step* ]] || continue
        local now=$EPOCHREALTIME
        if [ -n "$prev" ]; then
            local own=-
            [[ $line =~ took\ ([0-9.]+)\ ms ]] && own=${BASH_REMATCH[1]}
            awk -v n="$name" -v a="$prev" -v b="$now" -v o="$own" 'BEGIN { printf "%s %.1f %s\n", n, (b - a) * 1e3, o }' \
                >>"$WORK/times"
        fi
        prev=$now
        seen=$((seen + 1))
        [ "$seen" -gt "$STEPS" ] && break
    done <"$fifo"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [ "$seen" -gt "$STEPS" ] || { echo "bench_llmc: $name stopped after $seen step lines" >&2; exit 1; }
}

: >"$WORK/times"
for r in $(seq 1 "$ROUNDS"); do
    echo "bench_llmc: round $r of $ROUNDS ($OMP_NUM_THREADS threads, B=4 T=64, $STEPS timed steps each)"
    run_steps llmc "$WORK/llmc" "$WORK/train_gpt2"
    run_steps gpt2c "$WORK" "$PWD/train" --train "$WORK/ts_train.bin" --init "$CKPT" -b 4 -t 64 \
        --steps $((STEPS + 1)) --no-shuffle --eval-every 0 --out "$WORK/run$r"
    if [ -n "$BASELINE" ]; then
        run_steps baseline "$WORK" "$BASELINE" --train "$WORK/ts_train.bin" --init "$CKPT" -b 4 -t 64 \
            --steps $((STEPS + 1)) --no-shuffle --eval-every 0 --out "$WORK/base$r"
    fi
done

# best and median of each column, then the ratio of the medians
export BASELINE
awk '
function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
$1 == "llmc" { lg[++nl] = $2; lo[nl] = $3 }
$1 == "gpt2c" { g[++ng] = $2 }
$1 == "baseline" { bl[++nb] = $2 }
END {
    for (i = 1; i <= nl; i++) { blg = (i == 1 || lg[i] < blg) ? lg[i] : blg; blo = (i == 1 || lo[i] < blo) ? lo[i] : blo }
    for (i = 1; i <= ng; i++) bg = (i == 1 || g[i] < bg) ? g[i] : bg
    ml = median(lo, nl); mlg = median(lg, nl); mg = median(g, ng)
    printf "| program | steps | best ms/step | median ms/step |\n|---|---:|---:|---:|\n"
    printf "| llm.c train_gpt2.c (its own \"took\") | %d | %.0f | %.0f |\n", nl, blo, ml
    printf "| llm.c train_gpt2.c (between step lines) | %d | %.0f | %.0f |\n", nl, blg, mlg
    printf "| ./train (between step lines) | %d | %.0f | %.0f |\n", ng, bg, mg
    if (nb) {
        for (i = 1; i <= nb; i++) bb = (i == 1 || bl[i] < bb) ? bl[i] : bb
        mb = median(bl, nb)
        printf "| BASELINE %s (between step lines) | %d | %.0f | %.0f |\n", ENVIRON["BASELINE"], nb, bb, mb
        printf "bench_llmc: baseline_ms=%.0f gpt2c_ms=%.0f baseline_speedup=%.2f\n", mb, mg, mb / mg
    }
    printf "bench_llmc: llmc_ms=%.0f gpt2c_ms=%.0f speedup=%.2f threads=%s\n", ml, mg, ml / mg, ENVIRON["OMP_NUM_THREADS"]
}' "$WORK/times"
