// β schedules, ᾱ_t, and the timestep spacings shared by every scheduler.
// Source: diffusers 0.29.2 schedulers/scheduling_ddim.py (betas, set_timesteps spacings,
// rescale_zero_terminal_snr), scheduling_utils.py.
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sculpt {

// The keys of scheduler_config.json that sculpt's schedulers read; defaults are per class
// (noise_schedule_defaults) and are overwritten by the keys present in the file.
struct NoiseScheduleConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  std::string beta_schedule = "linear";
  std::vector<double> trained_betas;
  std::string prediction_type = "epsilon";
  std::string timestep_spacing = "leading";
  int64_t steps_offset = 0;
  bool set_alpha_to_one = true;
  bool clip_sample = true;
  double clip_sample_range = 1.0;
  bool rescale_betas_zero_snr = false;
  std::string variance_type = "fixed_small";  // DDPM

  // class_name: DDIMScheduler, DDPMScheduler, EulerDiscreteScheduler, DPMSolverMultistepScheduler, PNDMScheduler.
  static NoiseScheduleConfig from_json(const std::string& class_name, const nlohmann::json& j);
};

// betas (float32 [T]) for linear, scaled_linear, squaredcos_cap_v2 or trained betas.
torch::Tensor make_betas(const NoiseScheduleConfig& c);

// Inference timesteps in float64, descending, before the cast each scheduler applies:
// "leading" (T//n spacing + steps_offset), "linspace" (round(linspace(0, T−1, n))), "trailing".
std::vector<double> spaced_timesteps(const std::string& spacing, int64_t num_train_timesteps, int64_t n,
                                     int64_t steps_offset);

// The i-th of n values of numpy.linspace(start, stop, n), bit for bit.
double linspace_at(double start, double stop, int64_t n, int64_t i);

// numpy.interp(x, [0, 1, …, len−1], fp) in float64.
double interp_index(double x, const torch::Tensor& fp);

}  // namespace sculpt
