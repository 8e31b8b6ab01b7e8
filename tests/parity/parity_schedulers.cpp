// Schedulers against diffusers 0.29.2 (reference/scheduler_*.safetensors): arrays and steps ≤ 1e-6,
// timesteps exact; each built from the model's PNDM config the way from_config does.
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
  EXPECT_NEAR(s->init_noise_sigma(), r.at("init_noise_sigma").item<double>(), 1e-6);
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
