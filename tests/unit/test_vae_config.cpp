// AutoencoderKL config, module tree and shapes on a tiny random VAE, plus the shared layers
// (ResnetBlock2D, Attention, scaled_dot_product_attention) against closed forms written here with plain torch ops.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "core/check.h"
#include "models/layers.h"
#include "models/vae.h"
#include "support.h"

using namespace sculpt;
using json = nlohmann::json;

namespace {

AutoencoderKLConfig tiny_config() {  // 3 levels, 2 resnets per encoder block
  return AutoencoderKLConfig::from_json(json{{"block_out_channels", {8, 16, 24}},
                                             {"down_block_types", std::vector<std::string>(3, "DownEncoderBlock2D")},
                                             {"up_block_types", std::vector<std::string>(3, "UpDecoderBlock2D")},
                                             {"layers_per_block", 2},
                                             {"norm_num_groups", 4},
                                             {"latent_channels", 4}});
}

std::map<std::string, std::vector<int64_t>> parameter_shapes(const torch::nn::Module& m) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().sizes().vec();
  return out;
}

// GroupNorm by hand: normalise each group of channels over (channels in group, spatial), biased variance.
torch::Tensor group_norm_ref(const torch::Tensor& x, int64_t groups, const torch::Tensor& w, const torch::Tensor& b,
                             double eps) {
  auto g = x.reshape({x.size(0), groups, -1});
  auto mean = g.mean(-1, true);
  auto var = (g - mean).pow(2).mean(-1, true);
  auto n = ((g - mean) / torch::sqrt(var + eps)).reshape(x.sizes());
  std::vector<int64_t> shape(x.dim(), 1);
  shape[1] = x.size(1);
  return n * w.reshape(shape) + b.reshape(shape);
}

torch::Tensor silu_ref(const torch::Tensor& x) { return x * torch::sigmoid(x); }

void randomize(torch::nn::Module& m, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& p : m.parameters()) p.copy_(torch::randn(p.sizes(), gen, p.options()) * 0.3);
}

}  // namespace

TEST(VaeConfig, MissingKeysTakeDiffusersDefaults) {
  auto c = AutoencoderKLConfig::from_json(json::object());
  EXPECT_EQ(c.in_channels, 3);
  EXPECT_EQ(c.out_channels, 3);
  EXPECT_EQ(c.block_out_channels, std::vector<int64_t>{64});
  EXPECT_EQ(c.down_block_types, std::vector<std::string>{"DownEncoderBlock2D"});
  EXPECT_EQ(c.layers_per_block, 1);
  EXPECT_EQ(c.latent_channels, 4);
  EXPECT_EQ(c.norm_num_groups, 32);
  EXPECT_DOUBLE_EQ(c.scaling_factor, 0.18215);
  EXPECT_FALSE(c.shift_factor.has_value());
  EXPECT_FALSE(c.latents_mean.has_value());
  EXPECT_TRUE(c.force_upcast && c.use_quant_conv && c.use_post_quant_conv && c.mid_block_add_attention);
}

TEST(VaeConfig, ReadsEveryKeyAndNulls) {
  auto c = AutoencoderKLConfig::from_json(json{{"scaling_factor", 0.13025},
                                               {"shift_factor", 0.0609},
                                               {"latents_mean", {0.1, 0.2}},
                                               {"latents_std", nullptr},
                                               {"force_upcast", false},
                                               {"use_quant_conv", false},
                                               {"mid_block_add_attention", false},
                                               {"sample_size", 1024}});
  EXPECT_DOUBLE_EQ(c.scaling_factor, 0.13025);
  ASSERT_TRUE(c.shift_factor.has_value());
  EXPECT_DOUBLE_EQ(*c.shift_factor, 0.0609);
  ASSERT_TRUE(c.latents_mean.has_value());
  EXPECT_EQ(c.latents_mean->size(), 2u);
  EXPECT_FALSE(c.latents_std.has_value());
  EXPECT_FALSE(c.force_upcast || c.use_quant_conv || c.mid_block_add_attention);
  EXPECT_EQ(c.sample_size, 1024);
}

TEST(VaeConfig, BadValuesNameTheSourceAndKey) {
  try {
    AutoencoderKLConfig::from_json(json{{"layers_per_block", "two"}}, "my/vae/config.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("my/vae/config.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("layers_per_block"), std::string::npos) << e.what();
  }
  EXPECT_THROW(AutoencoderKLConfig::from_json(json{{"down_block_types", {"AttnDownEncoderBlock2D"}}}), Error);
  EXPECT_THROW(AutoencoderKLConfig::from_json(json{{"block_out_channels", {64, 128}}}), Error);  // 1 block type
  EXPECT_THROW(AutoencoderKLConfig::from_json(json{{"act_fn", "gelu"}}), Error);
}

