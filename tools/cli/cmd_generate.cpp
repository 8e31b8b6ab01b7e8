// sculpt generate: txt2img (and img2img with --init-image) with classifier-free guidance.
#include <iostream>

#include "commands.h"
#include "core/check.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "pipeline/model_export.h"
#include "pipeline/model_loader.h"
#include "pipeline/stable_diffusion.h"
#include "schedulers/scheduler.h"
#include "train/lora.h"

namespace sculpt::cli {
namespace fs = std::filesystem;

namespace {

struct GenerateOpts {
  std::string model, config, prediction_type, out, init_latents, save_latents, init_image;
  std::vector<std::string> loras, deltas;
  GenerateConfig gen;
  CommonOptions common;
};

// --out FILE.png: one image, or a grid when there are several; --out DIR: DIR/000.png … plus grid.png.
std::vector<fs::path> write_images(const torch::Tensor& images, const fs::path& out) {
  std::vector<fs::path> written;
  const int64_t n = images.size(0);
  const auto cols = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n))));
  if (out.extension() == ".png") {
    image_write_png(out, n == 1 ? images[0] : image_grid(images, cols));
    return {out};
  }
  for (int64_t i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%03lld.png", static_cast<long long>(i));
    image_write_png(out / name, images[i]);
    written.push_back(out / name);
  }
  if (n > 1) {
    image_write_png(out / "grid.png", image_grid(images, cols));
    written.push_back(out / "grid.png");
  }
  return written;
}

// "FILE[:weight]": the weight is the text after the last ':' when it reads as a number.
std::pair<std::string, double> parse_lora_spec(const std::string& spec) {
  const auto colon = spec.rfind(':');
  if (colon != std::string::npos && colon + 1 < spec.size()) {
    try {
      size_t used = 0;
      const double w = std::stod(spec.substr(colon + 1), &used);
      if (used == spec.size() - colon - 1) return {spec.substr(0, colon), w};
    } catch (const std::exception&) {
    }
  }
  return {spec, 1.0};
}

void run_generate(GenerateOpts& o) {
  const auto device = apply_common_options(o.common);
  auto sd = load_stable_diffusion(o.model, {o.config, o.prediction_type});
  for (const auto& d : o.deltas) delta_apply(sd, d);
  for (const auto& spec : o.loras) {
    const auto [file, weight] = parse_lora_spec(spec);
    lora_merge_file(sd, file, weight);
  }
  sd.to(torch::Device(device));
  if (!o.init_latents.empty()) {
    SafeTensorsFile f(o.init_latents);
    SCULPT_CHECK(f.contains("latents"), o.init_latents, " has no tensor named 'latents' (it has ", f.keys().size(),
                 " others)");
    o.gen.init_latents = f.get("latents").to(torch::kFloat32);
  }
  if (!o.init_image.empty()) {
    SCULPT_USAGE_CHECK(o.init_latents.empty(), "--init-image and --init-latents exclude each other");
    o.gen.init_image = image_read(o.init_image).unsqueeze(0);
    if (o.gen.width == 0) o.gen.width = o.gen.init_image.size(3);
    if (o.gen.height == 0) o.gen.height = o.gen.init_image.size(2);
    SCULPT_USAGE_CHECK(o.gen.init_image.size(3) == o.gen.width && o.gen.init_image.size(2) == o.gen.height,
                       "--init-image ", o.init_image, " is ", o.gen.init_image.size(3), "x", o.gen.init_image.size(2),
                       " but --width/--height ask for ", o.gen.width, "x", o.gen.height);
  }
  o.gen.progress = !o.common.json;
  auto result = generate(sd, o.gen);
  const auto files = write_images(result.images, o.out);
  if (!o.save_latents.empty()) write_safetensors(o.save_latents, {{"latents", result.latents}}, {{"format", "pt"}});
  nlohmann::json summary = {{"model", sd.source}, {"prompts", o.gen.prompts}, {"seed", o.gen.seed},
                            {"steps", o.gen.steps}, {"guidance_scale", o.gen.guidance_scale},
                            {"scheduler", o.gen.scheduler}, {"images", result.images.size(0)},
                            {"width", result.images.size(3)}, {"height", result.images.size(2)}};
  std::vector<std::string> paths;
  for (const auto& f : files) paths.push_back(f.string());
  summary["files"] = paths;
  if (!o.save_latents.empty()) summary["latents"] = o.save_latents;
  if (!o.loras.empty()) summary["loras"] = o.loras;
  if (!o.deltas.empty()) summary["deltas"] = o.deltas;
  if (o.common.json) return print_json(summary);
  for (const auto& p : paths) std::cout << "wrote " << p << '\n';
}

}  // namespace

