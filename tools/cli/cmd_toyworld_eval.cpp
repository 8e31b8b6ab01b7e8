// sculpt toyworld eval: the quality audit of a ToyWorld model (held-out pairs, paraphrases, empty prompt).
#include <iostream>

#include "commands.h"
#include "eval/toyworld_quality.h"
#include "pipeline/model_loader.h"

namespace sculpt::cli {

void add_toyworld_eval(CLI::App& toyworld_cmd) {
  struct Opts {
    std::string model, judge;
    ToyQualityConfig cfg;
    CommonOptions common;
  };
  auto o = std::make_shared<Opts>();
  o->cfg.out = "out/toyworld-quality";
  auto* cmd = toyworld_cmd.add_subcommand(
      "eval", "Audit a ToyWorld model: does it draw the prompted shape/colour/background/style, also for held-out "
              "pairs and paraphrases?");
  cmd->footer(
      "Example: sculpt toyworld eval --out out/quality   (the built-in model; about 10 minutes on 2 cores)\n"
      "Writes quality.json, quality.md (the table) and grid_<condition>.png. A guidance sweep on the held-out\n"
      "pairs picks the scale every condition is then sampled at.");
  cmd->add_option("--model", o->model, "ToyWorld diffusers folder (default: the built-in model)");
  cmd->add_option("--judge", o->judge, "judge folder (default: MODEL/judge)");
  cmd->add_option("--out", o->cfg.out, "output folder")->capture_default_str();
  cmd->add_option("--images", o->cfg.images_per_condition, "images per condition")->capture_default_str()
      ->check(CLI::Range(2, 100000));
  cmd->add_option("--sweep-images", o->cfg.sweep_images, "images per held-out pair and scale in the sweep")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--cfg", o->cfg.guidance_scales, "guidance scales to sweep (repeatable)")->capture_default_str();
  cmd->add_option("--steps", o->cfg.sampling.steps, "DDIM steps")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seed", o->cfg.seed, "seed of prompts and noise")->capture_default_str();
  cmd->add_option("--batch", o->cfg.sampling.batch_size, "images per UNet batch")->capture_default_str()
      ->check(CLI::PositiveNumber);
  add_common_options(*cmd, o->common);
  cmd->callback([o] {
    apply_common_options(o->common);
    auto sd = load_stable_diffusion(o->model);
    const auto judge_dir = o->judge.empty() ? std::filesystem::path(sd.source) / "judge" : std::filesystem::path(o->judge);
    auto judge = toyworld::load_judge(judge_dir);
    o->cfg.sampling.progress = !o->common.json;
    const auto result = toyworld_quality(sd, judge, o->cfg);
    if (o->common.json) return print_json(result);
    std::cout << "guidance scale " << result["guidance_scale"] << "\n";
    for (const auto& [group, acc] : result["groups"].items()) std::cout << group << ": " << acc.dump() << "\n";
    std::cout << "empty prompt: " << result["empty"].dump() << "\npass: " << result["pass"].dump() << "\nwrote "
              << (o->cfg.out / "quality.json").string() << ", quality.md, grid_*.png\n";
  });
}

}  // namespace sculpt::cli
