#!/usr/bin/env bash
# test_disk_faults.sh - a full disk and a read-only output folder, under
# `clpt train` and under the run engine (`clpt run`). Each fault must stop the
# command with an error naming the file, leave the last checkpoint loadable
# and the log's earlier lines byte for byte (a record cut short is removed),
# and once the fault is lifted, resuming must end with the same weights (and
# evaluation cells) as an uninterrupted run.
#
# A full disk is a file-size limit (RLIMIT_FSIZE, set byte-exact): writes past
# it fail with EFBIG as they would with ENOSPC. SIGXFSZ is left at its default,
# so the test also checks that clpt ignores it itself rather than dying. A
# read-only folder is chmod a-w; as root, which chmod does not stop, that part
# runs clpt as the unprivileged user nobody, or is skipped when it cannot.
set -euo pipefail
command -v python3 >/dev/null || { echo "skipped: python3 absent"; exit 77; }
bin=${CLPT_BIN:?}; src=${CLPT_SOURCE_DIR:?}
umask 022  # the files made here must be readable by the user of the read-only case
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$tmp"

# limited BYTES CMD...: CMD with every file it writes capped at BYTES.
limited() {
    local n=$1; shift
    python3 -c 'import os, resource, signal, sys
n = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it; clpt must
os.execv(sys.argv[2], sys.argv[2:])' "$n" "$@"
}

# The read-only case needs a user whom chmod binds.
as_user() { "$@"; }
ro_ok=1
if [ "$(id -u)" -eq 0 ]; then
    as_user() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
    chmod 755 "$tmp"
    if ! command -v setpriv >/dev/null || [[ "$(as_user "$bin" plugins 2>/dev/null)" != *replay* ]] ||
       ! as_user test -r "$src/lua/clpt/protocol.lua"; then
        ro_ok=0
        echo "read-only folder: skipped (running as root; cannot run clpt as nobody)"
    fi
fi
# make_ro DIR: DIR read-only for as_user, whose files below it it may still write
make_ro() { [ "$(id -u)" -ne 0 ] || chown -R 65534:65534 "$1"; chmod a-w "$1"; }
undo_ro() { chmod u+w "$1"; [ "$(id -u)" -ne 0 ] || chown -R 0:0 "$1"; }

# must_fail LOG WHAT CMD...: CMD exits 1 (an error, not a signal); its stderr
# goes through a pipe, which no file-size limit applies to, into LOG.
must_fail() {
    local log=$1 what=$2; shift 2
    set +e
    "$@" 2>&1 >/dev/null | cat > "$log"
    local rc=${PIPESTATUS[0]}
    set -e
    [ "$rc" -eq 1 ] || { cat "$log" >&2; fail "$what: exit status $rc, expected 1"; }
}
# mentions LOG WHAT TEXT...: LOG holds each TEXT
mentions() {
    local log=$1 what=$2; shift 2
    for t in "$@"; do grep -qF -- "$t" "$log" || { cat "$log" >&2; fail "$what: the error does not say '$t'"; }; done
}
# prefix_of OLD NEW: NEW starts with the bytes of OLD
prefix_of() { cmp -s -n "$(stat -c %s "$1")" "$1" "$2"; }

# ---- clpt train ------------------------------------------------------------------
python3 "$src/tests/make_shards.py" train.bin=50000 valid.bin=5000
cat > run.ini <<INI
[model]
preset = tiny
n_embd = 32
vocab_size = 64
n_ctx = 32
[train]
batch_size = 4
seq_len = 32
steps = 40
log_every = 5
save_every = 10
[optim]
lr = 1e-2
schedule = cosine
[data]
train = $tmp/train.bin
valid = $tmp/valid.bin
[runtime]
threads = 2
progress = never
INI
train() { "$bin" train --config "$tmp/run.ini" --set "train.out_dir=$tmp/$1" "${@:2}"; }

train full 2> full.log || { cat full.log >&2; fail "uninterrupted train"; }
train part --stop-at 20 2> part.log || { cat part.log >&2; fail "train --stop-at 20"; }
cp -a part/checkpoint ck20
cp part/train.jsonl log20
[ "$(stat -c %s ck20/model.safetensors)" -gt 65536 ] || fail "the model is too small for a 64 KiB limit"
intact() {  # what: the checkpoint of step 20 and the log's lines as they were
    diff -r ck20 part/checkpoint > /dev/null || fail "$1: the checkpoint changed"
    [ ! -e part/checkpoint.tmp ] && [ ! -e part/checkpoint.old ] || fail "$1: a partial checkpoint is left"
    prefix_of log20 part/train.jsonl || fail "$1: the log's earlier lines changed"
    "$bin" eval --model part/checkpoint --data valid.bin > /dev/null 2>&1 || fail "$1: the checkpoint does not load"
}

# the disk fills in the middle of a log line: the line is cut back out
must_fail err.log "train, log full" limited $(( $(stat -c %s log20) + 10 )) "$bin" train \
    --config run.ini --set "train.out_dir=$tmp/part" --resume
mentions err.log "train, log full" "part/train.jsonl" "File too large"
cmp -s log20 part/train.jsonl || fail "train, log full: a torn line is left in train.jsonl"
intact "train, log full"

