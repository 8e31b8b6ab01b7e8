// Schedulers against diffusers 0.29.2 (reference/scheduler_*.safetensors, scheduler_configs.json and the
// pipeline runs' latents): arrays and steps ≤ 1e-6, timesteps exact; each built from the model's PNDM config
// the way from_config does.
#include <gtest/gtest.h>

#include <fstream>

#include "io/safetensors.h"
#include "schedulers/scheduler.h"
#include "support.h"

using namespace sculpt;

namespace {
nlohmann::json model_config() {
  std::ifstream in(test::golden("tiny-sd/model/scheduler/scheduler_config.json"));
  return nlohmann::json::parse(in);
}
TensorMap ref(const std::string& name) { return read_safetensors(test::golden("tiny-sd/reference/" + name)); }
}  // namespace

TEST(SchedulerParity, Ddim) {
  auto r = ref("scheduler_ddim.safetensors");
  auto s = make_scheduler("ddim", model_config());
  s->set_timesteps(10);
  EXPECT_TRUE(torch::equal(s->timesteps(), r.at("timesteps"))) << s->timesteps();
  EXPECT_CLOSE(s->alphas_cumprod(), r.at("alphas_cumprod"), 1e-6, 0, "ddim alphas_cumprod");
  EXPECT_CLOSE(s->betas(), r.at("betas"), 1e-6, 0, "ddim betas");
  const int64_t idx = 3;
  ASSERT_EQ(s->timesteps()[idx].item<int64_t>(), r.at("step_timestep").item<int64_t>());
  auto out = s->step(r.at("model_output"), idx, r.at("sample"));
  EXPECT_CLOSE(out.prev_sample, r.at("prev_sample"), 1e-6, 0, "ddim step prev_sample");
  EXPECT_CLOSE(out.pred_original_sample, r.at("pred_original_sample"), 1e-6, 0, "ddim step pred_original_sample");
  EXPECT_CLOSE(s->add_noise(r.at("sample"), r.at("noise"), r.at("add_noise_timesteps")), r.at("noisy_sample"), 1e-6, 0,
               "ddim add_noise");
}

TEST(SchedulerParity, Euler) {
  auto r = ref("scheduler_euler.safetensors");
  auto s = make_scheduler("euler", model_config());
  s->set_timesteps(10);
  EXPECT_CLOSE(s->timesteps(), r.at("timesteps"), 0, 0, "euler timesteps (exact)");
  EXPECT_CLOSE(s->sigmas(), r.at("sigmas"), 1e-6, 0, "euler sigmas");
  EXPECT_CLOSE(torch::tensor({static_cast<float>(s->init_noise_sigma())}), r.at("init_noise_sigma"), 1e-6, 0,
               "euler init_noise_sigma");
  EXPECT_CLOSE(s->scale_model_input(r.at("sample"), 0), r.at("scaled_input_0"), 1e-6, 0, "euler scaled input 0");
  auto p0 = s->step(r.at("model_output"), 0, r.at("sample")).prev_sample;
  EXPECT_CLOSE(p0, r.at("prev_sample_0"), 1e-6, 0, "euler step 0");
  EXPECT_CLOSE(s->scale_model_input(r.at("prev_sample_0"), 1), r.at("scaled_input_1"), 1e-6, 0, "euler scaled input 1");
  auto p1 = s->step(r.at("model_output_1"), 1, r.at("prev_sample_0")).prev_sample;
  EXPECT_CLOSE(p1, r.at("prev_sample_1"), 1e-6, 0, "euler step 1");
}

TEST(SchedulerParity, DpmPlusPlus2M) {
  auto r = ref("scheduler_dpmpp.safetensors");
  auto s = make_scheduler("dpm++2m", model_config());
  s->set_timesteps(10);
  EXPECT_TRUE(torch::equal(s->timesteps(), r.at("timesteps"))) << s->timesteps();
  EXPECT_CLOSE(s->sigmas(), r.at("sigmas"), 1e-6, 0, "dpm++ sigmas");
  auto x = r.at("sample");
  for (int i = 0; i < 3; ++i) {
    x = s->step(r.at("model_output_" + std::to_string(i)), i, x).prev_sample;
    EXPECT_CLOSE(x, r.at("prev_sample_" + std::to_string(i)), 1e-6, 0, "dpm++ step " + std::to_string(i));
    x = r.at("prev_sample_" + std::to_string(i));  // continue from the reference, so a failure names its step
  }
}

TEST(SchedulerParity, PndmTimesteps) {
  auto r = ref("scheduler_pndm.safetensors");
  auto s = make_scheduler("pndm", model_config());
  s->set_timesteps(10);
  EXPECT_TRUE(torch::equal(s->timesteps(), r.at("timesteps"))) << s->timesteps();
}

TEST(SchedulerParity, PipelineTimesteps) {
  for (auto [file, name] : {std::pair{"pipeline_ddim.safetensors", "ddim"}, std::pair{"pipeline_euler.safetensors", "euler"},
                            std::pair{"pipeline_dpmpp.safetensors", "dpm++2m"}}) {
    auto s = make_scheduler(name, model_config());
    s->set_timesteps(10);
    EXPECT_CLOSE(s->timesteps(), ref(file).at("timesteps"), 0, 0, std::string(name) + " pipeline timesteps (exact)");
  }
}

