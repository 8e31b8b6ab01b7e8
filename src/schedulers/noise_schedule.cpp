#include "schedulers/noise_schedule.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace sculpt {
using json = nlohmann::json;

namespace {

[[noreturn]] void wrong_type(const std::string& cls, const char* key, const json& v) {
  throw Error(detail::str_cat("scheduler config for ", cls, ": '", key, "' has the wrong type: ", v.dump()));
}

// Python's json writes ±inf and NaN as bare Infinity/NaN; load_scheduler quotes them, so accept both forms.
double json_double(const std::string& cls, const char* key, const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  }
  wrong_type(cls, key, v);
}

template <typename T>
void read(const json& j, const char* key, T& field, const std::string& cls) {
  if (!j.contains(key) || j.at(key).is_null()) return;  // null = the class default, as from_config passes None
  const json& v = j.at(key);
  if constexpr (std::is_same_v<T, double>) {
    field = json_double(cls, key, v);
  } else if constexpr (std::is_same_v<T, std::vector<double>>) {
    if (!v.is_array()) wrong_type(cls, key, v);
    field.clear();
    for (const auto& x : v) field.push_back(json_double(cls, key, x));
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) wrong_type(cls, key, v);
    field = v.get<bool>();
  } else if constexpr (std::is_same_v<T, int64_t>) {
    if (!v.is_number_integer()) wrong_type(cls, key, v);
    field = v.get<int64_t>();
  } else {
    if (!v.is_string()) wrong_type(cls, key, v);
    field = v.get<std::string>();
  }
}

void check_one_of(const std::string& cls, const char* key, const std::string& value,
                  std::initializer_list<const char*> allowed) {
  std::string list;
  for (const char* a : allowed) {
    if (value == a) return;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  throw Error(detail::str_cat("scheduler config for ", cls, ": ", key, " '", value,
                              "' is not supported by sculpt (supported: ", list, ")"));
}

void check_false(const std::string& cls, const char* key, bool value) {
  SCULPT_CHECK(!value, "scheduler config for ", cls, ": ", key, " = true is not supported by sculpt");
}

}  // namespace

