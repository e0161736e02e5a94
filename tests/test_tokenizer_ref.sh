#!/usr/bin/env bash
# test_tokenizer_ref.sh - a tokenizer trained by `clpt tokenizer train` loads
# in Hugging Face tokenizers (and tiktoken, if installed), which encode every
# test file exactly as clpt does (tools/compare_tokenizer.py). Also checks
# clpt's GPT-2 encoding against them on the sample. Skipped (77) without the
# Python `tokenizers` package.
set -u
CLPT=${CLPT_BIN:?CLPT_BIN unset}
SRC=${CLPT_SOURCE_DIR:?CLPT_SOURCE_DIR unset}
SHARED=${CLPT_SHARED_DATA:-/nonexistent}
if ! python3 -c "import tokenizers" 2>/dev/null; then
    echo "skipped: the Python package 'tokenizers' is not installed"
    exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clpt_tok_ref.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
refs=hf,bytes
python3 -c "import tiktoken" 2>/dev/null && refs=tiktoken,$refs

# corpus: a few real domains if the shared data is here, else the sample
files=("$SRC/tests/data/tokenizer/sample.txt")
for d in Microbiology__Microbial_Biochemistry_to_Microbial_Growth \
         US_History__Antebellum_Idealism_and_Reform_to_Civil_War; do
    [ -d "$SHARED/openstax-m2d2/$d" ] && files+=("$SHARED/openstax-m2d2/$d")
done
"$CLPT" tokenizer train -q --vocab-size 2048 "${files[@]}" -o "$tmp/tok" || exit 1
python3 "$SRC/tools/compare_tokenizer.py" --clpt "$CLPT" --tokenizer "$tmp/tok" --ref "$refs" \
    "${files[@]}" || exit 1
if [ -d "$SHARED/gpt2" ]; then
    python3 "$SRC/tools/compare_tokenizer.py" --clpt "$CLPT" --tokenizer "$SHARED/gpt2" \
        --ref "$refs" "$SRC/tests/data/tokenizer/sample.txt" || exit 1
fi
echo ok