TEST(VaeConfig, MissingConfigFileNamesThePath) {
  const auto dir = test::temp_dir("vae_missing_config") / "vae";
  std::filesystem::create_directories(dir);
  try {
    load_vae(dir);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find((dir / "config.json").string()), std::string::npos) << msg;
  }
  std::ofstream(dir / "config.json") << "{\"block_out_channels\": [32]}";
  try {
    load_vae(dir);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("diffusion_pytorch_model.safetensors"), std::string::npos) << e.what();
  }
}

TEST(VaeModel, KeysFollowDiffusers) {
  AutoencoderKL vae(tiny_config());
  const auto shapes = parameter_shapes(*vae);
  const std::map<std::string, std::vector<int64_t>> expected{
      {"encoder.conv_in.weight", {8, 3, 3, 3}},
      {"encoder.down_blocks.0.resnets.0.norm1.weight", {8}},
      {"encoder.down_blocks.0.resnets.1.conv2.bias", {8}},
      {"encoder.down_blocks.0.downsamplers.0.conv.weight", {8, 8, 3, 3}},
      {"encoder.down_blocks.1.resnets.0.conv_shortcut.weight", {16, 8, 1, 1}},
      {"encoder.down_blocks.1.resnets.0.conv1.weight", {16, 8, 3, 3}},
      {"encoder.down_blocks.2.resnets.1.conv1.weight", {24, 24, 3, 3}},
      {"encoder.mid_block.resnets.0.conv1.weight", {24, 24, 3, 3}},
      {"encoder.mid_block.attentions.0.group_norm.weight", {24}},
      {"encoder.mid_block.attentions.0.to_q.weight", {24, 24}},
      {"encoder.mid_block.attentions.0.to_q.bias", {24}},
      {"encoder.mid_block.attentions.0.to_k.bias", {24}},
      {"encoder.mid_block.attentions.0.to_v.bias", {24}},
      {"encoder.mid_block.attentions.0.to_out.0.weight", {24, 24}},
      {"encoder.mid_block.attentions.0.to_out.0.bias", {24}},
      {"encoder.mid_block.resnets.1.norm2.bias", {24}},
      {"encoder.conv_norm_out.weight", {24}},
      {"encoder.conv_out.weight", {8, 24, 3, 3}},
      {"quant_conv.weight", {8, 8, 1, 1}},
      {"post_quant_conv.weight", {4, 4, 1, 1}},
      {"decoder.conv_in.weight", {24, 4, 3, 3}},
      {"decoder.mid_block.attentions.0.to_v.weight", {24, 24}},
      {"decoder.up_blocks.0.resnets.2.conv2.weight", {24, 24, 3, 3}},
      {"decoder.up_blocks.0.upsamplers.0.conv.weight", {24, 24, 3, 3}},
      {"decoder.up_blocks.1.resnets.0.conv_shortcut.weight", {16, 24, 1, 1}},
      {"decoder.up_blocks.1.upsamplers.0.conv.bias", {16}},
      {"decoder.up_blocks.2.resnets.0.conv_shortcut.weight", {8, 16, 1, 1}},
      {"decoder.up_blocks.2.resnets.2.norm1.weight", {8}},
      {"decoder.conv_norm_out.bias", {8}},
      {"decoder.conv_out.weight", {3, 8, 3, 3}},
  };
  for (const auto& [key, shape] : expected) {
    auto it = shapes.find(key);
    ASSERT_NE(it, shapes.end()) << "missing key " << key;
    EXPECT_EQ(it->second, shape) << key;
  }
  for (const char* absent : {"encoder.down_blocks.2.downsamplers.0.conv.weight", "encoder.down_blocks.0.resnets.2.conv1.weight",
                             "decoder.up_blocks.0.resnets.3.conv1.weight", "decoder.up_blocks.2.upsamplers.0.conv.weight",
                             "encoder.down_blocks.0.resnets.0.conv_shortcut.weight",
                             "encoder.down_blocks.0.resnets.0.time_emb_proj.weight"})
    EXPECT_EQ(shapes.count(absent), 0u) << "unexpected key " << absent;
  for (const auto& [key, shape] : shapes) {
    EXPECT_EQ(key.find("to_out.1"), std::string::npos) << key;
    EXPECT_EQ(key.find("attentions.1"), std::string::npos) << key;
  }
  // Tensor count: a resnet has 8 (10 with conv_shortcut), a resampler 2, a mid attention 10.
  // encoder levels 2·8+2 | 10+8+2 | 10+8; decoder levels 3·8+2 | 10+2·8+2 | 10+2·8; mid blocks 2·(2·8+10);
  // conv_in, conv_norm_out, conv_out of both halves + quant_conv + post_quant_conv: 16.
  EXPECT_EQ(shapes.size(), 18u + 20 + 18 + 26 + 28 + 26 + 52 + 16);
}

