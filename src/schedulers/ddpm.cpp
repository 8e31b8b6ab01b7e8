// DDPM ancestral sampler (variance "fixed_small") and the training forward process.
// Source: diffusers 0.29.2 schedulers/scheduling_ddpm.py (DDPMScheduler.step).
// Notation (arXiv:2006.11239 eq. 6-7): a_t = ᾱ_t, α_t = a_t/a_prev, β_t = 1 − α_t;
//   μ̃ = √a_prev·β_t/(1−a_t)·x̂0 + √α_t·(1−a_prev)/(1−a_t)·x_t,  β̃_t = (1−a_prev)/(1−a_t)·β_t.
#include "core/check.h"
#include "schedulers/scheduler.h"

namespace sculpt {
namespace {

class DDPMScheduler : public Scheduler {
 public:
  explicit DDPMScheduler(const NoiseScheduleConfig& c) : Scheduler(c) {}

  void set_timesteps(int64_t n) override {
    num_inference_steps_ = n;
    timesteps_ = torch::tensor(spaced_timesteps(config_.timestep_spacing, num_train_timesteps(), n, config_.steps_offset),
                               torch::kFloat64).to(torch::kLong);
  }

  SchedulerOutput step(const torch::Tensor& out, int64_t i, const torch::Tensor& x,
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
      x0 = (x - b_t.pow(0.5) * out) / a_t.pow(0.5);
    else if (config_.prediction_type == "v_prediction")
      x0 = a_t.pow(0.5) * x - b_t.pow(0.5) * out;
    else
      x0 = out;
    // 3. clip
    if (config_.clip_sample) x0 = x0.clamp(-config_.clip_sample_range, config_.clip_sample_range);
    // 4-5. posterior mean μ̃ (eq. 7)
    auto prev = (a_prev.pow(0.5) * beta_t / b_t) * x0 + (alpha_t.pow(0.5) * b_prev / b_t) * x;
    // 6. add σ_t·z with σ_t² = β̃_t (fixed_small), except at t = 0
    if (t > 0) {
      SCULPT_CHECK(generator != nullptr, "the DDPM sampler needs a generator for its noise");
      auto variance = (b_prev / b_t * beta_t).clamp_min(1e-20);
      auto z = torch::randn(out.sizes(), *generator, torch::TensorOptions().dtype(out.scalar_type()));
      prev = prev + variance.pow(0.5) * z.to(out.device());
    }
    return {prev, x0};
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_ddpm(const NoiseScheduleConfig& c) { return std::make_unique<DDPMScheduler>(c); }

}  // namespace sculpt
