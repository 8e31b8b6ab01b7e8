#include "methods/esd.h"

#include <cmath>

#include "core/check.h"
#include "methods/erase_common.h"

namespace sculpt {

torch::Tensor esd_loss(UNet2DConditionModel& student, UNet2DConditionModel& frozen, const Scheduler& schedule,
                       const torch::Tensor& x_t, const torch::Tensor& t, const torch::Tensor& cond,
                       const torch::Tensor& uncond, double eta) {
  torch::Tensor target;
  {
    torch::NoGradGuard no_grad;
    const auto e = epsilon_batched(frozen, schedule, x_t, t, {uncond, cond});
    target = e[0] - eta * (e[1] - e[0]);
  }
  const auto pred = epsilon_batched(student, schedule, x_t, t, {cond})[0];
  return torch::mse_loss(pred, target);
}

torch::Tensor esd_legacy_timesteps(const torch::Tensor& k, int64_t steps, int64_t train_timesteps, torch::Generator& gen) {
  auto kd = k.to(torch::kFloat64);
  auto lo = (kd / steps * train_timesteps).round(), hi = ((kd + 1) / steps * train_timesteps).round();
  auto u = torch::rand(k.sizes(), gen, torch::kFloat64);
  return (lo + (u * (hi - lo)).floor()).clamp(0, train_timesteps - 1).to(torch::kLong);
}

EditOutcome esd_erase(StableDiffusion& sd, const EraseConfig& c) {
  SCULPT_USAGE_CHECK(c.esd_xt_source == "frozen" || c.esd_xt_source == "student", "--xt-source: frozen | student, got '",
                     c.esd_xt_source, "'");
  SCULPT_USAGE_CHECK(c.esd_t_mapping == "consistent" || c.esd_t_mapping == "legacy",
                     "--t-mapping: consistent | legacy, got '", c.esd_t_mapping, "'");
  EditOutcome outcome;
  auto setup = trajectory_setup(sd, c);
  auto& frozen = setup.frozen;
  const auto& conds = setup.concepts;
  auto loop = erase_loop(c, erase_trainables(sd, c, outcome), outcome, "adam");
  const bool from_student = c.esd_xt_source == "student";
  const auto result = loop->run([&](TrainContext& ctx, nlohmann::json& logs) {
    const int64_t i = ctx.step % static_cast<int64_t>(conds.size());
    auto batch = setup.sampler->draw(from_student ? sd.unet : frozen, i, conds[i], setup.uncond, c.batch, ctx.gen);
    auto t = c.esd_t_mapping == "legacy"
                 ? esd_legacy_timesteps(batch.k, c.trajectory_steps, setup.schedule->num_train_timesteps(), ctx.gen)
                 : batch.t;
    logs["concept"] = i;
    return esd_loss(sd.unet, frozen, *setup.schedule, batch.x_t, t, conds[i], setup.uncond, c.eta);
  });
  erase_record(outcome, result);
  outcome.extra["trajectory_unet_forwards"] = setup.sampler->unet_forwards();
  return outcome;
}

}  // namespace sculpt
