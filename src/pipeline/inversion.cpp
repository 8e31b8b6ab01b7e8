#include "pipeline/inversion.h"

#include "core/check.h"
#include "core/progress.h"
#include "pipeline/stable_diffusion.h"
#include "schedulers/scheduler.h"

namespace sculpt {

torch::Tensor ddim_invert(StableDiffusion& sd, const torch::Tensor& latents, const InversionConfig& c) {
  torch::NoGradGuard no_grad;
  SCULPT_USAGE_CHECK(c.steps > 0, "inversion steps must be positive, got ", c.steps);
  auto scheduler = make_scheduler("ddim", sd.scheduler_config);
  SCULPT_CHECK(scheduler->prediction_type() == "epsilon" || scheduler->prediction_type() == "v_prediction",
               "DDIM inversion needs an epsilon or v_prediction model, this one predicts '",
               scheduler->prediction_type(), "'");
  scheduler->set_timesteps(c.steps);
  const auto dtype = latents.scalar_type();
  const std::vector<std::string> prompts(latents.size(0), c.prompt);
  auto cond = encode_prompts(sd, prompts).to(dtype);
  torch::Tensor uncond;
  if (c.guidance_scale > 1.0) uncond = encode_prompts(sd, std::vector<std::string>(prompts.size(), "")).to(dtype);

  const auto& ac = scheduler->alphas_cumprod();
  const auto& ts = scheduler->timesteps();  // descending
  const int64_t n = scheduler->num_steps();
  // DDIM's last step lands on alphas_cumprod[0] (set_alpha_to_one false) or 1: invert from there.
  const bool to_one = sd.scheduler_config.value("set_alpha_to_one", true);
  double a_prev = to_one ? 1.0 : ac[0].item<double>();
  auto x = latents;
  ProgressBar bar(n, "invert", c.progress);
  for (int64_t k = n - 1; k >= 0; --k) {
    const auto t = ts[k];
    const double a_t = ac[t.item<int64_t>()].item<double>();
    auto out = guided_noise_pred(sd, x, t.to(x.device()), cond, uncond, c.guidance_scale);
    torch::Tensor eps;
    if (scheduler->prediction_type() == "v_prediction")  // ε = √(1−a)·x + √a·v, evaluated at the current level
      eps = std::sqrt(1 - a_prev) * x + std::sqrt(a_prev) * out;
    else
      eps = out;
    auto x0 = (x - std::sqrt(1 - a_prev) * eps) / std::sqrt(a_prev);
    x = std::sqrt(a_t) * x0 + std::sqrt(1 - a_t) * eps;
    a_prev = a_t;
    bar.update();
  }
  bar.finish();
  return x;
}

}  // namespace sculpt
