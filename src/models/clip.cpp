#include "models/clip.h"

#include <cmath>
#include <fstream>
#include <limits>

#include "core/check.h"
#include "models/checkpoint.h"
#include "io/safetensors.h"
#include "io/state_dict.h"

namespace sculpt {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
constexpr const char* kSupportedActivations = "quick_gelu, gelu, gelu_new, gelu_pytorch_tanh";

template <typename T>
void read(const json& j, const char* key, T& field, const std::string& source) {
  if (!j.contains(key) || j.at(key).is_null()) return;
  try {
    field = j.at(key).get<T>();
  } catch (const json::exception&) {
    SCULPT_CHECK(false, source, ": '", key, "' has the wrong type: ", j.at(key).dump());
  }
}
}  // namespace

CLIPTextConfig CLIPTextConfig::from_json(const json& j, const std::string& source) {
  SCULPT_CHECK(j.is_object(), source, " is not a JSON object");
  CLIPTextConfig c;
  read(j, "vocab_size", c.vocab_size, source);
  read(j, "hidden_size", c.hidden_size, source);
  read(j, "intermediate_size", c.intermediate_size, source);
  read(j, "projection_dim", c.projection_dim, source);
  read(j, "num_hidden_layers", c.num_hidden_layers, source);
  read(j, "num_attention_heads", c.num_attention_heads, source);
  read(j, "max_position_embeddings", c.max_position_embeddings, source);
  read(j, "hidden_act", c.hidden_act, source);
  read(j, "layer_norm_eps", c.layer_norm_eps, source);
  read(j, "pad_token_id", c.pad_token_id, source);
  read(j, "bos_token_id", c.bos_token_id, source);
  read(j, "eos_token_id", c.eos_token_id, source);
  SCULPT_CHECK(clip_activation(c.hidden_act), source, ": hidden_act '", c.hidden_act, "' is not supported (",
               kSupportedActivations, ")");
  SCULPT_CHECK(c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads == 0, source, ": hidden_size ",
               c.hidden_size, " is not divisible by num_attention_heads ", c.num_attention_heads);
  return c;
}

CLIPTextConfig CLIPTextConfig::from_file(const fs::path& path) {
  std::ifstream in(path);
  SCULPT_CHECK(in.good(), "cannot read text encoder config ", path, fs::exists(path) ? "" : ": no such file");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    SCULPT_CHECK(false, path, " is not valid JSON (", e.what(), ")");
  }
  return from_json(j, path.string());
}

CLIPAttentionImpl::CLIPAttentionImpl(int64_t dim, int64_t h)
    : heads(h), head_dim(dim / h), scale(1.0 / std::sqrt(static_cast<double>(dim / h))) {
  q_proj = register_module("q_proj", torch::nn::Linear(dim, dim));
  k_proj = register_module("k_proj", torch::nn::Linear(dim, dim));
  v_proj = register_module("v_proj", torch::nn::Linear(dim, dim));
  out_proj = register_module("out_proj", torch::nn::Linear(dim, dim));
}

torch::Tensor CLIPAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& causal_mask) {
  const int64_t b = x.size(0), l = x.size(1), d = x.size(2);
  auto shape = [&](const torch::Tensor& t) { return t.view({b, l, heads, head_dim}).transpose(1, 2); };
  auto q = shape(q_proj(x) * scale);  // scaled before the matmul, as upstream: fp32 rounding differs
  auto k = shape(k_proj(x));          // [B, H, L, d]
  auto v = shape(v_proj(x));
  auto scores = torch::matmul(q, k.transpose(-1, -2)) + causal_mask;  // [B, H, L, L]
  auto out = torch::matmul(scores.softmax(-1), v);
  return out_proj(out.transpose(1, 2).reshape({b, l, d}));
}

std::optional<CLIPActivation> clip_activation(const std::string& hidden_act) {
  if (hidden_act == "quick_gelu") return CLIPActivation::QuickGelu;
  if (hidden_act == "gelu") return CLIPActivation::Gelu;
  if (hidden_act == "gelu_new" || hidden_act == "gelu_pytorch_tanh") return CLIPActivation::GeluTanh;
  return std::nullopt;
}

CLIPMLPImpl::CLIPMLPImpl(int64_t dim, int64_t inner, CLIPActivation a) : act(a) {
  fc1 = register_module("fc1", torch::nn::Linear(dim, inner));
  fc2 = register_module("fc2", torch::nn::Linear(inner, dim));
}

torch::Tensor CLIPMLPImpl::forward(const torch::Tensor& x) {
  auto h = fc1(x);  // [B, L, intermediate_size]
  switch (act) {
    case CLIPActivation::QuickGelu:
      h = h * torch::sigmoid(1.702 * h);
      break;
    case CLIPActivation::Gelu:
      h = torch::gelu(h);
      break;
    case CLIPActivation::GeluTanh:  // gelu_new: 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))
      h = torch::gelu(h, "tanh");
      break;
  }
  return fc2(h);
}

