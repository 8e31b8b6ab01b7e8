#include "toyworld/build.h"

#include <chrono>

#include "core/check.h"
#include "core/progress.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "io/state_dict.h"
#include "pipeline/model_export.h"
#include "pipeline/model_loader.h"
#include "pipeline/stable_diffusion.h"
#include "schedulers/scheduler.h"
#include "toyworld/bpe_trainer.h"
#include "toyworld/captions.h"
#include "toyworld/judge.h"
#include "toyworld/render.h"
#include "toyworld/toyclip.h"
#include "train/dataset.h"
#include "train/finetune.h"
#include "train/train_loop.h"

namespace sculpt::toyworld {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::vector<std::string> kStages{"tokenizer", "toyclip", "vae", "unet", "judge"};

// Each stage draws from its own dataset seed, so changing one stage's length leaves the others' data alone.
uint64_t stage_seed(uint64_t seed, uint64_t stage) { return seed * 1000003ull + stage * 7919ull + 1; }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The scheduler the UNet is trained for and sampled with: SD's scaled-linear schedule.
json scheduler_config() {
  return {{"_class_name", "DDIMScheduler"}, {"_diffusers_version", "0.29.2"}, {"beta_start", 0.00085},
          {"beta_end", 0.012},              {"beta_schedule", "scaled_linear"}, {"num_train_timesteps", 1000},
          {"clip_sample", false},           {"set_alpha_to_one", false},       {"steps_offset", 1},
          {"prediction_type", "epsilon"},   {"timestep_spacing", "leading"},   {"trained_betas", nullptr}};
}

SceneOptions base_scene_options() { return SceneOptions{}; }  // held-out pairs excluded, no emblems

std::vector<NamedParam> all_parameters(torch::nn::Module& m, const std::string& prefix) {
  std::vector<NamedParam> out;
  for (const auto& item : m.named_parameters()) {
    item.value().set_requires_grad(true);
    out.push_back({prefix + item.key(), item.value()});
  }
  return out;
}

// Checkpoints of a stage's training go to DIR/.build/<stage>; a stage that was interrupted continues from
// its newest checkpoint, and the folder is removed once the stage's output is written.
void make_resumable(TrainLoopConfig& loop, const fs::path& out, const std::string& stage) {
  loop.out_dir = out / ".build" / stage;
  loop.save_every = std::max<int64_t>(1, loop.steps / 20);
  loop.keep_checkpoints = 1;
  loop.resume = fs::is_directory(loop.out_dir / "checkpoints") && !fs::is_empty(loop.out_dir / "checkpoints");
}

std::vector<std::string> captions_of(const std::vector<Scene>& scenes, uint64_t seed, int64_t first) {
  std::vector<std::string> out;
  for (size_t i = 0; i < scenes.size(); ++i) out.push_back(caption_for(scenes[i], seed, first + static_cast<int64_t>(i)));
  return out;
}

// ---- stages ------------------------------------------------------------------------------------------

json stage_tokenizer(const ToyWorldBuildConfig& c, const ToyWorldPreset& p) {
  const auto corpus = caption_corpus(stage_seed(c.seed, 0), p.corpus_size, base_scene_options());
  const auto model = bpe_train(corpus, p.vocab_size, p.max_length, c.out / "tokenizer");
  return {{"corpus", corpus.size()}, {"vocab_size", model.vocab.size()}, {"merges", model.merges.size()}};
}

CLIPTextConfig text_config(const ToyWorldPreset& p, const CLIPTokenizer& tok) {
  auto t = p.text;
  t.vocab_size = tok.vocab_size();
  t.max_position_embeddings = tok.model_max_length();
  t.bos_token_id = tok.bos_id();
  t.eos_token_id = tok.eos_id();
  t.pad_token_id = tok.pad_id();
  return t;
}

json stage_toyclip(const ToyWorldBuildConfig& c, const ToyWorldPreset& p) {
  const auto tok = CLIPTokenizer::from_dir(c.out / "tokenizer");
  torch::manual_seed(static_cast<int64_t>(stage_seed(c.seed, 1)));
  CLIPTextModel text(text_config(p, tok));
  ToyClip clip(ToyClipConfig{p.clip_image_channels, p.text.hidden_size}, p.text.hidden_size);
  auto params = all_parameters(*text, "text_encoder.");
  for (auto& q : all_parameters(*clip, "toyclip.")) params.push_back(q);
  TrainLoopConfig loop;
  loop.steps = p.clip_steps;
  loop.optimizer.lr = p.clip_lr;
  loop.optimizer.weight_decay = 0.1;
  loop.schedule = {"cosine", std::min<int64_t>(100, p.clip_steps / 10), p.clip_steps, 0.0};
  loop.progress = c.progress;
  loop.label = "toyclip";
  loop.seed = static_cast<int64_t>(stage_seed(c.seed, 1));
  make_resumable(loop, c.out, "toyclip");
  TrainLoop train(loop, params);
  const uint64_t data_seed = stage_seed(c.seed, 1);
  double acc = 0;
  const auto result = train.run([&](TrainContext& ctx, json& logs) {
    const int64_t first = ctx.step * p.clip_batch;
    auto batch = scene_batch(data_seed, first, p.clip_batch, base_scene_options());
    auto t = clip->text_embeds(text->forward(tok(captions_of(batch.scenes, data_seed, first))).pooler_output);
    auto i = clip->image_embeds(batch.images);
    auto logits = clip->logit_scale.clamp_max(std::log(100.0)).exp() * torch::mm(i, t.t());  // [B, B]
    auto labels = torch::arange(p.clip_batch, torch::kLong);
    auto loss = (torch::cross_entropy_loss(logits, labels) + torch::cross_entropy_loss(logits.t(), labels)) / 2;
    acc = logits.argmax(1).eq(labels).to(torch::kFloat32).mean().item<double>();
    logs["image_to_text_accuracy"] = acc;
    return loss;
  });
  fs::create_directories(c.out / "text_encoder");
  write_file_atomically(c.out / "text_encoder" / "config.json", text->config.to_json().dump(2) + "\n");
  write_safetensors(c.out / "text_encoder" / "model.safetensors", state_dict(*text), {{"format", "pt"}});
  save_toyclip(clip, c.out / "toyclip");
  fs::remove_all(c.out / ".build" / "toyclip");
  return {{"seconds", result.seconds}, {"final_loss", result.last_loss}, {"batch_retrieval_accuracy", acc}};
}

json stage_vae(const ToyWorldBuildConfig& c, const ToyWorldPreset& p) {
  torch::manual_seed(static_cast<int64_t>(stage_seed(c.seed, 2)));
  AutoencoderKL vae(p.vae);
  TrainLoopConfig loop;
  loop.steps = p.vae_steps;
  loop.optimizer.lr = p.vae_lr;
  loop.optimizer.weight_decay = 0.0;
  loop.schedule = {"cosine", std::min<int64_t>(100, p.vae_steps / 10), p.vae_steps, 0.05};
  loop.progress = c.progress;
  loop.label = "vae";
  loop.seed = static_cast<int64_t>(stage_seed(c.seed, 2));
  make_resumable(loop, c.out, "vae");
  TrainLoop train(loop, all_parameters(*vae, "vae."));
  const uint64_t data_seed = stage_seed(c.seed, 2);
  SceneOptions scenes = base_scene_options();
  scenes.exclude_held_out = false;  // the VAE must draw everything the world holds, emblems included
  scenes.instance_rate = 0.05;
  double mse = 0;
  const auto result = train.run([&](TrainContext& ctx, json& logs) {
    auto x = scene_batch(data_seed, ctx.step * p.vae_batch, p.vae_batch, scenes).images * 2 - 1;
    auto dist = vae->encode(x);
    auto recon = vae->decode(dist.sample(ctx.gen));
    // L1 next to MSE: small errors (pixel-art steps, sketchy grain) weigh more than under MSE alone; the
    // first build's MSE-only VAE kept 75% of styles as the judge sees them.
    auto rec = torch::mse_loss(recon, x) + torch::l1_loss(recon, x);
    auto kl = 0.5 * (dist.mean.pow(2) + dist.var - 1 - dist.logvar).mean();
    mse = rec.item<double>();
    logs["mse"] = mse;
    logs["kl"] = kl.item<double>();
    return rec + p.vae_kl_weight * kl;
  });
  vae->eval();
  // Scaling factor: 1 / std of posterior samples, as SD's 0.18215 was chosen.
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(stage_seed(c.seed, 2)));
  auto probe = scene_batch(data_seed + 1, 0, 128, scenes).images * 2 - 1;
  auto posterior = vae->encode(probe);
  const double scale = 1.0 / posterior.sample(gen).std().item<double>();
  auto mode_recon = vae->decode(posterior.mean);
  const double psnr = -10 * std::log10(((mode_recon.clamp(-1, 1) - probe) / 2).pow(2).mean().item<double>());
  vae->config.scaling_factor = scale;
  fs::create_directories(c.out / "vae");
  write_file_atomically(c.out / "vae" / "config.json", vae->config.to_json().dump(2) + "\n");
  write_safetensors(c.out / "vae" / "diffusion_pytorch_model.safetensors", state_dict(*vae), {{"format", "pt"}});
  fs::remove_all(c.out / ".build" / "vae");
  return {{"seconds", result.seconds}, {"final_mse", mse}, {"psnr_db", psnr}, {"scaling_factor", scale}};
}

