#include "train/finetune.h"

#include <map>

#include "core/check.h"
#include "pipeline/stable_diffusion.h"
#include "train/dataset.h"
#include "train/outputs.h"

namespace sculpt {
namespace fs = std::filesystem;
namespace {

void validate(const FinetuneConfig& c) {
  SCULPT_USAGE_CHECK(!c.out.empty(), "finetune: an output folder (--out) is required");
  SCULPT_USAGE_CHECK(c.batch_size > 0, "batch size must be > 0, got ", c.batch_size);
  SCULPT_USAGE_CHECK(c.caption_dropout >= 0 && c.caption_dropout <= 1, "caption dropout must be in [0, 1], got ",
                     c.caption_dropout);
  check_output_formats(c.outputs, c.lora);
  if (c.lora) lora_format_from_string(c.lora_format);
  SCULPT_USAGE_CHECK(c.class_data.empty() || !c.class_prompt.empty(), "--class-data needs --class-prompt");
}

// Encodes prompts; with a frozen text encoder each distinct prompt is encoded once.
class PromptEncoder {
 public:
  PromptEncoder(StableDiffusion& sd, bool trainable) : sd_(sd), trainable_(trainable) {}
  torch::Tensor operator()(const std::vector<std::string>& prompts) {
    if (trainable_) return encode_prompts(sd_, prompts);
    std::vector<torch::Tensor> rows;
    for (const auto& p : prompts) {
      auto it = cache_.find(p);
      if (it == cache_.end()) {
        torch::NoGradGuard no_grad;
        it = cache_.emplace(p, encode_prompts(sd_, {p})[0]).first;
      }
      rows.push_back(it->second);
    }
    return torch::stack(rows);
  }