NoiseScheduleConfig NoiseScheduleConfig::from_json(const std::string& cls, const json& j) {
  SCULPT_CHECK(j.is_object(), "scheduler config is not a JSON object");
  const bool ddim = cls == "DDIMScheduler", ddpm = cls == "DDPMScheduler", pndm = cls == "PNDMScheduler";
  const bool euler = cls == "EulerDiscreteScheduler", dpm = cls == "DPMSolverMultistepScheduler";
  SCULPT_CHECK(ddim || ddpm || pndm || euler || dpm, "unknown scheduler class '", cls, "'");
  NoiseScheduleConfig c;
  // Class defaults (diffusers 0.29.2 __init__ signatures) that differ from the field defaults.
  if (euler || dpm) c.timestep_spacing = "linspace";
  if (pndm) c.set_alpha_to_one = false;
  if (!ddim && !ddpm) c.clip_sample = false;  // only DDIM and DDPM clip x̂0
  if (dpm) c.variance_type = "";              // DPM-Solver's variance_type defaults to None

  read(j, "num_train_timesteps", c.num_train_timesteps, cls);
  read(j, "beta_start", c.beta_start, cls);
  read(j, "beta_end", c.beta_end, cls);
  read(j, "beta_schedule", c.beta_schedule, cls);
  read(j, "trained_betas", c.trained_betas, cls);
  read(j, "prediction_type", c.prediction_type, cls);
  read(j, "timestep_spacing", c.timestep_spacing, cls);
  read(j, "steps_offset", c.steps_offset, cls);
  if (!pndm) read(j, "rescale_betas_zero_snr", c.rescale_betas_zero_snr, cls);
  if (ddim || pndm) read(j, "set_alpha_to_one", c.set_alpha_to_one, cls);
  if (ddim || ddpm) {
    read(j, "clip_sample", c.clip_sample, cls);
    read(j, "clip_sample_range", c.clip_sample_range, cls);
  }
  if (ddim || ddpm || dpm) {
    read(j, "thresholding", c.thresholding, cls);
    read(j, "dynamic_thresholding_ratio", c.dynamic_thresholding_ratio, cls);
    read(j, "sample_max_value", c.sample_max_value, cls);
  }
  if (ddpm || dpm) read(j, "variance_type", c.variance_type, cls);
  if (pndm) read(j, "skip_prk_steps", c.skip_prk_steps, cls);
  if (euler) {
    read(j, "interpolation_type", c.interpolation_type, cls);
    read(j, "timestep_type", c.timestep_type, cls);
  }
  if (euler || dpm) {
    read(j, "use_karras_sigmas", c.use_karras_sigmas, cls);
    read(j, "final_sigmas_type", c.final_sigmas_type, cls);
  }
  if (dpm) {
    read(j, "algorithm_type", c.algorithm_type, cls);
    read(j, "solver_order", c.solver_order, cls);
    read(j, "solver_type", c.solver_type, cls);
    read(j, "lower_order_final", c.lower_order_final, cls);
    read(j, "euler_at_final", c.euler_at_final, cls);
    read(j, "use_lu_lambdas", c.use_lu_lambdas, cls);
    read(j, "lambda_min_clipped", c.lambda_min_clipped, cls);
  }

  SCULPT_CHECK(c.num_train_timesteps > 0, "scheduler config for ", cls, ": num_train_timesteps must be positive, got ",
               c.num_train_timesteps);
  SCULPT_CHECK(c.trained_betas.empty() || static_cast<int64_t>(c.trained_betas.size()) == c.num_train_timesteps,
               "scheduler config for ", cls, ": trained_betas has ", c.trained_betas.size(), " values, num_train_timesteps is ",
               c.num_train_timesteps);
  check_one_of(cls, "beta_schedule", c.beta_schedule, {"linear", "scaled_linear", "squaredcos_cap_v2"});
  check_one_of(cls, "prediction_type", c.prediction_type, {"epsilon", "v_prediction", "sample"});
  check_one_of(cls, "timestep_spacing", c.timestep_spacing, {"leading", "linspace", "trailing"});
  if (ddpm) check_one_of(cls, "variance_type", c.variance_type, {"fixed_small", "fixed_small_log", "fixed_large"});
  if (dpm) check_one_of(cls, "variance_type", c.variance_type, {"", "fixed_small", "fixed_small_log", "fixed_large"});
  if (euler) {
    check_one_of(cls, "interpolation_type", c.interpolation_type, {"linear"});
    check_one_of(cls, "timestep_type", c.timestep_type, {"discrete", "continuous"});
  }
  if (euler || dpm) {
    check_false(cls, "use_karras_sigmas", c.use_karras_sigmas);
    check_one_of(cls, "final_sigmas_type", c.final_sigmas_type, {"zero", "sigma_min"});
  }
  if (dpm) {
    check_one_of(cls, "algorithm_type", c.algorithm_type, {"dpmsolver++"});
    SCULPT_CHECK(c.solver_order == 1 || c.solver_order == 2, "scheduler config for ", cls, ": solver_order ",
                 c.solver_order, " is not supported by sculpt (supported: 1, 2)");
    check_one_of(cls, "solver_type", c.solver_type, {"midpoint", "heun"});
    check_false(cls, "use_lu_lambdas", c.use_lu_lambdas);
  }
  if (pndm && c.prediction_type == "sample")
    throw Error("scheduler config for PNDMScheduler: prediction_type 'sample' is not supported (epsilon, v_prediction)");
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
  } else {
    // squaredcos_cap_v2: Glide cosine schedule (betas_for_alpha_bar with max_beta 0.999), in float64.
    auto alpha_bar = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
    std::vector<double> b;
    for (int64_t i = 0; i < T; ++i)
      b.push_back(std::min(1 - alpha_bar(double(i + 1) / T) / alpha_bar(double(i) / T), 0.999));
    betas = torch::tensor(b, torch::kFloat64).to(torch::kFloat32);
  }
  if (c.rescale_betas_zero_snr) {
    // arXiv:2305.08891 Algorithm 1: shift √ᾱ so √ᾱ_T = 0, scale so √ᾱ_0 is kept, then back to β.
    auto a_bar_sqrt = (1 - betas).cumprod(0).sqrt();
    auto first = a_bar_sqrt[0].clone(), last = a_bar_sqrt[-1].clone();
    a_bar_sqrt = (a_bar_sqrt - last) * (first / (first - last));
    auto a_bar = a_bar_sqrt.pow(2);
    auto alphas = torch::cat({a_bar.narrow(0, 0, 1), a_bar.narrow(0, 1, T - 1) / a_bar.narrow(0, 0, T - 1)});
    betas = 1 - alphas;
  }
  return betas;
}

std::vector<double> numpy_arange(double start, double stop, double step) {
  const double len = std::ceil((stop - start) / step);
  if (!(len > 0)) return {};
  std::vector<double> v(static_cast<size_t>(len));
  v[0] = start;
  if (v.size() == 1) return v;
  v[1] = start + step;
  const double delta = v[1] - v[0];
  for (size_t i = 2; i < v.size(); ++i) v[i] = start + static_cast<double>(i) * delta;
  return v;
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
    for (double t : numpy_arange(static_cast<double>(T), 0, -static_cast<double>(T) / n))
      ts.push_back(std::nearbyint(t) - 1);
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

torch::Tensor threshold_sample(const torch::Tensor& x0, double ratio, double max_value) {
  const auto dtype = x0.scalar_type();
  auto x = (dtype == torch::kFloat32 || dtype == torch::kFloat64) ? x0 : x0.to(torch::kFloat32);
  x = x.reshape({x.size(0), -1});                                              // [B, C·H·W]
  auto s = torch::quantile(x.abs(), ratio, 1).clamp(1, max_value).unsqueeze(1);  // [B, 1]
  x = torch::clamp(x, -s, s) / s;
  return x.reshape(x0.sizes()).to(dtype);
}

}  // namespace sculpt
