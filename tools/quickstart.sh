#!/usr/bin/env bash
# The main job: install, build, and run the quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
bash tools/build.sh
exec bash tools/quickstart_run.sh "$@"
