// The only place foreign checkpoint names are translated: CompVis/LDM single-file checkpoints
// (model.diffusion_model.*, first_stage_model.*, cond_stage_model.*) ↔ diffusers/transformers names.
// Source: diffusers 0.29.2 src/diffusers/loaders/single_file_utils.py (convert_ldm_unet_checkpoint,
// convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint, convert_open_clip_checkpoint) and
// scripts/convert_diffusers_to_original_stable_diffusion.py (the inverse). Tables: docs/key_map.md.
#pragma once
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace sculpt {

struct DiffusersWeights {
  TensorMap unet;          // UNet2DConditionModel names (conv_in, down_blocks.0.resnets.0.norm1, …)
  TensorMap vae;           // AutoencoderKL names
  TensorMap text_encoder;  // CLIPTextModel names (text_model.*)
  // cond_stage_model.model.* (OpenCLIP, SD 2.x) rather than cond_stage_model.transformer.* (SD 1.x).
  bool text_encoder_is_open_clip = false;
  // OpenCLIP resblocks left out of text_encoder: SD 2.x conditions on the penultimate layer, which
  // diffusers expresses as a CLIPTextConfig with num_hidden_layers = resblocks - 1 (so 1, or 0).
  int64_t text_encoder_dropped_layers = 0;
  // Tensors of a known component that no diffusers model holds (the dropped OpenCLIP resblock,
  // text_projection, logit_scale), under their LDM names; diffusers_to_ldm writes them back so a
  // converted SD 2.x file keeps every tensor the original had.
  TensorMap ldm_only;
  // Keys of no known component (model_ema.*, alphas_cumprod, conditioner.*, …) or that no rule
  // maps (a UNet label_emb); not converted and not kept.
  std::vector<std::string> skipped_keys;
};

// LDM single file → diffusers. The UNet and VAE layouts (levels, layers per block, which levels have
// attention) are read from the keys present; `source` names the file in error messages. Tensors keep
// their dtype; VAE mid-block q/k/v/proj_out 1×1 conv weights [C, C, 1, 1] become Linear [C, C].
DiffusersWeights ldm_to_diffusers(const TensorMap& ldm, const std::string& source);

// The inverse, for writing single files: diffusers → LDM names, VAE attention weights back to
// [C, C, 1, 1], OpenCLIP q/k/v concatenated into in_proj, ldm_only copied as is.
TensorMap diffusers_to_ldm(const DiffusersWeights& w);

// kohya / AUTOMATIC1111 LoRA module names ↔ diffusers module paths. kohya joins the diffusers path with
// "_" behind a component prefix: "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k",
// "lora_te_text_model_encoder_layers_0_self_attn_q_proj". `component` is "unet" or "text_encoder".
std::string kohya_lora_name(const std::string& component, const std::string& module_path);
// The inverse: {component, module path}; identifiers that contain "_" (down_blocks, to_k, self_attn, …)
// are rebuilt from the list of names UNet2DConditionModel and CLIPTextModel use. Throws on an unknown prefix.
std::pair<std::string, std::string> kohya_lora_module(const std::string& kohya_name);

}  // namespace sculpt
