// io/key_map on synthetic maps with layouts the golden file does not have: an OpenCLIP (SD 2.x) text
// encoder, a 3-level UNet with one resnet per level and attention only at the two lower resolutions,
// and a 3-level VAE. Expected names are written out by hand from the LDM/diffusers conventions.
#include <gtest/gtest.h>

#include <set>

#include "core/check.h"
#include "io/key_map.h"

using namespace sculpt;

namespace {

std::set<std::string> keys_of(const TensorMap& m) {
  std::set<std::string> k;
  for (const auto& [key, t] : m) k.insert(key);
  return k;
}

// Distinct values per tensor so a mixed-up key or slice shows.
torch::Tensor filled(std::vector<int64_t> shape, double start) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return torch::arange(start, start + static_cast<double>(n), torch::kFloat32).reshape(shape);
}

void expect_same_maps(const TensorMap& a, const TensorMap& b) {
  ASSERT_EQ(keys_of(a), keys_of(b));
  for (const auto& [key, t] : a) {
    EXPECT_EQ(t.sizes(), b.at(key).sizes()) << key;
    EXPECT_TRUE(torch::equal(t, b.at(key))) << key;
  }
}

constexpr int64_t D = 4;  // OpenCLIP width

TensorMap open_clip_map(int64_t resblocks) {
  TensorMap m;
  const std::string p = "cond_stage_model.model.";
  double v = 0;
  auto put = [&](const std::string& k, std::vector<int64_t> shape) {
    m.emplace(p + k, filled(shape, v));
    v += 1000;
  };
  put("token_embedding.weight", {10, D});
  put("positional_embedding", {5, D});
  put("ln_final.weight", {D});
  put("ln_final.bias", {D});
  put("text_projection", {D, D});
  put("logit_scale", {});
  for (int64_t n = 0; n < resblocks; ++n) {
    const auto b = "transformer.resblocks." + std::to_string(n) + ".";
    put(b + "ln_1.weight", {D});
    put(b + "ln_1.bias", {D});
    put(b + "attn.in_proj_weight", {3 * D, D});
    put(b + "attn.in_proj_bias", {3 * D});
    put(b + "attn.out_proj.weight", {D, D});
    put(b + "attn.out_proj.bias", {D});
    put(b + "ln_2.weight", {D});
    put(b + "ln_2.bias", {D});
    put(b + "mlp.c_fc.weight", {4 * D, D});
    put(b + "mlp.c_fc.bias", {4 * D});
    put(b + "mlp.c_proj.weight", {D, 4 * D});
    put(b + "mlp.c_proj.bias", {D});
  }
  return m;
}

}  // namespace

