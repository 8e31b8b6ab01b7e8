// Source: transformers 4.30.0 src/transformers/models/clip/tokenization_clip.py (bytes_to_unicode, CLIPTokenizer
// __init__/bpe/_tokenize/convert_tokens_to_string), src/transformers/tokenization_utils.py (tokenize: split on
// special and added tokens; _add_tokens; _decode) and tokenization_utils_base.py (from_pretrained: special
// tokens map, added_tokens.json; truncation and padding; clean_up_tokenization).
#include "tokenizer/clip_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/check.h"
#include "tokenizer/text_clean.h"

namespace sculpt {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Merges beyond this many are ignored: bpe_merges = merges.txt lines [1 : 49152 - 256 - 2 + 1].
constexpr size_t kMaxMerges = 49152 - 256 - 2;

// bytes_to_unicode: every byte maps to a printable character (UTF-8 encoded here); bytes that are printable
// Latin-1 map to themselves, the others to U+0100 onwards in byte order.
const std::vector<std::string>& byte_encoder() {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> out(256);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      out[static_cast<size_t>(b)] = clip_text::to_utf8(std::u32string(1, static_cast<char32_t>(printable ? b : next++)));
    }
    return out;
  }();
  return table;
}

// CLIPTokenizer.pat, compiled once (case-insensitive, Unicode classes). Matching is thread-safe.
// Two characters are matched as Python's `regex` module matches them, which PCRE2 would not do by itself:
// U+0345 (combining ypogegrammeni) matches no alternative there, because under IGNORECASE it folds to the
// letter ι and so leaves the negated class; U+180E (Mongolian vowel separator) is no `\s` there.
class Pattern {
 public:
  Pattern() {
    const char* pat =
        R"(<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|)"
        R"((?:[^\s\p{L}\p{N}\x{345}]|\x{180E})+)";
    int err = 0;
    PCRE2_SIZE off = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pat), PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &err, &off, nullptr);
    SCULPT_CHECK(code_ != nullptr, "internal: CLIP pattern does not compile (PCRE2 error ", err, ")");
  }
  ~Pattern() { pcre2_code_free(code_); }
  Pattern(const Pattern&) = delete;
  Pattern& operator=(const Pattern&) = delete;

  // re.findall(pat, text)
  std::vector<std::string> find_all(const std::string& text) const {
    std::vector<std::string> out;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
    PCRE2_SIZE start = 0;
    while (start < text.size()) {
      const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start, 0, md, nullptr);
      if (rc < 0) break;
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      if (ov[1] == ov[0]) break;  // the pattern never matches empty text; stop rather than loop
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

// Splits a UTF-8 string into its characters.
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

// merges.txt → {"first second": rank}, as CLIPTokenizer.__init__ reads it: the whole file stripped, split
// into lines, the first ("#version: …") dropped, at most kMaxMerges kept, each split on whitespace. A later
// duplicate overrides an earlier one (dict(zip(...))); lines that are not pairs keep their rank unused.
std::unordered_map<std::string, int64_t> read_merges(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  SCULPT_CHECK(in.good(), "cannot read ", path, fs::exists(path) ? "" : ": no such file");
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  const size_t begin = text.find_first_not_of(" \t\r\n\v\f");  // Python's str.strip()
  std::istringstream lines(begin == std::string::npos ? std::string() : text.substr(begin));
  std::unordered_map<std::string, int64_t> ranks;
  std::string line;
  std::getline(lines, line);  // the "#version" header
  for (int64_t rank = 0; static_cast<size_t>(rank) < kMaxMerges && std::getline(lines, line); ++rank) {
    std::istringstream fields(line);
    std::string first, second, extra;
    if (fields >> first >> second && !(fields >> extra)) ranks[first + " " + second] = rank;
  }
  return ranks;
}

// A special token is a plain string or an AddedToken object {"content": …}.
std::string token_content(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

void sort_longest_first(std::vector<std::string>& tokens) {
  std::stable_sort(tokens.begin(), tokens.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

// PreTrainedTokenizer.clean_up_tokenization
std::string clean_up_tokenization(std::string s) {
  static const std::pair<const char*, const char*> rules[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : rules) {
    const std::string f(from), t(to);
    std::string out;
    size_t pos = 0, at;
    while ((at = s.find(f, pos)) != std::string::npos) {
      out.append(s, pos, at - pos).append(t);
      pos = at + f.size();
    }
    s = out.append(s, pos, std::string::npos);
  }
  return s;
}

}  // namespace

CLIPTokenizer CLIPTokenizer::from_dir(const fs::path& dir) {
  CLIPTokenizer t;
  const auto vocab_path = dir / "vocab.json";
  const json vocab = read_json(vocab_path);
  SCULPT_CHECK(vocab.is_object() && !vocab.empty(), vocab_path, " is not a token → id object");
  t.id_to_token_.resize(vocab.size());
  std::vector<bool> seen(vocab.size(), false);
  for (const auto& [tok, id] : vocab.items()) {
    SCULPT_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<size_t>() < vocab.size(), vocab_path,
                 ": token '", tok, "' has id ", id.dump(), " outside 0..", vocab.size() - 1);
    const auto i = id.get<size_t>();
    SCULPT_CHECK(!seen[i], vocab_path, ": id ", i, " is used by both '", t.id_to_token_[i], "' and '", tok, "'");
    seen[i] = true;
    t.vocab_[tok] = static_cast<int64_t>(i);
    t.id_to_token_[i] = tok;
  }
  t.merge_ranks_ = read_merges(dir / "merges.txt");

  // tokenizer_config.json gives the constructor's arguments; special_tokens_map.json overrides them.
  const auto config_path = dir / "tokenizer_config.json", special_path = dir / "special_tokens_map.json";
  const json config = fs::exists(config_path) ? read_json(config_path) : json::object();
  const json special = fs::exists(special_path) ? read_json(special_path) : json::object();
  auto special_token = [&](const char* key, const std::string& fallback) {
    std::string v = special.contains(key) ? token_content(special[key]) : "";
    if (v.empty() && config.contains(key)) v = token_content(config[key]);
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
  if (config.contains("model_max_length")) {
    SCULPT_CHECK(config["model_max_length"].is_number(), config_path, ": model_max_length is ",
                 config["model_max_length"].dump(), ", not a number");
    // A huge value (int(1e30)) means "no limit" upstream; SD pipelines pad to it, so keep CLIP's 77 then.
    const double m = config["model_max_length"].get<double>();
    SCULPT_CHECK(m >= 2, config_path, ": model_max_length ", m, " leaves no room for BOS and EOS");
    if (m < 1e6) t.model_max_length_ = static_cast<int64_t>(m);
  }
  for (const auto& s : {bos, eos, unk, pad})
    if (std::find(t.no_split_tokens_.begin(), t.no_split_tokens_.end(), s) == t.no_split_tokens_.end())
      t.no_split_tokens_.push_back(s);
  sort_longest_first(t.no_split_tokens_);

  // added_tokens.json (tokens a saved tokenizer had appended, e.g. by textual inversion), in id order.
  const auto added_path = dir / "added_tokens.json";
  if (fs::exists(added_path)) {
    const json added = read_json(added_path);
    SCULPT_CHECK(added.is_object(), added_path, " is not a token → id object");
    std::vector<std::pair<int64_t, std::string>> by_id;
    for (const auto& [tok, id] : added.items()) {
      SCULPT_CHECK(id.is_number_integer(), added_path, ": token '", tok, "' has id ", id.dump());
      by_id.emplace_back(id.get<int64_t>(), tok);
    }
    std::sort(by_id.begin(), by_id.end());
    for (const auto& [id, tok] : by_id) {
      SCULPT_CHECK(id == t.vocab_size() && t.token_to_id(tok) < 0, added_path, ": token '", tok, "' has id ", id,
                   " but the next free id is ", t.vocab_size());
      t.add_token(tok);
    }
  }
  return t;
}

void CLIPTokenizer::check_loaded() const {
  SCULPT_USAGE_CHECK(!vocab_.empty(), "CLIPTokenizer used before loading: build it with CLIPTokenizer::from_dir");
}

std::vector<std::string> CLIPTokenizer::bpe(const std::string& token) const {
  // The cache starts out holding these two, so they come back whole, without "</w>".
  if (token == "<|startoftext|>" || token == "<|endoftext|>") return {token};
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    auto it = cache_->words.find(token);
    if (it != cache_->words.end()) return it->second;
  }
  std::vector<std::string> word = utf8_chars(token);
  word.back() += "</w>";
  while (word.size() > 1) {
    // The adjacent pair with the lowest merge rank …
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
    // … is merged wherever it occurs, left to right.
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

// CLIPTokenizer._tokenize + convert_tokens_to_ids for text holding no special or added token.
void CLIPTokenizer::tokenize_plain(const std::string& text, std::vector<int64_t>& out) const {
  const auto& enc = byte_encoder();
  for (const auto& piece : clip_pattern().find_all(clip_text::clip_clean_text(text))) {
    std::string mapped;
    for (unsigned char b : piece) mapped += enc[b];
    for (const auto& tok : bpe(mapped)) {
      auto it = vocab_.find(tok);
      out.push_back(it != vocab_.end() ? it->second : unk_id_);
    }
  }
}

std::vector<int64_t> CLIPTokenizer::encode(const std::string& text) const {
  check_loaded();
  std::vector<int64_t> ids{bos_id_};
  // Special and added tokens in the raw text are matched first (leftmost, then longest), as the trie of
  // tokenization_utils does; the text between them is cleaned and tokenized on its own.
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best_at = std::string::npos;
    const std::string* best = nullptr;
    for (const auto& s : no_split_tokens_) {  // longest first, so the first hit at a position is the longest
      const size_t at = text.find(s, pos);
      if (at < best_at) {
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
  check_loaded();
  const int64_t n = static_cast<int64_t>(prompts.size()), len = model_max_length_;
  auto out = torch::full({n, len}, pad_id_, torch::kInt64);  // [N, model_max_length]
  auto acc = out.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    auto ids = encode(prompts[static_cast<size_t>(i)]);
    if (static_cast<int64_t>(ids.size()) > len) {  // BOS + first len-2 tokens + EOS
      ids.resize(static_cast<size_t>(len));
      ids.back() = eos_id_;
    }
    for (size_t j = 0; j < ids.size(); ++j) acc[i][static_cast<int64_t>(j)] = ids[j];
  }
  return out;
}

std::string CLIPTokenizer::decode(const std::vector<int64_t>& ids) const {
  check_loaded();
  static const std::unordered_map<std::string, unsigned char> byte_decoder = [] {
    std::unordered_map<std::string, unsigned char> d;
    for (int b = 0; b < 256; ++b) d[byte_encoder()[static_cast<size_t>(b)]] = static_cast<unsigned char>(b);
    return d;
  }();
  // convert_tokens_to_string: byte-decode, UTF-8 with errors="replace", "</w>" → " ", strip.
  auto tokens_to_string = [&](const std::string& joined) {
    std::string bytes;
    for (const auto& ch : utf8_chars(joined)) {
      auto it = byte_decoder.find(ch);
      if (it != byte_decoder.end()) bytes.push_back(static_cast<char>(it->second));
      else bytes += ch;
    }
    std::string text = clip_text::to_utf8(clip_text::decode_utf8_replace(bytes)), spaced;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text.compare(i, 4, "</w>") == 0) {
        spaced.push_back(' ');
        i += 3;
      } else {
        spaced.push_back(text[i]);
      }
    }
    return clip_text::to_utf8(clip_text::python_strip(clip_text::to_u32(spaced)));
  };
  std::vector<std::string> sub_texts;
  std::string current;
  for (int64_t id : ids) {
    SCULPT_USAGE_CHECK(id >= 0 && id < vocab_size(), "cannot decode token id ", id, ": the vocabulary has ids 0..",
                       vocab_size() - 1);
    if (id == bos_id_ || id == eos_id_ || id == pad_id_ || id == unk_id_) continue;
    const std::string& tok = id_to_token_[static_cast<size_t>(id)];
    if (added_tokens_.count(tok)) {
      if (!current.empty()) sub_texts.push_back(tokens_to_string(current));
      current.clear();
      sub_texts.push_back(tok);
    } else {
      current += tok;
    }
  }
  if (!current.empty()) sub_texts.push_back(tokens_to_string(current));
  std::string text;
  for (size_t i = 0; i < sub_texts.size(); ++i) text += (i ? " " : "") + sub_texts[i];
  return clean_up_tokenization(text);
}

int64_t CLIPTokenizer::token_to_id(const std::string& token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

int64_t CLIPTokenizer::add_token(const std::string& token) {
  check_loaded();
  SCULPT_USAGE_CHECK(!token.empty(), "cannot add an empty token");
  if (auto id = token_to_id(token); id >= 0) return id;
  const int64_t id = vocab_size();
  vocab_[token] = id;
  id_to_token_.push_back(token);
  added_tokens_.insert(token);
  no_split_tokens_.push_back(token);
  sort_longest_first(no_split_tokens_);
  return id;
}

std::vector<std::string> clip_pretokenize(const std::string& text) {
  const auto& enc = byte_encoder();
  std::vector<std::string> out;
  for (const auto& piece : clip_pattern().find_all(clip_text::clip_clean_text(text))) {
    std::string mapped;
    for (unsigned char b : piece) mapped += enc[b];
    out.push_back(std::move(mapped));
  }
  return out;
}

const std::vector<std::string>& clip_byte_encoder() { return byte_encoder(); }

}  // namespace sculpt