// Renders and encodes `n` training scenes once: latents + captions for the UNet stage.
LatentDataset encode_training_set(StableDiffusion& sd, uint64_t data_seed, int64_t n, bool progress) {
  torch::NoGradGuard no_grad;
  LatentDataset d;
  std::vector<torch::Tensor> mean, stdv;
  const double s = sd.vae->config.scaling_factor;
  ProgressBar bar(n, "encoding latents", progress);
  constexpr int64_t kBatch = 32;  // measured: the encoder runs 175 images/s at batch 32, 65 at batch 256
  for (int64_t first = 0; first < n; first += kBatch) {
    const int64_t b = std::min(kBatch, n - first);
    auto batch = scene_batch(data_seed, first, b, base_scene_options());
    auto caps = captions_of(batch.scenes, data_seed, first);
    d.captions.insert(d.captions.end(), caps.begin(), caps.end());
    auto dist = sd.vae->encode(batch.images * 2 - 1);
    mean.push_back(dist.mean * s);
    stdv.push_back(dist.std * s);
    bar.update(b);
  }
  bar.finish();
  d.mean = torch::cat(mean);
  d.std = torch::cat(stdv);
  return d;
}

void write_pipeline_files(const fs::path& out) {
  fs::create_directories(out / "scheduler");
  write_file_atomically(out / "scheduler" / "scheduler_config.json", scheduler_config().dump(2) + "\n");
  const json index = {{"_class_name", "StableDiffusionPipeline"},
                      {"_diffusers_version", "0.29.2"},
                      {"feature_extractor", {nullptr, nullptr}},
                      {"image_encoder", {nullptr, nullptr}},
                      {"requires_safety_checker", false},
                      {"safety_checker", {nullptr, nullptr}},
                      {"scheduler", {"diffusers", "DDIMScheduler"}},
                      {"text_encoder", {"transformers", "CLIPTextModel"}},
                      {"tokenizer", {"transformers", "CLIPTokenizer"}},
                      {"unet", {"diffusers", "UNet2DConditionModel"}},
                      {"vae", {"diffusers", "AutoencoderKL"}}};
  write_file_atomically(out / "model_index.json", index.dump(2) + "\n");
}

