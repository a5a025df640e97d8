# test/lib.sh: the check protocol for shell tests (see test/check.h).
# BIN is where the programs are (set by the Makefile), SHARED the shared data.
BIN=${BIN:-.}
SHARED=${SHARED:-../shared}
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
