#include "schedulers/scheduler.h"

#include <fstream>

#include "core/check.h"

namespace sculpt {
namespace fs = std::filesystem;

Scheduler::Scheduler(NoiseScheduleConfig config) : config_(std::move(config)) {
  betas_ = make_betas(config_);
  alphas_cumprod_ = (1 - betas_).cumprod(0);
}

torch::Tensor Scheduler::scale_model_input(const torch::Tensor& sample, int64_t) const { return sample; }

namespace {
// ᾱ_t gathered per batch element and shaped to broadcast over [B, C, H, W].
torch::Tensor gather(const torch::Tensor& ac, const torch::Tensor& t, const torch::Tensor& like) {
  auto a = ac.to(like.device()).index_select(0, t.to(like.device(), torch::kLong).flatten()).to(like.scalar_type());
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = a.size(0);
  return a.view(shape);
}
}  // namespace

torch::Tensor Scheduler::add_noise(const torch::Tensor& original, const torch::Tensor& noise,
                                   const torch::Tensor& t) const {
  auto a = gather(alphas_cumprod_, t, original);
  return a.sqrt() * original + (1 - a).sqrt() * noise;
}

torch::Tensor Scheduler::add_noise_at_step(const torch::Tensor& original, const torch::Tensor& noise,
                                           int64_t step_index) const {
  auto t = timesteps_[step_index].to(torch::kLong).expand({original.size(0)});
  return add_noise(original, noise, t);
}

torch::Tensor Scheduler::training_target(const torch::Tensor& original, const torch::Tensor& noise,
                                         const torch::Tensor& t) const {
  if (config_.prediction_type == "epsilon") return noise;
  if (config_.prediction_type == "sample") return original;
  auto a = gather(alphas_cumprod_, t, original);
  return a.sqrt() * noise - (1 - a).sqrt() * original;  // v
}

std::vector<std::string> scheduler_names() { return {"ddim", "euler", "dpm++2m", "pndm", "ddpm"}; }

std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const nlohmann::json& config, double eta) {
  if (name == "ddim") return make_ddim(NoiseScheduleConfig::from_json("DDIMScheduler", config), eta);
  SCULPT_USAGE_CHECK(eta == 0.0, "eta ", eta, " only applies to the ddim scheduler, not ", name);
  if (name == "euler") return make_euler(NoiseScheduleConfig::from_json("EulerDiscreteScheduler", config));
  if (name == "dpm++2m") return make_dpmpp_2m(NoiseScheduleConfig::from_json("DPMSolverMultistepScheduler", config));
  if (name == "pndm") return make_pndm(NoiseScheduleConfig::from_json("PNDMScheduler", config));
  if (name == "ddpm") return make_ddpm(NoiseScheduleConfig::from_json("DDPMScheduler", config));
  std::string names;
  for (const auto& n : scheduler_names()) names += (names.empty() ? "" : ", ") + n;
  throw UsageError(detail::str_cat("unknown scheduler '", name, "' (choose one of: ", names, ")"));
}

std::unique_ptr<Scheduler> load_scheduler(const std::string& name, const fs::path& dir) {
  const auto path = dir / "scheduler_config.json";
  std::ifstream in(path);
  SCULPT_CHECK(in.good(), "cannot read scheduler config ", path, fs::exists(path) ? "" : ": no such file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    SCULPT_CHECK(false, path, " is not valid JSON (", e.what(), ")");
  }
  return make_scheduler(name, j);
}

}  // namespace sculpt