TEST(KeyMap, OpenClipSplitsInProjAndDropsTheLastLayer) {
  const auto ldm = open_clip_map(3);
  const auto w = ldm_to_diffusers(ldm, "sd2.safetensors");
  EXPECT_TRUE(w.text_encoder_is_open_clip);
  EXPECT_EQ(w.text_encoder_dropped_layers, 1);
  EXPECT_TRUE(w.skipped_keys.empty());

  std::set<std::string> want{"text_model.embeddings.token_embedding.weight",
                             "text_model.embeddings.position_embedding.weight", "text_model.final_layer_norm.weight",
                             "text_model.final_layer_norm.bias"};
  for (int n = 0; n < 2; ++n) {
    const auto l = "text_model.encoder.layers." + std::to_string(n) + ".";
    for (const char* m : {"layer_norm1", "layer_norm2", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                          "self_attn.out_proj", "mlp.fc1", "mlp.fc2"}) {
      want.insert(l + m + ".weight");
      want.insert(l + m + ".bias");
    }
  }
  EXPECT_EQ(keys_of(w.text_encoder), want);
  EXPECT_EQ(keys_of(w.ldm_only), (std::set<std::string>{
                                     "cond_stage_model.model.logit_scale", "cond_stage_model.model.text_projection",
                                     "cond_stage_model.model.transformer.resblocks.2.attn.in_proj_bias",
                                     "cond_stage_model.model.transformer.resblocks.2.attn.in_proj_weight",
                                     "cond_stage_model.model.transformer.resblocks.2.attn.out_proj.bias",
                                     "cond_stage_model.model.transformer.resblocks.2.attn.out_proj.weight",
                                     "cond_stage_model.model.transformer.resblocks.2.ln_1.bias",
                                     "cond_stage_model.model.transformer.resblocks.2.ln_1.weight",
                                     "cond_stage_model.model.transformer.resblocks.2.ln_2.bias",
                                     "cond_stage_model.model.transformer.resblocks.2.ln_2.weight",
                                     "cond_stage_model.model.transformer.resblocks.2.mlp.c_fc.bias",
                                     "cond_stage_model.model.transformer.resblocks.2.mlp.c_fc.weight",
                                     "cond_stage_model.model.transformer.resblocks.2.mlp.c_proj.bias",
                                     "cond_stage_model.model.transformer.resblocks.2.mlp.c_proj.weight"}));

  // q = rows [0, D), k = [D, 2D), v = [2D, 3D) of in_proj, for layer 1.
  const auto& in_w = ldm.at("cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight");
  const auto& in_b = ldm.at("cond_stage_model.model.transformer.resblocks.1.attn.in_proj_bias");
  const char* names[] = {"q_proj", "k_proj", "v_proj"};
  for (int64_t i = 0; i < 3; ++i) {
    const auto l = std::string("text_model.encoder.layers.1.self_attn.") + names[i];
    EXPECT_TRUE(torch::equal(w.text_encoder.at(l + ".weight"), in_w.slice(0, i * D, (i + 1) * D))) << l;
    EXPECT_TRUE(torch::equal(w.text_encoder.at(l + ".bias"), in_b.slice(0, i * D, (i + 1) * D))) << l;
    EXPECT_EQ(w.text_encoder.at(l + ".weight").sizes(), (std::vector<int64_t>{D, D}));
  }
  EXPECT_TRUE(torch::equal(w.text_encoder.at("text_model.encoder.layers.0.mlp.fc2.weight"),
                           ldm.at("cond_stage_model.model.transformer.resblocks.0.mlp.c_proj.weight")));
  EXPECT_TRUE(torch::equal(w.text_encoder.at("text_model.embeddings.position_embedding.weight"),
                           ldm.at("cond_stage_model.model.positional_embedding")));

  expect_same_maps(diffusers_to_ldm(w), ldm);
}

TEST(KeyMap, OpenClipInverseIgnoresPositionIds) {
  auto w = ldm_to_diffusers(open_clip_map(2), "sd2.safetensors");
  w.text_encoder.emplace("text_model.embeddings.position_ids", torch::arange(5).unsqueeze(0));
  expect_same_maps(diffusers_to_ldm(w), open_clip_map(2));
}

