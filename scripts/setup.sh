#!/usr/bin/env bash
# Installs every Debian package sculpt needs (idempotent: installs only what is missing).
# libopenblas0-openmp is named on purpose: with the reference BLAS training is 4-5x slower, with the
# pthread OpenBLAS (what libopenblas-dev pulls in) 2.5x slower. libjs-chart.js draws the charts of
# `sculpt eval`'s report.html; chromium is the headless browser its test renders the report in.
set -euo pipefail
packages=(
  cmake ninja-build g++ ccache pkg-config
  libtorch-dev libopenblas0-openmp
  nlohmann-json3-dev libcli11-dev libstb-dev libpcre2-dev libutf8proc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libjs-chart.js chromium
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Make the OpenMP OpenBLAS the BLAS that libtorch loads.
for alt in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu; do
  target=$(update-alternatives --list "$alt" 2>/dev/null | grep openblas-openmp | head -n1 || true)
  if [ -n "$target" ]; then
    current=$(update-alternatives --query "$alt" | awk '/^Value:/{print $2}')
    [ "$current" = "$target" ] || { ${sudo:-} update-alternatives --set "$alt" "$target" >/dev/null; }
  fi
done
echo "setup: all packages present"
