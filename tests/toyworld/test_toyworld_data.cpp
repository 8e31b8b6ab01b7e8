// ToyWorld data: deterministic rendering, labels that match the pixels, held-out pairs, rates, captions
// and the BPE vocabulary loaded by the ordinary CLIP tokenizer.
#include <cctype>
#include <map>
#include <set>

#include "core/check.h"
#include "io/atomic_file.h"
#include "io/image.h"
#include "support.h"
#include "tokenizer/clip_tokenizer.h"
#include "toyworld/bpe_trainer.h"
#include "toyworld/captions.h"
#include "toyworld/render.h"
#include "toyworld/samples.h"
#include "toyworld/scene.h"

namespace tw = sculpt::toyworld;
using tw::Shape;
using tw::Colour;

namespace {

// Max over channels minus min over channels: 0 for greys, >= 0.58 for palette colours.
torch::Tensor chroma(const torch::Tensor& img) { return img.amax(0) - img.amin(0); }

// Pixels (as a [H, W] bool mask) within `tol` of colour c in every channel.
torch::Tensor near_colour(const torch::Tensor& img, tw::Rgb c, double tol) {
  auto ref = torch::tensor({c.r, c.g, c.b}).view({3, 1, 1});
  return (img - ref).abs().amax(0) <= tol;
}

// Whole-phrase occurrence: the characters around the match are not letters or digits.
bool mentions(const std::string& text, const std::string& phrase) {
  for (size_t at = text.find(phrase); at != std::string::npos; at = text.find(phrase, at + 1)) {
    const bool left = at == 0 || !std::isalnum(static_cast<unsigned char>(text[at - 1]));
    const size_t end = at + phrase.size();
    const bool right = end == text.size() || !std::isalnum(static_cast<unsigned char>(text[end]));
    if (left && right) return true;
  }
  return false;
}

template <typename Table>
bool mentions_any(const std::string& text, const Table& words) {
  for (const auto& w : words)
    if (mentions(text, w)) return true;
  return false;
}

}  // namespace

TEST(ToyWorldRng, SplitMix64KnownAnswer) {
  // Reference values of splitmix64 seeded with 0 (Vigna, https://prng.di.unimi.it/splitmix64.c).
  tw::Rng rng(0);
  EXPECT_EQ(rng.next(), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(rng.next(), 0x6E789E6AA1B965F4ULL);
  EXPECT_EQ(rng.next(), 0x06C45D188009454FULL);
  tw::Rng r(5, 1, 0);
  for (int i = 0; i < 1000; ++i) {
    const auto k = r.below(7);
    ASSERT_TRUE(k >= 0 && k < 7);
    const double u = r.uniform(2.0, 3.0);
    ASSERT_TRUE(u >= 2.0 && u < 3.0);
  }
}

TEST(ToyWorldRender, DeterministicPerSeedAndIndex) {
  auto a = tw::scene_render(tw::scene_sample(7, 123));
  auto b = tw::scene_render(tw::scene_sample(7, 123));
  auto c = tw::scene_render(tw::scene_sample(7, 124));
  auto d = tw::scene_render(tw::scene_sample(8, 123));
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{3, 64, 64}));
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_FALSE(torch::equal(a, d));
  EXPECT_GE(a.min().item<float>(), 0.f);
  EXPECT_LE(a.max().item<float>(), 1.f);
  // The parallel batch renders each index exactly as rendering it alone does.
  auto batch = tw::scene_batch(7, 120, 8);
  EXPECT_TRUE(torch::equal(batch.images[3], a));
  EXPECT_EQ(tw::scene_labels_json(batch.scenes[3]).dump(), tw::scene_labels_json(tw::scene_sample(7, 123)).dump());
  // Other sizes render the same scene.
  EXPECT_EQ(tw::scene_render(tw::scene_sample(7, 123), 128).sizes(), (std::vector<int64_t>{3, 128, 128}));
}

