#!/usr/bin/env bash
# test_lua_api.sh - `clpt run` and the clpt Lua module on a tiny synthetic
# corpus: tests/lua/api.lua (the module's functions), then what a user sees
# when a script goes wrong: file:line and a traceback, the strategy and
# option named, the domain named, and a run that an error stopped mid-way
# still reads back and resumes.
set -euo pipefail
bin=${CLPT_BIN:?}; src=${CLPT_SOURCE_DIR:?}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
source "$src/tests/lua/corpus.sh"
make_corpus

"$bin" run "$src/tests/lua/api.lua" "$corpus" "$config" "$tmp" > "$tmp/api.out" 2> "$tmp/api.err" \
    || { cat "$tmp/api.err" >&2; fail "api.lua"; }
grep -q '^api ok' "$tmp/api.out" || fail "api.lua did not finish"
grep -q '^FG ' "$tmp/api.out" || fail "no summary table after clpt run"

# expect_error SCRIPT-BODY PATTERN...: the script fails and stderr has each pattern
n=0
expect_error() {
    local body=$1; shift
    n=$((n + 1))
    printf 'local clpt = require "clpt"\nlocal exp = assert(clpt.open{config = arg[2], data = arg[1], dir = arg[3]})\n%s\n' \
        "$body" > "$tmp/e$n.lua"
    if "$bin" run "$tmp/e$n.lua" "$corpus" "$config" "$tmp/err-exp" > "$tmp/e$n.out" 2> "$tmp/e$n.err"; then
        fail "e$n.lua should fail"
    fi
    for p in "$@"; do
        grep -qF -- "$p" "$tmp/e$n.err" || { cat "$tmp/e$n.err" >&2; fail "e$n.lua: stderr lacks '$p'"; }
    done
}
expect_error 'local x = nil
x.field = 1' "e1.lua:4:" "stack traceback:" "in main chunk"
expect_error 'exp:run{name = "r", strategy = "replay", options = {ratio = 0.2, bogus = 1}}' \
    "e2.lua:3:" "strategy 'replay'" "unknown option 'bogus'"
expect_error 'exp:run{name = "r", strategy = "ewc", options = {lambda = "big"}}' \
    "e3.lua:3:" "strategy 'ewc'" "option 'lambda'"
expect_error 'exp:run{name = "r", schedule = {"Tools__Saws", "Nope"}}' "e4.lua:3:" "unknown domain 'Nope'"
expect_error 'exp:run{name = "r", schedule = {"Tools__Saws", "Animals__Cats", "Tools__Saws"}}' \
    "e5.lua:3:" "domain 'Tools__Saws' appears twice"
expect_error 'local s = require "clpt.schedule"
s.custom(exp, {"Animals__Dogs", "Nope"})' "e6.lua:4:" "unknown domain 'Nope'"
expect_error 'error("plain failure")' "e7.lua:3: plain failure"
expect_error 'require "clpt.nosuchmodule"' "module 'clpt.nosuchmodule' not found"

# an error in a hook part-way: reported where it happened, journal readable,
# the run resumes after the finished domains and ends like an uninterrupted one
hook='local run = assert(exp:run{name = "h", strategy = "sequential"})
run:on("domain_end", function(ev) if ev.index == 2 and not arg[4] then error("hook failed at " .. ev.domain) end end)
assert(run:run_all())
print("done", run:info().done)'
printf 'local clpt = require "clpt"\nlocal exp = assert(clpt.open{config = arg[2], data = arg[1], dir = arg[3]})\n%s\n' \
    "$hook" > "$tmp/hook.lua"
"$bin" run "$tmp/hook.lua" "$corpus" "$config" "$tmp/hx" > /dev/null 2> "$tmp/hook.err" && fail "hook error ignored"
grep -q "hook.lua:4: hook failed at Animals__Dogs" "$tmp/hook.err" || { cat "$tmp/hook.err" >&2; fail "hook error"; }
grep -q "in function <.*hook.lua:4>" "$tmp/hook.err" || fail "no traceback into the hook"
"$bin" report --summary "$tmp/hx/h" > "$tmp/part" || fail "journal unreadable after the error"
"$bin" run "$tmp/hook.lua" "$corpus" "$config" "$tmp/hx" resume > "$tmp/resume.out" 2> "$tmp/resume.err" \
    || { cat "$tmp/resume.err" >&2; fail "resume"; }
grep -q "resuming after 2 of 4 domains" "$tmp/resume.err" || fail "did not resume after domain 2"
grep -q "^done	4" "$tmp/resume.out" || fail "resumed run did not finish"
"$bin" run "$tmp/hook.lua" "$corpus" "$config" "$tmp/hy" resume > "$tmp/whole.out" 2>/dev/null || fail "uninterrupted"
# the same cells as an uninterrupted run (the journal is exact on resume)
"$bin" report --summary "$tmp/hx/h" | grep -E '^(CPT|LC|FG) ' > "$tmp/a"
"$bin" report --summary "$tmp/hy/h" | grep -E '^(CPT|LC|FG) ' > "$tmp/b"
diff "$tmp/a" "$tmp/b" > /dev/null || { diff "$tmp/a" "$tmp/b" >&2; fail "resumed run differs"; }
cells=$(grep -c '"event":"eval"\|"event": "eval"' "$tmp/hx/h/journal.jsonl")
[ "$cells" -eq 16 ] || fail "expected 16 evaluation cells after resume, found $cells"
echo ok
