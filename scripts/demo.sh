#!/usr/bin/env bash
# The main job: install, build, and run sculpt on its built-in model.
# The built-in model is ToyWorld (models/toyworld, made by `sculpt toyworld build`); until it is built and
# committed, the demo falls back to the tiny random SD model of ../shared/golden.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
model=${SCULPT_MODEL:-models/toyworld}
[ -d "$model/unet" ] || model=../shared/golden/tiny-sd/model
./build/sculpt generate --model "$model" --prompt "a red star on a striped background" --steps 25 --cfg 7.5 \
  --seed 1 --batch 4 --out out/demo
echo "demo: images in out/demo/ (grid: out/demo/grid.png)"
