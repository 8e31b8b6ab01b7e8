// AutoencoderKL, Encoder, Decoder and their blocks.
// Source: diffusers 0.29.2 src/diffusers/models/autoencoders/autoencoder_kl.py, autoencoders/vae.py,
// unets/unet_2d_blocks.py (DownEncoderBlock2D, UpDecoderBlock2D, UNetMidBlock2D).
#include "models/vae.h"

#include <fstream>

#include "core/check.h"
#include "io/safetensors.h"
#include "io/state_dict.h"

namespace sculpt {
namespace fs = std::filesystem;
namespace nn = torch::nn;
using json = nlohmann::json;

namespace {

template <typename T>
void read(const json& j, const char* key, T& field, const std::string& source) {
  if (!j.contains(key) || j.at(key).is_null()) return;
  try {
    field = j.at(key).get<T>();
  } catch (const json::exception&) {
    SCULPT_CHECK(false, source, ": '", key, "' has the wrong type: ", j.at(key).dump());
  }
}

template <typename T>
void read(const json& j, const char* key, std::optional<T>& field, const std::string& source) {
  if (!j.contains(key) || j.at(key).is_null()) return;
  T value{};
  read(j, key, value, source);
  field = value;
}

// Encoder and Decoder hard-code resnet_eps=1e-6 for every block and their conv_norm_out.
constexpr double kEps = 1e-6;

nn::Conv2d conv3x3(int64_t in, int64_t out) { return nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1)); }

ResnetBlock2D vae_resnet(int64_t in, int64_t out, int64_t groups) {
  ResnetBlock2DOptions o;
  o.in_channels = in;
  o.out_channels = out;
  o.temb_channels = 0;  // temb_channels=None
  o.groups = groups;
  o.eps = kEps;
  return ResnetBlock2D(o);
}

}  // namespace

AutoencoderKLConfig AutoencoderKLConfig::from_json(const json& j, const std::string& source) {
  SCULPT_CHECK(j.is_object(), source, " is not a JSON object");
  AutoencoderKLConfig c;
  read(j, "in_channels", c.in_channels, source);
  read(j, "out_channels", c.out_channels, source);
  read(j, "down_block_types", c.down_block_types, source);
  read(j, "up_block_types", c.up_block_types, source);
  read(j, "block_out_channels", c.block_out_channels, source);
  read(j, "layers_per_block", c.layers_per_block, source);
  read(j, "act_fn", c.act_fn, source);
  read(j, "latent_channels", c.latent_channels, source);
  read(j, "norm_num_groups", c.norm_num_groups, source);
  read(j, "sample_size", c.sample_size, source);
  read(j, "scaling_factor", c.scaling_factor, source);
  read(j, "shift_factor", c.shift_factor, source);
  read(j, "latents_mean", c.latents_mean, source);
  read(j, "latents_std", c.latents_std, source);
  read(j, "force_upcast", c.force_upcast, source);
  read(j, "use_quant_conv", c.use_quant_conv, source);
  read(j, "use_post_quant_conv", c.use_post_quant_conv, source);
  read(j, "mid_block_add_attention", c.mid_block_add_attention, source);
  c.validate(source);
  return c;
}

AutoencoderKLConfig AutoencoderKLConfig::from_file(const fs::path& path) {
  std::ifstream in(path);
  SCULPT_CHECK(in.good(), "cannot read the VAE config ", path, fs::exists(path) ? "" : ": no such file",
               ". Hint: pass a diffusers folder (it has vae/config.json)");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    SCULPT_CHECK(false, path, " is not valid JSON (", e.what(), ")");
  }
  return from_json(j, path.string());
}

void AutoencoderKLConfig::validate(const std::string& source) const {
  const size_t n = block_out_channels.size();
  SCULPT_CHECK(n > 0, source, ": block_out_channels is empty");
  SCULPT_CHECK(down_block_types.size() == n && up_block_types.size() == n, source,
               ": down_block_types and up_block_types need one entry per block_out_channels entry (", n, "), got ",
               down_block_types.size(), " and ", up_block_types.size());
  for (const auto& t : down_block_types)
    SCULPT_CHECK(t == "DownEncoderBlock2D", source, ": down block type '", t, "' is not supported (DownEncoderBlock2D)");
  for (const auto& t : up_block_types)
    SCULPT_CHECK(t == "UpDecoderBlock2D", source, ": up block type '", t, "' is not supported (UpDecoderBlock2D)");
  SCULPT_CHECK(act_fn == "silu", source, ": act_fn '", act_fn, "' is not supported (silu)");
  SCULPT_CHECK(in_channels > 0 && out_channels > 0 && latent_channels > 0 && layers_per_block > 0, source,
               ": in_channels, out_channels, latent_channels and layers_per_block must be > 0");
  SCULPT_CHECK(norm_num_groups > 0, source, ": norm_num_groups must be > 0, got ", norm_num_groups);
  for (int64_t ch : block_out_channels)
    SCULPT_CHECK(ch > 0 && ch % norm_num_groups == 0, source, ": block_out_channels entry ", ch,
                 " is not a positive multiple of norm_num_groups ", norm_num_groups);
}

