// DDPM ancestral sampler (variance "fixed_small" as SD uses it, "fixed_small_log", "fixed_large").
// Source: diffusers 0.29.2 schedulers/scheduling_ddpm.py (DDPMScheduler.set_timesteps, step, _get_variance).
// Notation (arXiv:2006.11239 eq. 6-7, 15): a_t = ᾱ_t, α_t = a_t/a_prev, β_t = 1 − α_t (the β of the
// strided chain), μ̃ = √a_prev·β_t/(1−a_t)·x̂0 + √α_t·(1−a_prev)/(1−a_t)·x_t, β̃_t = (1−a_prev)/(1−a_t)·β_t.
#include "core/check.h"
#include "schedulers/scheduler.h"

namespace sculpt {
namespace {

class DDPMScheduler : public Scheduler {
 public:
  explicit DDPMScheduler(const NoiseScheduleConfig& c) : Scheduler(c) {}

  void set_timesteps(int64_t n) override {
    const auto ts = spaced_timesteps(config_.timestep_spacing, num_train_timesteps(), n, config_.steps_offset);
    timesteps_ = torch::tensor(ts, torch::kFloat64).to(torch::kLong);
    num_inference_steps_ = n;
  }

  SchedulerOutput step(const torch::Tensor& model_output, int64_t i, const torch::Tensor& x,
                       torch::Generator* generator) override {
    SCULPT_CHECK(num_inference_steps_ > 0, "DDPM step before set_timesteps");
    const int64_t t = timesteps_[i].item<int64_t>();
    const int64_t prev_t = t - num_train_timesteps() / num_inference_steps_;
    // 1. a_t, a_prev, α_t, β_t
    const auto a_t = alphas_cumprod_[t];
    const auto a_prev = prev_t >= 0 ? alphas_cumprod_[prev_t] : torch::tensor(1.0f);
    const auto b_t = 1 - a_t, b_prev = 1 - a_prev;
    const auto alpha_t = a_t / a_prev, beta_t = 1 - alpha_t;
    // 2. x̂0 (eq. 15)
    torch::Tensor x0;
    if (config_.prediction_type == "epsilon")
      x0 = (x - b_t.pow(0.5) * model_output) / a_t.pow(0.5);
    else if (config_.prediction_type == "sample")
      x0 = model_output;
    else
      x0 = a_t.pow(0.5) * x - b_t.pow(0.5) * model_output;
    // 3. threshold or clip x̂0
    if (config_.thresholding)
      x0 = threshold_sample(x0, config_.dynamic_thresholding_ratio, config_.sample_max_value);
    else if (config_.clip_sample)
      x0 = x0.clamp(-config_.clip_sample_range, config_.clip_sample_range);
    // 4-5. posterior mean μ̃ (eq. 7)
    const auto x0_coeff = (a_prev.pow(0.5) * beta_t) / b_t;
    const auto x_coeff = alpha_t.pow(0.5) * b_prev / b_t;
    auto prev = x0_coeff * x0 + x_coeff * x;
    // 6. x_{t−1} = μ̃ + σ_t·z, except at t = 0 (Algorithm 2 line 4)
    if (t > 0) {
      SCULPT_CHECK(generator != nullptr, "the DDPM sampler needs a generator for its noise");
      auto z = randn_like(model_output, *generator);
      prev = prev + sigma(b_prev, b_t, beta_t) * z;
    }
    return {prev, x0};
  }

 private:
  // σ_t: √β̃_t ("fixed_small", β̃ clamped at 1e-20), exp(½·log β̃_t) ("fixed_small_log"), √β_t ("fixed_large").
  torch::Tensor sigma(const torch::Tensor& b_prev, const torch::Tensor& b_t, const torch::Tensor& beta_t) const {
    const auto posterior_variance = (b_prev / b_t * beta_t).clamp_min(1e-20);
    if (config_.variance_type == "fixed_small_log") return torch::exp(0.5 * torch::log(posterior_variance));
    if (config_.variance_type == "fixed_large") return beta_t.pow(0.5);
    return posterior_variance.pow(0.5);
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_ddpm(const NoiseScheduleConfig& c) { return std::make_unique<DDPMScheduler>(c); }

}  // namespace sculpt
