// The UNet's down, mid and up blocks, each a module of its own with its own forward.
// Source: diffusers 0.29.2 src/diffusers/models/unets/unet_2d_blocks.py (CrossAttnDownBlock2D, DownBlock2D,
// UNetMidBlock2DCrossAttn, CrossAttnUpBlock2D, UpBlock2D).
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "models/layers.h"
#include "models/transformer_2d.h"

namespace sculpt {

enum class DownBlockType { CrossAttnDownBlock2D, DownBlock2D };
enum class UpBlockType { CrossAttnUpBlock2D, UpBlock2D };

// "CrossAttnDownBlock2D" → DownBlockType::CrossAttnDownBlock2D …; throws naming `source` and the string.
DownBlockType parse_down_block_type(const std::string& name, const std::string& source);
UpBlockType parse_up_block_type(const std::string& name, const std::string& source);
const char* to_string(DownBlockType type);
const char* to_string(UpBlockType type);

// One block's arguments, already resolved from the UNet config (per-block values picked, reversed for up blocks).
struct UNetBlockOptions {
  int64_t in_channels = 0;           // down: input channels; up: channels of the block's deepest skip state
  int64_t out_channels = 0;
  int64_t prev_output_channels = 0;  // up only: channels arriving from the block below
  int64_t temb_channels = 0;
  int64_t num_layers = 1;            // resnets (an up block has layers_per_block + 1)
  int64_t groups = 32;               // GroupNorm groups of resnets and transformers
  double eps = 1e-5;                 // resnet GroupNorm eps
  double output_scale_factor = 1.0;  // resnets of the mid block: mid_block_scale_factor
  bool add_sample = false;           // down: downsamplers.0; up: upsamplers.0
  int64_t downsample_padding = 1;
  // Cross-attention blocks: one Transformer2DModel per resnet (in_channels set per block).
  int64_t transformer_layers = 1;
  int64_t heads = 8;                 // dim_head = out_channels / heads
  int64_t cross_attention_dim = 768;
  bool only_cross_attention = false;
  bool use_linear_projection = false;
  bool upcast_attention = false;
};

// CrossAttnDownBlock2D (resnets.j + attentions.j) or DownBlock2D (resnets.j), then downsamplers.0 unless last.
struct UNetDownBlockImpl : torch::nn::Module {
  UNetDownBlockImpl(DownBlockType type, const UNetBlockOptions& options);
  // h [B, in, H, W], temb [B, T], context [B, L, D] → output and the skip states it adds (one per resnet,
  // plus the downsampled output).
  std::pair<torch::Tensor, std::vector<torch::Tensor>> forward(torch::Tensor h, const torch::Tensor& temb,
                                                                const torch::Tensor& context);
  DownBlockType type;
  UNetBlockOptions options;
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr}, downsamplers{nullptr};
};
TORCH_MODULE(UNetDownBlock);

// UNetMidBlock2DCrossAttn with num_layers 1: resnets.0, attentions.0, resnets.1.
struct UNetMidBlock2DCrossAttnImpl : torch::nn::Module {
  explicit UNetMidBlock2DCrossAttnImpl(const UNetBlockOptions& options);
  torch::Tensor forward(torch::Tensor h, const torch::Tensor& temb, const torch::Tensor& context);
  UNetBlockOptions options;
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr};
};
TORCH_MODULE(UNetMidBlock2DCrossAttn);

// CrossAttnUpBlock2D or UpBlock2D: each resnet takes cat(h, newest skip), then upsamplers.0 unless last.
struct UNetUpBlockImpl : torch::nn::Module {
  UNetUpBlockImpl(UpBlockType type, const UNetBlockOptions& options);
  // skips: this block's num_layers skip states, oldest first (consumed newest first);
  // upsample_size: {H, W} of the next block's skips when the input size is not a multiple of 2^upsamplers.
  torch::Tensor forward(torch::Tensor h, const std::vector<torch::Tensor>& skips, const torch::Tensor& temb,
                        const torch::Tensor& context,
                        c10::optional<std::vector<int64_t>> upsample_size = c10::nullopt);
  UpBlockType type;
  UNetBlockOptions options;
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr}, upsamplers{nullptr};
};
TORCH_MODULE(UNetUpBlock);

}  // namespace sculpt
