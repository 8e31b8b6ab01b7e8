// LDM single file → diffusers names against the golden pair: tiny-sd-single-file/tiny-sd.safetensors
// (CompVis names, float16) must become exactly the keys and values of the tiny-sd diffusers folder,
// and diffusers_to_ldm must give the single file back key for key, bit for bit.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "io/key_map.h"
#include "io/safetensors.h"
#include "support.h"

using namespace sculpt;

namespace {

const TensorMap& single_file() {
  static const TensorMap m = read_safetensors(test::golden("tiny-sd-single-file/tiny-sd.safetensors"));
  return m;
}

std::set<std::string> keys_of(const TensorMap& m) {
  std::set<std::string> k;
  for (const auto& [key, t] : m) k.insert(key);
  return k;
}

std::string diff_keys(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::ostringstream s;
  for (const auto& k : a)
    if (!b.count(k)) s << "\n  only converted: " << k;
  for (const auto& k : b)
    if (!a.count(k)) s << "\n  only reference: " << k;
  return s.str();
}

// Same key set (position_ids may be absent from `converted`) and bit-identical float32 values.
void expect_component(const TensorMap& converted, const std::string& file, const std::string& label) {
  const auto ref = read_safetensors(test::golden("tiny-sd/model/" + file));
  auto want = keys_of(ref);
  if (!converted.count("text_model.embeddings.position_ids")) want.erase("text_model.embeddings.position_ids");
  ASSERT_EQ(keys_of(converted), want) << label << diff_keys(keys_of(converted), want);
  double max_diff = 0;
  size_t unequal = 0;
  for (const auto& [key, t] : converted) {
    const auto& r = ref.at(key);
    ASSERT_EQ(t.sizes(), r.sizes()) << label << " " << key;
    if (r.is_floating_point()) {
      const auto a = t.to(torch::kFloat32), b = r.to(torch::kFloat32);
      max_diff = std::max(max_diff, (a - b).abs().max().item<double>());
      if (!torch::equal(a, b)) ++unequal;
    } else if (!torch::equal(t.to(r.scalar_type()), r)) {
      ++unequal;
    }
  }
  std::cout << "[ parity   ] key_map " << label << ": " << converted.size() << " tensors, max|diff| " << max_diff
            << ", " << unequal << " not bit-identical\n";
  EXPECT_EQ(unequal, 0u) << label;
}

}  // namespace

TEST(KeyMapParity, SingleFileBecomesDiffusersFolder) {
  const auto w = ldm_to_diffusers(single_file(), "tiny-sd.safetensors");
  EXPECT_TRUE(w.skipped_keys.empty()) << w.skipped_keys.front();
  EXPECT_FALSE(w.text_encoder_is_open_clip);
  EXPECT_EQ(w.text_encoder_dropped_layers, 0);
  EXPECT_TRUE(w.ldm_only.empty());
  expect_component(w.unet, "unet/diffusion_pytorch_model.safetensors", "unet");
  expect_component(w.vae, "vae/diffusion_pytorch_model.safetensors", "vae");
  expect_component(w.text_encoder, "text_encoder/model.safetensors", "text_encoder");
  EXPECT_EQ(w.vae.at("encoder.mid_block.attentions.0.to_q.weight").dim(), 2);
}

TEST(KeyMapParity, RoundTripGivesTheSingleFileBack) {
  const auto& ldm = single_file();
  const auto back = diffusers_to_ldm(ldm_to_diffusers(ldm, "tiny-sd.safetensors"));
  ASSERT_EQ(keys_of(back), keys_of(ldm)) << diff_keys(keys_of(back), keys_of(ldm));
  size_t unequal = 0;
  for (const auto& [key, t] : ldm) {
    const auto& b = back.at(key);
    if (b.scalar_type() != t.scalar_type() || b.sizes() != t.sizes() || !torch::equal(b, t)) {
      ADD_FAILURE() << key << ": " << b.sizes() << " " << b.scalar_type() << " vs " << t.sizes() << " "
                    << t.scalar_type();
      ++unequal;
    }
  }
  std::cout << "[ parity   ] key_map round trip: " << ldm.size() << " tensors, " << unequal << " differ\n";
}

TEST(KeyMapParity, ForeignKeysAreSkippedAndReported) {
  auto ldm = single_file();
  ldm.emplace("alphas_cumprod", torch::ones({1000}));
  ldm.emplace("model_ema.decay", torch::ones({}));
  ldm.emplace("model_ema.diffusion_modelinput_blocks00weight", torch::ones({1}));
  ldm.emplace("model.diffusion_model.label_emb.0.0.weight", torch::ones({1}));
  const auto w = ldm_to_diffusers(ldm, "tiny-sd.safetensors");
  const std::set<std::string> skipped(w.skipped_keys.begin(), w.skipped_keys.end());
  EXPECT_EQ(skipped, (std::set<std::string>{"alphas_cumprod", "model_ema.decay",
                                            "model_ema.diffusion_modelinput_blocks00weight",
                                            "model.diffusion_model.label_emb.0.0.weight"}));
  EXPECT_EQ(w.unet.size(), 304u);
}