 private:
  StableDiffusion& sd_;
  bool trainable_;
  std::map<std::string, torch::Tensor> cache_;
};

torch::Tensor randn_cpu(at::IntArrayRef shape, torch::Generator& gen, const torch::Tensor& like) {
  return torch::randn(shape, gen, torch::kFloat32).to(like.device(), like.scalar_type());
}

}  // namespace

torch::Tensor diffusion_loss(StableDiffusion& sd, const Scheduler& schedule, const torch::Tensor& latents,
                             const torch::Tensor& text_embeddings, torch::Generator& gen, double snr_gamma) {
  const int64_t b = latents.size(0);
  auto noise = randn_cpu(latents.sizes(), gen, latents);
  auto t = torch::randint(0, schedule.num_train_timesteps(), {b}, gen, torch::kLong);
  auto noisy = schedule.add_noise(latents, noise, t);
  auto target = schedule.training_target(latents, noise, t);
  auto pred = sd.unet->forward(noisy, t.to(latents.device()), text_embeddings);
  if (snr_gamma <= 0) return torch::mse_loss(pred.to(torch::kFloat32), target.to(torch::kFloat32));
  // Min-SNR-γ (Hang et al. 2023): per-sample weight min(SNR, γ)/SNR for ε targets, min(SNR, γ)/(SNR+1) for v.
  auto abar = schedule.alphas_cumprod().index_select(0, t).to(torch::kFloat64);
  auto snr = abar / (1 - abar);
  auto weight = schedule.prediction_type() == "v_prediction" ? snr.clamp_max(snr_gamma) / (snr + 1)
                                                               : snr.clamp_max(snr_gamma) / snr;
  auto per_sample = (pred.to(torch::kFloat32) - target.to(torch::kFloat32)).pow(2).flatten(1).mean(1);
  return (per_sample * weight.to(per_sample.device(), torch::kFloat32)).mean();
}

nlohmann::json FinetuneResult::to_json() const {
  return {{"steps", train.steps_done},         {"resumed_from", train.resumed_from},
          {"first_loss", train.first_loss},    {"last_loss", train.last_loss},
          {"seconds", train.seconds},          {"outputs", written},
          {"trained_parameters", trained_parameters}};
}

FinetuneResult finetune_run(const FinetuneConfig& c) {
  validate(c);
  auto sd = load_stable_diffusion(c.model);
  SCULPT_USAGE_CHECK(!fs::exists(c.out) || !fs::equivalent(c.out, c.model), "the output folder ", c.out,
                     " is the input model; choose another");
  sd.to(torch::Device(c.device));
  const int64_t resolution = c.resolution > 0 ? c.resolution : sd.unet->config.sample_size * sd.vae_scale_factor();
  const auto data = latent_dataset_build(sd, image_folder_list(c.data), resolution, c.random_flip, c.loop.progress);
  LatentDataset class_data;
  if (!c.class_data.empty())
    class_data = latent_dataset_build(sd, image_folder_list(c.class_data), resolution, c.random_flip, c.loop.progress);

  FinetuneResult result;
  std::vector<NamedParam> trainable;
  LoraNetwork lora;
  bool text_trainable = false;
  if (c.lora) {
    freeze_all(sd);
    lora = LoraNetwork::inject(sd, c.lora_config, train_generator(c.loop.seed, -1));
    for (const auto& l : lora.layers()) {
      const auto base = "lora." + l.component + "." + l.module_path;
      trainable.push_back({base + ".down", l.down});
      trainable.push_back({base + ".up", l.up});
      text_trainable = text_trainable || l.component == "text_encoder";
    }
  } else {
    trainable = select_trainable(sd, c.params);
    for (const auto& p : trainable) text_trainable = text_trainable || p.name.rfind("text_encoder.", 0) == 0;
  }
  for (const auto& p : trainable) result.trained_parameters += p.param.numel();
  sd.unet->gradient_checkpointing = c.gradient_checkpointing;
  sd.text_encoder->text_model->gradient_checkpointing = c.gradient_checkpointing;

  const auto schedule = make_scheduler("ddpm", sd.scheduler_config);
  PromptEncoder encode(sd, text_trainable);
  EpochSampler sampler(data.size(), c.loop.seed, -2), class_sampler(std::max<int64_t>(1, class_data.size()), c.loop.seed, -3);
  auto loop_config = c.loop;
  loop_config.out_dir = c.out;
  loop_config.label = "finetune";
  TrainLoop loop(loop_config, trainable);
  if (c.lora) loop.before_step = [&](TrainContext& ctx) { lora.refresh(true, &ctx.gen); };

  auto batch_loss = [&](const LatentDataset& d, EpochSampler& s, int64_t first, const std::string* fixed_prompt,
                        torch::Generator& gen) {
    const int64_t b = c.batch_size;
    const auto rows = s.rows(first, b);
    const auto flip_draw = torch::rand({b}, gen), drop_draw = torch::rand({b}, gen);
    std::vector<bool> flip;
    std::vector<std::string> prompts;
    for (int64_t i = 0; i < b; ++i) {
      flip.push_back(c.random_flip && flip_draw[i].item<double>() < 0.5);
      const auto& caption = fixed_prompt ? *fixed_prompt : d.captions[rows[i]];
      prompts.push_back(drop_draw[i].item<double>() < c.caption_dropout ? std::string() : caption);
    }
    auto z = d.sample(rows, flip, randn_cpu({b, d.mean.size(1), d.mean.size(2), d.mean.size(3)}, gen, d.mean));
    return diffusion_loss(sd, *schedule, z, encode(prompts), gen);
  };
  result.train = loop.run([&](TrainContext& ctx, nlohmann::json& logs) {
    const int64_t first = (ctx.step * c.loop.grad_accum + ctx.micro) * c.batch_size;
    auto loss = batch_loss(data, sampler, first, nullptr, ctx.gen);
    if (class_data.size() > 0) {
      auto prior = batch_loss(class_data, class_sampler, first, &c.class_prompt, ctx.gen);
      logs["instance_loss"] = loss.item<double>();
      logs["prior_loss"] = prior.item<double>();
      loss = loss + c.prior_weight * prior;
    }
    return loss;
  });
  if (c.use_ema_weights) loop.apply_ema();

  const Metadata meta{{"sculpt_command", "finetune"}, {"steps", std::to_string(c.loop.steps)},
                      {"seed", std::to_string(c.loop.seed)}};
  std::vector<std::string> changed;
  for (const auto& p : trainable) changed.push_back(p.name);
  result.written = write_outputs(sd, changed, c.lora ? &lora : nullptr, {c.outputs, c.out, c.lora_format, meta});
  return result;
}

}  // namespace sculpt
