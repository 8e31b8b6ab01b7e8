#!/usr/bin/env bash
# The main job: install, build, and run sculpt on its built-in ToyWorld model (models/toyworld).
# Until erasure lands: a generation grid, one row per prompt; the last prompt is a (shape, colour) pair
# the model never saw in training. Until the ToyWorld model is committed (docs/toyworld.md), a clone
# without it falls back to the tiny random SD model of ../shared/golden.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
model=${SCULPT_MODEL:-models/toyworld}
if [ ! -d "$model/unet" ]; then
  echo "demo: no ToyWorld model at $model (build it: ./build/sculpt toyworld build --seed 0 --out models/toyworld);"
  echo "      using the golden tiny random model instead"
  model=../shared/golden/tiny-sd/model
fi
./build/sculpt generate --model "$model" \
  --prompt "a red star on a striped background" \
  --prompt "an orange circle on a dotted background, pixel-art" \
  --prompt "a green heart on a checkerboard background, outline" \
  --prompt "a cyan star on a plain background" \
  --steps 25 --cfg 5 --seed 1 --batch 4 --out out/demo
echo "demo: out/demo/grid.png (rows: red star, orange pixel-art circle, green outline heart, and a cyan star:"
echo "      a held-out pair the model never saw in training)"
