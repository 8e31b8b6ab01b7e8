// sculpt lora merge|extract|convert: LoRA files between tools and models.
#include <iostream>

#include "commands.h"
#include "core/check.h"
#include "pipeline/model_export.h"
#include "train/lora.h"

namespace sculpt::cli {
namespace fs = std::filesystem;
namespace {

struct LoraOpts {
  std::string model, tuned, lora, out, format = "kohya";
  double weight = 1.0;
  int64_t rank = 4;
  LoraConfig where;
  CommonOptions common;
};

// OUT ending in .safetensors: a single file; otherwise a diffusers folder.
void write_model(StableDiffusion& sd, const fs::path& out) {
  if (out.extension() == ".safetensors") single_file_write(sd, out);
  else diffusers_write(sd, out);
}

void run_merge(LoraOpts& o) {
  apply_common_options(o.common);
  auto sd = load_stable_diffusion(o.model);
  lora_merge_file(sd, o.lora, o.weight);
  write_model(sd, o.out);
  if (o.common.json) return print_json({{"model", o.model}, {"lora", o.lora}, {"weight", o.weight}, {"out", o.out}});
  std::cout << "wrote " << o.out << '\n';
}

void run_extract(LoraOpts& o) {
  apply_common_options(o.common);
  auto base = load_stable_diffusion(o.model);
  auto tuned = load_stable_diffusion(o.tuned);
  const auto layers = lora_extract(base, tuned, o.where, o.rank);
  write_safetensors(o.out, lora_tensors(layers, lora_format_from_string(o.format)),
                    {{"sculpt_command", "lora extract"}, {"rank", std::to_string(o.rank)}});
  if (o.common.json)
    return print_json({{"base", o.model}, {"tuned", o.tuned}, {"layers", layers.size()}, {"rank", o.rank}, {"out", o.out}});
  std::cout << "extracted " << layers.size() << " layers (rank " << o.rank << ") to " << o.out << '\n';
}

void run_convert(LoraOpts& o) {
  apply_common_options(o.common);
  const auto layers = lora_read(o.lora);
  write_safetensors(o.out, lora_tensors(layers, lora_format_from_string(o.format)),
                    {{"sculpt_command", "lora convert"}});
  if (o.common.json) return print_json({{"lora", o.lora}, {"format", o.format}, {"layers", layers.size()}, {"out", o.out}});
  std::cout << "converted " << layers.size() << " layers to " << o.format << ": " << o.out << '\n';
}

}  // namespace

void add_lora(CLI::App& app) {
  auto* cmd = app.add_subcommand("lora", "Merge, extract or convert LoRA files");
  cmd->require_subcommand(1);

  auto m = std::make_shared<LoraOpts>();
  auto* merge = cmd->add_subcommand("merge", "Merge a LoRA into a model and write the merged model");
  merge->footer("Example: sculpt lora merge --model models/toyworld --lora style.safetensors --weight 0.8 --out merged");
  merge->add_option("--model", m->model, "diffusers folder or single file")->required();
  merge->add_option("--lora", m->lora, "LoRA file (kohya or diffusers/PEFT keys)")->required()->check(CLI::ExistingFile);
  merge->add_option("--weight", m->weight, "multiplier")->capture_default_str();
  merge->add_option("--out", m->out, "output diffusers folder, or FILE.safetensors for a single file")->required();
  add_common_options(*merge, m->common);
  merge->callback([m] { run_merge(*m); });

  auto e = std::make_shared<LoraOpts>();
  auto* extract = cmd->add_subcommand("extract", "Extract a LoRA from the difference of two models (SVD)");
  extract->footer("Example: sculpt lora extract --model base --tuned finetuned --rank 8 --out diff.safetensors");
  extract->add_option("--model", e->model, "base model")->required();
  extract->add_option("--tuned", e->tuned, "fine-tuned model with the same architecture")->required();
  extract->add_option("--rank", e->rank, "rank")->capture_default_str();
  extract->add_option("--params", e->where.where.presets, "layers to consider (presets)")->capture_default_str();
  extract->add_option("--targets", e->where.target_pattern, "regex over module paths")->capture_default_str();
  extract->add_option("--format", e->format, "kohya | peft")->capture_default_str();
  extract->add_option("--out", e->out, "output .safetensors")->required();
  add_common_options(*extract, e->common);
  extract->callback([e] { run_extract(*e); });

  auto c = std::make_shared<LoraOpts>();
  auto* convert = cmd->add_subcommand("convert", "Convert a LoRA between kohya and diffusers/PEFT keys");
  convert->footer("Example: sculpt lora convert --lora kohya.safetensors --format peft --out peft.safetensors");
  convert->add_option("--lora", c->lora, "input LoRA file")->required()->check(CLI::ExistingFile);
  convert->add_option("--format", c->format, "target format: kohya | peft")->required();
  convert->add_option("--out", c->out, "output .safetensors")->required();
  add_common_options(*convert, c->common);
  convert->callback([c] { run_convert(*c); });
}

}  // namespace sculpt::cli
