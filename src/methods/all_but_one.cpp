#include "methods/all_but_one.h"

#include "core/check.h"
#include "methods/erase_common.h"
#include "pipeline/inversion.h"
#include "pipeline/stable_diffusion.h"

namespace sculpt {

AboLoss abo_loss(UNet2DConditionModel& student, UNet2DConditionModel& frozen, const Scheduler& schedule,
                 const torch::Tensor& x_t, const torch::Tensor& t, const torch::Tensor& erase,
                 const torch::Tensor& uncond, const torch::Tensor& alt, double eta, double lambda,
                 const std::string& no_alt_target) {
  SCULPT_USAGE_CHECK(no_alt_target == "zero" || no_alt_target == "esd", "--no-alt-target: zero | esd, got '",
                     no_alt_target, "'");
  torch::Tensor frozen_uncond, target;
  {
    torch::NoGradGuard no_grad;
    if (alt.defined()) {
      const auto e = epsilon_batched(frozen, schedule, x_t, t, {uncond, alt});
      frozen_uncond = e[0];
      target = eta * (e[1] - e[0]);
    } else if (no_alt_target == "esd") {
      const auto e = epsilon_batched(frozen, schedule, x_t, t, {uncond, erase});
      frozen_uncond = e[0];
      target = -eta * (e[1] - e[0]);
    } else {
      frozen_uncond = epsilon_batched(frozen, schedule, x_t, t, {uncond})[0];
      target = torch::zeros_like(frozen_uncond);
    }
  }
  const auto s = epsilon_batched(student, schedule, x_t, t, {erase, uncond});
  AboLoss l;
  l.erase = torch::mse_loss(s[0] - s[1].detach(), target);
  l.uncond = torch::mse_loss(s[1], frozen_uncond);
  l.total = l.erase + lambda * l.uncond;
  return l;
}

EditOutcome abo_erase(StableDiffusion& sd, const EraseConfig& c) {
  EditOutcome outcome;
  auto setup = trajectory_setup(sd, c);
  const auto alt = c.alternative.empty() ? torch::Tensor() : prompt_embedding(sd, c.alternative);
  const auto& erase = setup.concepts;
  auto loop = erase_loop(c, erase_trainables(sd, c, outcome), outcome, "adam");
  const auto result = loop->run([&](TrainContext& ctx, nlohmann::json& logs) {
    const int64_t i = ctx.step % static_cast<int64_t>(erase.size());
    auto batch = setup.sampler->draw(setup.frozen, i, erase[i], setup.uncond, c.batch, ctx.gen);
    auto l = abo_loss(sd.unet, setup.frozen, *setup.schedule, batch.x_t, batch.t, erase[i], setup.uncond, alt, c.eta, c.lambda,
                      c.abo_no_alt_target);
    logs["loss_erase"] = l.erase.item<double>();
    logs["loss_uncond"] = l.uncond.item<double>();
    logs["concept"] = i;
    return l.total;
  });
  erase_record(outcome, result);
  outcome.extra = {{"provenance", "reconstruction"},
                   {"alternative", c.alternative},
                   {"trajectory_unet_forwards", setup.sampler->unet_forwards()}};
  return outcome;
}

torch::Tensor purify_images(StableDiffusion& original, StableDiffusion& edited, const torch::Tensor& images01,
                            const PurifyConfig& c) {
  const auto z0 = vae_encode_mean(original, images01);
  InversionConfig inv;
  inv.prompt = c.prompt;
  inv.steps = c.steps;
  inv.guidance_scale = 1.0;
  inv.progress = c.progress;
  const auto x_T = ddim_invert(original, z0, inv);
  GenerateConfig g;
  g.prompts = {c.prompt};
  g.images_per_prompt = images01.size(0);
  g.steps = c.steps;
  g.guidance_scale = c.guidance;
  g.scheduler = "ddim";
  g.init_latents = x_T;
  g.height = images01.size(2);
  g.width = images01.size(3);
  g.progress = c.progress;
  return generate(edited, g).images;
}

}  // namespace sculpt
