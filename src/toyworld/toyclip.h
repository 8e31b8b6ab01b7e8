// ToyCLIP: the ToyWorld text encoder (a transformers CLIPTextModel) trained contrastively with a small
// image tower, as CLIP (arXiv:2103.00020): symmetric cross-entropy over the batch's image-caption cosine
// similarities times a learned temperature. The text encoder becomes the frozen conditioner of the tiny SD
// model; the pair gives a CLIP score for evaluation.
// Saved as text_encoder/ (config.json + model.safetensors, loadable by transformers) and toyclip/
// (image tower + text_projection + logit_scale in toyclip.safetensors, config.json).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "models/clip.h"
#include "tokenizer/clip_tokenizer.h"

namespace sculpt::toyworld {

struct ToyClipConfig {  // keys of toyclip/config.json
  std::vector<int64_t> image_channels{32, 64, 128, 128};  // stride-2 conv stages: 64 → 4 pixels
  int64_t projection_dim = 128;
  nlohmann::json to_json() const;
  static ToyClipConfig from_json(const nlohmann::json& j, const std::string& source);
};

// The image tower and the projections; the text tower is a separate CLIPTextModel.
struct ToyClipImpl : torch::nn::Module {
  ToyClipImpl(const ToyClipConfig& config, int64_t text_hidden_size);
  torch::Tensor image_embeds(const torch::Tensor& images);       // [N,3,64,64] in [0,1] → [N,P], unit norm
  torch::Tensor text_embeds(const torch::Tensor& pooled_output);  // [N,D] → [N,P], unit norm
  ToyClipConfig config;
  torch::nn::Sequential vision{nullptr};
  torch::nn::Linear visual_projection{nullptr}, text_projection{nullptr};
  torch::Tensor logit_scale;
};
TORCH_MODULE(ToyClip);

// CLIP score as in torchmetrics: 100 · max(cos(image, text), 0), per image.
torch::Tensor clip_score(ToyClip& clip, CLIPTextModel& text, const CLIPTokenizer& tok, const torch::Tensor& images,
                         const std::vector<std::string>& prompts);

void save_toyclip(ToyClip& clip, const std::filesystem::path& dir);
ToyClip load_toyclip(const std::filesystem::path& dir, int64_t text_hidden_size);

}  // namespace sculpt::toyworld
