// ToyWorld renderer: scenes → float RGB images in [0, 1], anti-aliased from signed distance functions
// (coverage = clamp(0.5 - d, 0, 1) with d in pixels).
// Styles: filled (the shape), outline (a stroke along its edge), pixel-art (drawn without anti-aliasing
// at half resolution with a dark one-pixel rim, upscaled nearest), sketchy (two wobbly strokes, hatching
// inside, film grain). Shape distance functions follow Inigo Quilez, "2D distance functions"
// (https://iquilezles.org/articles/distfunctions2d/).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "toyworld/scene.h"

namespace sculpt::toyworld {

// [3, size, size] float in [0, 1]; size even, >= 16.
torch::Tensor scene_render(const Scene& scene, int64_t size = 64);
// The same into a caller's buffer of 3 * size * size floats (CHW).
void scene_render_into(const Scene& scene, int64_t size, float* out);
// [N, 3, size, size], images rendered in parallel (at::parallel_for).
torch::Tensor scenes_render(const std::vector<Scene>& scenes, int64_t size = 64);

// [size, size] float: how much of each pixel the filled silhouette of object k covers (the whole emblem
// for an instance scene, k = 0), whatever the style. For tests and localisation metrics.
torch::Tensor object_mask(const Scene& scene, int k, int64_t size = 64);

// Emblem k in a pose, background and style drawn from rng: [3, size, size].
torch::Tensor instance_render(int k, Rng& rng, int64_t size = 64, const SceneOptions& options = {});

// Scenes first_index .. first_index + n - 1 of the dataset `seed`, sampled and rendered in parallel.
struct SceneBatch {
  std::vector<Scene> scenes;
  torch::Tensor images;  // [N, 3, size, size]
  SceneLabels labels;
};
SceneBatch scene_batch(uint64_t seed, int64_t first_index, int64_t n, const SceneOptions& options = {},
                       int64_t size = 64);

}  // namespace sculpt::toyworld
