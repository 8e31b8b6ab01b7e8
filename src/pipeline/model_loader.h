// Loading a whole Stable Diffusion model: a diffusers folder (model_index.json) or a CompVis/LDM
// single-file .safetensors checkpoint. Pickled .ckpt/.pt/.bin files are refused, never unpickled.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "models/clip.h"
#include "models/unet.h"
#include "models/vae.h"
#include "tokenizer/clip_tokenizer.h"

namespace sculpt {

struct StableDiffusion {
  CLIPTokenizer tokenizer;
  CLIPTextModel text_encoder{nullptr};
  UNet2DConditionModel unet{nullptr};
  AutoencoderKL vae{nullptr};
  nlohmann::json scheduler_config;  // scheduler/scheduler_config.json (any scheduler class)
  std::string source;               // path it was loaded from, for messages and reports
  std::filesystem::path tokenizer_dir;  // the folder the tokenizer was read from (copied when saving)

  std::string prediction_type() const;  // "epsilon" | "v_prediction" | "sample"
  int64_t vae_scale_factor() const;     // 2^(levels-1): 8 for SD
  void to(torch::Device device, torch::Dtype dtype = torch::kFloat32);
  void eval();
};

struct LoadSettings {
  std::filesystem::path config_dir;  // a diffusers folder whose configs + tokenizer override inference
  std::string prediction_type;       // "" keeps the config's; "epsilon" | "v_prediction" overrides
};

// An empty path loads the built-in ToyWorld model (builtin_model_dir()).
StableDiffusion load_stable_diffusion(const std::filesystem::path& path, const LoadSettings& settings = {});

// The built-in model: $SCULPT_MODEL when set, else models/toyworld of the source tree (what
// `sculpt toyworld build` writes by default).
std::filesystem::path builtin_model_dir();

// Parameter counts per component, for `sculpt info`.
nlohmann::json describe_model(const StableDiffusion& sd);

}  // namespace sculpt
