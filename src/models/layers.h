// Blocks shared by the UNet and the VAE, named exactly as diffusers names them.
// Source: diffusers 0.29.2 src/diffusers/models/resnet.py (ResnetBlock2D), downsampling.py (Downsample2D),
// upsampling.py (Upsample2D), attention_processor.py (Attention + AttnProcessor / AttnProcessor2_0).
#pragma once
#include <torch/torch.h>

namespace sculpt {

// softmax(q·kᵀ·scale)·v over [B·heads, N, d] (or [B, heads, N, d]) tensors. The one place that picks
// fused scaled-dot-product attention (libtorch ≥ 2.0) or the explicit baddbmm/softmax/bmm path (1.13).
// upcast: compute scores and softmax in float32 (diffusers' upcast_attention / upcast_softmax).
torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                           double scale, bool upcast);

struct AttentionOptions {
  int64_t query_dim = 0;
  int64_t cross_attention_dim = 0;  // 0: self-attention (keys/values from query_dim)
  int64_t heads = 8;
  int64_t dim_head = 64;
  bool bias = false;               // to_q/to_k/to_v bias (UNet: attention_bias=false; VAE: true)
  bool out_bias = true;            // to_out.0 bias
  bool upcast_attention = false;   // scores in float32
  bool upcast_softmax = false;     // softmax in float32
  int64_t norm_num_groups = 0;     // > 0: GroupNorm `group_norm` before q/k/v (VAE mid-block attention)
  double eps = 1e-5;               // group_norm eps
  bool residual_connection = false;
  double rescale_output_factor = 1.0;
};

// diffusers `Attention`. Accepts [B, N, C] or [B, C, H, W] (flattened to [B, H·W, C] and back).
// Keys: to_q, to_k, to_v, to_out.0 (Linear), to_out.1 (Dropout, no params), group_norm (optional).
struct AttentionImpl : torch::nn::Module {
  explicit AttentionImpl(const AttentionOptions& options);
  // context: [B, M, cross_attention_dim] for cross-attention; undefined for self-attention.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context = {});

  AttentionOptions options;
  torch::nn::GroupNorm group_norm{nullptr};
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out{nullptr};
};
TORCH_MODULE(Attention);

struct ResnetBlock2DOptions {
  int64_t in_channels = 0;
  int64_t out_channels = 0;      // 0: same as in_channels
  int64_t temb_channels = 512;   // 0: no time embedding (VAE)
  int64_t groups = 32;
  double eps = 1e-6;
  double output_scale_factor = 1.0;
  double dropout = 0.0;
};

// diffusers `ResnetBlock2D` (time_embedding_norm "default", silu). Keys: norm1, conv1, time_emb_proj
// (when temb_channels > 0), norm2, conv2, conv_shortcut (1×1, when in != out channels).
struct ResnetBlock2DImpl : torch::nn::Module {
  explicit ResnetBlock2DImpl(const ResnetBlock2DOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb = {});  // x: [B, in, H, W]

  ResnetBlock2DOptions options;
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  torch::nn::Linear time_emb_proj{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(ResnetBlock2D);

// diffusers `Downsample2D` with use_conv=True: 3×3 stride-2 conv named `conv`. padding 0 (the VAE's
// encoder) pads (0,1,0,1) first, as diffusers does.
struct Downsample2DImpl : torch::nn::Module {
  Downsample2DImpl(int64_t channels, int64_t out_channels, int64_t padding);
  torch::Tensor forward(const torch::Tensor& x);

  int64_t padding;
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(Downsample2D);

// diffusers `Upsample2D` with use_conv=True: nearest ×2 (or to output_size) then a 3×3 conv named `conv`.
struct Upsample2DImpl : torch::nn::Module {
  Upsample2DImpl(int64_t channels, int64_t out_channels);
  // output_size: {H, W} when the skip connection's size is not exactly twice x's (odd sizes).
  torch::Tensor forward(const torch::Tensor& x, c10::optional<std::vector<int64_t>> output_size = c10::nullopt);

  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(Upsample2D);

}  // namespace sculpt