TEST(VaeModel, NoQuantConvsNoMidAttention) {
  auto c = tiny_config();
  c.use_quant_conv = false;
  c.use_post_quant_conv = false;
  c.mid_block_add_attention = false;
  AutoencoderKL vae(c);
  for (const auto& [key, shape] : parameter_shapes(*vae)) {
    EXPECT_EQ(key.find("quant_conv"), std::string::npos) << key;
    EXPECT_EQ(key.find("attentions"), std::string::npos) << key;
  }
  torch::NoGradGuard no_grad;
  EXPECT_EQ(vae->decode(torch::randn({1, 4, 3, 5})).sizes(), (std::vector<int64_t>{1, 3, 12, 20}));
}

TEST(VaeModel, OddAndNonSquareSizes) {
  AutoencoderKL vae(tiny_config());
  torch::NoGradGuard no_grad;
  // Downsample2D pads right/bottom by one then convolves 3×3 stride 2: ⌊H/2⌋ per level. 33 → 16 → 8, 27 → 13 → 6.
  auto x = torch::rand({2, 3, 33, 27}) * 2 - 1;
  auto dist = vae->encode(x);
  EXPECT_EQ(dist.mean.sizes(), (std::vector<int64_t>{2, 4, 8, 6}));
  EXPECT_EQ(dist.logvar.sizes(), (std::vector<int64_t>{2, 4, 8, 6}));
  EXPECT_EQ(vae->decode(dist.mode()).sizes(), (std::vector<int64_t>{2, 3, 32, 24}));
  EXPECT_EQ(vae->forward(x).sizes(), (std::vector<int64_t>{2, 3, 32, 24}));
  EXPECT_EQ(vae->encode(torch::rand({1, 3, 16, 40})).mean.sizes(), (std::vector<int64_t>{1, 4, 4, 10}));
}

TEST(VaeModel, PosteriorClampsAndSamples) {
  auto mean = torch::randn({1, 2, 3, 4});
  auto logvar = torch::randn({1, 2, 3, 4}) * 30;  // many entries outside [-30, 20]
  DiagonalGaussianDistribution dist(torch::cat({mean, logvar}, 1));
  auto clamped = logvar.clamp(-30, 20);
  EXPECT_TRUE(torch::equal(dist.mean, mean));
  EXPECT_TRUE(torch::equal(dist.logvar, clamped));
  EXPECT_CLOSE(dist.std, torch::exp(clamped / 2), 0, 1e-6, "posterior std");
  EXPECT_CLOSE(dist.var, torch::exp(clamped), 0, 1e-6, "posterior var");
  auto gen = at::detail::createCPUGenerator(7);
  auto sample = dist.sample(gen);
  auto gen2 = at::detail::createCPUGenerator(7);
  auto eps = torch::randn({1, 2, 3, 4}, gen2);
  EXPECT_CLOSE(sample, mean + torch::exp(clamped / 2) * eps, 0, 1e-6, "posterior sample");
  EXPECT_TRUE(torch::equal(dist.mode(), mean));
}

TEST(Layers, ResnetBlock2DMatchesClosedForm) {
  ResnetBlock2DOptions o;
  o.in_channels = 4;
  o.out_channels = 6;
  o.temb_channels = 5;
  o.groups = 2;
  o.eps = 1e-6;
  o.output_scale_factor = 2.0;
  ResnetBlock2D block(o);
  randomize(*block, 1);
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 4, 5, 3}, torch::kFloat64);
  auto temb = torch::randn({2, 5}, torch::kFloat64);
  block->to(torch::kFloat64);
  auto out = block->forward(x, temb);

  auto h = silu_ref(group_norm_ref(x, 2, block->norm1->weight, block->norm1->bias, 1e-6));
  h = torch::conv2d(h, block->conv1->weight, block->conv1->bias, 1, 1);
  auto t = torch::matmul(silu_ref(temb), block->time_emb_proj->weight.t()) + block->time_emb_proj->bias;  // [B, 6]
  h = h + t.reshape({2, 6, 1, 1});
  h = silu_ref(group_norm_ref(h, 2, block->norm2->weight, block->norm2->bias, 1e-6));
  h = torch::conv2d(h, block->conv2->weight, block->conv2->bias, 1, 1);
  auto skip = torch::einsum("oi,bihw->bohw", {block->conv_shortcut->weight.squeeze(-1).squeeze(-1), x}) +
              block->conv_shortcut->bias.reshape({1, 6, 1, 1});
  EXPECT_CLOSE(out, (skip + h) / 2.0, 1e-12, 0, "ResnetBlock2D vs closed form");
}

