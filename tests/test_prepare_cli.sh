#!/usr/bin/env bash
# test_prepare_cli.sh - `clpt prepare` end to end: usage errors, a run
# killed half-way (no manifest, no shard that looks complete but is not,
# and a re-run that ends exactly where an uninterrupted run does), and, when
# $CLPT_SHARED_DATA is there, two real OpenStax domains with GPT-2's
# tokenizer checked against `clpt tokenizer encode` of the same documents
# split by awk.
set -u
CLPT=${CLPT_BIN:?CLPT_BIN unset}
SHARED=${CLPT_SHARED_DATA:-/nonexistent}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clpt_prep_cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect_error STATUS WANT COMMAND...: exits with STATUS and says WANT
expect_error() {
    local want_rc=$1 want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [ "$rc" -eq "$want_rc" ] || fail "'$*' exited $rc, not $want_rc: $(cat "$tmp/err")"
    grep -qF -- "$want" "$tmp/err" || fail "'$*' said '$(cat "$tmp/err")', not '$want'"
}

"$CLPT" prepare --help | grep -q "usage: clpt prepare" || fail "prepare --help"
expect_error 2 "CORPUS is required" "$CLPT" prepare -t x
expect_error 2 "--tokenizer is required" "$CLPT" prepare "$tmp"
expect_error 2 "bad value for --split" "$CLPT" prepare -t x --split 0.9,0.1 "$tmp"
expect_error 2 "unknown option" "$CLPT" prepare -t x --frobnicate 1 "$tmp"
mkdir -p "$tmp/empty"
expect_error 1 "--split 0.5,0.1,0.1" "$CLPT" prepare -t x --split 0.5,0.1,0.1 -o "$tmp/o" "$tmp/empty"
expect_error 1 "$tmp/none: no tokenizer" "$CLPT" prepare -t "$tmp/none" -o "$tmp/o" "$tmp/empty"
expect_error 1 "is inside the corpus" "$CLPT" prepare -t x -o "$tmp/empty/o" "$tmp/empty"

# ---- a corpus of 6 M2D2 domains and a small tokenizer ------------------------------
corpus=$tmp/corpus
for d in 1 2 3 4 5 6; do
    mkdir -p "$corpus/area__topic$d"
    for s in train valid test; do
        n=$([ $s = train ] && echo 3000 || echo 300)
        awk -v n="$n" -v d="$d" -v s="$s" 'BEGIN { for (i = 1; i <= n; i++) {
            printf "Line %d of %s in topic %d: the quick brown fox, %d jumps.\n", i, s, d, i * d
            if (i % 40 == 0) print "" } }' >"$corpus/area__topic$d/$s.txt"
    done
done
"$CLPT" tokenizer train -q --vocab-size 300 "$corpus/area__topic1/train.txt" -o "$tmp/tok" ||
    fail "tokenizer train"

"$CLPT" prepare -q -j 1 -t "$tmp/tok" -o "$tmp/clean" "$corpus" || fail "clean run"
"$CLPT" prepare -q -j 1 -t "$tmp/tok" -o "$tmp/killed" "$corpus" || fail "first run"
[ -f "$tmp/killed/manifest.json" ] || fail "no manifest after the first run"

# Every input changes, then the run is killed (SIGKILL, no clean-up) after
# 5 chunks: the stale manifest must be gone and no partial shard may pass
# for a complete one.
for f in "$corpus"/area__topic*/*.txt; do echo "one more line" >>"$f"; done
CLPT_PREPARE_FAULT_AFTER=5 "$CLPT" prepare -q -j 1 -t "$tmp/tok" -o "$tmp/killed" "$corpus" \
    2>"$tmp/err"
rc=$?
[ $rc -eq 137 ] || fail "the fault hook did not kill prepare (exit $rc)"
[ -f "$tmp/killed/manifest.json" ] && fail "a killed run left manifest.json"
ntmp=0
for f in $(find "$tmp/killed" -type f \( -name '*.bin' -o -name '*.tmp.*' \)); do
    size=$(stat -c %s "$f")
    read -r magic version count < <(od -An -t d4 -N 12 "$f")
    case $f in
    *.tmp.*)
        ntmp=$((ntmp + 1))
        [ "${magic:-0}" = 0 ] || fail "$f: a temporary file with a shard's magic" ;;
    *)
        [ "$magic" = 20240520 ] && [ "$size" -eq $((1024 + 2 * count)) ] ||
            fail "$f: named like a shard but not a complete one" ;;
    esac
done
[ $ntmp -ge 1 ] || fail "expected the killed writer's temporary file(s)"
# the domains with a stamp are complete: their shards match the stamp
for st in "$tmp"/killed/*/stamp.json; do
    [ -f "$st" ] || continue
    for f in $(grep -o '"[a-z]*_[0-9]*\.bin"' "$st" | tr -d '"'); do
        [ -f "$(dirname "$st")/$f" ] || fail "$st lists $f, which is missing"
    done
