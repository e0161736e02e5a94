#!/bin/bash
# test_plugins_cli.sh - `clpt plugins` and `clpt plugin check` on the built-in
# strategies and the test plugins (exit codes, messages), and the template
# strategy built out of tree with one cc command against the header alone.
set -u
: "${CLPT_BIN:?}" "${CLPT_SOURCE_DIR:?}"
build=$(dirname "$CLPT_BIN")
tp=$build/plugins/tests
tmp=$(mktemp -d /tmp/clpt_plugins_cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0
unset CLPT_PLUGIN_PATH

# expect STATUS PATTERN COMMAND...: exit status and a fixed string in the output
expect() {
    local want=$1 pattern=$2
    shift 2
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" != "$want" ] || ! grep -qF -- "$pattern" <<<"$out"; then
        echo "FAIL: $* -> exit $rc (want $want), output:"
        echo "$out" | sed 's/^/    /'
        echo "    (wanted: $pattern)"
        fail=1
    fi
}

for s in sequential finetune replay ewc l2 agem; do
    expect 0 "$s 1.0.0 - " "$CLPT_BIN" plugins
done
expect 0 "    ratio              float  default 0.25  [0, 0.9]" "$CLPT_BIN" plugins
expect 0 "file: $build/strategies/ewc.so" "$CLPT_BIN" plugins -v
expect 0 "refused: $tp/bad_major.so: built for plugin ABI 2.0, this clpt has ABI 1.0" \
    "$CLPT_BIN" plugins --path "$tp"
expect 2 "usage: clpt plugins" "$CLPT_BIN" plugins --bogus

expect 0 "$build/strategies/replay.so: ok: strategy 'replay' 1.0.0 (ABI 1.0), 5 options" \
    "$CLPT_BIN" plugin check "$build/strategies/replay.so" ratio=0.5 mode=additive
expect 0 "ok: strategy 'ewc'" "$CLPT_BIN" plugin check ewc lambda=10
expect 1 "clpt: strategy 'replay' ($build/strategies/replay.so): option 'ratio': '2' is out of range [0, 0.9]" \
    "$CLPT_BIN" plugin check replay ratio=2
expect 1 "unknown option 'alpha'; valid options: ratio, past, weighting, budget, mode" \
    "$CLPT_BIN" plugin check replay alpha=1
expect 1 "clpt: $tp/bad_pair.so: strategy 'broken': hook 'destroy' is NULL but 'create' is set" \
    "$CLPT_BIN" plugin check "$tp/bad_pair.so"
expect 1 "clpt: $tp/bad_nosym.so: no symbol 'clpt_strategy_descriptor'" "$CLPT_BIN" plugin check "$tp/bad_nosym.so"
expect 1 "unknown strategy 'nosuch'; found: " "$CLPT_BIN" plugin check nosuch
expect 2 "usage: clpt plugin check" "$CLPT_BIN" plugin
expect 0 "usage: clpt plugin check" "$CLPT_BIN" plugin --help

# the template, out of tree: one cc command, the header only
mkdir -p "$tmp/plugins" "$tmp/inc"
cp "$CLPT_SOURCE_DIR/plugins/clpt_plugin.h" "$tmp/inc/"
cp "$CLPT_SOURCE_DIR/plugins/template/merge.c" "$tmp/"
if ! (cd "$tmp" && cc -std=c11 -Wall -Wextra -Werror -O2 -shared -fPIC -Iinc -o plugins/merge.so merge.c); then
    echo "FAIL: the template does not build out of tree"
    fail=1
fi
expect 0 "ok: strategy 'merge' 1.0.0 (ABI 1.0), 1 option" "$CLPT_BIN" plugin check "$tmp/plugins/merge.so" beta=0.2
expect 0 "merge 1.0.0 - template" env CLPT_PLUGIN_PATH="$tmp/plugins" "$CLPT_BIN" plugins
# the working directory is not searched implicitly
expect 1 "unknown strategy 'merge'" sh -c "cd '$tmp/plugins' && '$CLPT_BIN' plugin check merge"

[ $fail = 0 ] && echo ok
exit $fail
