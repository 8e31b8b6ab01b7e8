#include "methods/erase_common.h"

#include <optional>
#include <tuple>

#include "core/check.h"
#include "eval/sampling.h"
#include "eval/toy_concept.h"
#include "pipeline/stable_diffusion.h"
#include "train/train_loop.h"

namespace sculpt {

UNet2DConditionModel unet_frozen_copy(UNet2DConditionModel& unet) {
  UNet2DConditionModel copy(unet->config);
  const auto like = unet->parameters().front();  // a copy: parameters() returns a temporary
  copy->to(like.device(), like.scalar_type());
  torch::NoGradGuard no_grad;
  auto src = unet->named_parameters(), dst = copy->named_parameters();
  for (auto& item : dst) item.value().copy_(src[item.key()]);
  auto src_buffers = unet->named_buffers(), dst_buffers = copy->named_buffers();
  for (auto& item : dst_buffers) item.value().copy_(src_buffers[item.key()]);
  for (auto& p : copy->parameters()) p.set_requires_grad(false);
  copy->eval();
  return copy;
}

torch::Tensor as_epsilon(const Scheduler& schedule, const torch::Tensor& output, const torch::Tensor& x_t,
                         const torch::Tensor& t) {
  const auto& type = schedule.prediction_type();
  if (type == "epsilon") return output;
  auto abar = schedule.alphas_cumprod().index_select(0, t.reshape({-1}).to(torch::kCPU, torch::kLong));
  abar = abar.view({-1, 1, 1, 1}).to(output.device(), output.scalar_type());
  if (type == "v_prediction") return (1 - abar).sqrt() * x_t + abar.sqrt() * output;
  SCULPT_CHECK(type == "sample", "unknown prediction type '", type, "'");
  return (x_t - abar.sqrt() * output) / (1 - abar).sqrt();
}

torch::Tensor predicted_x0(const Scheduler& schedule, const torch::Tensor& output, const torch::Tensor& x_t,
                           const torch::Tensor& t) {
  auto abar = schedule.alphas_cumprod().index_select(0, t.reshape({-1}).to(torch::kCPU, torch::kLong));
  abar = abar.view({-1, 1, 1, 1}).to(x_t.device(), x_t.scalar_type());
  return (x_t - (1 - abar).sqrt() * as_epsilon(schedule, output, x_t, t)) / abar.sqrt();
}

std::vector<torch::Tensor> epsilon_batched(UNet2DConditionModel& unet, const Scheduler& schedule,
                                           const torch::Tensor& x_t, const torch::Tensor& t,
                                           const std::vector<torch::Tensor>& embs) {
  const int64_t b = x_t.size(0), n = static_cast<int64_t>(embs.size());
  std::vector<torch::Tensor> ctx;
  for (const auto& e : embs) ctx.push_back(e.size(0) == b ? e : e.expand({b, e.size(1), e.size(2)}));
  auto tt = t.dim() == 0 ? t.expand({b}) : t;
  auto x = x_t.repeat({n, 1, 1, 1});
  auto ts = tt.repeat({n});
  auto out = as_epsilon(schedule, unet->forward(x, ts.to(x.device()), torch::cat(ctx)), x, ts);
  return out.chunk(n);
}

torch::Tensor prompt_embedding(StableDiffusion& sd, const std::string& prompt) {
  return encode_prompts(sd, {prompt});
}

TrajectorySampler::TrajectorySampler(const nlohmann::json& scheduler_config, int64_t steps, double guidance,
                                     std::vector<int64_t> latent_shape, int64_t pool)
    : ddim_(make_scheduler("ddim", scheduler_config)), steps_(steps), pool_(pool), guidance_(guidance),
      shape_(std::move(latent_shape)) {
  SCULPT_USAGE_CHECK(steps > 0, "trajectory steps must be > 0, got ", steps);
  ddim_->set_timesteps(steps);
}

// Runs the batch from x_T; row i stops after k[i] steps. keep_all: returns [B, K, C, h, w] (every state
// before each step) instead of [B, C, h, w].
torch::Tensor TrajectorySampler::run(UNet2DConditionModel& unet, const torch::Tensor& x_T, const torch::Tensor& cond,
                                     const torch::Tensor& uncond, const torch::Tensor& k, bool keep_all) {
  torch::NoGradGuard no_grad;
  const int64_t b = x_T.size(0);
  const int64_t last = keep_all ? steps_ - 1 : k.max().item<int64_t>();
  auto x = x_T.clone();
  auto reached = torch::empty_like(x_T);
  std::vector<torch::Tensor> states;
  auto c = cond.expand({b, cond.size(1), cond.size(2)}), u = uncond.expand({b, uncond.size(1), uncond.size(2)});
  for (int64_t i = 0;; ++i) {
    if (keep_all) states.push_back(x.clone());
    auto at_i = k.eq(i).to(x.device()).view({-1, 1, 1, 1});
    reached = torch::where(at_i, x, reached);
    if (i == last) break;
    const auto t = ddim_->timesteps()[i];
    torch::Tensor eps;
    if (guidance_ > 1.0) {
      auto out = unet->forward(torch::cat({x, x}), t.to(x.device()), torch::cat({u, c})).chunk(2);
      eps = out[0] + guidance_ * (out[1] - out[0]);
    } else {
      eps = unet->forward(x, t.to(x.device()), c);
    }
    ++forwards_;
    x = ddim_->step(eps, i, x).prev_sample;
  }
  return keep_all ? torch::stack(states, 1) : reached;
}

TrajectoryBatch TrajectorySampler::draw(UNet2DConditionModel& unet, int64_t concept, const torch::Tensor& cond,
                                        const torch::Tensor& uncond, int64_t batch, torch::Generator& gen) {
  const auto device = cond.device();
  std::vector<int64_t> shape{batch};
  shape.insert(shape.end(), shape_.begin(), shape_.end());
  TrajectoryBatch out;
  out.k = torch::randint(0, steps_, {batch}, gen, torch::kLong);
  if (pool_ <= 0) {
    auto x_T = torch::randn(shape, gen, torch::kFloat32).to(device, cond.scalar_type());
    out.x_t = run(unet, x_T, cond, uncond, out.k, false);
  } else {
    auto it = cache_.find(concept);
    if (it == cache_.end()) {
      std::vector<int64_t> pool_shape{pool_};
      pool_shape.insert(pool_shape.end(), shape_.begin(), shape_.end());
      auto x_T = torch::randn(pool_shape, gen, torch::kFloat32).to(device, cond.scalar_type());
      it = cache_.emplace(concept, run(unet, x_T, cond, uncond, torch::zeros({pool_}, torch::kLong), true)).first;
    }
    auto which = torch::randint(0, pool_, {batch}, gen, torch::kLong);
    out.x_t = it->second.index({which.to(device), out.k.to(device)});
  }
  out.t = ddim_->timesteps().index_select(0, out.k).to(torch::kLong);
  return out;
}

std::vector<NamedParam> erase_trainables(StableDiffusion& sd, const EraseConfig& c, EditOutcome& outcome) {
  const ParamSelection selection{c.params, {}, {}};
  std::vector<NamedParam> trainable;
  if (c.lora_rank > 0) {
    freeze_all(sd);
    LoraConfig lc;
    lc.rank = c.lora_rank;
    lc.where = selection;
    lc.target_pattern = ".*";  // every Linear / Conv2d the selection picks
    outcome.lora = std::make_shared<LoraNetwork>(LoraNetwork::inject(sd, lc, train_generator(c.seed, -1)));
    for (const auto& l : outcome.lora->layers()) {
      const auto base = "lora." + l.component + "." + l.module_path;
      trainable.push_back({base + ".down", l.down});
      trainable.push_back({base + ".up", l.up});
    }
  } else {
    trainable = select_trainable(sd, selection);
    for (const auto& p : trainable) outcome.changed.push_back(p.name);
  }
  for (const auto& p : trainable) outcome.trained_parameters += p.param.numel();
  return trainable;
}

std::unique_ptr<TrainLoop> erase_loop(const EraseConfig& c, std::vector<NamedParam> trainable, EditOutcome& outcome,
                                      const std::string& optimizer) {
  TrainLoopConfig loop;
  loop.steps = c.steps;
  loop.optimizer.name = optimizer;
  loop.optimizer.lr = c.lr;
  loop.optimizer.weight_decay = 0;
  loop.schedule = {"constant", 0, c.steps, 0};
  loop.seed = c.seed;
  loop.out_dir = c.out;  // train_log.jsonl; no checkpoint of the finished run (the outputs are the result)
  loop.final_checkpoint = false;
  loop.progress = c.progress;
  loop.label = c.method;
  auto out = std::make_unique<TrainLoop>(loop, std::move(trainable));
  if (auto lora = outcome.lora) out->before_step = [lora](TrainContext& ctx) { lora->refresh(true, &ctx.gen); };
  return out;
}

void erase_record(EditOutcome& outcome, const TrainResult& result) {
  outcome.steps = result.steps_done;
  outcome.first_loss = result.first_loss;
  outcome.last_loss = result.last_loss;
  if (outcome.lora) outcome.lora->refresh(false);
}

namespace {

// Anchor captions and the matching target prompts (anchor word → concept).
std::pair<std::vector<std::string>, std::vector<std::string>> anchor_prompts(const std::string& concept,
                                                                          const std::string& anchor, int64_t n,
                                                                          bool toy, uint64_t seed) {
  std::vector<std::string> anchors;
  std::string anchor_word = anchor;
  std::optional<ToyConcept> toy_anchor;
  if (toy) {
    try {
      toy_anchor = toy_concept_resolve(anchor);
    } catch (const UsageError&) {  // not a ToyWorld value: the generic templates
    }
  }
  if (toy_anchor) {
    // ToyWorld: captions of scenes showing the anchor, in the captions' templates (methods.md §4).
    anchor_word = toy_anchor->words[0];
    anchors = concept_captions(*toy_anchor, n, seed);
  } else {
    static const std::vector<std::string> templates{"a photo of a {}",   "a picture of a {}", "an image of a {}",
                                                    "a painting of a {}", "a close-up photo of a {}",
                                                    "a drawing of a {}",  "a rendering of a {}", "a {}"};
    for (int64_t i = 0; i < n; ++i) {
      auto t = templates[static_cast<size_t>(i) % templates.size()];
      t.replace(t.find("{}"), 2, "anchorplaceholder");
      anchors.push_back(replace_phrase(t, "anchorplaceholder", anchor));  // fixes "a" / "an"
    }
  }
  std::vector<std::string> targets;
  for (const auto& a : anchors) {
    auto t = replace_phrase(a, anchor_word, concept);
    SCULPT_CHECK(t != a, "anchor caption '", a, "' does not name the anchor '", anchor_word, "'");
    targets.push_back(t);
  }
  return {anchors, targets};
}

}  // namespace

bool toy_scale(const StableDiffusion& sd) { return sd.unet->config.sample_size <= 16; }

TrajectorySetup trajectory_setup(StableDiffusion& sd, const EraseConfig& c) {
  TrajectorySetup s;
  s.frozen = unet_frozen_copy(sd.unet);
  s.schedule = make_scheduler("ddpm", sd.scheduler_config);
  s.uncond = prompt_embedding(sd, "");
  for (const auto& concept : c.concepts) s.concepts.push_back(prompt_embedding(sd, concept));
  const int64_t h = sd.unet->config.sample_size;
  s.sampler = std::make_unique<TrajectorySampler>(sd.scheduler_config, c.trajectory_steps, c.trajectory_guidance,
                                                  std::vector<int64_t>{sd.unet->config.in_channels, h, h},
                                                  c.cache_trajectories);
  return s;
}

AnchorBatch anchor_batch(const AnchorSet& anchors, int64_t batch, int64_t train_timesteps, torch::Generator& gen) {
  const auto device = anchors.latents.device();
  AnchorBatch a;
  a.rows = torch::randint(0, anchors.latents.size(0), {batch}, gen, torch::kLong).to(device);
  a.z0 = anchors.latents.index_select(0, a.rows);
  a.noise = torch::randn(a.z0.sizes(), gen, torch::kFloat32).to(device, a.z0.scalar_type());
  a.t = torch::randint(0, train_timesteps, {batch}, gen, torch::kLong);
  return a;
}

AnchorSet anchor_set(StableDiffusion& sd, const std::string& concept, const std::string& anchor, int64_t n,
                     int64_t seed, bool progress) {
  const bool toy = toy_scale(sd);
  AnchorSet a;
  std::tie(a.anchor_prompts, a.target_prompts) =
      anchor_prompts(concept, anchor, n, toy, static_cast<uint64_t>(seed) * 7919 + 3);
  SampleSettings s;
  s.steps = toy ? 20 : 50;
  s.guidance_scale = toy ? 5.0 : 7.5;
  s.progress = progress;
  s.label = "anchor images";
  std::vector<int64_t> seeds;
  for (int64_t i = 0; i < n; ++i) seeds.push_back(seed * 100000 + i);
  const auto images = sample_images(sd, a.anchor_prompts, seeds, s);
  a.latents = vae_encode_mean(sd, images.to(sd.unet->parameters().front().device()));
  a.anchor_emb = encode_prompts(sd, a.anchor_prompts);
  a.target_emb = encode_prompts(sd, a.target_prompts);
  return a;
}

}  // namespace sculpt
