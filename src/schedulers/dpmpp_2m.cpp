// DPM-Solver++(2M): multistep second-order solver on data predictions, midpoint variant.
// Source: diffusers 0.29.2 schedulers/scheduling_dpmsolver_multistep.py (DPMSolverMultistepScheduler with
// its defaults: algorithm_type dpmsolver++, solver_order 2, solver_type midpoint, lower_order_final,
// final_sigmas_type zero). Notation (arXiv:2211.01095 §4): α_t = 1/√(σ²+1), σ_t = σ·α_t, λ = log α − log σ_t,
// h = λ_t − λ_s, D0 = x̂0(s0), D1 = (x̂0(s0) − x̂0(s1))/r0 with r0 = h_0/h.
#include "core/check.h"
#include "schedulers/scheduler.h"

namespace sculpt {
namespace {

class DPMSolverMultistepScheduler : public Scheduler {
 public:
  explicit DPMSolverMultistepScheduler(const NoiseScheduleConfig& c) : Scheduler(c) {
    train_sigmas_ = ((1 - alphas_cumprod_) / alphas_cumprod_).pow(0.5);
  }

  void set_timesteps(int64_t n) override {
    const int64_t T = num_train_timesteps();
    SCULPT_USAGE_CHECK(n > 0 && n <= T, "number of inference steps must be in 1..", T, ", got ", n);
    num_inference_steps_ = n;
    // lambda_min_clipped = -inf: the last usable timestep is T.
    std::vector<double> ts;
    if (config_.timestep_spacing == "linspace") {
      // np.linspace(0, T-1, n+1).round()[::-1][:-1]
      for (int64_t i = n; i >= 1; --i) ts.push_back(std::nearbyint(linspace_at(0, T - 1, n + 1, i)));
    } else if (config_.timestep_spacing == "leading") {
      const int64_t ratio = T / (n + 1);
      for (int64_t i = n; i >= 1; --i) ts.push_back(static_cast<double>(i * ratio + config_.steps_offset));
    } else {
      ts = spaced_timesteps("trailing", T, n, 0);
    }
    std::vector<float> sig;
    for (double t : ts) sig.push_back(static_cast<float>(interp_index(t, train_sigmas_)));
    sig.push_back(0.0f);  // final_sigmas_type "zero"
    timesteps_ = torch::tensor(ts, torch::kFloat64).to(torch::kLong);
    sigmas_ = torch::tensor(sig, torch::kFloat32);
    history_.clear();
    lower_order_nums_ = 0;
  }

  torch::Tensor sigmas() const override { return sigmas_; }

  SchedulerOutput step(const torch::Tensor& out, int64_t i, const torch::Tensor& x, torch::Generator*) override {
    SCULPT_CHECK(num_inference_steps_ > 0, "DPM++ step before set_timesteps");
    const int64_t n = num_steps();
    const bool lower_order_final = i == n - 1;  // final_sigmas_type "zero" always ends first-order
    auto x0 = data_prediction(out, x, i);
    history_.push_back(x0);
    if (history_.size() > 2) history_.erase(history_.begin());
    torch::Tensor prev;
    if (lower_order_nums_ < 1 || lower_order_final)
      prev = first_order(x0, x, i);
    else
      prev = second_order(x, i);
    if (lower_order_nums_ < 2) ++lower_order_nums_;
    return {prev, x0};
  }

  torch::Tensor add_noise_at_step(const torch::Tensor& x0, const torch::Tensor& noise, int64_t i) const override {
    auto [alpha, sigma] = alpha_sigma(sigmas_[i]);
    return alpha.to(x0.device()) * x0 + sigma.to(x0.device()) * noise;
  }

 private:
  static std::pair<torch::Tensor, torch::Tensor> alpha_sigma(const torch::Tensor& sigma) {
    auto alpha = 1 / (sigma.pow(2) + 1).pow(0.5);
    return {alpha, sigma * alpha};
  }
  static torch::Tensor lambda(const torch::Tensor& alpha, const torch::Tensor& sigma) {
    return alpha.log() - sigma.log();
  }

  torch::Tensor data_prediction(const torch::Tensor& out, const torch::Tensor& x, int64_t i) const {
    auto [alpha, sigma] = alpha_sigma(sigmas_[i]);
    if (config_.prediction_type == "epsilon") return (x - sigma * out) / alpha;
    if (config_.prediction_type == "v_prediction") return alpha * x - sigma * out;
    return out;
  }

  // x_t = (σ_t/σ_s)·x − α_t·(e^{−h} − 1)·D0
  torch::Tensor first_order(const torch::Tensor& x0, const torch::Tensor& x, int64_t i) const {
    auto [alpha_t, sigma_t] = alpha_sigma(sigmas_[i + 1]);
    auto [alpha_s, sigma_s] = alpha_sigma(sigmas_[i]);
    auto h = lambda(alpha_t, sigma_t) - lambda(alpha_s, sigma_s);
    return (sigma_t / sigma_s) * x - (alpha_t * (torch::exp(-h) - 1.0)) * x0;
  }

  // x_t = (σ_t/σ_s0)·x − α_t(e^{−h} − 1)·D0 − ½·α_t(e^{−h} − 1)·D1
  torch::Tensor second_order(const torch::Tensor& x, int64_t i) const {
    auto [alpha_t, sigma_t] = alpha_sigma(sigmas_[i + 1]);
    auto [alpha_s0, sigma_s0] = alpha_sigma(sigmas_[i]);
    auto [alpha_s1, sigma_s1] = alpha_sigma(sigmas_[i - 1]);
    auto lambda_t = lambda(alpha_t, sigma_t), lambda_s0 = lambda(alpha_s0, sigma_s0);
    auto lambda_s1 = lambda(alpha_s1, sigma_s1);
    const auto& m0 = history_[1];
    const auto& m1 = history_[0];
    auto h = lambda_t - lambda_s0, h0 = lambda_s0 - lambda_s1;
    auto r0 = h0 / h;
    auto d0 = m0;
    auto d1 = (1.0 / r0) * (m0 - m1);
    return (sigma_t / sigma_s0) * x - (alpha_t * (torch::exp(-h) - 1.0)) * d0 -
           0.5 * (alpha_t * (torch::exp(-h) - 1.0)) * d1;
  }

  torch::Tensor train_sigmas_, sigmas_;
  std::vector<torch::Tensor> history_;  // x̂0 of the last two steps, oldest first
  int lower_order_nums_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_dpmpp_2m(const NoiseScheduleConfig& c) {
  return std::make_unique<DPMSolverMultistepScheduler>(c);
}

}  // namespace sculpt
