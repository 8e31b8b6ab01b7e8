#include "eval/unlearn_eval.h"

#include <chrono>
#include <fstream>

#include "core/check.h"
#include "eval/frechet.h"
#include "eval/judge_score.h"
#include "eval/layout.h"
#include "eval/report.h"
#include "io/atomic_file.h"
#include "io/image.h"
#include "pipeline/model_export.h"
#include "train/lora.h"
#include "toyworld/render.h"

namespace sculpt {
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace toyworld;

namespace {

const char* const kSets[4] = {"erase", "paraphrase", "ira", "cra"};

struct RowImages {
  torch::Tensor sets[4];  // [n, 3, 64, 64] each, in kSets order
  torch::Tensor retain, retain_features;  // IRA + CRA images and their judge features
};

const std::vector<LabeledPrompt>& set_prompts(const ConceptPromptSets& s, int k) {
  return k == 0 ? s.erase : k == 1 ? s.paraphrase : k == 2 ? s.ira : s.cra;
}

RowImages sample_row(StableDiffusion& sd, ToyJudge& judge, const ConceptPromptSets& sets, SampleSettings s,
                     const std::string& row) {
  RowImages r;
  for (int k = 0; k < 4; ++k) {
    std::vector<std::string> prompts;
    std::vector<int64_t> seeds;
    for (const auto& p : set_prompts(sets, k)) prompts.push_back(p.prompt), seeds.push_back(p.seed);
    s.label = row + ": " + kSets[k];
    r.sets[k] = sample_images(sd, prompts, seeds, s);
  }
  r.retain = torch::cat({r.sets[2], r.sets[3]});
  r.retain_features = judge_features(judge, r.retain);
  return r;
}

double miss_rate(ToyJudge& judge, const torch::Tensor& images, const ToyConcept& c) {
  return (concept_probability(judge, images, c) < kDetection).to(torch::kFloat64).mean().item<double>();
}

// FNV-1a 64 of a file: identifies the judge a result was scored with (results compare only under one).
std::string file_fingerprint(const fs::path& file) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : read_file(file)) h = (h ^ ch) * 0x100000001b3ULL;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

double mean_clip(ToyClip* clip, StableDiffusion& scorer, const torch::Tensor& images,
                 const std::vector<LabeledPrompt>& prompts) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> text;
  for (const auto& p : prompts) text.push_back(p.prompt);
  return clip_score(*clip, scorer.text_encoder, scorer.tokenizer, images, text).mean().item<double>();
}

json row_metrics(ToyJudge& judge, ToyClip* clip, StableDiffusion& scorer, const RowImages& r,
                 const ConceptPromptSets& sets, const ToyConcept& c, const torch::Tensor& render_features) {
  json m;
  m["UA"] = miss_rate(judge, r.sets[0], c);
  m["UA_paraphrase"] = miss_rate(judge, r.sets[1], c);
  const auto ira = judge_prompts(judge, r.sets[2], sets.ira);
  m["IRA"] = ira.rate(static_cast<int>(c.kind));
  const auto cra = judge_prompts(judge, r.sets[3], sets.cra);
  m["CRA"] = cra.mean();
  m["CRA_by_kind"] = cra.to_json();
  m["toyfid"] = frechet_distance(r.retain_features, render_features);
  if (clip) {
    auto retain_prompts = sets.ira;
    retain_prompts.insert(retain_prompts.end(), sets.cra.begin(), sets.cra.end());
    m["clip_score"] = {{"retain", mean_clip(clip, scorer, r.retain, retain_prompts)},
                       {"erase", mean_clip(clip, scorer, r.sets[0], sets.erase)}};
  }
  return m;
}

json locality(const RowImages& original, const RowImages& row) {
  const double mse = (original.retain - row.retain).pow(2).mean().item<double>();
  const double feat = (original.retain_features - row.retain_features).norm(2, 1).mean().item<double>();
  const double iou = mask_iou(object_mask(original.sets[0]), object_mask(row.sets[0])).mean().item<double>();
  return {{"retain_pixel_mse", mse}, {"retain_feature_distance", feat}, {"erase_layout_iou", iou}};
}

json read_run_log(const fs::path& file) {
  std::ifstream in(file);
  SCULPT_USAGE_CHECK(in.good(), "cannot read the run log ", file);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = file.extension() == ".jsonl" ? line : last + line;
  json j;
  try {
    j = json::parse(last);
  } catch (const json::exception& e) {
    SCULPT_USAGE_CHECK(false, "run log ", file, " is not JSON (", e.what(), ")");
  }
  json cost = json::object();
  for (const char* k : {"wall_seconds", "peak_memory_mb", "trained_parameters", "steps", "method"})
    if (j.contains(k)) cost[k] = j[k];
  return cost;
}

}  // namespace

