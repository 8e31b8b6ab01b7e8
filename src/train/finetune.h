// Text-to-image fine-tuning on an image folder: the generic trainer behind `sculpt finetune`.
// Loss: ‖target − ε_θ(√ᾱ_t·z + √(1−ᾱ_t)·ε, t, τ(c))‖² with target ε or v by the model's prediction type
// (diffusers 0.29.2 examples/text_to_image/train_text_to_image.py), t ~ U{0..T−1}; with prior
// preservation (DreamBooth, arXiv:2208.12242) class images add λ·‖…‖² on the class prompt.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/model_loader.h"
#include "schedulers/scheduler.h"
#include "train/lora.h"
#include "train/param_select.h"
#include "train/train_loop.h"

namespace sculpt {

struct FinetuneConfig {
  std::filesystem::path model;     // diffusers folder or single file
  std::filesystem::path data;      // image folder (captions in .txt or metadata.jsonl)
  std::filesystem::path out;       // output folder: outputs, checkpoints/, train_log.jsonl
  int64_t resolution = 0;          // 0: the UNet's sample_size × the VAE factor
  bool random_flip = false;
  double caption_dropout = 0.0;    // share of captions replaced by "" (trains the unconditional branch)
  int64_t batch_size = 1;
  ParamSelection params{{"unet-xattn"}, {}, {}};
  bool lora = false;               // train LoRA layers on the selected layers instead of the weights
  LoraConfig lora_config;
  TrainLoopConfig loop;
  bool gradient_checkpointing = false;
  std::string device = "cpu";
  // Prior preservation: images of the class and their prompt, weighted by prior_weight.
  std::filesystem::path class_data;
  std::string class_prompt;
  double prior_weight = 1.0;
  // Outputs written into `out`: delta (delta.safetensors), diffusers (model/), single-file
  // (model.safetensors), lora (lora.safetensors, LoRA runs only).
  std::vector<std::string> outputs{"delta"};
  std::string lora_format = "kohya";
  bool use_ema_weights = true;     // export the EMA weights when EMA is on
};

struct FinetuneResult {
  TrainResult train;
  std::vector<std::string> written;  // paths of the outputs
  int64_t trained_parameters = 0;    // scalar count
  nlohmann::json to_json() const;
};

FinetuneResult finetune_run(const FinetuneConfig& config);

// The diffusion training loss on latents z [B, C, h, w] with text embeddings [B, L, D] (shared by finetune
// and the methods): draws t ~ U{0..T−1} and ε ~ N(0, I) from gen (on the CPU), returns the mean squared
// error of the UNet against the scheduler's prediction-type target; snr_gamma > 0 weights each sample by
// min-SNR-γ (min(SNR, γ)/SNR for ε, min(SNR, γ)/(SNR+1) for v), which converges in fewer steps.
torch::Tensor diffusion_loss(StableDiffusion& sd, const Scheduler& schedule, const torch::Tensor& latents,
                             const torch::Tensor& text_embeddings, torch::Generator& gen,
                             double snr_gamma = 0);

}  // namespace sculpt
