// All-but-One, surgical concept erasing with model preservation (Hong, Lee, Woo; AAAI 2024,
// arXiv:2312.12807; methods.md §5). The paper has no public code: this is a reconstruction (our design),
// labelled as such in --help, logs and outputs.
//
// With the guidance term g(x_t, c) = ε(x_t, c) − ε(x_t, ∅):
//   L_erase  = ‖[ε_θ(x_t, c_e) − sg(ε_θ(x_t, ∅))] − g*‖²,   g* = η·[ε*(x_t, c_a) − ε*(x_t, ∅)] with an
//              alternative c_a; else 0 (default) or −η·[ε*(x_t, c_e) − ε*(x_t, ∅)] (no_alt_target "esd")
//   L_uncond = ‖ε_θ(x_t, ∅) − ε*(x_t, ∅)‖²       L = L_erase + λ·L_uncond
// Pinning the unconditional score keeps the x_T → image map, so erased prompts keep their layout and
// DDIM-inversion purification works (purify_image).
#pragma once
#include <torch/torch.h>

#include <string>

#include "models/unet.h"
#include "pipeline/model_loader.h"
#include "schedulers/scheduler.h"

namespace sculpt {

struct AboLoss {
  torch::Tensor total, erase, uncond;
};
// One batch. alt: [1, L, D] embedding of the alternative, or undefined for none; no_alt_target "zero" | "esd".
AboLoss abo_loss(UNet2DConditionModel& student, UNet2DConditionModel& frozen, const Scheduler& schedule,
                 const torch::Tensor& x_t, const torch::Tensor& t, const torch::Tensor& erase,
                 const torch::Tensor& uncond, const torch::Tensor& alt, double eta, double lambda,
                 const std::string& no_alt_target);

// Purification of real images (methods.md §5.2): z_0 = s_vae·E(x); DDIM-invert with the original model
// (prompt, guidance 1) all the way to x_T in `steps` steps; regenerate with the edited model (same prompt,
// `steps` DDIM steps, CFG `guidance`); decode. images01 [N, 3, H, W] in [0, 1] → the same.
struct PurifyConfig {
  std::string prompt;       // the erased concept or the image's caption
  int64_t steps = 20;       // K
  double guidance = 3.0;    // regeneration CFG
  bool progress = true;
};
torch::Tensor purify_images(StableDiffusion& original, StableDiffusion& edited, const torch::Tensor& images01,
                            const PurifyConfig& config);

}  // namespace sculpt
