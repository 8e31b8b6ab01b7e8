// The sampler interface. Schedulers import no model code: the caller owns the loop (pipeline/), and
// `step()` maps one model output to the previous sample, numbered against each paper's equations.
// Source: diffusers 0.29.2 src/diffusers/schedulers/ (one file per algorithm here too).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "schedulers/noise_schedule.h"

namespace sculpt {

struct SchedulerOutput {
  torch::Tensor prev_sample, pred_original_sample;
};

class Scheduler {
 public:
  explicit Scheduler(NoiseScheduleConfig config);
  virtual ~Scheduler() = default;

  // Builds timesteps() for n inference steps and resets any multistep history.
  virtual void set_timesteps(int64_t num_inference_steps) = 0;
  const torch::Tensor& timesteps() const { return timesteps_; }  // int64, or float32 for Euler
  int64_t num_steps() const { return timesteps_.size(0); }
  virtual torch::Tensor scale_model_input(const torch::Tensor& sample, int64_t step_index) const;
  // step_index = position in timesteps(). The generator draws the noise of stochastic samplers.
  virtual SchedulerOutput step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                               torch::Generator* generator = nullptr) = 0;
  virtual double init_noise_sigma() const { return 1.0; }
  // σ_i = √((1−ᾱ)/ᾱ) per inference step plus the final σ (0, or σ(t=0) with final_sigmas_type "sigma_min"),
  // for the σ-space samplers (Euler, DPM++); undefined for the others.
  virtual torch::Tensor sigmas() const { return {}; }
  virtual int order() const { return 1; }

  // Forward process at training timesteps t (int64 [B]): √ᾱ_t·x0 + √(1−ᾱ_t)·ε (DDPM add_noise).
  torch::Tensor add_noise(const torch::Tensor& original, const torch::Tensor& noise,
                          const torch::Tensor& train_timesteps) const;
  // img2img: noise `original` to the level of timesteps()[step_index], as this scheduler's add_noise does.
  virtual torch::Tensor add_noise_at_step(const torch::Tensor& original, const torch::Tensor& noise,
                                          int64_t step_index) const;
  // Training target for the prediction type: ε, x0, or v = √ᾱ·ε − √(1−ᾱ)·x0 (diffusers get_velocity).
  torch::Tensor training_target(const torch::Tensor& original, const torch::Tensor& noise,
                                const torch::Tensor& train_timesteps) const;

  const torch::Tensor& betas() const { return betas_; }
  const torch::Tensor& alphas_cumprod() const { return alphas_cumprod_; }  // float32 [T]
  int64_t num_train_timesteps() const { return config_.num_train_timesteps; }
  const std::string& prediction_type() const { return config_.prediction_type; }
  const NoiseScheduleConfig& config() const { return config_; }

 protected:
  // diffusers randn_tensor: N(0, I) of `like`'s shape and dtype drawn on the generator's device, then moved
  // to `like`'s device.
  static torch::Tensor randn_like(const torch::Tensor& like, torch::Generator& generator);

  NoiseScheduleConfig config_;
  torch::Tensor betas_, alphas_cumprod_, timesteps_;
  int64_t num_inference_steps_ = 0;
};

std::unique_ptr<Scheduler> make_ddim(const NoiseScheduleConfig& config, double eta = 0.0);
std::unique_ptr<Scheduler> make_ddpm(const NoiseScheduleConfig& config);
std::unique_ptr<Scheduler> make_euler(const NoiseScheduleConfig& config);
std::unique_ptr<Scheduler> make_dpmpp_2m(const NoiseScheduleConfig& config);
std::unique_ptr<Scheduler> make_pndm(const NoiseScheduleConfig& config);

// name: ddim | euler | dpm++2m | pndm | ddpm. config: a scheduler_config.json of any class; keys the chosen
// class does not know are ignored and absent keys take that class's own default, as diffusers' from_config.
// eta: DDIM's stochasticity (0: deterministic); other samplers refuse a non-zero eta.
std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const nlohmann::json& config, double eta = 0.0);
// Reads <scheduler_dir>/scheduler_config.json (SCULPT_CHECK naming the path when missing or malformed).
std::unique_ptr<Scheduler> load_scheduler(const std::string& name, const std::filesystem::path& scheduler_dir);
// Parses a scheduler config file as Python's json writes it: bare Infinity, -Infinity and NaN (e.g.
// lambda_min_clipped) are read as the strings "Infinity", "-Infinity", "NaN", which from_json understands.
nlohmann::json read_scheduler_config(const std::filesystem::path& file);
std::vector<std::string> scheduler_names();

}  // namespace sculpt
