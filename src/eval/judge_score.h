// Scoring generated ToyWorld images against what their prompts ask for, with the judge.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "toyworld/judge.h"

namespace sculpt {

// A prompt, the seed of its image, and the attributes it asks for (-1: not asked).
struct LabeledPrompt {
  std::string prompt;
  int64_t seed = 0;
  int shape = -1, colour = -1, background = -1, style = -1;
};

// How often the judge finds each asked attribute: the shape (colour) counts as found when it is among
// the shapes (colours) the judge sees; background and style must be the judge's answer.
struct AttributeAccuracy {
  int64_t asked[4] = {0, 0, 0, 0}, found[4] = {0, 0, 0, 0};  // shape, colour, background, style
  void add(const toyworld::JudgePrediction& p, int64_t row, const LabeledPrompt& prompt);
  void add(const AttributeAccuracy& other);
  // found / asked of attribute k, NaN when it was never asked.
  double rate(int k) const;
  double mean() const;  // mean rate over the asked attributes
  nlohmann::json to_json() const;  // {"shape": 0.97, …, "images": {...}} (asked attributes only)
};

// Judges `images` (row i answers prompts[i]) in batches; returns one accuracy over all rows.
AttributeAccuracy judge_prompts(toyworld::ToyJudge& judge, const torch::Tensor& images,
                                const std::vector<LabeledPrompt>& prompts, int64_t batch_size = 250);

// The judge's embedding of every image, [N, embedding_dim], computed in batches without grad.
torch::Tensor judge_features(toyworld::ToyJudge& judge, const torch::Tensor& images, int64_t batch_size = 250);

}  // namespace sculpt
