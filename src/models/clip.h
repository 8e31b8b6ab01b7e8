// CLIPTextModel: the text encoder of SD 1.x (CLIP ViT-L/14, quick_gelu) and SD 2.x (OpenCLIP ViT-H, gelu).
// Source: transformers 4.30.0 src/transformers/models/clip/modeling_clip.py (CLIPTextTransformer,
// CLIPEncoderLayer, CLIPAttention, CLIPMLP, CLIPTextEmbeddings), configuration_clip.py (defaults).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace sculpt {

// Fields = keys of text_encoder/config.json, defaults as transformers' CLIPTextConfig.
struct CLIPTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  int64_t projection_dim = 512;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  int64_t max_position_embeddings = 77;
  std::string hidden_act = "quick_gelu";  // "gelu" for OpenCLIP (SD 2.x)
  double layer_norm_eps = 1e-5;
  // 4.30 defaults; the pooler ignores eos_token_id and takes argmax(input_ids) (49407 is the largest id).
  int64_t pad_token_id = 1;
  int64_t bos_token_id = 0;
  int64_t eos_token_id = 2;

  static CLIPTextConfig from_json(const nlohmann::json& j, const std::string& source = "text encoder config");
  static CLIPTextConfig from_file(const std::filesystem::path& path);
  // config.json as transformers 4.30 writes it (architectures, model_type and every field above).
  nlohmann::json to_json() const;
};

struct CLIPTextOutput {
  torch::Tensor last_hidden_state;           // [B, L, D] after final_layer_norm
  torch::Tensor pooler_output;               // [B, D] at each row's first EOS (argmax of ids)
  std::vector<torch::Tensor> hidden_states;  // embeddings, then each layer's output (no final LN)
};

struct CLIPAttentionImpl : torch::nn::Module {
  CLIPAttentionImpl(int64_t dim, int64_t heads);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& causal_mask);  // x: [B, L, D]
  int64_t heads, head_dim;
  double scale;
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
};
TORCH_MODULE(CLIPAttention);

// hidden_act, parsed once at construction.
enum class CLIPActivation { QuickGelu, Gelu, GeluTanh };
std::optional<CLIPActivation> clip_activation(const std::string& hidden_act);  // nullopt when unsupported

struct CLIPMLPImpl : torch::nn::Module {
  CLIPMLPImpl(int64_t dim, int64_t inner, CLIPActivation act);
  torch::Tensor forward(const torch::Tensor& x);  // [B, L, D] → [B, L, D]
  CLIPActivation act;
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(CLIPMLP);

struct CLIPEncoderLayerImpl : torch::nn::Module {
  explicit CLIPEncoderLayerImpl(const CLIPTextConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& causal_mask);
  CLIPAttention self_attn{nullptr};
  torch::nn::LayerNorm layer_norm1{nullptr}, layer_norm2{nullptr};
  CLIPMLP mlp{nullptr};
};
TORCH_MODULE(CLIPEncoderLayer);

struct CLIPTextEmbeddingsImpl : torch::nn::Module {
  explicit CLIPTextEmbeddingsImpl(const CLIPTextConfig& c);
  torch::Tensor forward(const torch::Tensor& input_ids);  // [B, L] → [B, L, D]
  torch::nn::Embedding token_embedding{nullptr}, position_embedding{nullptr};
  torch::Tensor position_ids;  // buffer [1, max_position_embeddings]
};
TORCH_MODULE(CLIPTextEmbeddings);

struct CLIPEncoderImpl : torch::nn::Module {
  explicit CLIPEncoderImpl(const CLIPTextConfig& c);
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(CLIPEncoder);

struct CLIPTextTransformerImpl : torch::nn::Module {
  explicit CLIPTextTransformerImpl(const CLIPTextConfig& c);
  CLIPTextOutput forward(const torch::Tensor& input_ids, bool output_hidden_states);
  CLIPTextEmbeddings embeddings{nullptr};
  CLIPEncoder encoder{nullptr};
  torch::nn::LayerNorm final_layer_norm{nullptr};
  bool gradient_checkpointing = false;  // recompute each encoder layer in backward (models/checkpoint.h)
};
TORCH_MODULE(CLIPTextTransformer);

struct CLIPTextModelImpl : torch::nn::Module {
  explicit CLIPTextModelImpl(const CLIPTextConfig& config);
  CLIPTextOutput forward(const torch::Tensor& input_ids, bool output_hidden_states = false) {
    return text_model->forward(input_ids, output_hidden_states);
  }
  CLIPTextConfig config;
  CLIPTextTransformer text_model{nullptr};
};
TORCH_MODULE(CLIPTextModel);

// dir/config.json + dir/model.safetensors, loaded strictly (position_ids may be absent).
CLIPTextModel load_clip_text_model(const std::filesystem::path& dir);

}  // namespace sculpt
