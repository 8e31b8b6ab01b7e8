#include "schedulers/noise_schedule.h"

#include <cmath>

#include "core/check.h"

namespace sculpt {
using json = nlohmann::json;

namespace {
template <typename T>
void read(const json& j, const char* key, T& field, const std::string& cls) {
  if (!j.contains(key) || j.at(key).is_null()) return;
  try {
    field = j.at(key).get<T>();
  } catch (const json::exception&) {
    throw Error(detail::str_cat("scheduler config for ", cls, ": '", key, "' has the wrong type: ", j.at(key).dump()));
  }
}
}  // namespace

NoiseScheduleConfig NoiseScheduleConfig::from_json(const std::string& cls, const json& j) {
  NoiseScheduleConfig c;
  // Class defaults (diffusers 0.29.2 __init__ signatures).
  if (cls == "EulerDiscreteScheduler" || cls == "DPMSolverMultistepScheduler") c.timestep_spacing = "linspace";
  if (cls == "PNDMScheduler") c.set_alpha_to_one = false;
  if (cls == "EulerDiscreteScheduler" || cls == "DPMSolverMultistepScheduler" || cls == "PNDMScheduler")
    c.clip_sample = false;  // these classes have no clipping
  SCULPT_CHECK(j.is_object(), "scheduler config is not a JSON object");
  read(j, "num_train_timesteps", c.num_train_timesteps, cls);
  read(j, "beta_start", c.beta_start, cls);
  read(j, "beta_end", c.beta_end, cls);
  read(j, "beta_schedule", c.beta_schedule, cls);
  read(j, "trained_betas", c.trained_betas, cls);
  read(j, "prediction_type", c.prediction_type, cls);
  read(j, "timestep_spacing", c.timestep_spacing, cls);
  read(j, "steps_offset", c.steps_offset, cls);
  if (cls == "DDIMScheduler" || cls == "PNDMScheduler") read(j, "set_alpha_to_one", c.set_alpha_to_one, cls);
  if (cls == "DDIMScheduler" || cls == "DDPMScheduler") {
    read(j, "clip_sample", c.clip_sample, cls);
    read(j, "clip_sample_range", c.clip_sample_range, cls);
  }
  if (cls == "DDPMScheduler") read(j, "variance_type", c.variance_type, cls);
  read(j, "rescale_betas_zero_snr", c.rescale_betas_zero_snr, cls);
  SCULPT_CHECK(c.prediction_type == "epsilon" || c.prediction_type == "v_prediction" || c.prediction_type == "sample",
               "scheduler config: prediction_type '", c.prediction_type, "' is not supported (epsilon, v_prediction, sample)");
  SCULPT_CHECK(c.timestep_spacing == "leading" || c.timestep_spacing == "linspace" || c.timestep_spacing == "trailing",
               "scheduler config: timestep_spacing '", c.timestep_spacing, "' is not supported (leading, linspace, trailing)");
  SCULPT_CHECK(c.variance_type == "fixed_small" || c.variance_type == "fixed_small_log", "scheduler config: variance_type '",
               c.variance_type, "' is not supported (fixed_small)");
  SCULPT_CHECK(c.num_train_timesteps > 0, "scheduler config: num_train_timesteps must be positive");
  return c;
}

torch::Tensor make_betas(const NoiseScheduleConfig& c) {
  const int64_t T = c.num_train_timesteps;
  torch::Tensor betas;
  if (!c.trained_betas.empty()) {
    betas = torch::tensor(c.trained_betas, torch::kFloat64).to(torch::kFloat32);
  } else if (c.beta_schedule == "linear") {
    betas = torch::linspace(c.beta_start, c.beta_end, T, torch::kFloat32);
  } else if (c.beta_schedule == "scaled_linear") {
    // Latent diffusion's schedule: linear in √β.
    betas = torch::linspace(std::sqrt(c.beta_start), std::sqrt(c.beta_end), T, torch::kFloat32).pow(2);
  } else if (c.beta_schedule == "squaredcos_cap_v2") {
    // Glide cosine schedule (betas_for_alpha_bar with max_beta 0.999), computed in float64.
    auto alpha_bar = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
    std::vector<double> b;
    for (int64_t i = 0; i < T; ++i)
      b.push_back(std::min(1 - alpha_bar(double(i + 1) / T) / alpha_bar(double(i) / T), 0.999));
    betas = torch::tensor(b, torch::kFloat64).to(torch::kFloat32);
  } else {
    SCULPT_CHECK(false, "scheduler config: beta_schedule '", c.beta_schedule,
                 "' is not supported (linear, scaled_linear, squaredcos_cap_v2)");
  }
  if (c.rescale_betas_zero_snr) {
    // arXiv:2305.08891 Algorithm 1: shift and scale √ᾱ so the last step has zero SNR.
    auto a_bar_sqrt = (1 - betas).cumprod(0).sqrt();
    auto first = a_bar_sqrt[0].clone(), last = a_bar_sqrt[-1].clone();
    a_bar_sqrt = (a_bar_sqrt - last) * first / (first - last);
    auto a_bar = a_bar_sqrt.pow(2);
    auto alphas = torch::cat({a_bar.narrow(0, 0, 1), a_bar.narrow(0, 1, T - 1) / a_bar.narrow(0, 0, T - 1)});
    betas = 1 - alphas;
  }
  return betas;
}

double linspace_at(double start, double stop, int64_t n, int64_t i) {
  if (n == 1) return start;
  if (i == n - 1) return stop;  // numpy sets the endpoint exactly
  const double step = (stop - start) / static_cast<double>(n - 1);
  return static_cast<double>(i) * step + start;
}

std::vector<double> spaced_timesteps(const std::string& spacing, int64_t T, int64_t n, int64_t steps_offset) {
  SCULPT_USAGE_CHECK(n > 0 && n <= T, "number of inference steps must be in 1..", T, ", got ", n);
  std::vector<double> ts;
  if (spacing == "leading") {
    const int64_t ratio = T / n;
    for (int64_t i = n - 1; i >= 0; --i) ts.push_back(static_cast<double>(i * ratio + steps_offset));
  } else if (spacing == "linspace") {
    // np.linspace(0, T-1, n).round()[::-1]; np.round rounds half to even, as nearbyint does.
    for (int64_t i = n - 1; i >= 0; --i) ts.push_back(std::nearbyint(linspace_at(0, static_cast<double>(T - 1), n, i)));
  } else {
    // np.round(np.arange(T, 0, -T/n)) - 1
    const double ratio = static_cast<double>(T) / n;
    for (int64_t i = 0; i < n; ++i) ts.push_back(std::nearbyint(T - i * ratio) - 1);
  }
  return ts;
}

double interp_index(double x, const torch::Tensor& fp) {
  auto f = fp.to(torch::kFloat64).contiguous();
  const double* p = f.data_ptr<double>();
  const int64_t n = f.numel();
  if (x <= 0) return p[0];
  if (x >= n - 1) return p[n - 1];
  const auto j = static_cast<int64_t>(std::floor(x));
  const double slope = p[j + 1] - p[j];  // xp spacing is 1
  return slope * (x - j) + p[j];
}

}  // namespace sculpt
