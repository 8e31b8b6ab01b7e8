// LDM single-file → diffusers key conversion: the golden single file (made by diffusers' own
// conversion script) must give exactly the diffusers folder's keys and bit-identical values.
#include <gtest/gtest.h>

#include "io/key_map.h"
#include "io/safetensors.h"
#include "support.h"

using namespace sculpt;

namespace {
void expect_same(const TensorMap& converted, const std::string& file, const std::set<std::string>& optional = {}) {
  auto ref = read_safetensors(test::golden("tiny-sd/model/" + file));
  for (const auto& [k, v] : ref) {
    if (optional.count(k) && !converted.count(k)) continue;
    ASSERT_TRUE(converted.count(k)) << file << ": conversion lacks " << k;
    EXPECT_EQ(converted.at(k).sizes(), v.sizes()) << k;
    EXPECT_TRUE(torch::equal(converted.at(k).to(torch::kFloat32), v.to(torch::kFloat32))) << k;
  }
  for (const auto& [k, v] : converted) EXPECT_TRUE(ref.count(k)) << file << ": unexpected converted key " << k;
}
}  // namespace

TEST(KeyMap, GoldenSingleFileMatchesDiffusersFolder) {
  auto ldm = read_safetensors(test::golden("tiny-sd-single-file/tiny-sd.safetensors"));
  auto w = ldm_to_diffusers(ldm, "tiny-sd.safetensors");
  EXPECT_FALSE(w.text_encoder_is_open_clip);
  expect_same(w.unet, "unet/diffusion_pytorch_model.safetensors");
  expect_same(w.vae, "vae/diffusion_pytorch_model.safetensors");
  expect_same(w.text_encoder, "text_encoder/model.safetensors", {"text_model.embeddings.position_ids"});
  EXPECT_EQ(w.unet.size() + w.vae.size() + w.text_encoder.size() + w.skipped_keys.size(), ldm.size());
}

TEST(KeyMap, OpenClipSplitsInProjAndDropsTheLastLayer) {
  // A synthetic SD 2.x-style text encoder: 3 resblocks of width 8.
  const std::string p = "cond_stage_model.model.";
  TensorMap ldm;
  ldm["first_stage_model.quant_conv.weight"] = torch::zeros({8, 8, 1, 1});
  ldm["model.diffusion_model.input_blocks.0.0.weight"] = torch::zeros({4, 4, 3, 3});
  ldm["model.diffusion_model.input_blocks.1.0.in_layers.0.weight"] = torch::zeros({4});
  ldm[p + "token_embedding.weight"] = torch::randn({10, 8});
  ldm[p + "positional_embedding"] = torch::randn({5, 8});
  ldm[p + "ln_final.weight"] = torch::randn({8});
  ldm[p + "text_projection"] = torch::randn({8, 8});
  for (int i = 0; i < 3; ++i) {
    const auto b = p + "transformer.resblocks." + std::to_string(i) + ".";
    ldm[b + "attn.in_proj_weight"] = torch::randn({24, 8});
    ldm[b + "attn.in_proj_bias"] = torch::randn({24});
    ldm[b + "ln_1.weight"] = torch::randn({8});
    ldm[b + "mlp.c_fc.weight"] = torch::randn({16, 8});
  }
  auto w = ldm_to_diffusers(ldm, "synthetic");
  EXPECT_TRUE(w.text_encoder_is_open_clip);
  const auto& te = w.text_encoder;
  const auto& in = ldm[p + "transformer.resblocks.1.attn.in_proj_weight"];
  EXPECT_TRUE(torch::equal(te.at("text_model.encoder.layers.1.self_attn.q_proj.weight"), in.narrow(0, 0, 8)));
  EXPECT_TRUE(torch::equal(te.at("text_model.encoder.layers.1.self_attn.k_proj.weight"), in.narrow(0, 8, 8)));
  EXPECT_TRUE(torch::equal(te.at("text_model.encoder.layers.1.self_attn.v_proj.weight"), in.narrow(0, 16, 8)));
  EXPECT_TRUE(torch::equal(te.at("text_model.encoder.layers.0.mlp.fc1.weight"),
                           ldm[p + "transformer.resblocks.0.mlp.c_fc.weight"]));
  EXPECT_TRUE(te.count("text_model.embeddings.position_embedding.weight"));
  EXPECT_TRUE(te.count("text_model.final_layer_norm.weight"));
  EXPECT_FALSE(te.count("text_model.encoder.layers.2.layer_norm1.weight")) << "the last block is unused in SD 2.x";
  EXPECT_NE(std::find(w.skipped_keys.begin(), w.skipped_keys.end(), p + "text_projection"), w.skipped_keys.end());
}
