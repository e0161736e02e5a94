#!/usr/bin/env bash
# run.sh - build the libFuzzer targets with clang and run each for a while.
#
#   tests/fuzz/run.sh [BUILD_DIR] [SECONDS]      (defaults: build-fuzz, 20)
#
# BUILD_DIR is configured with CC=clang (or $CC if it names a clang) and
# -DCLPT_FUZZ=ON; use a directory of its own, not a gcc build. Each target
# starts from the seed corpus in tests/fuzz/corpus/<target>/ (read-only, if
# present) with the dictionary tests/fuzz/<target>.dict (if present), and
# keeps what it finds in BUILD_DIR/fuzz-corpus/<target>/. The seed is fixed
# (FUZZ_SEED, default 1) so that a CI run repeats a run made before it. A crash leaves
# its input in BUILD_DIR/fuzz-artifacts/ and makes this script exit 1: add
# that input to the seed corpus as crash-* (tests/test_safetensors.c runs
# every file of corpus/safetensors/) or to the target's unit test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:-$src/build-fuzz}
secs=${2:-20}
cc=${CC:-clang}
case "$("$cc" --version 2>/dev/null | head -1)" in
    *clang*) ;;
    *) cc=clang ;;
esac
command -v "$cc" >/dev/null || { echo "run.sh: clang not found" >&2; exit 2; }

targets=(safetensors config shard manifest tokenizer journal ini)
CC=$cc cmake -S "$src" -B "$build" -DCLPT_FUZZ=ON -DCLPT_NATIVE=OFF -DCLPT_CUDA=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" \
    $(printf -- '--target fuzz_%s ' "${targets[@]}")

status=0
for t in "${targets[@]}"; do
    corpus=$build/fuzz-corpus/$t
    artifacts=$build/fuzz-artifacts
    mkdir -p "$corpus" "$artifacts"
    dict=() seeds=()
    [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
    [ -d "$here/corpus/$t" ] && seeds=("$here/corpus/$t")
    echo "== fuzz_$t for ${secs}s"
    if ! "$build/tests/fuzz/fuzz_$t" -seed="${FUZZ_SEED:-1}" -max_total_time="$secs" -max_len=4096 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 ${dict[@]+"${dict[@]}"} \
        -artifact_prefix="$artifacts/$t-" "$corpus" ${seeds[@]+"${seeds[@]}"}; then
        echo "fuzz_$t FAILED: see $artifacts" >&2
        status=1
    fi
done
exit $status
