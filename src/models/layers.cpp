#include "models/layers.h"

#include "core/check.h"

namespace sculpt {

torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                           double scale, bool upcast) {
  // The one version check for fused attention: libtorch >= 2.0 has at::scaled_dot_product_attention.
#if TORCH_VERSION_MAJOR >= 2
  if (!upcast && q.is_cuda()) {
    return at::scaled_dot_product_attention(q, k, v, {}, 0.0, false, scale);
  }
#endif
  const auto dtype = q.scalar_type();
  auto qf = upcast ? q.to(torch::kFloat32) : q;
  auto kf = upcast ? k.to(torch::kFloat32) : k;
  auto scores = torch::matmul(qf, kf.transpose(-1, -2)) * scale;
  auto probs = scores.softmax(-1).to(dtype);
  return torch::matmul(probs, v);
}

AttentionImpl::AttentionImpl(const AttentionOptions& o) : options(o) {
  const int64_t inner = o.heads * o.dim_head;
  const int64_t ctx = o.cross_attention_dim > 0 ? o.cross_attention_dim : o.query_dim;
  if (o.norm_num_groups > 0)
    group_norm = register_module(
        "group_norm", torch::nn::GroupNorm(torch::nn::GroupNormOptions(o.norm_num_groups, o.query_dim).eps(o.eps)));
  to_q = register_module("to_q", torch::nn::Linear(torch::nn::LinearOptions(o.query_dim, inner).bias(o.bias)));
  to_k = register_module("to_k", torch::nn::Linear(torch::nn::LinearOptions(ctx, inner).bias(o.bias)));
  to_v = register_module("to_v", torch::nn::Linear(torch::nn::LinearOptions(ctx, inner).bias(o.bias)));
  to_out = register_module("to_out", torch::nn::ModuleList());
  to_out->push_back(torch::nn::Linear(torch::nn::LinearOptions(inner, o.query_dim).bias(o.out_bias)));
  to_out->push_back(torch::nn::Dropout(0.0));  // keeps indices equal to diffusers' (to_out.1)
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  auto h = x;
  const bool spatial = x.dim() == 4;
  int64_t b = x.size(0), c = 0, hh = 0, ww = 0;
  if (spatial) {  // [B, C, H, W] → [B, H·W, C]
    c = x.size(1), hh = x.size(2), ww = x.size(3);
    h = x.view({b, c, hh * ww}).transpose(1, 2);
  }
  if (group_norm) h = group_norm(h.transpose(1, 2)).transpose(1, 2);
  const auto& kv_in = context.defined() ? context : h;
  const int64_t heads = options.heads, d = options.dim_head;
  auto split = [&](const torch::Tensor& t) {  // [B, N, H·d] → [B, H, N, d]
    return t.view({t.size(0), t.size(1), heads, d}).transpose(1, 2);
  };
  auto q = split(to_q(h)), k = split(to_k(kv_in)), v = split(to_v(kv_in));
  const bool upcast = options.upcast_attention || options.upcast_softmax;
  auto out = scaled_dot_product_attention(q, k, v, 1.0 / std::sqrt(static_cast<double>(d)), upcast);
  out = out.transpose(1, 2).reshape({b, -1, heads * d}).to(q.scalar_type());
  out = to_out[0]->as<torch::nn::Linear>()->forward(out);
  if (spatial) out = out.transpose(1, 2).reshape({b, c, hh, ww});
  if (options.residual_connection) out = out + x;
  if (options.rescale_output_factor != 1.0) out = out / options.rescale_output_factor;
  return out;
}

ResnetBlock2DImpl::ResnetBlock2DImpl(const ResnetBlock2DOptions& o) : options(o) {
  const int64_t out = o.out_channels > 0 ? o.out_channels : o.in_channels;
  options.out_channels = out;
  norm1 = register_module("norm1", torch::nn::GroupNorm(torch::nn::GroupNormOptions(o.groups, o.in_channels).eps(o.eps)));
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels, out, 3).padding(1)));
  if (o.temb_channels > 0) time_emb_proj = register_module("time_emb_proj", torch::nn::Linear(o.temb_channels, out));
  norm2 = register_module("norm2", torch::nn::GroupNorm(torch::nn::GroupNormOptions(o.groups, out).eps(o.eps)));
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1)));
  if (o.in_channels != out)
    conv_shortcut = register_module("conv_shortcut", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels, out, 1)));
}

torch::Tensor ResnetBlock2DImpl::forward(const torch::Tensor& x, const torch::Tensor& temb) {
  auto h = conv1(torch::silu(norm1(x)));
  if (time_emb_proj && temb.defined()) h = h + time_emb_proj(torch::silu(temb)).unsqueeze(-1).unsqueeze(-1);
  h = conv2(dropout(torch::silu(norm2(h))));
  auto skip = conv_shortcut ? conv_shortcut(x) : x;
  auto out = skip + h;
  return options.output_scale_factor != 1.0 ? out / options.output_scale_factor : out;
}

Downsample2DImpl::Downsample2DImpl(int64_t channels, int64_t out_channels, int64_t pad) : padding(pad) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, out_channels, 3).stride(2).padding(pad)));
}

torch::Tensor Downsample2DImpl::forward(const torch::Tensor& x) {
  if (padding == 0) return conv(torch::constant_pad_nd(x, {0, 1, 0, 1}, 0));
  return conv(x);
}

Upsample2DImpl::Upsample2DImpl(int64_t channels, int64_t out_channels) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, out_channels, 3).padding(1)));
}

torch::Tensor Upsample2DImpl::forward(const torch::Tensor& x, c10::optional<std::vector<int64_t>> output_size) {
  namespace F = torch::nn::functional;
  auto opts = F::InterpolateFuncOptions().mode(torch::kNearest);
  if (output_size) opts.size(*output_size);
  else opts.scale_factor(std::vector<double>{2.0, 2.0});
  return conv(F::interpolate(x, opts));
}

}  // namespace sculpt
