// CLIP tokenizer on a tiny hand-written vocabulary (no golden files): BPE merge order, "</w>", truncation,
// padding, special-token splitting ("!" as SD2's pad token), added tokens, decode; and each prompt-cleaning
// step (ftfy 6.1.1 fixers, whitespace_clean, str.lower) against what Python 3 gives for the same text.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <thread>

#include "core/check.h"
#include "support.h"
#include "tokenizer/clip_tokenizer.h"
#include "tokenizer/text_clean.h"

using namespace sculpt;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// ids: ! 0, !</w> 1, a 2, b 3, c 4, a</w> 5, b</w> 6, c</w> 7, ab 8, abc</w> 9, bc</w> 10, &</w> 11,
// <|startoftext|> 12, <|endoftext|> 13, é</w> 14 (bytes C3 A9 → "Ã©"), 's</w> 15, s</w> 16, ' 17.
// Merges by rank: "b c</w>" 0, "a b" 1, "ab c</w>" 2, "Ã ©</w>" 3, "' s</w>" 4.
const char* kVocab =
    R"({"!": 0, "!</w>": 1, "a": 2, "b": 3, "c": 4, "a</w>": 5, "b</w>": 6, "c</w>": 7, "ab": 8,
        "abc</w>": 9, "bc</w>": 10, "&</w>": 11, "<|startoftext|>": 12, "<|endoftext|>": 13,
        "Ã©</w>": 14, "'s</w>": 15, "s</w>": 16, "'": 17})";
const char* kMerges = "#version: 0.2\nb c</w>\na b\nab c</w>\nÃ ©</w>\n' s</w>\n";

fs::path tiny_dir(const std::string& name, const std::string& special_tokens_map = "", int max_length = 8) {
  auto dir = test::temp_dir(name);
  write(dir / "vocab.json", kVocab);
  write(dir / "merges.txt", kMerges);
  write(dir / "tokenizer_config.json", R"({"model_max_length": )" + std::to_string(max_length) +
                                           R"(, "bos_token": {"content": "<|startoftext|>", "__type": "AddedToken"},
                                           "pad_token": "<|endoftext|>"})");
  if (!special_tokens_map.empty()) write(dir / "special_tokens_map.json", special_tokens_map);
  return dir;
}

using Ids = std::vector<int64_t>;

std::string clean(const std::string& s) { return clip_text::clip_clean_text(s); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Tokenizer, BpeAppliesMergesByRankNotPosition) {
  auto tok = CLIPTokenizer::from_dir(tiny_dir("bpe"));
  // a b c</w>: "b c</w>" (rank 0) beats "a b" (rank 1), so "ab c</w>" never becomes possible.
  EXPECT_EQ(tok.encode("abc"), (Ids{12, 2, 10, 13}));
  // a b a</w>: only "a b" applies.
  EXPECT_EQ(tok.encode("aba"), (Ids{12, 8, 5, 13}));
  // "</w>" sits on the last character, so "a b" does not match a b</w>.
  EXPECT_EQ(tok.encode("ab"), (Ids{12, 2, 6, 13}));
  EXPECT_EQ(tok.encode("a c"), (Ids{12, 5, 7, 13}));
  EXPECT_EQ(tok.encode("A  B\n"), (Ids{12, 5, 6, 13}));  // lowercased, whitespace dropped
  EXPECT_EQ(tok.encode("'s"), (Ids{12, 15, 13}));         // the pattern's 's alternative, then "' s</w>"
  EXPECT_EQ(tok.encode("z"), (Ids{12, 13, 13}));          // "z</w>" is not in the vocabulary: unk
  EXPECT_EQ(tok.encode(""), (Ids{12, 13}));
}

TEST(Tokenizer, TruncationKeepsEosLastAndPads) {
  auto tok = CLIPTokenizer::from_dir(tiny_dir("truncate", "", 5));
  ASSERT_EQ(tok.model_max_length(), 5);
  EXPECT_EQ(tok.encode("a b c a b").size(), 7u);  // encode() is neither truncated nor padded
  auto ids = tok({"a b c a b", "b", ""});
  const auto expected = torch::tensor({12, 5, 6, 7, 13, 12, 6, 13, 13, 13, 12, 13, 13, 13, 13}, torch::kInt64).view({3, 5});
  EXPECT_EQ(ids.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(ids, expected)) << ids;
  EXPECT_EQ(ids[0][4].item<int64_t>(), tok.eos_id());
}

