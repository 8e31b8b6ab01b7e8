#include "train/outputs.h"

#include <algorithm>

#include "core/check.h"
#include "pipeline/model_export.h"

namespace sculpt {

const std::vector<std::string>& output_format_names() {
  static const std::vector<std::string> names{"delta", "diffusers", "single-file", "lora"};
  return names;
}

void check_output_formats(const std::vector<std::string>& formats, bool lora_run) {
  SCULPT_USAGE_CHECK(!formats.empty(), "no output format chosen; known: delta, diffusers, single-file, lora");
  for (const auto& f : formats) {
    const auto& known = output_format_names();
    SCULPT_USAGE_CHECK(std::find(known.begin(), known.end(), f) != known.end(), "unknown output format '", f,
                       "'; known: delta, diffusers, single-file, lora");
    SCULPT_USAGE_CHECK(f != "lora" || lora_run, "the lora output needs a LoRA run (--lora-rank)");
  }
}

std::vector<std::string> write_outputs(StableDiffusion& sd, const std::vector<std::string>& changed, LoraNetwork* lora,
                                       const OutputRequest& r) {
  auto wants = [&](const char* f) { return std::find(r.formats.begin(), r.formats.end(), f) != r.formats.end(); };
  std::vector<std::string> written;
  if (wants("lora")) {
    SCULPT_CHECK(lora != nullptr, "write_outputs: the lora output without a LoRA network");
    const auto file = r.dir / "lora.safetensors";
    lora->save(file, lora_format_from_string(r.lora_format), r.metadata);
    written.push_back(file.string());
  }
  std::vector<std::string> names = changed;
  if (lora) {
    lora->merge();
    names.clear();
    for (const auto& l : lora->layers()) names.push_back(l.component + "." + l.module_path + ".weight");
  }
  if (wants("delta")) {
    const auto file = r.dir / "delta.safetensors";
    delta_write(file, sd, names, r.metadata);
    written.push_back(file.string());
  }
  if (wants("diffusers")) {
    diffusers_write(sd, r.dir / "model");
    written.push_back((r.dir / "model").string());
  }
  if (wants("single-file")) {
    single_file_write(sd, r.dir / "model.safetensors");
    written.push_back((r.dir / "model.safetensors").string());
  }
  return written;
}

}  // namespace sculpt
