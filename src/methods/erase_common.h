// What the erasure methods share: the frozen copy of the original UNet, predictions as ε whatever the
// model's prediction type, trajectory samples of x_t (methods.md §1.4) with an optional cache, prompt
// embeddings, and the outcome a method hands back to erase_run().
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "methods/erase.h"
#include "pipeline/model_loader.h"
#include "schedulers/scheduler.h"
#include "train/lora.h"
#include "train/train_loop.h"

namespace sculpt {

// A copy of `unet` with its own weights, in eval mode, every parameter requires_grad = false.
UNet2DConditionModel unet_frozen_copy(UNet2DConditionModel& unet);

// The UNet's output at (x_t, t) as an ε prediction: v → √(1−ᾱ_t)·x_t + √ᾱ_t·v; sample (x₀) →
// (x_t − √ᾱ_t·x₀)/√(1−ᾱ_t); ε unchanged. t: int64 [B] or 0-d.
torch::Tensor as_epsilon(const Scheduler& schedule, const torch::Tensor& output, const torch::Tensor& x_t,
                         const torch::Tensor& t);

// The clean-latent estimate x̂₀ = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t of a UNet output (any prediction type).
torch::Tensor predicted_x0(const Scheduler& schedule, const torch::Tensor& output, const torch::Tensor& x_t,
                           const torch::Tensor& t);

// ε predictions of `unet` for one batch of latents under several prompt embeddings in one forward:
// returns one [B, C, h, w] tensor per embedding in `embs` (each [1, L, D] or [B, L, D]).
std::vector<torch::Tensor> epsilon_batched(UNet2DConditionModel& unet, const Scheduler& schedule,
                                           const torch::Tensor& x_t, const torch::Tensor& t,
                                           const std::vector<torch::Tensor>& embs);

// Text embeddings of one prompt, [1, L, D], no gradients.
torch::Tensor prompt_embedding(StableDiffusion& sd, const std::string& prompt);

// x_t from DDIM trajectories (methods.md §1.4): x_T ~ N(0, I), then k ~ U{0..K−1} DDIM steps (eta 0) with
// classifier-free guidance on `cond`, no gradients; t = timesteps[k]. With a pool size > 0 the first
// draw for a concept runs `pool` whole trajectories once and later draws pick (trajectory, k) from them.
struct TrajectoryBatch {
  torch::Tensor x_t;  // [B, C, h, w]
  torch::Tensor t;    // int64 [B]: the timestep of the reached noise level
  torch::Tensor k;    // int64 [B]: DDIM steps taken
};
class TrajectorySampler {
 public:
  TrajectorySampler(const nlohmann::json& scheduler_config, int64_t steps, double guidance,
                    std::vector<int64_t> latent_shape, int64_t pool = 0);
  TrajectoryBatch draw(UNet2DConditionModel& unet, int64_t concept, const torch::Tensor& cond,
                       const torch::Tensor& uncond, int64_t batch, torch::Generator& gen);
  const Scheduler& ddim() const { return *ddim_; }
  int64_t steps() const { return steps_; }
  int64_t unet_forwards() const { return forwards_; }  // UNet batch-forwards spent so far (for benchmarks)

 private:
  torch::Tensor run(UNet2DConditionModel& unet, const torch::Tensor& x_T, const torch::Tensor& cond,
                    const torch::Tensor& uncond, const torch::Tensor& k, bool keep_all);
  std::unique_ptr<Scheduler> ddim_;
  int64_t steps_, pool_, forwards_ = 0;
  double guidance_;
  std::vector<int64_t> shape_;
  std::map<int64_t, torch::Tensor> cache_;  // concept → [pool, K, C, h, w]
};

// Anchor data of Ablating Concepts and DoCo (methods.md §4, §6): captions naming the anchor (ToyWorld:
// the captions' templates on scenes showing it; otherwise "a photo of a {anchor}"-style templates), the
// same captions with the anchor replaced by the concept, the original model's images for the anchor
// captions (DDIM 20 / CFG 5 at ToyWorld scale, DDIM 50 / CFG 7.5 otherwise) as latents, and both
// prompt sets' embeddings. Call before the model changes.
struct AnchorSet {
  std::vector<std::string> anchor_prompts, target_prompts;
  torch::Tensor latents;                // [n, C, h, w], scaled
  torch::Tensor anchor_emb, target_emb;  // [n, L, D]
};
AnchorSet anchor_set(StableDiffusion& sd, const std::string& concept, const std::string& anchor, int64_t n,
                     int64_t seed, bool progress);

// A batch of anchor latents to forward-noise (AC, DoCo): rows ~ U{0..n−1}, then ε ~ N(0, I), then
// t ~ U{0..T−1}, drawn from gen in that order.
struct AnchorBatch {
  torch::Tensor rows, z0, noise, t;
};
AnchorBatch anchor_batch(const AnchorSet& anchors, int64_t batch, int64_t train_timesteps, torch::Generator& gen);

// ToyWorld scale, latents of at most 16×16: methods.md's ToyWorld defaults and prompt sets apply.
bool toy_scale(const StableDiffusion& sd);

// What ESD and All-but-One set up alike: the frozen copy (call before LoRA layers are injected), the
// DDPM schedule, the embeddings of "" and of each concept, and the trajectory sampler with c's K, CFG and
// cache.
struct TrajectorySetup {
  UNet2DConditionModel frozen{nullptr};
  std::unique_ptr<Scheduler> schedule;
  torch::Tensor uncond;
  std::vector<torch::Tensor> concepts;
  std::unique_ptr<TrajectorySampler> sampler;
};
TrajectorySetup trajectory_setup(StableDiffusion& sd, const EraseConfig& c);

// What a method did to the model (in place).
struct EditOutcome {
  std::vector<std::string> changed;  // component-prefixed names of the parameters it changed
  std::shared_ptr<LoraNetwork> lora;  // set when it trained LoRA layers instead (--lora-rank)
  int64_t trained_parameters = 0;
  int64_t steps = 0;
  double first_loss = 0, last_loss = 0;
  nlohmann::json extra = nlohmann::json::object();  // method-specific numbers for the summary
};

// The methods (config already resolved by erase_defaults()).
EditOutcome esd_erase(StableDiffusion& sd, const EraseConfig& c);
EditOutcome uce_erase(StableDiffusion& sd, const EraseConfig& c);
EditOutcome ac_erase(StableDiffusion& sd, const EraseConfig& c);
EditOutcome abo_erase(StableDiffusion& sd, const EraseConfig& c);
EditOutcome doco_erase(StableDiffusion& sd, const EraseConfig& c);

// Shared by the trained methods: selects c.params (or injects LoRA on them when c.lora_rank > 0) and
// returns the trainable tensors, filling outcome.trained_parameters / lora / changed.
std::vector<NamedParam> erase_trainables(StableDiffusion& sd, const EraseConfig& c, EditOutcome& outcome);

// The training loop of an erasure method: c.steps, optimizer `optimizer` at c.lr with a constant schedule,
// no weight decay, gradient clipping at 1, seed c.seed, log and checkpoints in c.out (train_log.jsonl);
// refreshes the LoRA layers before every step when the outcome holds a LoRA network.
std::unique_ptr<TrainLoop> erase_loop(const EraseConfig& c, std::vector<NamedParam> trainable, EditOutcome& outcome,
                                      const std::string& optimizer);
// Records a finished run in the outcome.
void erase_record(EditOutcome& outcome, const TrainResult& result);

}  // namespace sculpt
