// sculpt erase: remove a concept from a model with one of the erasure methods (src/methods/).
#include <iostream>

#include "commands.h"
#include "methods/erase.h"

namespace sculpt::cli {
namespace {

struct EraseOpts {
  EraseConfig cfg;
  CommonOptions common;
};

void run_erase(EraseOpts& o) {
  o.cfg.device = apply_common_options(o.common);
  o.cfg.progress = !o.common.json;
  const auto summary = erase_run(o.cfg);
  if (o.common.json) return print_json(summary);
  std::cout << summary["method"].get<std::string>() << ": trained " << summary["trained_parameters"] << " parameters, "
            << summary["steps"] << " steps in " << summary["wall_seconds"].get<double>() << " s, peak memory "
            << summary["peak_memory_mb"].get<double>() << " MB\n";
  for (const auto& f : summary["outputs"]) std::cout << "wrote " << f.get<std::string>() << '\n';
  std::cout << "wrote " << (o.cfg.out / "run.json").string() << '\n';
}

}  // namespace

void add_erase(CLI::App& app) {
  auto o = std::make_shared<EraseOpts>();
  auto& c = o->cfg;
  auto* cmd = app.add_subcommand("erase", "Erase concepts from a model (esd-x, esd-u, uce, ac, abo, doco)");
  cmd->footer(
      "Methods (../shared/methods.md):\n"
      "  esd-x, esd-u  ESD: negative-guidance self-distillation on cross-attention (x) or the rest of the UNet (u)\n"
      "  uce           Unified Concept Editing: closed-form edit of attn2.to_k/to_v (--alternative = guide,\n"
      "                --preserve = kept concepts)\n"
      "  ac            Ablating Concepts: the concept produces what --anchor produces (model- or noise-based)\n"
      "  abo           All-but-One: the concept's guidance term becomes the --alternative's (or zero) while the\n"
      "                unconditional prediction is pinned. RECONSTRUCTION: our design, the paper has no code.\n"
      "  doco          DoCo: a latent PatchGAN aligns the concept's x0 estimates with --anchor's, with gradient\n"
      "                surgery against the prior loss (--surgery code = authors', pcgrad = exact projection)\n"
      "Defaults follow the papers for SD models and methods.md's ToyWorld column for latents of <= 16x16.\n"
      "Example: sculpt erase --method abo --concept star --alternative circle --out out/erase-star\n"
      "Then:    sculpt eval --delta out/erase-star/delta.safetensors --concept star --run-log "
      "out/erase-star/run.json --out out/eval-star");
  cmd->add_option("--method", c.method, "esd-x | esd-u | uce | ac | abo | doco")->required();
  cmd->add_option("--model", c.model, "diffusers folder or single file (default: the built-in ToyWorld model)");
  cmd->add_option("--concept", c.concepts, "concept to erase (repeatable: esd-*, uce, abo)")->required();
  cmd->add_option("--alternative", c.alternative, "abo: what the concept becomes; uce: the guide concept");
  cmd->add_option("--anchor", c.anchor, "ac, doco: the anchor concept the erased one should produce");
  cmd->add_option("--preserve", c.preserve, "uce: concepts to keep, comma-separated")->delimiter(',');
  cmd->add_option("--out", c.out, "output folder: the edited model, train_log.jsonl, run.json")->required();
  cmd->add_option("--format", c.formats, "delta | diffusers | single-file | lora (repeatable)")->capture_default_str();
  cmd->add_option("--steps", c.steps, "optimizer steps (0: the method's default)");
  cmd->add_option("--lr", c.lr, "learning rate (0: the method's default)");
  cmd->add_option("--batch", c.batch, "x_t samples per step (0: the method's default)");
  cmd->add_option("--seed", c.seed, "seed of trajectories, noise and timesteps")->capture_default_str();
  cmd->add_option("--params", c.params, "parameter presets to train instead of the method's (repeatable)");
  cmd->add_option("--lora-rank", c.lora_rank, "train LoRA layers of this rank on those parameters (--format lora)");
  cmd->add_option("--eta", c.eta, "esd: negative guidance; abo: scale of the alternative's guidance")
      ->capture_default_str();
  cmd->add_option("--lambda", c.lambda, "abo: weight of the unconditional anchor (1); uce: λ (0.5)");
  cmd->add_option("--trajectory-steps", c.trajectory_steps, "DDIM steps K of the x_t trajectories (0: 20 ToyWorld, 50 SD)");
  cmd->add_option("--trajectory-guidance", c.trajectory_guidance, "CFG of the x_t trajectories")->capture_default_str();
  cmd->add_option("--cache-trajectories", c.cache_trajectories,
                  "esd/abo: draw x_t from this many precomputed trajectories per concept (0: fresh each step)")
      ->capture_default_str();
  cmd->add_option("--no-alt-target", c.abo_no_alt_target, "abo without --alternative: zero | esd")->capture_default_str();
  cmd->add_option("--xt-source", c.esd_xt_source, "esd: trajectories of the frozen | student model")
      ->capture_default_str();
  cmd->add_option("--t-mapping", c.esd_t_mapping, "esd: consistent | legacy (the original code's timesteps)")
      ->capture_default_str();
  cmd->add_option("--tokens", c.uce_tokens, "uce: span | last")->capture_default_str();
  cmd->add_option("--preserve-scale", c.uce_preserve_scale, "uce: s_p (0: max(0.1, 1/#preserve))");
  cmd->add_option("--ac-loss", c.ac_loss, "ac: model | noise")->capture_default_str();
  cmd->add_option("--reg-weight", c.ac_reg_weight, "ac: anchor regulariser weight (-1: 0.2 ToyWorld, 0 SD)");
  cmd->add_option("--anchor-images", c.ac_anchor_images, "ac, doco: images generated for the anchor (0: 96/128 ToyWorld, 200 SD)");
  cmd->add_option("--surgery", c.doco_surgery, "doco: code | pcgrad | none")->capture_default_str();
  cmd->add_option("--warmup", c.doco_warmup, "doco: discriminator-only steps (-1: 100 ToyWorld, 1000 SD)");
  cmd->add_option("--disc-lr", c.doco_disc_lr, "doco: discriminator learning rate (0: 2e-4 ToyWorld, 1e-4 SD)");
  add_common_options(*cmd, o->common);
  cmd->callback([o] { run_erase(*o); });
}

}  // namespace sculpt::cli
