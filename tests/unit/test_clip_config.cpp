// CLIPTextConfig / CLIPTextModel on tiny random configs: defaults, module names = checkpoint keys,
// the activation the config names, causal masking, pooling, and the loader's error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <set>

#include "core/check.h"
#include "io/safetensors.h"
#include "io/state_dict.h"
#include "models/clip.h"
#include "support.h"

using namespace sculpt;
namespace fs = std::filesystem;

namespace {

const nlohmann::json kTiny = {{"vocab_size", 50},        {"hidden_size", 8},         {"intermediate_size", 12},
                              {"num_hidden_layers", 2},  {"num_attention_heads", 2}, {"max_position_embeddings", 6},
                              {"hidden_act", "gelu"},    {"projection_dim", 8},      {"layer_norm_eps", 1e-5},
                              {"bos_token_id", 48},      {"eos_token_id", 49},       {"pad_token_id", 49}};

CLIPTextModel tiny_model() {
  torch::manual_seed(0);
  return CLIPTextModel(CLIPTextConfig::from_json(kTiny, "tiny"));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ClipConfig, DefaultsAreTransformers430) {
  const auto c = CLIPTextConfig::from_json(nlohmann::json::object(), "empty");
  EXPECT_EQ(c.vocab_size, 49408);
  EXPECT_EQ(c.hidden_size, 512);
  EXPECT_EQ(c.intermediate_size, 2048);
  EXPECT_EQ(c.projection_dim, 512);
  EXPECT_EQ(c.num_hidden_layers, 12);
  EXPECT_EQ(c.num_attention_heads, 8);
  EXPECT_EQ(c.max_position_embeddings, 77);
  EXPECT_EQ(c.hidden_act, "quick_gelu");
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-5);
  EXPECT_EQ(c.pad_token_id, 1);
  EXPECT_EQ(c.bos_token_id, 0);
  EXPECT_EQ(c.eos_token_id, 2);
  const auto t = CLIPTextConfig::from_json(kTiny, "tiny");
  EXPECT_EQ(t.hidden_act, "gelu");
  EXPECT_EQ(t.eos_token_id, 49);
}

TEST(ClipConfig, ParameterNamesAreTransformersKeys) {
  auto model = tiny_model();
  std::set<std::string> want{"text_model.embeddings.token_embedding.weight",
                             "text_model.embeddings.position_embedding.weight", "text_model.final_layer_norm.weight",
                             "text_model.final_layer_norm.bias"};
  for (int i = 0; i < 2; ++i) {
    const auto l = "text_model.encoder.layers." + std::to_string(i) + ".";
    for (const char* m : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                          "layer_norm1", "mlp.fc1", "mlp.fc2", "layer_norm2"}) {
      want.insert(l + m + ".weight");
      want.insert(l + m + ".bias");
    }
  }
  std::set<std::string> got;
  for (const auto& p : model->named_parameters()) got.insert(p.key());
  EXPECT_EQ(got, want);
  std::set<std::string> buffers;
  for (const auto& b : model->named_buffers()) buffers.insert(b.key());
  EXPECT_EQ(buffers, std::set<std::string>{"text_model.embeddings.position_ids"});
  EXPECT_EQ(model->named_parameters()["text_model.encoder.layers.1.mlp.fc1.weight"].sizes(),
            (std::vector<int64_t>{12, 8}));
}

TEST(ClipConfig, MlpUsesTheConfiguredActivation) {
  auto model = tiny_model();
  torch::NoGradGuard no_grad;
  auto mlp = model->text_model->encoder->layers->ptr<CLIPEncoderLayerImpl>(0)->mlp;
  const auto x = torch::randn({1, 3, 8});
  const auto h = mlp->fc1(x);
  const auto exact = mlp->fc2(0.5 * h * (1 + torch::erf(h / std::sqrt(2.0))));
  const auto quick = mlp->fc2(h * torch::sigmoid(1.702 * h));
  EXPECT_CLOSE(mlp->forward(x), exact, 1e-6, 0, "gelu mlp vs erf formula");
  EXPECT_GT((mlp->forward(x) - quick).abs().max().item<double>(), 1e-4) << "gelu must differ from quick_gelu";
}

TEST(ClipConfig, AttentionIsCausalAndPoolingTakesTheLargestId) {
  auto model = tiny_model();
  torch::NoGradGuard no_grad;
  auto ids = torch::tensor({{48, 5, 7, 49, 49, 49}, {48, 9, 49, 49, 49, 49}}, torch::kLong);
  auto changed = ids.clone();
  changed.index_put_({0, 4}, 3);
  const auto a = model->forward(ids, true), b = model->forward(changed, true);
  ASSERT_EQ(a.hidden_states.size(), 3u);
  EXPECT_TRUE(torch::equal(a.last_hidden_state.slice(1, 0, 4), b.last_hidden_state.slice(1, 0, 4)));
  EXPECT_FALSE(torch::equal(a.last_hidden_state.slice(1, 4, 5), b.last_hidden_state.slice(1, 4, 5)));
  EXPECT_TRUE(torch::equal(a.pooler_output[0], a.last_hidden_state[0][3]));  // first 49 in row 0
  EXPECT_TRUE(torch::equal(a.pooler_output[1], a.last_hidden_state[1][2]));
  EXPECT_TRUE(torch::equal(a.last_hidden_state, model->text_model->final_layer_norm(a.hidden_states.back())));
}

TEST(ClipConfig, LoaderAcceptsFilesWithoutPositionIds) {
  const auto dir = test::temp_dir("clip-loader") / "text_encoder";
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << kTiny.dump();
  auto weights = state_dict(*tiny_model());
  weights.erase("text_model.embeddings.position_ids");  // transformers > 4.30 no longer saves it
  write_safetensors(dir / "model.safetensors", weights);
  auto loaded = load_clip_text_model(dir);
  for (const auto& [key, t] : weights) EXPECT_TRUE(torch::equal(state_dict(*loaded).at(key), t)) << key;

  weights.erase("text_model.final_layer_norm.bias");
  write_safetensors(dir / "model.safetensors", weights);
  const auto msg = error_of([&] { load_clip_text_model(dir); });
  EXPECT_NE(msg.find("text_model.final_layer_norm.bias"), std::string::npos) << msg;
}

TEST(ClipConfig, ErrorsNameThePath) {
  const auto root = test::temp_dir("clip-errors");
  const auto dir = root / "text_encoder";
  fs::create_directories(dir);
  auto msg = error_of([&] { load_clip_text_model(dir); });
  EXPECT_NE(msg.find((dir / "config.json").string()), std::string::npos) << msg;

  std::ofstream(dir / "config.json") << "{\"hidden_size\": 8,";
  msg = error_of([&] { CLIPTextConfig::from_file(dir / "config.json"); });
  EXPECT_NE(msg.find((dir / "config.json").string()), std::string::npos) << msg;

  auto bad = kTiny;
  bad["hidden_act"] = "swish";
  msg = error_of([&] { CLIPTextConfig::from_json(bad, "te/config.json"); });
  EXPECT_NE(msg.find("te/config.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("swish"), std::string::npos) << msg;
  bad = kTiny;
  bad["num_attention_heads"] = 3;
  msg = error_of([&] { CLIPTextConfig::from_json(bad, "te/config.json"); });
  EXPECT_NE(msg.find("num_attention_heads"), std::string::npos) << msg;
}
