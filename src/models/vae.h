// AutoencoderKL with its own Encoder, Decoder and DiagonalGaussianDistribution; shared blocks come from
// models/layers.h.
// Source: diffusers 0.29.2 src/diffusers/models/autoencoders/autoencoder_kl.py (AutoencoderKL),
// autoencoders/vae.py (Encoder, Decoder, DiagonalGaussianDistribution), unets/unet_2d_blocks.py
// (DownEncoderBlock2D, UpDecoderBlock2D, UNetMidBlock2D).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "models/layers.h"

namespace sculpt {

// Fields = keys of vae/config.json; a missing key takes diffusers' AutoencoderKL default.
struct AutoencoderKLConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  std::vector<std::string> down_block_types{"DownEncoderBlock2D"};  // the only kind AutoencoderKL uses
  std::vector<std::string> up_block_types{"UpDecoderBlock2D"};
  std::vector<int64_t> block_out_channels{64};
  int64_t layers_per_block = 1;   // resnets per encoder block; decoder blocks have one more
  std::string act_fn = "silu";
  int64_t latent_channels = 4;
  int64_t norm_num_groups = 32;
  int64_t sample_size = 32;       // tiling hint only
  double scaling_factor = 0.18215;
  // Not applied by encode/decode; callers use latents = (mean - shift_factor) · scaling_factor.
  std::optional<double> shift_factor;
  std::optional<std::vector<double>> latents_mean, latents_std;  // per-channel statistics (SDXL-style), unused here
  bool force_upcast = true;       // pipelines run this VAE in float32 even when the rest is float16
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  // Encoder/Decoder argument that 0.29.2's AutoencoderKL does not save; later versions do.
  bool mid_block_add_attention = true;

  // Throws naming `source` when a value has the wrong type or describes a model sculpt cannot build.
  static AutoencoderKLConfig from_json(const nlohmann::json& j, const std::string& source = "vae config");
  static AutoencoderKLConfig from_file(const std::filesystem::path& path);  // errors name the file
  nlohmann::json to_json() const;  // config.json as diffusers writes it
  void validate(const std::string& source) const;
};

// The encoder's posterior N(mean, exp(logvar)).
struct DiagonalGaussianDistribution {
  torch::Tensor mean, logvar, std, var;  // [B, latent, h, w]; logvar clamped to [-30, 20], std = exp(logvar / 2)
  explicit DiagonalGaussianDistribution(const torch::Tensor& moments);  // [B, 2·latent, h, w]: mean, logvar
  // mean + std · ε, ε drawn like diffusers' randn_tensor: on the generator's device in mean's dtype.
  torch::Tensor sample(torch::Generator& generator) const;
  torch::Tensor mode() const { return mean; }
};

// diffusers DownEncoderBlock2D: num_layers ResnetBlock2D (no time embedding), then an optional
// Downsample2D with padding 0. Keys: resnets.j, downsamplers.0.conv.
struct DownEncoderBlock2DImpl : torch::nn::Module {
  DownEncoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t num_layers, int64_t groups,
                         bool add_downsample);
  torch::Tensor forward(torch::Tensor h);  // [B, in, H, W] → [B, out, ⌊H/2⌋, ⌊W/2⌋] (H, W without downsample)
  torch::nn::ModuleList resnets{nullptr}, downsamplers{nullptr};
};
TORCH_MODULE(DownEncoderBlock2D);

// diffusers UpDecoderBlock2D: num_layers ResnetBlock2D, then an optional nearest-×2 Upsample2D.
// Keys: resnets.j, upsamplers.0.conv.
struct UpDecoderBlock2DImpl : torch::nn::Module {
  UpDecoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t num_layers, int64_t groups,
                       bool add_upsample);
  torch::Tensor forward(torch::Tensor h);  // [B, in, h, w] → [B, out, 2h, 2w] (h, w without upsample)
  torch::nn::ModuleList resnets{nullptr}, upsamplers{nullptr};
};
TORCH_MODULE(UpDecoderBlock2D);

// diffusers UNetMidBlock2D as the VAE builds it (no time embedding): resnets.0, attentions.0, resnets.1.
// The attention has attention_head_dim = channels, i.e. one head over all channels, with GroupNorm,
// biases, a residual connection and a float32 softmax.
struct UNetMidBlock2DImpl : torch::nn::Module {
  UNetMidBlock2DImpl(int64_t channels, int64_t groups, bool add_attention);
  torch::Tensor forward(torch::Tensor h);  // [B, C, H, W] → same shape
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr};
};
TORCH_MODULE(UNetMidBlock2D);

// diffusers Encoder (double_z): image → posterior moments.
struct EncoderImpl : torch::nn::Module {
  explicit EncoderImpl(const AutoencoderKLConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // [B, in, H, W] → [B, 2·latent, H/f, W/f], f = 2^(levels-1)
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList down_blocks{nullptr};
  UNetMidBlock2D mid_block{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(Encoder);

// diffusers Decoder (norm_type "group"): latent → image.
struct DecoderImpl : torch::nn::Module {
  explicit DecoderImpl(const AutoencoderKLConfig& c);
  torch::Tensor forward(const torch::Tensor& z);  // [B, latent, h, w] → [B, out, h·f, w·f]
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  UNetMidBlock2D mid_block{nullptr};
  torch::nn::ModuleList up_blocks{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(Decoder);

// Keys: encoder.*, decoder.*, quant_conv (1×1, 2·latent → 2·latent), post_quant_conv (1×1, latent → latent).
struct AutoencoderKLImpl : torch::nn::Module {
  explicit AutoencoderKLImpl(const AutoencoderKLConfig& config);
  // x: [B, in, H, W] in [-1, 1] → posterior over [B, latent, H/f, W/f]; scaling_factor NOT applied.
  DiagonalGaussianDistribution encode(const torch::Tensor& x);
  // z: [B, latent, h, w], NOT scaled (callers divide by scaling_factor first) → [B, out, h·f, w·f], unclamped.
  torch::Tensor decode(const torch::Tensor& z);
  // decode(posterior sample) when a generator is given (diffusers' sample_posterior=True), else decode(mode).
  torch::Tensor forward(const torch::Tensor& x, std::optional<torch::Generator> generator = std::nullopt);

  AutoencoderKLConfig config;
  Encoder encoder{nullptr};
  Decoder decoder{nullptr};
  torch::nn::Conv2d quant_conv{nullptr}, post_quant_conv{nullptr};  // null when use_(post_)quant_conv is false
};
TORCH_MODULE(AutoencoderKL);

// dir/config.json + dir/diffusion_pytorch_model.safetensors (a diffusers `vae` folder), loaded strictly.
AutoencoderKL load_vae(const std::filesystem::path& dir);

}  // namespace sculpt