json stage_unet(const ToyWorldBuildConfig& c, const ToyWorldPreset& p) {
  StableDiffusion sd;
  sd.source = c.out.string();
  sd.tokenizer_dir = c.out / "tokenizer";
  sd.tokenizer = CLIPTokenizer::from_dir(sd.tokenizer_dir);
  sd.text_encoder = load_clip_text_model(c.out / "text_encoder");
  sd.vae = load_vae(c.out / "vae");
  sd.scheduler_config = scheduler_config();
  torch::manual_seed(static_cast<int64_t>(stage_seed(c.seed, 3)));
  auto unet_config = p.unet;
  unet_config.cross_attention_dim = {sd.text_encoder->config.hidden_size};
  sd.unet = UNet2DConditionModel(unet_config);
  sd.eval();
  freeze_all(sd);
  const uint64_t data_seed = stage_seed(c.seed, 3);
  const auto data = encode_training_set(sd, data_seed, p.latent_images, c.progress);
  // The text encoder is frozen, so every caption is encoded once, not once per visit (12% of a step).
  torch::Tensor caption_emb, empty_emb;
  {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> parts;
    ProgressBar bar(data.size(), "encoding captions", c.progress);
    for (int64_t first = 0; first < data.size(); first += 256) {
      const auto last = std::min<int64_t>(first + 256, data.size());
      parts.push_back(encode_prompts(sd, {data.captions.begin() + first, data.captions.begin() + last}));
      bar.update(last - first);
    }
    bar.finish();
    caption_emb = torch::cat(parts);
    empty_emb = encode_prompts(sd, {""});
  }
  const auto schedule = make_scheduler("ddpm", sd.scheduler_config);

  TrainLoopConfig loop;
  loop.steps = p.unet_steps;
  loop.optimizer.lr = p.unet_lr;
  loop.optimizer.weight_decay = 0.01;
  loop.schedule = {"cosine", std::min<int64_t>(500, p.unet_steps / 10), p.unet_steps, 0.1};
  loop.ema_decay = p.unet_ema;
  loop.progress = c.progress;
  loop.label = "unet";
  loop.seed = static_cast<int64_t>(data_seed);
  make_resumable(loop, c.out, "unet");
  TrainLoop train(loop, all_parameters(*sd.unet, "unet."));
  const int64_t n = data.size(), b = p.unet_batch;
  EpochSampler sampler(n, loop.seed, -2);
  const auto result = train.run([&](TrainContext& ctx, json&) {
    const auto rows = sampler.rows(ctx.step * b, b);
    auto drop = torch::rand({b}, ctx.gen).lt(p.caption_dropout).view({b, 1, 1});
    auto emb = torch::where(drop, empty_emb, caption_emb.index_select(0, torch::tensor(rows, torch::kLong)));
    auto z = data.sample(rows, {}, torch::randn({b, data.mean.size(1), data.mean.size(2), data.mean.size(3)}, ctx.gen));
    return diffusion_loss(sd, *schedule, z, emb, ctx.gen, p.unet_snr_gamma);
  });
  train.apply_ema();
  fs::create_directories(c.out / "unet");
  write_file_atomically(c.out / "unet" / "config.json", sd.unet->config.to_json().dump(2) + "\n");
  write_safetensors(c.out / "unet" / "diffusion_pytorch_model.safetensors", state_dict(*sd.unet), {{"format", "pt"}});
  write_pipeline_files(c.out);
  fs::remove_all(c.out / ".build" / "unet");
  return {{"seconds", result.seconds}, {"first_loss", result.first_loss}, {"final_loss", result.last_loss},
          {"resumed_from", result.resumed_from}};
}

