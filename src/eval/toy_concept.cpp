#include "eval/toy_concept.h"

#include <cctype>

#include "core/check.h"
#include "toyworld/captions.h"
#include "toyworld/scene.h"

namespace sculpt {
using namespace toyworld;

namespace {

constexpr int kKindSize[4] = {kNumShapes, kNumColours, kNumBackgrounds, kNumStyles};

std::string label_name(ConceptKind k, int i) {
  switch (k) {
    case ConceptKind::shape: return shape_name(static_cast<Shape>(i));
    case ConceptKind::colour: return colour_name(static_cast<Colour>(i));
    case ConceptKind::background: return background_name(static_cast<Background>(i));
    default: return style_name(static_cast<Style>(i));
  }
}

const std::vector<std::string>& kind_words(ConceptKind k, int i) {
  switch (k) {
    case ConceptKind::shape: return shape_words(static_cast<Shape>(i));
    case ConceptKind::colour: return colour_words(static_cast<Colour>(i));
    case ConceptKind::background: return background_words(static_cast<Background>(i));
    default: return style_words(static_cast<Style>(i));
  }
}

ToyConcept make_concept(ConceptKind k, int i) { return {k, i, label_name(k, i), kind_words(k, i)}; }

bool is_word_char(char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-'; }

// Scene options that fix attribute (kind, value) of the first object / the scene.
void fix(SceneOptions& o, ConceptKind k, int value) {
  if (k == ConceptKind::shape) o.shape = value;
  if (k == ConceptKind::colour) o.colour = value;
  if (k == ConceptKind::background) o.background = value;
  if (k == ConceptKind::style) o.style = value;
}

// A caption of a one-object scene that always names attribute `k` (canonical words), and its labels.
LabeledPrompt labeled_caption(const Scene& s, Rng& rng, CaptionOptions opt, ConceptKind k) {
  opt.paraphrase_rate = 0;
  if (k == ConceptKind::colour) opt.omit_colour_rate = 0;
  if (k == ConceptKind::background) opt.omit_background_rate = 0;
  if (k == ConceptKind::style) opt.omit_style_rate = 0;
  LabeledPrompt p;
  p.prompt = caption_sample(s, rng, opt);
  const auto& o = s.objects.front();
  // What the caption names: the shape always; the others when their canonical word occurs in it.
  p.shape = static_cast<int>(o.shape);
  auto names = [&](const std::string& w) { return replace_phrase(p.prompt, w, "\x01") != p.prompt; };
  if (names(colour_words(o.colour)[0])) p.colour = static_cast<int>(o.colour);
  if (names(background_words(s.background.kind)[0])) p.background = static_cast<int>(s.background.kind);
  if (names(style_words(s.style)[0])) p.style = static_cast<int>(s.style);
  return p;
}

// A value of the concept's kind other than the concept, uniform, drawn from rng.
int other_value(Rng& rng, const ToyConcept& c) {
  int v = static_cast<int>(rng.below(kKindSize[static_cast<int>(c.kind)] - 1));
  return v >= c.index ? v + 1 : v;
}

}  // namespace

const char* concept_kind_name(ConceptKind k) {
  static const char* const names[] = {"shape", "colour", "background", "style"};
  return names[static_cast<int>(k)];
}

ToyConcept toy_concept_resolve(const std::string& name, const std::string& kind) {
  std::string known;
  for (int k = 0; k < 4; ++k) {
    const auto ck = static_cast<ConceptKind>(k);
    if (!kind.empty() && kind != concept_kind_name(ck) && !(kind == "color" && ck == ConceptKind::colour)) continue;
    known += std::string(known.empty() ? "" : "; ") + concept_kind_name(ck) + ":";
    for (int i = 0; i < kKindSize[k]; ++i) {
      known += " " + label_name(ck, i);
      if (name == label_name(ck, i)) return make_concept(ck, i);
      for (const auto& w : kind_words(ck, i))
        if (name == w) return make_concept(ck, i);
    }
  }
  SCULPT_USAGE_CHECK(!known.empty(), "unknown concept kind '", kind, "'; known: shape, colour, background, style");
  SCULPT_USAGE_CHECK(false, "unknown ToyWorld concept '", name, "'", kind.empty() ? "" : " of kind " + kind,
                     "; known: ", known, " (or one of their paraphrases)");
  return {};
}

torch::Tensor concept_probability(ToyJudge& judge, const torch::Tensor& images, const ToyConcept& c) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (int64_t first = 0; first < images.size(0); first += 250) {
    const auto o = judge->forward(images.narrow(0, first, std::min<int64_t>(250, images.size(0) - first)));
    switch (c.kind) {
      case ConceptKind::shape: out.push_back(torch::sigmoid(o.shape.select(1, c.index))); break;
      case ConceptKind::colour: out.push_back(torch::sigmoid(o.colour.select(1, c.index))); break;
      case ConceptKind::background: out.push_back(torch::softmax(o.background, 1).select(1, c.index)); break;
      default: out.push_back(torch::softmax(o.style, 1).select(1, c.index));
    }
  }
  return torch::cat(out);
}

std::string replace_phrase(const std::string& text, const std::string& from, const std::string& to) {
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t hit = text.find(from, pos);
    if (hit == std::string::npos) break;
    const size_t end = hit + from.size();
    const bool whole = (hit == 0 || !is_word_char(text[hit - 1])) && (end == text.size() || !is_word_char(text[end]));
    if (!whole) {
      out += text.substr(pos, end - pos);
      pos = end;
      continue;
    }
    std::string before = text.substr(pos, hit - pos);
    // Article agreement: "a orange" / "an red" → fixed for the new word.
    const bool vowel = !to.empty() && std::string("aeiou8").find(to[0]) != std::string::npos;
    auto ends_with = [&](const std::string& s, const std::string& suf) {
      return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0 &&
             (s.size() == suf.size() || !is_word_char(s[s.size() - suf.size() - 1]));
    };
    if (ends_with(before, "an ") && !vowel) before.replace(before.size() - 3, 3, "a ");
    else if (ends_with(before, "a ") && vowel) before.replace(before.size() - 2, 2, "an ");
    out += before + to;
    pos = end;
  }
  return out + text.substr(pos);
}

