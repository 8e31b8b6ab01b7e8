#include "models/vae.h"

#include <fstream>

#include "core/check.h"
#include "io/safetensors.h"
#include "io/state_dict.h"

namespace sculpt {
namespace fs = std::filesystem;
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

constexpr double kEps = 1e-6;  // diffusers' VAE blocks use resnet_eps 1e-6 throughout

torch::nn::Conv2d conv3(int64_t in, int64_t out) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1));
}

ResnetBlock2D vae_resnet(int64_t in, int64_t out, int64_t groups) {
  ResnetBlock2DOptions o;
  o.in_channels = in;
  o.out_channels = out;
  o.temb_channels = 0;
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
  read(j, "use_quant_conv", c.use_quant_conv, source);
  read(j, "use_post_quant_conv", c.use_post_quant_conv, source);
  read(j, "mid_block_add_attention", c.mid_block_add_attention, source);
  read(j, "force_upcast", c.force_upcast, source);
  const size_t n = c.block_out_channels.size();
  SCULPT_CHECK(n > 0, source, ": block_out_channels is empty");
  SCULPT_CHECK(c.down_block_types.size() == n && c.up_block_types.size() == n, source,
               ": down_block_types/up_block_types need one entry per block_out_channels entry (", n, ")");
  for (const auto& t : c.down_block_types)
    SCULPT_CHECK(t == "DownEncoderBlock2D", source, ": down block type '", t, "' is not supported");
  for (const auto& t : c.up_block_types)
    SCULPT_CHECK(t == "UpDecoderBlock2D", source, ": up block type '", t, "' is not supported");
  SCULPT_CHECK(c.act_fn == "silu", source, ": act_fn '", c.act_fn, "' is not supported (silu)");
  if (j.contains("shift_factor") && !j["shift_factor"].is_null())
    SCULPT_CHECK(false, source, ": shift_factor ", j["shift_factor"].dump(), " is not supported (SD 1.x/2.x VAEs have none)");
  return c;
}

AutoencoderKLConfig AutoencoderKLConfig::from_file(const fs::path& path) {
  std::ifstream in(path);
  SCULPT_CHECK(in.good(), "cannot read VAE config ", path, fs::exists(path) ? "" : ": no such file");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    SCULPT_CHECK(false, path, " is not valid JSON (", e.what(), ")");
  }
  return from_json(j, path.string());
}

DiagonalGaussianDistribution::DiagonalGaussianDistribution(const torch::Tensor& moments) {
  auto parts = moments.chunk(2, 1);
  mean = parts[0];
  logvar = parts[1].clamp(-30.0, 20.0);
  std = torch::exp(0.5 * logvar);
  var = torch::exp(logvar);
}

torch::Tensor DiagonalGaussianDistribution::sample(torch::Generator& generator) const {
  auto noise = torch::randn(mean.sizes(), generator, torch::TensorOptions().dtype(torch::kFloat32));
  return mean + std * noise.to(mean.device(), mean.scalar_type());
}

VaeMidBlockImpl::VaeMidBlockImpl(int64_t channels, int64_t groups, bool add_attention) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  attentions = register_module("attentions", torch::nn::ModuleList());
  resnets->push_back(vae_resnet(channels, channels, groups));
  if (add_attention) {
    AttentionOptions a;
    a.query_dim = channels;
    a.heads = 1;  // attention_head_dim = channels
    a.dim_head = channels;
    a.bias = true;
    a.upcast_softmax = true;
    a.norm_num_groups = groups;
    a.eps = kEps;
    a.residual_connection = true;
    attentions->push_back(Attention(a));
  }
  resnets->push_back(vae_resnet(channels, channels, groups));
}

torch::Tensor VaeMidBlockImpl::forward(torch::Tensor h) {
  h = resnets[0]->as<ResnetBlock2D>()->forward(h);
  if (!attentions->is_empty()) h = attentions[0]->as<Attention>()->forward(h);
  return resnets[1]->as<ResnetBlock2D>()->forward(h);
}

