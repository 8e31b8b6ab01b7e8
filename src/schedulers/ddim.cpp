// DDIM sampler. Source: diffusers 0.29.2 schedulers/scheduling_ddim.py (DDIMScheduler.set_timesteps, step).
// Notation (arXiv:2010.02502 eq. 12, 16): a_t = ᾱ_t = alphas_cumprod[t], b_t = 1 − a_t, ε = predicted noise,
// x̂0 = predicted x_0, σ_t = η·√((b_prev/b_t)(1 − a_t/a_prev)).
#include "core/check.h"
#include "schedulers/scheduler.h"

namespace sculpt {
namespace {

class DDIMScheduler : public Scheduler {
 public:
  DDIMScheduler(const NoiseScheduleConfig& c, double eta) : Scheduler(c), eta_(eta) {
    SCULPT_USAGE_CHECK(eta >= 0, "DDIM eta must be ≥ 0, got ", eta);
    final_alpha_cumprod_ = c.set_alpha_to_one ? torch::tensor(1.0f) : alphas_cumprod_[0].clone();
  }

  void set_timesteps(int64_t n) override {
    const auto ts = spaced_timesteps(config_.timestep_spacing, num_train_timesteps(), n, config_.steps_offset);
    timesteps_ = torch::tensor(ts, torch::kFloat64).to(torch::kLong);
    num_inference_steps_ = n;
  }

  SchedulerOutput step(const torch::Tensor& model_output, int64_t i, const torch::Tensor& x,
                       torch::Generator* generator) override {
    SCULPT_CHECK(num_inference_steps_ > 0, "DDIM step before set_timesteps");
    const int64_t t = timesteps_[i].item<int64_t>();
    // 1. previous timestep t − T/n
    const int64_t prev_t = t - num_train_timesteps() / num_inference_steps_;
    // 2. a_t, a_prev (float32 0-d tensors, as upstream)
    const auto a_t = alphas_cumprod_[t];
    const auto a_prev = prev_t >= 0 ? alphas_cumprod_[prev_t] : final_alpha_cumprod_;
    const auto b_t = 1 - a_t;
    // 3. x̂0 = (x_t − √b_t·ε)/√a_t (eq. 12 "predicted x_0") and ε from the model output
    torch::Tensor x0, eps;
    if (config_.prediction_type == "epsilon") {
      x0 = (x - b_t.pow(0.5) * model_output) / a_t.pow(0.5);
      eps = model_output;
    } else if (config_.prediction_type == "sample") {
      x0 = model_output;
      eps = (x - a_t.pow(0.5) * x0) / b_t.pow(0.5);
    } else {  // v = √a_t·ε − √b_t·x0
      x0 = a_t.pow(0.5) * x - b_t.pow(0.5) * model_output;
      eps = a_t.pow(0.5) * model_output + b_t.pow(0.5) * x;
    }
    // 4. threshold or clip x̂0
    if (config_.thresholding)
      x0 = threshold_sample(x0, config_.dynamic_thresholding_ratio, config_.sample_max_value);
    else if (config_.clip_sample)
      x0 = x0.clamp(-config_.clip_sample_range, config_.clip_sample_range);
    // 5. σ_t (eq. 16)
    const auto b_prev = 1 - a_prev;
    const auto variance = (b_prev / b_t) * (1 - a_t / a_prev);
    const auto std_dev = eta_ * variance.pow(0.5);
    // 6. "direction pointing to x_t" √(1 − a_prev − σ_t²)·ε, 7. x_{t−1} = √a_prev·x̂0 + direction (eq. 12)
    auto direction = (1 - a_prev - std_dev.pow(2)).pow(0.5) * eps;
    auto prev = a_prev.pow(0.5) * x0 + direction;
    // + σ_t·z (eq. 12 "random noise")
    if (eta_ > 0) {
      SCULPT_CHECK(generator != nullptr, "DDIM with eta > 0 needs a generator");
      prev = prev + std_dev * randn_like(model_output, *generator);
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
