// The only place foreign checkpoint names are translated: CompVis/LDM single-file checkpoints
// (SD 1.x CLIP-L and SD 2.x OpenCLIP text encoders) → diffusers/transformers keys.
// Source: diffusers 0.29.2 src/diffusers/loaders/single_file_utils.py (convert_ldm_unet_checkpoint,
// convert_ldm_vae_checkpoint, convert_open_clip_checkpoint). See docs/key_map.md.
#pragma once
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace sculpt {

struct DiffusersWeights {
  TensorMap unet, vae, text_encoder;  // keys as in the diffusers folder's three safetensors files
  bool text_encoder_is_open_clip = false;  // SD 2.x: converted from cond_stage_model.model.*
  std::vector<std::string> skipped_keys;   // EMA weights, loss buffers, OpenCLIP's unused last layer …
};

// Converts every UNet/VAE/text-encoder tensor; the layout (levels, layers per block, attention levels)
// is read from the keys, not assumed. `source` names the file in error messages.
DiffusersWeights ldm_to_diffusers(const TensorMap& ldm, const std::string& source);

}  // namespace sculpt