// 3 levels, layers_per_block 1: down attention at levels 1, 2; up attention at levels 0, 1.
//   input_blocks: 0 conv_in | 1 res | 2 down | 3 res+attn | 4 down | 5 res+attn
//   output_blocks (2 per level): 0 res+attn | 1 res+attn+up(.2) | 2 res+attn | 3 res+attn+up(.2) | 4 res | 5 res
TEST(KeyMap, UNetLayoutIsReadFromTheKeys) {
  const std::vector<std::pair<std::string, std::string>> pairs{
      {"time_embed.0.weight", "time_embedding.linear_1.weight"},
      {"time_embed.2.bias", "time_embedding.linear_2.bias"},
      {"input_blocks.0.0.weight", "conv_in.weight"},
      {"input_blocks.1.0.in_layers.0.weight", "down_blocks.0.resnets.0.norm1.weight"},
      {"input_blocks.1.0.in_layers.2.weight", "down_blocks.0.resnets.0.conv1.weight"},
      {"input_blocks.2.0.op.weight", "down_blocks.0.downsamplers.0.conv.weight"},
      {"input_blocks.3.0.emb_layers.1.weight", "down_blocks.1.resnets.0.time_emb_proj.weight"},
      {"input_blocks.3.0.skip_connection.weight", "down_blocks.1.resnets.0.conv_shortcut.weight"},
      {"input_blocks.3.1.proj_in.weight", "down_blocks.1.attentions.0.proj_in.weight"},
      {"input_blocks.4.0.op.bias", "down_blocks.1.downsamplers.0.conv.bias"},
      {"input_blocks.5.0.out_layers.0.weight", "down_blocks.2.resnets.0.norm2.weight"},
      {"input_blocks.5.1.transformer_blocks.0.attn2.to_k.weight",
       "down_blocks.2.attentions.0.transformer_blocks.0.attn2.to_k.weight"},
      {"middle_block.0.out_layers.3.weight", "mid_block.resnets.0.conv2.weight"},
      {"middle_block.1.norm.weight", "mid_block.attentions.0.norm.weight"},
      {"middle_block.2.in_layers.0.bias", "mid_block.resnets.1.norm1.bias"},
      {"output_blocks.0.0.in_layers.2.weight", "up_blocks.0.resnets.0.conv1.weight"},
      {"output_blocks.0.1.proj_out.weight", "up_blocks.0.attentions.0.proj_out.weight"},
      {"output_blocks.1.0.in_layers.2.weight", "up_blocks.0.resnets.1.conv1.weight"},
      {"output_blocks.1.1.proj_out.weight", "up_blocks.0.attentions.1.proj_out.weight"},
      {"output_blocks.1.2.conv.weight", "up_blocks.0.upsamplers.0.conv.weight"},
      {"output_blocks.2.0.in_layers.2.weight", "up_blocks.1.resnets.0.conv1.weight"},
      {"output_blocks.2.1.norm.bias", "up_blocks.1.attentions.0.norm.bias"},
      {"output_blocks.3.0.in_layers.2.weight", "up_blocks.1.resnets.1.conv1.weight"},
      {"output_blocks.3.1.norm.bias", "up_blocks.1.attentions.1.norm.bias"},
      {"output_blocks.3.2.conv.bias", "up_blocks.1.upsamplers.0.conv.bias"},
      {"output_blocks.4.0.skip_connection.bias", "up_blocks.2.resnets.0.conv_shortcut.bias"},
      {"output_blocks.5.0.skip_connection.bias", "up_blocks.2.resnets.1.conv_shortcut.bias"},
      {"out.0.weight", "conv_norm_out.weight"},
      {"out.2.weight", "conv_out.weight"},
  };
  TensorMap ldm, diffusers;
  double v = 0;
  for (const auto& [l, d] : pairs) {
    const auto t = filled({2}, v += 10);
    ldm.emplace("model.diffusion_model." + l, t);
    diffusers.emplace(d, t);
  }
  const auto w = ldm_to_diffusers(ldm, "three-levels.safetensors");
  EXPECT_TRUE(w.skipped_keys.empty()) << w.skipped_keys.front();
  expect_same_maps(w.unet, diffusers);
  DiffusersWeights only_unet;
  only_unet.unet = diffusers;
  expect_same_maps(diffusers_to_ldm(only_unet), ldm);
}

