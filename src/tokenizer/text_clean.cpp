// Source: transformers 4.30.0 src/transformers/models/clip/tokenization_clip.py (whitespace_clean, _tokenize),
// ftfy 6.1.1 ftfy/__init__.py (fix_text, fix_and_explain), ftfy/fixes.py and ftfy/chardata.py (the fixers
// and their tables), CPython 3 Lib/html/__init__.py (numeric character references) and str.lower().
#include "tokenizer/text_clean.h"

#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <unordered_map>

#include "core/check.h"

namespace sculpt::clip_text {
namespace {

bool is_ascii_alnum(char32_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_hex_digit(char32_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

utf8proc_category_t category(char32_t c) { return utf8proc_category(static_cast<utf8proc_int32_t>(c)); }

// utf8proc_map over UTF-8 with the given normalization options (NFC, or NFKC with UTF8PROC_COMPAT).
std::u32string normalize(const std::u32string& text, int options) {
  const std::string utf8 = to_utf8(text);
  utf8proc_uint8_t* out = nullptr;
  const auto len = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                                static_cast<utf8proc_ssize_t>(utf8.size()), &out,
                                static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | options));
  SCULPT_CHECK(len >= 0, "cannot normalize prompt text: ", utf8proc_errmsg(len));
  std::string normalized(reinterpret_cast<char*>(out), static_cast<size_t>(len));
  std::free(out);
  return to_u32(normalized);
}

// Windows-1252 for the bytes 0x80-0x9F, as ftfy's "sloppy-windows-1252" decodes them (its five unassigned
// bytes stay themselves) and as html.unescape's _invalid_charrefs maps &#128; … &#159;.
char32_t windows_1252_c1(char32_t c) {
  static const char32_t table[32] = {0x20AC, 0x81,   0x201A, 0x192,  0x201E, 0x2026, 0x2020, 0x2021,
                                     0x2C6,  0x2030, 0x160,  0x2039, 0x152,  0x8D,   0x17D,  0x8F,
                                     0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                     0x2DC,  0x2122, 0x161,  0x203A, 0x153,  0x9D,   0x17E,  0x178};
  return table[c - 0x80];
}

// ---- ftfy.fixes.unescape_html ------------------------------------------------------------------------------

// chardata.HTML_ENTITIES, keyed by the name with its ';' and without the '&'.
const std::unordered_map<std::string, std::u32string>& html_entities() {
  static const std::unordered_map<std::string, std::u32string> table = [] {
    static const char packed[] =
#include "tokenizer/html_entities.inc"
        ;
    std::unordered_map<std::string, std::u32string> t;
    const std::string all(packed);
    size_t pos = 0;
    while (pos < all.size()) {
      size_t end = all.find(' ', pos);
      if (end == std::string::npos) end = all.size();
      const std::string entry = all.substr(pos, end - pos);
      pos = end + 1;
      const size_t semi = entry.find(';');
      if (semi == std::string::npos) continue;
      std::u32string value;
      for (size_t i = semi + 1; i < entry.size();) {
        size_t used = 0;
        value.push_back(static_cast<char32_t>(std::stoul(entry.substr(i), &used, 16)));
        i += used + 1;  // the code point and its '.' separator
      }
      t.emplace(entry.substr(0, semi + 1), value);
    }
    return t;
  }();
  return table;
}

// html.unescape of '&#' + digits + ';' (CPython Lib/html/__init__.py _replace_charref); digits are the
// decimal or 'x'-prefixed hexadecimal number. Returns false when html.unescape would not consume the ';'.
bool decode_charref(const std::u32string& digits, std::u32string& out) {
  const bool hex = digits[0] == 'x' || digits[0] == 'X';
  if (digits.size() == (hex ? 1u : 0u)) return false;
  uint64_t num = 0;
  for (size_t i = hex ? 1 : 0; i < digits.size(); ++i) {
    const char32_t c = digits[i];
    if (!(hex ? is_hex_digit(c) : (c >= '0' && c <= '9'))) return false;
    const uint64_t v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    num = std::min<uint64_t>(num * (hex ? 16 : 10) + v, 0x7FFFFFFF);  // saturate: anything past U+10FFFF is alike
  }
  out.clear();
  if (num == 0) out = U"\uFFFD";
  else if (num == 0x0D) out = U"\r";
  else if (num >= 0x80 && num <= 0x9F) out.push_back(windows_1252_c1(static_cast<char32_t>(num)));
  else if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) out = U"\uFFFD";
  else if ((num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) || num == 0x7F ||
           (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE) {
    // _invalid_codepoints decode to nothing
  } else {
    out.push_back(static_cast<char32_t>(num));
  }
  return true;
}

// ---- the other fixers of fix_and_explain, in its order --------------------------------------------------------

std::u32string fix_c1_controls(std::u32string t) {
  for (auto& c : t)
    if (c >= 0x80 && c <= 0x9F) c = windows_1252_c1(c);
  return t;
}

std::u32string fix_latin_ligatures(const std::u32string& t) {
  static const std::unordered_map<char32_t, std::u32string> ligatures = {
      {U'Ĳ', U"IJ"}, {U'ĳ', U"ij"}, {U'ŉ', U"ʼn"}, {U'Ǳ', U"DZ"}, {U'ǲ', U"Dz"}, {U'ǳ', U"dz"},
      {U'Ǆ', U"DŽ"}, {U'ǅ', U"Dž"}, {U'ǆ', U"dž"}, {U'Ǉ', U"LJ"}, {U'ǈ', U"Lj"}, {U'ǉ', U"lj"},
      {U'Ǌ', U"NJ"}, {U'ǋ', U"Nj"}, {U'ǌ', U"nj"}, {U'ﬀ', U"ff"}, {U'ﬁ', U"fi"}, {U'ﬂ', U"fl"},
      {U'ﬃ', U"ffi"}, {U'ﬄ', U"ffl"}, {U'ﬅ', U"ſt"}, {U'ﬆ', U"st"}};
  std::u32string out;
  for (char32_t c : t) {
    auto it = ligatures.find(c);
    if (it != ligatures.end()) out += it->second;
    else out.push_back(c);
  }
  return out;
}

// chardata.WIDTH_MAP: U+3000 → ' ', and U+FF01-U+FFEF → their NFKC form where that differs.
std::u32string fix_character_width(const std::u32string& t) {
  std::u32string out;
  for (char32_t c : t) {
    if (c == 0x3000) out.push_back(' ');
    else if (c >= 0xFF01 && c <= 0xFFEF) out += normalize(std::u32string(1, c), UTF8PROC_COMPAT);
    else out.push_back(c);
  }
  return out;
}

std::u32string uncurl_quotes(std::u32string t) {
  for (auto& c : t) {
    if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
    else if (c >= 0x201C && c <= 0x201F) c = '"';
  }
  return t;
}

// "\r\n" and lone "\r", U+2028, U+2029, U+0085 → "\n".
std::u32string fix_line_breaks(const std::u32string& t) {
  std::u32string out;
  for (size_t i = 0; i < t.size(); ++i) {
    const char32_t c = t[i];
    if (c == '\r' && i + 1 < t.size() && t[i + 1] == '\n') continue;
    out.push_back(c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85 ? U'\n' : c);
  }
  return out;
}

// fixes.ANSI_RE: "\033\[((?:\d|;)*)([a-zA-Z])" (\d: any Unicode decimal digit).
std::u32string remove_terminal_escapes(const std::u32string& t) {
  std::u32string out;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == 0x1B && i + 1 < t.size() && t[i + 1] == '[') {
      size_t j = i + 2;
      while (j < t.size() && (t[j] == ';' || category(t[j]) == UTF8PROC_CATEGORY_ND)) ++j;
      if (j < t.size() && t[j] < 0x80 && std::isalpha(static_cast<int>(t[j]))) {
        i = j;
        continue;
      }
    }
    out.push_back(t[i]);
  }
  return out;
}

