// CLIPTextModel against transformers 4.30.0 (reference/text_encoder.safetensors): embeddings, last,
// penultimate (with and without final layer norm) and pooled outputs for 16 prompts.
#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "models/clip.h"
#include "support.h"

using namespace sculpt;

TEST(ClipParity, TextEncoderOutputs) {
  auto te = load_clip_text_model(test::golden("tiny-sd/model/text_encoder"));
  auto ref = read_safetensors(test::golden("tiny-sd/reference/text_encoder.safetensors"));
  torch::NoGradGuard no_grad;
  auto out = te->forward(ref.at("input_ids"), /*output_hidden_states=*/true);
  const auto n = out.hidden_states.size();
  ASSERT_EQ(n, static_cast<size_t>(te->config.num_hidden_layers + 1));
  EXPECT_CLOSE(out.hidden_states[0], ref.at("embeddings"), 1e-6, 0, "clip embeddings");
  EXPECT_CLOSE(out.last_hidden_state, ref.at("last_hidden_state"), 1e-5, 0, "clip last_hidden_state");
  EXPECT_CLOSE(out.hidden_states[n - 2], ref.at("penultimate_hidden_state"), 1e-5, 0, "clip penultimate");
  EXPECT_CLOSE(te->text_model->final_layer_norm(out.hidden_states[n - 2]), ref.at("penultimate_final_ln"), 1e-5, 0,
               "clip penultimate + final LN");
  EXPECT_CLOSE(out.pooler_output, ref.at("pooler_output"), 1e-5, 0, "clip pooled");
}