TEST(ToyWorldRender, EveryStyleAndBackgroundDiffers) {
  // The same objects drawn in each style (and on each background) give different images.
  for (int s = 0; s < tw::kNumStyles; ++s) {
    tw::SceneOptions o;
    o.style = s;
    auto base = tw::scene_sample(3, 9, o);
    for (int t = s + 1; t < tw::kNumStyles; ++t) {
      auto other = base;
      other.style = static_cast<tw::Style>(t);
      EXPECT_GT((tw::scene_render(base) - tw::scene_render(other)).abs().mean().item<float>(), 0.002)
          << tw::style_name(base.style) << " vs " << tw::style_name(other.style);
    }
  }
}

TEST(ToyWorldLabels, FilledObjectsHaveTheirColourAndBackgroundItsOwn) {
  tw::SceneOptions o;
  o.style = static_cast<int>(tw::Style::filled);
  o.background = static_cast<int>(tw::Background::plain);
  o.two_object_rate = 0.5;
  for (int64_t i = 0; i < 60; ++i) {
    const auto scene = tw::scene_sample(11, i, o);
    const auto img = tw::scene_render(scene);
    auto any_object = torch::zeros({64, 64});
    for (int k = 0; k < scene.count(); ++k) any_object = torch::maximum(any_object, tw::object_mask(scene, k));
    for (int k = 0; k < scene.count(); ++k) {
      // Fully covered pixels of object k (not under the other object) are exactly its palette colour.
      auto mask = tw::object_mask(scene, k) >= 1.f;
      for (int j = 0; j < scene.count(); ++j)
        if (j > k) mask &= tw::object_mask(scene, j) <= 0.f;
      ASSERT_GT(mask.sum().item<int64_t>(), 20) << "scene " << i << " object " << k;
      const auto want = near_colour(img, tw::colour_rgb(scene.objects[static_cast<size_t>(k)].colour), 1e-5);
      EXPECT_TRUE(want.masked_select(mask).all().item<bool>())
          << "scene " << i << ": pixels of the " << tw::shape_name(scene.objects[static_cast<size_t>(k)].shape)
          << " are not " << tw::colour_name(scene.objects[static_cast<size_t>(k)].colour);
    }
    // Uncovered pixels are the background colour.
    const auto bg = near_colour(img, scene.background.a, 1e-5);
    EXPECT_TRUE(bg.masked_select(any_object <= 0.f).all().item<bool>()) << "scene " << i;
  }
}

TEST(ToyWorldLabels, SaturatedPixelsBelongToObjectsInEveryStyle) {
  // Backgrounds are desaturated, so strongly coloured pixels lie on or next to a labelled object, and each
  // labelled object shows its own palette colour somewhere.
  tw::SceneOptions o;
  o.two_object_rate = 0.5;
  for (int64_t i = 0; i < 120; ++i) {
    const auto scene = tw::scene_sample(12, i, o);
    const auto img = tw::scene_render(scene);
    auto near = torch::zeros({1, 1, 64, 64});
    for (int k = 0; k < scene.count(); ++k)
      near = torch::maximum(near, tw::object_mask(scene, k).view({1, 1, 64, 64}));
    near = torch::max_pool2d(near, 9, 1, 4).view({64, 64}) > 0;
    const auto saturated = chroma(img) > 0.35;
    EXPECT_FALSE((saturated & ~near).any().item<bool>())
        << "scene " << i << " (" << tw::background_name(scene.background.kind) << ", "
        << tw::style_name(scene.style) << ") has saturated pixels away from its objects";
    for (const auto& obj : scene.objects) {
      const double tol = scene.style == tw::Style::sketchy ? 0.06 : 0.02;  // film grain
      EXPECT_GE(near_colour(img, tw::colour_rgb(obj.colour), tol).sum().item<int64_t>(), 8)
          << "scene " << i << ": no " << tw::colour_name(obj.colour) << " pixels (" << tw::style_name(scene.style)
          << ")";
    }
  }
}