void add_generate(CLI::App& app) {
  auto o = std::make_shared<GenerateOpts>();
  auto* cmd = app.add_subcommand("generate", "Generate images from prompts (txt2img, or img2img with --init-image)");
  cmd->footer(
      "Example: sculpt generate --model models/toyworld --prompt \"a red star on a striped background\" "
      "--steps 25 --cfg 5 --seed 1 --batch 4 --out out/stars");
  cmd->add_option("--model", o->model, "diffusers folder or single-file .safetensors (default: the built-in ToyWorld model)");
  cmd->add_option("--config", o->config, "diffusers folder whose configs/tokenizer describe a single file");
  cmd->add_option("--prediction-type", o->prediction_type, "override the scheduler config: epsilon | v_prediction")
      ->check(CLI::IsMember({"epsilon", "v_prediction", "sample"}));
  cmd->add_option("--prompt", o->gen.prompts, "prompt (repeatable: one batch per prompt)")->required();
  cmd->add_option("--negative-prompt", o->gen.negative_prompts, "negative prompt (one for all, or one per prompt)");
  cmd->add_option("--steps", o->gen.steps, "denoising steps")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--cfg", o->gen.guidance_scale, "classifier-free guidance scale (<= 1: off)")->capture_default_str();
  cmd->add_option("--scheduler", o->gen.scheduler, "sampler")
      ->capture_default_str()
      ->check(CLI::IsMember(scheduler_names()));
  cmd->add_option("--eta", o->gen.eta, "DDIM eta (0: deterministic)")->capture_default_str();
  cmd->add_option("--seed", o->gen.seed, "seed of the initial noise")->capture_default_str();
  cmd->add_option("--width", o->gen.width, "width in pixels (default: the model's native size)");
  cmd->add_option("--height", o->gen.height, "height in pixels (default: the model's native size)");
  cmd->add_option("--batch", o->gen.images_per_prompt, "images per prompt")->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--clip-skip", o->gen.clip_skip, "use the text encoder's Nth-from-last layer (1: penultimate)")
      ->capture_default_str();
  cmd->add_option("--init-latents", o->init_latents, "safetensors file with tensor 'latents' [N,C,h,w]: start noise")
      ->check(CLI::ExistingFile);
  cmd->add_option("--save-latents", o->save_latents, "write the final latents to this safetensors file");
  cmd->add_option("--init-image", o->init_image, "img2img: start from this image (PNG/JPEG)")->check(CLI::ExistingFile);
  cmd->add_option("--strength", o->gen.strength, "img2img: share of the schedule re-run (0..1]")->capture_default_str();
  cmd->add_option("--lora", o->loras, "apply a LoRA file (kohya or diffusers keys): FILE[:weight], repeatable");
  cmd->add_option("--delta", o->deltas, "apply a delta safetensors (changed parameters only), repeatable")
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", o->out, "output FILE.png (one image or a grid) or DIR")->required();
  add_common_options(*cmd, o->common);
  cmd->callback([o] { run_generate(*o); });
}

}  // namespace sculpt::cli
