#include "models/unet.h"

#include <cmath>
#include <fstream>

#include "core/check.h"
#include "io/safetensors.h"
#include "io/state_dict.h"

namespace sculpt {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// diffusers accepts an int or a list for many per-block fields; expand to one value per level.
std::vector<int64_t> int_or_list(const json& j, const std::string& key, const std::string& source) {
  const auto& v = j.at(key);
  if (v.is_number_integer()) return {v.get<int64_t>()};
  SCULPT_CHECK(v.is_array() && !v.empty(), source, ": '", key, "' must be an integer or a list of integers, got ",
               v.dump());
  std::vector<int64_t> out;
  for (const auto& e : v) {
    SCULPT_CHECK(e.is_number_integer(), source, ": '", key, "' holds a non-integer ", e.dump());
    out.push_back(e.get<int64_t>());
  }
  return out;
}

int64_t per_level(const std::vector<int64_t>& v, size_t level) { return v.size() == 1 ? v[0] : v.at(level); }

template <typename T>
void read(const json& j, const char* key, T& field, const std::string& source) {
  if (!j.contains(key) || j.at(key).is_null()) return;
  try {
    field = j.at(key).get<T>();
  } catch (const json::exception&) {
    SCULPT_CHECK(false, source, ": '", key, "' has the wrong type: ", j.at(key).dump());
  }
}

// Keys whose non-default values change the architecture in ways sculpt does not implement.
void reject_unsupported(const json& j, const std::string& source) {
  auto null_or = [&](const char* key, const json& allowed) {
    if (!j.contains(key) || j.at(key).is_null()) return;
    SCULPT_CHECK(j.at(key) == allowed, source, ": '", key, "' = ", j.at(key).dump(),
                 " is not supported by sculpt's UNet2DConditionModel (supported: ", allowed.dump(), ")");
  };
  null_or("class_embed_type", nullptr);
  null_or("addition_embed_type", nullptr);
  null_or("encoder_hid_dim", nullptr);
  null_or("encoder_hid_dim_type", nullptr);
  null_or("time_cond_proj_dim", nullptr);
  null_or("num_class_embeds", nullptr);
  null_or("timestep_post_act", nullptr);
  null_or("time_embedding_dim", nullptr);
  null_or("time_embedding_act_fn", nullptr);
  null_or("cross_attention_norm", nullptr);
  null_or("dual_cross_attention", false);
  null_or("only_cross_attention", false);
  null_or("resnet_time_scale_shift", "default");
  null_or("time_embedding_type", "positional");
  null_or("act_fn", "silu");
  null_or("attention_type", "default");
  null_or("resnet_skip_time_act", false);
  null_or("resnet_out_scale_factor", 1.0);
  null_or("class_embeddings_concat", false);
  null_or("dropout", 0.0);
  null_or("mid_block_only_cross_attention", false);
  null_or("reverse_transformer_layers_per_block", nullptr);
}

}  // namespace

