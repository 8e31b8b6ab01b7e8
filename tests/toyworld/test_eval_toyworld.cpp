// sculpt eval on the shipped ToyWorld model, against known answers:
// - edited = original: UA is the judge's miss rate (low), IRA/CRA/ToyFID equal the original's, locality 0;
// - a model that cannot draw stars by construction (the "star" token embedding replaced by "circle"'s,
//   shipped as a delta): UA is high, the layout of erase images changes little, circles are kept.
#include <gtest/gtest.h>

#include "core/check.h"
#include "eval/toy_concept.h"
#include "eval/unlearn_eval.h"
#include "pipeline/model_export.h"
#include "pipeline/model_loader.h"
#include "support.h"

using namespace sculpt;
namespace fs = std::filesystem;

namespace {

const fs::path kModel = test::source_dir("models/toyworld");

UnlearnEvalConfig quick(const std::string& out) {
  UnlearnEvalConfig c;
  c.concept = "star";
  c.images = 32;
  c.sampling.steps = 15;
  c.sampling.progress = false;
  c.out = test::temp_dir(out);
  c.judge_file = kModel / "judge" / "judge.safetensors";
  return c;
}

}  // namespace

TEST(EvalToyWorld, ConceptsResolveWithKnownNamesListed) {
  EXPECT_EQ(toy_concept_resolve("star").kind, ConceptKind::shape);
  EXPECT_EQ(toy_concept_resolve("pentagram").name, "star");
  EXPECT_EQ(toy_concept_resolve("stripes").kind, ConceptKind::background);
  EXPECT_EQ(toy_concept_resolve("pixel-art").kind, ConceptKind::style);
  EXPECT_EQ(toy_concept_resolve("red", "colour").index, 0);
  try {
    toy_concept_resolve("dragon");
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("dragon"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("crescent"), std::string::npos);  // the known ones are listed
  }
  EXPECT_THROW(toy_concept_resolve("star", "colour"), UsageError);
  EXPECT_EQ(replace_phrase("an orange star and a star-like star", "star", "pentagram"),
            "an orange pentagram and a star-like pentagram");
  EXPECT_EQ(replace_phrase("a red box", "red", "orange"), "an orange box");
}

TEST(EvalToyWorld, PromptSetsAskForWhatTheyShould) {
  const auto c = toy_concept_resolve("star");
  const auto sets = concept_prompt_sets(c, 40, 3);
  ASSERT_EQ(sets.erase.size(), 40u);
  for (size_t i = 0; i < 40; ++i) {
    EXPECT_NE(sets.erase[i].prompt.find("star"), std::string::npos) << sets.erase[i].prompt;
    EXPECT_EQ(sets.erase[i].shape, c.index);
    // "star" as a word only inside the paraphrase "five-pointed star".
    const auto para = replace_phrase(sets.paraphrase[i].prompt, "five-pointed star", "P");
    EXPECT_EQ(replace_phrase(para, "star", "#"), para) << sets.paraphrase[i].prompt;
    EXPECT_NE(sets.paraphrase[i].prompt, sets.erase[i].prompt);
    EXPECT_NE(sets.ira[i].shape, c.index);
    EXPECT_GE(sets.ira[i].shape, 0);
    EXPECT_EQ(sets.cra[i].prompt.find("star"), std::string::npos) << sets.cra[i].prompt;
    EXPECT_EQ(sets.cra[i].shape, -1);
    EXPECT_GE(sets.cra[i].background, 0);
  }
  // Deterministic.
  EXPECT_EQ(concept_prompt_sets(c, 40, 3).erase[7].prompt, sets.erase[7].prompt);
}