std::vector<std::string> concept_captions(const ToyConcept& c, int64_t n, uint64_t seed) {
  SceneOptions with;
  with.two_object_rate = 0;
  fix(with, c.kind, c.index);
  std::vector<std::string> out;
  for (int64_t k = 0; k < n; ++k) {
    Rng rng(seed, k, kStreamUser);
    out.push_back(labeled_caption(scene_sample(rng, with), rng, {}, c.kind).prompt);
  }
  return out;
}

ConceptPromptSets concept_prompt_sets(const ToyConcept& c, int64_t n, int64_t seed) {
  SCULPT_USAGE_CHECK(n > 0, "prompt sets need n > 0, not ", n);
  SCULPT_USAGE_CHECK(c.words.size() >= 2, "concept '", c.name, "' has no paraphrase");
  ConceptPromptSets sets;
  const uint64_t data_seed = static_cast<uint64_t>(seed) * 7919 + 17;
  auto seed_of = [&](int set, int64_t k) { return seed * 1000000 + set * 100000 + k; };
  SceneOptions base;
  base.two_object_rate = 0;
  for (int64_t k = 0; k < n; ++k) {
    // erase + paraphrase: the same scene and template, the concept's word swapped for a paraphrase.
    SceneOptions with = base;
    fix(with, c.kind, c.index);
    Rng rng(data_seed, k, kStreamUser);
    const auto scene = scene_sample(rng, with);
    auto p = labeled_caption(scene, rng, {}, c.kind);
    p.seed = seed_of(0, k);
    sets.erase.push_back(p);
    const auto& para = c.words[1 + static_cast<size_t>(k) % (c.words.size() - 1)];
    p.prompt = replace_phrase(p.prompt, c.words[0], para);
    p.seed = seed_of(1, k);
    sets.paraphrase.push_back(p);

    // ira: another value of the kind, named; cra: the concept's kind set to another value, not named.
    Rng other_rng(data_seed + 1, k, kStreamUser);
    SceneOptions neighbour = base;
    fix(neighbour, c.kind, other_value(other_rng, c));
    auto q = labeled_caption(scene_sample(other_rng, neighbour), other_rng, {}, c.kind);
    q.seed = seed_of(2, k);
    sets.ira.push_back(q);

    Rng cra_rng(data_seed + 2, k, kStreamUser);
    SceneOptions without = base;
    fix(without, c.kind, other_value(cra_rng, c));
    CaptionOptions rest;  // the other kinds named, the concept's kind only where captions always name it
    rest.omit_colour_rate = c.kind == ConceptKind::colour ? 1.0 : 0.0;
    rest.omit_background_rate = c.kind == ConceptKind::background ? 1.0 : 0.0;
    rest.omit_style_rate = c.kind == ConceptKind::style ? 1.0 : 0.0;
    const auto cra_scene = scene_sample(cra_rng, without);
    auto r = labeled_caption(cra_scene, cra_rng, rest, ConceptKind::shape);
    // CRA scores the other kinds only.
    if (c.kind == ConceptKind::shape) r.shape = -1;
    if (c.kind == ConceptKind::colour) r.colour = -1;
    if (c.kind == ConceptKind::background) r.background = -1;
    if (c.kind == ConceptKind::style) r.style = -1;
    r.seed = seed_of(3, k);
    sets.cra.push_back(r);
  }
  return sets;
}

}  // namespace sculpt
