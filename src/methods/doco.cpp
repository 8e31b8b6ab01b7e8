#include "methods/doco.h"

#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/check.h"
#include "core/progress.h"
#include "methods/erase_common.h"
#include "methods/gradient_surgery.h"
#include "train/optimizer.h"

namespace sculpt {
namespace nn = torch::nn;

PatchDiscriminatorImpl::PatchDiscriminatorImpl(int64_t in_channels, int64_t side) {
  SCULPT_USAGE_CHECK(side >= 8 && (side & (side - 1)) == 0, "DoCo's discriminator needs a power-of-two latent side >= 8, got ",
                     side);
  net = register_module("net", nn::Sequential());
  const int64_t blocks = static_cast<int64_t>(std::log2(static_cast<double>(side))) - 2;
  int64_t in = in_channels, ch = side >= 64 ? 64 : 32;
  auto block = [&](int64_t out, int64_t kernel, int64_t stride, bool norm) {
    net->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(1)));
    if (norm) net->push_back(nn::BatchNorm2d(out));
    net->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)));
    in = out;
  };
  for (int64_t i = 0; i < blocks; ++i, ch = std::min<int64_t>(2 * ch, 512)) block(ch, 4, 2, i > 0);
  if (side == 8) block(ch, 3, 1, true);
  net->push_back(nn::Conv2d(nn::Conv2dOptions(in, 1, 4).stride(1).padding(1)));
}

torch::Tensor PatchDiscriminatorImpl::forward(const torch::Tensor& latents) { return net->forward(latents); }

namespace {

torch::Tensor bce(const torch::Tensor& logits, double label) {
  return torch::binary_cross_entropy_with_logits(logits, torch::full_like(logits, label));
}

}  // namespace

torch::Tensor doco_discriminator_loss(PatchDiscriminator& d, const torch::Tensor& x0_anchor,
                                      const torch::Tensor& x0_target, double* accuracy) {
  auto anc = d->forward(x0_anchor.detach()), tgt = d->forward(x0_target.detach());
  if (accuracy)
    *accuracy = (anc.lt(0).to(torch::kFloat32).mean() + tgt.gt(0).to(torch::kFloat32).mean()).item<double>() / 2;
  return bce(anc, 0.0) + bce(tgt, 1.0);
}

torch::Tensor doco_adversarial_loss(PatchDiscriminator& d, const torch::Tensor& x0_target) {
  return bce(d->forward(x0_target), 0.0);
}

namespace {

std::vector<torch::Tensor> grads_of(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> g;
  for (const auto& p : params) g.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  return g;
}

}  // namespace

