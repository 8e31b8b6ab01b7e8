// Text-to-image and image-to-image sampling with classifier-free guidance: the one denoising loop
// that generation, img2img and every method walking a trajectory share.
// Source: diffusers 0.29.2 pipelines/stable_diffusion/pipeline_stable_diffusion.py (__call__) and
// pipeline_stable_diffusion_img2img.py (get_timesteps, prepare_latents).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "pipeline/model_loader.h"
#include "schedulers/scheduler.h"

namespace sculpt {

struct GenerateConfig {
  std::vector<std::string> prompts;           // one image batch per prompt
  std::vector<std::string> negative_prompts;  // empty: "" for all; one: used for all; else one per prompt
  int64_t steps = 25;
  double guidance_scale = 7.5;  // <= 1 disables classifier-free guidance, as in diffusers
  std::string scheduler = "ddim";
  double eta = 0.0;             // DDIM only
  int64_t seed = 0;
  int64_t width = 0, height = 0;   // 0: unet sample_size × vae scale factor
  int64_t images_per_prompt = 1;
  int64_t clip_skip = 0;           // 1: penultimate layer (+ final layer norm), as diffusers' clip_skip
  torch::Tensor init_latents;      // [N, C, h, w] noise instead of the seeded draw (multiplied by init_noise_sigma)
  torch::Tensor init_image;        // img2img: [N or 1, 3, H, W] in [0,1]
  double strength = 0.8;           // img2img: share of the schedule that is re-run
  bool progress = true;
  // Called after every step with (step index, latents); used by parity tests and trajectory methods.
  std::function<void(int64_t, const torch::Tensor&)> on_step;
};

struct GenerateResult {
  torch::Tensor images;   // [N, 3, H, W] in [0, 1]
  torch::Tensor latents;  // [N, C, h, w] final latents (before 1/scaling_factor)
};

// τ(prompts): last_hidden_state [N, 77, D] (or the clip_skip layer through final_layer_norm).
torch::Tensor encode_prompts(StableDiffusion& sd, const std::vector<std::string>& prompts, int64_t clip_skip = 0);

// ε̃ = ε(x,∅) + s·(ε(x,c) − ε(x,∅)) in one batched UNet call on cat([x, x]); plain ε(x,c) when s <= 1.
torch::Tensor guided_noise_pred(StableDiffusion& sd, const torch::Tensor& model_input, const torch::Tensor& timestep,
                                const torch::Tensor& cond, const torch::Tensor& uncond, double guidance_scale);

GenerateResult generate(StableDiffusion& sd, const GenerateConfig& config);

// VAE helpers with the model's scaling factor: image [N,3,H,W] in [0,1] ↔ latents z = s·E(2x−1).
torch::Tensor vae_encode_mean(StableDiffusion& sd, const torch::Tensor& images01);
torch::Tensor vae_decode(StableDiffusion& sd, const torch::Tensor& latents);

}  // namespace sculpt
