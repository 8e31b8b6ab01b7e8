#include "tokenizer/clip_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/check.h"

namespace sculpt {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// GPT-2/CLIP bytes_to_unicode: every byte maps to a printable character (UTF-8 encoded here).
const std::vector<std::string>& byte_encoder() {
  static const std::vector<std::string> table = [] {
    std::vector<int> bs;
    for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
    for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
    for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
    std::vector<int> cs = bs;
    int n = 0;
    for (int b = 0; b < 256; ++b)
      if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
        bs.push_back(b);
        cs.push_back(256 + n++);
      }
    std::vector<std::string> out(256);
    for (size_t i = 0; i < bs.size(); ++i) {
      std::string s;
      const int c = cs[i];
      if (c < 0x80) s.push_back(static_cast<char>(c));
      else {
        s.push_back(static_cast<char>(0xC0 | (c >> 6)));
        s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
      }
      out[static_cast<size_t>(bs[i])] = s;
    }
    return out;
  }();
  return table;
}

// CLIP's pre-tokenization pattern (case-insensitive, Unicode classes).
class Pattern {
 public:
  Pattern() {
    const char* pat =
        R"(<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+)";
    int err = 0;
    PCRE2_SIZE off = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pat), PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &err, &off, nullptr);
    SCULPT_CHECK(code_ != nullptr, "internal: CLIP pattern does not compile (PCRE2 error ", err, ")");
  }
  ~Pattern() { pcre2_code_free(code_); }
  std::vector<std::string> find_all(const std::string& text) const {
    std::vector<std::string> out;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
    PCRE2_SIZE start = 0;
    while (start <= text.size()) {
      const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start, 0, md, nullptr);
      if (rc < 0) break;
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      if (ov[1] == ov[0]) {  // empty match cannot happen with this pattern; guard anyway
        ++start;
        continue;
      }
      out.emplace_back(text.substr(ov[0], ov[1] - ov[0]));
      start = ov[1];
    }
    pcre2_match_data_free(md);
    return out;
  }

 private:
  pcre2_code* code_ = nullptr;
};

const Pattern& clip_pattern() {
  static const Pattern p;
  return p;
}

// Splits a UTF-8 string into characters.
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

json read_json(const fs::path& path) {
  std::ifstream in(path);
  SCULPT_CHECK(in.good(), "cannot read ", path, fs::exists(path) ? "" : ": no such file");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    SCULPT_CHECK(false, path, " is not valid JSON (", e.what(), ")");
  }
  return {};
}

// A special token is a plain string or an AddedToken object {"content": …}.
std::string token_content(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content")) return v["content"].get<std::string>();
  return "";
}

}  // namespace

CLIPTokenizer CLIPTokenizer::from_dir(const fs::path& dir) {
  CLIPTokenizer t;
  const auto vocab_path = dir / "vocab.json";
  const json vocab = read_json(vocab_path);
  SCULPT_CHECK(vocab.is_object() && !vocab.empty(), vocab_path, " is not a token → id object");
  t.id_to_token_.resize(vocab.size());
  for (auto& [tok, id] : vocab.items()) {
    SCULPT_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<size_t>() < vocab.size(), vocab_path,
                 ": token '", tok, "' has id ", id.dump(), " outside 0..", vocab.size() - 1);
    t.vocab_[tok] = id.get<int64_t>();
    t.id_to_token_[id.get<size_t>()] = tok;
  }

  const auto merges_path = dir / "merges.txt";
  std::ifstream merges(merges_path);
  SCULPT_CHECK(merges.good(), "cannot read ", merges_path, fs::exists(merges_path) ? "" : ": no such file");
  std::string line;
  int64_t rank = 0;
  while (std::getline(merges, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    SCULPT_CHECK(line.find(' ') != std::string::npos, merges_path, ": line '", line, "' is not a merge pair");
    t.merge_ranks_.emplace(line, rank++);
  }

  json cfg = fs::exists(dir / "tokenizer_config.json") ? read_json(dir / "tokenizer_config.json") : json::object();
  json special = fs::exists(dir / "special_tokens_map.json") ? read_json(dir / "special_tokens_map.json") : json::object();
  auto special_token = [&](const char* key, const std::string& fallback) {
    std::string v = special.contains(key) ? token_content(special[key]) : "";
    if (v.empty() && cfg.contains(key)) v = token_content(cfg[key]);
    return v.empty() ? fallback : v;
  };
  auto id_of = [&](const std::string& tok, const char* role) {
    auto it = t.vocab_.find(tok);
    SCULPT_CHECK(it != t.vocab_.end(), dir, ": ", role, " token '", tok, "' is not in vocab.json");
    return it->second;
  };
  const auto bos = special_token("bos_token", "<|startoftext|>");
  const auto eos = special_token("eos_token", "<|endoftext|>");
  const auto unk = special_token("unk_token", "<|endoftext|>");
  const auto pad = special_token("pad_token", "<|endoftext|>");
  t.bos_id_ = id_of(bos, "bos");
  t.eos_id_ = id_of(eos, "eos");
  t.unk_id_ = id_of(unk, "unk");
  t.pad_id_ = id_of(pad, "pad");
  if (cfg.contains("model_max_length") && cfg["model_max_length"].is_number()) {
    // Some configs store a huge sentinel (1e30) for "no limit": keep CLIP's 77 then.
    const double m = cfg["model_max_length"].get<double>();
    if (m > 0 && m < 1e6) t.model_max_length_ = static_cast<int64_t>(m);
  }
  for (const auto& s : {bos, eos, unk, pad})
    if (std::find(t.no_split_tokens_.begin(), t.no_split_tokens_.end(), s) == t.no_split_tokens_.end())
      t.no_split_tokens_.push_back(s);
  std::sort(t.no_split_tokens_.begin(), t.no_split_tokens_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return t;
}

std::vector<std::string> CLIPTokenizer::bpe(const std::string& token) const {
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    auto it = cache_->words.find(token);
    if (it != cache_->words.end()) return it->second;
  }
  std::vector<std::string> word = utf8_chars(token);
  word.back() += "</w>";
  while (word.size() > 1) {
    int64_t best = INT64_MAX;
    size_t best_i = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = merge_ranks_.find(word[i] + " " + word[i + 1]);
      if (it != merge_ranks_.end() && it->second < best) {
        best = it->second;
        best_i = i;
      }
    }
    if (best == INT64_MAX) break;
    // Merge every occurrence of the best pair, left to right.
    const std::string first = word[best_i], second = word[best_i + 1];
    std::vector<std::string> merged;
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i++]);
      }
    }
    word = std::move(merged);
  }
  std::lock_guard<std::mutex> lock(cache_->mutex);
  cache_->words.emplace(token, word);
  return word;
}

