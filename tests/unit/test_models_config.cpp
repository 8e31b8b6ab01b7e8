// UNet2DConditionModel: config parsing (diffusers defaults, int-or-list keys, rejected features), the module
// tree of tiny random UNets (exact checkpoint keys and shapes derived by hand from diffusers' rules), odd input
// sizes, timestep handling, and strict loading errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>

#include "core/check.h"
#include "io/safetensors.h"
#include "io/state_dict.h"
#include "models/unet.h"
#include "support.h"

using namespace sculpt;
using json = nlohmann::json;

namespace {

// 3 levels, linear projections (SD 2.x), upcast attention (SD 2.1), list attention_head_dim, one resnet per level.
json tiny_json() {
  return json{{"block_out_channels", {8, 16, 16}},
              {"down_block_types", {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"}},
              {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"}},
              {"layers_per_block", 1},
              {"attention_head_dim", {2, 4, 8}},
              {"cross_attention_dim", 16},
              {"norm_num_groups", 4},
              {"use_linear_projection", true},
              {"upcast_attention", true},
              {"sample_size", 8}};
}

// Uneven levels: layers_per_block and only_cross_attention as lists, 1×1-conv projections, cross dim 12.
json uneven_json() {
  auto j = tiny_json();
  j["layers_per_block"] = {2, 2, 1};
  j["only_cross_attention"] = {true, false, false};
  j["cross_attention_dim"] = 12;
  j["use_linear_projection"] = false;
  j["transformer_layers_per_block"] = {2, 1, 1};
  return j;
}

std::map<std::string, std::vector<int64_t>> parameter_shapes(const torch::nn::Module& m) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().sizes().vec();
  return out;
}

void randomize(torch::nn::Module& m, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& p : m.parameters()) p.copy_(torch::randn(p.sizes(), gen, p.options()) * 0.2);
}

// Runs f, expects sculpt::Error, and checks that the message names every one of `parts`.
template <typename F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one naming " << parts.front();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

void write_json(const std::filesystem::path& path, const json& j) {
  std::ofstream out(path);
  out << j.dump(2);
}

}  // namespace

TEST(UNetConfig, MissingKeysTakeDiffusersDefaults) {
  const auto c = UNet2DConditionConfig::from_json(json::object());
  EXPECT_EQ(c.in_channels, 4);
  EXPECT_EQ(c.out_channels, 4);
  EXPECT_TRUE(c.flip_sin_to_cos);
  EXPECT_EQ(c.freq_shift, 0);
  EXPECT_EQ(c.block_out_channels, (std::vector<int64_t>{320, 640, 1280, 1280}));
  EXPECT_EQ(c.down_block_types.size(), 4u);
  EXPECT_EQ(c.up_block_types.front(), "UpBlock2D");
  EXPECT_EQ(c.mid_block_type, "UNetMidBlock2DCrossAttn");
  EXPECT_EQ(c.layers(3), 2);
  EXPECT_EQ(c.cross_dim(0), 1280);  // diffusers' signature default, not SD 1.x's 768
  EXPECT_EQ(c.heads(2), 8);
  EXPECT_EQ(c.transformer_layers(1), 1);
  EXPECT_FALSE(c.only_cross(0));
  EXPECT_EQ(c.norm_num_groups, 32);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_EQ(c.time_embed_dim(), 1280);
  EXPECT_FALSE(c.use_linear_projection || c.upcast_attention || c.center_input_sample);
}

TEST(UNetConfig, ReadsSd21StyleListsAndNulls) {
  const auto c = UNet2DConditionConfig::from_json(json{{"attention_head_dim", {5, 10, 20, 20}},
                                                       {"cross_attention_dim", 1024},
                                                       {"use_linear_projection", true},
                                                       {"upcast_attention", true},
                                                       {"num_attention_heads", nullptr},
                                                       {"class_embed_type", nullptr},
                                                       {"addition_embed_type", nullptr},
                                                       {"time_cond_proj_dim", nullptr},
                                                       {"mid_block_only_cross_attention", nullptr},
                                                       {"layers_per_block", {1, 2, 2, 3}},
                                                       {"sample_size", 96}});
  EXPECT_EQ(c.heads(0), 5);  // attention_head_dim is the head COUNT in diffusers' naming
  EXPECT_EQ(c.heads(3), 20);
  EXPECT_EQ(c.cross_dim(3), 1024);
  EXPECT_EQ(c.layers(0), 1);
  EXPECT_EQ(c.layers(3), 3);
  EXPECT_EQ(c.sample_size, 96);
  EXPECT_TRUE(c.use_linear_projection && c.upcast_attention);
  EXPECT_EQ(c.down_type(3), DownBlockType::DownBlock2D);
  EXPECT_EQ(c.up_type(1), UpBlockType::CrossAttnUpBlock2D);
  EXPECT_FALSE(UNet2DConditionConfig::from_json(json{{"mid_block_type", nullptr}}).has_mid_block());
  EXPECT_EQ(UNet2DConditionConfig::from_json(json{{"sample_size", nullptr}}).sample_size, 64);
  EXPECT_EQ(UNet2DConditionConfig::from_json(json{{"time_embedding_dim", 64}}).time_embed_dim(), 64);
}

TEST(UNetConfig, RejectsUnsupportedFeaturesNamingKeyAndValue) {
  const std::vector<std::pair<json, std::vector<std::string>>> cases{
      {{{"class_embed_type", "timestep"}}, {"class_embed_type", "timestep"}},
      {{{"addition_embed_type", "text_time"}}, {"addition_embed_type", "text_time"}},
      {{{"dual_cross_attention", true}}, {"dual_cross_attention", "true"}},
      {{{"resnet_time_scale_shift", "scale_shift"}}, {"resnet_time_scale_shift", "scale_shift"}},
      {{{"time_cond_proj_dim", 256}}, {"time_cond_proj_dim", "256"}},
      {{{"time_embedding_type", "fourier"}}, {"time_embedding_type", "fourier"}},
      {{{"num_class_embeds", 10}}, {"num_class_embeds", "10"}},
      {{{"encoder_hid_dim", 768}}, {"encoder_hid_dim", "768"}},
      {{{"class_embeddings_concat", true}}, {"class_embeddings_concat"}},
      {{{"num_attention_heads", 8}}, {"num_attention_heads", "8"}},
      {{{"act_fn", "gelu"}}, {"act_fn", "gelu"}},
      {{{"dropout", 0.1}}, {"dropout", "0.1"}},
      {{{"attention_type", "gated"}}, {"attention_type", "gated"}},
      {{{"mid_block_type", "UNetMidBlock2DSimpleCrossAttn"}}, {"mid_block_type", "UNetMidBlock2DSimpleCrossAttn"}},
      {{{"down_block_types", {"SimpleCrossAttnDownBlock2D", "DownBlock2D", "DownBlock2D", "DownBlock2D"}}},
       {"down_block_types", "SimpleCrossAttnDownBlock2D"}},
      {{{"transformer_layers_per_block", {{1, 2}, 1, 1, 1}}}, {"transformer_layers_per_block", "nested"}},
      {{{"attention_head_dim", {8}}}, {"attention_head_dim", "1 entries", "4"}},  // a list needs one per block
      {{{"layers_per_block", "2"}}, {"layers_per_block", "\"2\""}},
      {{{"norm_num_groups", nullptr}}, {"norm_num_groups", "null"}},
      {{{"block_out_channels", {320, 640}}}, {"block_out_channels", "down_block_types"}},
      {{{"attention_head_dim", 7}}, {"attention_head_dim", "7", "320"}},
  };
  for (const auto& [j, parts] : cases) {
    SCOPED_TRACE(j.dump());
    expect_error([&] { UNet2DConditionConfig::from_json(j, "my/unet/config.json"); }, parts);
    expect_error([&] { UNet2DConditionConfig::from_json(j, "my/unet/config.json"); }, {"my/unet/config.json"});
  }
  // Values that are accepted because they equal the default or only affect block types sculpt rejects anyway.
  EXPECT_NO_THROW(UNet2DConditionConfig::from_json(json{{"act_fn", "swish"},
                                                        {"resnet_skip_time_act", true},
                                                        {"cross_attention_norm", "group_norm"},
                                                        {"addition_embed_type_num_heads", 64},
                                                        {"class_embeddings_concat", false},
                                                        {"_class_name", "UNet2DConditionModel"}}));
}

TEST(UNetConfig, MissingConfigFileNamesThePath) {
  const auto dir = test::temp_dir("unet_missing_config") / "unet";
  expect_error([&] { load_unet(dir); }, {(dir / "config.json").string(), "no such file"});
  std::filesystem::create_directories(dir);
  write_json(dir / "config.json", tiny_json());
  expect_error([&] { load_unet(dir); }, {"diffusion_pytorch_model.safetensors", dir.string()});
  std::ofstream(dir / "config.json") << "{ not json";
  expect_error([&] { load_unet(dir); }, {(dir / "config.json").string(), "not valid JSON"});
}

// get_timestep_embedding against its closed form, evaluated here in double precision.
TEST(UNetTimesteps, SinusoidalEmbeddingMatchesClosedForm) {
  const std::vector<double> ts{0.0, 1.0, 981.0, 417.25};
  for (const bool flip : {true, false}) {
    for (const double shift : {0.0, 1.0}) {
      for (const int64_t dim : {8, 7}) {
        const int64_t half = dim / 2;
        auto expected = torch::zeros({4, dim}, torch::kFloat64);
        for (int64_t b = 0; b < 4; ++b) {
          for (int64_t i = 0; i < half; ++i) {
            const double arg = ts[b] * std::exp(-std::log(10000.0) * i / (half - shift));
            expected[b][flip ? half + i : i] = std::sin(arg);
            expected[b][flip ? i : half + i] = std::cos(arg);
          }
        }
        const auto label = "timestep embedding dim " + std::to_string(dim) + (flip ? " flip" : "") + " shift " +
                           std::to_string(shift);
        auto t = torch::tensor(ts, torch::kFloat32);
        // float32 arguments reach ~1000 rad: a float32 port is off by up to ~1e-4 there (same as diffusers).
        EXPECT_CLOSE(get_timestep_embedding(t, dim, flip, shift), expected.to(torch::kFloat32), 2e-4, 0, label);
        EXPECT_EQ(get_timestep_embedding(t, dim, flip, shift).scalar_type(), torch::kFloat32);
      }
    }
  }
  // Integer timesteps give the same embedding as the same float values.
  auto ints = torch::tensor(std::vector<int64_t>{0, 1, 981}, torch::kInt64);
  EXPECT_TRUE(torch::equal(get_timestep_embedding(ints, 8, true, 0),
                           get_timestep_embedding(ints.to(torch::kFloat32), 8, true, 0)));
}

TEST(UNetModel, TinyModelHasDiffusersKeysAndShapes) {
  UNet2DConditionModel unet(UNet2DConditionConfig::from_json(tiny_json()));
  const auto shapes = parameter_shapes(*unet);
  const std::map<std::string, std::vector<int64_t>> expected{
      {"conv_in.weight", {8, 4, 3, 3}},
      {"time_embedding.linear_1.weight", {32, 8}},
      {"time_embedding.linear_2.weight", {32, 32}},
      {"down_blocks.0.resnets.0.time_emb_proj.weight", {8, 32}},
      {"down_blocks.0.attentions.0.norm.weight", {8}},
      {"down_blocks.0.attentions.0.proj_in.weight", {8, 8}},  // Linear: 2-D
      {"down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k.weight", {8, 8}},
      {"down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight", {8, 16}},
      {"down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_out.0.bias", {8}},
      {"down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight", {64, 8}},
      {"down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2.weight", {8, 32}},
      {"down_blocks.0.attentions.0.transformer_blocks.0.norm3.weight", {8}},
      {"down_blocks.0.downsamplers.0.conv.weight", {8, 8, 3, 3}},
      {"down_blocks.1.resnets.0.conv_shortcut.weight", {16, 8, 1, 1}},
      {"down_blocks.2.resnets.0.conv1.weight", {16, 16, 3, 3}},
      {"mid_block.attentions.0.proj_in.weight", {16, 16}},
      {"mid_block.attentions.0.proj_out.weight", {16, 16}},
      {"mid_block.resnets.1.norm2.weight", {16}},
      {"up_blocks.0.resnets.0.conv_shortcut.weight", {16, 32, 1, 1}},
      {"up_blocks.0.resnets.1.conv1.weight", {16, 32, 3, 3}},
      {"up_blocks.0.resnets.1.conv_shortcut.weight", {16, 32, 1, 1}},  // skip = downsampled level 1 output
      {"up_blocks.0.upsamplers.0.conv.weight", {16, 16, 3, 3}},
      {"up_blocks.1.resnets.1.conv_shortcut.weight", {16, 24, 1, 1}},  // skip from level 0 (8 channels)
      {"up_blocks.1.attentions.1.transformer_blocks.0.attn2.to_v.weight", {16, 16}},
      {"up_blocks.2.resnets.0.conv_shortcut.weight", {8, 24, 1, 1}},
      {"up_blocks.2.resnets.1.conv_shortcut.weight", {8, 16, 1, 1}},
      {"conv_norm_out.weight", {8}},
      {"conv_out.weight", {4, 8, 3, 3}},
  };
  for (const auto& [key, shape] : expected) {
    auto it = shapes.find(key);
    ASSERT_NE(it, shapes.end()) << "missing key " << key;
    EXPECT_EQ(it->second, shape) << key;
  }
  for (const auto& absent :
       {"down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.bias", "down_blocks.2.downsamplers.0.conv.weight",
        "down_blocks.2.attentions.0.norm.weight", "up_blocks.2.upsamplers.0.conv.weight",
        "up_blocks.0.attentions.0.norm.weight"})
    EXPECT_EQ(shapes.count(absent), 0u) << absent;
  EXPECT_EQ(unet->down_blocks->size(), 3u);
  EXPECT_EQ(unet->up_blocks[0]->as<UNetUpBlock>()->resnets->size(), 2u);
  // Head counts: attention_head_dim per level, reversed for the up blocks; head size = channels / heads.
  auto heads_of = [](torch::nn::ModuleListImpl& attentions) {
    auto* t = attentions[0]->as<Transformer2DModel>();
    return std::pair{t->options.heads, t->options.dim_head};
  };
  EXPECT_EQ(heads_of(*unet->down_blocks[0]->as<UNetDownBlock>()->attentions), (std::pair<int64_t, int64_t>{2, 4}));
  EXPECT_EQ(heads_of(*unet->down_blocks[1]->as<UNetDownBlock>()->attentions), (std::pair<int64_t, int64_t>{4, 4}));
  EXPECT_EQ(heads_of(*unet->mid_block->attentions), (std::pair<int64_t, int64_t>{8, 2}));
  EXPECT_EQ(heads_of(*unet->up_blocks[1]->as<UNetUpBlock>()->attentions), (std::pair<int64_t, int64_t>{4, 4}));
  EXPECT_EQ(heads_of(*unet->up_blocks[2]->as<UNetUpBlock>()->attentions), (std::pair<int64_t, int64_t>{2, 4}));
}

TEST(UNetModel, UnevenLevelsFollowTheConfig) {
  UNet2DConditionModel unet(UNet2DConditionConfig::from_json(uneven_json()));
  const auto shapes = parameter_shapes(*unet);
  const std::map<std::string, std::vector<int64_t>> expected{
      {"down_blocks.0.resnets.1.conv1.weight", {8, 8, 3, 3}},
      {"down_blocks.0.attentions.1.transformer_blocks.1.attn1.to_k.weight", {8, 12}},  // only_cross_attention
      {"down_blocks.0.attentions.0.proj_in.weight", {8, 8, 1, 1}},                     // 1×1 conv
      {"down_blocks.1.attentions.1.transformer_blocks.0.attn1.to_k.weight", {16, 16}},
      {"down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight", {16, 12}},
      {"up_blocks.1.resnets.2.conv_shortcut.weight", {16, 24, 1, 1}},
      {"up_blocks.2.resnets.2.conv1.weight", {8, 16, 3, 3}},
      {"up_blocks.2.attentions.2.transformer_blocks.1.attn1.to_v.weight", {8, 12}},  // reversed lists
      {"up_blocks.1.attentions.0.transformer_blocks.0.attn1.to_k.weight", {16, 16}},
      {"mid_block.attentions.0.transformer_blocks.0.attn1.to_k.weight", {16, 16}},
  };
  for (const auto& [key, shape] : expected) {
    auto it = shapes.find(key);
    ASSERT_NE(it, shapes.end()) << "missing key " << key;
    EXPECT_EQ(it->second, shape) << key;
  }
  for (const auto& absent : {"down_blocks.2.resnets.1.conv1.weight", "up_blocks.0.resnets.2.conv1.weight",
                             "up_blocks.1.attentions.0.transformer_blocks.1.norm1.weight",
                             "up_blocks.1.resnets.3.conv1.weight"})
    EXPECT_EQ(shapes.count(absent), 0u) << absent;
  EXPECT_EQ(unet->up_blocks[0]->as<UNetUpBlock>()->resnets->size(), 2u);
  EXPECT_EQ(unet->up_blocks[2]->as<UNetUpBlock>()->resnets->size(), 3u);

  randomize(*unet, 3);
  torch::NoGradGuard no_grad;
  auto out = unet->forward(torch::randn({1, 4, 9, 6}), torch::tensor(500), torch::randn({1, 3, 12}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 4, 9, 6}));
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
}