TEST(ToyWorldLabels, TwoObjectScenesShowTwoColouredBlobs) {
  tw::SceneOptions o;
  o.two_object_rate = 1.0;
  o.style = static_cast<int>(tw::Style::filled);
  for (int64_t i = 0; i < 40; ++i) {
    const auto scene = tw::scene_sample(13, i, o);
    ASSERT_EQ(scene.count(), 2);
    EXPECT_NE(scene.objects[0].shape, scene.objects[1].shape);
    EXPECT_NE(scene.objects[0].colour, scene.objects[1].colour);
    const auto img = tw::scene_render(scene);
    std::set<int> present;
    for (int c = 0; c < tw::kNumColours; ++c)
      if (near_colour(img, tw::colour_rgb(static_cast<Colour>(c)), 1e-5).sum().item<int64_t>() >= 20)
        present.insert(c);
    EXPECT_EQ(present, (std::set<int>{static_cast<int>(scene.objects[0].colour),
                                      static_cast<int>(scene.objects[1].colour)}))
        << "scene " << i;
    // The two objects overlap at most slightly.
    const auto overlap = (tw::object_mask(scene, 0) * tw::object_mask(scene, 1)).sum().item<float>();
    EXPECT_LT(overlap, 10.f) << "scene " << i;
  }
  const auto labels = tw::scene_labels({tw::scene_sample(13, 0, o)});
  EXPECT_EQ(labels.shapes.sum().item<float>(), 2.f);
  EXPECT_EQ(labels.colours.sum().item<float>(), 2.f);
  EXPECT_EQ(labels.count.item<int64_t>(), 1);
}

TEST(ToyWorldSampling, HeldOutPairsNeverInTrainingData) {
  ASSERT_EQ(tw::held_out_pairs().size(), 10u);
  std::map<int, int> held_per_shape, held_per_colour;
  for (const auto& [s, c] : tw::held_out_pairs()) {
    ++held_per_shape[static_cast<int>(s)];
    ++held_per_colour[static_cast<int>(c)];
  }
  for (const auto& [k, n] : held_per_shape) EXPECT_LE(n, 2) << tw::shape_name(static_cast<Shape>(k));
  for (const auto& [k, n] : held_per_colour) EXPECT_LE(n, 2) << tw::colour_name(static_cast<Colour>(k));

  std::set<std::pair<int, int>> seen_train, seen_all;
  tw::SceneOptions all;
  all.exclude_held_out = false;
  for (int64_t i = 0; i < 20000; ++i) {
    for (const auto& obj : tw::scene_sample(21, i).objects) {
      ASSERT_FALSE(tw::is_held_out(obj.shape, obj.colour)) << "scene " << i;
      seen_train.insert({static_cast<int>(obj.shape), static_cast<int>(obj.colour)});
    }
    for (const auto& obj : tw::scene_sample(21, i, all).objects)
      seen_all.insert({static_cast<int>(obj.shape), static_cast<int>(obj.colour)});
  }
  EXPECT_EQ(seen_train.size(), 54u);  // every other pair does appear
  EXPECT_EQ(seen_all.size(), 64u);    // and without the exclusion the held-out ones too
  tw::SceneOptions fixed;
  fixed.shape = static_cast<int>(Shape::star);
  fixed.colour = static_cast<int>(Colour::cyan);
  EXPECT_THROW(tw::scene_sample(1, 0, fixed), sculpt::UsageError);
  tw::SceneOptions cyan;  // a fixed colour alone: its held-out shape (star) is never drawn
  cyan.colour = static_cast<int>(Colour::cyan);
  std::set<Shape> cyan_shapes;
  for (int64_t i = 0; i < 500; ++i) {
    const auto s = tw::scene_sample(22, i, cyan);
    EXPECT_EQ(s.objects[0].colour, Colour::cyan);
    cyan_shapes.insert(s.objects[0].shape);
  }
  EXPECT_EQ(cyan_shapes.size(), 7u);
  EXPECT_EQ(cyan_shapes.count(Shape::star), 0u);
}

