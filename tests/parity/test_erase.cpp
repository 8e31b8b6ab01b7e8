// Concept erasure on the golden tiny model: each method's loss for fixed inputs against an independent
// computation written here, UCE against its closed form, trajectory samples against a hand-run DDIM loop,
// and `erase_run` end to end (outputs load, the input model is untouched, bad input is refused).
#include <fstream>

#include "core/check.h"
#include "io/safetensors.h"
#include "methods/ablating_concepts.h"
#include "methods/all_but_one.h"
#include "methods/erase.h"
#include "methods/doco.h"
#include "methods/erase_common.h"
#include "methods/esd.h"
#include "methods/gradient_surgery.h"
#include "methods/uce.h"
#include "pipeline/model_export.h"
#include "pipeline/stable_diffusion.h"
#include "support.h"

namespace sculpt {
namespace {
namespace fs = std::filesystem;

StableDiffusion tiny() { return load_stable_diffusion(test::golden("tiny-sd/model")); }

struct Batch {
  torch::Tensor x, t, cond, uncond, alt;
};
Batch batch(StableDiffusion& sd, int64_t b = 3) {
  auto gen = at::detail::createCPUGenerator(11);
  const auto& c = sd.unet->config;
  return {torch::randn({b, c.in_channels, c.sample_size, c.sample_size}, gen),
          torch::tensor({5, 400, 990}, torch::kLong).slice(0, 0, b), encode_prompts(sd, {"a star"}),
          encode_prompts(sd, {""}), encode_prompts(sd, {"a circle"})};
}

// The student: the tiny UNet with its weights nudged, so student and frozen differ.
UNet2DConditionModel nudged(UNet2DConditionModel& unet) {
  auto s = unet_frozen_copy(unet);
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(3);
  for (auto& p : s->parameters()) p.add_(0.05 * torch::randn(p.sizes(), gen));
  for (auto& p : s->parameters()) p.set_requires_grad(true);
  return s;
}

torch::Tensor eps(UNet2DConditionModel& u, const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& c) {
  return u->forward(x, t, c.expand({x.size(0), c.size(1), c.size(2)}));
}

TEST(Erase, EsdLossIsTheNegativelyGuidedDistillation) {
  auto sd = tiny();
  auto frozen = unet_frozen_copy(sd.unet);
  auto student = nudged(sd.unet);
  const auto schedule = make_scheduler("ddpm", sd.scheduler_config);
  const auto b = batch(sd);
  const double eta = 1.5;
  const auto loss = esd_loss(student, frozen, *schedule, b.x, b.t, b.cond, b.uncond, eta);
  // Independent: separate forwards, the formula of methods.md §2.
  torch::Tensor target;
  {
    torch::NoGradGuard no_grad;
    auto e_u = eps(frozen, b.x, b.t, b.uncond), e_c = eps(frozen, b.x, b.t, b.cond);
    target = e_u - eta * (e_c - e_u);
  }
  const auto expected = (eps(student, b.x, b.t, b.cond) - target).pow(2).mean();
  EXPECT_NEAR(loss.item<double>(), expected.item<double>(), 1e-5 * expected.item<double>());
  // Gradients reach the student only.
  loss.backward();
  EXPECT_TRUE(student->parameters().front().grad().defined());
  EXPECT_FALSE(frozen->parameters().front().grad().defined());
}

TEST(Erase, EsdLegacyTimestepsFallInTheOriginalCodesBins) {
  auto gen = at::detail::createCPUGenerator(1);
  const auto k = torch::arange(50, torch::kLong);
  const auto t = esd_legacy_timesteps(k, 50, 1000, gen);
  for (int64_t i = 0; i < 50; ++i) {
    EXPECT_GE(t[i].item<int64_t>(), std::lround(i / 50.0 * 1000)) << i;
    EXPECT_LT(t[i].item<int64_t>(), std::lround((i + 1) / 50.0 * 1000)) << i;
  }
}

TEST(Erase, AboLossGuidanceTermAndUnconditionalAnchor) {
  auto sd = tiny();
  auto frozen = unet_frozen_copy(sd.unet);
  auto student = nudged(sd.unet);
  const auto schedule = make_scheduler("ddpm", sd.scheduler_config);
  const auto b = batch(sd);
  const double eta = 0.7, lambda = 2.0;
  torch::Tensor f_u, f_a, f_e;
  {
    torch::NoGradGuard no_grad;
    f_u = eps(frozen, b.x, b.t, b.uncond);
    f_a = eps(frozen, b.x, b.t, b.alt);
    f_e = eps(frozen, b.x, b.t, b.cond);
  }
  auto s_e = eps(student, b.x, b.t, b.cond), s_u = eps(student, b.x, b.t, b.uncond);
  auto uncond = (s_u - f_u).pow(2).mean().item<double>();
  struct Case {
    torch::Tensor alt;
    std::string no_alt;
    torch::Tensor g;
  };
  for (const auto& k : {Case{b.alt, "zero", eta * (f_a - f_u)}, Case{{}, "zero", torch::zeros_like(f_u)},
                        Case{{}, "esd", -eta * (f_e - f_u)}}) {
    const auto l = abo_loss(student, frozen, *schedule, b.x, b.t, b.cond, b.uncond, k.alt, eta, lambda, k.no_alt);
    const double erase = ((s_e - s_u) - k.g).pow(2).mean().item<double>();
    EXPECT_NEAR(l.erase.item<double>(), erase, 1e-5 * erase) << k.no_alt;  // batched vs separate forwards
    EXPECT_NEAR(l.uncond.item<double>(), uncond, 1e-5 * uncond);
    EXPECT_NEAR(l.total.item<double>(), erase + lambda * uncond, 1e-5 * (erase + lambda * uncond));
  }
  // sg(ε_θ(x_t, ∅)) in the erase term: with λ = 0 the unconditional path gets no gradient from it... but
  // the conditional one does.
  student->zero_grad();
  abo_loss(student, frozen, *schedule, b.x, b.t, b.cond, b.uncond, b.alt, eta, 0.0, "zero").total.backward();
  const auto g_with_sg = student->named_parameters()["conv_in.weight"].grad().clone();
  student->zero_grad();
  ((eps(student, b.x, b.t, b.cond) - eps(student, b.x, b.t, b.uncond).detach()) - eta * (f_a - f_u)).pow(2).mean().backward();
  EXPECT_CLOSE(g_with_sg, student->named_parameters()["conv_in.weight"].grad(), 1e-6, 1e-4, "erase-term gradient");
}

TEST(Erase, AcLossModelAndNoiseBased) {
  auto sd = tiny();
  auto unet = nudged(sd.unet);
  const auto schedule = make_scheduler("ddpm", sd.scheduler_config);
  const auto b = batch(sd);
  auto gen = at::detail::createCPUGenerator(5);
  const auto noise = torch::randn(b.x.sizes(), gen);
  const auto target_emb = b.cond.expand({3, -1, -1}), anchor_emb = b.alt.expand({3, -1, -1});
  const auto& abar = schedule->alphas_cumprod();
  auto a = abar.index_select(0, b.t).view({-1, 1, 1, 1});
  auto x_t = a.sqrt() * b.x + (1 - a).sqrt() * noise;
  auto p_target = unet->forward(x_t, b.t, target_emb), p_anchor = unet->forward(x_t, b.t, anchor_emb);
  const double reg = (p_anchor - noise).pow(2).mean().item<double>();
  const double model = (p_target - p_anchor).pow(2).mean().item<double>();
  const double noise_based = (p_target - noise).pow(2).mean().item<double>();
  auto l = ac_loss(unet, *schedule, b.x, noise, b.t, target_emb, anchor_emb, "model", 0.2);
  EXPECT_NEAR(l.ablate.item<double>(), model, 1e-5 * model);
  EXPECT_NEAR(l.reg.item<double>(), reg, 1e-5 * reg);
  EXPECT_NEAR(l.total.item<double>(), model + 0.2 * reg, 1e-5 * (model + 0.2 * reg));
  l = ac_loss(unet, *schedule, b.x, noise, b.t, target_emb, anchor_emb, "noise", 0.0);
  EXPECT_NEAR(l.total.item<double>(), noise_based, 1e-5 * noise_based);
  EXPECT_THROW(ac_loss(unet, *schedule, b.x, noise, b.t, target_emb, anchor_emb, "both", 0.0), UsageError);
}

TEST(Erase, UceEqualsTheClosedFormPerLayer) {
  auto sd = tiny();
  const std::string key = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight";
  const auto w_old = sd.unet->named_parameters()[key].detach().clone().to(torch::kFloat64);
  EraseConfig c;
  c.method = "uce";
  c.concepts = {"a star", "a red heart"};
  c.alternative = "a shape";
  c.preserve = {"a circle", "a blue square"};
  c.lambda = 0.5;
  c.uce_tokens = "span";
  const auto outcome = uce_erase(sd, c);
  size_t kv = 0;  // every attn2.to_k / to_v weight, nothing else
  for (const auto& item : sd.unet->named_parameters())
    kv += item.key().find("attn2.to_k.weight") != std::string::npos || item.key().find("attn2.to_v.weight") != std::string::npos;
  EXPECT_EQ(outcome.changed.size(), kv);
  EXPECT_GT(kv, 0u);
  const auto w_new = sd.unet->named_parameters()[key].detach().to(torch::kFloat64);

  // Independent: the sums of methods.md §3 term by term, with an explicit inverse.
  auto base = tiny();
  const int64_t d = w_old.size(1);
  auto lhs = 0.5 * torch::eye(d, torch::kFloat64);
  auto rhs = 0.5 * w_old;
  const double s_p = std::max(0.1, 1.0 / 2);
  auto emb = [&](const std::string& p) { return encode_prompts(base, {p})[0].to(torch::kFloat64); };
  auto last = [&](const std::string& p) { return static_cast<int64_t>(base.tokenizer.encode(p).size()) - 2; };
  const auto g = emb("a shape");
  const int64_t kg = last("a shape");
  for (const auto& e : c.concepts) {
    const auto ce = emb(e);
    const int64_t ke = last(e);
    for (int64_t m = 0; m + std::max(ke, kg) < 77; ++m) {
      auto ci = ce[ke + m].view({-1, 1}), gi = g[kg + m].view({-1, 1});
      lhs = lhs + torch::mm(ci, ci.t());
      rhs = rhs + torch::mm(torch::mm(w_old, gi), ci.t());  // v* = W_old·g
    }
  }
  for (const auto& p : {std::string("a circle"), std::string("a blue square"), std::string("")}) {
    const auto cp = emb(p);
    for (int64_t j = 0; j < 77; ++j) {
      auto cj = cp[j].view({-1, 1});
      lhs = lhs + s_p * torch::mm(cj, cj.t());
      rhs = rhs + s_p * torch::mm(torch::mm(w_old, cj), cj.t());
    }
  }
  const auto expected = torch::mm(rhs, torch::inverse(lhs));
  EXPECT_CLOSE(w_new, expected, 1e-5, 0, "UCE W_new");
  EXPECT_GT((w_new - w_old).abs().max().item<double>(), 1e-4);  // it did change
}

TEST(Erase, TrajectoryStopsAfterKDdimStepsOfTheGuidedModel) {
  auto sd = tiny();
  const auto& c = sd.unet->config;
  TrajectorySampler sampler(sd.scheduler_config, 6, 3.0, {c.in_channels, c.sample_size, c.sample_size});
  const auto cond = encode_prompts(sd, {"a star"}), uncond = encode_prompts(sd, {""});
  auto gen = at::detail::createCPUGenerator(9);
  const auto batch = sampler.draw(sd.unet, 0, cond, uncond, 4, gen);
  // The same draws by hand: k, then x_T, then k[i] guided DDIM steps.
  auto again = at::detail::createCPUGenerator(9);
  const auto k = torch::randint(0, 6, {4}, again, torch::kLong);
  const auto x_T = torch::randn({4, c.in_channels, c.sample_size, c.sample_size}, again);
  EXPECT_TRUE(torch::equal(k, batch.k));
  auto ddim = make_scheduler("ddim", sd.scheduler_config);
  ddim->set_timesteps(6);
  for (int64_t i = 0; i < 4; ++i) {
    auto x = x_T.slice(0, i, i + 1);
    torch::NoGradGuard no_grad;
    for (int64_t s = 0; s < k[i].item<int64_t>(); ++s) {
      const auto t = ddim->timesteps()[s];
      auto e_u = sd.unet->forward(x, t, uncond), e_c = sd.unet->forward(x, t, cond);
      x = ddim->step(e_u + 3.0 * (e_c - e_u), s, x).prev_sample;
    }
    EXPECT_CLOSE(batch.x_t.slice(0, i, i + 1), x, 1e-5, 1e-4, "trajectory " + std::to_string(i));
    EXPECT_EQ(batch.t[i].item<int64_t>(), ddim->timesteps()[k[i].item<int64_t>()].item<int64_t>());
  }
  // A pool: draws come from the stored trajectories (state k of one of them).
  TrajectorySampler pooled(sd.scheduler_config, 6, 3.0, {c.in_channels, c.sample_size, c.sample_size}, 3);
  auto g2 = at::detail::createCPUGenerator(2);
  pooled.draw(sd.unet, 0, cond, uncond, 2, g2);
  const auto forwards = pooled.unet_forwards();
  pooled.draw(sd.unet, 0, cond, uncond, 8, g2);
  EXPECT_EQ(pooled.unet_forwards(), forwards);  // the second draw ran no UNet
}

TEST(Erase, GradientSurgeryOnHandMadePairs) {
  using T = std::vector<torch::Tensor>;
  const auto d = [](std::vector<double> v) { return torch::tensor(v, torch::kFloat64); };
  // Opposing: g_a = (1, 0), g_b = (-1, 1) → cos = -1/√2, ‖g_b‖ = √2.
  const T a{d({1, 0})}, b{d({-1, 1})};
  // code: g_a − λ·cos·g_b/‖g_b‖ = (1,0) + (1/√2)(-1,1)/√2 = (0.5, 0.5)
  EXPECT_CLOSE(gradient_surgery(a, b, SurgeryKind::code)[0], d({0.5, 0.5}), 1e-12, 0, "code variant");
  // pcgrad: g_a − ⟨g_a,g_b⟩/‖g_b‖²·g_b = (1,0) + 0.5·(-1,1) = (0.5, 0.5), orthogonal to g_b
  const auto p = gradient_surgery(a, b, SurgeryKind::pcgrad)[0];
  EXPECT_CLOSE(p, d({0.5, 0.5}), 1e-12, 0, "pcgrad");
  EXPECT_NEAR((p * b[0]).sum().item<double>(), 0.0, 1e-12);
  // They differ when ‖g_a‖ ≠ 1: g_a = (2, 0): code (2,0) + (1/√2)(-1,1)/√2 = (1.5, 0.5); pcgrad (2,0) + (-1,1) = (1, 1).
  EXPECT_CLOSE(gradient_surgery({d({2, 0})}, b, SurgeryKind::code)[0], d({1.5, 0.5}), 1e-12, 0, "code, |g_a| = 2");
  EXPECT_CLOSE(gradient_surgery({d({2, 0})}, b, SurgeryKind::pcgrad)[0], d({1, 1}), 1e-12, 0, "pcgrad, |g_a| = 2");
  // Not opposing: unchanged.
  EXPECT_CLOSE(gradient_surgery(a, {d({1, 1})}, SurgeryKind::code)[0], a[0], 0, 0, "aligned");
  EXPECT_CLOSE(gradient_surgery(a, {d({0, 1})}, SurgeryKind::pcgrad)[0], a[0], 0, 0, "orthogonal");
  // Per tensor vs global: tensor 1 opposes, tensor 2 agrees strongly; globally they do not oppose.
  const T a2{d({1, 0}), d({3})}, b2{d({-1, 1}), d({1})};
  const auto per = gradient_surgery(a2, b2, SurgeryKind::pcgrad);
  EXPECT_CLOSE(per[0], d({0.5, 0.5}), 1e-12, 0, "per-tensor, first");
  EXPECT_CLOSE(per[1], d({3}), 0, 0, "per-tensor, second");
  const auto global = gradient_surgery(a2, b2, SurgeryKind::pcgrad, 1.0, true);  // ⟨a,b⟩ = -1 + 3 = 2 ≥ 0
  EXPECT_CLOSE(global[0], a2[0], 0, 0, "global, first");
  EXPECT_THROW(surgery_kind_from_string("pc"), UsageError);
}

TEST(Erase, DocoDiscriminatorGivesA3x3LogitMapAtEveryLatentSize) {
  for (int64_t side : {8, 16, 32, 64}) {
    PatchDiscriminator d(4, side);
    const auto out = d->forward(torch::randn({2, 4, side, side}));
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 1, 3, 3})) << side;
  }
  PatchDiscriminator sd_size(4, 64);  // the paper's 64→128→256→512
  std::vector<int64_t> widths;
  for (const auto& m : sd_size->net->children())
    if (auto* conv = m->as<torch::nn::Conv2d>()) widths.push_back(conv->options.out_channels());
  EXPECT_EQ(widths, (std::vector<int64_t>{64, 128, 256, 512, 1}));
  EXPECT_THROW(PatchDiscriminator(4, 12), UsageError);
}