CLIPEncoderLayerImpl::CLIPEncoderLayerImpl(const CLIPTextConfig& c) {
  const auto act = clip_activation(c.hidden_act);
  SCULPT_CHECK(act, "CLIPTextConfig: hidden_act '", c.hidden_act, "' is not supported (", kSupportedActivations, ")");
  auto ln = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)); };
  self_attn = register_module("self_attn", CLIPAttention(c.hidden_size, c.num_attention_heads));
  layer_norm1 = register_module("layer_norm1", ln());
  mlp = register_module("mlp", CLIPMLP(c.hidden_size, c.intermediate_size, *act));
  layer_norm2 = register_module("layer_norm2", ln());
}

torch::Tensor CLIPEncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& causal_mask) {
  auto h = x + self_attn(layer_norm1(x), causal_mask);
  return h + mlp(layer_norm2(h));
}

CLIPTextEmbeddingsImpl::CLIPTextEmbeddingsImpl(const CLIPTextConfig& c) {
  token_embedding = register_module("token_embedding", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  position_embedding =
      register_module("position_embedding", torch::nn::Embedding(c.max_position_embeddings, c.hidden_size));
  position_ids = register_buffer("position_ids", torch::arange(c.max_position_embeddings).unsqueeze(0));
}

torch::Tensor CLIPTextEmbeddingsImpl::forward(const torch::Tensor& input_ids) {
  const int64_t l = input_ids.size(1);
  return token_embedding(input_ids) + position_embedding(position_ids.narrow(1, 0, l));
}

CLIPEncoderImpl::CLIPEncoderImpl(const CLIPTextConfig& c) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(CLIPEncoderLayer(c));
}

CLIPTextTransformerImpl::CLIPTextTransformerImpl(const CLIPTextConfig& c) {
  embeddings = register_module("embeddings", CLIPTextEmbeddings(c));
  encoder = register_module("encoder", CLIPEncoder(c));
  final_layer_norm = register_module(
      "final_layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
}

CLIPTextOutput CLIPTextTransformerImpl::forward(const torch::Tensor& input_ids, bool output_hidden_states) {
  const int64_t l = input_ids.size(1);
  auto h = embeddings(input_ids);
  // Causal mask: -inf strictly above the diagonal (transformers uses the dtype's minimum).
  auto mask = torch::full({l, l}, std::numeric_limits<float>::lowest(), h.options()).triu(1);
  CLIPTextOutput out;
  if (output_hidden_states) out.hidden_states.push_back(h);
  for (auto& layer : *encoder->layers) {
    auto* l = layer->as<CLIPEncoderLayer>();
    h = gradient_checkpointing && torch::GradMode::is_enabled()
            ? checkpoint([l](const std::vector<torch::Tensor>& in)
                             -> std::vector<torch::Tensor> { return {l->forward(in[0], in[1])}; },
                         {h, mask})[0]
            : l->forward(h, mask);
    if (output_hidden_states) out.hidden_states.push_back(h);
  }
  out.last_hidden_state = final_layer_norm(h);
  auto eos = input_ids.to(torch::kLong).argmax(-1);  // transformers 4.30: first position of the largest id
  out.pooler_output = out.last_hidden_state.index({torch::arange(input_ids.size(0), eos.options()), eos});
  return out;
}

CLIPTextModelImpl::CLIPTextModelImpl(const CLIPTextConfig& c) : config(c) {
  text_model = register_module("text_model", CLIPTextTransformer(c));
}

CLIPTextModel load_clip_text_model(const fs::path& dir) {
  auto model = CLIPTextModel(CLIPTextConfig::from_file(dir / "config.json"));
  const auto weights = dir / "model.safetensors";
  SCULPT_CHECK(fs::exists(weights), "no model.safetensors in ", dir,
               " (sculpt reads safetensors only; pytorch_model.bin files are pickles)");
  LoadOptions opt;
  // Buffer saved by transformers <= 4.30, dropped by later versions: accept either.
  opt.optional_keys = {"text_model.embeddings.position_ids"};
  load_state_dict(*model, read_safetensors(weights), weights.string(), opt);
  return model;
}

nlohmann::json CLIPTextConfig::to_json() const {
  return {{"_name_or_path", ""},
          {"architectures", {"CLIPTextModel"}},
          {"model_type", "clip_text_model"},
          {"torch_dtype", "float32"},
          {"transformers_version", "4.30.0"},
          {"vocab_size", vocab_size},
          {"hidden_size", hidden_size},
          {"intermediate_size", intermediate_size},
          {"projection_dim", projection_dim},
          {"num_hidden_layers", num_hidden_layers},
          {"num_attention_heads", num_attention_heads},
          {"max_position_embeddings", max_position_embeddings},
          {"hidden_act", hidden_act},
          {"layer_norm_eps", layer_norm_eps},
          {"attention_dropout", 0.0},
          {"dropout", 0.0},
          {"initializer_factor", 1.0},
          {"initializer_range", 0.02},
          {"pad_token_id", pad_token_id},
          {"bos_token_id", bos_token_id},
          {"eos_token_id", eos_token_id}};
}

}  // namespace sculpt