TEST(ToyWorldSampling, RatesAndInstances) {
  int two = 0, instances = 0;
  const int n = 5000;
  for (int64_t i = 0; i < n; ++i) {
    const auto s = tw::scene_sample(31, i);
    two += s.count() == 2;
    instances += s.instance >= 0;
  }
  EXPECT_NEAR(two / double(n), 0.2, 0.02);
  EXPECT_EQ(instances, 0);  // base data never shows an emblem

  tw::SceneOptions judge;
  judge.instance_rate = 0.1;
  instances = 0;
  for (int64_t i = 0; i < n; ++i) instances += tw::scene_sample(31, i, judge).instance >= 0;
  EXPECT_NEAR(instances / double(n), 0.1, 0.015);

  for (int k = 0; k < tw::kNumInstances; ++k) {
    tw::Rng rng(4, k, tw::kStreamUser);
    const auto scene = tw::instance_sample(k, rng);
    EXPECT_EQ(scene.instance, k);
    EXPECT_EQ(tw::scene_labels({scene}).instance.item<int64_t>(), k + 1);
    // The emblem covers a good part of the image and is not the background.
    const auto img = tw::scene_render(scene);
    const auto mask = tw::object_mask(scene, 0) >= 1.f;
    EXPECT_GT(mask.sum().item<int64_t>(), 200) << tw::instance_info(k).name;
    EXPECT_FALSE(near_colour(img, scene.background.a, 0.02).masked_select(mask).all().item<bool>());
    tw::Rng again(4, k, tw::kStreamUser);
    EXPECT_TRUE(torch::equal(tw::instance_render(k, again), img));
  }
}

TEST(ToyWorldSampling, SpuriousCorrelationRate) {
  tw::SceneOptions o;
  o.spurious.shape = static_cast<int>(Shape::star);
  o.spurious.background = static_cast<int>(tw::Background::dots);
  o.spurious.rate = 0.9;
  o.spurious.other_rate = 0.05;
  int with = 0, with_dots = 0, without = 0, without_dots = 0;
  for (int64_t i = 0; i < 8000; ++i) {
    const auto s = tw::scene_sample(41, i, o);
    const bool dots = s.background.kind == tw::Background::dots;
    if (s.has_shape(Shape::star)) {
      ++with;
      with_dots += dots;
    } else {
      ++without;
      without_dots += dots;
    }
  }
  ASSERT_GT(with, 1000);
  EXPECT_NEAR(with_dots / double(with), 0.9, 0.03);
  EXPECT_NEAR(without_dots / double(without), 0.05, 0.015);
}

TEST(ToyWorldCaptions, CanonicalPrompt) {
  tw::PromptSpec spec;
  spec.objects = {{Shape::star, static_cast<int>(Colour::red)}};
  spec.background = static_cast<int>(tw::Background::stripes);
  spec.style = static_cast<int>(tw::Style::pixel_art);
  EXPECT_EQ(tw::prompt_make(spec), "a red star on a striped background, pixel-art");
  spec.objects.push_back({Shape::circle, static_cast<int>(Colour::blue)});
  spec.style = -1;
  EXPECT_EQ(tw::prompt_make(spec), "a red star and a blue circle on a striped background");
  EXPECT_EQ(tw::prompt_make({{{Shape::hexagon, static_cast<int>(Colour::orange), 1, 0}}}), "an orange six-sided shape");
  EXPECT_EQ(tw::prompt_make({{{Shape::heart, -1}}, -1, static_cast<int>(tw::Style::sketchy)}), "a heart, sketch");
  for (int s = 0; s < tw::kNumShapes; ++s) EXPECT_GE(tw::shape_words(static_cast<Shape>(s)).size(), 3u);
  for (int c = 0; c < tw::kNumColours; ++c) EXPECT_GE(tw::colour_words(static_cast<Colour>(c)).size(), 3u);
}