TEST(UNetModel, OddNonSquareInputKeepsItsShape) {
  UNet2DConditionModel unet(UNet2DConditionConfig::from_json(tiny_json()));
  randomize(*unet, 1);
  unet->eval();
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(7);
  auto sample = torch::randn({2, 4, 10, 14}, gen);  // 10 and 14 are not multiples of 2^2: 10→5→3 and back
  auto context = torch::randn({2, 5, 16}, gen);
  auto out = unet->forward(sample, torch::tensor(std::vector<int64_t>{3, 999}), context);
  EXPECT_EQ(out.sizes(), sample.sizes());
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  EXPECT_GT(out.abs().max().item<double>(), 0.0);

  // A 0-d or one-element timestep is broadcast to the batch, as diffusers' timesteps.expand(batch).
  auto t_batch = unet->forward(sample, torch::tensor(std::vector<float>{417.5f, 417.5f}), context);
  EXPECT_CLOSE(unet->forward(sample, torch::tensor(417.5f), context), t_batch, 0, 0, "0-d timestep");
  EXPECT_CLOSE(unet->forward(sample, torch::tensor(std::vector<double>{417.5}), context), t_batch, 0, 0,
               "[1] timestep");
  // Different timesteps give different outputs (the embedding reaches the resnets).
  EXPECT_GT((unet->forward(sample, torch::tensor(3), context) - t_batch).abs().max().item<double>(), 1e-4);

  expect_error([&] { unet->forward(sample, torch::tensor(std::vector<int64_t>{1, 2, 3}), context); },
               {"timestep", "[3]"});
  expect_error([&] { unet->forward(sample, torch::tensor(1), torch::randn({2, 5, 12})); },
               {"encoder_hidden_states", "16", "[2, 5, 12]"});
  expect_error([&] { unet->forward(torch::randn({2, 3, 8, 8}), torch::tensor(1), context); }, {"sample", "[2, 3, 8, 8]"});
}

