// Prompt cleaning as transformers 4.30.0 CLIPTokenizer does it with ftfy 6.1 installed:
//   whitespace_clean(ftfy.fix_text(text)).lower()
// ftfy's fixes are reproduced for what occurs in prompts: HTML entities (only when the text has no '<',
// as ftfy's unescape_html="auto"), line breaks, control characters, ligatures, fullwidth characters,
// curly quotes, NFC. Mojibake repair (fix_encoding) is not reproduced: prompts are valid UTF-8.
#include <utf8proc.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "core/check.h"
#include "tokenizer/clip_tokenizer.h"

namespace sculpt {
namespace {

std::vector<int32_t> decode_utf8(const std::string& s) {
  std::vector<int32_t> cps;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t i = 0, n = static_cast<utf8proc_ssize_t>(s.size());
  while (i < n) {
    utf8proc_int32_t cp = 0;
    const auto len = utf8proc_iterate(p + i, n - i, &cp);
    SCULPT_CHECK(len > 0, "prompt is not valid UTF-8 at byte ", i);
    cps.push_back(cp);
    i += len;
  }
  return cps;
}

void append_utf8(std::string& out, int32_t cp) {
  utf8proc_uint8_t buf[4];
  const auto len = utf8proc_encode_char(cp, buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(len));
}

// Python's html.unescape for the entities prompts contain: numeric ones and the common named ones.
std::string html_unescape(const std::string& s) {
  static const std::map<std::string, int32_t> named = {
      {"amp", '&'},      {"lt", '<'},       {"gt", '>'},       {"quot", '"'},     {"apos", '\''},
      {"nbsp", 0xA0},    {"copy", 0xA9},    {"reg", 0xAE},     {"trade", 0x2122}, {"hellip", 0x2026},
      {"mdash", 0x2014}, {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C},
      {"rdquo", 0x201D}, {"laquo", 0xAB},   {"raquo", 0xBB},   {"deg", 0xB0},     {"times", 0xD7},
      {"eacute", 0xE9},  {"egrave", 0xE8},  {"aacute", 0xE1},  {"agrave", 0xE0},  {"ouml", 0xF6},
      {"uuml", 0xFC},    {"auml", 0xE4},    {"szlig", 0xDF},   {"ccedil", 0xE7},  {"ntilde", 0xF1},
      {"middot", 0xB7},  {"bull", 0x2022},  {"euro", 0x20AC},  {"pound", 0xA3},   {"yen", 0xA5},
      {"cent", 0xA2},    {"sect", 0xA7},    {"para", 0xB6},    {"plusmn", 0xB1},  {"frac12", 0xBD}};
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '&') {
      const size_t semi = s.find(';', i);
      if (semi != std::string::npos && semi - i <= 10) {
        const std::string name = s.substr(i + 1, semi - i - 1);
        int32_t cp = -1;
        if (name.size() > 1 && name[0] == '#') {
          const bool hex = name[1] == 'x' || name[1] == 'X';
          char* end = nullptr;
          const long v = std::strtol(name.c_str() + (hex ? 2 : 1), &end, hex ? 16 : 10);
          if (end && *end == '\0' && v > 0 && v <= 0x10FFFF) cp = static_cast<int32_t>(v);
        } else if (auto it = named.find(name); it != named.end()) {
          cp = it->second;
        }
        if (cp >= 0) {
          append_utf8(out, cp);
          i = semi + 1;
          continue;
        }
      }
    }
    out.push_back(s[i++]);
  }
  return out;
}

// Python str.isspace(): categories Zs/Zl/Zp and the ASCII/C1 separators.
bool is_python_space(int32_t cp) {
  if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F) || cp == 0x85) return true;
  const auto cat = utf8proc_category(cp);
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

// ftfy.fixes.remove_control_chars: characters with no visible effect that ftfy deletes.
bool ftfy_removes(int32_t cp) {
  return (cp >= 0x00 && cp <= 0x08) || cp == 0x0B || (cp >= 0x0E && cp <= 0x1F) || cp == 0x7F ||
         (cp >= 0x206A && cp <= 0x206F) || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFC) ||
         (cp >= 0x1D173 && cp <= 0x1D17A) || (cp >= 0xE0000 && cp <= 0xE007F);
}

int32_t ftfy_char_fix(int32_t cp) {
  switch (cp) {  // uncurl_quotes
    case 0x2018: case 0x2019: case 0x201A: case 0x201B: return '\'';
    case 0x201C: case 0x201D: case 0x201E: case 0x201F: return '"';
    default: break;
  }
  if (cp >= 0xFF01 && cp <= 0xFF5E) return cp - 0xFF01 + 0x21;  // fix_character_width
  if (cp == 0x3000) return ' ';
  return cp;
}

std::string nfc(const std::string& s) {
  utf8proc_uint8_t* out = nullptr;
  const auto len = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                static_cast<utf8proc_ssize_t>(s.size()), &out, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  SCULPT_CHECK(len >= 0, "prompt cannot be normalized: ", utf8proc_errmsg(len));
  std::string r(reinterpret_cast<char*>(out), static_cast<size_t>(len));
  std::free(out);
  return r;
}

}  // namespace

std::string clip_clean_text(const std::string& text) {
  // ftfy.fix_text
  std::string s = text.find('<') == std::string::npos ? html_unescape(text) : text;
  std::string fixed;
  for (int32_t cp : decode_utf8(s)) {
    if (cp == 0x2028 || cp == 0x2029 || cp == 0x85) cp = '\n';  // fix_line_breaks
    if (cp == '\r') continue;
    if (ftfy_removes(cp)) continue;
    if (cp == 0xFB01) { fixed += "fi"; continue; }  // fix_latin_ligatures (the common ones)
    if (cp == 0xFB02) { fixed += "fl"; continue; }
    if (cp == 0xFB00) { fixed += "ff"; continue; }
    append_utf8(fixed, ftfy_char_fix(cp));
  }
  fixed = nfc(fixed);
  // whitespace_clean: re.sub(r"\s+", " ", text).strip(); then str.lower()
  std::string out;
  bool pending_space = false;
  for (int32_t cp : decode_utf8(fixed)) {
    if (is_python_space(cp)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    append_utf8(out, utf8proc_tolower(cp));
  }
  return out;
}

}  // namespace sculpt