TEST(ToyWorldCaptions, NameTheRightShapeAndNothingWrong) {
  tw::SceneOptions o;
  o.exclude_held_out = false;
  o.instance_rate = 0.02;
  int paraphrased = 0, with_colour = 0, objects = 0;
  std::set<std::string> distinct;
  for (int64_t i = 0; i < 4000; ++i) {
    const auto scene = tw::scene_sample(51, i, o);
    const auto cap = tw::caption_for(scene, 51, i);
    ASSERT_EQ(cap, tw::caption_for(scene, 51, i));
    distinct.insert(cap);
    if (scene.instance >= 0) {
      EXPECT_TRUE(mentions(cap, tw::instance_info(scene.instance).name)) << cap;
      continue;
    }
    for (int s = 0; s < tw::kNumShapes; ++s) {
      const bool labelled = scene.has_shape(static_cast<Shape>(s));
      EXPECT_EQ(mentions_any(cap, tw::shape_words(static_cast<Shape>(s))), labelled)
          << "caption '" << cap << "' and shape " << tw::shape_name(static_cast<Shape>(s));
    }
    for (int c = 0; c < tw::kNumColours; ++c) {
      bool labelled = false;
      for (const auto& obj : scene.objects) labelled |= obj.colour == static_cast<Colour>(c);
      if (!labelled) EXPECT_FALSE(mentions_any(cap, tw::colour_words(static_cast<Colour>(c)))) << cap;
    }
    for (int b = 0; b < tw::kNumBackgrounds; ++b)
      if (b != static_cast<int>(scene.background.kind))
        EXPECT_FALSE(mentions_any(cap, tw::background_words(static_cast<tw::Background>(b)))) << cap;
    for (int s = 0; s < tw::kNumStyles; ++s)
      if (s != static_cast<int>(scene.style)) EXPECT_FALSE(mentions_any(cap, tw::style_words(static_cast<tw::Style>(s)))) << cap;
    for (const auto& obj : scene.objects) {
      ++objects;
      paraphrased += !mentions(cap, tw::shape_words(obj.shape)[0]);
      with_colour += mentions_any(cap, tw::colour_words(obj.colour));
    }
  }
  EXPECT_GT(distinct.size(), 1500u);                  // many templates and combinations
  // Paraphrased 15% of the time; "five-pointed star" and "crescent moon" still contain the canonical word.
  EXPECT_NEAR(paraphrased / double(objects), 0.15 * (6 + 2 * 0.5) / 8, 0.025);
  EXPECT_NEAR(with_colour / double(objects), 0.8, 0.03);
  // Paraphrases and attribute order vary: spot-check two of the template families.
  bool style_first = false, background_first = false;
  for (const auto& c : distinct) {
    style_first |= c.rfind("pixel-art drawing of", 0) == 0 || c.rfind("an outline of", 0) == 0;
    background_first |= c.rfind("a striped background with", 0) == 0;
  }
  EXPECT_TRUE(style_first);
  EXPECT_TRUE(background_first);
}

TEST(ToyWorldBpe, KnownMergesOnATinyCorpus) {
  // "ab" ×3 and "abc" ×1: pairs (a, b</w>) 3, (a, b) 1, (b, c</w>) 1. The first merge is the frequent one;
  // then the tie between (a, b) and (b, c</w>) goes to the smaller pair, and "ab c</w>" follows.
  const auto m = tw::bpe_learn({"ab ab", "AB abc"}, 1000, 1);
  ASSERT_EQ(m.merges.size(), 3u);
  EXPECT_EQ(m.merges[0], (std::pair<std::string, std::string>{"a", "b</w>"}));
  EXPECT_EQ(m.merges[1], (std::pair<std::string, std::string>{"a", "b"}));
  EXPECT_EQ(m.merges[2], (std::pair<std::string, std::string>{"ab", "c</w>"}));
  ASSERT_EQ(m.vocab.size(), 512u + 3 + 2);
  EXPECT_EQ(m.vocab[0], "!");
  EXPECT_EQ(m.vocab[187], "\xC3\xBF");    // ÿ: the last printable Latin-1 byte
  EXPECT_EQ(m.vocab[188], "\xC4\x80");    // byte 0 → U+0100
  EXPECT_EQ(m.vocab[256], "!</w>");
  EXPECT_EQ(m.vocab[512], "ab</w>");
  EXPECT_EQ(m.vocab[514], "abc</w>");
  EXPECT_EQ(m.vocab[515], "<|startoftext|>");
  EXPECT_EQ(m.vocab[516], "<|endoftext|>");
  EXPECT_EQ(tw::bpe_learn({"ab ab", "AB abc"}, 1000, 2).merges.size(), 1u);  // min_frequency stops it
}