TEST(Tokenizer, BangPadTokenIsSplitOutAsSpecial) {
  // SD2's special_tokens_map.json: pad_token "!" overrides tokenizer_config.json's "<|endoftext|>".
  auto bang = CLIPTokenizer::from_dir(tiny_dir("bang", R"({"pad_token": "!", "eos_token": {"content": "<|endoftext|>"}})", 6));
  EXPECT_EQ(bang.pad_id(), 0);
  EXPECT_EQ(bang.encode("a!b"), (Ids{12, 5, 0, 6, 13}));  // "!" (id 0), not "!</w>" (id 1)
  EXPECT_EQ(bang.encode("a !! "), (Ids{12, 5, 0, 0, 13}));
  EXPECT_TRUE(torch::equal(bang({"a!"}), torch::tensor({12, 5, 0, 13, 0, 0}, torch::kInt64).view({1, 6})));
  auto plain = CLIPTokenizer::from_dir(tiny_dir("no-bang"));
  EXPECT_EQ(plain.pad_id(), 13);
  EXPECT_EQ(plain.encode("a!b"), (Ids{12, 5, 1, 6, 13}));
}

TEST(Tokenizer, SpecialTokensInTheText) {
  auto tok = CLIPTokenizer::from_dir(tiny_dir("special"));
  EXPECT_EQ(tok.encode("a<|endoftext|>b"), (Ids{12, 5, 13, 6, 13}));
  EXPECT_EQ(tok.encode("<|startoftext|>a"), (Ids{12, 12, 5, 13}));
  // Not split (the match is case-sensitive), but lowercased and matched whole by the pattern; the BPE cache
  // starts out holding "<|endoftext|>", so it stays one token without "</w>".
  EXPECT_EQ(tok.encode("a <|ENDOFTEXT|>"), (Ids{12, 5, 13, 13}));
  // Entities are unescaped after the split, so this too becomes the pattern's "<|endoftext|>".
  EXPECT_EQ(tok.encode("&lt;|endoftext|&gt;"), (Ids{12, 13, 13}));
}

TEST(Tokenizer, HtmlEntitiesAreUnescaped) {
  auto tok = CLIPTokenizer::from_dir(tiny_dir("html"));
  EXPECT_EQ(tok.encode("a &amp; b"), (Ids{12, 5, 11, 6, 13}));
  EXPECT_EQ(tok.encode("a &amp;amp; b"), (Ids{12, 5, 11, 6, 13}));  // ftfy repeats until nothing changes
  EXPECT_EQ(tok.encode("&#233;"), (Ids{12, 14, 13}));
  EXPECT_EQ(tok.encode("&#xE9;"), (Ids{12, 14, 13}));
  EXPECT_EQ(tok.encode("&eacute;"), (Ids{12, 14, 13}));
  EXPECT_EQ(tok.encode("&EACUTE;"), (Ids{12, 14, 13}));  // all-caps spelling → "É", then lowercased
}

TEST(Tokenizer, DecodeRoundTrip) {
  auto tok = CLIPTokenizer::from_dir(tiny_dir("decode"));
  EXPECT_EQ(tok.decode(tok.encode("a abc")), "a abc");
  EXPECT_EQ(tok.decode(tok.encode("A &amp; B")), "a & b");
  EXPECT_EQ(tok.decode(tok.encode("&#233;")), "\u00e9");
  EXPECT_EQ(tok.decode(tok.encode("a!")), "a!");  // "a !" before clean_up_tokenization
  EXPECT_EQ(tok.decode({12, 5, 13, 13, 13}), "a");
  EXPECT_EQ(tok.decode({2, 3, 4}), "abc");  // no "</w>": no space
  EXPECT_THROW(tok.decode({99}), UsageError);
}

