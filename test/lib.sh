# test/lib.sh: the check protocol for shell tests (see test/check.h).
# BIN is where the programs are (set by the Makefile), SHARED the shared data.
BIN=${BIN:-.}
SHARED=${SHARED:-../shared}
# GPT-2's vocabulary: $GPT2_VOCAB_DIR, else the shared copy, else the one
# `make vocab` fetched into data/gpt2.
if [ -z "${VOCAB:-}" ]; then
    VOCAB=${GPT2_VOCAB_DIR:-$SHARED/data/gpt2}
    [ -f "$VOCAB/encoder.json" ] || [ ! -f data/gpt2/encoder.json ] || VOCAB=data/gpt2
fi
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }
check() { # check NAME CONDITION-COMMAND...
    local name=$1; shift
    if "$@"; then pass "$name"; else fail "$name" "'$*' was false"; fi
}
# expect_error NAME EXIT_CODE STDERR_PATTERN COMMAND...
# Runs COMMAND with a 60 s timeout, then checks its exit code and that stderr
# is one line matching the pattern (a clear one-line error, never a crash).
expect_error() {
    local name=$1 want=$2 pat=$3; shift 3
    # die() exits without freeing what the program holds, by design: under the
    # sanitizers, leak reports on these error exits are noise, not bugs.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} timeout 60 "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    local lines; lines=$(wc -l <"$TMP/err")
    if [ "$rc" -ne "$want" ]; then fail "$name" "exit $rc, wanted $want; stderr: $(head -c 300 "$TMP/err")"
    elif ! grep -Eq -- "$pat" "$TMP/err"; then fail "$name" "stderr does not match /$pat/: $(head -c 300 "$TMP/err")"
    elif [ "$lines" -ne 1 ]; then fail "$name" "stderr has $lines lines, wanted 1: $(head -c 300 "$TMP/err")"
    else pass "$name"; fi
}
# Binary files for the data-format tests, little-endian like the formats.
# le32 N...: 4 bytes per number; u16 N...: 2 bytes per number.
le32() { local s="" h n; for n in "$@"; do printf -v h '\\x%02x\\x%02x\\x%02x\\x%02x' $((n & 255)) $((n >> 8 & 255)) \
    $((n >> 16 & 255)) $((n >> 24 & 255)); s+=$h; done; printf "$s"; }
u16() { local s="" h n; for n in "$@"; do printf -v h '\\x%02x\\x%02x' $((n & 255)) $((n >> 8 & 255)); s+=$h; done; printf "$s"; }
# make_shard FILE MAGIC VERSION NTOK TOKENS...: an llm.c token shard (256-int32 header, uint16 ids)
make_shard() { local f=$1; { le32 "$2" "$3" "$4"; head -c 1012 /dev/zero; shift 4; u16 "$@"; } >"$f"; }