TEST(Erase, DocoLossesAreTheBceOfTheDiscriminatorLogits) {
  torch::manual_seed(4);
  PatchDiscriminator d(4, 16);
  const auto a = torch::randn({3, 4, 16, 16}), t = torch::randn({3, 4, 16, 16});
  double acc = -1;
  const auto l_d = doco_discriminator_loss(d, a, t, &acc);
  const auto la = d->forward(a), lt = d->forward(t);
  // Independent: −mean log(1 − σ(D(a))) − mean log σ(D(t)); −mean log(1 − σ(D(t))) for the generator.
  const double expected_d = -(torch::log(1 - torch::sigmoid(la)).mean() + torch::log(torch::sigmoid(lt)).mean()).item<double>();
  EXPECT_NEAR(l_d.item<double>(), expected_d, 1e-5);
  const double expected_acc = (la.lt(0).to(torch::kDouble).mean() + lt.gt(0).to(torch::kDouble).mean()).item<double>() / 2;
  EXPECT_NEAR(acc, expected_acc, 1e-6);  // float32 means
  const double expected_adv = -torch::log(1 - torch::sigmoid(lt)).mean().item<double>();
  EXPECT_NEAR(doco_adversarial_loss(d, t).item<double>(), expected_adv, 1e-5);
}

