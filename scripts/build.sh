#!/usr/bin/env bash
# Configures and builds sculpt into build/ (Release). Extra arguments go to cmake, e.g.
#   scripts/build.sh -DSCULPT_TORCH_FROM_PYTHON=ON   # GPU machine: PyTorch's bundled libtorch
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
ninja -C build -j "$(nproc)"
