// DPM-Solver++(2M): multistep second-order solver on data predictions (x̂0).
// Source: diffusers 0.29.2 schedulers/scheduling_dpmsolver_multistep.py (DPMSolverMultistepScheduler with
// algorithm_type dpmsolver++, solver_order 1 or 2, solver_type midpoint (default) or heun,
// lower_order_final, euler_at_final, final_sigmas_type zero (default) or sigma_min, lambda_min_clipped).
// Notation (arXiv:2211.01095 §3.2, §4 and Algorithm 2): σ = √((1−ᾱ)/ᾱ) per step, α_t = 1/√(σ²+1),
// σ_t = σ·α_t, λ = log α_t − log σ_t, h = λ_t − λ_s0, r0 = h_0/h with h_0 = λ_s0 − λ_s1,
// D0 = x̂0(s0), D1 = (x̂0(s0) − x̂0(s1))/r0.
#include <cmath>

#include "core/check.h"
#include "schedulers/scheduler.h"

namespace sculpt {
namespace {

class DPMSolverMultistepScheduler : public Scheduler {
 public:
  explicit DPMSolverMultistepScheduler(const NoiseScheduleConfig& c) : Scheduler(c) {
    // Zero terminal SNR would make the first σ infinite: upstream moves ᾱ_T to 2⁻²⁴.
    if (c.rescale_betas_zero_snr) alphas_cumprod_[-1] = std::ldexp(1.0, -24);
    train_sigmas_ = ((1 - alphas_cumprod_) / alphas_cumprod_).pow(0.5);
    train_lambdas_ = alphas_cumprod_.sqrt().log() - (1 - alphas_cumprod_).sqrt().log();  // λ_t, float32
  }

  void set_timesteps(int64_t n) override {
    const int64_t T = num_train_timesteps();
    SCULPT_USAGE_CHECK(n > 0 && n <= T, "number of inference steps must be in 1..", T, ", got ", n);
    // lambda_min_clipped: drop the last training timesteps whose λ lies below it (searchsorted on the
    // ascending, flipped λ; the bound compares in float32 as torch does). −∞ keeps all T.
    const float lambda_min = static_cast<float>(config_.lambda_min_clipped);
    auto lambdas = train_lambdas_.contiguous();
    int64_t clipped = 0;
    for (int64_t k = T - 1; k >= 0 && lambdas.data_ptr<float>()[k] < lambda_min; --k) ++clipped;
    const int64_t last = T - clipped;
    std::vector<double> ts;
    if (config_.timestep_spacing == "linspace") {
      // np.linspace(0, last−1, n+1).round()[::-1][:-1]
      for (int64_t i = n; i >= 1; --i) ts.push_back(std::nearbyint(linspace_at(0, last - 1, n + 1, i)));
    } else if (config_.timestep_spacing == "leading") {
      // (arange(0, n+1)·(last // (n+1)))[::-1][:-1] + steps_offset
      const int64_t ratio = last / (n + 1);
      for (int64_t i = n; i >= 1; --i) ts.push_back(static_cast<double>(i * ratio + config_.steps_offset));
    } else {
      // round(arange(last, 0, −T/n)) − 1
      for (double t : numpy_arange(static_cast<double>(last), 0, -static_cast<double>(T) / n))
        ts.push_back(std::nearbyint(t) - 1);
    }
    std::vector<float> sig;
    for (double t : ts) sig.push_back(static_cast<float>(interp_index(t, train_sigmas_)));
    sig.push_back(config_.final_sigmas_type == "zero" ? 0.0f : train_sigmas_[0].item<float>());
    timesteps_ = torch::tensor(ts, torch::kFloat64).to(torch::kLong);
    sigmas_ = torch::tensor(sig, torch::kFloat32);
    num_inference_steps_ = static_cast<int64_t>(ts.size());
    history_.clear();
    lower_order_nums_ = 0;
  }

  torch::Tensor sigmas() const override { return sigmas_; }

