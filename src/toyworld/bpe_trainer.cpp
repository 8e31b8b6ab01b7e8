#include "toyworld/bpe_trainer.h"

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "core/check.h"
#include "io/atomic_file.h"
#include "tokenizer/clip_tokenizer.h"

namespace sculpt::toyworld {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kBos = "<|startoftext|>";
constexpr const char* kEos = "<|endoftext|>";

std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    out.push_back(s.substr(i, len));
    i += len;
  }
  return out;
}

// bytes_to_unicode().values() in CLIP's order: bytes '!'..'~', '¡'..'¬', '®'..'ÿ', then the others.
std::vector<std::string> base_symbols() {
  const auto& enc = clip_byte_encoder();
  std::vector<std::string> out;
  auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
  for (int b = 0; b < 256; ++b)
    if (printable(b)) out.push_back(enc[static_cast<size_t>(b)]);
  for (int b = 0; b < 256; ++b)
    if (!printable(b)) out.push_back(enc[static_cast<size_t>(b)]);
  return out;
}

json special_token(const char* content) {
  return {{"content", content}, {"lstrip", false}, {"normalized", true}, {"rstrip", false}, {"single_word", false}};
}

}  // namespace

BpeModel bpe_learn(const std::vector<std::string>& corpus, int64_t vocab_size, int64_t min_frequency) {
  SCULPT_USAGE_CHECK(vocab_size >= 514, "a CLIP vocabulary needs at least 514 tokens (512 byte symbols and 2 "
                     "specials), not ", vocab_size);
  SCULPT_USAGE_CHECK(min_frequency >= 1, "min_frequency must be >= 1, not ", min_frequency);
  // Distinct words (sorted: the result does not depend on hash order) with their counts.
  std::map<std::string, int64_t> counts;
  for (const auto& text : corpus)
    for (auto& w : clip_pretokenize(text)) ++counts[w];
  std::vector<std::vector<std::string>> words;
  std::vector<int64_t> freq;
  for (const auto& [w, c] : counts) {
    auto sym = utf8_chars(w);
    sym.back() += "</w>";
    words.push_back(std::move(sym));
    freq.push_back(c);
  }

  BpeModel m;
  m.vocab = base_symbols();
  for (size_t i = 0, n = m.vocab.size(); i < n; ++i) m.vocab.push_back(m.vocab[i] + "</w>");
  std::set<std::string> present(m.vocab.begin(), m.vocab.end());
  const auto target = static_cast<size_t>(vocab_size - 2);
  while (m.vocab.size() < target) {
    std::map<std::pair<std::string, std::string>, int64_t> pairs;
    for (size_t i = 0; i < words.size(); ++i)
      for (size_t j = 0; j + 1 < words[i].size(); ++j) pairs[{words[i][j], words[i][j + 1]}] += freq[i];
    // Most frequent; among equals the first in map order, i.e. the smallest (first, second).
    const std::pair<std::string, std::string>* best = nullptr;
    int64_t best_count = 0;
    for (const auto& [p, c] : pairs)
      if (c > best_count) {
        best = &p;
        best_count = c;
      }
    if (!best || best_count < min_frequency) break;
    const auto [a, b] = *best;
    for (auto& w : words) {
      std::vector<std::string> merged;
      for (size_t j = 0; j < w.size();) {
        if (j + 1 < w.size() && w[j] == a && w[j + 1] == b) {
          merged.push_back(a + b);
          j += 2;
        } else {
          merged.push_back(w[j++]);
        }
      }
      w = std::move(merged);
    }
    m.merges.emplace_back(a, b);
    if (present.insert(a + b).second) m.vocab.push_back(a + b);
  }
  m.vocab.emplace_back(kBos);
  m.vocab.emplace_back(kEos);
  return m;
}

void bpe_write(const BpeModel& model, int64_t model_max_length, const fs::path& out_dir) {
  SCULPT_USAGE_CHECK(model_max_length >= 2, "model_max_length ", model_max_length, " leaves no room for BOS and EOS");
  fs::create_directories(out_dir);
  json vocab = json::object();
  for (size_t i = 0; i < model.vocab.size(); ++i) {
    SCULPT_CHECK(!vocab.contains(model.vocab[i]), "internal: token '", model.vocab[i], "' twice in the vocabulary");
    vocab[model.vocab[i]] = static_cast<int64_t>(i);
  }
  std::string merges = "#version: 0.2\n";
  for (const auto& [a, b] : model.merges) merges += a + " " + b + "\n";

  const json special = {{"bos_token", special_token(kBos)}, {"eos_token", special_token(kEos)},
                        {"pad_token", kEos}, {"unk_token", special_token(kEos)}};
  json config = {{"add_prefix_space", false}, {"errors", "replace"}, {"do_lower_case", true},
                 {"model_max_length", model_max_length}, {"tokenizer_class", "CLIPTokenizer"}};
  for (const auto& [k, v] : special.items()) {
    config[k] = v;
    if (v.is_object()) config[k]["__type"] = "AddedToken";
  }
  write_file_atomically(out_dir / "vocab.json", vocab.dump() + "\n");
  write_file_atomically(out_dir / "merges.txt", merges);
  write_file_atomically(out_dir / "special_tokens_map.json", special.dump(2) + "\n");
  write_file_atomically(out_dir / "tokenizer_config.json", config.dump(2) + "\n");
}

BpeModel bpe_train(const std::vector<std::string>& corpus, int64_t vocab_size, int64_t model_max_length,
                   const fs::path& out_dir) {
  auto model = bpe_learn(corpus, vocab_size);
  bpe_write(model, model_max_length, out_dir);
  return model;
}

}  // namespace sculpt::toyworld
