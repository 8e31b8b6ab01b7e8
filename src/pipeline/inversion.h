// DDIM inversion: image latents → the noise latents that DDIM (eta 0) maps back to them.
// Notation (arXiv:2010.02502 eq. 12, run with t' > t): a_t = alphas_cumprod[t];
//   x̂0 = (x_t − √(1−a_t)·ε̂) / √a_t,   x_t' = √a_t'·x̂0 + √(1−a_t')·ε̂,   ε̂ = ε(x_t, c, t') (guided).
#pragma once
#include <torch/torch.h>

#include <string>

#include "pipeline/model_loader.h"

namespace sculpt {

struct InversionConfig {
  std::string prompt;            // the condition used along the inverted trajectory
  int64_t steps = 25;            // must equal the steps used to regenerate
  double guidance_scale = 1.0;   // inversion is exact in the limit of small steps only without CFG
  bool progress = true;
};

// latents: [N, C, h, w] clean latents (already × scaling_factor). Returns x_T for the DDIM schedule
// of `steps` steps built from sd.scheduler_config; regenerate with GenerateConfig::init_latents and
// scheduler "ddim", eta 0, the same steps, prompt and guidance scale.
torch::Tensor ddim_invert(StableDiffusion& sd, const torch::Tensor& latents, const InversionConfig& config);

}  // namespace sculpt
