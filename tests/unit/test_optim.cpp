// Optimizers, schedules, clipping and EMA against closed forms written out here in plain doubles.
#include <cmath>

#include "support.h"
#include "train/optimizer.h"

namespace sculpt {
namespace {

// f(p) = ½·Σ a_i·p_i², so ∇f = a ⊙ p.
std::vector<double> run_torch(OptimizerConfig cfg, const std::vector<double>& p0, const std::vector<double>& a,
                              int steps, double lr) {
  auto p = torch::tensor(p0, torch::kFloat64).set_requires_grad(true);
  auto at = torch::tensor(a, torch::kFloat64);
  Optimizer opt({p}, cfg);
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    (0.5 * (at * p * p).sum()).backward();
    opt.step(lr);
  }
  std::vector<double> out(p0.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = p[static_cast<int64_t>(i)].item<double>();
  return out;
}

TEST(Optimizer, AdamWTenStepsMatchClosedForm) {
  const std::vector<double> p0{1.0, -2.0, 0.5}, a{1.0, 0.3, 4.0};
  OptimizerConfig cfg;
  cfg.name = "adamw", cfg.beta1 = 0.9, cfg.beta2 = 0.99, cfg.eps = 1e-8, cfg.weight_decay = 0.1;
  const double lr = 0.05;
  auto got = run_torch(cfg, p0, a, 10, lr);
  for (size_t i = 0; i < p0.size(); ++i) {
    double p = p0[i], m = 0, v = 0;
    for (int t = 1; t <= 10; ++t) {
      const double g = a[i] * p;
      p -= lr * 0.1 * p;  // decoupled decay first
      m = 0.9 * m + 0.1 * g;
      v = 0.99 * v + 0.01 * g * g;
      const double mhat = m / (1 - std::pow(0.9, t)), vhat = v / (1 - std::pow(0.99, t));
      p -= lr * mhat / (std::sqrt(vhat) + 1e-8);
    }
    EXPECT_NEAR(got[i], p, 1e-12) << "param " << i;
  }
}

TEST(Optimizer, AdamAddsL2ToTheGradient) {
  const std::vector<double> p0{1.5, -0.7}, a{2.0, 0.5};
  OptimizerConfig cfg;
  cfg.name = "adam", cfg.weight_decay = 0.01;
  auto got = run_torch(cfg, p0, a, 10, 0.1);
  for (size_t i = 0; i < p0.size(); ++i) {
    double p = p0[i], m = 0, v = 0;
    for (int t = 1; t <= 10; ++t) {
      const double g = a[i] * p + 0.01 * p;
      m = 0.9 * m + 0.1 * g;
      v = 0.999 * v + 0.001 * g * g;
      p -= 0.1 * (m / (1 - std::pow(0.9, t))) / (std::sqrt(v / (1 - std::pow(0.999, t))) + 1e-8);
    }
    EXPECT_NEAR(got[i], p, 1e-12) << "param " << i;
  }
}

TEST(Optimizer, SgdMomentumAndNesterov) {
  for (bool nesterov : {false, true}) {
    OptimizerConfig cfg;
    cfg.name = "sgd", cfg.momentum = 0.9, cfg.nesterov = nesterov, cfg.weight_decay = 0;
    auto got = run_torch(cfg, {1.0}, {0.5}, 5, 0.1);
    double p = 1.0, buf = 0;
    for (int t = 0; t < 5; ++t) {
      const double g = 0.5 * p;
      buf = t == 0 ? g : 0.9 * buf + g;
      p -= 0.1 * (nesterov ? g + 0.9 * buf : buf);
    }
    EXPECT_NEAR(got[0], p, 1e-12) << (nesterov ? "nesterov" : "momentum");
  }
}

TEST(Optimizer, StateRoundTripContinuesIdentically) {
  OptimizerConfig cfg;
  auto p1 = torch::tensor({1.0, 2.0}).set_requires_grad(true);
  auto p2 = p1.detach().clone().set_requires_grad(true);
  Optimizer a({p1}, cfg), b({p2}, cfg);
  for (int s = 0; s < 6; ++s) {
    if (s == 3) {
      Optimizer c({p2}, cfg);
      c.load_state(b.state(), "test");
      b = std::move(c);
    }
    for (auto* o : {&a, &b}) o->zero_grad();
    (p1 * p1).sum().backward();
    (p2 * p2).sum().backward();
    a.step(0.1), b.step(0.1);
  }
  EXPECT_TRUE(torch::equal(p1, p2));
}

TEST(Schedule, WarmupThenDecay) {
  ScheduleConfig c{"linear", 10, 110, 0.0};
  EXPECT_DOUBLE_EQ(schedule_factor(c, 0), 0.0);
  EXPECT_DOUBLE_EQ(schedule_factor(c, 5), 0.5);
  EXPECT_DOUBLE_EQ(schedule_factor(c, 10), 1.0);
  EXPECT_DOUBLE_EQ(schedule_factor(c, 60), 0.5);
  EXPECT_DOUBLE_EQ(schedule_factor(c, 110), 0.0);
  c.name = "cosine";
  EXPECT_NEAR(schedule_factor(c, 60), 0.5, 1e-12);
  EXPECT_NEAR(schedule_factor(c, 35), 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-12);
  c.name = "constant";
  EXPECT_DOUBLE_EQ(schedule_factor(c, 99), 1.0);
  c.name = "bogus";
  EXPECT_THROW(schedule_factor(c, 50), std::exception);
}

TEST(ClipGradNorm, ScalesToMaxNorm) {
  auto a = torch::zeros({2}, torch::kFloat64).set_requires_grad(true), b = torch::zeros({1}, torch::kFloat64).set_requires_grad(true);
  a.mutable_grad() = torch::tensor({3.0, 0.0}, torch::kFloat64);
  b.mutable_grad() = torch::tensor({4.0}, torch::kFloat64);
  EXPECT_NEAR(clip_grad_norm({a, b}, 1.0), 5.0, 1e-12);
  EXPECT_NEAR(a.grad()[0].item<double>(), 3.0 / (5.0 + 1e-6), 1e-12);
  EXPECT_NEAR(b.grad()[0].item<double>(), 4.0 / (5.0 + 1e-6), 1e-12);
  EXPECT_NEAR(clip_grad_norm({a, b}, 10.0), 5.0 / (5.0 + 1e-6), 1e-12);  // below max: unchanged
  EXPECT_NEAR(a.grad()[0].item<double>(), 3.0 / (5.0 + 1e-6), 1e-12);
}

TEST(Ema, FollowsDiffusersDecay) {
  auto p = torch::tensor({0.0}, torch::kFloat64);
  EmaWeights ema({p}, 0.5);
  p.fill_(1.0);
  ema.update({p});  // decay 0: copies
  EXPECT_DOUBLE_EQ(ema.weights()[0].item<double>(), 1.0);
  p.fill_(3.0);
  ema.update({p});  // decay min(0.5, 2/11)
  const double d = 2.0 / 11.0;
  EXPECT_NEAR(ema.weights()[0].item<double>(), d * 1.0 + (1 - d) * 3.0, 1e-12);
}

}  // namespace
}  // namespace sculpt
