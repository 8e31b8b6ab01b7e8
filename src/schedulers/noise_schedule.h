// β schedules, ᾱ_t, the timestep spacings shared by every scheduler, and the numpy arithmetic they use.
// Source: diffusers 0.29.2 schedulers/scheduling_ddim.py (betas_for_alpha_bar, rescale_zero_terminal_snr,
// set_timesteps spacings, _threshold_sample), scheduling_utils.py, configuration_utils.py (from_config).
// Notation (arXiv:2006.11239): β_t = betas[t], ᾱ_t = Π_{s≤t}(1 − β_s) = alphas_cumprod[t].
#pragma once
#include <torch/torch.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sculpt {

// The keys of scheduler_config.json that sculpt's schedulers read, one field per key. Defaults are the
// chosen class's own __init__ defaults (set by from_json), overwritten by the keys present in the file;
// keys the class does not take are ignored, as diffusers' from_config does.
struct NoiseScheduleConfig {
  // Shared by all five classes.
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  std::string beta_schedule = "linear";
  std::vector<double> trained_betas;
  std::string prediction_type = "epsilon";
  std::string timestep_spacing = "leading";
  int64_t steps_offset = 0;
  bool rescale_betas_zero_snr = false;  // not a PNDM key
  // DDIM, PNDM.
  bool set_alpha_to_one = true;
  // DDIM, DDPM (clip_sample); DDIM, DDPM, DPM-Solver (thresholding).
  bool clip_sample = true;
  double clip_sample_range = 1.0;
  bool thresholding = false;
  double dynamic_thresholding_ratio = 0.995;
  double sample_max_value = 1.0;
  // DDPM: fixed_small | fixed_small_log | fixed_large; DPM-Solver: null, the learned ones are refused.
  std::string variance_type = "fixed_small";
  // PNDM.
  bool skip_prk_steps = false;
  // Euler.
  std::string interpolation_type = "linear";
  std::string timestep_type = "discrete";
  // Euler, DPM-Solver.
  bool use_karras_sigmas = false;
  std::string final_sigmas_type = "zero";
  // DPM-Solver.
  std::string algorithm_type = "dpmsolver++";
  int64_t solver_order = 2;
  std::string solver_type = "midpoint";
  bool lower_order_final = true;
  bool euler_at_final = false;
  bool use_lu_lambdas = false;
  double lambda_min_clipped = -std::numeric_limits<double>::infinity();

  // class_name: DDIMScheduler, DDPMScheduler, EulerDiscreteScheduler, DPMSolverMultistepScheduler, PNDMScheduler.
  // A key of the wrong type throws an Error naming it; values the class does not implement are refused.
  static NoiseScheduleConfig from_json(const std::string& class_name, const nlohmann::json& j);
};

// β (float32 [T]) for linear, scaled_linear, squaredcos_cap_v2 or trained betas, then rescaled to zero
// terminal SNR when configured (arXiv:2305.08891 Algorithm 1).
torch::Tensor make_betas(const NoiseScheduleConfig& c);

// numpy.arange(start, stop, step) in float64, bit for bit (length ceil((stop−start)/step), then
// start + i·(buffer[1] − buffer[0]) as numpy's fill does).
std::vector<double> numpy_arange(double start, double stop, double step);

// The i-th of n values of numpy.linspace(start, stop, n), bit for bit.
double linspace_at(double start, double stop, int64_t n, int64_t i);

// Inference timesteps in float64, descending, as DDIM/DDPM/PNDM/Euler compute them before their cast:
// "leading" ((0..n−1)·(T//n) + steps_offset), "linspace" (round(linspace(0, T−1, n))), "trailing"
// (round(arange(T, 0, −T/n)) − 1). Euler's linspace is not rounded: it calls linspace_at itself.
std::vector<double> spaced_timesteps(const std::string& spacing, int64_t num_train_timesteps, int64_t n,
                                     int64_t steps_offset);

// numpy.interp(x, [0, 1, …, len−1], fp) in float64.
double interp_index(double x, const torch::Tensor& fp);

// Dynamic thresholding of x̂0 (Imagen, arXiv:2205.11487 §2.3): s = clamp(quantile(|x̂0|, ratio), 1, max)
// per sample, x̂0 ← clamp(x̂0, −s, s)/s. x0: [B, …].
torch::Tensor threshold_sample(const torch::Tensor& x0, double ratio, double max_value);

}  // namespace sculpt