json stage_judge(const ToyWorldBuildConfig& c, const ToyWorldPreset& p) {
  JudgeTrainConfig j;
  j.seed = stage_seed(c.seed, 4);
  j.steps = p.judge_steps;
  j.progress = c.progress;
  auto result = judge_train(j);
  save_judge(result.judge, c.out / "judge");
  const auto acc = judge_evaluate(result.judge, 2000, stage_seed(c.seed, 5));
  return {{"seconds", result.seconds}, {"final_loss", result.final_loss}, {"accuracy", acc.to_json()}};
}

bool stage_done(const fs::path& out, const std::string& stage) {
  if (stage == "tokenizer") return fs::exists(out / "tokenizer" / "merges.txt");
  if (stage == "toyclip") return fs::exists(out / "toyclip" / "toyclip.safetensors");
  if (stage == "vae") return fs::exists(out / "vae" / "diffusion_pytorch_model.safetensors");
  if (stage == "unet") return fs::exists(out / "unet" / "diffusion_pytorch_model.safetensors");
  return fs::exists(out / "judge" / "judge.safetensors");
}

}  // namespace

ToyWorldPreset toyworld_preset(const std::string& name) {
  ToyWorldPreset p;
  p.text.hidden_size = 128;
  p.text.intermediate_size = 512;
  p.text.num_hidden_layers = 4;
  p.text.num_attention_heads = 4;
  p.text.projection_dim = 128;
  // ×4 downsampling: 64×64 images ↔ 4×16×16 latents. Few channels at full resolution, where a CPU spends
  // most of a VAE step.
  p.vae.block_out_channels = {16, 32, 64};
  p.vae.down_block_types.assign(3, "DownEncoderBlock2D");
  p.vae.up_block_types.assign(3, "UpDecoderBlock2D");
  p.vae.layers_per_block = 1;
  p.vae.norm_num_groups = 8;
  p.vae.sample_size = 64;
  p.unet.sample_size = 16;
  p.unet.block_out_channels = {32, 64, 128};
  // No attention at 16×16 (256 tokens): on a CPU it would cost more than the rest of the UNet.
  p.unet.down_block_types = {"DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"};
  p.unet.up_block_types = {"CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"};
  p.unet.layers_per_block = {1};
  p.unet.norm_num_groups = 16;
  p.unet.attention_head_dim = {2, 4, 4};
  if (name == "full") return p;
  SCULPT_USAGE_CHECK(name == "mini", "unknown ToyWorld preset '", name, "'; known: full, mini");
  p.corpus_size = 600, p.vocab_size = 600;
  p.text.hidden_size = 32, p.text.intermediate_size = 64, p.text.num_hidden_layers = 1, p.text.num_attention_heads = 2;
  p.clip_image_channels = {8, 16, 16, 16};
  p.clip_steps = 4, p.clip_batch = 16;
  p.vae.block_out_channels = {8, 16, 16};
  p.vae.norm_num_groups = 8;
  p.vae_steps = 4, p.vae_batch = 4;
  p.latent_images = 64;
  p.unet.block_out_channels = {16, 32, 32};
  p.unet.norm_num_groups = 8;
  p.unet_steps = 4, p.unet_batch = 4;
  p.judge_steps = 4;
  return p;
}

