#include "train/param_select.h"

#include <regex>

#include "core/check.h"

namespace sculpt {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool contains(const std::string& s, const std::string& p) { return s.find(p) != std::string::npos; }

// "text_encoder.text_model.encoder.layers.7.…" → 7; -1 for names outside the encoder layers.
int64_t text_layer_index(const std::string& name) {
  static const std::string key = "text_encoder.text_model.encoder.layers.";
  if (!starts_with(name, key)) return -1;
  return std::stoll(name.substr(key.size()));
}

bool preset_selects(const std::string& preset, const std::string& name, int64_t text_layers) {
  const bool unet = starts_with(name, "unet."), text = starts_with(name, "text_encoder.");
  if (preset == "unet-all") return unet;
  if (preset == "unet-xattn") return unet && contains(name, ".attn2.");
  if (preset == "unet-xattn-kv") return unet && (contains(name, ".attn2.to_k.") || contains(name, ".attn2.to_v."));
  if (preset == "unet-noxattn")
    return unet && !contains(name, ".attn2.") && !starts_with(name, "unet.time_embedding.") &&
           !starts_with(name, "unet.conv_out.");
  if (preset == "text-all") return text;
  if (starts_with(preset, "text-last-")) {
    int64_t n = 0;
    try {
      n = std::stoll(preset.substr(10));
    } catch (const std::exception&) {
      SCULPT_USAGE_CHECK(false, "parameter preset '", preset, "': N in text-last-N must be a number");
    }
    SCULPT_USAGE_CHECK(n >= 1, "parameter preset '", preset, "': N must be >= 1");
    if (starts_with(name, "text_encoder.text_model.final_layer_norm.")) return true;
    const int64_t layer = text_layer_index(name);
    return layer >= 0 && layer >= text_layers - n;
  }
  SCULPT_USAGE_CHECK(false, "unknown parameter preset '", preset, "'; known: unet-xattn, unet-xattn-kv, ",
                     "unet-noxattn, unet-all, text-last-N, text-all");
  return false;
}

bool any_match(const std::vector<std::regex>& patterns, const std::string& name) {
  for (const auto& p : patterns)
    if (std::regex_search(name, p)) return true;
  return false;
}

std::vector<std::regex> compile(const std::vector<std::string>& patterns) {
  std::vector<std::regex> out;
  for (const auto& p : patterns) {
    try {
      out.emplace_back(p, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      SCULPT_USAGE_CHECK(false, "bad parameter pattern '", p, "': ", e.what());
    }
  }
  return out;
}

}  // namespace

const std::vector<std::string>& param_preset_names() {
  static const std::vector<std::string> names{"unet-xattn", "unet-xattn-kv", "unet-noxattn",
                                              "unet-all",   "text-last-N",   "text-all"};
  return names;
}

bool param_selected(const ParamSelection& sel, const std::string& name, int64_t text_layers) {
  bool selected = false;
  for (const auto& p : sel.presets) selected = selected || preset_selects(p, name, text_layers);
  if (!selected && !sel.include.empty()) selected = any_match(compile(sel.include), name);
  if (selected && !sel.exclude.empty()) selected = !any_match(compile(sel.exclude), name);
  return selected;
}

std::vector<NamedParam> component_parameters(StableDiffusion& sd, const std::string& component) {
  torch::nn::Module* m = nullptr;
  if (component == "unet") m = sd.unet.ptr().get();
  else if (component == "text_encoder") m = sd.text_encoder.ptr().get();
  else if (component == "vae") m = sd.vae.ptr().get();
  SCULPT_CHECK(m != nullptr, "unknown model component '", component, "'");
  std::vector<NamedParam> out;
  for (const auto& item : m->named_parameters()) out.push_back({component + "." + item.key(), item.value()});
  return out;
}

void freeze_all(StableDiffusion& sd) {
  for (const char* c : {"unet", "text_encoder", "vae"})
    for (auto& p : component_parameters(sd, c)) p.param.set_requires_grad(false);
}

std::vector<NamedParam> select_trainable(StableDiffusion& sd, const ParamSelection& sel) {
  // Validate presets and patterns once, before touching the model.
  for (const auto& p : sel.presets) preset_selects(p, "", 0);
  const auto include = compile(sel.include), exclude = compile(sel.exclude);
  freeze_all(sd);
  const int64_t layers = sd.text_encoder->config.num_hidden_layers;
  std::vector<NamedParam> out;
  for (const char* c : {"unet", "text_encoder"}) {
    for (auto& p : component_parameters(sd, c)) {
      bool on = false;
      for (const auto& preset : sel.presets) on = on || preset_selects(preset, p.name, layers);
      on = (on || any_match(include, p.name)) && !any_match(exclude, p.name);
      if (!on) continue;
      p.param.set_requires_grad(true);
      out.push_back(std::move(p));
    }
  }
  SCULPT_USAGE_CHECK(!out.empty(), "the parameter selection (presets ", c10::Join(", ", sel.presets),
                     ") matches no parameter of ", sd.source);
  return out;
}

}  // namespace sculpt