TEST(EvalToyWorld, OriginalAgainstItselfIsUnchanged) {
  auto a = load_stable_diffusion(kModel.string()), b = load_stable_diffusion(kModel.string());
  auto judge = toyworld::load_judge(kModel / "judge");
  auto clip = toyworld::load_toyclip(kModel / "toyclip", a.text_encoder->config.hidden_size);
  auto cfg = quick("eval_identity");
  cfg.negative_prompt_row = false;
  const auto r = unlearn_eval(a, b, judge, &clip, cfg);
  const auto& o = r["rows"]["original"];
  const auto& e = r["rows"]["edited"];
  std::cout << r["rows"].dump() << "\n";
  // UA of the unedited model is its miss rate on star prompts: 0.5 measured with the shipped build, whose
  // shapes are below their bar (docs/toyworld.md); the floors below guard against regressions.
  EXPECT_LE(o["UA"].get<double>(), 0.6);
  EXPECT_DOUBLE_EQ(e["UA"].get<double>(), o["UA"].get<double>());
  EXPECT_DOUBLE_EQ(e["IRA"].get<double>(), o["IRA"].get<double>());
  EXPECT_DOUBLE_EQ(e["CRA"].get<double>(), o["CRA"].get<double>());
  EXPECT_DOUBLE_EQ(e["toyfid"].get<double>(), o["toyfid"].get<double>());
  EXPECT_EQ(e["locality"]["retain_pixel_mse"].get<double>(), 0.0);
  EXPECT_EQ(e["locality"]["retain_feature_distance"].get<double>(), 0.0);
  EXPECT_EQ(e["locality"]["erase_layout_iou"].get<double>(), 1.0);
  EXPECT_GE(o["IRA"].get<double>(), 0.55);  // measured 0.656
  EXPECT_GE(o["CRA"].get<double>(), 0.75);  // measured 0.865
  EXPECT_TRUE(fs::exists(cfg.out / "metrics.json") && fs::exists(cfg.out / "report.html"));
  EXPECT_EQ(r["judge"]["fnv1a64"].get<std::string>().size(), 16u);
  // Deterministic: the same run again gives the same numbers.
  auto again = cfg;
  again.out = test::temp_dir("eval_identity_again");
  const auto r2 = unlearn_eval(a, b, judge, &clip, again);
  EXPECT_EQ(r2["rows"].dump(), r["rows"].dump());
}

TEST(EvalToyWorld, ModelThatCannotDrawStarsHasHighUA) {
  // The delta: the "star" token's embedding becomes the "circle" token's.
  auto sd = load_stable_diffusion(kModel.string());
  const auto star = sd.tokenizer.encode("star"), circle = sd.tokenizer.encode("circle");
  ASSERT_EQ(star.size(), 3u);  // BOS, one token, EOS
  ASSERT_EQ(circle.size(), 3u);
  const std::string key = "text_encoder.text_model.embeddings.token_embedding.weight";
  {
    torch::NoGradGuard no_grad;
    auto w = sd.text_encoder->text_model->embeddings->token_embedding->weight;
    w[star[1]].copy_(w[circle[1]]);
  }
  const auto delta = test::temp_dir("eval_nostar") / "delta.safetensors";
  delta_write(delta, sd, {key});

  auto original = load_stable_diffusion(kModel.string()), edited = load_stable_diffusion(kModel.string());
  delta_apply(edited, delta);
  auto judge = toyworld::load_judge(kModel / "judge");
  auto cfg = quick("eval_nostar_out");
  const auto r = unlearn_eval(original, edited, judge, nullptr, cfg);
  std::cout << r["rows"].dump() << "\n";
  const auto& e = r["rows"]["edited"];
  EXPECT_GE(e["UA"].get<double>(), 0.8);
  EXPECT_GE(e["IRA"].get<double>(), r["rows"]["original"]["IRA"].get<double>() - 0.15);
  EXPECT_GT(e["locality"]["erase_layout_iou"].get<double>(), 0.3);
  EXPECT_TRUE(r["rows"].contains("negative_prompt"));
}

TEST(EvalToyWorld, RefusesMismatchedArchitectures) {
  auto a = load_stable_diffusion(kModel.string());
  auto b = load_stable_diffusion(test::golden("tiny-sd/model").string());
  EXPECT_THROW(check_same_architecture(a, b), UsageError);
}
