// sculpt purify-image: remove an erased concept from real images (All-but-One's DDIM-inversion purification).
#include <iostream>

#include "commands.h"
#include "methods/purify.h"

namespace sculpt::cli {

void add_purify_image(CLI::App& app) {
  auto cfg = std::make_shared<PurifyRunConfig>();
  auto common = std::make_shared<CommonOptions>();
  auto* cmd = app.add_subcommand("purify-image", "Remove an erased concept from images (DDIM inversion + the erased model)");
  cmd->footer(
      "Each image is DDIM-inverted with the original model (guidance 1) and regenerated from the same noise by the\n"
      "erased model (CFG --cfg), so the concept leaves while the rest stays. abo is a reconstruction (our design).\n"
      "Example: sculpt purify-image --method abo --delta out/erase-star/delta.safetensors --prompt star "
      "--image photos/ --out out/purified");
  cmd->add_option("--method", cfg->method, "abo")->capture_default_str();
  cmd->add_option("--original", cfg->original, "the unedited model (default: the built-in ToyWorld model)");
  cmd->add_option("--edited", cfg->edited, "the erased model (diffusers folder or single file)");
  cmd->add_option("--delta", cfg->delta, "or: the erase run's delta file, applied to the original");
  cmd->add_option("--image", cfg->images, "PNG/JPEG file or folder (repeatable)")->required();
  cmd->add_option("--prompt", cfg->prompt, "the erased concept, or the images' caption")->required();
  cmd->add_option("--steps", cfg->steps, "DDIM steps of inversion and regeneration")->capture_default_str();
  cmd->add_option("--cfg", cfg->guidance, "guidance scale of the regeneration")->capture_default_str();
  cmd->add_option("--batch", cfg->batch, "images per batch")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--out", cfg->out, "output folder (one PNG per image, same names)")->required();
  add_common_options(*cmd, *common);
  cmd->callback([cfg, common] {
    cfg->device = apply_common_options(*common);
    cfg->progress = !common->json;
    const auto result = purify_run(*cfg);
    if (common->json) return print_json(result);
    std::cout << "purified " << result["images"].size() << " images in " << result["seconds"].get<double>()
              << " s; wrote " << cfg->out.string() << '\n';
  });
}

}  // namespace sculpt::cli
