// Transformer2DModel (continuous input) and BasicTransformerBlock as the SD UNet uses them.
// Source: diffusers 0.29.2 src/diffusers/models/transformers/transformer_2d.py (Transformer2DModel),
// models/attention.py (BasicTransformerBlock with norm_type "layer_norm", FeedForward), models/activations.py (GEGLU).
#pragma once
#include <torch/torch.h>

#include "models/layers.h"

namespace sculpt {

struct Transformer2DOptions {
  int64_t heads = 8;
  int64_t dim_head = 40;
  int64_t in_channels = 320;
  int64_t num_layers = 1;             // transformer_blocks
  int64_t cross_attention_dim = 768;
  int64_t norm_num_groups = 32;       // `norm` (GroupNorm, eps 1e-6)
  bool use_linear_projection = false; // proj_in/proj_out: Linear instead of 1×1 Conv2d
  bool only_cross_attention = false;  // attn1 attends to the context instead of to itself
  bool upcast_attention = false;
};

// diffusers GEGLU: proj → (hidden, gate) halves → hidden · gelu(gate) (exact gelu). Key: proj.
struct GEGLUImpl : torch::nn::Module {
  GEGLUImpl(int64_t dim_in, int64_t dim_out);
  torch::Tensor forward(const torch::Tensor& x);  // [B, N, dim_in] → [B, N, dim_out]
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(GEGLU);

// FeedForward with mult 4: keys net.0.proj (GEGLU), net.1 (Dropout, no parameters), net.2 (Linear).
struct FeedForwardImpl : torch::nn::Module {
  FeedForwardImpl(int64_t dim, int64_t inner_dim);
  torch::Tensor forward(const torch::Tensor& x);  // [B, N, dim]
  torch::nn::ModuleList net{nullptr};
};
TORCH_MODULE(FeedForward);

// Pre-norm block: x += attn1(norm1 x); x += attn2(norm2 x, context); x += ff(norm3 x).
struct BasicTransformerBlockImpl : torch::nn::Module {
  BasicTransformerBlockImpl(int64_t dim, const Transformer2DOptions& options);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& context);  // x: [B, N, dim], context [B, L, D]
  bool only_cross_attention;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  Attention attn1{nullptr}, attn2{nullptr};
  FeedForward ff{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

// norm → proj_in → transformer_blocks.N → proj_out, plus the input (residual).
struct Transformer2DModelImpl : torch::nn::Module {
  explicit Transformer2DModelImpl(const Transformer2DOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);  // x: [B, C, H, W] → same
  Transformer2DOptions options;
  torch::nn::GroupNorm norm{nullptr};
  // Registered as proj_in/proj_out: 1×1 Conv2d, or Linear with use_linear_projection (one of each pair is set).
  torch::nn::Conv2d proj_in_conv{nullptr}, proj_out_conv{nullptr};
  torch::nn::Linear proj_in_linear{nullptr}, proj_out_linear{nullptr};
  torch::nn::ModuleList transformer_blocks{nullptr};
};
TORCH_MODULE(Transformer2DModel);

}  // namespace sculpt
