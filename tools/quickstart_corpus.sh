#!/usr/bin/env bash
# quickstart_corpus.sh - the quickstart corpus, from Debian packages alone.
#
# Real English prose in four distinct areas, each an L1 whose sections are
# L2 domains (19 domains of 0.26-3.2 MB of text; docs/data.md lists them):
#   linux       the kernel's documentation (linux-doc-*: reST, gzipped)
#   python      Python's documentation sources (python3.*-doc: reST)
#   postgresql  PostgreSQL's manual (postgresql-doc-*: HTML, converted to text)
#   git         Git's manuals (git-doc: AsciiDoc text)
# The packages are fetched with `apt-get download` and unpacked with
# `dpkg-deb` into a work folder - nothing is installed, so this also works
# on slim images whose dpkg is told to skip /usr/share/doc. A folder of
# symbolic links names the domains (WORK/tree/<l1>/<l2>), and one
# `clpt prepare` turns it into token shards + manifest.json, first
# training a BPE tokenizer of QS_VOCAB ids on the train split.
#
# usage: tools/quickstart_corpus.sh [OUT]        (default data/quickstart)
# env:   CLPT (default build/clpt), QS_WORK (default data/quickstart-src),
#        QS_VOCAB (default 8192), QS_JOBS (default: all cores)
# Re-running is cheap: downloads, unpacking and prepared domains are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
CLPT=${CLPT:-build/clpt}
OUT=${1:-data/quickstart}
WORK=${QS_WORK:-data/quickstart-src}
VOCAB=${QS_VOCAB:-8192}
JOBS=${QS_JOBS:-0}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
t0=$(date +%s)

[ -x "$CLPT" ] || { echo "quickstart_corpus: $CLPT not built (bash tools/build.sh)" >&2; exit 1; }
command -v dpkg-deb >/dev/null || { echo "quickstart_corpus: needs Debian's dpkg-deb" >&2; exit 1; }

# The versioned package behind a meta package (linux-doc -> linux-doc-6.1).
resolve() { apt-cache depends "$1" 2>/dev/null | awk '$1 == "Depends:" { print $2; exit }'; }

have() { ls "$WORK"/debs/$1 >/dev/null 2>&1; }
mkdir -p "$WORK/debs" "$WORK/root"
if have 'linux-doc-*.deb' && have 'python3.*-doc_*.deb' && have 'postgresql-doc-*.deb' &&
   have 'git-doc_*.deb'; then
    :  # downloaded before: no apt needed (works offline, and after apt lists were cleaned)
else
    command -v apt-get >/dev/null || { echo "quickstart_corpus: needs apt-get" >&2; exit 1; }
    if ! apt-cache show git-doc >/dev/null 2>&1; then
        echo "quickstart_corpus: apt-get update"
        $SUDO apt-get update -qq
    fi
    PKGS=()
    for meta in linux-doc python3-doc postgresql-doc; do
        p=$(resolve "$meta")
        [ -n "$p" ] || { echo "quickstart_corpus: cannot resolve $meta" >&2; exit 1; }
        PKGS+=("$p")
    done
    PKGS+=(git-doc)
    for p in "${PKGS[@]}"; do
        have "${p}_*.deb" && continue
        echo "quickstart_corpus: downloading $p"
        (cd "$WORK/debs" && apt-get download -q "$p" 2>&1 | grep -v "unsandboxed" || true)
        have "${p}_*.deb" || { echo "quickstart_corpus: apt-get download $p failed" >&2; exit 1; }
    done
fi

# Unpack only the documentation trees used below (once per .deb).
unpack() {  # unpack DEB PATTERN...
    local deb=$1 stamp=$WORK/root/.$(basename "$1").done
    shift
    [ -f "$stamp" ] && return
    echo "quickstart_corpus: unpacking $(basename "$deb")"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$WORK/root" --wildcards "$@"
    touch "$stamp"
}
for deb in "$WORK"/debs/*.deb; do
    case $(basename "$deb") in
    linux-doc-*) unpack "$deb" './usr/share/doc/linux-doc-*/Documentation/*' ;;
    python3.*-doc_*) unpack "$deb" './usr/share/doc/python3.*/html/_sources/*' ;;
    postgresql-doc-*) unpack "$deb" './usr/share/doc/postgresql-doc-*/html/*' ;;
    git-doc_*) unpack "$deb" './usr/share/doc/git-doc/*' ;;
    esac
done

doc=$(cd "$WORK/root/usr/share/doc" && pwd)
newest() { printf '%s\n' "$@" | sort -V | tail -1; }  # after an upgrade, two may be there
linux=$(newest "$doc"/linux-doc-*/Documentation)
python=$(newest "$doc"/python3.*/html/_sources)
pg=$(newest "$doc"/postgresql-doc-*/html)
git=$doc/git-doc
for d in "$linux" "$python" "$pg" "$git"; do
    [ -d "$d" ] || { echo "quickstart_corpus: $d missing after unpacking" >&2; exit 1; }
done

# The domains: WORK/tree/<l1>/<l2> -> a section folder, or links to files.
tree=$WORK/tree
rm -rf "$tree"
dom() { mkdir -p "$tree/$1"; }
for s in process admin-guide filesystems networking mm RCU; do
    dom linux; ln -s "$linux/$s" "$tree/linux/$s"
done
for s in tutorial howto reference c-api whatsnew; do
    dom python; ln -s "$python/$s" "$tree/python/$s"
done
dom python/faq_and_using  # each alone is under 200 KB
ln -s "$python/faq" "$tree/python/faq_and_using/faq"
ln -s "$python/using" "$tree/python/faq_and_using/using"
files() {  # files L1/L2 DIR GLOB...: link DIR's matching files into the domain
    local d=$1 dir=$2
    shift 2
    dom "$d"
    for g in "$@"; do ln -s -t "$tree/$d" "$dir"/$g; done
}
files postgresql/sql_commands "$pg" 'sql-*.html'
files postgresql/functions_and_types "$pg" 'functions*.html' 'datatype*.html'
files postgresql/server_administration "$pg" 'runtime*.html' 'auth-*.html' 'client-auth*.html' \
    'monitoring*.html' 'backup*.html' 'continuous-archiving.html' 'warm-standby*.html' \
    'routine*.html' 'install*.html' 'high-availability.html' 'hot-standby.html'
files postgresql/client_interfaces "$pg" 'libpq*.html' 'ecpg*.html'
files git/commands "$git" 'git-*.txt'
mkdir -p "$tree/git/guides"
for f in "$git"/*.txt; do
    case $(basename "$f") in git-*) ;; *) ln -s "$f" "$tree/git/guides/" ;; esac
done
dom git/technical
ln -s "$git/technical" "$tree/git/technical/technical"
ln -s "$git/howto" "$tree/git/technical/howto"

"$CLPT" prepare --layout tree --depth 2 --ext rst,txt,html --min-bytes 200k --seed 0 \
    --jobs "$JOBS" --tokenizer "$OUT/tokenizer" --train-tokenizer "$VOCAB" -o "$OUT" "$tree"
echo "quickstart_corpus: $OUT ready in $(( $(date +%s) - t0 )) s"
