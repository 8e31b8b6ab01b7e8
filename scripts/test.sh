#!/usr/bin/env bash
# The whole test suite: install, build, then every CTest label (unit, parity, …; gpu tests skip without CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j 2 "$@"
