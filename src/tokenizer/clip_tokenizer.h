// CLIP byte-level BPE tokenizer, configured from a tokenizer/ folder (vocab.json, merges.txt,
// tokenizer_config.json, special_tokens_map.json).
// Source: transformers 4.30.0 src/transformers/models/clip/tokenization_clip.py (CLIPTokenizer, with ftfy
// installed: text = whitespace_clean(ftfy.fix_text(text)).lower()) and tokenization_utils.py (special-token
// splitting, truncation, padding).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sculpt {

class CLIPTokenizer {
 public:
  CLIPTokenizer() = default;
  static CLIPTokenizer from_dir(const std::filesystem::path& tokenizer_dir);

  // BOS, tokens, EOS; neither truncated nor padded.
  std::vector<int64_t> encode(const std::string& text) const;
  // int64 [N, model_max_length]: truncated (EOS kept last) and padded with the pad token.
  torch::Tensor operator()(const std::vector<std::string>& prompts) const;
  // Token strings without BOS/EOS/padding, "</w>" read as a space.
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t token_to_id(const std::string& token) const;  // -1 when absent
  // Appends a whole-word token that is never split (textual inversion); returns its id.
  int64_t add_token(const std::string& token);

  int64_t vocab_size() const { return static_cast<int64_t>(id_to_token_.size()); }
  int64_t model_max_length() const { return model_max_length_; }
  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }

 private:
  std::vector<std::string> bpe(const std::string& word) const;  // word: byte-encoded chars
  void tokenize_plain(const std::string& text, std::vector<int64_t>& out) const;

  std::unordered_map<std::string, int64_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::unordered_map<std::string, int64_t> merge_ranks_;  // "a b" → rank
  std::vector<std::string> no_split_tokens_;              // special and added tokens, longest first
  int64_t model_max_length_ = 77, bos_id_ = -1, eos_id_ = -1, pad_id_ = -1, unk_id_ = -1;
  // The BPE cache is shared by copies and guarded, so one tokenizer may serve several threads.
  struct Cache {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<std::string>> words;
  };
  std::shared_ptr<Cache> cache_ = std::make_shared<Cache>();
};

// ftfy.fix_text for what occurs in prompts, then whitespace_clean and Python's str.lower().
std::string clip_clean_text(const std::string& text);

}  // namespace sculpt