TEST(ToyWorldBpe, CaptionVocabularyLoadsInTheClipTokenizer) {
  tw::SceneOptions o;
  o.exclude_held_out = false;
  const auto corpus = tw::caption_corpus(61, 3000, o);
  const auto dir = sculpt::test::temp_dir("toyworld_bpe");
  const auto model = tw::bpe_train(corpus, 1024, 32, dir);
  const auto tok = sculpt::CLIPTokenizer::from_dir(dir);
  EXPECT_EQ(tok.vocab_size(), static_cast<int64_t>(model.vocab.size()));
  EXPECT_LE(tok.vocab_size(), 1024);
  EXPECT_EQ(tok.model_max_length(), 32);
  EXPECT_EQ(tok.bos_id(), tok.vocab_size() - 2);
  EXPECT_EQ(tok.eos_id(), tok.vocab_size() - 1);
  EXPECT_EQ(tok.pad_id(), tok.eos_id());

  // Every word of the captions is one token.
  std::set<std::string> words;
  for (const auto& c : corpus)
    for (const auto& w : sculpt::clip_pretokenize(c)) words.insert(w);
  for (const auto& w : words) EXPECT_EQ(tok.encode(w).size(), 3u) << "'" << w << "' is split";
  // Round trip on captions the vocabulary was not learned from: ids survive decode → encode.
  const auto fresh = tw::caption_corpus(62, 500, o);
  for (const auto& c : fresh) {
    const auto ids = tok.encode(c);
    for (auto id : ids) ASSERT_LT(id, tok.vocab_size());
    EXPECT_EQ(tok.encode(tok.decode(ids)), ids) << c;
    EXPECT_LE(ids.size(), 32u) << c;
  }
  const auto batch = tok({fresh[0], fresh[1]});
  EXPECT_EQ(batch.sizes(), (std::vector<int64_t>{2, 32}));
  // An instance name was never seen: it still encodes (in pieces) and decodes back.
  const auto emblem = tok.encode("a vexa emblem");
  EXPECT_EQ(tok.decode(emblem), "a vexa emblem");
}

TEST(ToyWorldSamples, WritesImagesAndLabels) {
  tw::ToyWorldRenderConfig c;
  c.out = sculpt::test::temp_dir("toyworld_render");
  c.seed = 71;
  c.count = 6;
  c.first_index = 10;
  c.style = "pixel-art";
  c.progress = false;
  const auto summary = tw::toyworld_render(c);
  EXPECT_EQ(summary["files"], 6);
  const auto labels = nlohmann::json::parse(sculpt::read_file(c.out / "labels.json"));
  ASSERT_EQ(labels.size(), 6u);
  for (int64_t i = 0; i < 6; ++i) {
    const auto& e = labels[static_cast<size_t>(i)];
    const auto scene = tw::scene_sample(71, 10 + i, tw::render_scene_options(c));
    EXPECT_EQ(e["index"], 10 + i);
    EXPECT_EQ(e["labels"]["style"], "pixel-art");
    EXPECT_EQ(e["labels"].dump(), tw::scene_labels_json(scene).dump());
    EXPECT_EQ(e["caption"], tw::caption_for(scene, 71, 10 + i));
    const auto img = sculpt::image_read(c.out / e["file"].get<std::string>());
    EXPECT_LE((img - tw::scene_render(scene)).abs().max().item<float>(), 0.5f / 255 + 1e-6) << e["file"];
  }
  EXPECT_TRUE(std::filesystem::exists(c.out / "grid.png"));
  c.shape = "blob";
  EXPECT_THROW(tw::toyworld_render(c), sculpt::UsageError);
}
