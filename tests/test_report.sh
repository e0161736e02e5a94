#!/usr/bin/env bash
# test_report.sh - `clpt report` on the hand-made journal fixture
# (tests/data/report/exp, made by make_fixture.py): the three files, their
# structure, metrics recomputed from the CSV's per-domain rows, errors, and
# - when Chromium is installed - a rendered screenshot.
set -euo pipefail
bin=${CLPT_BIN:?}; src=${CLPT_SOURCE_DIR:?}
exp=$src/tests/data/report/exp
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$bin" report "$exp" -o "$tmp/out/report.html" --title "fixture <report>" >/dev/null 2>&1 \
    && fail "writing into a missing directory should fail"
mkdir -p "$tmp/out"
"$bin" report "$exp" -o "$tmp/out/report.html" --title "fixture <report>" > "$tmp/log"
for f in report.html report.csv report.md; do [ -s "$tmp/out/$f" ] || fail "$f missing"; done
html=$tmp/out/report.html

# self-contained: no script, no external resource; title escaped
grep -q '^<!DOCTYPE html>' "$html" || fail "no doctype"
grep -qi '<script' "$html" && fail "the page has a script"
grep -Eq '(src|href)="https?:' "$html" && fail "the page loads something from the network"
grep -q '<h1>fixture &lt;report&gt;</h1>' "$html" || fail "title not escaped"
for id in runs metrics transfer cpt heatmaps loss domains; do
    grep -q "id=\"$id\"" "$html" || fail "section $id missing"
done
# 4 transfer charts + checkpoint means + CPT vs DAPT + legend + 3 heatmaps + loss
n=$(grep -o '<svg ' "$html" | wc -l)
[ "$n" -eq 11 ] || fail "expected 11 SVG figures, found $n"
grep -q 'similar-replay: checkpoint (row)' "$html" || fail "heatmap of similar-replay missing"
grep -q 'class="diag"' "$html" || fail "heatmap diagonal missing"
grep -q 'M8 · Public_policy' "$html" || fail "heatmap row labels missing"
grep -q '<th class="l">device</th>' "$html" && grep -q '<td class="l">cpu</td>' "$html" || fail "device column"
# baselines are listed but not compared
grep -q '<td class="l">zs</td><td class="l">none</td>' "$html" || fail "zs run not listed"
grep -q '<th><span class="sw" style="background:#[0-9A-F]*"></span>zs</th>' "$html" && fail "zs compared"

# CSV: tidy rows; FG recomputed from the per-domain LC_j and CPT_j rows
csv=$tmp/out/report.csv
head -1 "$csv" | grep -qx 'run,strategy,metric,index,domain,value,cells,expected' || fail "csv header"
for run in similar-sequential similar-replay random-sequential; do
    fg=$(awk -F, -v r=$run '$1==r && $3=="FG"{print $6}' "$csv")
    re=$(awk -F, -v r=$run '$1==r && $3=="LC_j"{lc[$5]=$6} $1==r && $3=="CPT_j"{c[$5]=$6}
         END{for (d in lc) {s += lc[d] - c[d]; n++} printf "%.6f", s / n}' "$csv")
    awk -v a="$fg" -v b="$re" 'BEGIN{exit !(a - b < 1e-6 && b - a < 1e-6)}' || fail "$run: FG $fg != $re"
    cells=$(awk -F, -v r=$run '$1==r && $3=="ppl"' "$csv" | wc -l)
    [ "$cells" -eq 64 ] || fail "$run: $cells matrix cells in the CSV, expected 64"
done
awk -F, '$1=="zs" || $1=="dapt"' "$csv" | grep -q . && fail "baseline runs in the CSV metrics"

# Markdown and the terminal summary
md=$tmp/out/report.md
grep -q '^## Metrics' "$md" && grep -q '^| FG |' "$md" && grep -q '^| Biology__Genetics |' "$md" \
    || fail "markdown tables"
"$bin" report --summary "$exp/similar-sequential" "$exp/zs" "$exp/dapt" > "$tmp/sum"
grep -q 'similar-sequential' "$tmp/sum" && grep -q '^FG ' "$tmp/sum" || fail "summary table"
grep -q '^DAPT *44' "$tmp/sum" || fail "DAPT from the sibling run dir not found"

# a bad line in the middle names file:line; the fixture's torn last line is fine
mkdir -p "$tmp/bad/r"
{ head -3 "$exp/similar-sequential/journal.jsonl"; echo '{"v":1,"event":"eval",'; \
  tail -2 "$exp/similar-sequential/journal.jsonl"; } > "$tmp/bad/r/journal.jsonl"
if "$bin" report "$tmp/bad/r" -o "$tmp/bad/x.html" 2> "$tmp/err"; then fail "bad journal accepted"; fi
grep -q "r/journal.jsonl:4: not valid JSON" "$tmp/err" || fail "error lacks file:line: $(cat "$tmp/err")"
"$bin" report "$tmp/nothing" 2> "$tmp/err" && fail "missing dir accepted"
grep -q "nothing" "$tmp/err" || fail "missing dir not named"

# a study-sized experiment: heatmaps past RP_HEATMAP_TOOLTIP_CELLS cells are
# one path per colour, without per-cell tooltips; the CSV keeps every cell
big=$tmp/big
python3 "$src/tests/data/report/make_fixture.py" "$big" 120 || fail "make_fixture.py 120"
"$bin" report "$big" -o "$tmp/big.html" > /dev/null || fail "report of 120 domains"
grep -q 'without per-cell hover' "$tmp/big.html" || fail "compact heatmaps not announced"
grep -q '</title></rect>' "$tmp/big.html" && fail "a 121 x 120 heatmap still has per-cell tooltips"
npath=$(grep -c '^<path fill="#' "$tmp/big.html")
[ "$npath" -gt 30 ] || fail "expected colour paths in the heatmaps, found $npath"
cells=$(grep -o 'M[0-9]* [0-9]*h[0-9]*v' "$tmp/big.html" | wc -l)
[ "$cells" -eq $((3 * 121 * 120)) ] || fail "expected $((3 * 121 * 120)) heatmap cells, found $cells"
bytes=$(stat -c %s "$tmp/big.html")
[ "$bytes" -lt 2500000 ] || fail "the 120-domain report is $bytes bytes"
[ "$(grep -c '^[^,]*,[^,]*,ppl,' "$tmp/big.csv")" -eq $((3 * 120 * 120)) ] || fail "the CSV lacks heatmap cells"
echo "120 domains: report.html $bytes bytes, $npath colour paths"

# render it when Chromium is there
rc=0
"$src/tools/render_report.sh" "$html" "$tmp/shot.png" > /dev/null 2>&1 || rc=$?
if [ $rc -eq 77 ]; then
    echo "chromium absent: render check skipped"
elif [ $rc -ne 0 ]; then
    fail "render_report.sh failed ($rc)"
else
    size=$(stat -c %s "$tmp/shot.png")
    [ "$size" -gt 100000 ] || fail "screenshot suspiciously small ($size bytes)"
fi
echo ok