DiagonalGaussianDistribution::DiagonalGaussianDistribution(const torch::Tensor& moments) {
  SCULPT_CHECK(moments.dim() == 4 && moments.size(1) % 2 == 0,
               "posterior moments must be [B, 2·latent, h, w], got ", moments.sizes());
  auto parts = moments.chunk(2, 1);
  mean = parts[0];
  logvar = parts[1].clamp(-30.0, 20.0);
  std = torch::exp(0.5 * logvar);
  var = torch::exp(logvar);
}

torch::Tensor DiagonalGaussianDistribution::sample(torch::Generator& generator) const {
  // randn_tensor: a CPU generator draws on the CPU and the draw moves to mean's device; a CUDA
  // generator cannot fill a CPU tensor.
  const auto gen_device = generator.device();
  SCULPT_CHECK(gen_device.is_cpu() || gen_device.type() == mean.device().type(), "cannot sample a ",
               mean.device(), " posterior with a generator on ", gen_device);
  auto eps = torch::randn(mean.sizes(), generator, mean.options().device(gen_device));
  return mean + std * eps.to(mean.device());
}

DownEncoderBlock2DImpl::DownEncoderBlock2DImpl(int64_t in, int64_t out, int64_t num_layers, int64_t groups,
                                               bool add_downsample) {
  resnets = register_module("resnets", nn::ModuleList());
  for (int64_t j = 0; j < num_layers; ++j) resnets->push_back(vae_resnet(j == 0 ? in : out, out, groups));
  if (add_downsample) {
    downsamplers = register_module("downsamplers", nn::ModuleList());
    downsamplers->push_back(Downsample2D(out, out, /*padding=*/0));
  }
}

torch::Tensor DownEncoderBlock2DImpl::forward(torch::Tensor h) {
  for (const auto& r : *resnets) h = r->as<ResnetBlock2D>()->forward(h);
  if (downsamplers) h = downsamplers[0]->as<Downsample2D>()->forward(h);
  return h;
}

UpDecoderBlock2DImpl::UpDecoderBlock2DImpl(int64_t in, int64_t out, int64_t num_layers, int64_t groups,
                                           bool add_upsample) {
  resnets = register_module("resnets", nn::ModuleList());
  for (int64_t j = 0; j < num_layers; ++j) resnets->push_back(vae_resnet(j == 0 ? in : out, out, groups));
  if (add_upsample) {
    upsamplers = register_module("upsamplers", nn::ModuleList());
    upsamplers->push_back(Upsample2D(out, out));
  }
}

torch::Tensor UpDecoderBlock2DImpl::forward(torch::Tensor h) {
  for (const auto& r : *resnets) h = r->as<ResnetBlock2D>()->forward(h);
  if (upsamplers) h = upsamplers[0]->as<Upsample2D>()->forward(h);
  return h;
}

UNetMidBlock2DImpl::UNetMidBlock2DImpl(int64_t channels, int64_t groups, bool add_attention) {
  resnets = register_module("resnets", nn::ModuleList());
  attentions = register_module("attentions", nn::ModuleList());
  resnets->push_back(vae_resnet(channels, channels, groups));
  if (add_attention) {
    AttentionOptions a;
    a.query_dim = channels;
    a.dim_head = channels;  // attention_head_dim = block_out_channels[-1] …
    a.heads = channels / a.dim_head;  // … so heads = in_channels // attention_head_dim = 1
    a.bias = true;
    a.upcast_softmax = true;
    a.norm_num_groups = groups;  // resnet_time_scale_shift "default" → attn_groups = resnet_groups
    a.eps = kEps;
    a.residual_connection = true;
    a.rescale_output_factor = 1.0;  // output_scale_factor
    attentions->push_back(Attention(a));
  }
  resnets->push_back(vae_resnet(channels, channels, groups));
}

torch::Tensor UNetMidBlock2DImpl::forward(torch::Tensor h) {
  h = resnets[0]->as<ResnetBlock2D>()->forward(h);
  if (!attentions->is_empty()) h = attentions[0]->as<Attention>()->forward(h);
  return resnets[1]->as<ResnetBlock2D>()->forward(h);
}

EncoderImpl::EncoderImpl(const AutoencoderKLConfig& c) {
  const auto& ch = c.block_out_channels;
  const int64_t g = c.norm_num_groups;
  conv_in = register_module("conv_in", conv3x3(c.in_channels, ch[0]));
  down_blocks = register_module("down_blocks", nn::ModuleList());
  for (size_t i = 0; i < ch.size(); ++i) {
    const int64_t in = i == 0 ? ch[0] : ch[i - 1];
    down_blocks->push_back(DownEncoderBlock2D(in, ch[i], c.layers_per_block, g, /*add_downsample=*/i + 1 < ch.size()));
  }
  mid_block = register_module("mid_block", UNetMidBlock2D(ch.back(), g, c.mid_block_add_attention));
  conv_norm_out = register_module("conv_norm_out", nn::GroupNorm(nn::GroupNormOptions(g, ch.back()).eps(kEps)));
  conv_out = register_module("conv_out", conv3x3(ch.back(), 2 * c.latent_channels));  // double_z
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& x) {
  auto h = conv_in(x);  // [B, ch0, H, W]
  for (const auto& block : *down_blocks) h = block->as<DownEncoderBlock2D>()->forward(h);
  h = mid_block(h);  // [B, ch_last, H/f, W/f]
  return conv_out(torch::silu(conv_norm_out(h)));
}

