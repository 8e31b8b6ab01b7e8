// `sculpt toyworld render`: writes ToyWorld images with their ground truth, for looking at the data and
// for feeding other tools. Output folder: 000000.png, 000001.png, … (scene first_index + i), labels.json
// (one entry per image: file, index, caption, canonical prompt, labels as scene_labels_json) and grid.png.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "toyworld/scene.h"

namespace sculpt::toyworld {

struct ToyWorldRenderConfig {
  std::filesystem::path out;
  uint64_t seed = 0;
  int64_t count = 16;
  int64_t first_index = 0;
  int64_t size = 64;
  bool include_held_out = false;  // false: base training data (held-out pairs never drawn)
  double two_object_rate = 0.2;
  int instance = -1;              // >= 0: every image shows emblem k
  double instance_rate = 0.0;
  // Attributes fixed by name ("star", "red", "stripes", "pixel-art"); empty: random.
  std::string shape, colour, background, style;
  // Spurious-correlation mode (empty shape: off).
  std::string spurious_shape, spurious_background;
  double spurious_rate = 0.9, spurious_other_rate = 0.2;
  bool grid = true;
  bool progress = true;
};

// The SceneOptions the config describes; throws UsageError on unknown names.
SceneOptions render_scene_options(const ToyWorldRenderConfig& config);

// Renders and writes the images (PNG, atomically) and labels.json; returns a summary
// {"out", "seed", "count", "first_index", "size", "files", "labels", "grid", "scene_options"}.
nlohmann::json toyworld_render(const ToyWorldRenderConfig& config);

}  // namespace sculpt::toyworld
