#!/usr/bin/env bash
# The quickstart, once clpt is built: the apt-only corpus (Debian's Linux,
# Python, PostgreSQL and Git documentation, prepared into token shards with
# a small BPE), then lua/examples/quickstart.lua: a small base model, and
# finetune / sequential / replay / ewc over 8 domains in similar and random
# order, with the comparison printed and written to runs/quickstart/.
#
#   tools/quickstart_run.sh [DOMAINS]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/quickstart_corpus.sh data/quickstart
exec build/clpt run lua/examples/quickstart.lua data/quickstart runs/quickstart "$@"
