// ms per denoising step (UNet with classifier-free guidance + scheduler step) on the golden tiny model,
// batch 1 and 4. Google Benchmark reports time per step and items (images) per second; compare runs
// as ratios (batch-4 images/s over batch-1 images/s, or against a reference machine), never as absolutes.
#include <benchmark/benchmark.h>

#include "core/runtime.h"
#include "pipeline/model_loader.h"
#include "pipeline/stable_diffusion.h"
#include "schedulers/scheduler.h"

using namespace sculpt;

namespace {

StableDiffusion& model() {
  static StableDiffusion sd = [] {
    configure_threads(0);
    return load_stable_diffusion(std::string(SCULPT_GOLDEN_DIR) + "/tiny-sd/model");
  }();
  return sd;
}

void BM_DenoiseStep(benchmark::State& state) {
  auto& sd = model();
  torch::NoGradGuard no_grad;
  const int64_t batch = state.range(0);
  auto cond = encode_prompts(sd, std::vector<std::string>(batch, "a photo of a cat"));
  auto uncond = encode_prompts(sd, std::vector<std::string>(batch, ""));
  auto scheduler = make_scheduler("ddim", sd.scheduler_config);
  scheduler->set_timesteps(25);
  auto x = torch::randn({batch, 4, 16, 16});
  int64_t i = 0;
  for (auto _ : state) {
    auto t = scheduler->timesteps()[i % 25];
    auto eps = guided_noise_pred(sd, x, t, cond, uncond, 7.5);
    benchmark::DoNotOptimize(scheduler->step(eps, i % 25, x).prev_sample);
    ++i;
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

}  // namespace

BENCHMARK(BM_DenoiseStep)->Arg(1)->Arg(4)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK_MAIN();
