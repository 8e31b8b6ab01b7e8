// Blocks shared by the UNet and the VAE.
// Source: diffusers 0.29.2 src/diffusers/models/resnet.py (ResnetBlock2D), downsampling.py (Downsample2D),
// upsampling.py (Upsample2D), attention_processor.py (Attention, AttnProcessor, AttnProcessor2_0).
#include "models/layers.h"

#include <torch/version.h>

#include <cmath>

#include "core/check.h"

namespace sculpt {

namespace nn = torch::nn;

torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                           double scale, bool upcast) {
  SCULPT_CHECK(q.dim() >= 3 && q.dim() == k.dim() && k.dim() == v.dim(),
               "scaled_dot_product_attention: q, k, v must share a rank >= 3, got ", q.sizes(), ", ", k.sizes(), ", ",
               v.sizes());
  // THE version check for fused attention in sculpt; nothing else in the project asks which libtorch it has.
  // diffusers 0.29.2 picks AttnProcessor2_0 (F.scaled_dot_product_attention) whenever torch >= 2 provides it,
  // and AttnProcessor (baddbmm/softmax/bmm) otherwise; we follow the same split at compile time.
#if TORCH_VERSION_MAJOR >= 2
  static_cast<void>(upcast);  // AttnProcessor2_0 ignores upcast_attention/upcast_softmax as well
#if TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 1
  return at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, /*dropout_p=*/0.0, /*is_causal=*/false, scale);
#else
  // libtorch 2.0 has no `scale` argument and always scales by 1/√d: fold the ratio into q.
  const double d = static_cast<double>(q.size(-1));
  return at::scaled_dot_product_attention(q * (scale * std::sqrt(d)), k, v);
#endif
#else
  // AttnProcessor.get_attention_scores: scores = baddbmm(empty, q, kᵀ, beta=0, alpha=scale) over
  // [B·heads, N, d], in float32 when upcasting; softmax (float32 when upcasting), back to q's dtype; bmm with v.
  const auto dtype = q.scalar_type();
  const int64_t n = q.size(-2), m = k.size(-2);
  auto q3 = q.reshape({-1, n, q.size(-1)});  // [B·heads, N, d]
  auto k3 = k.reshape({-1, m, k.size(-1)});  // [B·heads, M, d]
  auto v3 = v.reshape({-1, m, v.size(-1)});  // [B·heads, M, dv]
  if (upcast) {
    q3 = q3.to(torch::kFloat32);
    k3 = k3.to(torch::kFloat32);
  }
  // diffusers passes torch.empty with beta=0. libtorch 1.13's CPU baddbmm reads uninitialised memory for
  // small matrices (NaN ~1 run in 30 on tiny models) unless it runs in place on a zeroed tensor.
  auto scores = torch::zeros({q3.size(0), n, m}, q3.options());
  scores.baddbmm_(q3, k3.transpose(-1, -2), /*beta=*/0, /*alpha=*/scale);  // [B·heads, N, M]
  auto probs = scores.softmax(-1).to(dtype);
  auto out = torch::bmm(probs, v3);  // [B·heads, N, dv]
  auto out_shape = q.sizes().vec();
  out_shape.back() = v.size(-1);
  return out.reshape(out_shape);
#endif
}

AttentionImpl::AttentionImpl(const AttentionOptions& o) : options(o) {
  SCULPT_CHECK(o.query_dim > 0 && o.heads > 0 && o.dim_head > 0, "Attention: query_dim, heads and dim_head must be > 0 (got ",
               o.query_dim, ", ", o.heads, ", ", o.dim_head, ")");
  const int64_t inner = o.heads * o.dim_head;
  const int64_t ctx = o.cross_attention_dim > 0 ? o.cross_attention_dim : o.query_dim;
  if (o.norm_num_groups > 0)
    group_norm = register_module("group_norm",
                                 nn::GroupNorm(nn::GroupNormOptions(o.norm_num_groups, o.query_dim).eps(o.eps).affine(true)));
  to_q = register_module("to_q", nn::Linear(nn::LinearOptions(o.query_dim, inner).bias(o.bias)));
  to_k = register_module("to_k", nn::Linear(nn::LinearOptions(ctx, inner).bias(o.bias)));
  to_v = register_module("to_v", nn::Linear(nn::LinearOptions(ctx, inner).bias(o.bias)));
  to_out = register_module("to_out", nn::ModuleList());
  to_out->push_back(nn::Linear(nn::LinearOptions(inner, o.query_dim).bias(o.out_bias)));
  to_out->push_back(nn::Dropout(0.0));  // keeps indices equal to diffusers' (to_out.1 has no parameters)
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  const bool spatial = x.dim() == 4;
  SCULPT_CHECK(spatial || x.dim() == 3, "Attention: input must be [B, N, C] or [B, C, H, W], got ", x.sizes());
  const int64_t b = x.size(0);
  const int64_t c = spatial ? x.size(1) : x.size(2);
  const int64_t hh = spatial ? x.size(2) : 0, ww = spatial ? x.size(3) : 0;
  SCULPT_CHECK(c == options.query_dim, "Attention: input has ", c, " channels, expected query_dim ", options.query_dim);
  auto h = spatial ? x.reshape({b, c, hh * ww}).transpose(1, 2) : x;  // [B, N, C]
  if (group_norm) h = group_norm(h.transpose(1, 2)).transpose(1, 2);
  const auto& kv_in = context.defined() ? context : h;  // [B, M, C'] (M = N for self-attention)
  const int64_t heads = options.heads, d = options.dim_head;
  auto split = [&](const torch::Tensor& t) {  // [B, L, heads·d] → [B, heads, L, d]
    return t.reshape({t.size(0), t.size(1), heads, d}).transpose(1, 2);
  };
  auto q = split(to_q(h)), k = split(to_k(kv_in)), v = split(to_v(kv_in));
  const double scale = std::pow(static_cast<double>(d), -0.5);  // diffusers: dim_head**-0.5
  const bool upcast = options.upcast_attention || options.upcast_softmax;
  auto out = scaled_dot_product_attention(q, k, v, scale, upcast);     // [B, heads, N, d]
  out = out.transpose(1, 2).reshape({b, -1, heads * d}).to(q.scalar_type());  // [B, N, heads·d]
  out = to_out[0]->as<nn::Linear>()->forward(out);                     // [B, N, C]
  if (spatial) out = out.transpose(1, 2).reshape({b, c, hh, ww});
  if (options.residual_connection) out = out + x;
  if (options.rescale_output_factor != 1.0) out = out / options.rescale_output_factor;
  return out;
}

