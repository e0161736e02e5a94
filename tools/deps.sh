#!/usr/bin/env bash
# Install what clpt needs to build and test on Debian 12 (bookworm) or later
# (and, where the CUDA toolkit is, the optional cuDNN frontend headers).
# Runs apt-get as root, or through sudo when not root.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS=(build-essential cmake pkg-config git ca-certificates
      libopenblas-openmp-dev libinih-dev libcjson-dev liblua5.4-dev zlib1g-dev
      python3 clang libclang-rt-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# with nvcc present, the cuDNN frontend headers too (optional: the cudnn
# attention is built only with them; a failed download builds without it)
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  timeout 180 bash "$(dirname "$0")/cudnn_frontend.sh" || true
fi
