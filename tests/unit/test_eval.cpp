// Evaluation building blocks against closed forms: Fréchet distance, attribute scoring, seeded sampling.
#include <gtest/gtest.h>

#include "core/check.h"
#include "eval/frechet.h"
#include "eval/judge_score.h"
#include "eval/sampling.h"
#include "pipeline/model_loader.h"
#include "support.h"

using namespace sculpt;

namespace {

torch::Tensor sample_features(int64_t n, int64_t d, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  // Correlated features: a random mixing of independent normals.
  auto mix = torch::randn({d, d}, gen, torch::kFloat64);
  return torch::randn({n, d}, gen, torch::kFloat64).mm(mix);
}

torch::Tensor sample_cov(const torch::Tensor& x) {
  auto c = x - x.mean(0);
  return c.t().mm(c) / static_cast<double>(x.size(0) - 1);
}

}  // namespace

TEST(Frechet, ZeroForIdenticalSets) {
  const auto a = sample_features(300, 6, 1);
  EXPECT_NEAR(frechet_distance(a, a), 0.0, 1e-9);
}

// b = 2a + m has Σb = 4Σa, so tr((ΣaΣb)^½) = 2 tr Σa and d² = |μa − μb|² + tr Σa (sample statistics).
TEST(Frechet, ScaledAndShiftedSetMatchesClosedForm) {
  const auto a = sample_features(400, 5, 2);
  const auto shift = torch::tensor({1.0, -2.0, 0.5, 0.0, 3.0}, torch::kFloat64);
  const auto b = 2 * a + shift;
  const double mean_term = (a.mean(0) - b.mean(0)).pow(2).sum().item<double>();
  const double expected = mean_term + sample_cov(a).trace().item<double>();
  EXPECT_NEAR(frechet_distance(a, b), expected, 1e-8 * expected);
  EXPECT_NEAR(frechet_distance(b, a), expected, 1e-8 * expected);  // symmetric
}

// Two 1-D sets: d² = (μa − μb)² + (σa − σb)².
TEST(Frechet, OneDimensionalClosedForm) {
  const auto a = sample_features(200, 1, 3), b = sample_features(250, 1, 4) * 3 + 1;
  const double sa = a.std().item<double>(), sb = b.std().item<double>();
  const double dm = a.mean().item<double>() - b.mean().item<double>();
  EXPECT_NEAR(frechet_distance(a, b), dm * dm + (sa - sb) * (sa - sb), 1e-9);
}

TEST(Frechet, InvariantUnderRotation) {
  const auto a = sample_features(300, 4, 5), b = sample_features(300, 4, 6) + 0.5;
  auto q = std::get<0>(torch::linalg::qr(sample_features(4, 4, 7)));
  EXPECT_NEAR(frechet_distance(a.mm(q), b.mm(q)), frechet_distance(a, b), 1e-8);
}

TEST(Frechet, RefusesBadShapes) {
  EXPECT_THROW(frechet_distance(torch::zeros({1, 3}), torch::zeros({5, 3})), UsageError);
  EXPECT_THROW(frechet_distance(torch::zeros({5, 3}), torch::zeros({5, 4})), UsageError);
}

TEST(JudgeScore, CountsOnlyAskedAttributes) {
  toyworld::JudgePrediction p;
  p.shapes = torch::zeros({2, 8}, torch::kBool);
  p.colours = torch::zeros({2, 8}, torch::kBool);
  p.shapes[0][3] = true;  // row 0: a star …
  p.colours[0][0] = true;  // … red
  p.shapes[1][0] = true;   // row 1: a circle …
  p.shapes[1][3] = true;   // … and a star
  p.colours[1][5] = true;
  p.background = torch::tensor({1, 2}, torch::kLong);
  p.style = torch::tensor({0, 3}, torch::kLong);
  AttributeAccuracy acc;
  acc.add(p, 0, {"a red star on stripes", 0, 3, 0, 1, -1});  // all three right
  acc.add(p, 1, {"a green star, filled", 0, 3, 3, -1, 0});   // star found; green missing; style wrong
  EXPECT_EQ(acc.asked[0], 2);
  EXPECT_EQ(acc.found[0], 2);
  EXPECT_DOUBLE_EQ(acc.rate(1), 0.5);
  EXPECT_DOUBLE_EQ(acc.rate(2), 1.0);
  EXPECT_DOUBLE_EQ(acc.rate(3), 0.0);
  EXPECT_DOUBLE_EQ(acc.mean(), (1.0 + 0.5 + 1.0 + 0.0) / 4);
  const auto j = acc.to_json();
  EXPECT_EQ(j["images"]["background"], 1);
  EXPECT_TRUE(std::isnan(AttributeAccuracy{}.rate(0)));
}

// An image depends on its prompt and seed only: not on the batch it is computed in.
TEST(Sampling, ImagesDoNotDependOnTheBatch) {
  auto sd = load_stable_diffusion(test::golden("tiny-sd/model").string());
  SampleSettings s;
  s.steps = 3;
  s.progress = false;
  const std::vector<std::string> prompts{"a cat", "a dog", ""};
  const std::vector<int64_t> seeds{11, 12, 13};
  s.batch_size = 3;
  const auto together = sample_images(sd, prompts, seeds, s);
  s.batch_size = 1;
  const auto alone = sample_images(sd, prompts, seeds, s);
  ASSERT_EQ(together.sizes(), alone.sizes());
  EXPECT_LT((together - alone).abs().max().item<double>(), 1e-5);
  // The same (prompt, seed) twice gives the same image; another seed another one.
  const auto again = sample_images(sd, {"a cat", "a cat"}, {11, 14}, s);
  EXPECT_LT((again[0] - alone[0]).abs().max().item<double>(), 1e-5);
  EXPECT_GT((again[1] - alone[0]).abs().max().item<double>(), 1e-2);
  EXPECT_THROW(sample_images(sd, prompts, {1}, s), UsageError);
}
