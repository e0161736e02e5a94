#!/usr/bin/env bash
# bench_tokenizer.sh - GPT-2 encoding throughput of clpt vs tiktoken, one
# thread each, on the same text, encode time only (files read beforehand).
#
#   bench/bench_tokenizer.sh [--clpt BIN] [--tokenizer DIR] [--repeat R] [FILE...]
#
# BIN defaults to $CLPT_BIN, else build/clpt or the newest build*/clpt; DIR to
# ../shared/data/gpt2; FILEs to the concatenated openstax-m2d2 train.txt
# files. Builds nothing. Prints MB/s (1e6 bytes/s, best of R runs, each with
# fresh caches) for clpt, tiktoken (if the Python package is installed) and
# their ratio. tiktoken gets the same vocabulary from the local files and its
# own GPT-2 pattern, and runs encode_ordinary on one str (single-threaded).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
clpt=${CLPT_BIN:-}
tokdir=$root/../shared/data/gpt2
repeat=3
files=()
while [ $# -gt 0 ]; do
    case $1 in
        --clpt) clpt=$2; shift 2 ;;
        --tokenizer) tokdir=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) files+=("$1"); shift ;;
    esac
done
if [ -z "$clpt" ]; then
    clpt=$(ls -t "$root"/build/clpt "$root"/build*/clpt 2>/dev/null | head -n 1 || true)
fi
[ -x "$clpt" ] || { echo "bench_tokenizer: no clpt binary (build it, or pass --clpt BIN)" >&2; exit 2; }
[ -d "$tokdir" ] || { echo "bench_tokenizer: no tokenizer at $tokdir (--tokenizer DIR)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ${#files[@]} -eq 0 ]; then
    corpus=$root/../shared/data/openstax-m2d2
    [ -d "$corpus" ] || { echo "bench_tokenizer: give a FILE ($corpus absent)" >&2; exit 2; }
    cat "$corpus"/*/train.txt >"$tmp/text"
else
    cat "${files[@]}" >"$tmp/text"
fi
echo "text: $(wc -c <"$tmp/text") bytes; clpt: $clpt; tokenizer: $tokdir"

line=$(OMP_NUM_THREADS=1 "$clpt" tokenizer bench --tokenizer "$tokdir" --repeat "$repeat" "$tmp/text")
clpt_mbs=$(echo "$line" | awk '{for (i = 1; i < NF; i++) if ($i == "MB/s") print $(i + 1)}')
clpt_tok=$(echo "$line" | awk '{print $4}')
echo "clpt      $clpt_mbs MB/s  ($clpt_tok tokens)"

if ! python3 -c "import tiktoken" 2>/dev/null; then
    echo "tiktoken  not installed (pip install tiktoken); no ratio"
    exit 0
fi
RAYON_NUM_THREADS=1 python3 - "$tokdir" "$tmp/text" "$repeat" "$clpt_mbs" "$clpt_tok" <<'PY'
import os, sys, time
import tiktoken
import tiktoken_ext.openai_public as openai_public
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
tokdir, path, repeat, clpt_mbs, clpt_tok = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
names = ("vocab.json", "merges.txt") if os.path.exists(os.path.join(tokdir, "vocab.json")) else ("encoder.json", "vocab.bpe")
ranks = data_gym_to_mergeable_bpe_ranks(os.path.join(tokdir, names[1]), os.path.join(tokdir, names[0]))
enc = tiktoken.Encoding("gpt2-local", pat_str=openai_public.r50k_pat_str, mergeable_ranks=ranks,
                        special_tokens={})
data = open(path, "rb").read()
text = data.decode("utf-8", errors="replace")
best = float("inf")
for _ in range(repeat):
    t0 = time.perf_counter()
    ids = enc.encode_ordinary(text)
    best = min(best, time.perf_counter() - t0)
mbs = len(data) / best / 1e6
print("tiktoken  %.2f MB/s  (%d tokens%s)" % (mbs, len(ids), "" if len(ids) == clpt_tok else ", COUNT DIFFERS"))
print("ratio     clpt/tiktoken = %.2f" % (clpt_mbs / mbs))
PY
