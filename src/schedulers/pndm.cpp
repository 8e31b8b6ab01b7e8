// PNDM sampler with skip_prk_steps (PLMS: linear multistep on ε), as SD configs use it.
// Source: diffusers 0.29.2 schedulers/scheduling_pndm.py (PNDMScheduler.step_plms, _get_prev_sample).
// Notation (arXiv:2202.09778 eq. 9/12): a_t = ᾱ_t; the transfer φ(x_t, ε, t → t') of eq. (9):
//   x_t' = √(a_t'/a_t)·x_t − (a_t' − a_t)·ε / (a_t·√(1−a_t') + √(a_t(1−a_t)a_t')).
#include <algorithm>

#include "core/check.h"
#include "schedulers/scheduler.h"

namespace sculpt {
namespace {

class PNDMScheduler : public Scheduler {
 public:
  explicit PNDMScheduler(const NoiseScheduleConfig& c) : Scheduler(c) {
    final_alpha_cumprod_ = c.set_alpha_to_one ? torch::tensor(1.0f) : alphas_cumprod_[0].clone();
  }

  void set_timesteps(int64_t n) override {
    const int64_t T = num_train_timesteps();
    SCULPT_USAGE_CHECK(n > 0 && n <= T, "number of inference steps must be in 1..", T, ", got ", n);
    num_inference_steps_ = n;
    // Ascending base timesteps, then PLMS order: [t_0 … t_{n-2}, t_{n-2}, t_{n-1}] reversed.
    auto desc = spaced_timesteps(config_.timestep_spacing, T, n, config_.steps_offset);
    std::vector<double> asc(desc.rbegin(), desc.rend());
    std::vector<double> plms(asc.begin(), asc.end() - 1);
    if (n >= 2) plms.push_back(asc[n - 2]);
    plms.push_back(asc[n - 1]);
    std::reverse(plms.begin(), plms.end());
    timesteps_ = torch::tensor(plms, torch::kFloat64).to(torch::kLong);
    ets_.clear();
    counter_ = 0;
    cur_sample_ = torch::Tensor();
  }

  SchedulerOutput step(const torch::Tensor& out, int64_t i, const torch::Tensor& x, torch::Generator*) override {
    SCULPT_CHECK(num_inference_steps_ > 0, "PNDM step before set_timesteps");
    int64_t t = timesteps_[i].item<int64_t>();
    const int64_t ratio = num_train_timesteps() / num_inference_steps_;
    int64_t prev_t = t - ratio;
    if (counter_ != 1) {
      if (ets_.size() > 3) ets_.erase(ets_.begin(), ets_.end() - 3);
      ets_.push_back(out);
    } else {
      prev_t = t;
      t = t + ratio;
    }
    torch::Tensor eps, sample = x;
    const size_t k = ets_.size();
    if (k == 1 && counter_ == 0) {
      eps = out;
      cur_sample_ = x;
    } else if (k == 1 && counter_ == 1) {
      eps = (out + ets_.back()) / 2;
      sample = cur_sample_;
      cur_sample_ = torch::Tensor();
    } else if (k == 2) {
      eps = (3 * ets_[k - 1] - ets_[k - 2]) / 2;
    } else if (k == 3) {
      eps = (23 * ets_[k - 1] - 16 * ets_[k - 2] + 5 * ets_[k - 3]) / 12;
    } else {
      eps = (1.0 / 24) * (55 * ets_[k - 1] - 59 * ets_[k - 2] + 37 * ets_[k - 3] - 9 * ets_[k - 4]);
    }
    auto prev = transfer(sample, t, prev_t, eps);
    ++counter_;
    return {prev, {}};
  }

 private:
  torch::Tensor transfer(const torch::Tensor& x, int64_t t, int64_t prev_t, torch::Tensor eps) const {
    const auto a_t = alphas_cumprod_[t];
    const auto a_prev = prev_t >= 0 ? alphas_cumprod_[prev_t] : final_alpha_cumprod_;
    const auto b_t = 1 - a_t, b_prev = 1 - a_prev;
    if (config_.prediction_type == "v_prediction") eps = a_t.pow(0.5) * eps + b_t.pow(0.5) * x;
    SCULPT_CHECK(config_.prediction_type != "sample", "PNDM does not support prediction_type 'sample'");
    const auto sample_coeff = (a_prev / a_t).pow(0.5);
    const auto denom = a_t * b_prev.pow(0.5) + (a_t * b_t * a_prev).pow(0.5);
    return sample_coeff * x - (a_prev - a_t) * eps / denom;
  }

  torch::Tensor final_alpha_cumprod_, cur_sample_;
  std::vector<torch::Tensor> ets_;
  int64_t counter_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_pndm(const NoiseScheduleConfig& c) { return std::make_unique<PNDMScheduler>(c); }

}  // namespace sculpt
