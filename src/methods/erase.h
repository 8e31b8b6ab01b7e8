// `sculpt erase`: concept erasure behind one configuration, one output path and one run summary.
// Methods, one file each, specified in ../shared/methods.md:
//   esd-x, esd-u  ESD, negative-guidance self-distillation (§2; esd.cpp)
//   uce           Unified Concept Editing, closed form on attn2.to_k/to_v (§3; uce.cpp)
//   ac            Ablating Concepts, model-based or noise-based (§4; ablating_concepts.cpp)
//   abo           All-but-One surgical erasing (§5; reconstruction: our design; all_but_one.cpp)
//   doco          DoCo, concept-domain correction with gradient surgery (§6; doco.cpp)
// The model is edited in memory and written to `out` in the chosen formats; the input is never modified.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/model_loader.h"

namespace sculpt {

// Every setting a method may read; 0 / -1 / empty means "the method's default for this model" (ToyWorld
// defaults for a model with latents of at most 16×16, the papers' defaults otherwise; erase_defaults()).
struct EraseConfig {
  std::string method;                 // erase_method_names()
  std::filesystem::path model;        // empty: the built-in ToyWorld model
  std::vector<std::string> concepts;  // what to erase ("star"); several for esd-*, uce, abo
  std::string alternative;            // abo: what the concept turns into; uce: the guide concept
  std::string anchor;                 // ac, doco: the anchor concept ("circle" for "star")
  std::vector<std::string> preserve;  // uce: concepts kept (ToyWorld default: every other value + "")
  int64_t steps = 0;
  double lr = 0;
  int64_t batch = 0;
  int64_t seed = 0;
  double eta = 1.0;                   // esd: negative guidance; abo: scale of the alternative's guidance
  double lambda = -1;                 // abo: weight of the unconditional anchor (1); uce: λ (0.5)
  std::vector<std::string> params;    // parameter presets (empty: the method's)
  int64_t trajectory_steps = 0;       // K of the DDIM trajectories x_t comes from (20 ToyWorld, 50 SD)
  double trajectory_guidance = 3.0;   // CFG of those trajectories
  int64_t cache_trajectories = 0;     // > 0: draw x_t from a pool of this many trajectories per concept
  std::string abo_no_alt_target = "zero";  // abo without an alternative: zero | esd
  std::string esd_xt_source = "frozen";    // esd: frozen | student (the original code)
  std::string esd_t_mapping = "consistent";  // esd: consistent | legacy (the original code's mismatch)
  std::string uce_tokens = "span";    // uce: span (paper-era) | last (newer code)
  double uce_preserve_scale = 0;      // uce s_p (0: max(0.1, 1/#preserve))
  std::string ac_loss = "model";      // ac: model | noise
  double ac_reg_weight = -1;          // ac: anchor regulariser weight (-1: 0.2 ToyWorld... see ac)
  int64_t ac_anchor_images = 0;       // ac, doco: images generated for the anchor (96 / 128 ToyWorld)
  std::string doco_surgery = "code";  // doco: code (authors') | pcgrad | none
  int64_t doco_warmup = -1;           // doco: discriminator-only steps (100 ToyWorld, 1000 SD)
  double doco_disc_lr = 0;            // doco: discriminator Adam lr (2e-4 ToyWorld, 1e-4 SD)
  double doco_lambda = 1.0;           // doco: surgery strength λ (code variant)
  double doco_prior_weight = 1.0;     // doco without surgery: L_adv + 0.1·w·L_prior
  int64_t lora_rank = 0;              // > 0: train LoRA layers of this rank on the selection instead
  std::vector<std::string> formats{"delta"};  // delta | diffusers | single-file | lora
  std::filesystem::path out;
  std::string device = "cpu";
  bool progress = true;
};

const std::vector<std::string>& erase_method_names();

// The defaults a run resolves to (printed in the summary so a run can be repeated exactly).
EraseConfig erase_defaults(const EraseConfig& config, const StableDiffusion& sd);

// Loads the model, runs the method, writes the outputs and out/run.json (method, settings, wall_seconds,
// peak_memory_mb, trained_parameters, steps, losses, outputs, provenance) and returns that summary.
nlohmann::json erase_run(const EraseConfig& config);

}  // namespace sculpt
