// Euler sampler (Karras et al. Algorithm 2 with s_churn = 0) in σ-space.
// Source: diffusers 0.29.2 schedulers/scheduling_euler_discrete.py (EulerDiscreteScheduler).
// Notation (arXiv:2206.00364 Algorithm 2): σ = √((1−ᾱ)/ᾱ), x_σ = x0 + σ·ε; D = x̂0 (the denoiser output),
// d_i = (x_i − D(x_i; σ_i))/σ_i, x_{i+1} = x_i + (σ_{i+1} − σ_i)·d_i.
#include <cmath>

#include "core/check.h"
#include "schedulers/scheduler.h"

namespace sculpt {
namespace {

class EulerDiscreteScheduler : public Scheduler {
 public:
  explicit EulerDiscreteScheduler(const NoiseScheduleConfig& c) : Scheduler(c) {
    // Zero terminal SNR would make the first σ infinite: upstream moves ᾱ_T to 2⁻²⁴ (fp16's smallest subnormal).
    if (c.rescale_betas_zero_snr) alphas_cumprod_[-1] = std::ldexp(1.0, -24);
    train_sigmas_ = ((1 - alphas_cumprod_) / alphas_cumprod_).pow(0.5);  // float32, ascending in t
    // Before set_timesteps diffusers holds all T sigmas; init_noise_sigma uses their maximum.
    sigmas_ = torch::cat({train_sigmas_.flip(0), torch::zeros({1})});
  }

  void set_timesteps(int64_t n) override {
    const int64_t T = num_train_timesteps();
    SCULPT_USAGE_CHECK(n > 0 && n <= T, "number of inference steps must be in 1..", T, ", got ", n);
    // Timesteps as float32; linspace is not rounded: np.linspace(0, T−1, n, dtype=float32)[::-1].
    std::vector<float> ts;
    if (config_.timestep_spacing == "linspace") {
      for (int64_t i = n - 1; i >= 0; --i) ts.push_back(static_cast<float>(linspace_at(0, T - 1, n, i)));
    } else {
      for (double t : spaced_timesteps(config_.timestep_spacing, T, n, config_.steps_offset))
        ts.push_back(static_cast<float>(t));
    }
    // σ_i = np.interp(t_i, arange(T), σ_train) in float64, then the final σ, all cast to float32.
    std::vector<float> sig;
    for (float t : ts) sig.push_back(static_cast<float>(interp_index(t, train_sigmas_)));
    sig.push_back(config_.final_sigmas_type == "zero" ? 0.0f : train_sigmas_[0].item<float>());
    sigmas_ = torch::tensor(sig, torch::kFloat32);
    if (config_.timestep_type == "continuous" && config_.prediction_type == "v_prediction") {
      // c_noise = ¼·ln σ (EDM Table 1), one 0-d log per σ as upstream's list comprehension computes it.
      for (size_t k = 0; k < ts.size(); ++k) ts[k] = (0.25 * sigmas_[static_cast<int64_t>(k)].log()).item<float>();
    }
    timesteps_ = torch::tensor(ts, torch::kFloat32);
    num_inference_steps_ = n;
  }

  double init_noise_sigma() const override {
    const auto max_sigma = sigmas_.max();
    if (config_.timestep_spacing == "linspace" || config_.timestep_spacing == "trailing")
      return max_sigma.item<double>();
    return (max_sigma.pow(2) + 1).pow(0.5).item<double>();  // float32, as upstream
  }

  // c_in = 1/√(σ² + 1)
  torch::Tensor scale_model_input(const torch::Tensor& x, int64_t i) const override {
    const auto sigma = sigmas_[i];
    return x / (sigma.pow(2) + 1).pow(0.5);
  }

  SchedulerOutput step(const torch::Tensor& model_output, int64_t i, const torch::Tensor& sample,
                       torch::Generator* generator) override {
    SCULPT_CHECK(num_inference_steps_ > 0, "Euler step before set_timesteps");
    // Upstream draws churn noise on every step even when s_churn = 0 (γ = 0 discards it); drawing it too
    // (on the generator's device, never moved) keeps a shared generator in the same state.
    if (generator != nullptr)
      torch::randn(model_output.sizes(), *generator,
                   torch::TensorOptions().dtype(model_output.scalar_type()).device(generator->device()));
    const auto x = sample.to(torch::kFloat32);
    const auto sigma = sigmas_[i];  // σ̂_i = σ_i (γ_i = 0)
    // 1. x̂0 = D(x_i; σ_i)
    torch::Tensor x0;
    if (config_.prediction_type == "epsilon")
      x0 = x - sigma * model_output;
    else if (config_.prediction_type == "v_prediction")
      x0 = model_output * (-sigma / (sigma.pow(2) + 1).pow(0.5)) + x / (sigma.pow(2) + 1);
    else
      x0 = model_output;
    // 2. d_i = (x_i − x̂0)/σ_i (Algorithm 2 line 7), 3. x_{i+1} = x_i + (σ_{i+1} − σ_i)·d_i (line 8)
    auto derivative = (x - x0) / sigma;
    const auto dt = sigmas_[i + 1] - sigma;
    auto prev = x + derivative * dt;
    return {prev.to(model_output.scalar_type()), x0};
  }

  // x_σ = x0 + σ_i·ε
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