TEST(Tokenizer, AddedTokensAreWholeWords) {
  auto dir = tiny_dir("added");
  auto tok = CLIPTokenizer::from_dir(dir);
  const int64_t n = tok.vocab_size();
  EXPECT_EQ(n, 18);
  EXPECT_EQ(tok.add_token("<cat-toy>"), n);
  EXPECT_EQ(tok.add_token("<cat-toy>"), n);
  EXPECT_EQ(tok.add_token("a"), 2);  // already in the vocabulary: not added
  EXPECT_EQ(tok.vocab_size(), n + 1);
  EXPECT_EQ(tok.token_to_id("<cat-toy>"), n);
  EXPECT_EQ(tok.token_to_id("nope"), -1);
  EXPECT_EQ(tok.encode("a <cat-toy> b"), (Ids{12, 5, n, 6, 13}));
  EXPECT_EQ(tok.encode("a<cat-toy>b"), (Ids{12, 5, n, 6, 13}));
  EXPECT_EQ(tok.decode(tok.encode("a<cat-toy>b")), "a <cat-toy> b");

  write(dir / "added_tokens.json", R"({"<dog-toy>": 19, "<cat-toy>": 18})");
  auto saved = CLIPTokenizer::from_dir(dir);
  EXPECT_EQ(saved.token_to_id("<cat-toy>"), 18);
  EXPECT_EQ(saved.token_to_id("<dog-toy>"), 19);
  write(dir / "added_tokens.json", R"({"<dog-toy>": 20})");
  EXPECT_NE(error_of([&] { CLIPTokenizer::from_dir(dir); }).find("added_tokens.json"), std::string::npos);
}

TEST(Tokenizer, ConcurrentEncodeMatchesSerial) {
  auto tok = CLIPTokenizer::from_dir(tiny_dir("threads"));
  const std::vector<std::string> texts = {"abc aba", "a &amp; b", "c b a", "&#233; 's", "ab ab ab"};
  const auto fresh = CLIPTokenizer::from_dir(tiny_dir("threads-ref"));  // its own, empty cache
  std::vector<Ids> serial;
  for (const auto& t : texts) serial.push_back(fresh.encode(t));
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (int rep = 0; rep < 200; ++rep)
        for (size_t i = 0; i < texts.size(); ++i) bad[static_cast<size_t>(k)] += tok.encode(texts[i]) != serial[i];
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad, std::vector<int>(4, 0));
}

TEST(Tokenizer, MissingOrBrokenFilesAreNamed) {
  auto dir = test::temp_dir("missing");
  EXPECT_NE(error_of([&] { CLIPTokenizer::from_dir(dir); }).find("vocab.json"), std::string::npos);
  write(dir / "vocab.json", kVocab);
  EXPECT_NE(error_of([&] { CLIPTokenizer::from_dir(dir); }).find("merges.txt"), std::string::npos);
  write(dir / "merges.txt", kMerges);
  write(dir / "tokenizer_config.json", "{\"model_max_length\": 77,");
  const auto config_error = error_of([&] { CLIPTokenizer::from_dir(dir); });
  EXPECT_NE(config_error.find("tokenizer_config.json"), std::string::npos) << config_error;
  EXPECT_NE(config_error.find("not valid JSON"), std::string::npos) << config_error;
  write(dir / "vocab.json", "{\"a\": 0");
  EXPECT_NE(error_of([&] { CLIPTokenizer::from_dir(dir); }).find("vocab.json"), std::string::npos);
  write(dir / "vocab.json", kVocab);
  write(dir / "tokenizer_config.json", R"({"eos_token": "<eos>"})");
  EXPECT_NE(error_of([&] { CLIPTokenizer::from_dir(dir); }).find("'<eos>' is not in vocab.json"), std::string::npos);
  EXPECT_THROW(CLIPTokenizer().encode("a"), UsageError);
}

