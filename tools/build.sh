#!/usr/bin/env bash
# Configure and build clpt into ./build (Release). Extra arguments go to cmake,
# e.g. tools/build.sh -DCLPT_CUDA=OFF
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build -j"$(nproc)" 2>&1 | tee -a build.log | grep -E "warning|error|Error" || true
test -x build/clpt || { echo "build failed: see build.log"; exit 1; }
echo "built: build/clpt"
