// ESD (Gandikota et al., ICCV 2023, arXiv:2303.07345; methods.md §2): fine-tune ε_θ(x_t, c) toward the
// frozen model's prediction guided away from c:
//   L = ‖ε_θ(x_t, c, t) − sg[ε*(x_t, ∅, t) − η·(ε*(x_t, c, t) − ε*(x_t, ∅, t))]‖²
// esd-x trains unet-xattn (styles), esd-u unet-noxattn (objects, global concepts). x_t comes from DDIM
// trajectories of the frozen model on c (the newer code; default) or of the model being trained with the
// original code's timestep mapping (--xt-source student --t-mapping legacy).
#pragma once
#include <torch/torch.h>

#include "models/unet.h"
#include "schedulers/scheduler.h"

namespace sculpt {

// The loss for one batch: student/frozen UNets, x_t [B, C, h, w], t int64 [B] (the timestep the UNets
// see), cond/uncond [1, L, D]. Frozen passes run batched and without gradients.
torch::Tensor esd_loss(UNet2DConditionModel& student, UNet2DConditionModel& frozen, const Scheduler& schedule,
                       const torch::Tensor& x_t, const torch::Tensor& t, const torch::Tensor& cond,
                       const torch::Tensor& uncond, double eta);

// The original code's timestep for a trajectory stopped after k of K steps: uniform in
// [round(k/K·T), round((k+1)/K·T)), which does not match the noise level reached.
torch::Tensor esd_legacy_timesteps(const torch::Tensor& k, int64_t steps, int64_t train_timesteps, torch::Generator& gen);

}  // namespace sculpt
