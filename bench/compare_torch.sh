#!/usr/bin/env bash
# Training and evaluation throughput of clpt's CPU backend against PyTorch
# (fp32, same model, same thread count), run back to back in one script.
#
#   bench/compare_torch.sh [BUILD_DIR]     (THREADS=2 STEPS=5 by default)
#
# Configs: gpt2 (124M) at B x T = 8 x 128, and a small one (6 layers, 384
# channels, vocab 8192, T = 256). Prints each side's tokens/s and the ratios.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
bin=$build/bench/bench_train
threads=${THREADS:-2}
steps=${STEPS:-5}
py=/usr/bin/python3
$py -c "import torch" 2>/dev/null || py=python3
$py -c "import torch" 2>/dev/null || { echo "compare_torch: no python with torch (apt-get install python3-torch)"; exit 2; }
[ -x "$bin" ] || { echo "compare_torch: $bin not built"; exit 2; }

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
run() {
  local name=$1; shift
  local c t
  c=$(OMP_NUM_THREADS=$threads "$bin" "$@" --steps "$steps")
  t=$($py "$here/bench_torch.py" "$@" --steps "$steps" --threads "$threads")
  echo "$c" | sed 's/^/  clpt:  /'
  echo "$t" | grep -v RESULT | sed 's/^/  /'
  local ct tt ce te cm tm
  ct=$(echo "$c" | grep RESULT | field train_tps); tt=$(echo "$t" | grep RESULT | field train_tps)
  ce=$(echo "$c" | grep RESULT | field eval_tps);  te=$(echo "$t" | grep RESULT | field eval_tps)
  cm=$(echo "$c" | grep RESULT | field peak_rss_mb); tm=$(echo "$t" | grep RESULT | field peak_rss_mb)
  printf '%-8s train %8.1f vs %8.1f tok/s = %.2fx | eval %8.1f vs %8.1f = %.2fx | eval/train %.2fx | RSS %6.0f vs %6.0f MB\n' \
    "$name" "$ct" "$tt" "$(awk "BEGIN{print $ct/$tt}")" "$ce" "$te" "$(awk "BEGIN{print $ce/$te}")" \
    "$(awk "BEGIN{print $ce/$ct}")" "$cm" "$tm"
}
echo "threads=$threads steps=$steps ($(nproc) cores)"
run gpt2 --layers 12 --heads 12 --embd 768 --ctx 1024 --vocab 50257 -B 8 -T 128
run small --layers 6 --heads 6 --embd 384 --ctx 256 --vocab 8192 -B 8 -T 256
