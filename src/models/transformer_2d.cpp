#include "models/transformer_2d.h"

namespace sculpt {

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t inner_dim) {
  net = register_module("net", torch::nn::ModuleList());
  // net.0 is diffusers' GEGLU module, whose only child is `proj`.
  auto geglu = std::make_shared<torch::nn::Module>();
  proj = geglu->register_module("proj", torch::nn::Linear(dim, inner_dim * 2));
  net->push_back(geglu);
  net->push_back(torch::nn::Dropout(0.0));
  out = torch::nn::Linear(inner_dim, dim);
  net->push_back(out);
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  auto parts = proj(x).chunk(2, -1);  // hidden, gate
  return out(parts[0] * torch::gelu(parts[1]));
}

BasicTransformerBlockImpl::BasicTransformerBlockImpl(int64_t dim, const Transformer2DOptions& o) {
  auto ln = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5)); };
  AttentionOptions a;
  a.query_dim = dim;
  a.heads = o.heads;
  a.dim_head = o.dim_head;
  a.bias = false;  // attention_bias defaults to False in the SD UNet
  a.upcast_attention = o.upcast_attention;
  norm1 = register_module("norm1", ln());
  attn1 = register_module("attn1", Attention(a));
  norm2 = register_module("norm2", ln());
  a.cross_attention_dim = o.cross_attention_dim;
  attn2 = register_module("attn2", Attention(a));
  norm3 = register_module("norm3", ln());
  ff = register_module("ff", FeedForward(dim, dim * 4));
}

torch::Tensor BasicTransformerBlockImpl::forward(torch::Tensor x, const torch::Tensor& context) {
  x = attn1(norm1(x)) + x;
  x = attn2(norm2(x), context) + x;
  return ff(norm3(x)) + x;
}

Transformer2DModelImpl::Transformer2DModelImpl(const Transformer2DOptions& o) : options(o) {
  const int64_t inner = o.heads * o.dim_head;
  norm = register_module("norm", torch::nn::GroupNorm(torch::nn::GroupNormOptions(o.norm_num_groups, o.in_channels).eps(1e-6)));
  if (o.use_linear_projection) {
    proj_in_linear = register_module("proj_in", torch::nn::Linear(o.in_channels, inner));
  } else {
    proj_in_conv = register_module("proj_in", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels, inner, 1)));
  }
  transformer_blocks = register_module("transformer_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers; ++i) transformer_blocks->push_back(BasicTransformerBlock(inner, o));
  if (o.use_linear_projection) {
    proj_out_linear = register_module("proj_out", torch::nn::Linear(inner, o.in_channels));
  } else {
    proj_out_conv = register_module("proj_out", torch::nn::Conv2d(torch::nn::Conv2dOptions(inner, o.in_channels, 1)));
  }
}

torch::Tensor Transformer2DModelImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  auto hs = norm(x);
  // [B, C, H, W] → [B, H·W, inner]; the projection happens before or after the reshape.
  if (proj_in_conv) hs = proj_in_conv(hs);
  const int64_t inner = hs.size(1);
  hs = hs.permute({0, 2, 3, 1}).reshape({b, h * w, inner});
  if (proj_in_linear) hs = proj_in_linear(hs);
  for (auto& block : *transformer_blocks) hs = block->as<BasicTransformerBlock>()->forward(hs, context);
  if (proj_out_linear) hs = proj_out_linear(hs);
  hs = hs.reshape({b, h, w, hs.size(-1)}).permute({0, 3, 1, 2}).contiguous();
  if (proj_out_conv) hs = proj_out_conv(hs);
  return hs + x;
}

}  // namespace sculpt