void CLIPTokenizer::tokenize_plain(const std::string& text, std::vector<int64_t>& out) const {
  const auto& enc = byte_encoder();
  for (const auto& piece : clip_pattern().find_all(clip_clean_text(text))) {
    std::string mapped;
    for (unsigned char b : piece) mapped += enc[b];
    for (const auto& tok : bpe(mapped)) {
      auto it = vocab_.find(tok);
      out.push_back(it != vocab_.end() ? it->second : unk_id_);
    }
  }
}

std::vector<int64_t> CLIPTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids{bos_id_};
  // Special and added tokens in the raw text are matched first (longest first, leftmost);
  // the text between them is tokenized normally, as transformers' trie split does.
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t best_at = std::string::npos;
    const std::string* best = nullptr;
    for (const auto& s : no_split_tokens_) {
      const size_t at = text.find(s, pos);
      if (at != std::string::npos && (at < best_at || (at == best_at && s.size() > best->size()))) {
        best_at = at;
        best = &s;
      }
    }
    tokenize_plain(text.substr(pos, best ? best_at - pos : std::string::npos), ids);
    if (!best) break;
    ids.push_back(vocab_.at(*best));
    pos = best_at + best->size();
  }
  ids.push_back(eos_id_);
  return ids;
}

torch::Tensor CLIPTokenizer::operator()(const std::vector<std::string>& prompts) const {
  const int64_t n = static_cast<int64_t>(prompts.size()), len = model_max_length_;
  auto out = torch::full({n, len}, pad_id_, torch::kInt64);
  auto acc = out.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    auto ids = encode(prompts[static_cast<size_t>(i)]);
    if (static_cast<int64_t>(ids.size()) > len) {  // truncate the tokens, keep BOS … EOS
      ids.resize(static_cast<size_t>(len));
      ids.back() = eos_id_;
    }
    for (size_t j = 0; j < ids.size(); ++j) acc[i][static_cast<int64_t>(j)] = ids[j];
  }
  return out;
}

std::string CLIPTokenizer::decode(const std::vector<int64_t>& ids) const {
  static const std::map<std::string, unsigned char> decoder = [] {
    std::map<std::string, unsigned char> d;
    const auto& enc = byte_encoder();
    for (int b = 0; b < 256; ++b) d[enc[static_cast<size_t>(b)]] = static_cast<unsigned char>(b);
    return d;
  }();
  std::string joined;
  for (auto id : ids) {
    if (id == bos_id_ || id == eos_id_ || id == pad_id_ || id < 0 || id >= vocab_size()) continue;
    joined += id_to_token_[static_cast<size_t>(id)];
  }
  std::string text;
  size_t i = 0;
  while (i < joined.size()) {
    if (joined.compare(i, 4, "</w>") == 0) {
      text.push_back(' ');
      i += 4;
      continue;
    }
    const auto c = static_cast<unsigned char>(joined[i]);
    const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    auto it = decoder.find(joined.substr(i, len));
    if (it != decoder.end()) text.push_back(static_cast<char>(it->second));
    else text += joined.substr(i, len);  // an added token's own characters
    i += len;
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

int64_t CLIPTokenizer::token_to_id(const std::string& token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

int64_t CLIPTokenizer::add_token(const std::string& token) {
  SCULPT_USAGE_CHECK(!token.empty(), "cannot add an empty token");
  if (auto id = token_to_id(token); id >= 0) return id;
  const int64_t id = vocab_size();
  vocab_[token] = id;
  id_to_token_.push_back(token);
  no_split_tokens_.push_back(token);
  std::sort(no_split_tokens_.begin(), no_split_tokens_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return id;
}

}  // namespace sculpt
