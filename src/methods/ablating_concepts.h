// Ablating Concepts (Kumari et al., ICCV 2023, arXiv:2303.13516; methods.md §4): make the target concept c*
// produce what an anchor concept c produces. x_t: images the original model generated for anchor captions,
// forward-noised at t ~ U{0..T−1}; target prompts are the same captions with the anchor replaced by c*.
//   model-based (default): L = ‖ε_θ(x_t, c*, t) − sg(ε_θ(x_t, c, t))‖²   (teacher: the current model)
//   noise-based:           L = ‖ε − ε_θ(x_t, c*, t)‖²
//   + w·‖ε − ε_θ(x_t, c, t)‖² on the anchor prompts (regulariser; w = 0.2 as the CompVis code)
#pragma once
#include <torch/torch.h>

#include <string>

#include "models/unet.h"
#include "schedulers/scheduler.h"

namespace sculpt {

struct AcLoss {
  torch::Tensor total, ablate, reg;
};
// One batch: anchor latents z0 [B, C, h, w], noise [B, …], t int64 [B], target/anchor prompt embeddings
// [B, L, D]; loss "model" | "noise"; reg_weight 0 turns the regulariser off.
AcLoss ac_loss(UNet2DConditionModel& unet, const Scheduler& schedule, const torch::Tensor& z0,
               const torch::Tensor& noise, const torch::Tensor& t, const torch::Tensor& target_emb,
               const torch::Tensor& anchor_emb, const std::string& loss, double reg_weight);

}  // namespace sculpt
