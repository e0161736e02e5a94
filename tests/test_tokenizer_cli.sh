#!/usr/bin/env bash
# test_tokenizer_cli.sh - `clpt tokenizer` end to end: help, encode/decode of
# the committed sample against its reference ids, training, and the error
# messages a user sees. GPT-2 parts need $CLPT_SHARED_DATA/gpt2.
set -u
CLPT=${CLPT_BIN:?CLPT_BIN unset}
SRC=${CLPT_SOURCE_DIR:?CLPT_SOURCE_DIR unset}
GPT2=${CLPT_SHARED_DATA:-/nonexistent}/gpt2
DATA=$SRC/tests/data/tokenizer
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clpt_tok_cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect_error WANT_SUBSTRING COMMAND... : must exit non-zero and say WANT
expect_error() {
    local want=$1; shift
    if "$@" >"$tmp/out" 2>"$tmp/err"; then fail "succeeded: $*"; return; fi
    grep -qF -- "$want" "$tmp/err" || fail "'$*' said '$(cat "$tmp/err")', not '$want'"
}

for sub in "" encode decode train info bench; do
    "$CLPT" tokenizer $sub --help >"$tmp/help" || fail "tokenizer $sub --help exited $?"
    grep -q "usage: clpt tokenizer" "$tmp/help" || fail "tokenizer $sub --help: no usage"
done
expect_error "unknown command" "$CLPT" tokenizer frobnicate
expect_error "--tokenizer DIR is required" "$CLPT" tokenizer encode "$DATA/sample.txt"
expect_error "$tmp/none" "$CLPT" tokenizer encode -t "$tmp/none" "$DATA/sample.txt"

# training: a directory argument is walked for *.txt; the result loads and round-trips
mkdir -p "$tmp/corpus/sub"
cp "$DATA/sample.txt" "$tmp/corpus/a.txt"
for i in $(seq 1 200); do echo "the cat sat on the mat $i times, didn't it?"; done >"$tmp/corpus/sub/b.txt"
echo "not read: wrong suffix" >"$tmp/corpus/c.md"
"$CLPT" tokenizer train -q --vocab-size 400 "$tmp/corpus" -o "$tmp/tok" || fail "train exited $?"
"$CLPT" tokenizer info -t "$tmp/tok" >"$tmp/info" || fail "info on trained files"
grep -q "^vocab_size *400$" "$tmp/info" || fail "trained vocab_size: $(cat "$tmp/info")"
grep -q "^eot *399$" "$tmp/info" || fail "trained eot: $(cat "$tmp/info")"
"$CLPT" tokenizer encode -t "$tmp/tok" "$DATA/sample.txt" >"$tmp/t.ids" || fail "encode (trained)"
"$CLPT" tokenizer decode -t "$tmp/tok" "$tmp/t.ids" >"$tmp/t.txt" || fail "decode (trained)"
cmp -s "$tmp/t.txt" "$DATA/sample.txt" || fail "trained tokenizer: decode(encode(sample)) differs"
"$CLPT" tokenizer train -q --vocab-size 400 "$tmp/corpus/sub/b.txt" "$tmp/corpus/a.txt" -o "$tmp/tok2"
cmp -s "$tmp/tok/merges.txt" "$tmp/tok2/merges.txt" || fail "training depends on argument order"
expect_error "need --vocab-size" "$CLPT" tokenizer train --vocab-size 100 "$tmp/corpus" -o "$tmp/x"
expect_error "$tmp/missing.txt" "$CLPT" tokenizer train --vocab-size 300 "$tmp/missing.txt" -o "$tmp/x"

# malformed files name the file and line
cp -r "$tmp/tok" "$tmp/bad"
printf '#version: 0.2\nĠ t\nthis line is bad\n' >"$tmp/bad/merges.txt"
expect_error "merges.txt:3: malformed merge" "$CLPT" tokenizer encode -t "$tmp/bad" "$DATA/sample.txt"
printf '{"a": 0,\n"b": }\n' >"$tmp/bad/vocab.json"
expect_error "vocab.json:2: invalid JSON" "$CLPT" tokenizer encode -t "$tmp/bad" "$DATA/sample.txt"
rm "$tmp/bad/merges.txt"
expect_error "merges.txt" "$CLPT" tokenizer encode -t "$tmp/bad" "$DATA/sample.txt"

if [ -d "$GPT2" ]; then
    "$CLPT" tokenizer encode -t "$GPT2" "$DATA/sample.txt" >"$tmp/s.ids" || fail "encode sample"
    cmp -s "$tmp/s.ids" "$DATA/sample.ids" || fail "sample ids differ from tests/data/tokenizer/sample.ids"
    "$CLPT" tokenizer decode -t "$GPT2" <"$tmp/s.ids" >"$tmp/s.txt" || fail "decode sample"
    cmp -s "$tmp/s.txt" "$DATA/sample.txt" || fail "decode(encode(sample)) differs from sample"
    [ "$(printf 'Hello world' | "$CLPT" tokenizer encode -t "$GPT2")" = "15496 995" ] || fail "Hello world"
    [ "$(printf 'a<|endoftext|>' | "$CLPT" tokenizer encode -t "$GPT2" --allow-special)" = "64 50256" ] ||
        fail "--allow-special"
    echo "15496 50257" >"$tmp/bad.ids"
    expect_error "token id 50257" "$CLPT" tokenizer decode -t "$GPT2" "$tmp/bad.ids"
    printf '15496\n995 x12\n' >"$tmp/bad.ids"
    expect_error "bad.ids:2: not a token id" "$CLPT" tokenizer decode -t "$GPT2" "$tmp/bad.ids"
    "$CLPT" tokenizer bench -t "$GPT2" --repeat 1 "$DATA/sample.txt" | grep -q "MB/s" || fail "bench"
else
    echo "note: GPT-2 checks skipped ($GPT2 absent)"
fi

if [ "$fails" -ne 0 ]; then echo "$fails check(s) failed"; exit 1; fi
echo ok
