// Source: diffusers 0.29.2 src/diffusers/models/transformers/transformer_2d.py, models/attention.py,
// models/activations.py.
#include "models/transformer_2d.h"

#include "core/check.h"

namespace sculpt {

namespace nn = torch::nn;

GEGLUImpl::GEGLUImpl(int64_t dim_in, int64_t dim_out) {
  proj = register_module("proj", nn::Linear(dim_in, dim_out * 2));
}

torch::Tensor GEGLUImpl::forward(const torch::Tensor& x) {
  auto parts = proj(x).chunk(2, -1);  // hidden, gate: [B, N, dim_out] each
  return parts[0] * torch::gelu(parts[1]);
}

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t inner_dim) {
  net = register_module("net", nn::ModuleList());
  net->push_back(GEGLU(dim, inner_dim));
  net->push_back(nn::Dropout(0.0));  // keeps indices equal to diffusers' (net.1 has no parameters)
  net->push_back(nn::Linear(inner_dim, dim));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  auto h = net[0]->as<GEGLU>()->forward(x);  // [B, N, inner]
  h = net[1]->as<nn::Dropout>()->forward(h);
  return net[2]->as<nn::Linear>()->forward(h);  // [B, N, dim]
}

BasicTransformerBlockImpl::BasicTransformerBlockImpl(int64_t dim, const Transformer2DOptions& o)
    : only_cross_attention(o.only_cross_attention) {
  auto layer_norm = [&] { return nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-5)); };
  AttentionOptions a;
  a.query_dim = dim;
  a.heads = o.heads;
  a.dim_head = o.dim_head;
  a.bias = false;  // attention_bias defaults to False in the UNet's transformers
  a.upcast_attention = o.upcast_attention;
  a.cross_attention_dim = o.only_cross_attention ? o.cross_attention_dim : 0;
  norm1 = register_module("norm1", layer_norm());
  attn1 = register_module("attn1", Attention(a));
  a.cross_attention_dim = o.cross_attention_dim;
  norm2 = register_module("norm2", layer_norm());
  attn2 = register_module("attn2", Attention(a));
  norm3 = register_module("norm3", layer_norm());
  ff = register_module("ff", FeedForward(dim, dim * 4));
}

torch::Tensor BasicTransformerBlockImpl::forward(torch::Tensor x, const torch::Tensor& context) {
  x = attn1(norm1(x), only_cross_attention ? context : torch::Tensor()) + x;
  x = attn2(norm2(x), context) + x;
  return ff(norm3(x)) + x;
}

Transformer2DModelImpl::Transformer2DModelImpl(const Transformer2DOptions& o) : options(o) {
  const int64_t inner = o.heads * o.dim_head;
  norm = register_module("norm", nn::GroupNorm(nn::GroupNormOptions(o.norm_num_groups, o.in_channels).eps(1e-6)));
  if (o.use_linear_projection) {
    proj_in_linear = register_module("proj_in", nn::Linear(o.in_channels, inner));
  } else {
    proj_in_conv = register_module("proj_in", nn::Conv2d(nn::Conv2dOptions(o.in_channels, inner, 1)));
  }
  transformer_blocks = register_module("transformer_blocks", nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers; ++i) transformer_blocks->push_back(BasicTransformerBlock(inner, o));
  if (o.use_linear_projection) {
    proj_out_linear = register_module("proj_out", nn::Linear(inner, o.in_channels));
  } else {
    proj_out_conv = register_module("proj_out", nn::Conv2d(nn::Conv2dOptions(inner, o.in_channels, 1)));
  }
}

torch::Tensor Transformer2DModelImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  SCULPT_CHECK(context.defined() && context.dim() == 3 && context.size(0) == x.size(0) &&
                   context.size(2) == options.cross_attention_dim,
               "Transformer2DModel: encoder_hidden_states must be [", x.size(0), ", L, ", options.cross_attention_dim,
               "] (batch, tokens, cross_attention_dim), got ",
               context.defined() ? c10::str(context.sizes()) : std::string("nothing"));
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  auto hs = norm(x);
  // [B, C, H, W] → [B, H·W, inner]; the 1×1 conv projects before the reshape, the Linear after it.
  if (proj_in_conv) hs = proj_in_conv(hs);
  const int64_t c = hs.size(1);
  hs = hs.permute({0, 2, 3, 1}).reshape({b, h * w, c});
  if (proj_in_linear) hs = proj_in_linear(hs);
  for (auto& block : *transformer_blocks) hs = block->as<BasicTransformerBlock>()->forward(hs, context);
  if (proj_out_linear) hs = proj_out_linear(hs);
  hs = hs.reshape({b, h, w, hs.size(-1)}).permute({0, 3, 1, 2}).contiguous();  // [B, inner or C, H, W]
  if (proj_out_conv) hs = proj_out_conv(hs);
  return hs + x;
}

}  // namespace sculpt