# the disk fills while the checkpoint of step 30 is written
must_fail err.log "train, checkpoint full" limited 65536 "$bin" train \
    --config run.ini --set "train.out_dir=$tmp/part" --resume
mentions err.log "train, checkpoint full" "part/checkpoint" "model.safetensors" "File too large"
intact "train, checkpoint full"

# the output folder is read-only: the log can grow, no checkpoint can be made
if [ "$ro_ok" = 1 ]; then
    make_ro part
    must_fail err.log "train, read-only folder" as_user "$bin" train \
        --config run.ini --set "train.out_dir=$tmp/part" --resume
    undo_ro part
    mentions err.log "train, read-only folder" "part/checkpoint.tmp" "Permission denied"
    intact "train, read-only folder"
fi

# fault lifted: the resumed run ends where the uninterrupted one did
train part --resume 2>> part.log || { cat part.log >&2; fail "train resume after the faults"; }
cmp -s full/checkpoint/model.safetensors part/checkpoint/model.safetensors || fail "train: resumed weights differ"
cmp -s full/checkpoint/optimizer.safetensors part/checkpoint/optimizer.safetensors || fail "train: resumed optimizer differs"
prefix_of log20 part/train.jsonl || fail "train: the log's earlier lines changed"
echo "clpt train: ok"

# ---- the run engine (clpt run) ---------------------------------------------------
source "$src/tests/lua/corpus.sh"
make_corpus
cat > run.lua <<'LUA'
local clpt = require "clpt"
local corpus, config, dir, stop_after = ...
local exp <close> = assert(clpt.open{config = config, data = corpus, dir = dir})
local run <close> = assert(exp:run{name = "replay", strategy = "replay", options = {ratio = 0.5},
                                  steps = 4, save_every = 2})
if stop_after then
  run:on("domain_end", function(ev) if ev.index == tonumber(stop_after) then return "stop" end end)
end
local ok, why = run:run_all()
assert(ok or why == "stopped", why)
LUA
crun() { "$bin" run "$tmp/run.lua" "$corpus" "$config" "$tmp/$1" "${@:2}"; }

crun ref > /dev/null 2> ref.log || { cat ref.log >&2; fail "uninterrupted run"; }
crun exp 2 > /dev/null 2> exp.log || { cat exp.log >&2; fail "run stopped after domain 2"; }
j=exp/replay/journal.jsonl
ck=exp/replay/checkpoints
cp "$j" journal2
cp -a "$ck/latest" latest2
run_intact() {
    diff -r latest2 "$ck/latest" > /dev/null || fail "$1: the checkpoint changed"
    [ ! -e "$ck/latest.tmp" ] && [ ! -e "$ck/latest.old" ] || fail "$1: a partial checkpoint is left"
    prefix_of journal2 "$j" || fail "$1: the journal's earlier lines changed"
    "$bin" eval --model "$ck/latest" --data "$corpus" --max-tokens 64 > /dev/null 2>&1 \
        || fail "$1: the checkpoint does not load"
}

# the journal's first new line (the resumed `run` event) meets a full disk
must_fail err.log "run, journal full" limited $(( $(stat -c %s "$j") + 10 )) "$bin" run \
    "$tmp/run.lua" "$corpus" "$config" "$tmp/exp"
mentions err.log "run, journal full" "replay/journal.jsonl" "File too large"
cmp -s journal2 "$j" || fail "run, journal full: a torn line is left in the journal"
run_intact "run, journal full"

# the checkpoint at step 2 of domain 3 meets a full disk
must_fail err.log "run, checkpoint full" limited 65536 "$bin" run "$tmp/run.lua" "$corpus" "$config" "$tmp/exp"
mentions err.log "run, checkpoint full" "checkpoints/latest" "model.safetensors" "File too large"
run_intact "run, checkpoint full"

# the checkpoint folder is read-only
if [ "$ro_ok" = 1 ]; then
    [ "$(id -u)" -ne 0 ] || chown -R 65534:65534 exp
    make_ro "$ck"
    must_fail err.log "run, read-only folder" as_user "$bin" run "$tmp/run.lua" "$corpus" "$config" "$tmp/exp"
    undo_ro "$ck"
    [ "$(id -u)" -ne 0 ] || chown -R 0:0 exp
    mentions err.log "run, read-only folder" "replay/checkpoints/strategy." "Permission denied"
    run_intact "run, read-only folder"
fi

# fault lifted: the same cells and weights as the uninterrupted run
crun exp > /dev/null 2>> exp.log || { cat exp.log >&2; fail "run resume after the faults"; }
prefix_of journal2 "$j" || fail "run: the journal's earlier lines changed"
cells() {
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "eval":
        print(e["model"], e["domain"], e["split"], repr(e["ppl"]), e["tokens"])
' "$1" | sort -u
}
cells ref/replay/journal.jsonl > ref.cells
cells "$j" > exp.cells
[ "$(wc -l < ref.cells)" -eq 16 ] || fail "the reference has $(wc -l < ref.cells) cells, expected 16"
diff ref.cells exp.cells >&2 || fail "run: the cells differ from the uninterrupted run"
cmp -s ref/replay/checkpoints/latest/model.safetensors "$ck/latest/model.safetensors" \
    || fail "run: the final weights differ"
echo "clpt run: ok"
echo ok
