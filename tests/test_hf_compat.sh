#!/usr/bin/env bash
# test_hf_compat.sh - clpt checkpoints load in transformers with the same
# logits, and transformers-saved checkpoints load in clpt (max |diff| 1e-4).
# Skipped (77) where Python with torch + transformers is not importable.
# Runs in the build's tests/ directory, next to the test_checkpoint binary
# whose CLPT_HF_DUMP_DIR / CLPT_HF_LOAD_DIR modes do the clpt side.
set -u
src=${CLPT_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}

py=""
for cand in /usr/bin/python3 python3; do
    if command -v "$cand" >/dev/null 2>&1 &&
       "$cand" -c 'import torch, transformers, safetensors' >/dev/null 2>&1; then
        py=$cand
        break
    fi
done
if [ -z "$py" ]; then
    echo "skipped: no python3 with torch + transformers + safetensors"
    exit 77
fi
if [ ! -x ./test_checkpoint ]; then
    echo "test_checkpoint not found in $(pwd)"
    exit 1
fi

work=$(mktemp -d "$PWD/hf_compat.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
export TRANSFORMERS_OFFLINE=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

CLPT_HF_DUMP_DIR=$work ./test_checkpoint || { echo "FAIL: clpt dump"; exit 1; }
"$py" "$src/tests/hf_compat.py" check "$work" || { echo "FAIL: clpt -> transformers"; exit 1; }
"$py" "$src/tests/hf_compat.py" make "$work" || { echo "FAIL: transformers export"; exit 1; }
CLPT_HF_LOAD_DIR=$work ./test_checkpoint || { echo "FAIL: transformers -> clpt"; exit 1; }
echo ok
