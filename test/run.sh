#!/usr/bin/env bash
# Runs every test program and script given on the command line, counts the
# PASS/FAIL/SKIP lines they print, and ends with "N passed, N failed, N skipped".
# A test that exits non-zero (or crashes) without printing a FAIL line counts as
# one failure, so a crash can never pass silently.
set -u
pass=0; fail=0; skip=0
log=$(mktemp); trap 'rm -f "$log"' EXIT
for t in "$@"; do
    echo "== $t"
    if [[ "$t" == *.sh ]]; then bash "$t" >"$log" 2>&1; else "$t" >"$log" 2>&1; fi
    rc=$?
    cat "$log"
    p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $t: exited with status $rc"
        f=1
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
        echo "FAIL $t: printed no results"
        f=1
    fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done
echo
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