ResnetBlock2DImpl::ResnetBlock2DImpl(const ResnetBlock2DOptions& o) : options(o) {
  SCULPT_CHECK(o.in_channels > 0, "ResnetBlock2D: in_channels must be > 0");
  const int64_t out = o.out_channels > 0 ? o.out_channels : o.in_channels;
  options.out_channels = out;
  norm1 = register_module("norm1", nn::GroupNorm(nn::GroupNormOptions(o.groups, o.in_channels).eps(o.eps)));
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(o.in_channels, out, 3).padding(1)));
  if (o.temb_channels > 0) time_emb_proj = register_module("time_emb_proj", nn::Linear(o.temb_channels, out));
  norm2 = register_module("norm2", nn::GroupNorm(nn::GroupNormOptions(o.groups, out).eps(o.eps)));
  dropout = register_module("dropout", nn::Dropout(o.dropout));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1)));
  if (o.in_channels != out)
    conv_shortcut = register_module("conv_shortcut", nn::Conv2d(nn::Conv2dOptions(o.in_channels, out, 1)));
}

torch::Tensor ResnetBlock2DImpl::forward(const torch::Tensor& x, const torch::Tensor& temb) {
  auto h = conv1(torch::silu(norm1(x)));  // [B, out, H, W]
  if (time_emb_proj) {
    SCULPT_CHECK(temb.defined(), "ResnetBlock2D was built with temb_channels=", options.temb_channels,
                 " but forward got no time embedding");
    h = h + time_emb_proj(torch::silu(temb)).unsqueeze(-1).unsqueeze(-1);  // temb: [B, temb] → [B, out, 1, 1]
  }
  h = conv2(dropout(torch::silu(norm2(h))));
  auto skip = conv_shortcut ? conv_shortcut(x) : x;
  auto out = skip + h;
  return options.output_scale_factor != 1.0 ? out / options.output_scale_factor : out;
}

Downsample2DImpl::Downsample2DImpl(int64_t channels, int64_t out_channels, int64_t pad) : padding(pad) {
  conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(channels, out_channels, 3).stride(2).padding(pad)));
}

torch::Tensor Downsample2DImpl::forward(const torch::Tensor& x) {  // [B, C, H, W] → [B, out, ⌊(H-1)/2⌋+1 …]
  // padding 0: diffusers pads right and bottom by one, so an H×W input gives ⌊H/2⌋×⌊W/2⌋.
  if (padding == 0) return conv(torch::constant_pad_nd(x, {0, 1, 0, 1}, 0));
  return conv(x);
}

Upsample2DImpl::Upsample2DImpl(int64_t channels, int64_t out_channels) {
  conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(channels, out_channels, 3).padding(1)));
}

torch::Tensor Upsample2DImpl::forward(const torch::Tensor& x, c10::optional<std::vector<int64_t>> output_size) {
  namespace F = nn::functional;
  auto opts = F::InterpolateFuncOptions().mode(torch::kNearest);
  if (output_size) {
    opts.size(*output_size);
  } else {
    opts.scale_factor(std::vector<double>{2.0, 2.0});
  }
  // diffusers upsamples bfloat16 in float32 (older kernels lack it); nearest copies values, so this is exact.
  const bool bf16 = x.scalar_type() == torch::kBFloat16;
  auto up = F::interpolate(bf16 ? x.to(torch::kFloat32) : x, opts);  // [B, C, 2H, 2W] or output_size
  return conv(bf16 ? up.to(torch::kBFloat16) : up);
}

}  // namespace sculpt
