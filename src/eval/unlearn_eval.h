// `sculpt eval` on ToyWorld: audits an edited model against its original for one erased concept.
// Both models sample the same prompts from the same seeds (eval/sampling.h); the judge reads every
// image; metrics.json follows the schema in docs/eval.md ("sculpt.eval/1").
//
// Rows: "original", "edited", and "negative_prompt" (the original with the concept's word as negative
// prompt: the inference-time baseline every erasure must beat). Per row:
//   UA, UA_paraphrase   share of erase / paraphrase images in which the judge does not find the concept
//                       (its probability < 0.6, methods.md §12.5)
//   IRA                 judge accuracy on the other values of the concept's kind
//   CRA                 judge accuracy on the other kinds, prompts without the concept
//   toyfid              Fréchet distance (judge features) between the row's retain images (IRA + CRA
//                       prompts) and as many fresh renders
//   clip_score          ToyCLIP score (torchmetrics convention) on retain and on erase prompts
//   locality            vs the original, same seeds: retain pixel MSE, retain judge-feature distance,
//                       erase layout IoU (eval/layout.h)
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

#include "eval/sampling.h"
#include "eval/toy_concept.h"
#include "pipeline/stable_diffusion.h"
#include "toyworld/judge.h"
#include "toyworld/toyclip.h"

namespace sculpt {

// The ToyWorld sampler convention of the methods: DDIM 20 steps, eta 0, CFG 5.
inline SampleSettings toyworld_sampling() {
  SampleSettings s;
  s.steps = 20;
  s.guidance_scale = 5.0;
  return s;
}

struct UnlearnEvalConfig {
  std::string concept, kind;     // kind: "" = from the name
  int64_t images = 200;          // per prompt set (erase, paraphrase, IRA, CRA)
  bool negative_prompt_row = true;
  int64_t seed = 0;
  SampleSettings sampling = toyworld_sampling();  // DDIM 20 steps, eta 0, guidance 5 (methods.md §1.5)
  std::filesystem::path out;     // metrics.json, report.html, grid_<set>.png
  std::filesystem::path run_log;  // optional: the edit run's summary JSON (or JSONL: its last line)
  std::string original_name = "original", edited_name = "edited";
  std::filesystem::path judge_file;  // judge.safetensors: its fingerprint goes into metrics.json
};

// The models and scorers of one audit, loaded as `sculpt eval` and `sculpt demo` take them: the edited
// model as a folder or single file, or a delta or LoRA file on the original (exactly one); the judge and
// ToyCLIP from the original's folder unless given (no ToyCLIP there: no CLIP score).
struct EvalSources {
  std::filesystem::path original, edited, delta, lora, judge, clip;
};
struct EvalInputs {
  StableDiffusion original, edited;
  toyworld::ToyJudge judge{nullptr};
  toyworld::ToyClip clip{nullptr};
  std::filesystem::path judge_file;  // judge.safetensors, for the fingerprint
};
EvalInputs load_eval_inputs(const EvalSources& sources);

// `clip` may be null (no CLIP score). The judge and the original's text encoder score every row.
nlohmann::json unlearn_eval(StableDiffusion& original, StableDiffusion& edited, toyworld::ToyJudge& judge,
                            toyworld::ToyClip* clip, const UnlearnEvalConfig& config);

// Throws when the two models' configurations (UNet, text encoder, VAE) differ.
void check_same_architecture(StableDiffusion& a, StableDiffusion& b);

}  // namespace sculpt