TEST(Layers, OneHeadSpatialAttentionMatchesClosedForm) {  // the VAE mid-block attention
  AttentionOptions a;
  a.query_dim = 8;
  a.heads = 1;
  a.dim_head = 8;
  a.bias = true;
  a.upcast_softmax = true;
  a.norm_num_groups = 2;
  a.eps = 1e-6;
  a.residual_connection = true;
  Attention attn(a);
  randomize(*attn, 2);
  attn->to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 8, 3, 5}, torch::kFloat64);  // non-square
  auto out = attn->forward(x);

  auto hs = group_norm_ref(x, 2, attn->group_norm->weight, attn->group_norm->bias, 1e-6).reshape({2, 8, 15}).transpose(1, 2);
  auto lin = [](const torch::Tensor& t, const torch::nn::Linear& l) { return torch::matmul(t, l->weight.t()) + l->bias; };
  auto q = lin(hs, attn->to_q), k = lin(hs, attn->to_k), v = lin(hs, attn->to_v);  // [2, 15, 8]
  auto p = torch::softmax(torch::matmul(q, k.transpose(1, 2)) / std::sqrt(8.0), -1);
  auto wo = attn->to_out[0]->as<torch::nn::Linear>()->weight, bo = attn->to_out[0]->as<torch::nn::Linear>()->bias;
  auto y = torch::matmul(torch::matmul(p, v), wo.t()) + bo;  // [2, 15, 8]
  auto expected = y.transpose(1, 2).reshape({2, 8, 3, 5}) + x;
  // upcast_softmax computes scores and softmax in float32 even for a float64 module, as diffusers' .float() does.
  EXPECT_CLOSE(out, expected, 1e-6, 0, "one-head spatial Attention vs closed form");
}

TEST(Layers, MultiHeadCrossAttentionMatchesClosedForm) {  // the UNet's attn2 shape of use
  AttentionOptions a;
  a.query_dim = 8;
  a.cross_attention_dim = 6;
  a.heads = 2;
  a.dim_head = 4;
  Attention attn(a);
  randomize(*attn, 3);
  attn->to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 7, 8}, torch::kFloat64);
  auto ctx = torch::randn({2, 5, 6}, torch::kFloat64);
  auto out = attn->forward(x, ctx);
  EXPECT_FALSE(attn->to_q->bias.defined());

  auto q = torch::matmul(x, attn->to_q->weight.t()), k = torch::matmul(ctx, attn->to_k->weight.t()),
       v = torch::matmul(ctx, attn->to_v->weight.t());
  std::vector<torch::Tensor> heads;
  for (int64_t h = 0; h < 2; ++h) {
    auto sl = [&](const torch::Tensor& t) { return t.narrow(-1, h * 4, 4); };
    auto p = torch::softmax(torch::matmul(sl(q), sl(k).transpose(1, 2)) / 2.0, -1);  // √4 = 2
    heads.push_back(torch::matmul(p, sl(v)));
  }
  auto wo = attn->to_out[0]->as<torch::nn::Linear>()->weight, bo = attn->to_out[0]->as<torch::nn::Linear>()->bias;
  EXPECT_CLOSE(out, torch::matmul(torch::cat(heads, -1), wo.t()) + bo, 1e-12, 0, "2-head cross Attention vs closed form");
}

TEST(Layers, ScaledDotProductAttentionMatchesClosedForm) {
  auto q = torch::randn({3, 2, 6, 4}), k = torch::randn({3, 2, 5, 4}), v = torch::randn({3, 2, 5, 7});
  auto expected = torch::matmul(torch::softmax(torch::matmul(q, k.transpose(-1, -2)) * 0.3, -1), v);
  EXPECT_CLOSE(scaled_dot_product_attention(q, k, v, 0.3, false), expected, 1e-6, 0, "sdpa 4-D");
  EXPECT_CLOSE(scaled_dot_product_attention(q, k, v, 0.3, true), expected, 1e-6, 0, "sdpa 4-D upcast");
  auto out3 = scaled_dot_product_attention(q.reshape({6, 6, 4}), k.reshape({6, 5, 4}), v.reshape({6, 5, 7}), 0.3, false);
  EXPECT_CLOSE(out3, expected.reshape({6, 6, 7}), 1e-6, 0, "sdpa 3-D");
}
