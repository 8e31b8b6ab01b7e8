// `sculpt purify-image`: take a concept out of real images with an erased model (All-but-One §5.2):
// DDIM-invert each image with the original model, regenerate it with the edited one from the same noise.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sculpt {

struct PurifyRunConfig {
  std::string method = "abo";              // the only method with a purification step
  std::filesystem::path original;          // empty: the built-in ToyWorld model
  std::filesystem::path edited;            // the erased model (folder or single file), or…
  std::filesystem::path delta;             // …a delta file applied to the original
  std::vector<std::filesystem::path> images;  // PNG/JPEG files or folders of them
  std::string prompt;                      // the erased concept or the images' caption
  int64_t steps = 20;
  double guidance = 3.0;
  int64_t batch = 16;
  std::filesystem::path out;               // purified images, same file names
  std::string device = "cpu";
  bool progress = true;
};

// Writes one PNG per input image into `out` (atomically) and returns {"images": [...], "seconds": s}.
nlohmann::json purify_run(const PurifyRunConfig& config);

}  // namespace sculpt
