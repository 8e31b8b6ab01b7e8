#include "schedulers/scheduler.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/check.h"

namespace sculpt {
namespace fs = std::filesystem;

Scheduler::Scheduler(NoiseScheduleConfig config) : config_(std::move(config)) {
  betas_ = make_betas(config_);
  alphas_cumprod_ = (1 - betas_).cumprod(0);
}

torch::Tensor Scheduler::scale_model_input(const torch::Tensor& sample, int64_t) const { return sample; }

torch::Tensor Scheduler::randn_like(const torch::Tensor& like, torch::Generator& generator) {
  auto options = torch::TensorOptions().dtype(like.scalar_type()).device(generator.device());
  return torch::randn(like.sizes(), generator, options).to(like.device());
}

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

namespace {
// Wraps the bare tokens Infinity, -Infinity and NaN that Python's json writes (outside strings) in quotes.
std::string quote_nonfinite(const std::string& text) {
  std::string out;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    bool quoted = false;
    for (const char* token : {"-Infinity", "Infinity", "NaN"}) {
      const size_t n = std::strlen(token);
      if (!quoted && text.compare(i, n, token) == 0) {
        out += '"' + std::string(token) + '"';
        i += n - 1;
        quoted = true;
      }
    }
    if (!quoted) out += c;
  }
  return out;
}
}  // namespace

nlohmann::json read_scheduler_config(const fs::path& path) {
  std::ifstream in(path);
  SCULPT_CHECK(in.good(), "cannot read scheduler config ", path, fs::exists(path) ? "" : ": no such file");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(quote_nonfinite(text.str()));
  } catch (const nlohmann::json::exception& e) {
    throw Error(detail::str_cat(path, " is not valid JSON (", e.what(), ")"));
  }
}

std::unique_ptr<Scheduler> load_scheduler(const std::string& name, const fs::path& dir) {
  const auto path = dir / "scheduler_config.json";
  const auto config = read_scheduler_config(path);
  try {
    return make_scheduler(name, config);
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw Error(detail::str_cat(path, ": ", e.what()));
  }
}

}  // namespace sculpt
