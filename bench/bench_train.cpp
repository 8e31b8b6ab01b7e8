// Training steps/s and memory for full fine-tuning vs LoRA on the golden tiny model (CPU), batch 4.
// Each benchmark loads its own model; "params" counts the trained scalars and "grad_state_MB" the memory
// the optimizer state (Adam: 2 tensors per parameter) and gradients need, which is where LoRA saves.
// Peak process memory (VmHWM) is reported once at the end, for the whole run. Compare as ratios.
#include <benchmark/benchmark.h>

#include <fstream>
#include <iostream>

#include "core/runtime.h"
#include "pipeline/model_loader.h"
#include "pipeline/stable_diffusion.h"
#include "schedulers/scheduler.h"
#include "train/finetune.h"
#include "train/lora.h"
#include "train/optimizer.h"
#include "train/param_select.h"
#include "train/train_loop.h"

using namespace sculpt;

namespace {

void run_steps(benchmark::State& state, bool lora) {
  configure_threads(0);
  auto sd = load_stable_diffusion(std::string(SCULPT_GOLDEN_DIR) + "/tiny-sd/model");
  std::vector<torch::Tensor> params;
  LoraNetwork net;
  if (lora) {
    freeze_all(sd);
    LoraConfig cfg;
    cfg.rank = 4;
    net = LoraNetwork::inject(sd, cfg, train_generator(0, 0));
    params = net.parameters();
  } else {
    for (auto& p : select_trainable(sd, {{"unet-all"}, {}, {}})) params.push_back(p.param);
  }
  int64_t count = 0;
  for (const auto& p : params) count += p.numel();
  Optimizer opt(params, OptimizerConfig{});
  const auto schedule = make_scheduler("ddpm", sd.scheduler_config);
  torch::Tensor emb;
  {
    torch::NoGradGuard no_grad;
    emb = encode_prompts(sd, std::vector<std::string>(4, "a photo of a cat"));
  }
  const auto& c = sd.unet->config;
  int64_t step = 0;
  for (auto _ : state) {
    auto gen = train_generator(1, step++);
    if (lora) net.refresh(true, &gen);
    opt.zero_grad();
    auto z = torch::randn({4, c.in_channels, c.sample_size, c.sample_size}, gen);
    diffusion_loss(sd, *schedule, z, emb, gen).backward();
    opt.step(1e-4);
  }
  state.counters["params"] = static_cast<double>(count);
  state.counters["grad_state_MB"] = static_cast<double>(count) * 4 * 3 / 1e6;  // grad + exp_avg + exp_avg_sq
  state.SetItemsProcessed(state.iterations());
}

void BM_TrainStepFull(benchmark::State& state) { run_steps(state, false); }
void BM_TrainStepLora(benchmark::State& state) { run_steps(state, true); }

}  // namespace

BENCHMARK(BM_TrainStepFull)->Unit(benchmark::kMillisecond)->MinTime(3.0);
BENCHMARK(BM_TrainStepLora)->Unit(benchmark::kMillisecond)->MinTime(3.0);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  std::cout << "peak process memory " << sculpt::peak_memory_mb() << " MB\n";
  benchmark::Shutdown();
}
