#include "pipeline/model_export.h"

#include <unistd.h>

#include "core/check.h"
#include "io/atomic_file.h"
#include "io/key_map.h"
#include "io/state_dict.h"

namespace sculpt {
namespace fs = std::filesystem;
namespace {

torch::nn::Module& component(StableDiffusion& sd, const std::string& name) {
  if (name == "unet") return *sd.unet;
  if (name == "text_encoder") return *sd.text_encoder;
  SCULPT_CHECK(name == "vae", "unknown model component '", name, "'");
  return *sd.vae;
}

// "unet.x" → {unet, x}; bare keys: text_model.* → text encoder, else UNet.
std::pair<std::string, std::string> split_key(const std::string& key) {
  for (const char* c : {"unet.", "text_encoder.", "vae."}) {
    const std::string p(c);
    if (key.rfind(p, 0) == 0) return {p.substr(0, p.size() - 1), key.substr(p.size())};
  }
  return {key.rfind("text_model.", 0) == 0 ? "text_encoder" : "unet", key};
}

void write_json(const fs::path& path, const nlohmann::json& j) { write_file_atomically(path, j.dump(2) + "\n"); }

}  // namespace

void delta_write(const fs::path& file, StableDiffusion& sd, const std::vector<std::string>& names,
                 const Metadata& metadata) {
  SCULPT_CHECK(!names.empty(), "delta file ", file, ": no parameters to write");
  TensorMap out;
  for (const auto& name : names) {
    auto [comp, key] = split_key(name);
    auto params = component(sd, comp).named_parameters();
    const auto* p = params.find(key);
    SCULPT_CHECK(p != nullptr, "delta file ", file, ": the model has no parameter '", name, "'");
    // The VAE keeps its prefix: its keys (encoder.*, decoder.*) would otherwise read as UNet keys.
    out[comp == "vae" ? name : key] = p->detach();
  }
  Metadata meta = metadata;
  meta["format"] = "sculpt-delta";
  meta["base_model"] = sd.source;
  write_safetensors(file, out, meta);
}

void delta_apply(StableDiffusion& sd, const fs::path& file) {
  const auto tensors = read_safetensors(file);
  std::vector<std::string> unknown, mismatched;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  for (const auto& [name, t] : tensors) {
    auto [comp, key] = split_key(name);
    auto params = component(sd, comp).named_parameters();
    const auto* p = params.find(key);
    if (p == nullptr) {
      unknown.push_back(name);
    } else if (p->sizes() != t.sizes()) {
      mismatched.push_back(name + " " + c10::str(t.sizes()) + " vs model " + c10::str(p->sizes()));
    } else {
      copies.emplace_back(*p, t);
    }
  }
  auto first = [](const std::vector<std::string>& v) {
    std::vector<std::string> s(v.begin(), v.begin() + std::min<size_t>(v.size(), 6));
    return c10::Join(", ", s) + (v.size() > s.size() ? ", …" : "");
  };
  SCULPT_CHECK(unknown.empty() && mismatched.empty(), "delta file ", file, " does not fit ", sd.source, ": ",
               unknown.size(), " unknown keys (", first(unknown), "), ", mismatched.size(), " shape mismatches (",
               first(mismatched), ")");
  torch::NoGradGuard no_grad;
  for (auto& [p, t] : copies) p.copy_(t);
}

void diffusers_write(StableDiffusion& sd, const fs::path& dir) {
  SCULPT_CHECK(!sd.source.empty() ? !fs::exists(dir) || !fs::equivalent(dir, sd.source) : true,
               "refusing to overwrite the input model ", sd.source, "; choose another output folder");
  const auto parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  fs::create_directories(parent);
  const auto tmp = parent / (dir.filename().string() + ".tmp-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  try {
    for (const char* sub : {"scheduler", "tokenizer", "text_encoder", "unet", "vae"}) fs::create_directories(tmp / sub);
    const std::string scheduler_class = sd.scheduler_config.value("_class_name", "PNDMScheduler");
    write_json(tmp / "model_index.json",
               {{"_class_name", "StableDiffusionPipeline"},
                {"_diffusers_version", "0.29.2"},
                {"feature_extractor", {nullptr, nullptr}},
                {"image_encoder", {nullptr, nullptr}},
                {"requires_safety_checker", false},
                {"safety_checker", {nullptr, nullptr}},
                {"scheduler", {"diffusers", scheduler_class}},
                {"text_encoder", {"transformers", "CLIPTextModel"}},
                {"tokenizer", {"transformers", "CLIPTokenizer"}},
                {"unet", {"diffusers", "UNet2DConditionModel"}},
                {"vae", {"diffusers", "AutoencoderKL"}}});
    auto scheduler = sd.scheduler_config;
    scheduler["_class_name"] = scheduler_class;
    write_json(tmp / "scheduler" / "scheduler_config.json", scheduler);
    SCULPT_CHECK(fs::is_directory(sd.tokenizer_dir), "cannot copy the tokenizer: ", sd.tokenizer_dir, " is not a folder");
    for (const char* f : {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json",
                          "added_tokens.json"})
      if (fs::exists(sd.tokenizer_dir / f))
        fs::copy_file(fs::canonical(sd.tokenizer_dir / f), tmp / "tokenizer" / f);
    write_json(tmp / "text_encoder" / "config.json", sd.text_encoder->config.to_json());
    write_safetensors(tmp / "text_encoder" / "model.safetensors", state_dict(*sd.text_encoder),
                      {{"format", "pt"}});
    write_json(tmp / "unet" / "config.json", sd.unet->config.to_json());
    write_safetensors(tmp / "unet" / "diffusion_pytorch_model.safetensors", state_dict(*sd.unet), {{"format", "pt"}});
    write_json(tmp / "vae" / "config.json", sd.vae->config.to_json());
    write_safetensors(tmp / "vae" / "diffusion_pytorch_model.safetensors", state_dict(*sd.vae), {{"format", "pt"}});
    if (fs::exists(dir)) {
      const auto old = parent / (dir.filename().string() + ".old-" + std::to_string(::getpid()));
      fs::rename(dir, old);
      fs::rename(tmp, dir);
      fs::remove_all(old);
    } else {
      fs::rename(tmp, dir);
    }
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

void single_file_write(StableDiffusion& sd, const fs::path& file) {
  DiffusersWeights w;
  w.unet = state_dict(*sd.unet);
  w.vae = state_dict(*sd.vae);
  w.text_encoder = state_dict(*sd.text_encoder);
  // OpenCLIP (SD 2.x) text encoders use GELU; CLIP-L (SD 1.x) quick_gelu.
  w.text_encoder_is_open_clip = sd.text_encoder->config.hidden_act == "gelu";
  write_safetensors(file, diffusers_to_ldm(w), {{"format", "pt"}});
}

}  // namespace sculpt
