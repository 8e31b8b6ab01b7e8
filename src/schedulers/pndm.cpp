// PNDM sampler: pseudo Runge-Kutta warm-up (PRK) then pseudo linear multistep (PLMS), or PLMS alone with
// skip_prk_steps as SD configs have it.
// Source: diffusers 0.29.2 schedulers/scheduling_pndm.py (PNDMScheduler.set_timesteps, step_prk, step_plms,
// _get_prev_sample).
// Notation (arXiv:2202.09778 eq. 9, 12, 13): a_t = ᾱ_t; ε_t = model output; the transfer φ of eq. (9):
//   φ(x_t, ε, t → t') = √(a_t'/a_t)·x_t − (a_t' − a_t)·ε / (a_t·√(1−a_t') + √(a_t(1−a_t)a_t')).
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
    SCULPT_USAGE_CHECK(config_.skip_prk_steps || n >= 4, "PNDM with PRK steps needs at least 4 inference steps, got ",
                       n);
    num_inference_steps_ = n;
    // Base timesteps ascending: the shared spacing, reversed.
    auto desc = spaced_timesteps(config_.timestep_spacing, T, n, config_.steps_offset);
    std::vector<int64_t> base(desc.rbegin(), desc.rend());
    const auto m = static_cast<int64_t>(base.size());  // n, or n+1 where numpy's trailing arange overshoots
    std::vector<int64_t> ts;
    if (config_.skip_prk_steps) {
      // PLMS only: [b_0 … b_{m−2}, b_{m−2}, b_{m−1}] reversed (the repeated entry warms up the multistep).
      ts.assign(base.begin(), base.end() - 1);
      if (m >= 2) ts.push_back(base[m - 2]);
      ts.push_back(base[m - 1]);
      std::reverse(ts.begin(), ts.end());
      prk_steps_ = 0;
    } else {
      // PRK on the last 4 base steps b0 < b1 < b2 < b3, each split at its midpoint b_k + δ (δ = T//n//2):
      // 12 timesteps [b3, b2+δ, b2+δ, b2, b2, …, b0+δ, b0+δ, b0]; then PLMS on the earlier base steps.
      const int64_t half = T / n / 2;
      std::vector<int64_t> prk;
      for (int64_t k = m - 4; k < m; ++k) {
        prk.push_back(base[k]);
        prk.push_back(base[k] + half);
      }
      prk.pop_back();  // prk[:-1]
      std::vector<int64_t> doubled;
      for (int64_t v : prk) doubled.insert(doubled.end(), {v, v});
      ts.assign(doubled.begin() + 1, doubled.end() - 1);  // .repeat(2)[1:-1]
      std::reverse(ts.begin(), ts.end());
      prk_timesteps_ = ts;
      prk_steps_ = static_cast<int64_t>(ts.size());
      for (int64_t k = m - 4; k >= 0; --k) ts.push_back(base[k]);  // base[:-3][::-1]
    }
    timesteps_ = torch::tensor(ts, torch::kLong);
    ets_.clear();
    counter_ = 0;
    cur_model_output_ = torch::Tensor();
    cur_sample_ = torch::Tensor();
  }

  SchedulerOutput step(const torch::Tensor& out, int64_t i, const torch::Tensor& x, torch::Generator*) override {
    SCULPT_CHECK(num_inference_steps_ > 0, "PNDM step before set_timesteps");
    const int64_t t = timesteps_[i].item<int64_t>();
    auto prev = counter_ < prk_steps_ ? step_prk(out, t, x) : step_plms(out, t, x);
    ++counter_;
    return {prev, {}};
  }

 private:
  // Eq. (13) pseudo Runge-Kutta: four ε evaluations per base step (at t, t−δ, t−δ, t−2δ), combined as
  // ε' = (ε1 + 2ε2 + 2ε3 + ε4)/6 for the full transfer; each call returns the intermediate x it needs next.
  torch::Tensor step_prk(const torch::Tensor& out, int64_t t, const torch::Tensor& x) {
    const int64_t diff_to_prev = counter_ % 2 ? 0 : num_train_timesteps() / num_inference_steps_ / 2;
    const int64_t prev_t = t - diff_to_prev;
    const int64_t from_t = prk_timesteps_[counter_ / 4 * 4];
    torch::Tensor eps = out;
    switch (counter_ % 4) {
      case 0:
        cur_model_output_ = (1.0 / 6) * out;
        ets_.push_back(out);
        cur_sample_ = x;
        break;
      case 1:
      case 2:
        cur_model_output_ = cur_model_output_ + (1.0 / 3) * out;
        break;
      default:
        eps = cur_model_output_ + (1.0 / 6) * out;
        cur_model_output_ = torch::Tensor();
    }
    return transfer(cur_sample_.defined() ? cur_sample_ : x, from_t, prev_t, eps);
  }

  // Eq. (12) pseudo linear multistep on ε: Adams-Bashforth of order len(ets) (the first two calls of
  // PLMS-only sampling warm up with one extra evaluation at the same timestep).
  torch::Tensor step_plms(const torch::Tensor& out, int64_t t, const torch::Tensor& x) {
    SCULPT_CHECK(config_.skip_prk_steps || ets_.size() >= 3, "PNDM: PLMS step before the 12 PRK steps ran");
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
    return transfer(sample, t, prev_t, eps);
  }

  // φ of eq. (9); v-prediction is first turned into ε = √a_t·v + √(1−a_t)·x.
  torch::Tensor transfer(const torch::Tensor& x, int64_t t, int64_t prev_t, torch::Tensor eps) const {
    const auto a_t = alphas_cumprod_[t];
    const auto a_prev = prev_t >= 0 ? alphas_cumprod_[prev_t] : final_alpha_cumprod_;
    const auto b_t = 1 - a_t, b_prev = 1 - a_prev;
    if (config_.prediction_type == "v_prediction") eps = a_t.pow(0.5) * eps + b_t.pow(0.5) * x;
    const auto sample_coeff = (a_prev / a_t).pow(0.5);
    const auto denom = a_t * b_prev.pow(0.5) + (a_t * b_t * a_prev).pow(0.5);
    return sample_coeff * x - (a_prev - a_t) * eps / denom;
  }

  torch::Tensor final_alpha_cumprod_, cur_sample_, cur_model_output_;
  std::vector<torch::Tensor> ets_;
  std::vector<int64_t> prk_timesteps_;
  int64_t prk_steps_ = 0;
  int64_t counter_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_pndm(const NoiseScheduleConfig& c) { return std::make_unique<PNDMScheduler>(c); }

}  // namespace sculpt
