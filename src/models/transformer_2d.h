// Transformer2DModel (continuous input) and BasicTransformerBlock as the SD UNet uses them.
// Source: diffusers 0.29.2 src/diffusers/models/transformers/transformer_2d.py, models/attention.py
// (BasicTransformerBlock, FeedForward, GEGLU in activations.py).
#pragma once
#include <torch/torch.h>

#include "models/layers.h"

namespace sculpt {

struct Transformer2DOptions {
  int64_t heads = 8;
  int64_t dim_head = 40;
  int64_t in_channels = 320;
  int64_t num_layers = 1;
  int64_t cross_attention_dim = 768;
  int64_t norm_num_groups = 32;
  bool use_linear_projection = false;
  bool upcast_attention = false;
};

// GEGLU feed-forward: keys ff.net.0.proj, ff.net.1 (Dropout), ff.net.2.
struct FeedForwardImpl : torch::nn::Module {
  FeedForwardImpl(int64_t dim, int64_t inner_dim);
  torch::Tensor forward(const torch::Tensor& x);  // [B, N, dim]
  torch::nn::ModuleList net{nullptr};
  torch::nn::Linear proj{nullptr}, out{nullptr};  // aliases of net.0.proj and net.2
};
TORCH_MODULE(FeedForward);

struct BasicTransformerBlockImpl : torch::nn::Module {
  BasicTransformerBlockImpl(int64_t dim, const Transformer2DOptions& o);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& context);  // x: [B, N, dim]
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  Attention attn1{nullptr}, attn2{nullptr};
  FeedForward ff{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

struct Transformer2DModelImpl : torch::nn::Module {
  explicit Transformer2DModelImpl(const Transformer2DOptions& o);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);  // x: [B, C, H, W]
  Transformer2DOptions options;
  torch::nn::GroupNorm norm{nullptr};
  // Registered as proj_in/proj_out: 1×1 Conv2d, or Linear with use_linear_projection (one of each pair is set).
  torch::nn::Conv2d proj_in_conv{nullptr}, proj_out_conv{nullptr};
  torch::nn::Linear proj_in_linear{nullptr}, proj_out_linear{nullptr};
  torch::nn::ModuleList transformer_blocks{nullptr};
};
TORCH_MODULE(Transformer2DModel);

}  // namespace sculpt
