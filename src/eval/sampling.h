// Sampling for evaluation: one image per (prompt, seed), whatever the batch it is computed in.
// Image i starts from noise drawn from its own seed, so two models sampled with the same requests start
// from the same noise (the basis of every "original vs edited" comparison), and a result never depends
// on the batch size.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "pipeline/stable_diffusion.h"

namespace sculpt {

struct SampleSettings {
  int64_t steps = 25;
  double guidance_scale = 5.0;
  std::string scheduler = "ddim";
  std::string negative_prompt;  // "" = unconditional, as diffusers
  int64_t batch_size = 32;
  bool progress = true;
  std::string label = "sampling";
};

// The initial latents of one image: randn(shape) from a CPU generator seeded with `seed`.
torch::Tensor seeded_noise(int64_t seed, at::IntArrayRef shape);

// [N, 3, H, W] in [0, 1], N = prompts.size() = seeds.size(), on the CPU.
torch::Tensor sample_images(StableDiffusion& sd, const std::vector<std::string>& prompts,
                            const std::vector<int64_t>& seeds, const SampleSettings& settings);

}  // namespace sculpt
