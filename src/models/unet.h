// UNet2DConditionModel (SD 1.x / 2.x) built from unet/config.json, with its time embedding.
// Source: diffusers 0.29.2 src/diffusers/models/unets/unet_2d_condition.py (UNet2DConditionModel),
// models/embeddings.py (get_timestep_embedding, Timesteps, TimestepEmbedding). The blocks are in
// models/unet_blocks.h, the attentions in models/transformer_2d.h.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "models/unet_blocks.h"

namespace sculpt {

// Fields = keys of unet/config.json; a missing key takes diffusers' default. Keys that diffusers accepts
// as "int or list" (or "bool or list") hold one value for the int form and one per down block for a list.
// Per-block lists run from the highest resolution down; up blocks read them reversed, as diffusers does.
struct UNet2DConditionConfig {
  // diffusers' default is None, which its pipelines cannot use either; 64 is SD 1.x's latent size.
  // Only the pipeline's default image size reads it.
  int64_t sample_size = 64;
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  bool center_input_sample = false;
  bool flip_sin_to_cos = true;
  double freq_shift = 0;
  std::vector<std::string> down_block_types{"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                            "DownBlock2D"};
  std::string mid_block_type = "UNetMidBlock2DCrossAttn";  // "" when the config says null (no mid block)
  std::vector<std::string> up_block_types{"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                          "CrossAttnUpBlock2D"};
  std::vector<bool> only_cross_attention{false};       // bool or list: attn1 attends to the text too
  std::vector<int64_t> block_out_channels{320, 640, 1280, 1280};
  std::vector<int64_t> layers_per_block{2};            // int or list: resnets per down block
  int64_t downsample_padding = 1;
  double mid_block_scale_factor = 1.0;
  double dropout = 0.0;                                // only 0 is supported
  std::string act_fn = "silu";                         // "silu" (or its alias "swish") only
  int64_t norm_num_groups = 32;
  double norm_eps = 1e-5;
  std::vector<int64_t> cross_attention_dim{1280};      // int or list; SD 1.x 768, SD 2.x 1024
  std::vector<int64_t> transformer_layers_per_block{1};  // int or list
  // int or list. diffusers' historical misnomer: with num_attention_heads null (the only value 0.29.2
  // accepts) this is the number of attention HEADS per block; the head size is channels / heads.
  std::vector<int64_t> attention_head_dim{8};
  std::vector<int64_t> num_attention_heads;            // must stay empty (null): diffusers 0.29.2 rejects it
  bool dual_cross_attention = false;                   // unsupported when true
  bool use_linear_projection = false;                  // SD 2.x: proj_in/proj_out are Linear, not 1×1 conv
  bool upcast_attention = false;                       // SD 2.1: attention scores in float32
  std::string class_embed_type;                        // "" (null) only
  std::string addition_embed_type;                     // "" (null) only
  std::string resnet_time_scale_shift = "default";     // "default" only
  std::string time_embedding_type = "positional";      // "positional" only
  std::optional<int64_t> time_embedding_dim;           // null: 4 · block_out_channels[0]
  std::string attention_type = "default";              // "default" only
  int64_t conv_in_kernel = 3;
  int64_t conv_out_kernel = 3;

  // Throws naming `source` and the key when a value has the wrong type or asks for something sculpt does
  // not implement (class/addition embeddings, dual cross attention, "scale_shift", time_cond_proj_dim, …).
  static UNet2DConditionConfig from_json(const nlohmann::json& j, const std::string& source = "unet config");
  static UNet2DConditionConfig from_file(const std::filesystem::path& path);  // errors name the file
  nlohmann::json to_json() const;  // config.json as diffusers writes it (lists for the per-block fields)
  void validate(const std::string& source) const;

  size_t levels() const { return block_out_channels.size(); }
  int64_t time_embed_dim() const { return time_embedding_dim.value_or(4 * block_out_channels.at(0)); }
  // Per down-block values (level 0 = highest resolution), expanding the int forms.
  int64_t layers(size_t level) const;
  int64_t transformer_layers(size_t level) const;
  int64_t cross_dim(size_t level) const;
  int64_t heads(size_t level) const;  // = attention_head_dim (see above)
  bool only_cross(size_t level) const;
  DownBlockType down_type(size_t level) const;
  UpBlockType up_type(size_t up_index) const;
  bool has_mid_block() const { return !mid_block_type.empty(); }
};

// diffusers get_timestep_embedding in float32: timesteps [B] (integer or fractional) → [B, dim],
// [sin | cos] of t · exp(-ln(max_period) · i / (dim/2 - shift)), halves swapped when flip_sin_to_cos.
torch::Tensor get_timestep_embedding(const torch::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos,
                                     double downscale_freq_shift, double scale = 1.0, double max_period = 10000.0);

// diffusers `Timesteps` (key "time_proj"; no parameters).
struct TimestepsImpl : torch::nn::Module {
  TimestepsImpl(int64_t num_channels, bool flip_sin_to_cos, double downscale_freq_shift)
      : num_channels(num_channels), flip_sin_to_cos(flip_sin_to_cos), downscale_freq_shift(downscale_freq_shift) {}
  torch::Tensor forward(const torch::Tensor& timesteps) {  // [B] → [B, num_channels] float32
    return get_timestep_embedding(timesteps, num_channels, flip_sin_to_cos, downscale_freq_shift);
  }
  int64_t num_channels;
  bool flip_sin_to_cos;
  double downscale_freq_shift;
};
TORCH_MODULE(Timesteps);

// diffusers `TimestepEmbedding` with act_fn silu: linear_1 → silu → linear_2.
struct TimestepEmbeddingImpl : torch::nn::Module {
  TimestepEmbeddingImpl(int64_t in_channels, int64_t time_embed_dim);
  torch::Tensor forward(const torch::Tensor& x) { return linear_2(torch::silu(linear_1(x))); }  // [B, in] → [B, D]
  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

// Keys: conv_in, time_embedding, down_blocks.i, mid_block, up_blocks.i, conv_norm_out, conv_out. Each block is
// its own module with its own forward, so a trainer can checkpoint them one by one.
struct UNet2DConditionModelImpl : torch::nn::Module {
  explicit UNet2DConditionModelImpl(const UNet2DConditionConfig& config);
  // sample [B, in_channels, H, W] (any H, W); timestep 0-d, [1] or [B], integer or fractional;
  // encoder_hidden_states [B, L, cross_attention_dim]. Returns [B, out_channels, H, W].
  torch::Tensor forward(const torch::Tensor& sample, const torch::Tensor& timestep,
                        const torch::Tensor& encoder_hidden_states);
  // The time embedding fed to every resnet: [B, time_embed_dim] in sample's dtype.
  torch::Tensor time_embed(const torch::Tensor& timestep, const torch::Tensor& sample);

  UNet2DConditionConfig config;
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  Timesteps time_proj{nullptr};
  TimestepEmbedding time_embedding{nullptr};
  torch::nn::ModuleList down_blocks{nullptr}, up_blocks{nullptr};  // UNetDownBlock / UNetUpBlock
  UNetMidBlock2DCrossAttn mid_block{nullptr};                      // null when mid_block_type is null
  torch::nn::GroupNorm conv_norm_out{nullptr};
  // Recompute each down/mid/up block in backward instead of keeping its activations (models/checkpoint.h).
  bool gradient_checkpointing = false;
};
TORCH_MODULE(UNet2DConditionModel);

// dir/config.json + dir/diffusion_pytorch_model.safetensors, loaded strictly (errors name the file and keys).
UNet2DConditionModel load_unet(const std::filesystem::path& dir);

}  // namespace sculpt
