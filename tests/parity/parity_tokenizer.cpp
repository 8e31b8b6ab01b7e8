// CLIP tokenizer against transformers 4.30.0 + ftfy 6.1.1 (reference/tokenizer.safetensors): exact ids for
// the 16 golden prompts (HTML entities, U+00A0, U+200B, truncation at 77, padding with 49407), plus strings
// whose ids follow by hand from the golden vocabulary and the golden rows.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "support.h"
#include "tokenizer/clip_tokenizer.h"

using namespace sculpt;
namespace fs = std::filesystem;

namespace {

const fs::path kTokenizerDir = test::golden("tiny-sd/model/tokenizer");

std::vector<std::string> golden_prompts() {
  std::ifstream in(test::golden("tiny-sd/reference/prompts.json"));
  return nlohmann::json::parse(in).get<std::vector<std::string>>();
}

std::vector<int64_t> row(const torch::Tensor& ids, int64_t i) {
  auto r = ids[i].contiguous();
  return {r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel()};
}

}  // namespace

TEST(TokenizerParity, GoldenPrompts) {
  auto tok = CLIPTokenizer::from_dir(kTokenizerDir);
  auto ref = read_safetensors(test::golden("tiny-sd/reference/tokenizer.safetensors"));
  const auto prompts = golden_prompts();
  ASSERT_EQ(static_cast<int64_t>(prompts.size()), ref.at("input_ids").size(0));
  EXPECT_EQ(tok.vocab_size(), 49408);
  EXPECT_EQ(tok.bos_id(), 49406);
  EXPECT_EQ(tok.eos_id(), 49407);
  EXPECT_EQ(tok.pad_id(), 49407);
  EXPECT_EQ(tok.model_max_length(), 77);
  auto ids = tok(prompts);
  ASSERT_EQ(ids.sizes(), ref.at("input_ids").sizes());
  int mismatches = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto r = static_cast<int64_t>(i);
    const bool same = torch::equal(ids[r], ref.at("input_ids")[r]);
    const auto n = static_cast<int64_t>(tok.encode(prompts[i]).size());
    const auto n_ref = ref.at("num_tokens_untruncated")[r].item<int64_t>();
    mismatches += !same || n != n_ref;
    EXPECT_TRUE(same) << "prompt " << i << " '" << prompts[i] << "'\n ours: " << ids[r] << "\n ref:  "
                      << ref.at("input_ids")[r];
    EXPECT_EQ(n, n_ref) << "prompt " << i << " '" << prompts[i] << "': untruncated length";
  }
  std::printf("[ parity   ] tokenizer: %d of %zu golden prompts differ (ids or untruncated length)\n", mismatches,
              prompts.size());
}

// Ids from vocab.json: a</w> 320, cat</w> 2368, dog</w> 1929, &</w> 261, fish</w> 2759, it</w> 585,
// 's</w> 568, wait</w> 1885, …</w> (bytes E2 80 A6 → "âĢ¦</w>") 959; Greek letters split into byte tokens:
// ο = CF BF → Î 138 + ¿ 123, δ = CE B4 → Î 138 + ´ 112, ς = CF 82 → Ï 139 + "Ĥ</w>" 480 (σ would be 481).
TEST(TokenizerParity, ExtraStringsReasonedByHand) {
  auto tok = CLIPTokenizer::from_dir(kTokenizerDir);
  using Ids = std::vector<int64_t>;
  const std::vector<std::pair<std::string, Ids>> cases = {
      // <|endoftext|> in the text is split out before cleaning …
      {"a cat<|endoftext|>dog", {49406, 320, 2368, 49407, 1929, 49407}},
      // … while its uppercase form is lowercased, matched by the pattern and kept whole by the BPE cache.
      {"A CAT <|ENDOFTEXT|>", {49406, 320, 2368, 49407, 49407}},
      {"&lt;|startoftext|&gt;", {49406, 49406, 49407}},
      {"cat &AMP; dog", {49406, 2368, 261, 1929, 49407}},  // all-caps entity
      {"\uff23\uff21\uff34", {49406, 2368, 49407}},        // fullwidth "ＣＡＴ"
      {"\ufb01sh", {49406, 2759, 49407}},                  // ligature "ﬁ"
      {"it\u2019s", {49406, 585, 568, 49407}},             // curly apostrophe → "'s"
      {"wait\u0085", {49406, 1885, 959, 49407}},           // C1 NEL → "…" (Windows-1252), not a line break
      {"a\rcat", {49406, 320, 2368, 49407}},               // lone CR → line break → space
      {"\u039f\u0394\u039f\u03a3", {49406, 138, 123, 138, 112, 138, 123, 139, 480, 49407}},  // final sigma
  };
  int mismatches = 0;
  for (const auto& [text, expected] : cases) {
    const auto ids = tok.encode(text);
    mismatches += ids != expected;
    EXPECT_EQ(ids, expected) << "text '" << text << "'";
  }
  // Entities decode to the characters of golden prompt 4 ("café crème …"): its first five ids.
  auto ref = read_safetensors(test::golden("tiny-sd/reference/tokenizer.safetensors")).at("input_ids");
  auto cafe = tok.encode("caf&eacute; cr&#232;me");
  cafe.pop_back();
  const auto golden_cafe = row(ref, 4);
  EXPECT_EQ(cafe, Ids(golden_cafe.begin(), golden_cafe.begin() + 5));
  mismatches += cafe != Ids(golden_cafe.begin(), golden_cafe.begin() + 5);
  std::printf("[ parity   ] tokenizer: %d of %zu hand-reasoned strings differ\n", mismatches, cases.size() + 1);
}

// SD2's tokenizer pads with "!" (id 0), a special token, so a literal "!" is split out as "!" rather than
// merged by BPE: golden prompt 1 ends "burger!!" → … burger</w> !!</w> EOS with SD1's config, and
// … burger</w> ! ! EOS, padded with 0, with SD2's.
TEST(TokenizerParity, BangPaddingSplitsLiteralBang) {
  auto dir = test::temp_dir("parity-tokenizer-bang");
  fs::copy_file(kTokenizerDir / "vocab.json", dir / "vocab.json");
  fs::copy_file(kTokenizerDir / "merges.txt", dir / "merges.txt");
  fs::copy_file(kTokenizerDir / "tokenizer_config.json", dir / "tokenizer_config.json");
  std::ofstream(dir / "special_tokens_map.json") << R"({"pad_token": "!"})";
  auto tok = CLIPTokenizer::from_dir(dir);
  ASSERT_EQ(tok.pad_id(), 0);

  auto ref = read_safetensors(test::golden("tiny-sd/reference/tokenizer.safetensors")).at("input_ids");
  auto expected = row(ref, 1);  // 49406 … 6548 (burger</w>) 748 (!!</w>) 49407 49407 …
  ASSERT_EQ(expected[9], 748);
  expected[9] = 0;
  expected[10] = 0;
  expected[11] = 49407;
  std::fill(expected.begin() + 12, expected.end(), 0);
  const auto ids = row(tok({golden_prompts()[1]}), 0);
  EXPECT_EQ(ids, expected);
}
