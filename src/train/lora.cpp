#include "train/lora.h"

#include <cmath>
#include <map>
#include <regex>

#include "core/check.h"
#include "io/key_map.h"

namespace sculpt {
namespace fs = std::filesystem;
namespace {

struct Target {
  std::string component, path;
  std::shared_ptr<torch::nn::Module> module;
  torch::Tensor weight;  // registered parameter
};

torch::Tensor& module_weight(torch::nn::Module& m) {
  if (auto* lin = dynamic_cast<torch::nn::LinearImpl*>(&m)) return lin->weight;
  if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(&m)) return conv->weight;
  SCULPT_CHECK(false, "LoRA supports Linear and Conv2d layers only");
  return *static_cast<torch::Tensor*>(nullptr);
}

// Every Linear/Conv2d of the UNet and the text encoder, keyed "component:path".
std::map<std::string, Target> patchable_layers(StableDiffusion& sd) {
  std::map<std::string, Target> out;
  auto scan = [&](const std::string& component, torch::nn::Module& root) {
    for (const auto& item : root.named_modules("", /*include_self=*/false)) {
      auto& m = *item.value();
      if (!dynamic_cast<torch::nn::LinearImpl*>(&m) && !dynamic_cast<torch::nn::Conv2dImpl*>(&m)) continue;
      out[component + ":" + item.key()] = {component, item.key(), item.value(), m.named_parameters(false)["weight"]};
    }
  };
  scan("unet", *sd.unet);
  scan("text_encoder", *sd.text_encoder);
  return out;
}

std::vector<Target> select_targets(StableDiffusion& sd, const LoraConfig& config) {
  std::regex pattern;
  try {
    pattern = std::regex(config.target_pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    SCULPT_USAGE_CHECK(false, "bad LoRA target pattern '", config.target_pattern, "': ", e.what());
  }
  const int64_t layers = sd.text_encoder->config.num_hidden_layers;
  std::vector<Target> out;
  for (auto& [key, t] : patchable_layers(sd))
    if (param_selected(config.where, t.component + "." + t.path + ".weight", layers) &&
        std::regex_search(t.path, pattern))
      out.push_back(t);
  // Model order rather than map order: unet before text encoder, then by path.
  std::stable_sort(out.begin(), out.end(), [](const Target& a, const Target& b) {
    return a.component != b.component ? a.component == "unet" : false;
  });
  SCULPT_USAGE_CHECK(!out.empty(), "no Linear/Conv2d layer of ", sd.source, " matches the LoRA targets (presets ",
                     c10::Join(", ", config.where.presets), ", pattern ", config.target_pattern, ")");
  return out;
}

bool is_conv(const torch::Tensor& weight) { return weight.dim() == 4; }

void check_shapes(const std::string& what, const torch::Tensor& weight, const torch::Tensor& down,
                  const torch::Tensor& up) {
  const bool ok = is_conv(weight)
                      ? down.dim() == 4 && up.dim() == 4 && down.size(1) == weight.size(1) &&
                            down.size(2) == weight.size(2) && down.size(3) == weight.size(3) &&
                            up.size(0) == weight.size(0) && up.size(1) == down.size(0) && up.size(2) == 1 && up.size(3) == 1
                      : down.dim() == 2 && up.dim() == 2 && down.size(1) == weight.size(1) &&
                            up.size(0) == weight.size(0) && up.size(1) == down.size(0);
  SCULPT_CHECK(ok, "LoRA ", what, ": down ", down.sizes(), " and up ", up.sizes(), " do not fit the layer's weight ",
               weight.sizes());
}

std::string peft_prefix(const std::string& component) { return component + "."; }

}  // namespace

LoraFormat lora_format_from_string(const std::string& s) {
  if (s == "kohya") return LoraFormat::Kohya;
  if (s == "peft" || s == "diffusers") return LoraFormat::Peft;
  SCULPT_USAGE_CHECK(false, "unknown LoRA format '", s, "'; known: kohya, peft (diffusers)");
  return LoraFormat::Kohya;
}

torch::Tensor LoraLayer::delta() const {
  auto d = torch::mm(up.flatten(1), down.flatten(1)).view(base.sizes());
  return d * scale();
}

LoraNetwork LoraNetwork::inject(StableDiffusion& sd, const LoraConfig& config, torch::Generator gen) {
  SCULPT_USAGE_CHECK(config.rank > 0, "LoRA rank must be > 0, got ", config.rank);
  SCULPT_USAGE_CHECK(config.alpha >= 0, "LoRA alpha must be >= 0, got ", config.alpha);
  SCULPT_USAGE_CHECK(config.dropout >= 0 && config.dropout < 1, "LoRA dropout must be in [0, 1), got ", config.dropout);
  LoraNetwork net;
  net.dropout_ = config.dropout;
  torch::NoGradGuard no_grad;
  for (auto& t : select_targets(sd, config)) {
    const auto& w = t.weight;
    const int64_t fan_in = w[0].numel();
    const int64_t r = std::min<int64_t>(config.rank, std::min(w.size(0), fan_in));
    std::vector<int64_t> down_shape{r, w.size(1)}, up_shape{w.size(0), r};
    if (is_conv(w)) down_shape = {r, w.size(1), w.size(2), w.size(3)}, up_shape = {w.size(0), r, 1, 1};
    // kaiming_uniform_(a=√5): bound = 1/√fan_in, drawn in float32 on the CPU so every device agrees.
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    auto down = (torch::rand(down_shape, gen, torch::kFloat32) * (2 * bound) - bound).to(w.options());
    auto up = torch::zeros(up_shape, w.options());
    LoraLayer layer{t.component, t.path, t.module, w, down.set_requires_grad(true), up.set_requires_grad(true)};
    layer.alpha = config.alpha > 0 ? config.alpha : static_cast<double>(r);
    net.layers_.push_back(std::move(layer));
  }
  return net;
}

std::vector<LoraFileLayer> lora_read(const fs::path& file) {
  const auto tensors = read_safetensors(file);
  std::map<std::string, LoraFileLayer> by_module;
  std::vector<std::string> unknown;
  auto ends_with = [](const std::string& s, const std::string& e) {
    return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
  };
  auto strip = [](const std::string& s, size_t n) { return s.substr(0, s.size() - n); };
  auto module_of = [](const std::string& name) -> std::pair<std::string, std::string> {
    if (name.rfind("lora_", 0) == 0) return kohya_lora_module(name);
    for (const char* c : {"unet", "text_encoder"})
      if (name.rfind(std::string(c) + ".", 0) == 0) return {c, name.substr(std::string(c).size() + 1)};
    // Bare PEFT keys: the text encoder's all start with text_model.
    return {name.rfind("text_model.", 0) == 0 ? "text_encoder" : "unet", name};
  };
  for (const auto& [key, t] : tensors) {
    std::string name, role;
    for (const auto& [suffix, r] : std::vector<std::pair<std::string, std::string>>{
             {".lora_down.weight", "down"}, {".lora_up.weight", "up"}, {".lora_A.weight", "down"},
             {".lora_B.weight", "up"}, {".lora.down.weight", "down"}, {".lora.up.weight", "up"}, {".alpha", "alpha"}}) {
      if (ends_with(key, suffix)) {
        name = strip(key, suffix.size()), role = r;
        break;
      }
    }
    if (role.empty()) {
      unknown.push_back(key);
      continue;
    }
    auto [component, path] = module_of(name);
    auto& layer = by_module[component + ":" + path];
    layer.component = component, layer.module_path = path;
    if (role == "down") layer.down = t;
    else if (role == "up") layer.up = t;
    else layer.alpha = t.to(torch::kFloat64).item<double>();
  }
  SCULPT_CHECK(unknown.empty(), file, ": ", unknown.size(), " keys are not LoRA weights (expected *.lora_down/lora_up",
               ".weight, *.lora_A/lora_B.weight or *.alpha), e.g. '", unknown.empty() ? "" : unknown.front(), "'");
  std::vector<LoraFileLayer> out;
  for (auto& [key, layer] : by_module) {
    SCULPT_CHECK(layer.down.defined() && layer.up.defined(), file, ": LoRA module '", layer.module_path,
                 "' lacks its ", layer.down.defined() ? "up" : "down", " weight");
    if (layer.alpha == 0) layer.alpha = static_cast<double>(layer.down.size(0));  // PEFT default: alpha = r
    out.push_back(std::move(layer));
  }
  SCULPT_CHECK(!out.empty(), file, ": holds no LoRA weights");
  return out;
}

TensorMap lora_tensors(const std::vector<LoraFileLayer>& layers, LoraFormat format) {
  TensorMap out;
  for (const auto& l : layers) {
    const auto down = l.down.detach().contiguous(), up = l.up.detach().contiguous();
    if (format == LoraFormat::Kohya) {
      const auto name = kohya_lora_name(l.component, l.module_path);
      out[name + ".lora_down.weight"] = down;
      out[name + ".lora_up.weight"] = up;
      out[name + ".alpha"] = torch::tensor(static_cast<float>(l.alpha));
    } else {
      // PEFT keeps alpha in its adapter config, which a bare state dict lacks; loaders then assume
      // alpha = r, so the scale α/r is folded into lora_B.
      const auto name = peft_prefix(l.component) + l.module_path;
      out[name + ".lora_A.weight"] = down;
      out[name + ".lora_B.weight"] = (up * (l.alpha / static_cast<double>(l.down.size(0)))).contiguous();
    }
  }
  return out;
}

LoraNetwork LoraNetwork::load(StableDiffusion& sd, const fs::path& file, double multiplier) {
  auto targets = patchable_layers(sd);
  LoraNetwork net;
  std::vector<std::string> missing;
  for (auto& l : lora_read(file)) {
    auto it = targets.find(l.component + ":" + l.module_path);
    if (it == targets.end()) {
      missing.push_back(l.component + "." + l.module_path);
      continue;
    }
    const auto& w = it->second.weight;
    check_shapes(l.component + "." + l.module_path + " in " + file.string(), w, l.down, l.up);
    LoraLayer layer{l.component, l.module_path, it->second.module, w, l.down.to(w.options()), l.up.to(w.options())};
    layer.alpha = l.alpha, layer.multiplier = multiplier;
    net.layers_.push_back(std::move(layer));
  }
  if (!missing.empty()) {
    std::vector<std::string> shown(missing.begin(), missing.begin() + std::min<size_t>(missing.size(), 8));
    SCULPT_CHECK(false, file, ": ", missing.size(), " of ", missing.size() + net.layers_.size(),
                 " LoRA modules match no Linear/Conv2d layer of ", sd.source, ": ", c10::Join(", ", shown),
                 missing.size() > shown.size() ? ", …" : "", ". Hint: was it trained for another model?");
  }
  return net;
}

void LoraNetwork::refresh(bool training, torch::Generator* gen) {
  for (auto& l : layers_) {
    if (l.merged) continue;
    torch::Tensor up = l.up;
    if (training && dropout_ > 0) {
      SCULPT_CHECK(gen != nullptr, "LoRA rank dropout needs a generator");
      auto keep = (torch::rand({l.rank()}, *gen) >= dropout_).to(up.options()) / (1 - dropout_);
      up = up * (up.dim() == 4 ? keep.view({1, -1, 1, 1}) : keep.view({1, -1}));
    }
    auto d = torch::mm(up.flatten(1), l.down.flatten(1)).view(l.base.sizes()) * l.scale();
    module_weight(*l.module) = l.base.detach() + d;
  }
}

void LoraNetwork::merge() {
  torch::NoGradGuard no_grad;
  for (auto& l : layers_) {
    if (l.merged) continue;
    l.base.add_(l.delta());
    module_weight(*l.module) = l.base;
    l.merged = true;
  }
}

void LoraNetwork::unmerge() {
  torch::NoGradGuard no_grad;
  for (auto& l : layers_) {
    if (!l.merged) continue;
    l.base.sub_(l.delta());
    l.merged = false;
  }
  refresh();
}

void LoraNetwork::detach() {
  for (auto& l : layers_) module_weight(*l.module) = l.base;
}

std::vector<torch::Tensor> LoraNetwork::parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& l : layers_) out.insert(out.end(), {l.down, l.up});
  return out;
}

