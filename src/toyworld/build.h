// `sculpt toyworld build`: everything ToyWorld needs, from scratch and from one seed, by sculpt's own
// training code: caption corpus → BPE tokenizer → ToyCLIP (text encoder + image tower) → VAE → UNet
// (DDPM objective on cached latents, 10% caption dropout) → judge. The result is a diffusers folder that
// `sculpt` (and diffusers) load like any Stable Diffusion model, plus toyclip/ and judge/.
//
// Stages are resumable: a finished stage's output is kept and skipped on the next run (unless forced), and
// each training stage checkpoints into DIR/.build/<stage> so an interrupted build continues where it stopped.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/clip.h"
#include "models/unet.h"
#include "models/vae.h"

namespace sculpt::toyworld {

// Model sizes and step counts of a build. "full" is the shipped model; "mini" runs in a minute (CI).
struct ToyWorldPreset {
  int64_t corpus_size = 20000, vocab_size = 1024, max_length = 32;
  CLIPTextConfig text;
  std::vector<int64_t> clip_image_channels{32, 64, 128, 128};
  int64_t clip_steps = 1200, clip_batch = 128;
  double clip_lr = 1e-3;
  AutoencoderKLConfig vae;
  int64_t vae_steps = 3500, vae_batch = 16;
  double vae_lr = 1e-3, vae_kl_weight = 1e-6;
  int64_t latent_images = 40000;
  UNet2DConditionConfig unet;
  int64_t unet_steps = 10000, unet_batch = 32;
  double unet_lr = 1e-3, unet_ema = 0.999, caption_dropout = 0.1;
  double unet_snr_gamma = 5.0;  // min-SNR-γ loss weighting; 0: off
  int64_t judge_steps = 6000;  // 4000 gave shape 99.5% on one seed, 98.996% on another
};
ToyWorldPreset toyworld_preset(const std::string& name);  // "full" | "mini"

struct ToyWorldBuildConfig {
  uint64_t seed = 0;
  std::filesystem::path out = "models/toyworld";
  std::string preset = "full";
  // Stages to run, in order; empty: all. Names: tokenizer, toyclip, vae, unet, judge.
  std::vector<std::string> stages;
  bool force = false;     // re-run stages whose output exists
  // > 0: caps every stage's training steps (and the latent cache at 16 batches): the preset's models at
  // a fraction of the cost, for benchmarks and smoke runs. Its outputs are not the preset's model.
  int64_t max_steps = 0;
  bool progress = true;
};

// Runs the stages and returns a summary (per stage: seconds, final loss, metrics), also written to
// DIR/build.json.
nlohmann::json toyworld_build(const ToyWorldBuildConfig& config);

}  // namespace sculpt::toyworld
