#!/usr/bin/env bash
# Set up everything and run the test suite: apt dependencies, build, ctest.
# Tests needing ../shared/data or optional Python packages skip when absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
bash tools/build.sh
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 900 "$@"
