// Writing models: a delta file (only changed parameters), a complete diffusers folder, or a single-file
// LDM checkpoint. Every file is written atomically and a folder appears under its final name only once
// complete; the model being written from is never modified.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "pipeline/model_loader.h"

namespace sculpt {

// Delta files hold diffusers keys: UNet keys as they are ("down_blocks.0.…"), text-encoder keys as they
// are ("text_model.…", which no UNet key starts with); "unet." / "text_encoder." / "vae." prefixes are
// accepted on reading too. `names` are component-prefixed ("unet.conv_in.weight").
void delta_write(const std::filesystem::path& file, StableDiffusion& sd, const std::vector<std::string>& names,
                 const Metadata& metadata = {});
// Copies every tensor of the file into sd's parameters; unknown keys and shape mismatches are reported
// all at once and nothing is changed then.
void delta_apply(StableDiffusion& sd, const std::filesystem::path& file);

// model_index.json, scheduler/, tokenizer/ (copied from sd.tokenizer_dir), text_encoder/, unet/, vae/.
// Replaces an existing folder only after the new one is complete; refuses to overwrite sd.source.
void diffusers_write(StableDiffusion& sd, const std::filesystem::path& dir);

// One LDM .safetensors (CompVis names, as AUTOMATIC1111 and ComfyUI load).
void single_file_write(StableDiffusion& sd, const std::filesystem::path& file);

}  // namespace sculpt
