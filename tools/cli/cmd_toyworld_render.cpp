// sculpt toyworld render: ToyWorld images with their ground-truth labels (JSON).
#include <iostream>

#include "commands.h"
#include "toyworld/samples.h"

namespace sculpt::cli {

void add_toyworld_render(CLI::App& toyworld_cmd) {
  struct Opts {
    toyworld::ToyWorldRenderConfig cfg;
    CommonOptions common;
  };
  auto o = std::make_shared<Opts>();
  auto& c = o->cfg;
  auto* cmd = toyworld_cmd.add_subcommand("render", "Write ToyWorld images with their ground-truth labels (JSON)");
  cmd->footer(
      "Example: sculpt toyworld render --seed 3 --count 64 --style pixel-art --out out/toy\n"
      "Writes 000000.png … (scene index), labels.json (caption, canonical prompt, labels) and grid.png.");
  cmd->add_option("--out", c.out, "output folder")->required();
  cmd->add_option("--seed", c.seed, "dataset seed")->capture_default_str();
  cmd->add_option("--count", c.count, "number of images")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--first-index", c.first_index, "index of the first scene")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--size", c.size, "image side in pixels (even)")->capture_default_str();
  cmd->add_flag("--include-held-out", c.include_held_out, "also draw the held-out (shape, colour) pairs");
  cmd->add_option("--two-object-rate", c.two_object_rate, "share of two-object scenes")->capture_default_str();
  cmd->add_option("--instance", c.instance, "every image shows emblem K (0..3)")->capture_default_str();
  cmd->add_option("--instance-rate", c.instance_rate, "share of images showing a random emblem")
      ->capture_default_str();
  cmd->add_option("--shape", c.shape, "fix the (first) object's shape: circle, square, triangle, star, heart, "
                  "cross, hexagon, crescent");
  cmd->add_option("--colour,--color", c.colour, "fix the (first) object's colour: red, orange, yellow, green, "
                  "cyan, blue, purple, pink");
  cmd->add_option("--background", c.background, "fix the background: plain, stripes, dots, checkerboard, gradient");
  cmd->add_option("--style", c.style, "fix the style: filled, outline, pixel-art, sketchy");
  cmd->add_option("--spurious-shape", c.spurious_shape, "spurious mode: this shape …");
  cmd->add_option("--spurious-background", c.spurious_background, "… gets this background …");
  cmd->add_option("--spurious-rate", c.spurious_rate, "… with this probability")->capture_default_str();
  cmd->add_option("--spurious-other-rate", c.spurious_other_rate,
                  "probability of that background for scenes without the shape")->capture_default_str();
  cmd->add_flag("!--no-grid", c.grid, "do not write grid.png");
  add_common_options(*cmd, o->common);
  cmd->callback([o] {
    apply_common_options(o->common);
    o->cfg.progress = !o->common.json;
    const auto summary = toyworld::toyworld_render(o->cfg);
    if (o->common.json) return print_json(summary);
    std::cout << "wrote " << summary["files"].get<int64_t>() << " images and " << summary["labels"].get<std::string>()
              << " to " << o->cfg.out.string() << '\n';
  });
}

}  // namespace sculpt::cli
