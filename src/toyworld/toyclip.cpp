#include "toyworld/toyclip.h"

#include <cmath>

#include "core/check.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "io/state_dict.h"

namespace sculpt::toyworld {
namespace fs = std::filesystem;
namespace nn = torch::nn;

nlohmann::json ToyClipConfig::to_json() const {
  return {{"image_channels", image_channels}, {"projection_dim", projection_dim}};
}

ToyClipConfig ToyClipConfig::from_json(const nlohmann::json& j, const std::string& source) {
  ToyClipConfig c;
  try {
    c.image_channels = j.at("image_channels").get<std::vector<int64_t>>();
    c.projection_dim = j.at("projection_dim").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    SCULPT_CHECK(false, source, ": ", e.what());
  }
  SCULPT_CHECK(!c.image_channels.empty() && c.projection_dim > 0, source, ": empty image tower or projection");
  return c;
}

ToyClipImpl::ToyClipImpl(const ToyClipConfig& c, int64_t text_hidden_size) : config(c) {
  vision = register_module("vision", nn::Sequential());
  int64_t in = 3;
  for (const auto ch : c.image_channels) {  // conv s2 → GroupNorm → SiLU per stage
    vision->push_back(nn::Conv2d(nn::Conv2dOptions(in, ch, 3).stride(2).padding(1)));
    vision->push_back(nn::GroupNorm(nn::GroupNormOptions(8, ch)));
    vision->push_back(nn::SiLU());
    in = ch;
  }
  visual_projection = register_module("visual_projection", nn::Linear(nn::LinearOptions(in, c.projection_dim)));
  text_projection =
      register_module("text_projection", nn::Linear(nn::LinearOptions(text_hidden_size, c.projection_dim).bias(false)));
  logit_scale = register_parameter("logit_scale", torch::tensor(std::log(1 / 0.07)));
}

torch::Tensor ToyClipImpl::image_embeds(const torch::Tensor& images) {
  auto h = vision->forward(images * 2 - 1).mean({2, 3});  // [N, C]
  return torch::nn::functional::normalize(visual_projection(h), torch::nn::functional::NormalizeFuncOptions().dim(-1));
}

torch::Tensor ToyClipImpl::text_embeds(const torch::Tensor& pooled) {
  return torch::nn::functional::normalize(text_projection(pooled), torch::nn::functional::NormalizeFuncOptions().dim(-1));
}

torch::Tensor clip_score(ToyClip& clip, CLIPTextModel& text, const CLIPTokenizer& tok, const torch::Tensor& images,
                         const std::vector<std::string>& prompts) {
  torch::NoGradGuard no_grad;
  SCULPT_CHECK(static_cast<int64_t>(prompts.size()) == images.size(0), "clip_score: ", prompts.size(), " prompts for ",
               images.size(0), " images");
  auto t = clip->text_embeds(text->forward(tok(prompts)).pooler_output);
  auto i = clip->image_embeds(images);
  return 100 * (t * i).sum(-1).clamp_min(0);
}

void save_toyclip(ToyClip& clip, const fs::path& dir) {
  fs::create_directories(dir);
  write_file_atomically(dir / "config.json", clip->config.to_json().dump(2) + "\n");
  write_safetensors(dir / "toyclip.safetensors", state_dict(*clip), {{"format", "pt"}});
}

ToyClip load_toyclip(const fs::path& dir, int64_t text_hidden_size) {
  const auto config = ToyClipConfig::from_json(nlohmann::json::parse(read_file(dir / "config.json")),
                                               (dir / "config.json").string());
  ToyClip clip(config, text_hidden_size);
  load_state_dict(*clip, read_safetensors(dir / "toyclip.safetensors"), (dir / "toyclip.safetensors").string());
  clip->eval();
  return clip;
}

}  // namespace sculpt::toyworld
