// Optimizers with PyTorch's exact single-tensor semantics (torch/optim/adamw.py, adam.py, sgd.py of
// PyTorch 2.x, foreach=False, amsgrad=False, maximize=False), learning-rate schedules with warm-up
// (diffusers 0.29.2 optimization.py), gradient-norm clipping (torch.nn.utils.clip_grad_norm_) and an EMA
// of the trained weights. State is plain tensors so a checkpoint can hold it and a resumed run continues
// bit-identically.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "io/safetensors.h"

namespace sculpt {

struct OptimizerConfig {
  std::string name = "adamw";  // adamw | adam | sgd
  double lr = 1e-4;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 1e-2;  // adamw: decoupled; adam/sgd: L2 added to the gradient
  double momentum = 0.0;       // sgd
  bool nesterov = false;       // sgd
};

class Optimizer {
 public:
  Optimizer(std::vector<torch::Tensor> params, OptimizerConfig config);
  // One update with learning rate `lr` (the schedule's value for this step); params without grad are skipped.
  void step(double lr);
  void zero_grad();
  int64_t steps_taken() const { return step_; }
  const OptimizerConfig& config() const { return config_; }

  // State as tensors keyed "<i>.exp_avg" …, plus "step"; loads back into an optimizer over the same params.
  TensorMap state() const;
  void load_state(const TensorMap& state, const std::string& source);

 private:
  std::vector<torch::Tensor> params_;
  OptimizerConfig config_;
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_, momentum_;
  int64_t step_ = 0;
};

struct ScheduleConfig {
  std::string name = "constant";  // constant | linear | cosine
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;        // for linear / cosine decay
  double min_ratio = 0.0;         // cosine / linear floor as a fraction of the base lr
};
// lr multiplier for optimizer step `step` (0-based), as LambdaLR evaluates diffusers' schedules.
double schedule_factor(const ScheduleConfig& config, int64_t step);

// torch.nn.utils.clip_grad_norm_(params, max_norm): returns the total 2-norm before clipping.
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);
// Total gradient 2-norm without clipping.
double grad_norm(const std::vector<torch::Tensor>& params);

// ema ← d·ema + (1−d)·param with d = min(decay, (1 + n)/(10 + n)), n = updates so far (d = 0 on the
// first update): diffusers EMAModel with update_after_step 0 and use_ema_warmup off.
class EmaWeights {
 public:
  EmaWeights(const std::vector<torch::Tensor>& params, double decay);
  void update(const std::vector<torch::Tensor>& params);
  const std::vector<torch::Tensor>& weights() const { return shadow_; }
  TensorMap state() const;
  void load_state(const TensorMap& state, const std::string& source);

 private:
  std::vector<torch::Tensor> shadow_;
  double decay_;
  int64_t updates_ = 0;
};

}  // namespace sculpt