done

"$CLPT" prepare -q -j 1 -t "$tmp/tok" -o "$tmp/clean" "$corpus" || fail "clean re-run"
"$CLPT" prepare -q -j 2 -t "$tmp/tok" -o "$tmp/killed" "$corpus" || fail "run after the kill"
cmp -s "$tmp/clean/manifest.json" "$tmp/killed/manifest.json" ||
    fail "the run after a kill differs from an uninterrupted run"
[ -z "$(find "$tmp/killed" -name '*.tmp.*')" ] || fail "temporary files left behind"
"$CLPT" prepare -t "$tmp/tok" -o "$tmp/killed" "$corpus" 2>"$tmp/err" || fail "up-to-date run"
grep -q "(0 prepared, 6 up to date)" "$tmp/err" || fail "not idempotent: $(tail -1 "$tmp/err")"

# ---- the same domains as archives made by tar(1): identical shards ----------------------
arch=$tmp/arch
mkdir -p "$arch"
tar -czf "$arch/area__topic1.tar.gz" -C "$corpus" area__topic1
tar -czf "$arch/area__topic2.tar.gz" --format=pax -C "$corpus" ./area__topic2
tar -cf "$arch/area__topic3.tar" --format=ustar -C "$corpus" area__topic3
"$CLPT" prepare -q -t "$tmp/tok" -o "$tmp/arch.out" "$arch" || fail "prepare archives"
for d in 1 2 3; do
    for s in train valid test; do
        a=$(sha256sum "$tmp/arch.out/area__topic$d/${s}_0000.bin" | cut -c1-64)
        b=$(sha256sum "$tmp/clean/area__topic$d/${s}_0000.bin" | cut -c1-64)
        [ "$a" = "$b" ] || fail "area__topic$d/$s from an archive differs from the folder"
    done
done
head -c 3000 "$arch/area__topic1.tar.gz" >"$arch/area__topic4.tar.gz"
expect_error 1 "area__topic4.tar.gz" "$CLPT" prepare -q -t "$tmp/tok" -o "$tmp/arch.out" "$arch"

# ---- real text, GPT-2 ------------------------------------------------------------------
OS=$SHARED/openstax-m2d2
if [ ! -d "$OS" ] || [ ! -d "$SHARED/gpt2" ]; then
    [ $fails -eq 0 ] && echo "ok (OpenStax part skipped: $SHARED absent)"
    exit $((fails ? 1 : 0))
fi
doms=(Microbiology__Invisible_World_to_Cell Introduction_to_Python_Programming__Statements_to_Modules)
printf '%s\n' "${doms[@]}" >"$tmp/doms.txt"
"$CLPT" prepare -q -t "$SHARED/gpt2" --domains "$tmp/doms.txt" -o "$tmp/os" "$OS" ||
    fail "prepare OpenStax"
grep -c '"name"' "$tmp/os/manifest.json" | grep -qx 2 || fail "not 2 domains in the manifest"
for d in "${doms[@]}"; do
    for s in train valid test; do
        # documents by awk (blank-line paragraphs, stripped), joined by the
        # end-of-text marker, encoded in one go with the special token allowed
        awk 'BEGIN { RS = "" } { sub(/^[ \t]+/, ""); sub(/[ \t\n]+$/, "");
             printf "<|endoftext|>%s", $0 }' "$OS/$d/$s.txt" >"$tmp/joined.txt"
        "$CLPT" tokenizer encode --allow-special -t "$SHARED/gpt2" "$tmp/joined.txt" \
            >"$tmp/want.ids"
        shard=$tmp/os/$d/${s}_0000.bin
        od -An -v -t u2 -j 1024 "$shard" | tr -s ' \n' '\n\n' | sed '/^$/d' >"$tmp/got.ids"
        tr ' ' '\n' <"$tmp/want.ids" | sed '/^$/d' >"$tmp/want1.ids"
        cmp -s "$tmp/got.ids" "$tmp/want1.ids" ||
            fail "$d/$s: $(wc -l <"$tmp/got.ids") tokens, want $(wc -l <"$tmp/want1.ids")"
        n=$(tr -d ' \t\n' <"$tmp/os/manifest.json" |
            grep -o "\"file\":\"$d/${s}_0000.bin\",\"tokens\":[0-9]*" | grep -o '[0-9]*$')
        [ "$n" = "$(wc -l <"$tmp/want1.ids")" ] || fail "$d/$s: manifest says $n tokens"
        # and the shard decodes back to the documents
        "$CLPT" tokenizer decode -t "$SHARED/gpt2" "$tmp/got.ids" >"$tmp/back.txt"
        cmp -s "$tmp/back.txt" "$tmp/joined.txt" || fail "$d/$s: decode(shard) differs"
    done
done
[ $fails -eq 0 ] && echo ok
exit $((fails ? 1 : 0))