TEST(UNetModel, LoadRoundTripsAndWrongShapeNamesTheKey) {
  const auto dir = test::temp_dir("unet_load") / "unet";
  std::filesystem::create_directories(dir);
  write_json(dir / "config.json", tiny_json());
  UNet2DConditionModel source(UNet2DConditionConfig::from_json(tiny_json()));
  randomize(*source, 5);
  auto weights = state_dict(*source);
  write_safetensors(dir / "diffusion_pytorch_model.safetensors", weights);

  auto loaded = load_unet(dir);
  const auto loaded_weights = state_dict(*loaded);
  ASSERT_EQ(loaded_weights.size(), weights.size());
  for (const auto& [k, v] : weights) EXPECT_TRUE(torch::equal(loaded_weights.at(k), v)) << k;
  torch::NoGradGuard no_grad;
  auto sample = torch::randn({1, 4, 8, 8});
  auto context = torch::randn({1, 3, 16});
  EXPECT_CLOSE(loaded->forward(sample, torch::tensor(10), context), source->forward(sample, torch::tensor(10), context),
               0, 0, "loaded UNet vs its source");

  // SD 1.x-style 1×1-conv weights under a use_linear_projection config.
  const std::string key = "mid_block.attentions.0.proj_in.weight";
  weights[key] = weights.at(key).reshape({16, 16, 1, 1}).clone();
  write_safetensors(dir / "diffusion_pytorch_model.safetensors", weights);
  expect_error([&] { load_unet(dir); }, {key, "diffusion_pytorch_model.safetensors", "[16, 16, 1, 1]"});

  weights.erase(key);
  write_safetensors(dir / "diffusion_pytorch_model.safetensors", weights);
  expect_error([&] { load_unet(dir); }, {"missing", key});
}
