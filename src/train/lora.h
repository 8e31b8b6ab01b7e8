// LoRA (arXiv:2106.09685) for Linear and Conv2d layers of the UNet and the text encoder.
// Notation: W' = W + m·(α/r)·B·A with A = lora_down [r, in(, kh, kw)], B = lora_up [out, r(, 1, 1)],
// r = rank, α = alpha, m = the user's multiplier (generate --lora FILE:m).
//
// The layer is patched through its weight rather than its forward: module->weight is replaced by the
// tensor W + ΔW (a graph node while training, so A and B get gradients) and the registered parameter keeps
// W. libtorch's Linear/Conv2d::forward is not virtual, so this keeps every model untouched; the cost is a
// dense weight gradient per patched layer. Call refresh() before every training forward.
// Dropout is rank dropout: one mask over the r channels per refresh(), scaled by 1/(1−p).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "pipeline/model_loader.h"
#include "train/param_select.h"

namespace sculpt {

struct LoraConfig {
  int64_t rank = 4;
  double alpha = 0;     // 0: alpha = rank (scale 1)
  double dropout = 0;   // rank dropout while training
  ParamSelection where{{"unet-all"}, {}, {}};  // layers whose weight the selection picks…
  // …and whose module path matches this pattern (default: the attention projections, as PEFT/diffusers).
  std::string target_pattern = R"((to_q|to_k|to_v|to_out\.0|q_proj|k_proj|v_proj|out_proj)$)";
};

struct LoraLayer {
  std::string component;    // "unet" | "text_encoder"
  std::string module_path;  // diffusers path, e.g. "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"
  std::shared_ptr<torch::nn::Module> module;  // a LinearImpl or Conv2dImpl
  torch::Tensor base;       // the layer's registered weight parameter
  torch::Tensor down, up;   // A, B
  double alpha = 0, multiplier = 1.0;
  bool merged = false;
  int64_t rank() const { return down.size(0); }
  double scale() const { return multiplier * alpha / static_cast<double>(rank()); }
  torch::Tensor delta() const;  // m·(α/r)·B·A shaped like the weight
};

enum class LoraFormat { Kohya, Peft };
LoraFormat lora_format_from_string(const std::string& s);  // "kohya" | "peft" (also "diffusers")

class LoraNetwork {
 public:
  // New trainable layers: A ~ kaiming-uniform(a=√5) from `gen`, B = 0, so the model is unchanged at start.
  static LoraNetwork inject(StableDiffusion& sd, const LoraConfig& config, torch::Generator gen);
  // A LoRA file (kohya or diffusers/PEFT keys), attached to the model with `multiplier`. Every module it
  // names must exist in the model: the error lists those that do not.
  static LoraNetwork load(StableDiffusion& sd, const std::filesystem::path& file, double multiplier = 1.0);

  // Points each patched module at W + ΔW (training: a graph node; rank dropout drawn from gen when given).
  void refresh(bool training = false, torch::Generator* gen = nullptr);
  void merge();    // W ← W + ΔW in the registered parameters; modules use them again
  void unmerge();  // W ← W − ΔW
  void detach();   // modules use their own weights again (unmerged LoRA no longer applies)

  std::vector<torch::Tensor> parameters() const;  // A, B of every layer, in layer order
  std::vector<LoraLayer>& layers() { return layers_; }
  const std::vector<LoraLayer>& layers() const { return layers_; }

  TensorMap to_tensors(LoraFormat format) const;
  void save(const std::filesystem::path& file, LoraFormat format, const Metadata& metadata = {}) const;

 private:
  std::vector<LoraLayer> layers_;
  double dropout_ = 0;
};

// A parsed LoRA file: per module {component, path} → down, up, alpha; format detected from the keys.
struct LoraFileLayer {
  std::string component, module_path;
  torch::Tensor down, up;
  double alpha = 0;
};
std::vector<LoraFileLayer> lora_read(const std::filesystem::path& file);
TensorMap lora_tensors(const std::vector<LoraFileLayer>& layers, LoraFormat format);

// Merges a LoRA file into the model's weights with `multiplier` (generate --lora, lora merge).
void lora_merge_file(StableDiffusion& sd, const std::filesystem::path& file, double multiplier);

// LoRA of rank `rank` approximating tuned − base on the selected Linear/Conv2d layers (truncated SVD;
// alpha = rank). Layers whose difference is exactly zero are left out.
std::vector<LoraFileLayer> lora_extract(StableDiffusion& base, StableDiffusion& tuned, const LoraConfig& where,
                                        int64_t rank);

}  // namespace sculpt
