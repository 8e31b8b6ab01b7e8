#include "methods/erase.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <sstream>

#include "core/check.h"
#include "core/runtime.h"
#include "eval/toy_concept.h"
#include "io/atomic_file.h"
#include "methods/erase_common.h"
#include "toyworld/captions.h"
#include "train/outputs.h"

namespace sculpt {
namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string>& erase_method_names() {
  static const std::vector<std::string> names{"esd-x", "esd-u", "uce", "ac", "abo", "doco"};
  return names;
}

namespace {

// ToyWorld's UCE preserve set (methods.md §3): every value of every family except the erased ones.
std::vector<std::string> toy_preserve_set(const std::vector<std::string>& concepts) {
  using namespace toyworld;
  std::vector<std::string> erased;
  for (const auto& c : concepts) {
    try {
      erased.push_back(toy_concept_resolve(c).words[0]);
    } catch (const UsageError&) {
      erased.push_back(c);
    }
  }
  std::vector<std::string> out;
  auto add = [&](const std::string& w) {
    if (std::find(erased.begin(), erased.end(), w) == erased.end()) out.push_back(w);
  };
  for (int i = 0; i < kNumShapes; ++i) add(shape_words(static_cast<Shape>(i))[0]);
  for (int i = 0; i < kNumColours; ++i) add(colour_words(static_cast<Colour>(i))[0]);
  for (int i = 0; i < kNumBackgrounds; ++i) add(background_words(static_cast<Background>(i))[0]);
  for (int i = 0; i < kNumStyles; ++i) add(style_words(static_cast<Style>(i))[0]);
  return out;
}

void validate(const EraseConfig& c) {
  const auto& names = erase_method_names();
  std::ostringstream known;
  for (const auto& n : names) known << (n == names.front() ? "" : ", ") << n;
  SCULPT_USAGE_CHECK(std::find(names.begin(), names.end(), c.method) != names.end(), "unknown erase method '",
                     c.method, "'; known: ", known.str());
  SCULPT_USAGE_CHECK(!c.concepts.empty(), "erase: name the concept to erase with --concept");
  for (const auto& concept : c.concepts)
    SCULPT_USAGE_CHECK(concept.find_first_not_of(" \t") != std::string::npos, "erase: an empty --concept");
  SCULPT_USAGE_CHECK(!c.out.empty(), "erase: an output folder (--out) is required");
  const bool has_alternative = c.method == "abo" || c.method == "uce";
  SCULPT_USAGE_CHECK(c.alternative.empty() || has_alternative, c.method,
                     " has no alternative concept (--alternative is for abo and uce); did you mean --anchor (ac, doco)?");
  SCULPT_USAGE_CHECK(!c.anchor.empty() || (c.method != "ac" && c.method != "doco"), c.method,
                     " needs --anchor: the concept that '", c.concepts.front(),
                     "' should turn into, e.g. --anchor \"circle\" for a shape or --anchor \"painting\" for a style");
  SCULPT_USAGE_CHECK(c.preserve.empty() || c.method == "uce", "--preserve is read by uce only");
  SCULPT_USAGE_CHECK(c.concepts.size() == 1 || (c.method != "ac" && c.method != "doco"), c.method,
                     " erases one concept per run (got ", c.concepts.size(), ")");
  SCULPT_USAGE_CHECK(c.doco_surgery == "code" || c.doco_surgery == "pcgrad" || c.doco_surgery == "none",
                     "--surgery: code | pcgrad | none, got '", c.doco_surgery, "'");
  SCULPT_USAGE_CHECK(c.lora_rank == 0 || c.method != "uce", "uce is a closed-form edit of the weights; it trains no LoRA");
  check_output_formats(c.formats, c.lora_rank > 0);
}

// Concepts that the tokenizer splits into pieces still work but deserve a word.
void warn_unknown_words(const StableDiffusion& sd, const std::vector<std::string>& concepts) {
  for (const auto& concept : concepts) {
    std::istringstream words(concept);
    std::string w;
    while (words >> w) {
      const auto ids = sd.tokenizer.encode(w);
      if (ids.size() > 3)
        std::cerr << "warning: '" << w << "' is not in the vocabulary of " << sd.source << "; it is read as "
                  << ids.size() - 2 << " BPE pieces\n";
    }
  }
}

std::string provenance(const std::string& method) {
  if (method == "abo") return "reconstruction (our design; the paper has no public code)";
  return "authors' code";
}

}  // namespace

EraseConfig erase_defaults(const EraseConfig& config, const StableDiffusion& sd) {
  EraseConfig c = config;
  const bool toy = toy_scale(sd);
  auto set = [](auto& field, auto unset, auto value) {
    if (field == unset) field = value;
  };
  if (c.method == "esd-x" || c.method == "esd-u") {
    const bool x = c.method == "esd-x";
    set(c.steps, int64_t{0}, toy ? (x ? int64_t{200} : int64_t{300}) : int64_t{1000});
    set(c.lr, 0.0, toy ? (x ? 1e-4 : 5e-5) : 1e-5);
    set(c.batch, int64_t{0}, toy ? int64_t{4} : int64_t{1});
    if (c.params.empty()) c.params = {x ? "unet-xattn" : "unet-noxattn"};
  } else if (c.method == "abo") {
    set(c.steps, int64_t{0}, toy ? int64_t{300} : int64_t{800});
    set(c.lr, 0.0, toy ? 1e-4 : 1e-5);
    set(c.batch, int64_t{0}, toy ? int64_t{4} : int64_t{1});
    set(c.lambda, -1.0, 1.0);
    if (c.params.empty()) c.params = {"unet-xattn-kv"};
  } else if (c.method == "ac") {
    set(c.steps, int64_t{0}, toy ? int64_t{150} : int64_t{100});
    set(c.lr, 0.0, toy ? 1e-4 : 1.6e-5);
    set(c.batch, int64_t{0}, int64_t{4});
    set(c.ac_anchor_images, int64_t{0}, toy ? int64_t{96} : int64_t{200});
    set(c.ac_reg_weight, -1.0, toy ? 0.2 : 0.0);
    if (c.params.empty()) c.params = {"unet-xattn-kv"};
  } else if (c.method == "doco") {
    set(c.steps, int64_t{0}, toy ? int64_t{400} : int64_t{2000});
    set(c.lr, 0.0, toy ? 1e-4 : 4.8e-5);
    set(c.batch, int64_t{0}, toy ? int64_t{4} : int64_t{8});
    set(c.ac_anchor_images, int64_t{0}, toy ? int64_t{128} : int64_t{200});
    set(c.doco_warmup, int64_t{-1}, toy ? int64_t{100} : int64_t{1000});
    set(c.doco_disc_lr, 0.0, toy ? 2e-4 : 1e-4);
    if (c.params.empty()) c.params = {"unet-xattn-kv"};
  } else if (c.method == "uce") {
    set(c.lambda, -1.0, 0.5);
    if (c.preserve.empty() && toy) c.preserve = toy_preserve_set(c.concepts);
  }
  set(c.trajectory_steps, int64_t{0}, toy ? int64_t{20} : int64_t{50});
  return c;
}

json erase_run(const EraseConfig& config) {
  validate(config);
  const auto start = std::chrono::steady_clock::now();
  auto sd = load_stable_diffusion(config.model);
  SCULPT_USAGE_CHECK(!fs::exists(config.out) || !fs::exists(sd.source) || !fs::equivalent(config.out, sd.source),
                     "the output folder ", config.out, " is the input model; choose another");
  sd.to(torch::Device(config.device));
  sd.eval();
  warn_unknown_words(sd, config.concepts);
  const auto c = erase_defaults(config, sd);
  fs::create_directories(c.out);

  EditOutcome outcome;
  if (c.method == "esd-x" || c.method == "esd-u") outcome = esd_erase(sd, c);
  else if (c.method == "uce") outcome = uce_erase(sd, c);
  else if (c.method == "ac") outcome = ac_erase(sd, c);
  else if (c.method == "doco") outcome = doco_erase(sd, c);
  else outcome = abo_erase(sd, c);

  const Metadata meta{{"sculpt_command", "erase"},
                      {"method", c.method},
                      {"concepts", json(c.concepts).dump()},
                      {"provenance", provenance(c.method)},
                      {"seed", std::to_string(c.seed)}};
  const auto written = write_outputs(sd, outcome.changed, outcome.lora.get(), {c.formats, c.out, "kohya", meta});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  json settings = {{"steps", c.steps},
                   {"lr", c.lr},
                   {"batch", c.batch},
                   {"seed", c.seed},
                   {"params", c.params},
                   {"eta", c.eta},
                   {"lambda", c.lambda},
                   {"trajectory_steps", c.trajectory_steps},
                   {"trajectory_guidance", c.trajectory_guidance},
                   {"cache_trajectories", c.cache_trajectories},
                   {"lora_rank", c.lora_rank}};
  json summary = {{"method", c.method},
                  {"provenance", provenance(c.method)},
                  {"model", sd.source},
                  {"concepts", c.concepts},
                  {"alternative", c.alternative},
                  {"anchor", c.anchor},
                  {"settings", settings},
                  {"wall_seconds", seconds},
                  {"peak_memory_mb", peak_memory_mb()},
                  {"trained_parameters", outcome.trained_parameters},
                  {"steps", outcome.steps},
                  {"first_loss", outcome.first_loss},
                  {"last_loss", outcome.last_loss},
                  {"outputs", written},
                  {"method_details", outcome.extra}};
  write_file_atomically(c.out / "run.json", summary.dump(2) + "\n");
  return summary;
}

}  // namespace sculpt
