// sculpt toyworld <build|render>: the built-in world.
#include <iostream>

#include "commands.h"
#include "toyworld/build.h"

namespace sculpt::cli {
namespace {

struct BuildOpts {
  toyworld::ToyWorldBuildConfig cfg;
  CommonOptions common;
};

void run_build(BuildOpts& o) {
  apply_common_options(o.common);
  o.cfg.progress = !o.common.json;
  const auto summary = toyworld::toyworld_build(o.cfg);
  if (o.common.json) return print_json(summary);
  std::cout << summary.dump(2) << "\nwrote " << o.cfg.out.string() << '\n';
}

}  // namespace

void add_toyworld(CLI::App& app) {
  auto* cmd = app.add_subcommand("toyworld", "The built-in ToyWorld: render data, build the tiny model");
  cmd->require_subcommand(1);
  auto o = std::make_shared<BuildOpts>();
  auto* build = cmd->add_subcommand("build", "Build ToyWorld from scratch: tokenizer, ToyCLIP, VAE, UNet, judge");
  build->footer("Example: sculpt toyworld build --seed 0 --out models/toyworld   (full: about 90 minutes on 2 cores)\n"
                "Stages already built are kept; --force re-runs them. An interrupted UNet stage resumes.");
  build->add_option("--seed", o->cfg.seed, "seed of every stage")->capture_default_str();
  build->add_option("--out", o->cfg.out, "output folder (a diffusers model + toyclip/ + judge/)")->capture_default_str();
  build->add_option("--preset", o->cfg.preset, "full | mini (tiny sizes, a few steps: for tests)")->capture_default_str();
  build->add_option("--stage", o->cfg.stages, "run only these stages: tokenizer, toyclip, vae, unet, judge");
  build->add_flag("--force", o->cfg.force, "re-run stages whose output exists");
  build->add_option("--max-steps", o->cfg.max_steps,
                    "cap every stage's training steps (benchmarks, smoke runs; not the shipped model)");
  add_common_options(*build, o->common);
  build->callback([o] { run_build(*o); });
  add_toyworld_render(*cmd);
  add_toyworld_eval(*cmd);
}

}  // namespace sculpt::cli
