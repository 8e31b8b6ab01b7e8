// A ToyWorld concept (a shape, colour, background or style) and the prompt sets that audit its erasure.
//
//   erase       prompts naming the concept with its canonical word, in the captions' varied templates,
//               other attributes random or left out: is the concept gone? (UA)
//   paraphrase  the same prompts with the concept's word replaced by one of its paraphrases (UA-paraphrase)
//   ira         prompts naming another value of the same kind ("a circle" when "star" is erased): are the
//               neighbours kept? (IRA)
//   cra         prompts naming other kinds (colour, background, style) on scenes without the concept: is
//               the rest kept? (CRA)
// Every prompt carries the attributes it asks for (LabeledPrompt) and its image seed.
#pragma once
#include <string>
#include <vector>

#include "eval/judge_score.h"
#include "toyworld/judge.h"

namespace sculpt {

enum class ConceptKind : int { shape = 0, colour = 1, background = 2, style = 3 };
const char* concept_kind_name(ConceptKind k);

struct ToyConcept {
  ConceptKind kind = ConceptKind::shape;
  int index = 0;                   // Shape / Colour / Background / Style index
  std::string name;                // label name: "star", "red", "stripes", "pixel-art"
  std::vector<std::string> words;  // caption words: canonical first, then paraphrases
};

// "star" (kind found from the name), or with kind "shape" | "colour" | "background" | "style". A
// paraphrase ("pentagram") resolves to its concept. Unknown names: UsageError listing the known ones.
ToyConcept toy_concept_resolve(const std::string& name, const std::string& kind = "");

// The judge's probability that each image shows the concept: sigmoid of the shape/colour logit,
// softmax of the background/style head. [N] float. An image shows the concept when p >= kDetection
// (methods.md §12.5).
torch::Tensor concept_probability(toyworld::ToyJudge& judge, const torch::Tensor& images, const ToyConcept& c);
constexpr double kDetection = 0.6;

struct ConceptPromptSets {
  std::vector<LabeledPrompt> erase, paraphrase, ira, cra;
};
// n prompts per set; image seeds seed*1'000'000 + set*100'000 + k.
ConceptPromptSets concept_prompt_sets(const ToyConcept& c, int64_t n, int64_t seed);

// n captions of one-object scenes showing the concept and naming it with its canonical word, in the
// captions' varied templates (the erase set's prompts, without labels): anchor captions for Ablating
// Concepts.
std::vector<std::string> concept_captions(const ToyConcept& c, int64_t n, uint64_t seed);

// Replaces whole-word occurrences of `from` by `to`, fixing a preceding "a"/"an".
std::string replace_phrase(const std::string& text, const std::string& from, const std::string& to);

}  // namespace sculpt
