// Scheduler maths against closed forms and hand-computed arrays written here (no golden files): timestep
// spacings per class, betas, add_noise / training targets, DDIM (v-prediction), DDPM ancestral steps with a
// seeded generator, Euler, DPM-Solver++, PNDM (PLMS and PRK), thresholding, config parsing and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/check.h"
#include "schedulers/scheduler.h"
#include "support.h"

using namespace sculpt;

namespace {
// An SD 1.x scheduler config (the PNDM one shipped with SD), optionally with a timestep_spacing.
nlohmann::json sd_config(const std::string& spacing = "") {
  nlohmann::json c = {{"beta_start", 0.00085}, {"beta_end", 0.012}, {"beta_schedule", "scaled_linear"},
                      {"num_train_timesteps", 1000}, {"steps_offset", 1}, {"clip_sample", false},
                      {"set_alpha_to_one", false}, {"skip_prk_steps", true}};
  if (!spacing.empty()) c["timestep_spacing"] = spacing;
  return c;
}
std::vector<int64_t> ts(const Scheduler& s) {
  auto t = s.timesteps().to(torch::kLong).contiguous();
  return {t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel()};
}
std::vector<int64_t> timesteps_of(const std::string& name, const nlohmann::json& config, int64_t n) {
  auto s = make_scheduler(name, config);
  s->set_timesteps(n);
  return ts(*s);
}
double ac(const Scheduler& s, int64_t t) { return s.alphas_cumprod()[t].item<double>(); }
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST(Schedulers, TimestepSpacings) {
  using V = std::vector<int64_t>;
  // leading: (0..n−1)·(T//n) + steps_offset
  EXPECT_EQ(timesteps_of("ddim", sd_config("leading"), 10), (V{901, 801, 701, 601, 501, 401, 301, 201, 101, 1}));
  // trailing: round(arange(T, 0, −T/n)) − 1, no offset
  EXPECT_EQ(timesteps_of("ddim", sd_config("trailing"), 10), (V{999, 899, 799, 699, 599, 499, 399, 299, 199, 99}));
  // 1000/3 = 333.33…: 1000, 666.67, 333.33 → 999, 666, 332
  EXPECT_EQ(timesteps_of("ddim", sd_config("trailing"), 3), (V{999, 666, 332}));
  // numpy's arange length is ceil(−1000/(−1000/61)) = 62 in float64: diffusers then has 62 timesteps, the
  // last round(≈0) − 1 = −1.
  const auto t61 = timesteps_of("ddim", sd_config("trailing"), 61);
  EXPECT_EQ(t61.size(), 62u);
  EXPECT_EQ(t61.back(), -1);
  EXPECT_EQ(timesteps_of("ddim", sd_config("trailing"), 60).size(), 60u);
  // linspace: round(linspace(0, 999, n)), no offset; halves round to even as numpy does
  EXPECT_EQ(timesteps_of("ddim", sd_config("linspace"), 4), (V{999, 666, 333, 0}));
  EXPECT_EQ(timesteps_of("ddim", sd_config("linspace"), 7), (V{999, 832, 666, 500, 333, 166, 0}));
  // Each class's own default when the key is absent: DDIM, DDPM, PNDM leading; DPM-Solver linspace.
  EXPECT_EQ(timesteps_of("ddim", sd_config(), 10).front(), 901);
  EXPECT_EQ(timesteps_of("ddpm", sd_config(), 10).front(), 901);
  EXPECT_EQ(timesteps_of("ddpm", sd_config("trailing"), 4), (V{999, 749, 499, 249}));
  // DPM-Solver: n+1 points with the last dropped. linspace(0, 999, 11) = 0, 99.9, …, 999.
  EXPECT_EQ(timesteps_of("dpm++2m", sd_config(), 10), (V{999, 899, 799, 699, 599, 500, 400, 300, 200, 100}));
  // leading: 1000 // 11 = 90 → 900, 810, …, 90 plus the offset
  EXPECT_EQ(timesteps_of("dpm++2m", sd_config("leading"), 10), (V{901, 811, 721, 631, 541, 451, 361, 271, 181, 91}));
  EXPECT_EQ(timesteps_of("dpm++2m", sd_config("trailing"), 5), (V{999, 799, 599, 399, 199}));
  // Euler's default spacing is linspace, fractional and float32.
  auto euler = make_scheduler("euler", sd_config());
  euler->set_timesteps(3);
  EXPECT_EQ(euler->timesteps().scalar_type(), torch::kFloat32);
  EXPECT_FLOAT_EQ(euler->timesteps()[0].item<float>(), 999.0f);
  EXPECT_FLOAT_EQ(euler->timesteps()[1].item<float>(), 499.5f);
  EXPECT_FLOAT_EQ(euler->timesteps()[2].item<float>(), 0.0f);
  auto euler_lead = make_scheduler("euler", sd_config("leading"));
  euler_lead->set_timesteps(4);  // 1000 // 4 = 250
  EXPECT_EQ(ts(*euler_lead), (V{751, 501, 251, 1}));
  EXPECT_THROW(make_scheduler("ddim", sd_config())->set_timesteps(1001), UsageError);
}

TEST(Schedulers, PndmTimesteps) {
  using V = std::vector<int64_t>;
  // PLMS only: the second-to-last base step repeats (the extra warm-up evaluation).
  EXPECT_EQ(timesteps_of("pndm", sd_config(), 10), (V{901, 801, 801, 701, 601, 501, 401, 301, 201, 101, 1}));
  // PRK (skip_prk_steps false, PNDM's own default): the last four base steps 601…901, each with its
  // midpoint +50, as 12 timesteps; then PLMS on 601 … 1.
  auto prk = sd_config();
  prk.erase("skip_prk_steps");
  EXPECT_EQ(timesteps_of("pndm", prk, 10), (V{901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601, 601, 501,
                                              401, 301, 201, 101, 1}));
  EXPECT_THROW(make_scheduler("pndm", prk)->set_timesteps(3), UsageError);
}

TEST(Schedulers, Betas) {
  auto s = make_scheduler("ddpm", sd_config());
  const double b0 = 0.00085, b1 = 0.012;
  auto scaled = [&](int i) { return std::pow(std::sqrt(b0) + (std::sqrt(b1) - std::sqrt(b0)) * i / 999, 2); };
  EXPECT_NEAR(s->betas()[500].item<double>(), scaled(500), 1e-7);
  double a = 1;
  for (int i = 0; i <= 10; ++i) a *= 1 - scaled(i);
  EXPECT_NEAR(ac(*s, 10), a, 1e-6);
  auto lin = make_scheduler("ddim", nlohmann::json::object());  // DDIM defaults: linear 1e-4 … 0.02
  EXPECT_NEAR(lin->betas()[999].item<double>(), 0.02, 1e-9);
  EXPECT_NEAR(lin->betas()[333].item<double>(), 1e-4 + (0.02 - 1e-4) * 333 / 999, 1e-8);
  // squaredcos_cap_v2: β_i = min(1 − ᾱ((i+1)/T)/ᾱ(i/T), 0.999), ᾱ(t) = cos²((t + 0.008)/1.008·π/2)
  auto cos_sched = make_scheduler("ddpm", {{"beta_schedule", "squaredcos_cap_v2"}});
  auto abar = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
  EXPECT_NEAR(cos_sched->betas()[0].item<double>(), 1 - abar(0.001) / abar(0), 1e-9);
  EXPECT_NEAR(cos_sched->betas()[999].item<double>(), 0.999, 1e-7);
  auto trained = make_scheduler("ddim", {{"num_train_timesteps", 3}, {"trained_betas", {0.1, 0.2, 0.3}}});
  EXPECT_NEAR(trained->alphas_cumprod()[2].item<double>(), 0.9 * 0.8 * 0.7, 1e-7);
}

TEST(Schedulers, ZeroTerminalSnr) {
  auto cfg = sd_config();
  cfg["rescale_betas_zero_snr"] = true;
  auto plain = make_scheduler("ddim", sd_config());
  auto ddim = make_scheduler("ddim", cfg);
  // Algorithm 1 of arXiv:2305.08891 keeps √ᾱ_0 and makes ᾱ_T = 0.
  EXPECT_NEAR(ac(*ddim, 0), ac(*plain, 0), 1e-6);
  EXPECT_NEAR(ac(*ddim, 999), 0.0, 1e-12);
  // Euler and DPM-Solver move ᾱ_T to 2⁻²⁴ so σ_max stays finite.
  auto euler = make_scheduler("euler", cfg);
  EXPECT_EQ(ac(*euler, 999), std::ldexp(1.0, -24));
  euler->set_timesteps(10);
  EXPECT_TRUE(std::isfinite(euler->init_noise_sigma()));
}

TEST(Schedulers, AddNoiseAndTrainingTargets) {
  auto cfg = sd_config();
  cfg["prediction_type"] = "v_prediction";
  auto s = make_scheduler("ddpm", cfg);
  auto x0 = torch::randn({2, 3, 4, 4}), eps = torch::randn({2, 3, 4, 4});
  auto t = torch::tensor({10, 700}, torch::kLong);
  auto noisy = s->add_noise(x0, eps, t);
  auto v = s->training_target(x0, eps, t);
  for (int i = 0; i < 2; ++i) {
    const double a = ac(*s, t[i].item<int64_t>());
    EXPECT_CLOSE(noisy[i], std::sqrt(a) * x0[i] + std::sqrt(1 - a) * eps[i], 1e-6, 0, "add_noise closed form");
    EXPECT_CLOSE(v[i], std::sqrt(a) * eps[i] - std::sqrt(1 - a) * x0[i], 1e-6, 0, "v target closed form");
  }
  EXPECT_TRUE(torch::equal(make_scheduler("ddpm", sd_config())->training_target(x0, eps, t), eps));
  cfg["prediction_type"] = "sample";
  EXPECT_TRUE(torch::equal(make_scheduler("ddpm", cfg)->training_target(x0, eps, t), x0));
  // img2img noising at step i: DDIM at ᾱ of timesteps()[i]; Euler x0 + σ_i·ε; DPM-Solver α_i·x0 + σ_i·ε.
  auto ddim = make_scheduler("ddim", sd_config());
  ddim->set_timesteps(10);
  const double a = ac(*ddim, 601);
  EXPECT_CLOSE(ddim->add_noise_at_step(x0, eps, 3), std::sqrt(a) * x0 + std::sqrt(1 - a) * eps, 1e-6, 0,
               "ddim add_noise_at_step");
  auto euler = make_scheduler("euler", sd_config());
  euler->set_timesteps(10);
  const double sigma = euler->sigmas()[3].item<double>();
  EXPECT_CLOSE(euler->add_noise_at_step(x0, eps, 3), x0 + sigma * eps, 1e-5, 0, "euler add_noise_at_step");
  auto dpm = make_scheduler("dpm++2m", sd_config());
  dpm->set_timesteps(10);  // timesteps()[3] = 699, an integer: σ is the training σ there
  const double a699 = ac(*dpm, 699);
  EXPECT_CLOSE(dpm->add_noise_at_step(x0, eps, 3), std::sqrt(a699) * x0 + std::sqrt(1 - a699) * eps, 1e-5, 0,
               "dpm++ add_noise_at_step");
}

TEST(Schedulers, DdimSteps) {
  auto x = torch::randn({1, 4, 3, 3}), out = torch::randn({1, 4, 3, 3});
  // v-prediction (eq. 12 with x0 = √a·x − √(1−a)·v, ε = √a·v + √(1−a)·x), t = 601 → 501.
  auto cfg = sd_config();
  cfg["prediction_type"] = "v_prediction";
  auto s = make_scheduler("ddim", cfg);
  s->set_timesteps(10);
  const double a = ac(*s, 601), ap = ac(*s, 501);
  auto x0 = std::sqrt(a) * x - std::sqrt(1 - a) * out;
  auto eps = std::sqrt(a) * out + std::sqrt(1 - a) * x;
  auto step = s->step(out, 3, x);
  EXPECT_CLOSE(step.pred_original_sample, x0, 1e-5, 0, "ddim v x0");
  EXPECT_CLOSE(step.prev_sample, std::sqrt(ap) * x0 + std::sqrt(1 - ap) * eps, 1e-5, 0, "ddim v prev_sample");
  // Last step (t = 1 → −99): set_alpha_to_one false uses ᾱ_0, true uses 1 (x_prev = x̂0).
  auto eps_s = make_scheduler("ddim", sd_config());
  eps_s->set_timesteps(10);
  const double a1 = ac(*eps_s, 1), a0 = ac(*eps_s, 0);
  auto x0_last = (x - std::sqrt(1 - a1) * out) / std::sqrt(a1);
  EXPECT_CLOSE(eps_s->step(out, 9, x).prev_sample, std::sqrt(a0) * x0_last + std::sqrt(1 - a0) * out, 1e-5, 0,
               "ddim last step to alpha_0");
  auto one = sd_config();
  one["set_alpha_to_one"] = true;
  auto to_one = make_scheduler("ddim", one);
  to_one->set_timesteps(10);
  EXPECT_CLOSE(to_one->step(out, 9, x).prev_sample, x0_last, 1e-5, 0, "ddim last step to alpha 1");
  // clip_sample (DDIM's default) clamps x̂0 to ±clip_sample_range.
  auto clip = make_scheduler("ddim", {{"beta_schedule", "scaled_linear"}, {"beta_start", 0.00085}, {"beta_end", 0.012},
                                      {"clip_sample_range", 0.5}});
  clip->set_timesteps(10);
  auto clipped = clip->step(out * 10, 0, x).pred_original_sample;
  EXPECT_LE(clipped.abs().max().item<double>(), 0.5);
  // eta = 1: σ_t = √((1−a_prev)/(1−a_t)·(1 − a_t/a_prev)), x_prev = √a_prev·x̂0 + √(1−a_prev−σ²)·ε + σ·z.
  auto stochastic = make_scheduler("ddim", sd_config(), 1.0);
  stochastic->set_timesteps(10);
  auto g1 = at::detail::createCPUGenerator(3), g2 = at::detail::createCPUGenerator(3);
  const double a_t = ac(*stochastic, 601), aprev = ac(*stochastic, 501);
  const double sig = std::sqrt((1 - aprev) / (1 - a_t) * (1 - a_t / aprev));
  auto x0e = (x - std::sqrt(1 - a_t) * out) / std::sqrt(a_t);
  auto z = torch::randn({1, 4, 3, 3}, g2);
  EXPECT_CLOSE(stochastic->step(out, 3, x, &g1).prev_sample,
               std::sqrt(aprev) * x0e + std::sqrt(1 - aprev - sig * sig) * out + sig * z, 1e-5, 0, "ddim eta=1 step");
  EXPECT_THROW(stochastic->step(out, 3, x), Error) << "eta > 0 needs a generator";
}

TEST(Schedulers, DdpmAncestralStep) {
  auto x = torch::randn({2, 4, 3, 3}), eps = torch::randn({2, 4, 3, 3});
  auto expected = [&](const Scheduler& s, int64_t t, int64_t prev_t, bool large, uint64_t seed) {
    const double a = ac(s, t), ap = ac(s, prev_t), alpha = a / ap, beta = 1 - alpha;
    auto x0 = (x - std::sqrt(1 - a) * eps) / std::sqrt(a);
    auto mu = std::sqrt(ap) * beta / (1 - a) * x0 + std::sqrt(alpha) * (1 - ap) / (1 - a) * x;  // eq. 7
    const double var = large ? beta : (1 - ap) / (1 - a) * beta;
    auto g = at::detail::createCPUGenerator(seed);
    return mu + std::sqrt(var) * torch::randn({2, 4, 3, 3}, g);
  };
  auto s = make_scheduler("ddpm", sd_config());
  s->set_timesteps(10);  // 901 … 1, step 2 is t = 701 → 601
  auto g = at::detail::createCPUGenerator(42);
  EXPECT_CLOSE(s->step(eps, 2, x, &g).prev_sample, expected(*s, 701, 601, false, 42), 1e-5, 0, "ddpm fixed_small");
  auto large_cfg = sd_config();
  large_cfg["variance_type"] = "fixed_large";
  auto large = make_scheduler("ddpm", large_cfg);
  large->set_timesteps(10);
  auto g2 = at::detail::createCPUGenerator(42);
  EXPECT_CLOSE(large->step(eps, 2, x, &g2).prev_sample, expected(*large, 701, 601, true, 42), 1e-5, 0,
               "ddpm fixed_large");
  // Same seed, same sample; another seed, another sample; no generator is an error.
  auto run = [&](uint64_t seed) {
    auto gen = at::detail::createCPUGenerator(seed);
    return s->step(eps, 2, x, &gen).prev_sample;
  };
  EXPECT_TRUE(torch::equal(run(7), run(7)));
  EXPECT_FALSE(torch::equal(run(7), run(8)));
  EXPECT_THROW(s->step(eps, 2, x), Error);
  // DDPM's default clip_sample = true clamps x̂0 to [−1, 1].
  auto clip = make_scheduler("ddpm", nlohmann::json::object());
  clip->set_timesteps(10);
  auto gen = at::detail::createCPUGenerator(0);
  EXPECT_LE(clip->step(eps * 50, 0, x, &gen).pred_original_sample.abs().max().item<double>(), 1.0);
}

TEST(Schedulers, EulerStep) {
  auto s = make_scheduler("euler", sd_config());
  s->set_timesteps(10);
  auto sig = s->sigmas();
  ASSERT_EQ(sig.size(0), 11);
  EXPECT_EQ(sig[10].item<float>(), 0.0f);
  // linspace: t_0 = 999 exactly, so σ_0 = √((1−ᾱ_999)/ᾱ_999) and init_noise_sigma = σ_0.
  const double a999 = ac(*s, 999);
  EXPECT_NEAR(sig[0].item<double>(), std::sqrt((1 - a999) / a999), 1e-5);
  EXPECT_NEAR(s->init_noise_sigma(), sig[0].item<double>(), 1e-6);
  auto x = torch::randn({1, 4, 3, 3}), eps = torch::randn({1, 4, 3, 3});
  const double s0 = sig[0].item<double>(), s1 = sig[1].item<double>();
  EXPECT_CLOSE(s->scale_model_input(x, 0), x / std::sqrt(s0 * s0 + 1), 1e-6, 0, "euler c_in");
  // ε-prediction: d = ε, so x_next = x + (σ_1 − σ_0)·ε.
  EXPECT_CLOSE(s->step(eps, 0, x).prev_sample, x + (s1 - s0) * eps, 1e-5, 0, "euler step closed form");
  // Like upstream, a step given a generator consumes one sample-sized draw (its discarded churn noise).
  auto g = at::detail::createCPUGenerator(5), fresh = at::detail::createCPUGenerator(5);
  s->step(eps, 0, x, &g);
  torch::randn({1, 4, 3, 3}, fresh);
  EXPECT_TRUE(torch::equal(torch::randn({4}, g), torch::randn({4}, fresh)));
  // Leading spacing: init_noise_sigma = √(σ_max² + 1).
  auto lead = make_scheduler("euler", sd_config("leading"));
  lead->set_timesteps(10);
  const double smax = lead->sigmas().max().item<double>();
  EXPECT_NEAR(lead->init_noise_sigma(), std::sqrt(smax * smax + 1), 1e-5);
  // final_sigmas_type sigma_min ends at σ(t = 0) instead of 0.
  auto cfg = sd_config();
  cfg["final_sigmas_type"] = "sigma_min";
  auto smin = make_scheduler("euler", cfg);
  smin->set_timesteps(10);
  const double a0 = ac(*smin, 0);
  EXPECT_NEAR(smin->sigmas()[10].item<double>(), std::sqrt((1 - a0) / a0), 1e-7);
}

TEST(Schedulers, DpmSolverPlusPlus) {
  // DPM-Solver++(1) is DDIM (arXiv:2211.01095 §4): the first step from t = 999 to 899 equals
  // √ᾱ_899·x̂0 + √(1−ᾱ_899)·ε with x̂0 = (x − √(1−ᾱ_999)·ε)/√ᾱ_999.
  auto s = make_scheduler("dpm++2m", sd_config());
  s->set_timesteps(10);
  EXPECT_EQ(s->sigmas().size(0), 11);
  auto x = torch::randn({1, 4, 3, 3}), e0 = torch::randn({1, 4, 3, 3}), e1 = torch::randn({1, 4, 3, 3});
  const double a0 = ac(*s, 999), a1 = ac(*s, 899), a2 = ac(*s, 799);
  auto d0 = (x - std::sqrt(1 - a0) * e0) / std::sqrt(a0);
  auto x1 = std::sqrt(a1) * d0 + std::sqrt(1 - a1) * e0;
  EXPECT_CLOSE(s->step(e0, 0, x).prev_sample, x1, 1e-5, 0, "dpm++ first order = ddim");
  // Second order (2M midpoint): with λ = log(α/σ), h = λ_2 − λ_1, r = (λ_1 − λ_0)/h,
  // x_2 = (σ_2/σ_1)·x_1 − α_2(e^{−h} − 1)·(D1 + (D1 − D0)/(2r)).
  auto d1 = (x1 - std::sqrt(1 - a1) * e1) / std::sqrt(a1);
  auto lam = [](double a) { return 0.5 * std::log(a / (1 - a)); };
  const double h = lam(a2) - lam(a1), r = (lam(a1) - lam(a0)) / h;
  auto x2 = std::sqrt((1 - a2) / (1 - a1)) * x1 - std::sqrt(a2) * (std::exp(-h) - 1) * (d1 + (d1 - d0) / (2 * r));
  EXPECT_CLOSE(s->step(e1, 1, x1).prev_sample, x2, 1e-5, 0, "dpm++ 2M step");
  // The last step (σ_final = 0) is first order and lands on x̂0.
  auto x8 = torch::randn({1, 4, 3, 3});
  const double a100 = ac(*s, 100);
  for (int i = 2; i < 9; ++i) s->step(e0, i, x8);
  EXPECT_CLOSE(s->step(e0, 9, x8).prev_sample, (x8 - std::sqrt(1 - a100) * e0) / std::sqrt(a100), 1e-5, 0,
               "dpm++ final step = x0");
}

TEST(Schedulers, PndmMatchesDdimTransfer) {
  // φ of PNDM eq. (9) is DDIM's deterministic transfer, and with a constant ε every PLMS / PRK combination
  // of ε's is ε again: so each PNDM step must equal the DDIM step between the same timesteps.
  auto x = torch::randn({1, 4, 3, 3}), eps = torch::randn({1, 4, 3, 3});
  auto ddim_to = [&](const Scheduler& s, const torch::Tensor& xt, int64_t t, int64_t prev) {
    const double a = ac(s, t), ap = ac(s, prev);
    return std::sqrt(ap) * (xt - std::sqrt(1 - a) * eps) / std::sqrt(a) + std::sqrt(1 - ap) * eps;
  };
  auto plms = make_scheduler("pndm", sd_config());
  plms->set_timesteps(10);  // 901, 801, 801, 701, …
  auto x1 = plms->step(eps, 0, x).prev_sample;
  EXPECT_CLOSE(x1, ddim_to(*plms, x, 901, 801), 1e-5, 0, "plms step 0");
  // Step 1 re-evaluates at 801 but restarts from x_901 with the averaged ε.
  EXPECT_CLOSE(plms->step(eps, 1, x1).prev_sample, ddim_to(*plms, x, 901, 801), 1e-5, 0, "plms step 1");
  EXPECT_CLOSE(plms->step(eps, 2, x1).prev_sample, ddim_to(*plms, x1, 801, 701), 1e-5, 0, "plms step 2");
  auto cfg = sd_config();
  cfg["skip_prk_steps"] = false;
  auto prk = make_scheduler("pndm", cfg);
  prk->set_timesteps(10);  // 901, 851, 851, 801, …
  auto half = prk->step(eps, 0, x).prev_sample;
  EXPECT_CLOSE(half, ddim_to(*prk, x, 901, 851), 1e-5, 0, "prk step 0 (to the midpoint)");
  prk->step(eps, 1, half);
  prk->step(eps, 2, half);
  EXPECT_CLOSE(prk->step(eps, 3, half).prev_sample, ddim_to(*prk, x, 901, 801), 1e-5, 0, "prk full step");
}

TEST(Schedulers, DynamicThresholding) {
  // |x| = 0.5, 3, 1.5, 4: the 0.75-quantile (linear) is 3.25.
  auto x = torch::tensor({0.5f, -3.0f, 1.5f, 4.0f}).view({1, 1, 2, 2});
  EXPECT_CLOSE(threshold_sample(x, 0.75, 2.0), torch::tensor({0.25f, -1.0f, 0.75f, 1.0f}).view({1, 1, 2, 2}), 1e-7, 0,
               "threshold s clamped to sample_max_value 2");
  EXPECT_CLOSE(threshold_sample(x, 0.75, 10.0),
               torch::tensor({0.5f / 3.25f, -3.0f / 3.25f, 1.5f / 3.25f, 1.0f}).view({1, 1, 2, 2}), 1e-7, 0,
               "threshold s = quantile");
  // s is clamped below at 1: small samples pass unchanged.
  auto small = torch::tensor({0.1f, -0.2f}).view({1, 2, 1, 1});
  EXPECT_TRUE(torch::equal(threshold_sample(small, 0.995, 1.0), small));
}

TEST(Schedulers, ConfigsAndErrors) {
  const std::string unknown = error_of([] { make_scheduler("lms", sd_config()); });
  EXPECT_NE(unknown.find("'lms'"), std::string::npos) << unknown;
  for (const auto& name : scheduler_names()) EXPECT_NE(unknown.find(name), std::string::npos) << unknown;
  EXPECT_THROW(make_scheduler("lms", sd_config()), UsageError);
  EXPECT_THROW(make_scheduler("euler", sd_config(), 0.5), UsageError);
  // Bad values and types name the key.
  auto bad = sd_config();
  bad["timestep_spacing"] = "sideways";
  EXPECT_NE(error_of([&] { make_scheduler("ddim", bad); }).find("timestep_spacing"), std::string::npos);
  bad = sd_config();
  bad["steps_offset"] = "one";
  EXPECT_NE(error_of([&] { make_scheduler("ddim", bad); }).find("'steps_offset'"), std::string::npos);
  bad = sd_config();
  bad["use_karras_sigmas"] = true;
  EXPECT_NE(error_of([&] { make_scheduler("dpm++2m", bad); }).find("use_karras_sigmas"), std::string::npos);
  // …but a key the class does not take is ignored, as from_config does (DDIM has no use_karras_sigmas).
  EXPECT_NO_THROW(make_scheduler("ddim", bad));
  // load_scheduler: missing file names the path; Python's bare -Infinity parses.
  const auto dir = test::temp_dir("schedulers_config");
  EXPECT_NE(error_of([&] { load_scheduler("ddim", dir); }).find("scheduler_config.json"), std::string::npos);
  std::ofstream(dir / "scheduler_config.json")
      << R"({"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "variance_type": null,)"
      << R"( "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "note": "NaN stays text"})";
  auto loaded = load_scheduler("dpm++2m", dir);
  EXPECT_TRUE(std::isinf(loaded->config().lambda_min_clipped));
  loaded->set_timesteps(10);
  EXPECT_EQ(ts(*loaded).front(), 999);
  std::ofstream(dir / "scheduler_config.json") << "{ not json";
  EXPECT_NE(error_of([&] { load_scheduler("ddim", dir); }).find("not valid JSON"), std::string::npos);
}