TEST(KeyMap, VAEDecoderLevelsAreReversedAndAttentionReshaped) {
  const std::vector<std::pair<std::string, std::string>> pairs{
      {"encoder.down.0.block.0.conv1.weight", "encoder.down_blocks.0.resnets.0.conv1.weight"},
      {"encoder.down.1.block.0.nin_shortcut.weight", "encoder.down_blocks.1.resnets.0.conv_shortcut.weight"},
      {"encoder.down.1.downsample.conv.weight", "encoder.down_blocks.1.downsamplers.0.conv.weight"},
      {"encoder.down.2.block.0.conv1.bias", "encoder.down_blocks.2.resnets.0.conv1.bias"},
      {"encoder.down.2.block.1.norm2.bias", "encoder.down_blocks.2.resnets.1.norm2.bias"},
      {"encoder.mid.block_2.norm1.weight", "encoder.mid_block.resnets.1.norm1.weight"},
      {"encoder.norm_out.weight", "encoder.conv_norm_out.weight"},
      {"decoder.up.2.block.0.conv2.weight", "decoder.up_blocks.0.resnets.0.conv2.weight"},
      {"decoder.up.2.upsample.conv.weight", "decoder.up_blocks.0.upsamplers.0.conv.weight"},
      {"decoder.up.1.block.0.conv1.weight", "decoder.up_blocks.1.resnets.0.conv1.weight"},
      {"decoder.up.1.block.1.conv1.weight", "decoder.up_blocks.1.resnets.1.conv1.weight"},
      {"decoder.up.1.block.2.nin_shortcut.bias", "decoder.up_blocks.1.resnets.2.conv_shortcut.bias"},
      {"decoder.up.0.block.0.conv1.weight", "decoder.up_blocks.2.resnets.0.conv1.weight"},
      {"decoder.up.0.block.1.norm1.weight", "decoder.up_blocks.2.resnets.1.norm1.weight"},
      {"decoder.mid.block_1.conv1.bias", "decoder.mid_block.resnets.0.conv1.bias"},
      {"decoder.mid.attn_1.norm.weight", "decoder.mid_block.attentions.0.group_norm.weight"},
      {"decoder.mid.attn_1.q.bias", "decoder.mid_block.attentions.0.to_q.bias"},
      {"decoder.conv_out.weight", "decoder.conv_out.weight"},
      {"post_quant_conv.weight", "post_quant_conv.weight"},
  };
  TensorMap ldm, diffusers;
  double v = 0;
  for (const auto& [l, d] : pairs) {
    const auto t = filled({3}, v += 10);
    ldm.emplace("first_stage_model." + l, t);
    diffusers.emplace(d, t);
  }
  const auto conv = filled({3, 3, 1, 1}, 500);  // LDM 1×1 conv ↔ diffusers Linear
  ldm.emplace("first_stage_model.encoder.mid.attn_1.proj_out.weight", conv);
  diffusers.emplace("encoder.mid_block.attentions.0.to_out.0.weight", conv.reshape({3, 3}));
  ldm.emplace("first_stage_model.decoder.mid.attn_1.k.weight", conv + 1);
  diffusers.emplace("decoder.mid_block.attentions.0.to_k.weight", (conv + 1).reshape({3, 3}));

  const auto w = ldm_to_diffusers(ldm, "vae.safetensors");
  EXPECT_TRUE(w.skipped_keys.empty()) << w.skipped_keys.front();
  expect_same_maps(w.vae, diffusers);
  DiffusersWeights only_vae;
  only_vae.vae = diffusers;
  expect_same_maps(diffusers_to_ldm(only_vae), ldm);
}

TEST(KeyMap, SD1TextEncoderGainsTextModelPrefix) {
  TensorMap ldm{{"cond_stage_model.transformer.embeddings.token_embedding.weight", filled({3, 2}, 0)},
                {"cond_stage_model.transformer.final_layer_norm.bias", filled({2}, 9)}};
  const auto w = ldm_to_diffusers(ldm, "old-transformers.ckpt");
  EXPECT_EQ(keys_of(w.text_encoder), (std::set<std::string>{"text_model.embeddings.token_embedding.weight",
                                                            "text_model.final_layer_norm.bias"}));
  EXPECT_FALSE(w.text_encoder_is_open_clip);
}

TEST(KeyMap, ErrorsNameTheSourceAndKey) {
  TensorMap foreign{{"conv_in.weight", torch::zeros({1})}};
  try {
    ldm_to_diffusers(foreign, "some-diffusers-file.safetensors");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("some-diffusers-file.safetensors"), std::string::npos) << e.what();
  }
  DiffusersWeights w;
  w.unet.emplace("class_embedding.linear_1.weight", torch::zeros({1}));
  try {
    diffusers_to_ldm(w);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("class_embedding.linear_1.weight"), std::string::npos) << e.what();
  }
}
