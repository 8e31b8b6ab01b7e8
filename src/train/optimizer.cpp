#include "train/optimizer.h"

#include <cmath>

#include "core/check.h"

namespace sculpt {

Optimizer::Optimizer(std::vector<torch::Tensor> params, OptimizerConfig config)
    : params_(std::move(params)), config_(std::move(config)) {
  SCULPT_USAGE_CHECK(config_.name == "adamw" || config_.name == "adam" || config_.name == "sgd",
                     "unknown optimizer '", config_.name, "'; known: adamw, adam, sgd");
  SCULPT_USAGE_CHECK(config_.lr >= 0, "learning rate must be >= 0, got ", config_.lr);
  torch::NoGradGuard no_grad;
  for (const auto& p : params_) {
    if (config_.name == "sgd") {
      momentum_.push_back(torch::Tensor());
    } else {
      exp_avg_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      exp_avg_sq_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    }
  }
}

void Optimizer::zero_grad() {
  for (auto& p : params_)
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();  // set_to_none=True, PyTorch 2's default
}

void Optimizer::step(double lr) {
  torch::NoGradGuard no_grad;
  ++step_;
  const auto& c = config_;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    if (!p.grad().defined()) continue;
    auto grad = p.grad();
    if (c.name == "sgd") {
      if (c.weight_decay != 0) grad = grad.add(p, c.weight_decay);
      if (c.momentum != 0) {
        auto& buf = momentum_[i];
        if (!buf.defined()) buf = grad.clone();
        else buf.mul_(c.momentum).add_(grad);  // dampening 0
        grad = c.nesterov ? grad.add(buf, c.momentum) : buf;
      }
      p.add_(grad, -lr);
      continue;
    }
    if (c.name == "adamw") p.mul_(1 - lr * c.weight_decay);
    else if (c.weight_decay != 0) grad = grad.add(p, c.weight_decay);
    exp_avg_[i].lerp_(grad, 1 - c.beta1);
    exp_avg_sq_[i].mul_(c.beta2).addcmul_(grad, grad, 1 - c.beta2);
    const double bias1 = 1 - std::pow(c.beta1, static_cast<double>(step_));
    const double bias2 = 1 - std::pow(c.beta2, static_cast<double>(step_));
    const double step_size = lr / bias1;
    auto denom = (exp_avg_sq_[i].sqrt() / std::sqrt(bias2)).add_(c.eps);
    p.addcdiv_(exp_avg_[i], denom, -step_size);
  }
}

TensorMap Optimizer::state() const {
  TensorMap out;
  out["step"] = torch::tensor({step_}, torch::kInt64);
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto k = std::to_string(i);
    if (!exp_avg_.empty()) {
      out[k + ".exp_avg"] = exp_avg_[i].cpu();
      out[k + ".exp_avg_sq"] = exp_avg_sq_[i].cpu();
    } else if (momentum_[i].defined()) {
      out[k + ".momentum"] = momentum_[i].cpu();
    }
  }
  return out;
}

void Optimizer::load_state(const TensorMap& state, const std::string& source) {
  torch::NoGradGuard no_grad;
  auto get = [&](const std::string& k) -> const torch::Tensor* {
    auto it = state.find(k);
    return it == state.end() ? nullptr : &it->second;
  };
  const auto* step = get("step");
  SCULPT_CHECK(step != nullptr, source, ": optimizer state has no 'step'");
  step_ = step->item<int64_t>();
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto k = std::to_string(i);
    auto load = [&](const std::string& key, torch::Tensor& dst) {
      const auto* t = get(key);
      SCULPT_CHECK(t != nullptr, source, ": optimizer state has no '", key, "' (was it saved for other parameters?)");
      SCULPT_CHECK(t->sizes() == params_[i].sizes(), source, ": optimizer state '", key, "' has shape ", t->sizes(),
                   " but the parameter has ", params_[i].sizes());
      dst = t->to(params_[i].options()).clone();
    };
    if (!exp_avg_.empty()) {
      load(k + ".exp_avg", exp_avg_[i]);
      load(k + ".exp_avg_sq", exp_avg_sq_[i]);
    } else if (get(k + ".momentum")) {
      load(k + ".momentum", momentum_[i]);
    }
  }
}

double schedule_factor(const ScheduleConfig& c, int64_t step) {
  if (step < c.warmup_steps) return static_cast<double>(step) / std::max<int64_t>(1, c.warmup_steps);
  if (c.name == "constant") return 1.0;
  SCULPT_USAGE_CHECK(c.name == "linear" || c.name == "cosine", "unknown lr schedule '", c.name,
                     "'; known: constant, linear, cosine");
  const double span = static_cast<double>(std::max<int64_t>(1, c.total_steps - c.warmup_steps));
  const double progress = static_cast<double>(step - c.warmup_steps) / span;
  double f = c.name == "linear" ? std::max(0.0, 1.0 - progress)
                                : std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
  return c.min_ratio + (1.0 - c.min_ratio) * f;
}

double grad_norm(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> norms;
  for (const auto& p : params)
    if (p.grad().defined()) norms.push_back(p.grad().norm(2));
  if (norms.empty()) return 0.0;
  return torch::stack(norms).norm(2).item<double>();
}

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> norms;
  for (const auto& p : params)
    if (p.grad().defined()) norms.push_back(p.grad().norm(2));
  if (norms.empty()) return 0.0;
  const auto total = torch::stack(norms).norm(2);
  const auto coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
  for (const auto& p : params)
    if (p.grad().defined()) p.grad().mul_(coef.to(p.grad().device()));
  return total.item<double>();
}

EmaWeights::EmaWeights(const std::vector<torch::Tensor>& params, double decay) : decay_(decay) {
  torch::NoGradGuard no_grad;
  for (const auto& p : params) shadow_.push_back(p.detach().clone());
}

void EmaWeights::update(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard no_grad;
  // diffusers EMAModel.get_decay: step = optimization_step - 1; decay 0 on the first update.
  const double n = static_cast<double>(updates_++);
  const double d = n <= 0 ? 0.0 : std::min(decay_, (1 + n) / (10 + n));
  for (size_t i = 0; i < params.size(); ++i) shadow_[i].sub_((1 - d) * (shadow_[i] - params[i]));
}

TensorMap EmaWeights::state() const {
  TensorMap out;
  out["updates"] = torch::tensor({updates_}, torch::kInt64);
  for (size_t i = 0; i < shadow_.size(); ++i) out[std::to_string(i) + ".ema"] = shadow_[i].cpu();
  return out;
}

void EmaWeights::load_state(const TensorMap& state, const std::string& source) {
  torch::NoGradGuard no_grad;
  auto it = state.find("updates");
  SCULPT_CHECK(it != state.end(), source, ": EMA state has no 'updates'");
  updates_ = it->second.item<int64_t>();
  for (size_t i = 0; i < shadow_.size(); ++i) {
    auto t = state.find(std::to_string(i) + ".ema");
    SCULPT_CHECK(t != state.end() && t->second.sizes() == shadow_[i].sizes(), source, ": EMA state for parameter ", i,
                 " is missing or has the wrong shape");
    shadow_[i].copy_(t->second);
  }
}

}  // namespace sculpt
