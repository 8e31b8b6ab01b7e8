// The training loop every method reuses: gradient accumulation, clipping, the lr schedule, EMA, a
// progress bar with ETA, a JSONL log, periodic checkpoints, --resume, and a stop on a non-finite loss.
//
// Determinism: the loss function gets a generator seeded from (seed, step, micro-step) alone, so data
// order, noise and timesteps are fixed by the seed, and a run resumed from a checkpoint draws exactly
// what the uninterrupted run drew: on CPU both end bit-identical.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "train/optimizer.h"
#include "train/param_select.h"

namespace sculpt {

struct TrainLoopConfig {
  int64_t steps = 100;          // optimizer steps
  int64_t grad_accum = 1;       // micro-batches per optimizer step
  OptimizerConfig optimizer;
  ScheduleConfig schedule;      // total_steps defaults to `steps`
  double max_grad_norm = 1.0;   // 0 turns clipping off
  double ema_decay = 0;         // 0 turns EMA off
  int64_t seed = 0;
  int64_t save_every = 0;       // checkpoint every N steps (0: only at the end and on a NaN stop)
  int64_t keep_checkpoints = 2;
  bool final_checkpoint = true;  // also checkpoint the finished run (false: outputs are written separately)
  std::filesystem::path out_dir;  // checkpoints/ and train_log.jsonl go here (empty: no files)
  bool resume = false;          // continue from the newest checkpoint in out_dir/checkpoints
  bool progress = true;
  std::string label = "train";
};

struct TrainContext {
  int64_t step;   // optimizer step, 0-based
  int64_t micro;  // micro-batch within the step
  torch::Generator& gen;
};

// Returns the scalar loss of one micro-batch (the loop divides by grad_accum) and may add named numbers
// to `logs` for the JSONL line.
using LossFn = std::function<torch::Tensor(TrainContext& ctx, nlohmann::json& logs)>;

struct TrainResult {
  int64_t steps_done = 0;
  int64_t resumed_from = 0;
  double first_loss = 0, last_loss = 0;  // means over the first / last 10% of the steps run here
  double seconds = 0;
  std::filesystem::path last_checkpoint;
};

// A generator for (seed, a, b): splitmix64 of the three, so streams never overlap in practice.
torch::Generator train_generator(int64_t seed, int64_t a, int64_t b = 0);

class TrainLoop {
 public:
  // params: the tensors to optimize (a model's selected parameters or LoRA A/B), named for checkpoints.
  TrainLoop(TrainLoopConfig config, std::vector<NamedParam> params);
  TrainResult run(const LossFn& loss_fn);

  // Called before every forward (e.g. LoRA refresh) with the step's generator.
  std::function<void(TrainContext&)> before_step;
  // Copies the EMA weights into the parameters (call after run() to export EMA weights).
  void apply_ema();

 private:
  std::filesystem::path checkpoint_dir() const;
  std::filesystem::path save_checkpoint(int64_t steps_done);
  int64_t load_latest_checkpoint();

  TrainLoopConfig config_;
  std::vector<NamedParam> params_;
  std::vector<torch::Tensor> tensors_;
  Optimizer optimizer_;
  std::optional<EmaWeights> ema_;
};

}  // namespace sculpt