  SchedulerOutput step(const torch::Tensor& model_output, int64_t i, const torch::Tensor& sample,
                       torch::Generator*) override {
    SCULPT_CHECK(num_inference_steps_ > 0, "DPM++ step before set_timesteps");
    const int64_t n = num_steps();
    // Final step first-order ("lower_order_final" for stability with few steps; always with σ_final = 0).
    const bool lower_order_final = i == n - 1 && (config_.euler_at_final || (config_.lower_order_final && n < 15) ||
                                                  config_.final_sigmas_type == "zero");
    auto x0 = data_prediction(model_output, sample, i);
    history_.push_back(x0);
    if (history_.size() > 2) history_.erase(history_.begin());
    const auto x = sample.to(torch::kFloat32);  // upstream upcasts here
    torch::Tensor prev;
    if (config_.solver_order == 1 || lower_order_nums_ < 1 || lower_order_final)
      prev = first_order(x0, x, i);
    else
      prev = second_order(x, i);
    if (lower_order_nums_ < config_.solver_order) ++lower_order_nums_;
    return {prev.to(x0.scalar_type()), x0};
  }

  // x_t = α_t·x0 + σ_t·ε at the σ of step i
  torch::Tensor add_noise_at_step(const torch::Tensor& x0, const torch::Tensor& noise, int64_t i) const override {
    auto [alpha, sigma] = alpha_sigma(sigmas_[i].to(x0.device(), x0.scalar_type()));
    return alpha * x0 + sigma * noise;
  }

 private:
  static std::pair<torch::Tensor, torch::Tensor> alpha_sigma(const torch::Tensor& sigma) {
    auto alpha = 1 / (sigma.pow(2) + 1).pow(0.5);
    return {alpha, sigma * alpha};
  }
  static torch::Tensor lambda(const torch::Tensor& alpha, const torch::Tensor& sigma) {
    return alpha.log() - sigma.log();
  }

  // x̂0 from the model output (§4 "data prediction model"), then dynamic thresholding if configured.
  torch::Tensor data_prediction(const torch::Tensor& out, const torch::Tensor& x, int64_t i) const {
    auto [alpha, sigma] = alpha_sigma(sigmas_[i]);
    torch::Tensor x0;
    if (config_.prediction_type == "epsilon")
      x0 = (x - sigma * out) / alpha;
    else if (config_.prediction_type == "v_prediction")
      x0 = alpha * x - sigma * out;
    else
      x0 = out;
    if (config_.thresholding) x0 = threshold_sample(x0, config_.dynamic_thresholding_ratio, config_.sample_max_value);
    return x0;
  }

  // DPM-Solver++(1) = DDIM (eq. 9 with k = 1): x_t = (σ_t/σ_s)·x − α_t(e^{−h} − 1)·D0
  torch::Tensor first_order(const torch::Tensor& x0, const torch::Tensor& x, int64_t i) const {
    auto [alpha_t, sigma_t] = alpha_sigma(sigmas_[i + 1]);
    auto [alpha_s, sigma_s] = alpha_sigma(sigmas_[i]);
    auto h = lambda(alpha_t, sigma_t) - lambda(alpha_s, sigma_s);
    return (sigma_t / sigma_s) * x - (alpha_t * (torch::exp(-h) - 1.0)) * x0;
  }

  // Algorithm 2 (2M): midpoint x_t = (σ_t/σ_s0)·x − α_t(e^{−h} − 1)·D0 − ½·α_t(e^{−h} − 1)·D1;
  // heun replaces the last term by + α_t((e^{−h} − 1)/h + 1)·D1.
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
    const auto& d0 = m0;
    auto d1 = (1.0 / r0) * (m0 - m1);
    auto base = (sigma_t / sigma_s0) * x - (alpha_t * (torch::exp(-h) - 1.0)) * d0;
    if (config_.solver_type == "heun") return base + (alpha_t * ((torch::exp(-h) - 1.0) / h + 1.0)) * d1;
    return base - 0.5 * (alpha_t * (torch::exp(-h) - 1.0)) * d1;
  }

  torch::Tensor train_sigmas_, train_lambdas_, sigmas_;
  std::vector<torch::Tensor> history_;  // x̂0 of the last two steps, oldest first
  int64_t lower_order_nums_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_dpmpp_2m(const NoiseScheduleConfig& c) {
  return std::make_unique<DPMSolverMultistepScheduler>(c);
}

}  // namespace sculpt
