#include "eval/toyworld_quality.h"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "core/check.h"
#include "eval/judge_score.h"
#include "io/atomic_file.h"
#include "io/image.h"
#include "toyworld/captions.h"
#include "toyworld/render.h"

namespace sculpt {
namespace fs = std::filesystem;
using namespace toyworld;
using json = nlohmann::json;

namespace {

// A named group of prompts (one row of the table).
struct Condition {
  std::string group, name;
  std::vector<LabeledPrompt> prompts;
};

LabeledPrompt object_prompt(Shape s, Colour c, int background, int style, int shape_word = 0) {
  PromptSpec spec;
  ObjectPrompt o;
  o.shape = s;
  o.colour = static_cast<int>(c);
  o.shape_word = shape_word;
  spec.objects = {o};
  spec.background = background;
  spec.style = style;
  LabeledPrompt p;
  p.prompt = prompt_make(spec);
  p.shape = static_cast<int>(s);
  p.colour = static_cast<int>(c);
  p.background = background;
  p.style = style;
  return p;
}

// n prompts for one pair, background and style drawn from (seed, stream); image seeds first_seed + k.
Condition pair_condition(const std::string& group, Shape s, Colour c, int64_t n, uint64_t seed, int64_t first_seed) {
  Condition cond{group, std::string(colour_name(c)) + " " + shape_name(s), {}};
  for (int64_t k = 0; k < n; ++k) {
    Rng rng(seed, first_seed + k, kStreamUser);
    const int bg = static_cast<int>(rng.below(kNumBackgrounds));
    const int style = static_cast<int>(rng.below(kNumStyles));
    auto p = object_prompt(s, c, bg, style);
    p.seed = first_seed + k;
    cond.prompts.push_back(p);
  }
  return cond;
}

// A seen colour for shape s (deterministic): the first from (3s + 1) mod 8 on that is not held out.
Colour seen_colour(Shape s, int offset = 0) {
  for (int k = 0; k < kNumColours; ++k) {
    const auto c = static_cast<Colour>((3 * static_cast<int>(s) + 1 + offset + k) % kNumColours);
    if (!is_held_out(s, c)) return c;
  }
  SCULPT_CHECK(false, "every colour is held out for shape ", shape_name(s));
  return Colour::red;
}

std::vector<Condition> held_out_conditions(int64_t n, uint64_t seed, int64_t seed_base) {
  std::vector<Condition> out;
  int64_t next = seed_base;
  for (const auto& [s, c] : held_out_pairs()) {
    out.push_back(pair_condition("held_out", s, c, n, seed, next));
    next += n;
  }
  return out;
}

std::vector<Condition> all_conditions(const ToyQualityConfig& cfg) {
  const int64_t n = cfg.images_per_condition;
  auto out = held_out_conditions(n, cfg.seed, cfg.seed * 1000);
  int64_t next = cfg.seed * 1000 + 100000;
  for (int s = 0; s < kNumShapes; ++s) {
    out.push_back(pair_condition("seen", static_cast<Shape>(s), seen_colour(static_cast<Shape>(s)), n, cfg.seed, next));
    next += n;
  }
  for (int s = 0; s < kNumShapes; ++s) {
    const auto shape = static_cast<Shape>(s);
    const auto& words = shape_words(shape);
    Condition cond{"paraphrase", shape_name(shape), {}};
    for (int64_t k = 0; k < n; ++k) {
      const int word = 1 + static_cast<int>(k % static_cast<int64_t>(words.size() - 1));
      auto p = object_prompt(shape, seen_colour(shape, static_cast<int>(k)), -1, -1, word);
      p.seed = next++;
      cond.prompts.push_back(p);
    }
    cond.name += " (" + words[1] + (words.size() > 2 ? ", " + words[2] : "") + (words.size() > 3 ? ", …" : "") + ")";
    out.push_back(cond);
  }
  Condition empty{"empty", "\"\"", {}};
  for (int64_t k = 0; k < n; ++k) empty.prompts.push_back({"", next++, -1, -1, -1, -1});
  out.push_back(empty);
  return out;
}

torch::Tensor sample_condition(StableDiffusion& sd, const Condition& c, SampleSettings s) {
  std::vector<std::string> prompts;
  std::vector<int64_t> seeds;
  for (const auto& p : c.prompts) prompts.push_back(p.prompt), seeds.push_back(p.seed);
  s.label = c.group + ": " + c.name;
  return sample_images(sd, prompts, seeds, s);
}

double entropy_share(const std::vector<int64_t>& counts) {  // entropy / log(classes), in [0, 1]
  double total = 0, h = 0;
  for (auto c : counts) total += static_cast<double>(c);
  for (auto c : counts)
    if (c > 0) h -= (c / total) * std::log(c / total);
  return h / std::log(static_cast<double>(counts.size()));
}

double mean_pairwise_distance(const torch::Tensor& f) {
  auto d = torch::cdist(f.unsqueeze(0), f.unsqueeze(0)).squeeze(0);
  const auto n = f.size(0);
  return d.sum().item<double>() / static_cast<double>(n * (n - 1));
}

json empty_variety(ToyJudge& judge, const torch::Tensor& images) {
  const auto p = judge->predict(images);
  std::vector<int64_t> shapes(kNumShapes), colours(kNumColours);
  auto s = p.shapes.to(torch::kLong).sum(0), c = p.colours.to(torch::kLong).sum(0);
  int distinct_shapes = 0, distinct_colours = 0;
  for (int k = 0; k < kNumShapes; ++k) shapes[k] = s[k].item<int64_t>(), distinct_shapes += shapes[k] > 0;
  for (int k = 0; k < kNumColours; ++k) colours[k] = c[k].item<int64_t>(), distinct_colours += colours[k] > 0;
  const auto renders = scene_batch(7, 0, images.size(0)).images;
  const double spread = mean_pairwise_distance(judge_features(judge, images));
  const double render_spread = mean_pairwise_distance(judge_features(judge, renders));
  return {{"distinct_shapes", distinct_shapes},
          {"distinct_colours", distinct_colours},
          {"shape_entropy", entropy_share(shapes)},
          {"colour_entropy", entropy_share(colours)},
          {"feature_spread_vs_renders", spread / render_spread}};
}

std::string pct(double x) {
  if (std::isnan(x)) return "–";
  std::ostringstream o;
  o.precision(1);
  o << std::fixed << 100 * x << "%";
  return o.str();
}

std::string markdown(const json& r) {
  std::ostringstream md;
  md << "Guidance scale " << r["guidance_scale"] << ", DDIM " << r["steps"] << " steps, "
     << r["images_per_condition"] << " images per row.\n\n"
     << "| condition | images | shape | colour | background | style |\n|---|---|---|---|---|---|\n";
  auto cell = [](const json& acc, const char* k) { return acc.contains(k) ? pct(acc[k].get<double>()) : "–"; };
  for (const auto& row : r["rows"]) {
    const auto& a = row["accuracy"];
    md << "| " << row["group"].get<std::string>() << ": " << row["name"].get<std::string>() << " | "
       << row["images"] << " | " << cell(a, "shape") << " | " << cell(a, "colour") << " | " << cell(a, "background")
       << " | " << cell(a, "style") << " |\n";
  }
  for (const auto& [group, a] : r["groups"].items())
    md << "| **" << group << " (all)** | | " << cell(a, "shape") << " | " << cell(a, "colour") << " | "
       << cell(a, "background") << " | " << cell(a, "style") << " |\n";
  const auto& e = r["empty"];
  md << "\nEmpty prompt: " << e["distinct_shapes"] << "/8 shapes, " << e["distinct_colours"]
     << "/8 colours, shape entropy " << pct(e["shape_entropy"].get<double>()) << " and colour entropy "
     << pct(e["colour_entropy"].get<double>()) << " of the maximum, judge-feature spread "
     << pct(e["feature_spread_vs_renders"].get<double>()) << " of fresh renders'.\n";
  return md.str();
}

}  // namespace

json toyworld_quality(StableDiffusion& sd, ToyJudge& judge, const ToyQualityConfig& cfg) {
  SCULPT_USAGE_CHECK(!cfg.guidance_scales.empty(), "the quality audit needs at least one guidance scale");
  SCULPT_USAGE_CHECK(cfg.images_per_condition >= 2 && cfg.sweep_images >= 1, "images per condition must be >= 2 ",
                     "and sweep images >= 1");
  fs::create_directories(cfg.out);
  json result = {{"model", sd.source}, {"steps", cfg.sampling.steps}, {"scheduler", cfg.sampling.scheduler},
                 {"images_per_condition", cfg.images_per_condition}, {"seed", cfg.seed}};

  // 1. Sweep: held-out pairs, sweep_images each, every scale; the best mean attribute accuracy wins.
  const auto sweep = held_out_conditions(cfg.sweep_images, cfg.seed, cfg.seed * 1000 + 500000);
  double best = -1, best_scale = cfg.guidance_scales.front();
  for (double scale : cfg.guidance_scales) {
    auto s = cfg.sampling;
    s.guidance_scale = scale;
    AttributeAccuracy acc;
    for (const auto& c : sweep) acc.add(judge_prompts(judge, sample_condition(sd, c, s), c.prompts));
    auto j = acc.to_json();
    j["guidance_scale"] = scale;
    j["mean"] = acc.mean();
    result["sweep"].push_back(j);
    if (acc.mean() > best) best = acc.mean(), best_scale = scale;
  }
  result["guidance_scale"] = best_scale;

  // 2. Every condition at the chosen scale.
  auto s = cfg.sampling;
  s.guidance_scale = best_scale;
  std::map<std::string, AttributeAccuracy> groups;
  std::map<std::string, std::vector<torch::Tensor>> grids;  // 8 images per row
  for (const auto& c : all_conditions(cfg)) {
    const auto images = sample_condition(sd, c, s);
    grids[c.group].push_back(images.narrow(0, 0, std::min<int64_t>(8, images.size(0))));
    if (c.group == "empty") {
      result["empty"] = empty_variety(judge, images);
      continue;
    }
    const auto acc = judge_prompts(judge, images, c.prompts);
    groups[c.group].add(acc);
    result["rows"].push_back({{"group", c.group}, {"name", c.name}, {"images", images.size(0)},
                              {"example_prompt", c.prompts.front().prompt}, {"accuracy", acc.to_json()}});
  }
  for (const auto& [g, acc] : groups) result["groups"][g] = acc.to_json();
  for (const auto& [g, rows] : grids) {
    const auto file = cfg.out / ("grid_" + g + ".png");
    image_write_png(file, image_grid(torch::cat(rows), 8));
    result["grids"][g] = file.string();
  }

  // 3. The acceptance bars.
  const ToyQualityBars bars;
  const auto& h = groups["held_out"];
  const auto& e = result["empty"];
  json pass = {{"held_out_shape", h.rate(0) >= bars.held_out_shape},
               {"held_out_colour", h.rate(1) >= bars.held_out_colour},
               {"held_out_background", h.rate(2) >= bars.held_out_background},
               {"held_out_style", h.rate(3) >= bars.held_out_style},
               {"paraphrase_shape", groups["paraphrase"].rate(0) >= bars.paraphrase_shape},
               {"empty_varied", e["distinct_shapes"].get<int>() >= bars.empty_distinct_shapes &&
                                    e["distinct_colours"].get<int>() >= bars.empty_distinct_colours}};
  bool all = true;
  for (const auto& [k, v] : pass.items()) all = all && v.get<bool>();
  pass["all"] = all;
  result["pass"] = pass;
  result["bars"] = {{"held_out", {bars.held_out_shape, bars.held_out_colour, bars.held_out_background,
                                  bars.held_out_style}},
                    {"paraphrase_shape", bars.paraphrase_shape},
                    {"empty_distinct", {bars.empty_distinct_shapes, bars.empty_distinct_colours}}};
  write_file_atomically(cfg.out / "quality.json", result.dump(2) + "\n");
  write_file_atomically(cfg.out / "quality.md", markdown(result));
  return result;
}

}  // namespace sculpt
