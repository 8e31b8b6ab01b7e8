// CLIP tokenizer against transformers 4.30.0 + ftfy (reference/tokenizer.safetensors): exact ids for
// 16 prompts (HTML entities, U+00A0, U+200B, truncation at 77, padding with 49407).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "tokenizer/clip_tokenizer.h"
#include "support.h"

using namespace sculpt;

TEST(TokenizerParity, GoldenPrompts) {
  auto tok = CLIPTokenizer::from_dir(test::golden("tiny-sd/model/tokenizer"));
  auto ref = read_safetensors(test::golden("tiny-sd/reference/tokenizer.safetensors"));
  std::ifstream in(test::golden("tiny-sd/reference/prompts.json"));
  auto prompts = nlohmann::json::parse(in).get<std::vector<std::string>>();
  ASSERT_EQ(static_cast<int64_t>(prompts.size()), ref.at("input_ids").size(0));
  auto ids = tok(prompts);
  int mismatches = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto row = static_cast<int64_t>(i);
    const bool same = torch::equal(ids[row], ref.at("input_ids")[row]);
    mismatches += !same;
    EXPECT_TRUE(same) << "prompt " << i << " '" << prompts[i] << "'\n ours: " << ids[row] << "\n ref:  "
                      << ref.at("input_ids")[row];
    EXPECT_EQ(static_cast<int64_t>(tok.encode(prompts[i]).size()), ref.at("num_tokens_untruncated")[row].item<int64_t>())
        << "prompt " << i;
  }
  std::printf("[ parity   ] tokenizer: %d of %zu prompts differ\n", mismatches, prompts.size());
}