UNet2DConditionConfig UNet2DConditionConfig::from_json(const json& j, const std::string& source) {
  SCULPT_CHECK(j.is_object(), source, " is not a JSON object");
  reject_unsupported(j, source);
  UNet2DConditionConfig c;
  read(j, "sample_size", c.sample_size, source);
  read(j, "in_channels", c.in_channels, source);
  read(j, "out_channels", c.out_channels, source);
  read(j, "center_input_sample", c.center_input_sample, source);
  read(j, "flip_sin_to_cos", c.flip_sin_to_cos, source);
  read(j, "freq_shift", c.freq_shift, source);
  read(j, "down_block_types", c.down_block_types, source);
  read(j, "up_block_types", c.up_block_types, source);
  read(j, "block_out_channels", c.block_out_channels, source);
  read(j, "downsample_padding", c.downsample_padding, source);
  read(j, "mid_block_scale_factor", c.mid_block_scale_factor, source);
  read(j, "norm_num_groups", c.norm_num_groups, source);
  read(j, "norm_eps", c.norm_eps, source);
  read(j, "use_linear_projection", c.use_linear_projection, source);
  read(j, "upcast_attention", c.upcast_attention, source);
  read(j, "conv_in_kernel", c.conv_in_kernel, source);
  read(j, "conv_out_kernel", c.conv_out_kernel, source);
  if (j.contains("mid_block_type")) c.mid_block_type = j["mid_block_type"].is_null() ? "" : j["mid_block_type"].get<std::string>();
  for (auto [key, field] : {std::pair{"layers_per_block", &c.layers_per_block},
                            std::pair{"cross_attention_dim", &c.cross_attention_dim},
                            std::pair{"transformer_layers_per_block", &c.transformer_layers_per_block},
                            std::pair{"attention_head_dim", &c.attention_head_dim},
                            std::pair{"num_attention_heads", &c.num_attention_heads}}) {
    if (j.contains(key) && !j.at(key).is_null()) *field = int_or_list(j, key, source);
  }

  const size_t n = c.block_out_channels.size();
  SCULPT_CHECK(n > 0, source, ": block_out_channels is empty");
  SCULPT_CHECK(c.down_block_types.size() == n && c.up_block_types.size() == n, source, ": down_block_types (",
               c.down_block_types.size(), ") and up_block_types (", c.up_block_types.size(),
               ") must have one entry per block_out_channels entry (", n, ")");
  for (const auto& t : c.down_block_types)
    SCULPT_CHECK(t == "CrossAttnDownBlock2D" || t == "DownBlock2D", source, ": down block type '", t,
                 "' is not supported (CrossAttnDownBlock2D, DownBlock2D)");
  for (const auto& t : c.up_block_types)
    SCULPT_CHECK(t == "CrossAttnUpBlock2D" || t == "UpBlock2D", source, ": up block type '", t,
                 "' is not supported (CrossAttnUpBlock2D, UpBlock2D)");
  SCULPT_CHECK(c.mid_block_type.empty() || c.mid_block_type == "UNetMidBlock2DCrossAttn", source,
               ": mid_block_type '", c.mid_block_type, "' is not supported (UNetMidBlock2DCrossAttn or null)");
  for (auto [key, v] : {std::pair{"layers_per_block", &c.layers_per_block},
                        std::pair{"cross_attention_dim", &c.cross_attention_dim},
                        std::pair{"transformer_layers_per_block", &c.transformer_layers_per_block},
                        std::pair{"attention_head_dim", &c.attention_head_dim},
                        std::pair{"num_attention_heads", &c.num_attention_heads}}) {
    SCULPT_CHECK(v->size() <= 1 || v->size() == n, source, ": '", key, "' has ", v->size(),
                 " entries for ", n, " blocks");
  }
  for (size_t i = 0; i < n; ++i) {
    const int64_t heads = c.heads(i);
    SCULPT_CHECK(heads > 0 && c.block_out_channels[i] % heads == 0, source, ": block ", i, " has ",
                 c.block_out_channels[i], " channels, not divisible by ", heads, " attention heads");
  }
  return c;
}

UNet2DConditionConfig UNet2DConditionConfig::from_file(const fs::path& path) {
  std::ifstream in(path);
  SCULPT_CHECK(in.good(), "cannot read UNet config ", path, fs::exists(path) ? "" : ": no such file");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    SCULPT_CHECK(false, path, " is not valid JSON (", e.what(), ")");
  }
  return from_json(j, path.string());
}

int64_t UNet2DConditionConfig::heads(size_t level) const {
  // diffusers: num_attention_heads = num_attention_heads or attention_head_dim (a historical naming quirk).
  return per_level(num_attention_heads.empty() ? attention_head_dim : num_attention_heads, level);
}

torch::Tensor timestep_embedding(const torch::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos, double shift) {
  const int64_t half = dim / 2;
  auto exponent = -std::log(10000.0) * torch::arange(0, half, torch::TensorOptions().dtype(torch::kFloat32)
                                                                  .device(timesteps.device())) /
                  (half - shift);
  auto emb = timesteps.to(torch::kFloat32).unsqueeze(1) * exponent.exp().unsqueeze(0);  // [B, half]
  emb = torch::cat({emb.sin(), emb.cos()}, -1);
  if (flip_sin_to_cos) emb = torch::cat({emb.narrow(1, half, half), emb.narrow(1, 0, half)}, -1);
  if (dim % 2 == 1) emb = torch::constant_pad_nd(emb, {0, 1}, 0);
  return emb;
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int64_t in_channels, int64_t time_embed_dim) {
  linear_1 = register_module("linear_1", torch::nn::Linear(in_channels, time_embed_dim));
  linear_2 = register_module("linear_2", torch::nn::Linear(time_embed_dim, time_embed_dim));
}

namespace {

ResnetBlock2D make_resnet(const UNet2DConditionConfig& c, int64_t in, int64_t out, int64_t temb, double scale = 1.0) {
  ResnetBlock2DOptions o;
  o.in_channels = in;
  o.out_channels = out;
  o.temb_channels = temb;
  o.groups = c.norm_num_groups;
  o.eps = c.norm_eps;
  o.output_scale_factor = scale;
  return ResnetBlock2D(o);
}

Transformer2DModel make_transformer(const UNet2DConditionConfig& c, size_t level, int64_t channels,
                                    int64_t num_layers, int64_t cross_dim, int64_t heads) {
  Transformer2DOptions o;
  o.heads = heads;
  o.dim_head = channels / heads;
  o.in_channels = channels;
  o.num_layers = num_layers;
  o.cross_attention_dim = cross_dim;
  o.norm_num_groups = c.norm_num_groups;
  o.use_linear_projection = c.use_linear_projection;
  o.upcast_attention = c.upcast_attention;
  (void)level;
  return Transformer2DModel(o);
}

}  // namespace

