// UNet2DConditionModel (SD 1.x/2.x) with its blocks, built from unet/config.json.
// Source: diffusers 0.29.2 src/diffusers/models/unets/unet_2d_condition.py, unet_2d_blocks.py
// (CrossAttnDownBlock2D, DownBlock2D, UNetMidBlock2DCrossAttn, CrossAttnUpBlock2D, UpBlock2D),
// embeddings.py (Timesteps, TimestepEmbedding, get_timestep_embedding).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/layers.h"
#include "models/transformer_2d.h"

namespace sculpt {

// Fields = keys of unet/config.json; per-block fields are expanded to one value per down block.
struct UNet2DConditionConfig {
  int64_t sample_size = 64;
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  bool center_input_sample = false;
  bool flip_sin_to_cos = true;
  int64_t freq_shift = 0;
  std::vector<std::string> down_block_types{"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                            "DownBlock2D"};
  std::string mid_block_type = "UNetMidBlock2DCrossAttn";  // "" when config says null
  std::vector<std::string> up_block_types{"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                          "CrossAttnUpBlock2D"};
  std::vector<int64_t> block_out_channels{320, 640, 1280, 1280};
  std::vector<int64_t> layers_per_block{2};               // int or list in JSON
  int64_t downsample_padding = 1;
  double mid_block_scale_factor = 1.0;
  std::string act_fn = "silu";
  int64_t norm_num_groups = 32;
  double norm_eps = 1e-5;
  std::vector<int64_t> cross_attention_dim{768};          // 1024 in SD 2.x; int or list
  std::vector<int64_t> transformer_layers_per_block{1};   // int or list
  std::vector<int64_t> attention_head_dim{8};             // int or list; the head COUNT when num_attention_heads is null
  std::vector<int64_t> num_attention_heads;               // empty: diffusers uses attention_head_dim as head count
  bool use_linear_projection = false;                     // SD 2.x: proj_in/proj_out are Linear
  bool upcast_attention = false;                          // SD 2.1: attention scores in float32
  int64_t conv_in_kernel = 3;
  int64_t conv_out_kernel = 3;

  static UNet2DConditionConfig from_json(const nlohmann::json& j, const std::string& source = "unet config");
  static UNet2DConditionConfig from_file(const std::filesystem::path& path);

  size_t levels() const { return block_out_channels.size(); }
  int64_t heads(size_t level) const;  // per down-block level
};

// Sinusoidal embedding of (possibly fractional) timesteps [B] → [B, dim], computed in float32.
torch::Tensor timestep_embedding(const torch::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos, double shift);

struct TimestepEmbeddingImpl : torch::nn::Module {
  TimestepEmbeddingImpl(int64_t in_channels, int64_t time_embed_dim);
  torch::Tensor forward(const torch::Tensor& x) { return linear_2(torch::silu(linear_1(x))); }
  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

enum class BlockKind { CrossAttnDown, Down, CrossAttnUp, Up };

// Down block: resnets (+ attentions) then an optional downsampler. Returns the output and the skip states.
struct DownBlockImpl : torch::nn::Module {
  DownBlockImpl(const UNet2DConditionConfig& c, size_t level, int64_t in_channels, int64_t out_channels,
                int64_t temb_channels, bool add_downsample);
  std::pair<torch::Tensor, std::vector<torch::Tensor>> forward(torch::Tensor h, const torch::Tensor& temb,
                                                                const torch::Tensor& context);
  bool has_attention;
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr}, downsamplers{nullptr};
};
TORCH_MODULE(DownBlock);

struct MidBlockImpl : torch::nn::Module {
  MidBlockImpl(const UNet2DConditionConfig& c, int64_t channels, int64_t temb_channels);
  torch::Tensor forward(torch::Tensor h, const torch::Tensor& temb, const torch::Tensor& context);
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr};
};
TORCH_MODULE(MidBlock);

// Up block: (layers_per_block + 1) resnets fed with skip states (+ attentions), optional upsampler.
struct UpBlockImpl : torch::nn::Module {
  UpBlockImpl(const UNet2DConditionConfig& c, size_t up_index, int64_t in_channels, int64_t prev_output_channels,
              int64_t out_channels, int64_t temb_channels, bool add_upsample);
  // skips: this block's skip states, oldest first; upsample_size: skip size of the next block when odd.
  torch::Tensor forward(torch::Tensor h, std::vector<torch::Tensor> skips, const torch::Tensor& temb,
                        const torch::Tensor& context, c10::optional<std::vector<int64_t>> upsample_size);
  bool has_attention;
  int64_t num_layers;
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr}, upsamplers{nullptr};
};
TORCH_MODULE(UpBlock);

struct UNet2DConditionModelImpl : torch::nn::Module {
  explicit UNet2DConditionModelImpl(const UNet2DConditionConfig& config);
  // sample [B, in, h, w]; timestep 0-d or [B], integer or fractional; context [B, L, cross_attention_dim].
  torch::Tensor forward(const torch::Tensor& sample, const torch::Tensor& timestep, const torch::Tensor& context);

  UNet2DConditionConfig config;
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  TimestepEmbedding time_embedding{nullptr};
  torch::nn::ModuleList down_blocks{nullptr}, up_blocks{nullptr};
  MidBlock mid_block{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(UNet2DConditionModel);

// dir/config.json + dir/diffusion_pytorch_model.safetensors, loaded strictly.
UNet2DConditionModel load_unet(const std::filesystem::path& dir);

}  // namespace sculpt
