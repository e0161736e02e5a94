#!/usr/bin/env bash
# Fetch the cuDNN frontend headers (NVIDIA's header-only C++ library, MIT
# licence) into build-deps/cudnn-frontend/include, from its PyPI wheel. With
# them, and cuDNN's own headers (the CUDA toolkit's, or CLPT_CUDNN_INCLUDE),
# the CUDA build adds the `cudnn` attention (docs/cuda.md); without them it
# builds without it. cuDNN itself is loaded at run time (libcudnn.so.9).
# Idempotent; exits 0 with a note when pip or the network is unavailable.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
VERSION=1.32.0
dest=build-deps/cudnn-frontend
if [ -f "$dest/include/cudnn_frontend.h" ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=$(command -v python3 || true)
if [ -z "$py" ] || ! "$py" -m pip download --quiet --no-deps --only-binary=:all: \
    "nvidia-cudnn-frontend==$VERSION" -d "$tmp" >"$tmp/pip.log" 2>&1; then
  echo "cudnn-frontend: could not download nvidia-cudnn-frontend==$VERSION (building without the cudnn attention)"
  exit 0
fi
whl=$(ls "$tmp"/*.whl 2>/dev/null | head -1)
rm -rf "$dest" && mkdir -p "$dest"
if ! "$py" -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for n in z.namelist():
    if n.startswith("include/") or n.endswith("LICENSE.txt"):
        z.extract(n, sys.argv[2])' "$whl" "$dest"; then
  echo "cudnn-frontend: could not unpack $whl"
  rm -rf "$dest"
  exit 0
fi
echo "$VERSION" >"$dest/VERSION"
echo "cudnn-frontend: $VERSION headers in $dest/include"
