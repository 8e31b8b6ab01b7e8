#include "toyworld/samples.h"

#include <cmath>
#include <cstdio>

#include "core/check.h"
#include "core/progress.h"
#include "io/atomic_file.h"
#include "io/image.h"
#include "toyworld/captions.h"
#include "toyworld/render.h"

namespace sculpt::toyworld {

namespace fs = std::filesystem;
using json = nlohmann::json;

SceneOptions render_scene_options(const ToyWorldRenderConfig& c) {
  SceneOptions o;
  o.exclude_held_out = !c.include_held_out;
  o.two_object_rate = c.two_object_rate;
  o.instance = c.instance;
  o.instance_rate = c.instance_rate;
  if (!c.shape.empty()) o.shape = static_cast<int>(shape_from_name(c.shape));
  if (!c.colour.empty()) o.colour = static_cast<int>(colour_from_name(c.colour));
  if (!c.background.empty()) o.background = static_cast<int>(background_from_name(c.background));
  if (!c.style.empty()) o.style = static_cast<int>(style_from_name(c.style));
  SCULPT_USAGE_CHECK(c.spurious_shape.empty() == c.spurious_background.empty(),
                     "the spurious-correlation mode needs both a shape and a background");
  if (!c.spurious_shape.empty()) {
    o.spurious.shape = static_cast<int>(shape_from_name(c.spurious_shape));
    o.spurious.background = static_cast<int>(background_from_name(c.spurious_background));
    o.spurious.rate = c.spurious_rate;
    o.spurious.other_rate = c.spurious_other_rate;
  }
  return o;
}

json toyworld_render(const ToyWorldRenderConfig& c) {
  SCULPT_USAGE_CHECK(!c.out.empty(), "toyworld render needs an output folder");
  SCULPT_USAGE_CHECK(c.count > 0 && c.count <= 1000000, "count ", c.count, " is not in 1..1000000");
  SCULPT_USAGE_CHECK(c.first_index >= 0, "first_index ", c.first_index, " is negative");
  const SceneOptions options = render_scene_options(c);
  fs::create_directories(c.out);
  json labels = json::array();
  ProgressBar bar(c.count, "render", c.progress);
  constexpr int64_t kChunk = 256;  // rendered in parallel, written one by one
  torch::Tensor grid_images;
  for (int64_t first = 0; first < c.count; first += kChunk) {
    const int64_t n = std::min(kChunk, c.count - first);
    std::vector<Scene> scenes;
    for (int64_t i = 0; i < n; ++i) scenes.push_back(scene_sample(c.seed, c.first_index + first + i, options));
    const auto images = scenes_render(scenes, c.size);
    if (first == 0) grid_images = images.slice(0, 0, std::min<int64_t>(n, 64));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t index = c.first_index + first + i;
      char name[32];
      std::snprintf(name, sizeof name, "%06lld.png", static_cast<long long>(index));
      image_write_png(c.out / name, images[i]);
      const auto& scene = scenes[static_cast<size_t>(i)];
      labels.push_back({{"file", name}, {"index", index}, {"caption", caption_for(scene, c.seed, index)},
                        {"prompt", prompt_canonical(scene)}, {"labels", scene_labels_json(scene)}});
      bar.update();
    }
  }
  bar.finish();
  write_file_atomically(c.out / "labels.json", labels.dump(1) + "\n");
  json summary = {{"out", c.out.string()}, {"seed", c.seed}, {"count", c.count}, {"first_index", c.first_index},
                  {"size", c.size}, {"files", c.count}, {"labels", (c.out / "labels.json").string()}};
  if (c.grid) {
    const auto cols = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(grid_images.size(0)))));
    image_write_png(c.out / "grid.png", image_grid(grid_images, cols));
    summary["grid"] = (c.out / "grid.png").string();
  }
  summary["scene_options"] = {{"exclude_held_out", options.exclude_held_out},
                              {"two_object_rate", options.two_object_rate},
                              {"instance", options.instance},
                              {"instance_rate", options.instance_rate},
                              {"shape", options.shape},
                              {"colour", options.colour},
                              {"background", options.background},
                              {"style", options.style},
                              {"spurious", {{"shape", options.spurious.shape},
                                            {"background", options.spurious.background},
                                            {"rate", options.spurious.rate},
                                            {"other_rate", options.spurious.other_rate}}}};
  return summary;
}

}  // namespace sculpt::toyworld
