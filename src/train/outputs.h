// The files a training run (or a closed-form edit) leaves behind, in the formats people load elsewhere:
// delta (only the changed parameters, diffusers keys), diffusers (a complete folder), single-file (one LDM
// .safetensors) and lora (kohya or PEFT keys; runs that trained LoRA layers only). Every file is written
// atomically; the input model is never touched.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "pipeline/model_loader.h"
#include "train/lora.h"

namespace sculpt {

const std::vector<std::string>& output_format_names();  // delta, diffusers, single-file, lora

// Throws a UsageError for an unknown format, or for "lora" when `lora_run` is false.
void check_output_formats(const std::vector<std::string>& formats, bool lora_run);

struct OutputRequest {
  std::vector<std::string> formats{"delta"};
  std::filesystem::path dir;      // delta.safetensors, model/, model.safetensors, lora.safetensors
  std::string lora_format = "kohya";
  Metadata metadata;
};

// Writes the requested outputs and returns their paths. `changed`: component-prefixed names of the
// parameters that differ from the input model (ignored with a LoRA network, whose layers are merged into
// the model before the delta / diffusers / single-file outputs are written).
std::vector<std::string> write_outputs(StableDiffusion& sd, const std::vector<std::string>& changed, LoraNetwork* lora,
                                       const OutputRequest& request);

}  // namespace sculpt