DecoderImpl::DecoderImpl(const AutoencoderKLConfig& c) {
  const auto& ch = c.block_out_channels;
  const int64_t g = c.norm_num_groups;
  const size_t n = ch.size();
  conv_in = register_module("conv_in", conv3x3(c.latent_channels, ch.back()));
  mid_block = register_module("mid_block", UNetMidBlock2D(ch.back(), g, c.mid_block_add_attention));
  up_blocks = register_module("up_blocks", nn::ModuleList());
  for (size_t i = 0; i < n; ++i) {  // channels in reverse: up_blocks.0 works at the lowest resolution
    const int64_t prev = ch[n - (i == 0 ? 1 : i)], out = ch[n - 1 - i];
    up_blocks->push_back(UpDecoderBlock2D(prev, out, c.layers_per_block + 1, g, /*add_upsample=*/i + 1 < n));
  }
  conv_norm_out = register_module("conv_norm_out", nn::GroupNorm(nn::GroupNormOptions(g, ch[0]).eps(kEps)));
  conv_out = register_module("conv_out", conv3x3(ch[0], c.out_channels));
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& z) {
  auto h = mid_block(conv_in(z));  // [B, ch_last, h, w]
  for (const auto& block : *up_blocks) h = block->as<UpDecoderBlock2D>()->forward(h);
  return conv_out(torch::silu(conv_norm_out(h)));  // [B, out, h·f, w·f]
}

AutoencoderKLImpl::AutoencoderKLImpl(const AutoencoderKLConfig& c) : config(c) {
  c.validate("AutoencoderKL config");
  encoder = register_module("encoder", Encoder(c));
  decoder = register_module("decoder", Decoder(c));
  const int64_t l = c.latent_channels;
  if (c.use_quant_conv) quant_conv = register_module("quant_conv", nn::Conv2d(2 * l, 2 * l, 1));
  if (c.use_post_quant_conv) post_quant_conv = register_module("post_quant_conv", nn::Conv2d(l, l, 1));
}

DiagonalGaussianDistribution AutoencoderKLImpl::encode(const torch::Tensor& x) {
  SCULPT_CHECK(x.dim() == 4 && x.size(1) == config.in_channels, "VAE encode expects [B, ", config.in_channels,
               ", H, W], got ", x.sizes());
  auto moments = encoder(x);  // [B, 2·latent, h, w]
  if (quant_conv) moments = quant_conv(moments);
  return DiagonalGaussianDistribution(moments);
}

torch::Tensor AutoencoderKLImpl::decode(const torch::Tensor& z) {
  SCULPT_CHECK(z.dim() == 4 && z.size(1) == config.latent_channels, "VAE decode expects [B, ", config.latent_channels,
               ", h, w], got ", z.sizes());
  return decoder(post_quant_conv ? post_quant_conv(z) : z);
}

torch::Tensor AutoencoderKLImpl::forward(const torch::Tensor& x, std::optional<torch::Generator> generator) {
  auto posterior = encode(x);
  return decode(generator ? posterior.sample(*generator) : posterior.mode());
}

AutoencoderKL load_vae(const fs::path& dir) {
  auto model = AutoencoderKL(AutoencoderKLConfig::from_file(dir / "config.json"));
  const auto weights = dir / "diffusion_pytorch_model.safetensors";
  SCULPT_CHECK(fs::exists(weights), "no diffusion_pytorch_model.safetensors in ", dir,
               " (sculpt reads safetensors only; .bin files are pickles)");
  load_state_dict(*model, read_safetensors(weights), weights.string());
  return model;
}

nlohmann::json AutoencoderKLConfig::to_json() const {
  nlohmann::json j = {{"_class_name", "AutoencoderKL"},
                      {"_diffusers_version", "0.29.2"},
                      {"in_channels", in_channels},
                      {"out_channels", out_channels},
                      {"down_block_types", down_block_types},
                      {"up_block_types", up_block_types},
                      {"block_out_channels", block_out_channels},
                      {"layers_per_block", layers_per_block},
                      {"act_fn", act_fn},
                      {"latent_channels", latent_channels},
                      {"norm_num_groups", norm_num_groups},
                      {"sample_size", sample_size},
                      {"scaling_factor", scaling_factor},
                      {"force_upcast", force_upcast},
                      {"use_quant_conv", use_quant_conv},
                      {"use_post_quant_conv", use_post_quant_conv}};
  if (shift_factor) j["shift_factor"] = *shift_factor;
  if (latents_mean) j["latents_mean"] = *latents_mean;
  if (latents_std) j["latents_std"] = *latents_std;
  if (!mid_block_add_attention) j["mid_block_add_attention"] = false;
  return j;
}

}  // namespace sculpt
