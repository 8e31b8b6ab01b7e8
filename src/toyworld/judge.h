// The ToyWorld judge: a small CNN that reads a 64×64 ToyWorld image and says which shapes, colours,
// background, style, object count and emblem it shows. Evaluation uses its answers to check that a concept
// is gone (or kept), and its penultimate features as the embedding for Fréchet distance, locality and
// identity similarity. Trained on fresh renders every step; saved as judge.safetensors + config.json.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "toyworld/scene.h"

namespace sculpt::toyworld {

struct JudgeConfig {  // fields = keys of judge/config.json
  int64_t sample_size = 64;
  std::vector<int64_t> block_out_channels{32, 64, 128};  // stem at 32×32, then blocks at 16×16, 8×8
  int64_t embedding_dim = 128;
  int64_t num_shapes = kNumShapes, num_colours = kNumColours, num_backgrounds = kNumBackgrounds,
          num_styles = kNumStyles, num_counts = 2, num_instances = kNumInstances + 1;
  nlohmann::json to_json() const;
  static JudgeConfig from_json(const nlohmann::json& j, const std::string& source);
};

struct JudgeOutput {  // logits
  torch::Tensor shape, colour;           // [N, 8] multi-label (sigmoid)
  torch::Tensor background, style;       // [N, 5], [N, 4] (softmax)
  torch::Tensor count, instance;         // [N, 2] (1 or 2 objects), [N, 5] (none, emblem 0..3)
};

// What the judge sees in each image.
struct JudgePrediction {
  torch::Tensor shapes, colours;  // bool [N, 8]: the top-k labels, k = predicted count
  torch::Tensor background, style, count, instance;  // int64 [N]; count 1|2; instance -1 (none) or 0..3
  nlohmann::json to_json(int64_t i) const;  // {"shapes": ["star"], "colours": ["red"], "background", …}
};

struct ToyJudgeImpl : torch::nn::Module {
  explicit ToyJudgeImpl(const JudgeConfig& config = {});
  JudgeOutput forward(const torch::Tensor& images);     // images: [N, 3, 64, 64] in [0, 1]
  torch::Tensor features(const torch::Tensor& images);  // [N, embedding_dim], the penultimate layer
  JudgePrediction predict(const torch::Tensor& images);  // no grad; call eval() first (load_judge does)

  JudgeConfig config;
  torch::nn::Sequential body{nullptr};  // conv blocks: [N, 4, 64, 64] (RGB, chroma) → [N, C, 8, 8]
  torch::nn::Linear embedding{nullptr};  // [N, 2C] (mean and max pooled) → [N, D]
  torch::nn::Linear shape_head{nullptr}, colour_head{nullptr}, background_head{nullptr}, style_head{nullptr},
      count_head{nullptr}, instance_head{nullptr};
};
TORCH_MODULE(ToyJudge);

// Accuracy per head over scenes: shapes and colours count as right only when the whole predicted set
// equals the true set (for one- and two-object scenes; emblem scenes are left out of shape, colour and
// count, and are what the instance head is scored on together with all others).
struct JudgeAccuracy {
  int64_t images = 0, object_images = 0;
  double shape = 0, colour = 0, background = 0, style = 0, count = 0, instance = 0;
  double min() const;
  nlohmann::json to_json() const;
};

// The scenes the judge is trained and scored on: held-out pairs included, emblems at a small rate.
SceneOptions judge_scene_options();

struct JudgeTrainConfig {
  JudgeConfig model;
  uint64_t seed = 1;  // training scenes: dataset `seed`; initial weights: torch::manual_seed(seed)
  int64_t steps = 4000;  // 256k images; 99.5% shape accuracy (the hardest head) measured at 4000
  int64_t batch_size = 64;
  double learning_rate = 3e-3;  // Adam; linear warm-up over 100 steps, then cosine decay to 0
  double weight_decay = 0.0;
  double two_object_rate = 0.5;  // more two-object scenes than the base data: the harder case
  double instance_rate = 0.08;
  double noise_augment_rate = 0.3;  // share of images with added Gaussian noise, sigma in [0, 0.03]
  bool progress = true;
};

struct JudgeTrainResult {
  ToyJudge judge{nullptr};
  double seconds = 0;
  double final_loss = 0;
};

JudgeTrainResult judge_train(const JudgeTrainConfig& config);

// Scores the judge on n fresh scenes of dataset `seed` (drawn with `options`).
JudgeAccuracy judge_evaluate(ToyJudge& judge, int64_t n, uint64_t seed,
                             const SceneOptions& options = judge_scene_options(), int64_t batch_size = 250);

// dir/judge.safetensors + dir/config.json, written atomically.
void save_judge(ToyJudge& judge, const std::filesystem::path& dir);
// Strict load; the judge comes back in eval mode.
ToyJudge load_judge(const std::filesystem::path& dir);

}  // namespace sculpt::toyworld
