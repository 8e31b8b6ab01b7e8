// Which parameters a method trains: name rules over the UNet and the text encoder, with the named
// presets the papers use. Everything not selected is frozen (requires_grad = false).
//
// Full names carry the component: "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight",
// "text_encoder.text_model.encoder.layers.11.mlp.fc1.weight". Patterns are ECMAScript regular expressions
// searched anywhere in the full name.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "pipeline/model_loader.h"

namespace sculpt {

struct ParamSelection {
  // Presets (union):
  //   unet-xattn      every attn2 parameter (ESD-x)
  //   unet-xattn-kv   attn2.to_k / attn2.to_v (UCE, DoCo, Ablating Concepts)
  //   unet-noxattn    everything but attn2, the time embedding and conv_out (ESD-u)
  //   unet-all, text-all
  //   text-last-N     the last N encoder layers + final_layer_norm
  std::vector<std::string> presets;
  std::vector<std::string> include;  // extra patterns added to the presets' set
  std::vector<std::string> exclude;  // patterns removed at the end
};

struct NamedParam {
  std::string name;  // full name, component first
  torch::Tensor param;
};

// True when `full_name` (component-prefixed) is selected; `text_layers` = the encoder's layer count.
bool param_selected(const ParamSelection& sel, const std::string& full_name, int64_t text_layers);

// Freezes everything in sd, then enables requires_grad on the selection and returns it in a stable order
// (unet first, then text encoder; module order within each). Throws when the selection is empty or a
// preset is unknown.
std::vector<NamedParam> select_trainable(StableDiffusion& sd, const ParamSelection& sel);

// Sets requires_grad = false on every parameter of every component.
void freeze_all(StableDiffusion& sd);

// Named parameters of one component ("unet" | "text_encoder" | "vae"), keys prefixed "<component>.".
std::vector<NamedParam> component_parameters(StableDiffusion& sd, const std::string& component);

// Preset names accepted by ParamSelection (text-last-N written as "text-last-N").
const std::vector<std::string>& param_preset_names();

}  // namespace sculpt