json toyworld_build(const ToyWorldBuildConfig& c) {
  auto preset = toyworld_preset(c.preset);
  SCULPT_USAGE_CHECK(c.max_steps >= 0, "--max-steps must be >= 0, not ", c.max_steps);
  if (c.max_steps > 0) {
    for (int64_t* steps : {&preset.clip_steps, &preset.vae_steps, &preset.unet_steps, &preset.judge_steps})
      *steps = std::min(*steps, c.max_steps);
    preset.latent_images = std::min(preset.latent_images, 16 * preset.unet_batch);
  }
  auto stages = c.stages.empty() ? kStages : c.stages;
  for (const auto& s : stages)
    SCULPT_USAGE_CHECK(std::find(kStages.begin(), kStages.end(), s) != kStages.end(), "unknown build stage '", s,
                       "'; known: tokenizer, toyclip, vae, unet, judge");
  fs::create_directories(c.out);
  json summary = fs::exists(c.out / "build.json") ? json::parse(read_file(c.out / "build.json")) : json::object();
  summary["seed"] = c.seed;
  summary["preset"] = c.preset;
  summary["command"] = "sculpt toyworld build --seed " + std::to_string(c.seed) + " --preset " + c.preset +
                       " --out " + c.out.string() + (c.max_steps > 0 ? " --max-steps " + std::to_string(c.max_steps) : "");
  for (const auto& s : kStages) {
    if (std::find(stages.begin(), stages.end(), s) == stages.end()) continue;
    if (!c.force && stage_done(c.out, s)) continue;
    const auto t0 = std::chrono::steady_clock::now();
    json r;
    if (s == "tokenizer") r = stage_tokenizer(c, preset);
    else if (s == "toyclip") r = stage_toyclip(c, preset);
    else if (s == "vae") r = stage_vae(c, preset);
    else if (s == "unet") r = stage_unet(c, preset);
    else r = stage_judge(c, preset);
    r["wall_seconds"] = seconds_since(t0);
    summary["stages"][s] = r;
    write_file_atomically(c.out / "build.json", summary.dump(2) + "\n");
  }
  return summary;
}

}  // namespace sculpt::toyworld
