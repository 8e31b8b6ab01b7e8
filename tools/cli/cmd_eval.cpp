// sculpt eval: audit an edited model against its original for one erased concept (ToyWorld).
#include <iostream>

#include "commands.h"
#include "eval/unlearn_eval.h"

namespace sculpt::cli {

namespace {

struct EvalOpts {
  std::string original, edited, delta, lora, judge, clip;
  bool quick = false, no_negative = false;
  UnlearnEvalConfig cfg;
  CommonOptions common;
};

void run_eval(EvalOpts& o) {
  apply_common_options(o.common);
  auto in = load_eval_inputs({o.original, o.edited, o.delta, o.lora, o.judge, o.clip});
  o.cfg.judge_file = in.judge_file;
  if (o.quick) o.cfg.images = std::min<int64_t>(o.cfg.images, 32), o.cfg.sampling.steps = std::min<int64_t>(o.cfg.sampling.steps, 15);
  o.cfg.negative_prompt_row = !o.no_negative;
  o.cfg.sampling.progress = !o.common.json;
  const auto r = unlearn_eval(in.original, in.edited, in.judge, in.clip ? &in.clip : nullptr, o.cfg);
  if (o.common.json) return print_json(r);
  for (const auto& [row, m] : r["rows"].items()) {
    std::cout << row << ": UA " << m["UA"] << "  UA-para " << m["UA_paraphrase"] << "  IRA " << m["IRA"] << "  CRA "
              << m["CRA"] << "  ToyFID " << m["toyfid"];
    if (m.contains("locality")) std::cout << "  locality " << m["locality"].dump();
    std::cout << "\n";
  }
  std::cout << "wrote " << (o.cfg.out / "metrics.json").string() << " and " << (o.cfg.out / "report.html").string() << "\n";
}

}  // namespace

void add_eval(CLI::App& app) {
  auto o = std::make_shared<EvalOpts>();
  o->cfg.out = "out/eval";
  auto* cmd = app.add_subcommand("eval", "Audit an edited model against its original: is the concept gone, is the rest kept?");
  cmd->footer(
      "Example: sculpt eval --delta out/esd/delta.safetensors --concept star --out out/eval-star\n"
      "Writes metrics.json (schema: docs/eval.md) and report.html. --original defaults to the built-in ToyWorld\n"
      "model; its judge/ and toyclip/ folders score the images.");
  cmd->add_option("--original", o->original, "the unedited model (default: the built-in ToyWorld model)");
  cmd->add_option("--edited", o->edited, "the edited model (diffusers folder or single file)");
  cmd->add_option("--delta", o->delta, "or: a delta file applied to the original");
  cmd->add_option("--lora", o->lora, "or: a LoRA file merged into the original (weight 1)");
  cmd->add_option("--concept", o->cfg.concept, "the erased concept: a shape, colour, background or style name")->required();
  cmd->add_option("--kind", o->cfg.kind, "shape | colour | background | style (default: from the name)");
  cmd->add_option("--out", o->cfg.out, "output folder")->capture_default_str();
  cmd->add_option("--images", o->cfg.images, "images per prompt set (erase, paraphrase, IRA, CRA)")
      ->capture_default_str()->check(CLI::Range(2, 100000));
  cmd->add_flag("--quick", o->quick, "32 images per set and 15 steps: for demos and tests");
  cmd->add_flag("--no-negative-row", o->no_negative, "skip the 'concept as negative prompt' baseline row");
  cmd->add_option("--seed", o->cfg.seed, "seed of prompts and noise")->capture_default_str();
  cmd->add_option("--steps", o->cfg.sampling.steps, "DDIM steps")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--cfg", o->cfg.sampling.guidance_scale, "guidance scale")->capture_default_str();
  cmd->add_option("--batch", o->cfg.sampling.batch_size, "images per UNet batch")->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--judge", o->judge, "judge folder (default: ORIGINAL/judge)");
  cmd->add_option("--clip", o->clip, "ToyCLIP folder (default: ORIGINAL/toyclip; none there: no CLIP score)");
  cmd->add_option("--run-log", o->cfg.run_log, "the edit run's summary JSON (or JSONL log): cost columns");
  add_common_options(*cmd, o->common);
  cmd->callback([o] { run_eval(*o); });
}

}  // namespace sculpt::cli
