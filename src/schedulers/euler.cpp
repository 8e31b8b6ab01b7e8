// Euler sampler (Karras et al. Algorithm 2 with s_churn = 0) in σ-space.
// Source: diffusers 0.29.2 schedulers/scheduling_euler_discrete.py (EulerDiscreteScheduler).
// Notation (arXiv:2206.00364): σ = √((1−ᾱ)/ᾱ), x_σ = x0 + σ·ε, d = (x − x̂0)/σ, x_next = x + d·(σ_next − σ).
#include <cmath>

#include "core/check.h"
#include "schedulers/scheduler.h"

namespace sculpt {
namespace {

class EulerDiscreteScheduler : public Scheduler {
 public:
  explicit EulerDiscreteScheduler(const NoiseScheduleConfig& c) : Scheduler(c) {
    train_sigmas_ = ((1 - alphas_cumprod_) / alphas_cumprod_).pow(0.5);  // float32, as upstream
    // Before set_timesteps diffusers holds all T sigmas; init_noise_sigma uses their maximum.
    sigmas_ = torch::cat({train_sigmas_.flip(0), torch::zeros({1})});
  }

  void set_timesteps(int64_t n) override {
    SCULPT_USAGE_CHECK(n > 0 && n <= num_train_timesteps(), "number of inference steps must be in 1..",
                       num_train_timesteps(), ", got ", n);
    num_inference_steps_ = n;
    const int64_t T = num_train_timesteps();
    std::vector<float> ts;
    if (config_.timestep_spacing == "linspace") {
      // np.linspace(0, T-1, n, dtype=float32)[::-1]: fractional, not rounded.
      for (int64_t i = n - 1; i >= 0; --i) ts.push_back(static_cast<float>(linspace_at(0, T - 1, n, i)));
    } else {
      for (double t : spaced_timesteps(config_.timestep_spacing, T, n, config_.steps_offset))
        ts.push_back(static_cast<float>(t));
    }
    std::vector<float> sig;
    for (float t : ts) sig.push_back(static_cast<float>(interp_index(t, train_sigmas_)));  // np.interp, float64
    sig.push_back(0.0f);  // final_sigmas_type "zero"
    timesteps_ = torch::tensor(ts, torch::kFloat32);
    sigmas_ = torch::tensor(sig, torch::kFloat32);
  }

  double init_noise_sigma() const override {
    const double max_sigma = sigmas_.max().item<double>();
    if (config_.timestep_spacing == "linspace" || config_.timestep_spacing == "trailing") return max_sigma;
    return std::sqrt(max_sigma * max_sigma + 1);
  }

  torch::Tensor scale_model_input(const torch::Tensor& x, int64_t i) const override {
    const auto sigma = sigmas_[i];
    return x / (sigma.pow(2) + 1).pow(0.5);
  }

  SchedulerOutput step(const torch::Tensor& out, int64_t i, const torch::Tensor& x, torch::Generator*) override {
    SCULPT_CHECK(num_inference_steps_ > 0, "Euler step before set_timesteps");
    const auto sigma = sigmas_[i];  // σ̂ = σ (γ = 0 without churn)
    torch::Tensor x0;
    if (config_.prediction_type == "epsilon")
      x0 = x - sigma * out;
    else if (config_.prediction_type == "v_prediction")
      x0 = out * (-sigma / (sigma.pow(2) + 1).pow(0.5)) + x / (sigma.pow(2) + 1);
    else
      x0 = out;
    auto derivative = (x - x0) / sigma;  // d = (x − x̂0)/σ
    const auto dt = sigmas_[i + 1] - sigma;
    return {x + derivative * dt, x0};
  }

  torch::Tensor add_noise_at_step(const torch::Tensor& x0, const torch::Tensor& noise, int64_t i) const override {
    return x0 + noise * sigmas_[i].to(x0.device(), x0.scalar_type());
  }

  torch::Tensor sigmas() const override { return sigmas_; }

 private:
  torch::Tensor train_sigmas_, sigmas_;
};

}  // namespace

std::unique_ptr<Scheduler> make_euler(const NoiseScheduleConfig& c) { return std::make_unique<EulerDiscreteScheduler>(c); }

}  // namespace sculpt