// Expected strings below are what Python 3 gives for whitespace_clean(fix_text(s)).lower(), fix_text being
// ftfy 6.1.1's fixers as its source has them (html.entities, html.unescape, unicodedata and str.lower are
// Python's own).
TEST(TextClean, HtmlUnescapeAsFtfy) {
  EXPECT_EQ(clean("HTML &amp; entities &lt;3"), "html & entities <3");
  EXPECT_EQ(clean("&amp;lt;"), "<");
  EXPECT_EQ(clean("x < y &amp; z"), "x < y &amp; z");  // a literal '<' turns unescaping off ("auto")
  EXPECT_EQ(clean("a &amp;\nb < &amp;"), "a & b < &amp;");  // … from the line holding it on
  EXPECT_EQ(clean("&#65;&#x42;&#X43;&#0068;"), "abcd");
  EXPECT_EQ(clean("&#128;&#x99;"), "\u20ac\u2122");  // Windows-1252 for C1 references
  EXPECT_EQ(clean("&#0;|&#x110000;|&#xD800;"), "\ufffd|\ufffd|\ufffd");
  EXPECT_EQ(clean("a&#1;b&#xFFFF;c"), "abc");  // invalid code points decode to nothing
  EXPECT_EQ(clean("&#12ab; &#x; &bogus; &amp"), "&#12ab; &#x; &bogus; &amp");
  EXPECT_EQ(clean("&NTILDE; &nTILDE; &SZLIG;"), "\u00f1 &ntilde; ss");
  EXPECT_EQ(clean("&hellip;&rsquo;&nbsp;&NewLine;x"), "\u2026' x");  // …; ’ uncurled; nbsp, \n spaces
  EXPECT_EQ(clean("&Jscr;&HilbertSpace;"), "\U0001d4a5\u210b");
  const std::string long_name = "&" + std::string(25, 'a') + ";";  // names have at most 24 characters
  EXPECT_EQ(clean(long_name), long_name);
}

TEST(TextClean, FtfyFixers) {
  EXPECT_EQ(clean("zero\u200bwidth"), "zero\u200bwidth");  // ftfy keeps U+200B; it is not \s either
  EXPECT_EQ(clean("a\u00a0non-breaking"), "a non-breaking");
  EXPECT_EQ(clean("  a\tb\r\nc\rd\u2028e\u3000f\x0c "), "a b c d e f");
  EXPECT_EQ(clean("wait\u0085"), "wait\u2026");  // C1 control → Windows-1252 before line breaks are fixed
  EXPECT_EQ(clean("it\u2019s \u201cok\u201d \u02bcn"), "it's \"ok\" 'n");
  EXPECT_EQ(clean("\ufb01sh \ufb03 \u01c6 \u0149"), "fish ffi d\u017e 'n");
  EXPECT_EQ(clean("\uff21\uff22\uff23\uff01 \uff76\uff9e"), "abc! \u30ac");  // fullwidth; halfwidth kana + NFC
  EXPECT_EQ(clean("e\u0301"), "\u00e9");                                   // NFC
  EXPECT_EQ(clean("\x1b[31mred\x1b[0m a\x07" "b\ufeff"), "red ab");
  EXPECT_EQ(clean("\U0001F3F4\U000E0067\U000E007F"), "\U0001F3F4\U000E0067\U000E007F");  // tag characters stay
  EXPECT_EQ(clean(" \t\n "), "");
}

TEST(TextClean, PythonLower) {
  EXPECT_EQ(clean("\u0130stanbul"), "i\u0307stanbul");
  EXPECT_EQ(clean("\u039f\u0394\u039f\u03a3 \u03a3\u0391 \u03a3"), "\u03bf\u03b4\u03bf\u03c2 \u03c3\u03b1 \u03c3");
  EXPECT_EQ(clean("\u00c5NGSTR\u00d6M \u1e9e \u01c5"), "\u00e5ngstr\u00f6m \u00df d\u017e");
  EXPECT_EQ(clean("MiXeD CaSe"), "mixed case");
}

TEST(TextClean, Utf8) {
  EXPECT_EQ(clip_text::decode_utf8_replace("a\xc3\xa9\xff\xe2\x82z\xf0\x9f\x90\xb1"), U"a\u00e9\ufffd\ufffdz\U0001f431");
  EXPECT_EQ(clip_text::decode_utf8_replace("\xed\xa0\x80"), U"\ufffd\ufffd\ufffd");  // surrogates are invalid
  const auto msg = error_of([] { clean("ok\xff"); });
  EXPECT_NE(msg.find("not valid UTF-8 at byte 2"), std::string::npos) << msg;
}
