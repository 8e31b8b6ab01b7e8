// The ToyWorld judge: the shipped one reads fresh renders right on every head; save/load is exact.
// The shipped judge (models/toyworld/judge) is the last stage of `sculpt toyworld build --seed 0`.
#include <cmath>
#include <iostream>

#include "core/check.h"
#include "core/runtime.h"
#include "io/atomic_file.h"
#include "support.h"
#include "toyworld/judge.h"
#include "toyworld/render.h"

namespace tw = sculpt::toyworld;

namespace {

constexpr uint64_t kEvalSeed = 90210;  // distinct from the training seed (1)

std::filesystem::path shipped_judge() { return sculpt::test::source_dir("models/toyworld/judge"); }

}  // namespace

TEST(Judge, ShippedJudgeReadsFreshRendersOnEveryHead) {
  ASSERT_TRUE(std::filesystem::exists(shipped_judge() / "judge.safetensors"))
      << "no judge at " << shipped_judge() << "; build it with: sculpt toyworld build --seed 0 --out models/toyworld --stage judge";
  auto judge = tw::load_judge(shipped_judge());
  const auto acc = tw::judge_evaluate(judge, 2000, kEvalSeed);
  std::cout << "judge accuracy on 2000 fresh renders: " << acc.to_json().dump() << "\n";
  EXPECT_GE(acc.shape, 0.99);
  EXPECT_GE(acc.colour, 0.99);
  EXPECT_GE(acc.background, 0.99);
  EXPECT_GE(acc.style, 0.99);
  EXPECT_GE(acc.count, 0.99);
  EXPECT_GE(acc.instance, 0.99);

  // predict() answers with the labels of a known scene, and features() is the embedding.
  tw::SceneOptions o;
  o.shape = static_cast<int>(tw::Shape::star);
  o.colour = static_cast<int>(tw::Colour::red);
  o.background = static_cast<int>(tw::Background::stripes);
  o.style = static_cast<int>(tw::Style::filled);
  o.two_object_rate = 0;
  auto batch = tw::scene_batch(kEvalSeed + 1, 0, 8, o);
  auto p = judge->predict(batch.images);
  int right = 0;
  for (int64_t i = 0; i < 8; ++i) {
    const auto j = p.to_json(i);
    right += j["shapes"] == nlohmann::json::array({"star"}) && j["colours"] == nlohmann::json::array({"red"}) &&
             j["background"] == "stripes" && j["style"] == "filled" && j["count"] == 1 && j["instance"] == -1;
  }
  EXPECT_GE(right, 7);
  torch::NoGradGuard no_grad;
  EXPECT_EQ(judge->features(batch.images).sizes(), (std::vector<int64_t>{8, judge->config.embedding_dim}));
}

TEST(Judge, SaveLoadRoundTripIsExact) {
  tw::JudgeTrainConfig cfg;
  cfg.model.block_out_channels = {8, 16, 16};
  cfg.model.embedding_dim = 16;
  cfg.steps = 5;
  cfg.batch_size = 8;
  cfg.progress = false;
  auto trained = tw::judge_train(cfg);
  ASSERT_TRUE(std::isfinite(trained.final_loss));
  const auto dir = sculpt::test::temp_dir("toyworld_judge");
  tw::save_judge(trained.judge, dir);
  auto loaded = tw::load_judge(dir);
  auto x = tw::scene_batch(5, 0, 4).images;
  torch::NoGradGuard no_grad;
  auto a = trained.judge->forward(x), b = loaded->forward(x);
  EXPECT_TRUE(torch::equal(a.shape, b.shape) && torch::equal(a.style, b.style) && torch::equal(a.instance, b.instance));
  EXPECT_EQ(loaded->config.block_out_channels, cfg.model.block_out_channels);
  // A config that does not match the weights is refused.
  auto cfg_json = loaded->config.to_json();
  cfg_json["embedding_dim"] = 32;
  sculpt::write_file_atomically(dir / "config.json", cfg_json.dump());
  EXPECT_THROW(tw::load_judge(dir), sculpt::Error);
}
