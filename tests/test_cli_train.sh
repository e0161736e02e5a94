#!/usr/bin/env bash
# clpt train / clpt eval end to end on a synthetic corpus: the loss falls,
# checkpoints load, a run stopped and resumed ends bit-identical to an
# uninterrupted one, and bad configs are refused naming file:line.
set -euo pipefail
command -v python3 >/dev/null || { echo "skipped: python3 absent"; exit 77; }
CLPT=${CLPT_BIN:?}; src=${CLPT_SOURCE_DIR:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

python3 "$src/tests/make_shards.py" train.bin=100000 valid.bin=10000

cat > run.ini <<'INI'
[model]
preset = tiny
n_embd = 32
vocab_size = 64
n_ctx = 32
[train]
batch_size = 4
seq_len = 32
steps = 60
log_every = 10
out_dir = OUT
[optim]
lr = 1e-2
warmup_steps = 4
schedule = cosine
[data]
train = train.bin
valid = valid.bin
[runtime]
threads = 2
progress = never
INI

fail() { echo "FAIL: $*"; exit 1; }

# an uninterrupted run
"$CLPT" train --config run.ini --set train.out_dir=full 2>full.log || { cat full.log; fail "train"; }
test -f full/checkpoint/model.safetensors || fail "no checkpoint"
first=$(python3 -c "import json;l=[json.loads(x) for x in open('full/train.jsonl') if '\"step\"' in x and '\"loss\"' in x];print(l[0]['loss'], l[-1]['loss'])")
python3 -c "a,b=map(float,'$first'.split());assert b<a-0.5,(a,b)" || fail "loss did not fall: $first"

# the same run stopped at step 17 and resumed
"$CLPT" train --config run.ini --set train.out_dir=part --stop-at 17 2>part.log || fail "stop-at"
grep -q "stopped at step 17" part.log || { cat part.log; fail "did not stop at 17"; }
"$CLPT" train --config run.ini --set train.out_dir=part --resume 2>>part.log || { cat part.log; fail "resume"; }
cmp full/checkpoint/model.safetensors part/checkpoint/model.safetensors || fail "resumed weights differ"
cmp full/checkpoint/optimizer.safetensors part/checkpoint/optimizer.safetensors || fail "resumed optimizer differs"

# eval: JSON with ppl, nll, tokens; ppl = exp(nll); every token after the first scored
"$CLPT" eval --model full/checkpoint --data valid.bin --json --rank > eval.json 2>/dev/null || fail "eval"
python3 - <<'PY' || fail "eval output"
import json, math
e = json.load(open("eval.json"))
assert e["tokens"] == 9999, e
assert abs(e["ppl"] - math.exp(e["nll"])) < 1e-6 * e["ppl"], e
assert 1 < e["ppl"] < 64, e
assert e["rank_mean"] >= 1 and e["rank_median"] >= 1, e
PY

# bad input is refused naming the file and line / key
printf '[optim]\nlr = fast\n' > bad.ini
if "$CLPT" train --config bad.ini 2>bad.log; then fail "bad config accepted"; fi
grep -q "bad.ini:2" bad.log || { cat bad.log; fail "no file:line in error"; }
printf 'not a shard' > junk.bin
if "$CLPT" eval --model full/checkpoint --data junk.bin 2>junk.log; then fail "junk shard accepted"; fi
grep -q "junk.bin" junk.log || { cat junk.log; fail "shard error does not name the file"; }
echo "ok"
