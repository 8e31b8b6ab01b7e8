// AutoencoderKL with its Encoder, Decoder and diagonal Gaussian posterior.
// Source: diffusers 0.29.2 src/diffusers/models/autoencoders/autoencoder_kl.py, autoencoders/vae.py
// (Encoder, Decoder, DiagonalGaussianDistribution), unets/unet_2d_blocks.py (DownEncoderBlock2D,
// UpDecoderBlock2D, UNetMidBlock2D).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/layers.h"

namespace sculpt {

// Fields = keys of vae/config.json, defaults as diffusers' AutoencoderKL.
struct AutoencoderKLConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  std::vector<std::string> down_block_types{"DownEncoderBlock2D"};
  std::vector<std::string> up_block_types{"UpDecoderBlock2D"};
  std::vector<int64_t> block_out_channels{64};
  int64_t layers_per_block = 1;
  std::string act_fn = "silu";
  int64_t latent_channels = 4;
  int64_t norm_num_groups = 32;
  int64_t sample_size = 32;
  double scaling_factor = 0.18215;
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;
  bool force_upcast = true;

  static AutoencoderKLConfig from_json(const nlohmann::json& j, const std::string& source = "vae config");
  static AutoencoderKLConfig from_file(const std::filesystem::path& path);
};

struct DiagonalGaussianDistribution {
  torch::Tensor mean, logvar, std, var;  // logvar clamped to [-30, 20]
  explicit DiagonalGaussianDistribution(const torch::Tensor& moments);  // [B, 2·latent, h, w]
  torch::Tensor sample(torch::Generator& generator) const;             // mean + std·N(0, I)
  torch::Tensor mode() const { return mean; }
};

// UNetMidBlock2D without time embedding: resnet, attention (one head over all channels), resnet.
struct VaeMidBlockImpl : torch::nn::Module {
  VaeMidBlockImpl(int64_t channels, int64_t groups, bool add_attention);
  torch::Tensor forward(torch::Tensor h);
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr};
};
TORCH_MODULE(VaeMidBlock);

struct EncoderImpl : torch::nn::Module {
  explicit EncoderImpl(const AutoencoderKLConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // [B, in, H, W] → [B, 2·latent, H/f, W/f]
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList down_blocks{nullptr};
  VaeMidBlock mid_block{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(Encoder);

struct DecoderImpl : torch::nn::Module {
  explicit DecoderImpl(const AutoencoderKLConfig& c);
  torch::Tensor forward(const torch::Tensor& z);  // [B, latent, h, w] → [B, out, h·f, w·f]
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList up_blocks{nullptr};
  VaeMidBlock mid_block{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(Decoder);

struct AutoencoderKLImpl : torch::nn::Module {
  explicit AutoencoderKLImpl(const AutoencoderKLConfig& config);
  DiagonalGaussianDistribution encode(const torch::Tensor& x);  // x in [-1, 1]; no scaling_factor applied
  torch::Tensor decode(const torch::Tensor& z);                 // z unscaled; output roughly in [-1, 1]
  AutoencoderKLConfig config;
  Encoder encoder{nullptr};
  Decoder decoder{nullptr};
  torch::nn::Conv2d quant_conv{nullptr}, post_quant_conv{nullptr};
};
TORCH_MODULE(AutoencoderKL);

// dir/config.json + dir/diffusion_pytorch_model.safetensors, loaded strictly.
AutoencoderKL load_vae(const std::filesystem::path& dir);

}  // namespace sculpt
