#!/usr/bin/env bash
# test_lua_protocol.sh - clpt.protocol end to end on a tiny synthetic corpus:
# ZS, DAPT and 2 strategies x 2 orders, the report, a rerun that recomputes
# nothing, an interrupted protocol that resumes, and an evaluation subset.
set -euo pipefail
bin=${CLPT_BIN:?}; src=${CLPT_SOURCE_DIR:?}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
source "$src/tests/lua/corpus.sh"
make_corpus
p=$src/tests/lua/protocol.lua
cells() { cat "$1"/*/journal.jsonl | grep -c '"event":"eval"'; }

"$bin" run "$p" "$corpus" "$config" "$tmp/exp" > "$tmp/out" 2> "$tmp/err" || { cat "$tmp/err" >&2; fail "protocol"; }
grep -q '^protocol ok' "$tmp/out" || fail "protocol.lua"
for r in zs dapt similar-sequential similar-replay random-sequential random-replay; do
    [ -s "$tmp/exp/$r/journal.jsonl" ] || fail "run $r missing"
done
for f in report.html report.csv report.md; do [ -s "$tmp/exp/$f" ] || fail "$f missing"; done
grep -q 'protocol test' "$tmp/exp/report.html" || fail "report title"
grep -q '^CPT - DAPT ' "$tmp/out" || fail "no summary table"
# 4 ZS + 4 DAPT + 4 runs x 4 checkpoints x 4 domains
[ "$(cells "$tmp/exp")" -eq 72 ] || fail "expected 72 cells, found $(cells "$tmp/exp")"
grep -q '"model":"dapt:Tools__Saws"' "$tmp/exp/dapt/journal.jsonl" || fail "DAPT cell label"

# a rerun recomputes nothing
"$bin" run "$p" "$corpus" "$config" "$tmp/exp" > /dev/null 2> "$tmp/err2" || fail "rerun"
[ "$(grep -c 'finished before, skipped' "$tmp/err2")" -eq 6 ] || fail "rerun did not skip all 6 runs"
[ "$(cells "$tmp/exp")" -eq 72 ] || fail "rerun added cells"
! grep -q '"event":"domain_begin"' <(tail -n 3 "$tmp/exp/similar-replay/journal.jsonl") || fail "rerun trained"

# interrupted in the middle of the third run, then resumed
"$bin" run "$p" "$corpus" "$config" "$tmp/int" all similar-replay > /dev/null 2> "$tmp/err3" && fail "no error"
grep -q "protocol.lua:13: stop the world" "$tmp/err3" || { cat "$tmp/err3" >&2; fail "hook error not reported"; }
[ ! -e "$tmp/int/random-sequential" ] || fail "the protocol went on after the error"
"$bin" run "$p" "$corpus" "$config" "$tmp/int" > "$tmp/out4" 2> "$tmp/err4" || { cat "$tmp/err4" >&2; fail "resume"; }
grep -q 'similar-replay .*2/4 domains done' "$tmp/err4" || fail "similar-replay did not resume at 2/4"
[ "$(cells "$tmp/int")" -eq 72 ] || fail "resumed protocol: $(cells "$tmp/int") cells"

# evaluation subset: seen + next 1
"$bin" run "$p" "$corpus" "$config" "$tmp/sub" next1 > "$tmp/out5" 2> "$tmp/err5" || { cat "$tmp/err5" >&2; fail "next1"; }
grep -q '^protocol ok' "$tmp/out5" || fail "next1 checks"
# per run: checkpoint n sees min(n + 1, 4) domains: 2 + 3 + 4 + 4 = 13
[ "$(cells "$tmp/sub")" -eq $((8 + 4 * 13)) ] || fail "seen+next1 cells: $(cells "$tmp/sub")"
# the paper script, with the tiny config instead of GPT-2 from the Hub
"$bin" run "$src/lua/paper/m2d2.lua" gpt2 "$corpus" "$tmp/paper" "config=$config" domains=3 eval=seen \
    strategies=sequential,replay > "$tmp/out6" 2> "$tmp/err6" || { cat "$tmp/err6" >&2; fail "m2d2.lua"; }
grep -q "note: 3 domains" "$tmp/err6" || fail "m2d2.lua domain note"
grep -q "^m2d2: gpt2 done" "$tmp/out6" || fail "m2d2.lua did not finish"
[ -s "$tmp/paper/random-replay/journal.jsonl" ] && [ -s "$tmp/paper/report.html" ] || fail "m2d2.lua runs"
"$bin" run "$src/lua/paper/m2d2.lua" gpt2 "$corpus" "$tmp/paper" bogus=1 2> "$tmp/err7" && fail "bogus option"
grep -q "unknown option 'bogus=1'" "$tmp/err7" || fail "m2d2.lua option error"
echo ok
