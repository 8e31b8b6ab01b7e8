// CLIP byte-level BPE tokenizer, configured from a tokenizer/ folder (vocab.json, merges.txt and, when
// present, tokenizer_config.json, special_tokens_map.json, added_tokens.json).
// Source: transformers 4.30.0 src/transformers/models/clip/tokenization_clip.py (CLIPTokenizer with ftfy
// installed) and src/transformers/tokenization_utils.py / tokenization_utils_base.py (splitting on special
// and added tokens, truncation, padding, decode).
//
// Thread safety: the const methods may be called from several threads at once. The BPE cache is the only
// mutable state; it is guarded by a mutex and shared by copies of a tokenizer (their merges are the same).
// add_token() is not thread-safe: call it before sharing the tokenizer.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace sculpt {

class CLIPTokenizer {
 public:
  CLIPTokenizer() = default;  // empty: assign from_dir() before use
  static CLIPTokenizer from_dir(const std::filesystem::path& tokenizer_dir);

  // BOS, tokens, EOS; neither truncated nor padded (len(tokenizer(text).input_ids)).
  std::vector<int64_t> encode(const std::string& text) const;
  // int64 [N, model_max_length]: tokenizer(prompts, padding="max_length", truncation=True) — the text
  // tokens are cut to model_max_length - 2 so that EOS stays last; short rows are padded with pad_id().
  torch::Tensor operator()(const std::vector<std::string>& prompts) const;
  // tokenizer.decode(ids, skip_special_tokens=True): BOS/EOS/PAD/UNK ids are dropped, "</w>" reads as a
  // space, added tokens stand as words of their own, then clean_up_tokenization (" ," → "," …).
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t token_to_id(const std::string& token) const;  // -1 when absent
  // tokenizer.add_tokens(token): appends a token that is never split (textual inversion) and returns its
  // id; a token already in the vocabulary is not added and its id is returned.
  int64_t add_token(const std::string& token);

  int64_t vocab_size() const { return static_cast<int64_t>(id_to_token_.size()); }  // len(tokenizer)
  int64_t model_max_length() const { return model_max_length_; }
  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }

 private:
  std::vector<std::string> bpe(const std::string& word) const;  // word: bytes_to_unicode characters
  void tokenize_plain(const std::string& text, std::vector<int64_t>& out) const;
  void check_loaded() const;

  std::unordered_map<std::string, int64_t> vocab_;  // vocab.json plus added tokens
  std::vector<std::string> id_to_token_;
  std::unordered_map<std::string, int64_t> merge_ranks_;  // "first second" → rank
  std::vector<std::string> no_split_tokens_;              // special and added tokens, longest first
  std::unordered_set<std::string> added_tokens_;          // tokens appended after vocab.json
  int64_t model_max_length_ = 77, bos_id_ = -1, eos_id_ = -1, pad_id_ = -1, unk_id_ = -1;
  struct Cache {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<std::string>> words;
  };
  std::shared_ptr<Cache> cache_ = std::make_shared<Cache>();
};

// CLIPTokenizer._tokenize up to the BPE step, for learning a vocabulary (toyworld/bpe_trainer): the text
// cleaned and lowercased, split by CLIP's pattern, each piece mapped byte by byte through bytes_to_unicode.
std::vector<std::string> clip_pretokenize(const std::string& text);

// bytes_to_unicode(): the printable character (UTF-8) that stands for each byte, indexed by byte.
const std::vector<std::string>& clip_byte_encoder();

}  // namespace sculpt
