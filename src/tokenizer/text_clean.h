// Prompt cleaning of the CLIP tokenizer, one function per upstream step:
//   transformers 4.30.0 src/transformers/models/clip/tokenization_clip.py, CLIPTokenizer._tokenize with ftfy
//   installed: text = whitespace_clean(ftfy.fix_text(text)).lower()
//   ftfy 6.1.1 ftfy/__init__.py (fix_text, fix_and_explain), ftfy/fixes.py, ftfy/chardata.py.
// ftfy's mojibake repair (fix_encoding: restore_byte_a0, replace_lossy_sequences, decode_inconsistent_utf8)
// is not reproduced: it only changes text that its badness heuristic flags as mis-decoded, which a prompt
// typed as UTF-8 is not. Every other fixer is, in ftfy's order, repeated until the text stops changing.
#pragma once
#include <string>

namespace sculpt::clip_text {

// UTF-8 <-> code points. to_u32 throws sculpt::Error naming the byte offset of invalid UTF-8.
std::u32string to_u32(const std::string& utf8);
std::string to_utf8(const std::u32string& text);
// UTF-8 bytes → text as Python's bytes.decode("utf-8", errors="replace") does: one U+FFFD per maximal
// invalid subsequence.
std::u32string decode_utf8_replace(const std::string& bytes);

// Python's str.isspace(): what `\s` matches in Python's re and what str.strip() removes.
bool is_python_space(char32_t c);

// ftfy.fixes.unescape_html: '&name;' for every HTML5 entity name (and the all-caps spelling of lowercase
// ones), '&#N;' / '&#xH;' as Python's html.unescape decodes them; anything else is left as it is.
std::u32string unescape_html(const std::u32string& text);

// ftfy.fix_text(text) with the default config, less mojibake repair (see above).
std::u32string ftfy_fix_text(const std::u32string& text);

// tokenization_clip.py whitespace_clean: re.sub(r"\s+", " ", text).strip()
std::u32string whitespace_clean(const std::u32string& text);

// Python's str.lower(): full lowercase mapping (U+0130 → "i̇") and the Final_Sigma rule (Σ → ς at a word end).
std::u32string python_lower(const std::u32string& text);

// Python's str.strip(): drops leading and trailing is_python_space characters.
std::u32string python_strip(const std::u32string& text);

// whitespace_clean(ftfy.fix_text(text)).lower(), UTF-8 in and out.
std::string clip_clean_text(const std::string& text);

}  // namespace sculpt::clip_text