DownBlockImpl::DownBlockImpl(const UNet2DConditionConfig& c, size_t level, int64_t in, int64_t out, int64_t temb,
                             bool add_downsample)
    : has_attention(c.down_block_types[level] == "CrossAttnDownBlock2D") {
  resnets = register_module("resnets", torch::nn::ModuleList());
  if (has_attention) attentions = register_module("attentions", torch::nn::ModuleList());
  const int64_t layers = per_level(c.layers_per_block, level);
  for (int64_t j = 0; j < layers; ++j) {
    resnets->push_back(make_resnet(c, j == 0 ? in : out, out, temb));
    if (has_attention)
      attentions->push_back(make_transformer(c, level, out, per_level(c.transformer_layers_per_block, level),
                                             per_level(c.cross_attention_dim, level), c.heads(level)));
  }
  if (add_downsample) {
    downsamplers = register_module("downsamplers", torch::nn::ModuleList());
    downsamplers->push_back(Downsample2D(out, out, c.downsample_padding));
  }
}

std::pair<torch::Tensor, std::vector<torch::Tensor>> DownBlockImpl::forward(torch::Tensor h, const torch::Tensor& temb,
                                                                            const torch::Tensor& context) {
  std::vector<torch::Tensor> states;
  for (size_t j = 0; j < resnets->size(); ++j) {
    h = resnets[j]->as<ResnetBlock2D>()->forward(h, temb);
    if (has_attention) h = attentions[j]->as<Transformer2DModel>()->forward(h, context);
    states.push_back(h);
  }
  if (downsamplers) {
    h = downsamplers[0]->as<Downsample2D>()->forward(h);
    states.push_back(h);
  }
  return {h, states};
}

MidBlockImpl::MidBlockImpl(const UNet2DConditionConfig& c, int64_t channels, int64_t temb) {
  const size_t last = c.levels() - 1;
  resnets = register_module("resnets", torch::nn::ModuleList());
  attentions = register_module("attentions", torch::nn::ModuleList());
  resnets->push_back(make_resnet(c, channels, channels, temb, c.mid_block_scale_factor));
  attentions->push_back(make_transformer(c, last, channels, per_level(c.transformer_layers_per_block, last),
                                         per_level(c.cross_attention_dim, last), c.heads(last)));
  resnets->push_back(make_resnet(c, channels, channels, temb, c.mid_block_scale_factor));
}

torch::Tensor MidBlockImpl::forward(torch::Tensor h, const torch::Tensor& temb, const torch::Tensor& context) {
  h = resnets[0]->as<ResnetBlock2D>()->forward(h, temb);
  for (size_t j = 0; j < attentions->size(); ++j) {
    h = attentions[j]->as<Transformer2DModel>()->forward(h, context);
    h = resnets[j + 1]->as<ResnetBlock2D>()->forward(h, temb);
  }
  return h;
}

UpBlockImpl::UpBlockImpl(const UNet2DConditionConfig& c, size_t up_index, int64_t in, int64_t prev_out, int64_t out,
                         int64_t temb, bool add_upsample)
    : has_attention(c.up_block_types[up_index] == "CrossAttnUpBlock2D") {
  // Per-block values are taken in reverse (the up path mirrors the down path).
  const size_t level = c.levels() - 1 - up_index;
  num_layers = per_level(c.layers_per_block, level) + 1;
  resnets = register_module("resnets", torch::nn::ModuleList());
  if (has_attention) attentions = register_module("attentions", torch::nn::ModuleList());
  for (int64_t j = 0; j < num_layers; ++j) {
    const int64_t skip = j == num_layers - 1 ? in : out;
    const int64_t res_in = j == 0 ? prev_out : out;
    resnets->push_back(make_resnet(c, res_in + skip, out, temb));
    if (has_attention)
      attentions->push_back(make_transformer(c, level, out, per_level(c.transformer_layers_per_block, level),
                                             per_level(c.cross_attention_dim, level), c.heads(level)));
  }
  if (add_upsample) {
    upsamplers = register_module("upsamplers", torch::nn::ModuleList());
    upsamplers->push_back(Upsample2D(out, out));
  }
}

