#include "eval/judge_score.h"

#include <cmath>
#include <limits>

#include "core/check.h"

namespace sculpt {

namespace {
const char* const kAttributes[4] = {"shape", "colour", "background", "style"};
}

void AttributeAccuracy::add(const toyworld::JudgePrediction& p, int64_t row, const LabeledPrompt& q) {
  const int want[4] = {q.shape, q.colour, q.background, q.style};
  for (int k = 0; k < 4; ++k) {
    if (want[k] < 0) continue;
    bool ok = false;
    if (k == 0) ok = p.shapes[row][want[k]].item<bool>();
    if (k == 1) ok = p.colours[row][want[k]].item<bool>();
    if (k == 2) ok = p.background[row].item<int64_t>() == want[k];
    if (k == 3) ok = p.style[row].item<int64_t>() == want[k];
    ++asked[k];
    found[k] += ok;
  }
}

void AttributeAccuracy::add(const AttributeAccuracy& o) {
  for (int k = 0; k < 4; ++k) asked[k] += o.asked[k], found[k] += o.found[k];
}

double AttributeAccuracy::rate(int k) const {
  return asked[k] == 0 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(found[k]) / asked[k];
}

double AttributeAccuracy::mean() const {
  double sum = 0;
  int n = 0;
  for (int k = 0; k < 4; ++k)
    if (asked[k] > 0) sum += rate(k), ++n;
  return n == 0 ? std::numeric_limits<double>::quiet_NaN() : sum / n;
}

nlohmann::json AttributeAccuracy::to_json() const {
  nlohmann::json j = nlohmann::json::object(), counts = nlohmann::json::object();
  for (int k = 0; k < 4; ++k) {
    if (asked[k] == 0) continue;
    j[kAttributes[k]] = rate(k);
    counts[kAttributes[k]] = asked[k];
  }
  j["images"] = counts;
  return j;
}

AttributeAccuracy judge_prompts(toyworld::ToyJudge& judge, const torch::Tensor& images,
                                const std::vector<LabeledPrompt>& prompts, int64_t batch_size) {
  SCULPT_USAGE_CHECK(images.size(0) == static_cast<int64_t>(prompts.size()), "judging ", images.size(0),
                     " images against ", prompts.size(), " prompts");
  AttributeAccuracy acc;
  for (int64_t first = 0; first < images.size(0); first += batch_size) {
    const int64_t b = std::min(batch_size, images.size(0) - first);
    const auto p = judge->predict(images.narrow(0, first, b));
    for (int64_t i = 0; i < b; ++i) acc.add(p, i, prompts[first + i]);
  }
  return acc;
}

torch::Tensor judge_features(toyworld::ToyJudge& judge, const torch::Tensor& images, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (int64_t first = 0; first < images.size(0); first += batch_size)
    out.push_back(judge->features(images.narrow(0, first, std::min(batch_size, images.size(0) - first))));
  return torch::cat(out);
}

}  // namespace sculpt
