// ToyWorld speed on this machine: images/s of generation with the built-in model (DDIM 25 steps, CFG,
// batch 32) and training steps/s of every model the build trains, at the full preset's sizes and batch
// sizes (a `toyworld build --max-steps 30` run into a temporary folder: the real code path, 30 steps per
// stage, so the first slower steps are included). Report ratios between machines, not absolutes.
#include <benchmark/benchmark.h>

#include <filesystem>

#include "core/runtime.h"
#include "eval/sampling.h"
#include "pipeline/model_loader.h"
#include "toyworld/build.h"

using namespace sculpt;

namespace {

void BM_GenerateBuiltin(benchmark::State& state) {
  configure_threads(0);
  auto sd = load_stable_diffusion("");
  SampleSettings s;
  s.batch_size = state.range(0);
  s.progress = false;
  const std::vector<std::string> prompts(s.batch_size, "a red star on a striped background, filled");
  std::vector<int64_t> seeds(s.batch_size);
  int64_t next = 0;
  for (auto _ : state) {
    for (auto& seed : seeds) seed = next++;
    benchmark::DoNotOptimize(sample_images(sd, prompts, seeds, s));
  }
  state.SetItemsProcessed(state.iterations() * s.batch_size);  // items_per_second = images/s
}

void BM_BuildStages(benchmark::State& state) {
  configure_threads(0);
  const auto dir = std::filesystem::temp_directory_path() / "sculpt_bench_toyworld";
  nlohmann::json summary;
  for (auto _ : state) {
    std::filesystem::remove_all(dir);
    toyworld::ToyWorldBuildConfig c;
    c.out = dir;
    c.max_steps = 30;
    c.progress = false;
    summary = toyworld::toyworld_build(c);
  }
  for (const char* stage : {"toyclip", "vae", "unet", "judge"})
    state.counters[std::string(stage) + "_steps_per_s"] = 30.0 / summary["stages"][stage]["seconds"].get<double>();
  const auto& unet = summary["stages"]["unet"];
  const double encode_s = unet["wall_seconds"].get<double>() - unet["seconds"].get<double>();
  state.counters["latent_images_per_s"] = 16.0 * 32 / encode_s;  // max_steps caps the cache at 16 batches
  std::filesystem::remove_all(dir);
}

}  // namespace

BENCHMARK(BM_GenerateBuiltin)->Arg(32)->Unit(benchmark::kSecond)->MinTime(5.0);
BENCHMARK(BM_BuildStages)->Unit(benchmark::kSecond)->Iterations(1);
BENCHMARK_MAIN();
