#!/usr/bin/env bash
# The committed tokenizer_unicode.h is exactly what tools/gen_unicode.c makes
# from the Unicode Character Database (Debian package unicode-data).
source "$(dirname "$0")/lib.sh"
BUILD=${BUILD:-build}
UCD=${UCD_DIR:-/usr/share/unicode}
if [ ! -f "$UCD/UnicodeData.txt" ] || [ ! -f "$UCD/PropList.txt" ]; then
    skip unicode_table_regenerates "$UCD has no UnicodeData.txt/PropList.txt (apt-get install -y unicode-data)"
    exit 0
fi
if ! grep -q "from Unicode $(head -1 "$UCD/PropList.txt" | sed 's/.*PropList-\(.*\)\.txt.*/\1/') " tokenizer_unicode.h; then
    skip unicode_table_regenerates "the UCD in $UCD is another Unicode version than tokenizer_unicode.h"
    exit 0
fi
"$BUILD/gen_unicode" "$UCD" "$TMP/table.h"
check unicode_table_regenerates cmp -s "$TMP/table.h" tokenizer_unicode.h
