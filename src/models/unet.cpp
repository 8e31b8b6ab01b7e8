// Source: diffusers 0.29.2 src/diffusers/models/unets/unet_2d_condition.py (UNet2DConditionModel.__init__,
// _check_config, forward), models/embeddings.py (get_timestep_embedding, Timesteps, TimestepEmbedding).
#include "models/unet.h"

#include <cmath>
#include <fstream>
#include <type_traits>
#include <utility>

#include "core/check.h"
#include "models/checkpoint.h"
#include "io/safetensors.h"
#include "io/state_dict.h"

namespace sculpt {
namespace fs = std::filesystem;
namespace nn = torch::nn;
using json = nlohmann::json;

namespace {

// Reads typed keys of one config object; every error names the source and the key.
class ConfigReader {
 public:
  ConfigReader(const json& j, const std::string& source) : j_(j), source_(source) {}

  // Present and not null.
  const json* find(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  bool is_null(const char* key) const { return j_.contains(key) && j_.at(key).is_null(); }

  [[noreturn]] void fail(const char* key, const std::string& expected) const {
    throw Error(detail::str_cat(source_, ": '", key, "' must be ", expected, ", got ", j_.at(key).dump()));
  }

  // A key whose diffusers type is not Optional: null is an error, absence keeps the default.
  const json* required_type(const char* key, const std::string& expected) const {
    if (is_null(key)) fail(key, expected);
    return find(key);
  }

  void integer(const char* key, int64_t& field) const {
    if (const json* v = required_type(key, "an integer")) {
      if (!v->is_number_integer()) fail(key, "an integer");
      field = v->get<int64_t>();
    }
  }
  void number(const char* key, double& field) const {
    if (const json* v = required_type(key, "a number")) {
      if (!v->is_number()) fail(key, "a number");
      field = v->get<double>();
    }
  }
  void boolean(const char* key, bool& field) const {
    if (const json* v = required_type(key, "true or false")) {
      if (!v->is_boolean()) fail(key, "true or false");
      field = v->get<bool>();
    }
  }
  void string(const char* key, std::string& field) const {
    if (const json* v = required_type(key, "a string")) {
      if (!v->is_string()) fail(key, "a string");
      field = v->get<std::string>();
    }
  }
  void nullable_string(const char* key, std::string& field) const {  // null → ""
    if (is_null(key)) field.clear();
    if (const json* v = find(key)) {
      if (!v->is_string()) fail(key, "a string or null");
      field = v->get<std::string>();
    }
  }
  void nullable_integer(const char* key, std::optional<int64_t>& field) const {
    if (is_null(key)) field.reset();
    if (const json* v = find(key)) {
      if (!v->is_number_integer()) fail(key, "an integer or null");
      field = v->get<int64_t>();
    }
  }
  void string_list(const char* key, std::vector<std::string>& field) const {
    if (const json* v = required_type(key, "a list of strings")) {
      if (!v->is_array()) fail(key, "a list of strings");
      std::vector<std::string> out;
      for (const auto& e : *v) {
        if (!e.is_string()) fail(key, "a list of strings");
        out.push_back(e.get<std::string>());
      }
      field = out;
    }
  }
  void integer_list(const char* key, std::vector<int64_t>& field) const {
    if (const json* v = required_type(key, "a list of integers")) {
      if (!v->is_array()) fail(key, "a list of integers");
      std::vector<int64_t> out;
      for (const auto& e : *v) {
        if (!e.is_number_integer()) fail(key, "a list of integers");
        out.push_back(e.get<int64_t>());
      }
      field = out;
    }
  }
  // diffusers "int or tuple": an int (stored as one value) or a list with one entry per down block.
  template <typename T>
  void scalar_or_list(const char* key, std::vector<T>& field, size_t blocks, bool nullable = false) const {
    const std::string what = std::is_same<T, bool>::value ? "true, false or a list of booleans"
                                                          : "an integer or a list of integers";
    if (is_null(key)) {
      if (!nullable) fail(key, what);
      field.clear();
    }
    const json* v = find(key);
    if (!v) return;
    auto ok = [](const json& e) { return std::is_same<T, bool>::value ? e.is_boolean() : e.is_number_integer(); };
    if (!v->is_array()) {
      if (!ok(*v)) fail(key, what);
      field = {v->get<T>()};
      return;
    }
    for (const auto& e : *v)
      if (!ok(e)) fail(key, what + " (nested lists, e.g. per-layer values, are not supported)");
    SCULPT_CHECK(v->size() == blocks, source_, ": '", key, "' has ", v->size(), " entries but down_block_types has ",
                 blocks, " (diffusers requires one per down block)");
    field.clear();
    for (const auto& e : *v) field.push_back(e.get<T>());
  }
  // Keys without a field: anything but `allowed` (or null) asks for a feature sculpt does not implement.
  void only(const char* key, const json& allowed) const {
    const json* v = find(key);
    SCULPT_CHECK(!v || *v == allowed, source_, ": '", key, "' = ", v ? v->dump() : "", " is not supported by sculpt's ",
                 "UNet2DConditionModel (supported: ", allowed.is_null() ? "null" : allowed.dump(), ")");
  }

 private:
  const json& j_;
  const std::string& source_;
};

template <typename T>
T per_level(const std::vector<T>& v, size_t level) {
  return v.size() == 1 ? v[0] : v.at(level);
}

template <typename T>
void check_value(const std::string& source, const char* key, const T& value, const T& supported) {
  SCULPT_CHECK(value == supported, source, ": '", key, "' = ", json(value).dump(), " is not supported by sculpt's ",
               "UNet2DConditionModel (supported: ", json(supported).dump(), ")");
}

}  // namespace

UNet2DConditionConfig UNet2DConditionConfig::from_json(const json& j, const std::string& source) {
  SCULPT_CHECK(j.is_object(), source, " is not a JSON object");
  const ConfigReader r(j, source);
  UNet2DConditionConfig c;
  if (!r.is_null("sample_size")) r.integer("sample_size", c.sample_size);  // null (diffusers' default): keep 64
  r.integer("in_channels", c.in_channels);
  r.integer("out_channels", c.out_channels);
  r.boolean("center_input_sample", c.center_input_sample);
  r.boolean("flip_sin_to_cos", c.flip_sin_to_cos);
  r.number("freq_shift", c.freq_shift);
  r.string_list("down_block_types", c.down_block_types);
  r.nullable_string("mid_block_type", c.mid_block_type);
  r.string_list("up_block_types", c.up_block_types);
  const size_t blocks = c.down_block_types.size();
  r.scalar_or_list("only_cross_attention", c.only_cross_attention, blocks);
  r.integer_list("block_out_channels", c.block_out_channels);
  r.scalar_or_list("layers_per_block", c.layers_per_block, blocks);
  r.integer("downsample_padding", c.downsample_padding);
  r.number("mid_block_scale_factor", c.mid_block_scale_factor);
  r.number("dropout", c.dropout);
  r.string("act_fn", c.act_fn);
  r.integer("norm_num_groups", c.norm_num_groups);
  r.number("norm_eps", c.norm_eps);
  r.scalar_or_list("cross_attention_dim", c.cross_attention_dim, blocks);
  r.scalar_or_list("transformer_layers_per_block", c.transformer_layers_per_block, blocks);
  r.scalar_or_list("attention_head_dim", c.attention_head_dim, blocks);
  r.scalar_or_list("num_attention_heads", c.num_attention_heads, blocks, /*nullable=*/true);
  r.boolean("dual_cross_attention", c.dual_cross_attention);
  r.boolean("use_linear_projection", c.use_linear_projection);
  r.boolean("upcast_attention", c.upcast_attention);
  r.nullable_string("class_embed_type", c.class_embed_type);
  r.nullable_string("addition_embed_type", c.addition_embed_type);
  r.string("resnet_time_scale_shift", c.resnet_time_scale_shift);
  r.string("time_embedding_type", c.time_embedding_type);
  r.nullable_integer("time_embedding_dim", c.time_embedding_dim);
  r.string("attention_type", c.attention_type);
  r.integer("conv_in_kernel", c.conv_in_kernel);
  r.integer("conv_out_kernel", c.conv_out_kernel);

  // Keys sculpt keeps no field for: their non-default values add modules or inputs it does not implement.
  r.only("num_class_embeds", nullptr);
  r.only("encoder_hid_dim", nullptr);
  r.only("encoder_hid_dim_type", nullptr);
  r.only("time_cond_proj_dim", nullptr);
  r.only("timestep_post_act", nullptr);
  r.only("time_embedding_act_fn", nullptr);
  r.only("class_embeddings_concat", false);
  r.only("reverse_transformer_layers_per_block", nullptr);
  // Read by diffusers only for block types or embeddings rejected above, so ignored here:
  // addition_embed_type_num_heads, addition_time_embed_dim, projection_class_embeddings_input_dim,
  // resnet_skip_time_act, resnet_out_scale_factor, cross_attention_norm, mid_block_only_cross_attention.
  c.validate(source);
  return c;
}

UNet2DConditionConfig UNet2DConditionConfig::from_file(const fs::path& path) {
  std::ifstream in(path);
  SCULPT_CHECK(in.good(), "cannot read UNet config ", path, fs::exists(path) ? "" : ": no such file");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(detail::str_cat(path, " is not valid JSON (", e.what(), ")"));
  }
  return from_json(j, path.string());
}

void UNet2DConditionConfig::validate(const std::string& source) const {
  const size_t n = block_out_channels.size();
  SCULPT_CHECK(n > 0, source, ": 'block_out_channels' is empty");
  SCULPT_CHECK(down_block_types.size() == n && up_block_types.size() == n, source, ": 'down_block_types' (",
               down_block_types.size(), " entries) and 'up_block_types' (", up_block_types.size(),
               ") must have one entry per 'block_out_channels' entry (", n, ")");
  for (const auto& t : down_block_types) parse_down_block_type(t, source);
  for (const auto& t : up_block_types) parse_up_block_type(t, source);
  SCULPT_CHECK(mid_block_type.empty() || mid_block_type == "UNetMidBlock2DCrossAttn", source, ": 'mid_block_type' = \"",
               mid_block_type, "\" is not supported by sculpt's UNet2DConditionModel (supported: ",
               "\"UNetMidBlock2DCrossAttn\", null)");
  SCULPT_CHECK(num_attention_heads.empty(), source, ": 'num_attention_heads' = ", json(num_attention_heads).dump(),
               " is not supported: diffusers 0.29.2 refuses it too (issue #2011); the head count of SD configs is "
               "'attention_head_dim'");
  auto sized = [&](const char* key, size_t size) {
    SCULPT_CHECK(size == 1 || size == n, source, ": '", key, "' has ", size, " entries for ", n, " blocks");
  };
  sized("only_cross_attention", only_cross_attention.size());
  sized("layers_per_block", layers_per_block.size());
  sized("cross_attention_dim", cross_attention_dim.size());
  sized("transformer_layers_per_block", transformer_layers_per_block.size());
  sized("attention_head_dim", attention_head_dim.size());

  check_value<std::string>(source, "act_fn", act_fn == "swish" ? "silu" : act_fn, "silu");
  check_value<std::string>(source, "resnet_time_scale_shift", resnet_time_scale_shift, "default");
  check_value<std::string>(source, "time_embedding_type", time_embedding_type, "positional");
  check_value<std::string>(source, "attention_type", attention_type, "default");
  SCULPT_CHECK(class_embed_type.empty(), source, ": 'class_embed_type' = \"", class_embed_type,
               "\" is not supported by sculpt's UNet2DConditionModel (supported: null)");
  SCULPT_CHECK(addition_embed_type.empty(), source, ": 'addition_embed_type' = \"", addition_embed_type,
               "\" is not supported by sculpt's UNet2DConditionModel (supported: null)");
  check_value(source, "dual_cross_attention", dual_cross_attention, false);
  check_value(source, "dropout", dropout, 0.0);

  SCULPT_CHECK(in_channels > 0 && out_channels > 0, source, ": 'in_channels' (", in_channels, ") and 'out_channels' (",
               out_channels, ") must be positive");
  SCULPT_CHECK(norm_num_groups > 0, source, ": 'norm_num_groups' must be positive, got ", norm_num_groups);
  SCULPT_CHECK(!time_embedding_dim || *time_embedding_dim > 0, source, ": 'time_embedding_dim' must be positive");
  SCULPT_CHECK(downsample_padding >= 0, source, ": 'downsample_padding' must be >= 0, got ", downsample_padding);
  for (auto [key, k] : {std::pair{"conv_in_kernel", conv_in_kernel}, std::pair{"conv_out_kernel", conv_out_kernel}})
    SCULPT_CHECK(k > 0 && k % 2 == 1, source, ": '", key, "' must be a positive odd number, got ", k);
  for (size_t i = 0; i < n; ++i) {
    const int64_t ch = block_out_channels[i];
    SCULPT_CHECK(ch > 0 && ch % norm_num_groups == 0, source, ": block_out_channels[", i, "] = ", ch,
                 " is not a positive multiple of norm_num_groups (", norm_num_groups, ")");
    SCULPT_CHECK(layers(i) > 0, source, ": 'layers_per_block' for block ", i, " must be positive, got ", layers(i));
    SCULPT_CHECK(transformer_layers(i) > 0, source, ": 'transformer_layers_per_block' for block ", i,
                 " must be positive, got ", transformer_layers(i));
    SCULPT_CHECK(cross_dim(i) > 0, source, ": 'cross_attention_dim' for block ", i, " must be positive, got ",
                 cross_dim(i));
    SCULPT_CHECK(heads(i) > 0 && ch % heads(i) == 0, source, ": block ", i, " has ", ch,
                 " channels, not divisible by its 'attention_head_dim' = ", heads(i),
                 " (the number of attention heads in diffusers' naming)");
  }
}

int64_t UNet2DConditionConfig::layers(size_t level) const { return per_level(layers_per_block, level); }
int64_t UNet2DConditionConfig::transformer_layers(size_t level) const {
  return per_level(transformer_layers_per_block, level);
}
int64_t UNet2DConditionConfig::cross_dim(size_t level) const { return per_level(cross_attention_dim, level); }
// diffusers: num_attention_heads = num_attention_heads or attention_head_dim (num_attention_heads is always None).
int64_t UNet2DConditionConfig::heads(size_t level) const { return per_level(attention_head_dim, level); }
bool UNet2DConditionConfig::only_cross(size_t level) const { return per_level(only_cross_attention, level); }
DownBlockType UNet2DConditionConfig::down_type(size_t level) const {
  return parse_down_block_type(down_block_types.at(level), "unet config");
}
UpBlockType UNet2DConditionConfig::up_type(size_t up_index) const {
  return parse_up_block_type(up_block_types.at(up_index), "unet config");
}

torch::Tensor get_timestep_embedding(const torch::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos,
                                     double downscale_freq_shift, double scale, double max_period) {
  SCULPT_CHECK(timesteps.dim() == 1, "get_timestep_embedding: timesteps must be 1-D [B], got ", timesteps.sizes());
  const int64_t half = dim / 2;
  auto exponent = -std::log(max_period) *
                  torch::arange(0, half, torch::TensorOptions().dtype(torch::kFloat32).device(timesteps.device()));
  exponent = exponent / (static_cast<double>(half) - downscale_freq_shift);
  auto emb = timesteps.unsqueeze(1).to(torch::kFloat32) * exponent.exp().unsqueeze(0);  // [B, half]
  if (scale != 1.0) emb = scale * emb;
  emb = torch::cat({emb.sin(), emb.cos()}, -1);  // [B, 2·half]
  if (flip_sin_to_cos) emb = torch::cat({emb.narrow(1, half, half), emb.narrow(1, 0, half)}, -1);
  if (dim % 2 == 1) emb = torch::constant_pad_nd(emb, {0, 1, 0, 0}, 0);
  return emb;
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int64_t in_channels, int64_t time_embed_dim) {
  linear_1 = register_module("linear_1", nn::Linear(in_channels, time_embed_dim));
  linear_2 = register_module("linear_2", nn::Linear(time_embed_dim, time_embed_dim));
}

UNet2DConditionModelImpl::UNet2DConditionModelImpl(const UNet2DConditionConfig& c) : config(c) {
  c.validate("UNet2DConditionConfig");
  const auto& ch = c.block_out_channels;
  const size_t n = ch.size();
  const int64_t temb = c.time_embed_dim();
  conv_in = register_module(
      "conv_in", nn::Conv2d(nn::Conv2dOptions(c.in_channels, ch[0], c.conv_in_kernel).padding((c.conv_in_kernel - 1) / 2)));
  time_proj = register_module("time_proj", Timesteps(ch[0], c.flip_sin_to_cos, c.freq_shift));
  time_embedding = register_module("time_embedding", TimestepEmbedding(ch[0], temb));

  auto block = [&](size_t level) {  // values shared by the blocks of one resolution level
    UNetBlockOptions o;
    o.temb_channels = temb;
    o.groups = c.norm_num_groups;
    o.eps = c.norm_eps;
    o.downsample_padding = c.downsample_padding;
    o.transformer_layers = c.transformer_layers(level);
    o.heads = c.heads(level);
    o.cross_attention_dim = c.cross_dim(level);
    o.only_cross_attention = c.only_cross(level);
    o.use_linear_projection = c.use_linear_projection;
    o.upcast_attention = c.upcast_attention;
    return o;
  };

  down_blocks = register_module("down_blocks", nn::ModuleList());
  for (size_t i = 0; i < n; ++i) {
    auto o = block(i);
    o.in_channels = ch[i == 0 ? 0 : i - 1];
    o.out_channels = ch[i];
    o.num_layers = c.layers(i);
    o.add_sample = i + 1 < n;
    down_blocks->push_back(UNetDownBlock(c.down_type(i), o));
  }
  if (c.has_mid_block()) {
    auto o = block(n - 1);
    o.in_channels = o.out_channels = ch[n - 1];
    o.num_layers = 1;
    o.output_scale_factor = c.mid_block_scale_factor;
    o.only_cross_attention = false;  // UNetMidBlock2DCrossAttn takes no only_cross_attention
    mid_block = register_module("mid_block", UNetMidBlock2DCrossAttn(o));
  }
  // Up block i mirrors down level n-1-i: per-block values reversed, as diffusers' reversed_* lists.
  up_blocks = register_module("up_blocks", nn::ModuleList());
  for (size_t i = 0; i < n; ++i) {
    const size_t level = n - 1 - i;
    auto o = block(level);
    o.out_channels = ch[level];
    o.prev_output_channels = ch[i == 0 ? n - 1 : level + 1];
    o.in_channels = ch[level == 0 ? 0 : level - 1];
    o.num_layers = c.layers(level) + 1;
    o.add_sample = i + 1 < n;
    up_blocks->push_back(UNetUpBlock(c.up_type(i), o));
  }
  conv_norm_out = register_module(
      "conv_norm_out", nn::GroupNorm(nn::GroupNormOptions(c.norm_num_groups, ch[0]).eps(c.norm_eps)));
  conv_out = register_module("conv_out", nn::Conv2d(nn::Conv2dOptions(ch[0], c.out_channels, c.conv_out_kernel)
                                                        .padding((c.conv_out_kernel - 1) / 2)));
}

torch::Tensor UNet2DConditionModelImpl::time_embed(const torch::Tensor& timestep, const torch::Tensor& sample) {
  const int64_t b = sample.size(0);
  SCULPT_CHECK(timestep.defined() && timestep.dim() <= 1 && (timestep.numel() == 1 || timestep.numel() == b),
               "UNet2DConditionModel: timestep must be 0-d, [1] or [", b, "] (one per sample), got ",
               timestep.defined() ? c10::str(timestep.sizes()) : std::string("nothing"));
  // diffusers: timesteps[None] for 0-d, then expand to the batch; sinusoids in float32, then sample's dtype.
  auto t = timestep.reshape({-1}).to(sample.device()).expand({b});
  return time_embedding(time_proj(t).to(sample.scalar_type()));  // [B, time_embed_dim]
}

torch::Tensor UNet2DConditionModelImpl::forward(const torch::Tensor& sample, const torch::Tensor& timestep,
                                                const torch::Tensor& encoder_hidden_states) {
  SCULPT_CHECK(sample.dim() == 4 && sample.size(1) == config.in_channels, "UNet2DConditionModel: sample must be [B, ",
               config.in_channels, ", H, W], got ", sample.sizes());
  const auto& context = encoder_hidden_states;  // [B, L, D]; each transformer checks D against its block
  const auto emb = time_embed(timestep, sample);

  // Sizes that are not multiples of 2^upsamplers: each upsampler must hit its skip states' size exactly.
  const int64_t factor = int64_t{1} << (up_blocks->size() - 1);
  const bool forward_upsample_size = sample.size(2) % factor != 0 || sample.size(3) % factor != 0;

  auto h = config.center_input_sample ? 2 * sample - 1.0 : sample;
  h = conv_in(h);  // [B, C0, H, W]
  std::vector<torch::Tensor> skips{h};
  const bool ckpt = gradient_checkpointing && torch::GradMode::is_enabled();
  for (auto& m : *down_blocks) {
    auto* down = m->as<UNetDownBlock>();
    if (ckpt) {  // inputs {h, emb, context} → {h, states…}
      auto outs = checkpoint(
          [down](const std::vector<torch::Tensor>& in) {
            auto [out, states] = down->forward(in[0], in[1], in[2]);
            states.insert(states.begin(), out);
            return states;
          },
          {h, emb, context});
      h = outs[0];
      skips.insert(skips.end(), outs.begin() + 1, outs.end());
      continue;
    }
    auto [out, states] = down->forward(h, emb, context);
    h = out;
    skips.insert(skips.end(), states.begin(), states.end());
  }
  if (mid_block) {
    auto* mid = mid_block.get();
    h = ckpt ? checkpoint([mid](const std::vector<torch::Tensor>& in)
                              -> std::vector<torch::Tensor> { return {mid->forward(in[0], in[1], in[2])}; },
                          {h, emb, context})[0]
             : mid->forward(h, emb, context);
  }
  for (size_t i = 0; i < up_blocks->size(); ++i) {
    auto* up = up_blocks[i]->as<UNetUpBlock>();
    const auto count = static_cast<std::ptrdiff_t>(up->resnets->size());
    std::vector<torch::Tensor> block_skips(skips.end() - count, skips.end());
    skips.erase(skips.end() - count, skips.end());
    c10::optional<std::vector<int64_t>> upsample_size;
    if (i + 1 < up_blocks->size() && forward_upsample_size)
      upsample_size = std::vector<int64_t>{skips.back().size(2), skips.back().size(3)};
    if (!ckpt) {
      h = up->forward(h, block_skips, emb, context, upsample_size);
      continue;
    }
    std::vector<torch::Tensor> in{h, emb, context};  // + the block's skip states
    in.insert(in.end(), block_skips.begin(), block_skips.end());
    h = checkpoint(
        [up, upsample_size](const std::vector<torch::Tensor>& in) -> std::vector<torch::Tensor> {
          std::vector<torch::Tensor> skips(in.begin() + 3, in.end());
          return {up->forward(in[0], skips, in[1], in[2], upsample_size)};
        },
        in)[0];
  }
  return conv_out(torch::silu(conv_norm_out(h)));  // [B, out_channels, H, W]
}

UNet2DConditionModel load_unet(const fs::path& dir) {
  auto model = UNet2DConditionModel(UNet2DConditionConfig::from_file(dir / "config.json"));
  const auto weights = dir / "diffusion_pytorch_model.safetensors";
  SCULPT_CHECK(fs::exists(weights), "no diffusion_pytorch_model.safetensors in ", dir,
               " (sculpt reads safetensors only; .bin files are pickles)");
  load_state_dict(*model, read_safetensors(weights), weights.string());
  return model;
}

nlohmann::json UNet2DConditionConfig::to_json() const {
  auto null_or = [](const std::string& s) { return s.empty() ? nlohmann::json() : nlohmann::json(s); };
  nlohmann::json j = {{"_class_name", "UNet2DConditionModel"},
                      {"_diffusers_version", "0.29.2"},
                      {"sample_size", sample_size},
                      {"in_channels", in_channels},
                      {"out_channels", out_channels},
                      {"center_input_sample", center_input_sample},
                      {"flip_sin_to_cos", flip_sin_to_cos},
                      {"freq_shift", freq_shift},
                      {"down_block_types", down_block_types},
                      {"mid_block_type", null_or(mid_block_type)},
                      {"up_block_types", up_block_types},
                      {"block_out_channels", block_out_channels},
                      {"downsample_padding", downsample_padding},
                      {"mid_block_scale_factor", mid_block_scale_factor},
                      {"dropout", dropout},
                      {"act_fn", act_fn},
                      {"norm_num_groups", norm_num_groups},
                      {"norm_eps", norm_eps},
                      {"dual_cross_attention", dual_cross_attention},
                      {"use_linear_projection", use_linear_projection},
                      {"upcast_attention", upcast_attention},
                      {"class_embed_type", null_or(class_embed_type)},
                      {"addition_embed_type", null_or(addition_embed_type)},
                      {"resnet_time_scale_shift", resnet_time_scale_shift},
                      {"time_embedding_type", time_embedding_type},
                      {"attention_type", attention_type},
                      {"conv_in_kernel", conv_in_kernel},
                      {"conv_out_kernel", conv_out_kernel},
                      {"num_attention_heads", nullptr}};
  // One value stands for every block, as diffusers writes an int.
  auto int_or_list = [](const std::vector<int64_t>& v) { return v.size() == 1 ? nlohmann::json(v[0]) : nlohmann::json(v); };
  j["layers_per_block"] = int_or_list(layers_per_block);
  j["cross_attention_dim"] = int_or_list(cross_attention_dim);
  j["transformer_layers_per_block"] = int_or_list(transformer_layers_per_block);
  j["attention_head_dim"] = int_or_list(attention_head_dim);
  j["only_cross_attention"] = only_cross_attention.size() == 1 ? nlohmann::json(bool(only_cross_attention[0]))
                                                               : nlohmann::json(only_cross_attention);
  j["time_embedding_dim"] = time_embedding_dim ? nlohmann::json(*time_embedding_dim) : nlohmann::json();
  return j;
}

}  // namespace sculpt
