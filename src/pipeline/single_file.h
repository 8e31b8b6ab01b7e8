// CompVis/LDM single-file .safetensors checkpoints: keys converted by io/key_map, architecture taken
// from `config_dir` (a diffusers folder) when given, else inferred from tensor shapes.
#pragma once
#include <filesystem>

#include "pipeline/model_loader.h"

namespace sculpt {

StableDiffusion load_single_file(const std::filesystem::path& file, const std::filesystem::path& config_dir = {});

// Folder of the CLIP vocabulary shipped with sculpt (assets/clip-tokenizer), used when a single file
// comes without --config. $SCULPT_ASSETS overrides the compiled-in location.
std::filesystem::path assets_dir();

}  // namespace sculpt