TEST(Erase, PredictedX0MatchesDdimsOriginalSample) {
  auto sd = tiny();
  auto ddim = make_scheduler("ddim", sd.scheduler_config);
  ddim->set_timesteps(10);
  auto gen = at::detail::createCPUGenerator(2);
  const auto x = torch::randn({1, 4, 16, 16}, gen), out = torch::randn({1, 4, 16, 16}, gen);
  const auto t = ddim->timesteps()[3];
  const auto expected = ddim->step(out, 3, x).pred_original_sample;
  EXPECT_CLOSE(predicted_x0(*ddim, out, x, t.view({1})), expected, 1e-5, 1e-5, "x0 estimate");
}

std::string file_hash(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return std::to_string(std::hash<std::string>{}(bytes));
}

TEST(Erase, RunWritesLoadableOutputsAndLeavesTheInputAlone) {
  const auto model = test::golden("tiny-sd/model");
  const auto unet_file = model / "unet" / "diffusion_pytorch_model.safetensors";
  const auto before = file_hash(unet_file);
  for (const std::string method : {"esd-x", "abo", "uce", "ac", "doco"}) {
    EraseConfig c;
    c.method = method;
    c.model = model;
    c.concepts = {"star"};
    if (method == "abo") c.alternative = "circle";
    if (method == "ac" || method == "doco") c.anchor = "circle", c.ac_anchor_images = 4;
    if (method == "doco") c.steps = 3, c.doco_warmup = 1;
    c.steps = 2;
    c.trajectory_steps = 3;
    c.progress = false;
    c.formats = {"delta", "diffusers"};
    c.out = test::temp_dir("erase_" + method);
    const auto summary = erase_run(c);
    EXPECT_EQ(summary["method"], method);
    EXPECT_GT(summary["trained_parameters"].get<int64_t>(), 0) << method;
    EXPECT_GT(summary["peak_memory_mb"].get<double>(), 0) << method;
    ASSERT_TRUE(fs::exists(c.out / "run.json")) << method;
    ASSERT_TRUE(fs::exists(c.out / "delta.safetensors")) << method;
    ASSERT_TRUE(fs::exists(c.out / "model" / "unet" / "diffusion_pytorch_model.safetensors")) << method;
    // The delta applied to the original equals the written folder's UNet.
    auto applied = load_stable_diffusion(model);
    delta_apply(applied, c.out / "delta.safetensors");
    auto folder = load_stable_diffusion(c.out / "model");
    auto a = applied.unet->named_parameters(), f = folder.unet->named_parameters();
    double diff = 0;
    for (auto& item : a) diff = std::max(diff, (item.value() - f[item.key()]).abs().max().item<double>());
    EXPECT_EQ(diff, 0.0) << method;
    std::ifstream log(c.out / "train_log.jsonl");
    std::string line, all;
    while (std::getline(log, line)) all += line + "\n";
    if (method == "abo") {
      EXPECT_NE(all.find("loss_uncond"), std::string::npos) << all;
      EXPECT_NE(summary["provenance"].get<std::string>().find("reconstruction"), std::string::npos);
    }
    if (method == "doco") {  // discriminator only at step 0, then both
      EXPECT_NE(all.find("d_accuracy"), std::string::npos) << all;
      EXPECT_NE(all.find("loss_adv"), std::string::npos) << all;
    }
  }
  EXPECT_EQ(file_hash(unet_file), before);
}

TEST(Erase, BadInputIsRefusedWithOneClearMessage) {
  EraseConfig c;
  c.model = test::golden("tiny-sd/model");
  c.concepts = {"star"};
  c.out = test::temp_dir("erase_bad");
  c.progress = false;
  auto message = [&](EraseConfig cfg) {
    try {
      erase_run(cfg);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  c.method = "esd-z";
  EXPECT_NE(message(c).find("known: esd-x, esd-u, uce, ac, abo"), std::string::npos) << message(c);
  c.method = "esd-x";
  c.alternative = "circle";
  EXPECT_NE(message(c).find("has no alternative"), std::string::npos) << message(c);
  c.alternative.clear();
  c.method = "ac";
  EXPECT_NE(message(c).find("needs --anchor"), std::string::npos) << message(c);
  c.method = "uce";
  c.formats = {"lora"};
  EXPECT_NE(message(c).find("lora"), std::string::npos) << message(c);
}

}  // namespace
}  // namespace sculpt
