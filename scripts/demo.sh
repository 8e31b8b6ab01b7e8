#!/usr/bin/env bash
# The main job: install, build, and run sculpt on its built-in ToyWorld model (models/toyworld): a
# generation grid (the last row is a (shape, colour) pair the model never saw in training), then
# `sculpt demo`: erase "star" with All-but-One (alternative "circle") and audit it with the quick eval.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
model=${SCULPT_MODEL:-models/toyworld}
if [ ! -d "$model/unet" ]; then
  echo "demo: no ToyWorld model at $model (build it: ./build/sculpt toyworld build --seed 0 --out models/toyworld)" >&2
  exit 1
fi
./build/sculpt generate --model "$model" \
  --prompt "a red star on a striped background" \
  --prompt "an orange circle on a dotted background, pixel-art" \
  --prompt "a green heart on a checkerboard background, outline" \
  --prompt "a cyan star on a plain background" \
  --steps 25 --cfg 5 --seed 1 --batch 4 --out out/demo/grid.png
echo "demo: out/demo/grid.png (rows: red star, orange pixel-art circle, green outline heart, and a cyan star:"
echo "      a held-out pair the model never saw in training)"
./build/sculpt demo --model "$model" --out out/demo
