// DDIM sampler. Source: diffusers 0.29.2 schedulers/scheduling_ddim.py (DDIMScheduler.step).
// Notation (arXiv:2010.02502 eq. 12): a_t = ᾱ_t = alphas_cumprod[t], b_t = 1 − a_t, ε = predicted noise,
// σ_t = η·√((b_prev/b_t)(1 − a_t/a_prev)).
#include "core/check.h"
#include "schedulers/scheduler.h"

namespace sculpt {
namespace {

class DDIMScheduler : public Scheduler {
 public:
  explicit DDIMScheduler(const NoiseScheduleConfig& c, double eta = 0.0) : Scheduler(c), eta_(eta) {
    final_alpha_cumprod_ = c.set_alpha_to_one ? torch::tensor(1.0f) : alphas_cumprod_[0].clone();
  }

  void set_timesteps(int64_t n) override {
    num_inference_steps_ = n;
    timesteps_ = torch::tensor(spaced_timesteps(config_.timestep_spacing, num_train_timesteps(), n, config_.steps_offset),
                               torch::kFloat64).to(torch::kLong);
  }

  SchedulerOutput step(const torch::Tensor& eps_in, int64_t i, const torch::Tensor& x,
                       torch::Generator* generator) override {
    SCULPT_CHECK(num_inference_steps_ > 0, "DDIM step before set_timesteps");
    const int64_t t = timesteps_[i].item<int64_t>();
    const int64_t prev_t = t - num_train_timesteps() / num_inference_steps_;  // 1. previous step
    // 2. a_t, a_prev as float32 0-d tensors, as upstream computes them.
    const auto a_t = alphas_cumprod_[t];
    const auto a_prev = prev_t >= 0 ? alphas_cumprod_[prev_t] : final_alpha_cumprod_;
    const auto b_t = 1 - a_t;
    // 3. predicted x_0 and ε from the model output
    torch::Tensor x0, eps;
    if (config_.prediction_type == "epsilon") {
      x0 = (x - b_t.pow(0.5) * eps_in) / a_t.pow(0.5);
      eps = eps_in;
    } else if (config_.prediction_type == "sample") {
      x0 = eps_in;
      eps = (x - a_t.pow(0.5) * x0) / b_t.pow(0.5);
    } else {  // v_prediction
      x0 = a_t.pow(0.5) * x - b_t.pow(0.5) * eps_in;
      eps = a_t.pow(0.5) * eps_in + b_t.pow(0.5) * x;
    }
    // 4. clip x_0
    if (config_.clip_sample) x0 = x0.clamp(-config_.clip_sample_range, config_.clip_sample_range);
    // 5. σ_t (eq. 16)
    const auto b_prev = 1 - a_prev;
    const auto variance = (b_prev / b_t) * (1 - a_t / a_prev);
    const auto std_dev = eta_ * variance.pow(0.5);
    // 6. direction pointing to x_t, 7. x_{t-1} without noise
    auto dir = (1 - a_prev - std_dev.pow(2)).pow(0.5) * eps;
    auto prev = a_prev.pow(0.5) * x0 + dir;
    if (eta_ > 0) {
      SCULPT_CHECK(generator != nullptr, "DDIM with eta > 0 needs a generator");
      auto noise = torch::randn(eps_in.sizes(), *generator, torch::TensorOptions().dtype(eps_in.scalar_type()));
      prev = prev + std_dev * noise.to(eps_in.device());
    }
    return {prev, x0};
  }

 private:
  double eta_;
  torch::Tensor final_alpha_cumprod_;
};

}  // namespace

std::unique_ptr<Scheduler> make_ddim(const NoiseScheduleConfig& c, double eta) {
  return std::make_unique<DDIMScheduler>(c, eta);
}

}  // namespace sculpt