EncoderImpl::EncoderImpl(const AutoencoderKLConfig& c) {
  const auto& ch = c.block_out_channels;
  const int64_t g = c.norm_num_groups;
  conv_in = register_module("conv_in", conv3(c.in_channels, ch[0]));
  down_blocks = register_module("down_blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < ch.size(); ++i) {
    auto block = std::make_shared<torch::nn::Module>();  // DownEncoderBlock2D: resnets, downsamplers
    auto resnets = block->register_module("resnets", torch::nn::ModuleList());
    for (int64_t j = 0; j < c.layers_per_block; ++j)
      resnets->push_back(vae_resnet(j == 0 ? (i == 0 ? ch[0] : ch[i - 1]) : ch[i], ch[i], g));
    if (i + 1 < ch.size()) {
      auto down = block->register_module("downsamplers", torch::nn::ModuleList());
      down->push_back(Downsample2D(ch[i], ch[i], /*padding=*/0));
    }
    down_blocks->push_back(block);
  }
  mid_block = register_module("mid_block", VaeMidBlock(ch.back(), g, c.mid_block_add_attention));
  conv_norm_out = register_module("conv_norm_out", torch::nn::GroupNorm(torch::nn::GroupNormOptions(g, ch.back()).eps(kEps)));
  conv_out = register_module("conv_out", conv3(ch.back(), 2 * c.latent_channels));
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& x) {
  auto h = conv_in(x);
  for (auto& block : *down_blocks) {
    for (auto& r : *block->named_children()["resnets"]->as<torch::nn::ModuleList>()) h = r->as<ResnetBlock2D>()->forward(h);
    auto children = block->named_children();
    if (children.contains("downsamplers"))
      h = children["downsamplers"]->as<torch::nn::ModuleList>()->ptr(0)->as<Downsample2D>()->forward(h);
  }
  h = mid_block(h);
  return conv_out(torch::silu(conv_norm_out(h)));
}

DecoderImpl::DecoderImpl(const AutoencoderKLConfig& c) {
  const auto& ch = c.block_out_channels;
  const int64_t g = c.norm_num_groups;
  const size_t n = ch.size();
  conv_in = register_module("conv_in", conv3(c.latent_channels, ch.back()));
  mid_block = register_module("mid_block", VaeMidBlock(ch.back(), g, c.mid_block_add_attention));
  up_blocks = register_module("up_blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < n; ++i) {
    const int64_t prev = ch[n - 1 - (i == 0 ? 0 : i - 1)], out = ch[n - 1 - i];
    auto block = std::make_shared<torch::nn::Module>();  // UpDecoderBlock2D: resnets, upsamplers
    auto resnets = block->register_module("resnets", torch::nn::ModuleList());
    for (int64_t j = 0; j < c.layers_per_block + 1; ++j) resnets->push_back(vae_resnet(j == 0 ? prev : out, out, g));
    if (i + 1 < n) {
      auto up = block->register_module("upsamplers", torch::nn::ModuleList());
      up->push_back(Upsample2D(out, out));
    }
    up_blocks->push_back(block);
  }
  conv_norm_out = register_module("conv_norm_out", torch::nn::GroupNorm(torch::nn::GroupNormOptions(g, ch[0]).eps(kEps)));
  conv_out = register_module("conv_out", conv3(ch[0], c.out_channels));
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& z) {
  auto h = mid_block(conv_in(z));
  for (auto& block : *up_blocks) {
    for (auto& r : *block->named_children()["resnets"]->as<torch::nn::ModuleList>()) h = r->as<ResnetBlock2D>()->forward(h);
    auto children = block->named_children();
    if (children.contains("upsamplers"))
      h = children["upsamplers"]->as<torch::nn::ModuleList>()->ptr(0)->as<Upsample2D>()->forward(h);
  }
  return conv_out(torch::silu(conv_norm_out(h)));
}

AutoencoderKLImpl::AutoencoderKLImpl(const AutoencoderKLConfig& c) : config(c) {
  encoder = register_module("encoder", Encoder(c));
  decoder = register_module("decoder", Decoder(c));
  const int64_t l = c.latent_channels;
  if (c.use_quant_conv) quant_conv = register_module("quant_conv", torch::nn::Conv2d(2 * l, 2 * l, 1));
  if (c.use_post_quant_conv) post_quant_conv = register_module("post_quant_conv", torch::nn::Conv2d(l, l, 1));
}

DiagonalGaussianDistribution AutoencoderKLImpl::encode(const torch::Tensor& x) {
  auto moments = encoder(x);
  if (quant_conv) moments = quant_conv(moments);
  return DiagonalGaussianDistribution(moments);
}

torch::Tensor AutoencoderKLImpl::decode(const torch::Tensor& z) {
  return decoder(post_quant_conv ? post_quant_conv(z) : z);
}

AutoencoderKL load_vae(const fs::path& dir) {
  auto model = AutoencoderKL(AutoencoderKLConfig::from_file(dir / "config.json"));
  const auto weights = dir / "diffusion_pytorch_model.safetensors";
  SCULPT_CHECK(fs::exists(weights), "no diffusion_pytorch_model.safetensors in ", dir,
               " (sculpt reads safetensors only; .bin files are pickles)");
  load_state_dict(*model, read_safetensors(weights), weights.string());
  return model;
}

}  // namespace sculpt