// scheduler_configs.json holds each class's effective config after from_config (every key explicit, including
// lambda_min_clipped = -Infinity): building from it must give the golden timesteps, and the defaults sculpt
// fills in for keys missing from the model config must equal the effective values.
TEST(SchedulerParity, EffectiveConfigs) {
  const auto effective = read_scheduler_config(test::golden("tiny-sd/reference/scheduler_configs.json"));
  struct Case {
    const char *key, *name, *cls, *file;
  };
  for (const auto& c : {Case{"ddim", "ddim", "DDIMScheduler", "scheduler_ddim.safetensors"},
                        Case{"euler", "euler", "EulerDiscreteScheduler", "scheduler_euler.safetensors"},
                        Case{"dpmpp", "dpm++2m", "DPMSolverMultistepScheduler", "scheduler_dpmpp.safetensors"},
                        Case{"pndm", "pndm", "PNDMScheduler", "scheduler_pndm.safetensors"}}) {
    SCOPED_TRACE(c.key);
    const auto& cfg = effective.at(c.key);
    ASSERT_EQ(cfg.at("_class_name").get<std::string>(), c.cls);
    auto s = make_scheduler(c.name, cfg);
    s->set_timesteps(10);
    EXPECT_CLOSE(s->timesteps().to(torch::kFloat64), ref(c.file).at("timesteps").to(torch::kFloat64), 0, 0,
                 std::string(c.key) + " timesteps from the effective config (exact)");
    const auto mine = NoiseScheduleConfig::from_json(c.cls, model_config());
    const auto theirs = NoiseScheduleConfig::from_json(c.cls, cfg);
    EXPECT_EQ(mine.timestep_spacing, cfg.at("timestep_spacing").get<std::string>());
    EXPECT_EQ(mine.timestep_spacing, theirs.timestep_spacing);
    EXPECT_EQ(mine.steps_offset, theirs.steps_offset);
    EXPECT_EQ(mine.set_alpha_to_one, theirs.set_alpha_to_one);
    EXPECT_EQ(mine.clip_sample, theirs.clip_sample);
    EXPECT_EQ(mine.clip_sample_range, theirs.clip_sample_range);
    EXPECT_EQ(mine.thresholding, theirs.thresholding);
    EXPECT_EQ(mine.rescale_betas_zero_snr, theirs.rescale_betas_zero_snr);
    EXPECT_EQ(mine.skip_prk_steps, theirs.skip_prk_steps);
    EXPECT_EQ(mine.interpolation_type, theirs.interpolation_type);
    EXPECT_EQ(mine.timestep_type, theirs.timestep_type);
    EXPECT_EQ(mine.final_sigmas_type, theirs.final_sigmas_type);
    EXPECT_EQ(mine.use_karras_sigmas, theirs.use_karras_sigmas);
    EXPECT_EQ(mine.algorithm_type, theirs.algorithm_type);
    EXPECT_EQ(mine.solver_order, theirs.solver_order);
    EXPECT_EQ(mine.solver_type, theirs.solver_type);
    EXPECT_EQ(mine.lower_order_final, theirs.lower_order_final);
    EXPECT_EQ(mine.euler_at_final, theirs.euler_at_final);
    EXPECT_EQ(mine.lambda_min_clipped, theirs.lambda_min_clipped);
    EXPECT_EQ(mine.variance_type, theirs.variance_type);
  }
}

// The three pipeline runs, scheduler side only: from the reference UNet outputs, classifier-free guidance
// (scale 7.5) and step() must reproduce every step's latents, and scale_model_input the UNet inputs.
TEST(SchedulerParity, PipelineDenoisingLoops) {
  for (auto [file, name] : {std::pair{"pipeline_ddim.safetensors", "ddim"}, std::pair{"pipeline_euler.safetensors", "euler"},
                            std::pair{"pipeline_dpmpp.safetensors", "dpm++2m"}}) {
    auto r = ref(file);
    auto s = make_scheduler(name, model_config());
    s->set_timesteps(10);
    ASSERT_EQ(s->num_steps(), r.at("step_latents").size(0));
    auto latents = r.at("init_latents") * s->init_noise_sigma();
    double worst_input = 0, worst_step = 0;
    for (int64_t i = 0; i < s->num_steps(); ++i) {
      auto unet_in = s->scale_model_input(torch::cat({latents, latents}), i);
      auto chunks = r.at("unet_outputs")[i].chunk(2);
      auto guided = chunks[0] + 7.5 * (chunks[1] - chunks[0]);
      auto next = s->step(guided, i, latents).prev_sample;
      worst_input = std::max(worst_input, (unet_in - r.at("unet_inputs")[i]).abs().max().item<double>());
      worst_step = std::max(worst_step, (next - r.at("step_latents")[i]).abs().max().item<double>());
      latents = r.at("step_latents")[i];  // continue from the reference so each step is judged alone
    }
    std::printf("[ parity   ] %s loop: max|diff| unet inputs %.3g, step latents %.3g\n", name, worst_input, worst_step);
    EXPECT_LE(worst_input, 1e-6) << name;
    EXPECT_LE(worst_step, 1e-6) << name;
  }
}