EditOutcome doco_erase(StableDiffusion& sd, const EraseConfig& c) {
  const bool surgery = c.doco_surgery != "none";
  const auto kind = surgery ? surgery_kind_from_string(c.doco_surgery) : SurgeryKind::code;
  const auto anchors = anchor_set(sd, c.concepts[0], c.anchor, c.ac_anchor_images, c.seed, c.progress);
  EditOutcome outcome;
  auto frozen = unet_frozen_copy(sd.unet);
  const auto schedule = make_scheduler("ddpm", sd.scheduler_config);
  const auto device = anchors.latents.device();
  const auto trainable = erase_trainables(sd, c, outcome);
  std::vector<torch::Tensor> params;
  for (const auto& p : trainable) params.push_back(p.param);
  OptimizerConfig g_cfg;
  g_cfg.name = "adamw";
  g_cfg.lr = c.lr;
  Optimizer g_opt(params, g_cfg);
  torch::manual_seed(c.seed);
  PatchDiscriminator disc(sd.unet->config.in_channels, sd.unet->config.sample_size);
  disc->to(device);
  OptimizerConfig d_cfg;
  d_cfg.name = "adam";
  d_cfg.lr = c.doco_disc_lr;
  d_cfg.beta1 = 0.5;
  d_cfg.weight_decay = 0;
  Optimizer d_opt(disc->parameters(), d_cfg);

  std::ofstream log(c.out / "train_log.jsonl", std::ios::trunc);
  SCULPT_CHECK(log.good(), "cannot write ", c.out / "train_log.jsonl");
  ProgressBar bar(c.steps, c.method, c.progress);
  const int64_t b = c.batch;
  double first = 0, last = 0;
  int64_t counted_first = 0, counted_last = 0;
  bool warned = false;
  for (int64_t step = 0; step < c.steps; ++step) {
    auto gen = train_generator(c.seed, step);
    if (outcome.lora) outcome.lora->refresh(true, &gen);
    const auto a = anchor_batch(anchors, b, schedule->num_train_timesteps(), gen);
    auto x_t = schedule->add_noise(a.z0, a.noise, a.t);
    auto x0_tgt = predicted_x0(
        *schedule, sd.unet->forward(x_t, a.t.to(device), anchors.target_emb.index_select(0, a.rows)), x_t, a.t);
    torch::Tensor x0_anc;
    {
      torch::NoGradGuard no_grad;
      x0_anc = predicted_x0(
          *schedule, frozen->forward(x_t, a.t.to(device), anchors.anchor_emb.index_select(0, a.rows)), x_t, a.t);
    }
    // Discriminator: anchor = 0 ("real"), the model's target estimate = 1 ("fake").
    d_opt.zero_grad();
    double d_acc = 0;
    auto loss_d = doco_discriminator_loss(disc, x0_anc, x0_tgt, &d_acc);
    loss_d.backward();
    d_opt.step(c.doco_disc_lr);
    nlohmann::json line = {{"step", step}, {"loss_d", loss_d.item<double>()}, {"d_accuracy", d_acc}};
    double loss_g = 0;
    if (step >= c.doco_warmup) {
      if (!warned && d_acc > 0.95 && step >= c.doco_warmup + 20) {
        std::cerr << "warning: DoCo's discriminator is still " << d_acc
                  << " accurate after warm-up: the generator's learning rate may be too low\n";
        warned = true;
      }
      auto loss_adv = doco_adversarial_loss(disc, x0_tgt);
      const auto p = anchor_batch(anchors, b, schedule->num_train_timesteps(), gen);
      auto x2 = schedule->add_noise(p.z0, p.noise, p.t);
      auto pred2 = sd.unet->forward(x2, p.t.to(device), anchors.anchor_emb.index_select(0, p.rows));
      auto loss_prior = torch::mse_loss(pred2, schedule->training_target(p.z0, p.noise, p.t));
      g_opt.zero_grad();
      if (!surgery) {
        (loss_adv + 0.1 * c.doco_prior_weight * loss_prior).backward();
        clip_grad_norm(params, 1.0);
      } else {
        loss_prior.backward();
        clip_grad_norm(params, 1.0);
        const auto g_b = grads_of(params);
        g_opt.zero_grad();
        loss_adv.backward();
        clip_grad_norm(params, 1.0);
        const auto g_a = gradient_surgery(grads_of(params), g_b, kind, c.doco_lambda);
        for (size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = g_a[i];
      }
      g_opt.step(c.lr);
      loss_g = loss_adv.item<double>();
      line["loss_adv"] = loss_g;
      line["loss_prior"] = loss_prior.item<double>();
    }
    log << line.dump() << '\n';
    log.flush();
    if (step < std::max<int64_t>(1, c.steps / 10)) first += loss_d.item<double>(), ++counted_first;
    if (step >= c.steps - std::max<int64_t>(1, c.steps / 10)) last += loss_d.item<double>(), ++counted_last;
    std::ostringstream note;
    note << "D " << loss_d.item<double>() << "  acc " << d_acc;
    if (step >= c.doco_warmup) note << "  adv " << loss_g;
    bar.update(1, note.str());
  }
  bar.finish();
  if (outcome.lora) outcome.lora->refresh(false);
  outcome.steps = c.steps;
  outcome.first_loss = counted_first ? first / counted_first : 0;  // the discriminator's loss
  outcome.last_loss = counted_last ? last / counted_last : 0;
  outcome.extra = {{"anchor", c.anchor},
                   {"anchor_images", anchors.latents.size(0)},
                   {"surgery", c.doco_surgery},
                   {"warmup", c.doco_warmup},
                   {"discriminator_lr", c.doco_disc_lr},
                   {"loss_reported", "discriminator"}};
  return outcome;
}

}  // namespace sculpt