// chardata.CONTROL_CHARS (ftfy 6 keeps tag characters and musical controls, unlike ftfy 5).
std::u32string remove_control_chars(const std::u32string& t) {
  std::u32string out;
  for (char32_t c : t) {
    const bool control = c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
                         (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
    if (!control) out.push_back(c);
  }
  return out;
}

// fix_and_explain for one segment: every fixer in order, then NFC, until nothing changes.
std::u32string fix_segment(std::u32string text, bool unescape) {
  while (true) {
    const std::u32string before = text;
    if (unescape) text = unescape_html(text);
    text = fix_c1_controls(std::move(text));
    text = fix_latin_ligatures(text);
    text = fix_character_width(text);
    text = uncurl_quotes(std::move(text));
    text = fix_line_breaks(text);  // fix_surrogates is moot: valid UTF-8 holds no surrogates
    text = remove_terminal_escapes(text);
    text = remove_control_chars(text);
    text = normalize(text, 0);  // NFC
    if (text == before) return text;
  }
}

// ---- str.lower() ------------------------------------------------------------------------------------------

bool is_cased(char32_t c) {
  const auto cat = category(c);
  const auto ci = static_cast<utf8proc_int32_t>(c);
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT ||
         utf8proc_tolower(ci) != ci || utf8proc_toupper(ci) != ci;
}

// Case_Ignorable: Mn, Me, Cf, Lm, Sk and the Word_Break MidLetter/MidNumLet/Single_Quote characters.
bool is_case_ignorable(char32_t c) {
  switch (category(c)) {
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_SK: return true;
    default: break;
  }
  for (char32_t m : {0x27, 0x2E, 0x3A, 0xB7, 0x387, 0x5F4, 0x2018, 0x2019, 0x2024, 0x2027, 0xFE13, 0xFE52,
                     0xFE55, 0xFF07, 0xFF0E, 0xFF1A})
    if (c == m) return true;
  return false;
}

// CPython handle_capital_sigma: Σ is final when a cased letter precedes it and none follows it (both
// skipping case-ignorable characters).
bool is_final_sigma(const std::u32string& t, size_t i) {
  size_t j = i;
  while (j > 0 && is_case_ignorable(t[j - 1])) --j;
  if (j == 0 || !is_cased(t[j - 1])) return false;
  size_t k = i + 1;
  while (k < t.size() && is_case_ignorable(t[k])) ++k;
  return k == t.size() || !is_cased(t[k]);
}

}  // namespace