EvalInputs load_eval_inputs(const EvalSources& s) {
  const int given = !s.edited.empty() + !s.delta.empty() + !s.lora.empty();
  SCULPT_USAGE_CHECK(given == 1, "give exactly one of --edited MODEL, --delta FILE, --lora FILE[:weight]");
  EvalInputs in;
  in.original = load_stable_diffusion(s.original);
  in.edited = load_stable_diffusion(s.edited.empty() ? s.original : s.edited);
  if (!s.delta.empty()) delta_apply(in.edited, s.delta), in.edited.source += " + delta " + s.delta.string();
  if (!s.lora.empty()) lora_merge_file(in.edited, s.lora, 1.0), in.edited.source += " + LoRA " + s.lora.string();
  const fs::path base = in.original.source;
  const fs::path judge_dir = s.judge.empty() ? base / "judge" : s.judge;
  in.judge = toyworld::load_judge(judge_dir);
  in.judge_file = judge_dir / "judge.safetensors";
  const fs::path clip_dir = s.clip.empty() ? base / "toyclip" : s.clip;
  if (fs::exists(clip_dir / "toyclip.safetensors"))
    in.clip = toyworld::load_toyclip(clip_dir, in.original.text_encoder->config.hidden_size);
  else
    SCULPT_USAGE_CHECK(s.clip.empty(), "no ToyCLIP at ", clip_dir, " (toyclip.safetensors)");
  return in;
}

void check_same_architecture(StableDiffusion& a, StableDiffusion& b) {
  auto same = [](const json& x, const json& y, const char* what) {
    SCULPT_USAGE_CHECK(x == y, "original and edited models differ in their ", what, " configuration: ", x.dump(),
                       " vs ", y.dump());
  };
  same(a.unet->config.to_json(), b.unet->config.to_json(), "UNet");
  same(a.text_encoder->config.to_json(), b.text_encoder->config.to_json(), "text encoder");
  same(a.vae->config.to_json(), b.vae->config.to_json(), "VAE");
}

json unlearn_eval(StableDiffusion& original, StableDiffusion& edited, ToyJudge& judge, ToyClip* clip,
                  const UnlearnEvalConfig& cfg) {
  const auto start = std::chrono::steady_clock::now();
  check_same_architecture(original, edited);
  const auto concept_ = toy_concept_resolve(cfg.concept, cfg.kind);
  const auto sets = concept_prompt_sets(concept_, cfg.images, cfg.seed);
  fs::create_directories(cfg.out);

  const auto render_features = judge_features(judge, scene_batch(static_cast<uint64_t>(cfg.seed) + 99, 0, 2 * cfg.images).images);
  std::vector<std::pair<std::string, RowImages>> rows;
  rows.emplace_back(cfg.original_name, sample_row(original, judge, sets, cfg.sampling, cfg.original_name));
  rows.emplace_back(cfg.edited_name, sample_row(edited, judge, sets, cfg.sampling, cfg.edited_name));
  if (cfg.negative_prompt_row) {
    auto s = cfg.sampling;
    s.negative_prompt = concept_.words[0];
    rows.emplace_back("negative_prompt", sample_row(original, judge, sets, s, "negative_prompt"));
  }

  json result;
  result["schema"] = "sculpt.eval/1";
  result["concept"] = {{"name", concept_.name}, {"kind", concept_kind_name(concept_.kind)}, {"words", concept_.words}};
  result["models"] = {{cfg.original_name, original.source}, {cfg.edited_name, edited.source}};
  if (!cfg.judge_file.empty())
    result["judge"] = {{"file", cfg.judge_file.string()}, {"fnv1a64", file_fingerprint(cfg.judge_file)}};
  result["settings"] = {{"images_per_set", cfg.images}, {"detection_threshold", kDetection}, {"seed", cfg.seed}, {"steps", cfg.sampling.steps},
                        {"guidance_scale", cfg.sampling.guidance_scale}, {"scheduler", cfg.sampling.scheduler}};
  for (auto& [name, images] : rows) {
    auto m = row_metrics(judge, clip, original, images, sets, concept_, render_features);
    if (name != cfg.original_name) m["locality"] = locality(rows.front().second, images);
    result["rows"][name] = m;
  }
  // Grids: per set, 8 images of each row, one row of the grid per model row (same seeds in a column).
  std::vector<std::string> row_names;
  for (int k = 0; k < 4; ++k) {
    std::vector<torch::Tensor> parts;
    for (auto& [name, images] : rows) parts.push_back(images.sets[k].narrow(0, 0, std::min<int64_t>(8, cfg.images)));
    const auto file = cfg.out / (std::string("grid_") + kSets[k] + ".png");
    image_write_png(file, image_grid(torch::cat(parts), parts.front().size(0)));
    result["grids"][kSets[k]] = file.filename().string();
    json examples = json::array();
    for (int64_t i = 0; i < std::min<int64_t>(8, cfg.images); ++i) examples.push_back(set_prompts(sets, k)[i].prompt);
    result["grid_prompts"][kSets[k]] = examples;
  }
  for (auto& [name, images] : rows) row_names.push_back(name);
  result["grid_rows"] = row_names;
  if (!cfg.run_log.empty()) result["cost"] = read_run_log(cfg.run_log);
  result["eval_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_file_atomically(cfg.out / "metrics.json", result.dump(2) + "\n");
  write_file_atomically(cfg.out / "report.html", report_html(result, cfg.out));
  return result;
}

}  // namespace sculpt
