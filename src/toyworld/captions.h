// ToyWorld captions: many templates, attribute order shuffled, attributes sometimes left out, and
// paraphrases of every shape, colour, background and style used at a lower rate.
//
// Canonical prompt (prompt_make with word index 0 everywhere; evaluation uses it):
//   "a red star on a striped background, pixel-art"
//   "a red star and a blue circle on a dotted background, outline"
// with parts left out when not given: "a star", "a red star", "a star, sketch", "a star on a plain background".
#pragma once
#include <string>
#include <vector>

#include "toyworld/scene.h"

namespace sculpt::toyworld {

// Words for each attribute; index 0 is the canonical one, the others are paraphrases (>= 2 each).
// Background words are noun phrases that follow "on" ("a striped background", "stripes", …).
const std::vector<std::string>& shape_words(Shape s);
const std::vector<std::string>& colour_words(Colour c);
const std::vector<std::string>& background_words(Background b);
const std::vector<std::string>& style_words(Style s);

struct ObjectPrompt {
  Shape shape = Shape::circle;
  int colour = -1;      // Colour index; -1: not mentioned
  int shape_word = 0;   // index into shape_words(shape)
  int colour_word = 0;  // index into colour_words(colour)
};

struct PromptSpec {
  std::vector<ObjectPrompt> objects;  // 1 or 2
  int background = -1;                // Background index; -1: not mentioned
  int style = -1;                     // Style index; -1: not mentioned
  int background_word = 0, style_word = 0;
};

// "[a|an] <colour> <shape>[ and …][ on <background>][, <style>]" (canonical template).
std::string prompt_make(const PromptSpec& spec);
// The canonical prompt naming every attribute of a scene (an instance scene: "a vexa emblem on …").
std::string prompt_canonical(const Scene& scene);

struct CaptionOptions {
  double paraphrase_rate = 0.15;  // each word: a paraphrase instead of the canonical word
  double omit_colour_rate = 0.2;
  double omit_background_rate = 0.3;
  double omit_style_rate = 0.35;
  double canonical_rate = 0.3;    // share of captions in the canonical template
};

// A caption of the scene drawn from rng. Always names every object's shape (or a paraphrase), never a
// wrong shape, colour, background or style.
std::string caption_sample(const Scene& scene, Rng& rng, const CaptionOptions& options = {});
// Caption of scene `index` of dataset `seed` (stream kStreamCaption: independent of the scene's draws).
std::string caption_for(const Scene& scene, uint64_t seed, int64_t index, const CaptionOptions& options = {});

// Captions of scenes 0 .. n-1 of dataset `seed`: the corpus the BPE vocabulary is learned from.
std::vector<std::string> caption_corpus(uint64_t seed, int64_t n, const SceneOptions& scenes = {},
                                        const CaptionOptions& options = {});

}  // namespace sculpt::toyworld