std::u32string to_u32(const std::string& utf8) {
  std::u32string out;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(utf8.data());
  const auto n = static_cast<utf8proc_ssize_t>(utf8.size());
  for (utf8proc_ssize_t i = 0; i < n;) {
    utf8proc_int32_t c = 0;
    const auto len = utf8proc_iterate(p + i, n - i, &c);
    SCULPT_CHECK(len > 0, "text is not valid UTF-8 at byte ", i, " (", utf8proc_errmsg(len), ")");
    out.push_back(static_cast<char32_t>(c));
    i += len;
  }
  return out;
}

std::string to_utf8(const std::u32string& text) {
  std::string out;
  utf8proc_uint8_t buf[4];
  for (char32_t c : text) {
    const auto len = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(len));
  }
  return out;
}

std::u32string decode_utf8_replace(const std::string& bytes) {
  std::u32string out;
  size_t i = 0;
  while (i < bytes.size()) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    if (b0 < 0x80) {
      out.push_back(b0);
      ++i;
      continue;
    }
    size_t need = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
    char32_t c = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) { need = 1; c = b0 & 0x1F; }
    else if (b0 >= 0xE0 && b0 <= 0xEF) { need = 2; c = b0 & 0x0F; lo = b0 == 0xE0 ? 0xA0 : 0x80; hi = b0 == 0xED ? 0x9F : 0xBF; }
    else if (b0 >= 0xF0 && b0 <= 0xF4) { need = 3; c = b0 & 0x07; lo = b0 == 0xF0 ? 0x90 : 0x80; hi = b0 == 0xF4 ? 0x8F : 0xBF; }
    size_t j = i + 1, got = 0;
    while (got < need && j < bytes.size()) {
      const auto b = static_cast<unsigned char>(bytes[j]);
      if (b < (got == 0 ? lo : 0x80) || b > (got == 0 ? hi : 0xBF)) break;
      c = (c << 6) | (b & 0x3F);
      ++j;
      ++got;
    }
    out.push_back(need > 0 && got == need ? c : U'\uFFFD');
    i = j;
  }
  return out;
}

bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// HTML_ENTITY_RE = "&#?[0-9A-Za-z]{1,24};", each match replaced by _unescape_fixup.
std::u32string unescape_html(const std::u32string& t) {
  std::u32string out;
  size_t i = 0;
  while (i < t.size()) {
    if (t[i] == '&') {
      const bool numeric = i + 1 < t.size() && t[i + 1] == '#';
      const size_t start = i + (numeric ? 2 : 1);
      size_t end = start;
      while (end < t.size() && is_ascii_alnum(t[end])) ++end;
      if (end > start && end - start <= 24 && end < t.size() && t[end] == ';') {
        const std::u32string body = t.substr(start, end - start);
        std::u32string replacement;
        bool replaced = false;
        if (!numeric) {
          auto it = html_entities().find(to_utf8(body) + ";");
          if (it != html_entities().end()) {
            replacement = it->second;
            replaced = true;
          }
        } else {
          replaced = decode_charref(body, replacement);
        }
        if (replaced) {
          out += replacement;
          i = end + 1;
          continue;
        }
      }
    }
    out.push_back(t[i++]);
  }
  return out;
}

// fix_text: segments end after each '\n' (at most 1,000,000 characters); once a segment holds '<', HTML
// unescaping stays off for it and every later segment (unescape_html="auto").
std::u32string ftfy_fix_text(const std::u32string& text) {
  constexpr size_t kMaxDecodeLength = 1000000;
  std::u32string out;
  bool unescape = true;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t newline = text.find(U'\n', pos);
    size_t end = newline == std::u32string::npos ? text.size() : newline + 1;
    end = std::min(end, pos + kMaxDecodeLength);
    const std::u32string segment = text.substr(pos, end - pos);
    if (segment.find(U'<') != std::u32string::npos) unescape = false;
    out += fix_segment(segment, unescape);
    pos = end;
  }
  return out;
}

std::u32string whitespace_clean(const std::u32string& text) {
  std::u32string out;
  bool gap = false;
  for (char32_t c : text) {
    if (is_python_space(c)) {
      gap = !out.empty();
      continue;
    }
    if (gap) out.push_back(' ');
    gap = false;
    out.push_back(c);
  }
  return out;
}

std::u32string python_lower(const std::u32string& text) {
  std::u32string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == 0x130) out += U"i\u0307";  // SpecialCasing: İ lowercases to i + COMBINING DOT ABOVE
    else if (c == 0x3A3) out.push_back(is_final_sigma(text, i) ? 0x3C2 : 0x3C3);
    else out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
  }
  return out;
}

std::u32string python_strip(const std::u32string& text) {
  size_t begin = 0, end = text.size();
  while (begin < end && is_python_space(text[begin])) ++begin;
  while (end > begin && is_python_space(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

std::string clip_clean_text(const std::string& text) {
  return to_utf8(python_lower(whitespace_clean(ftfy_fix_text(to_u32(text)))));
}

}  // namespace sculpt::clip_text