TensorMap LoraNetwork::to_tensors(LoraFormat format) const {
  std::vector<LoraFileLayer> file;
  for (const auto& l : layers_) file.push_back({l.component, l.module_path, l.down, l.up, l.alpha});
  return lora_tensors(file, format);
}

void LoraNetwork::save(const fs::path& file, LoraFormat format, const Metadata& metadata) const {
  write_safetensors(file, to_tensors(format), metadata);
}

void lora_merge_file(StableDiffusion& sd, const fs::path& file, double multiplier) {
  auto net = LoraNetwork::load(sd, file, multiplier);
  net.merge();
}

std::vector<LoraFileLayer> lora_extract(StableDiffusion& base, StableDiffusion& tuned, const LoraConfig& where,
                                        int64_t rank) {
  SCULPT_USAGE_CHECK(rank > 0, "LoRA rank must be > 0, got ", rank);
  torch::NoGradGuard no_grad;
  auto tuned_layers = patchable_layers(tuned);
  std::vector<LoraFileLayer> out;
  for (const auto& t : select_targets(base, where)) {
    auto it = tuned_layers.find(t.component + ":" + t.path);
    SCULPT_CHECK(it != tuned_layers.end() && it->second.weight.sizes() == t.weight.sizes(), "layer ", t.component, ".",
                 t.path, " of ", base.source, " has no counterpart of the same shape in ", tuned.source);
    const auto diff = (it->second.weight.to(torch::kFloat32) - t.weight.to(torch::kFloat32)).flatten(1);
    if (!diff.any().item<bool>()) continue;
    auto [u, s, vh] = torch::linalg_svd(diff, /*full_matrices=*/false);
    const int64_t r = std::min<int64_t>(rank, s.size(0));
    auto up = (u.slice(1, 0, r) * s.slice(0, 0, r)).contiguous();  // [out, r]
    auto down = vh.slice(0, 0, r).contiguous();                      // [r, in·kh·kw]
    if (is_conv(t.weight)) {
      up = up.view({up.size(0), r, 1, 1});
      down = down.view({r, t.weight.size(1), t.weight.size(2), t.weight.size(3)});
    }
    out.push_back({t.component, t.path, down.to(t.weight.scalar_type()), up.to(t.weight.scalar_type()),
                   static_cast<double>(r)});
  }
  SCULPT_CHECK(!out.empty(), tuned.source, " does not differ from ", base.source, " on the selected layers");
  return out;
}

}  // namespace sculpt
