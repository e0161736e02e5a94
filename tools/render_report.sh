#!/usr/bin/env bash
# render_report.sh - screenshot a clpt HTML report with headless Chromium, to
# check how the page looks without a desktop:
#     tools/render_report.sh report.html [out.png] [width]
# The report itself has no script; to size the window to the whole page a
# throwaway probe page loads it in an iframe and reports its height (file
# access between the two is allowed for this one Chromium run). Exit 77
# when no Chromium is installed (apt-get install chromium), so tests skip.
set -euo pipefail
html=${1:?usage: render_report.sh REPORT.html [OUT.png] [WIDTH]}
png=${2:-${html%.*}.png}
width=${3:-1300}
chrome=""
for c in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$c" >/dev/null 2>&1; then chrome=$c; break; fi
done
if [ -z "$chrome" ]; then
    echo "render_report.sh: no chromium found (apt-get install chromium)" >&2
    exit 77
fi
abs=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run
       --disable-extensions --force-device-scale-factor=1 --user-data-dir="$tmp/profile")
cat > "$tmp/probe.html" <<HTML
<body style="margin:0"><iframe id="f" src="file://$abs" style="width:${width}px;height:400px;border:0"></iframe>
<script>document.getElementById("f").onload = function () {
  document.body.setAttribute("data-h", this.contentDocument.documentElement.scrollHeight); };</script></body>
HTML
height=$("$chrome" "${flags[@]}" --allow-file-access-from-files --virtual-time-budget=5000 \
         --dump-dom "file://$tmp/probe.html" 2>/dev/null | sed -n 's/.*data-h="\([0-9]*\)".*/\1/p' | head -1)
height=${height:-6000}
"$chrome" "${flags[@]}" --window-size="$width,$height" --screenshot="$png" "file://$abs" \
    >/dev/null 2>&1 || true
[ -s "$png" ] || { echo "render_report.sh: chromium wrote no screenshot" >&2; exit 1; }
echo "$png (${width}x${height})"
