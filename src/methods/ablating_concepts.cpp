#include "methods/ablating_concepts.h"

#include "core/check.h"
#include "methods/erase_common.h"

namespace sculpt {

AcLoss ac_loss(UNet2DConditionModel& unet, const Scheduler& schedule, const torch::Tensor& z0,
               const torch::Tensor& noise, const torch::Tensor& t, const torch::Tensor& target_emb,
               const torch::Tensor& anchor_emb, const std::string& loss, double reg_weight) {
  SCULPT_USAGE_CHECK(loss == "model" || loss == "noise", "--ac-loss: model | noise, got '", loss, "'");
  auto x_t = schedule.add_noise(z0, noise, t);
  auto target = schedule.training_target(z0, noise, t);
  // One forward for the target and the anchor prompts; the anchor half is the model-based teacher (no
  // gradient through it) and the regulariser's prediction.
  auto out = unet->forward(torch::cat({x_t, x_t}), torch::cat({t, t}).to(x_t.device()),
                           torch::cat({target_emb, anchor_emb}))
                 .chunk(2);
  AcLoss l;
  l.ablate = torch::mse_loss(out[0], loss == "model" ? out[1].detach() : target);
  l.reg = torch::mse_loss(out[1], target);
  l.total = reg_weight > 0 ? l.ablate + reg_weight * l.reg : l.ablate;
  return l;
}

EditOutcome ac_erase(StableDiffusion& sd, const EraseConfig& c) {
  const auto anchors = anchor_set(sd, c.concepts[0], c.anchor, c.ac_anchor_images, c.seed, c.progress);
  EditOutcome outcome;
  const auto schedule = make_scheduler("ddpm", sd.scheduler_config);
  auto loop = erase_loop(c, erase_trainables(sd, c, outcome), outcome, "adamw");
  const auto result = loop->run([&](TrainContext& ctx, nlohmann::json& logs) {
    const auto a = anchor_batch(anchors, c.batch, schedule->num_train_timesteps(), ctx.gen);
    auto l = ac_loss(sd.unet, *schedule, a.z0, a.noise, a.t, anchors.target_emb.index_select(0, a.rows),
                     anchors.anchor_emb.index_select(0, a.rows), c.ac_loss, c.ac_reg_weight);
    logs["loss_ablate"] = l.ablate.item<double>();
    logs["loss_reg"] = l.reg.item<double>();
    return l.total;
  });
  erase_record(outcome, result);
  outcome.extra = {{"anchor", c.anchor},
                   {"anchor_images", anchors.latents.size(0)},
                   {"loss", c.ac_loss},
                   {"reg_weight", c.ac_reg_weight},
                   {"example_anchor_prompt", anchors.anchor_prompts.front()},
                   {"example_target_prompt", anchors.target_prompts.front()}};
  return outcome;
}

}  // namespace sculpt
