// Learns a byte-level BPE vocabulary from captions and writes it in the layout of CLIP's tokenizer folder
// (vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json), so that
// sculpt::CLIPTokenizer::from_dir and transformers' CLIPTokenizer load it unchanged.
// Source: openai/CLIP clip/simple_tokenizer.py (vocabulary order) and transformers 4.30.0
// src/transformers/models/clip/tokenization_clip.py (text cleaning, pattern, "</w>" word ends).
//
// Vocabulary order, as CLIP's: the 256 bytes_to_unicode symbols (printable Latin-1 first, then the rest),
// the same 256 with "</w>", one token per merge in merge order (skipped when a merge yields a token already
// present), then <|startoftext|> and <|endoftext|>.
// Training: words are counted after CLIP's cleaning and pre-tokenization; each step merges the most
// frequent adjacent pair (ties: the smaller pair in byte order of "first second"), until the vocabulary
// holds vocab_size tokens or no pair occurs at least min_frequency times.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace sculpt::toyworld {

struct BpeModel {
  std::vector<std::string> vocab;                            // id → token, specials last
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
};

BpeModel bpe_learn(const std::vector<std::string>& corpus, int64_t vocab_size, int64_t min_frequency = 2);

// Writes the tokenizer folder atomically, file by file (pad = unk = <|endoftext|>).
void bpe_write(const BpeModel& model, int64_t model_max_length, const std::filesystem::path& out_dir);

// bpe_learn + bpe_write; returns the model written.
BpeModel bpe_train(const std::vector<std::string>& corpus, int64_t vocab_size, int64_t model_max_length,
                   const std::filesystem::path& out_dir);

}  // namespace sculpt::toyworld