torch::Tensor UpBlockImpl::forward(torch::Tensor h, std::vector<torch::Tensor> skips, const torch::Tensor& temb,
                                   const torch::Tensor& context, c10::optional<std::vector<int64_t>> upsample_size) {
  for (size_t j = 0; j < resnets->size(); ++j) {
    h = torch::cat({h, skips.back()}, 1);
    skips.pop_back();
    h = resnets[j]->as<ResnetBlock2D>()->forward(h, temb);
    if (has_attention) h = attentions[j]->as<Transformer2DModel>()->forward(h, context);
  }
  if (upsamplers) h = upsamplers[0]->as<Upsample2D>()->forward(h, upsample_size);
  return h;
}

UNet2DConditionModelImpl::UNet2DConditionModelImpl(const UNet2DConditionConfig& c) : config(c) {
  const auto& ch = c.block_out_channels;
  const size_t n = ch.size();
  const int64_t temb = ch[0] * 4;
  conv_in = register_module("conv_in", torch::nn::Conv2d(torch::nn::Conv2dOptions(c.in_channels, ch[0], c.conv_in_kernel)
                                                             .padding((c.conv_in_kernel - 1) / 2)));
  time_embedding = register_module("time_embedding", TimestepEmbedding(ch[0], temb));
  down_blocks = register_module("down_blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < n; ++i)
    down_blocks->push_back(DownBlock(c, i, i == 0 ? ch[0] : ch[i - 1], ch[i], temb, i + 1 < n));
  if (!c.mid_block_type.empty()) mid_block = register_module("mid_block", MidBlock(c, ch[n - 1], temb));
  up_blocks = register_module("up_blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < n; ++i) {
    const int64_t prev_out = ch[n - 1 - (i == 0 ? 0 : i - 1)];
    const int64_t out = ch[n - 1 - i];
    const int64_t in = ch[n - 1 - std::min(i + 1, n - 1)];
    up_blocks->push_back(UpBlock(c, i, in, prev_out, out, temb, i + 1 < n));
  }
  conv_norm_out = register_module(
      "conv_norm_out", torch::nn::GroupNorm(torch::nn::GroupNormOptions(c.norm_num_groups, ch[0]).eps(c.norm_eps)));
  conv_out = register_module("conv_out", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch[0], c.out_channels, c.conv_out_kernel)
                                                               .padding((c.conv_out_kernel - 1) / 2)));
}

torch::Tensor UNet2DConditionModelImpl::forward(const torch::Tensor& sample, const torch::Tensor& timestep,
                                                const torch::Tensor& context) {
  const int64_t b = sample.size(0);
  // Sizes not divisible by 2^(levels-1) need each upsampler to hit its skip connection's size.
  const int64_t factor = int64_t{1} << (config.levels() - 1);
  const bool forward_upsample_size = sample.size(2) % factor != 0 || sample.size(3) % factor != 0;

  auto t = timestep.dim() == 0 ? timestep.reshape({1}) : timestep;
  t = t.to(sample.device()).expand({b});
  auto t_emb = timestep_embedding(t, config.block_out_channels[0], config.flip_sin_to_cos, config.freq_shift);
  auto emb = time_embedding(t_emb.to(sample.scalar_type()));  // [B, 4·C0]

  auto h = config.center_input_sample ? 2 * sample - 1 : sample;
  h = conv_in(h);
  std::vector<torch::Tensor> skips{h};
  for (auto& m : *down_blocks) {
    auto [out, states] = m->as<DownBlock>()->forward(h, emb, context);
    h = out;
    skips.insert(skips.end(), states.begin(), states.end());
  }
  if (mid_block) h = mid_block->forward(h, emb, context);
  for (size_t i = 0; i < up_blocks->size(); ++i) {
    auto* block = up_blocks[i]->as<UpBlock>();
    std::vector<torch::Tensor> block_skips(skips.end() - block->num_layers, skips.end());
    skips.resize(skips.size() - block->num_layers);
    c10::optional<std::vector<int64_t>> upsample_size;
    if (i + 1 < up_blocks->size() && forward_upsample_size)
      upsample_size = std::vector<int64_t>{skips.back().size(2), skips.back().size(3)};
    h = block->forward(h, block_skips, emb, context, upsample_size);
  }
  return conv_out(torch::silu(conv_norm_out(h)));
}

UNet2DConditionModel load_unet(const fs::path& dir) {
  auto model = UNet2DConditionModel(UNet2DConditionConfig::from_file(dir / "config.json"));
  const auto weights = dir / "diffusion_pytorch_model.safetensors";
  SCULPT_CHECK(fs::exists(weights), "no diffusion_pytorch_model.safetensors in ", dir,
               " (sculpt reads safetensors only; .bin files are pickles)");
  load_state_dict(*model, read_safetensors(weights), weights.string());
  return model;
}

}  // namespace sculpt
