#include "toyworld/captions.h"

#include "core/check.h"

namespace sculpt::toyworld {

namespace {

using Words = std::vector<std::string>;

// No phrase of one entry occurs (as whole words) in another entry of the same table, so a caption of a
// star never names a heart, even through a paraphrase ("shape" alone names nothing).
const Words kShapeWords[kNumShapes] = {
    {"circle", "disk", "round shape"},
    {"square", "box", "four-sided block"},
    {"triangle", "three-sided shape", "trigon"},
    {"star", "five-pointed star", "pentagram"},
    {"heart", "love symbol", "valentine"},
    {"cross", "plus sign", "plus shape"},
    {"hexagon", "six-sided shape", "honeycomb cell"},
    {"crescent", "crescent moon", "sickle"},
};
const Words kColourWords[kNumColours] = {
    {"red", "crimson", "scarlet"},   {"orange", "tangerine", "amber"}, {"yellow", "lemon", "golden"},
    {"green", "emerald", "lime"},    {"cyan", "aqua", "turquoise"},    {"blue", "cobalt", "sapphire"},
    {"purple", "violet", "plum"},    {"pink", "rose", "fuchsia"},
};
const Words kBackgroundWords[kNumBackgrounds] = {
    {"a plain background", "a blank background", "an empty backdrop"},
    {"a striped background", "stripes", "a background of stripes"},
    {"a dotted background", "dots", "polka dots"},
    {"a checkerboard background", "a checkerboard", "a checkered background"},
    {"a gradient background", "a gradient", "a color gradient"},
};
const Words kStyleWords[kNumStyles] = {
    {"filled", "solid", "flat"},
    {"outline", "line art", "contour drawing"},
    {"pixel-art", "8-bit", "pixelated"},
    {"sketch", "hand-drawn", "scribbled"},
};

const char* const kPrepositions[] = {"on", "over", "against", "in front of"};
const char* const kJoiners[] = {" and ", " next to ", " beside ", " with "};

bool starts_with_vowel_sound(const std::string& w) {
  return !w.empty() && std::string("aeiou8").find(w[0]) != std::string::npos;
}
std::string with_article(const std::string& phrase) { return (starts_with_vowel_sound(phrase) ? "an " : "a ") + phrase; }

template <size_t N>
const char* pick(Rng& rng, const char* const (&options)[N]) {
  return options[rng.below(static_cast<int64_t>(N))];
}

int word_index(Rng& rng, const Words& words, double paraphrase_rate) {
  if (!rng.chance(paraphrase_rate)) return 0;
  return 1 + static_cast<int>(rng.below(static_cast<int64_t>(words.size()) - 1));
}

// "red star", "star in red" (no article yet).
std::string object_phrase(const ObjectPrompt& o, bool colour_after) {
  const std::string& shape = shape_words(o.shape)[static_cast<size_t>(o.shape_word)];
  if (o.colour < 0) return shape;
  const std::string& colour = colour_words(static_cast<Colour>(o.colour))[static_cast<size_t>(o.colour_word)];
  return colour_after ? shape + " in " + colour : colour + " " + shape;
}

// "a vexa emblem" / "a vexa badge".
std::string instance_phrase(const Scene& scene, Rng* rng) {
  const std::string name = instance_info(scene.instance).name;
  return with_article(name + ((rng && rng->chance(0.3)) ? " badge" : " emblem"));
}

// "a pixel-art drawing of", "an outline of", "a sketch of", …
std::string style_prefix(const std::string& w, Rng& rng) {
  if (w == "outline" || w == "sketch" || w == "contour drawing") return with_article(w) + " of";
  if (w == "line art") return "line art of";
  const std::string noun = rng.chance(0.5) ? " drawing of" : " image of";
  return rng.chance(0.3) ? w + noun : with_article(w + noun);
}

}  // namespace

const std::vector<std::string>& shape_words(Shape s) { return kShapeWords[static_cast<int>(s)]; }
const std::vector<std::string>& colour_words(Colour c) { return kColourWords[static_cast<int>(c)]; }
const std::vector<std::string>& background_words(Background b) { return kBackgroundWords[static_cast<int>(b)]; }
const std::vector<std::string>& style_words(Style s) { return kStyleWords[static_cast<int>(s)]; }

std::string prompt_make(const PromptSpec& spec) {
  SCULPT_USAGE_CHECK(!spec.objects.empty() && spec.objects.size() <= 2, "a prompt names 1 or 2 objects, not ",
                     spec.objects.size());
  std::string text;
  for (size_t i = 0; i < spec.objects.size(); ++i) {
    const auto& o = spec.objects[i];
    SCULPT_USAGE_CHECK(o.shape_word >= 0 && o.shape_word < static_cast<int>(shape_words(o.shape).size()) &&
                           o.colour < kNumColours &&
                           (o.colour < 0 || (o.colour_word >= 0 &&
                                             o.colour_word < static_cast<int>(colour_words(Colour(o.colour)).size()))),
                       "prompt_make: word index out of range for object ", i);
    text += (i ? " and " : "") + with_article(object_phrase(o, false));
  }
  if (spec.background >= 0) {
    SCULPT_USAGE_CHECK(spec.background < kNumBackgrounds, "prompt_make: background ", spec.background);
    text += " on " + background_words(static_cast<Background>(spec.background)).at(static_cast<size_t>(spec.background_word));
  }
  if (spec.style >= 0) {
    SCULPT_USAGE_CHECK(spec.style < kNumStyles, "prompt_make: style ", spec.style);
    text += ", " + style_words(static_cast<Style>(spec.style)).at(static_cast<size_t>(spec.style_word));
  }
  return text;
}

std::string prompt_canonical(const Scene& scene) {
  if (scene.instance >= 0)
    return instance_phrase(scene, nullptr) + " on " + background_words(scene.background.kind)[0] + ", " +
           style_words(scene.style)[0];
  PromptSpec spec;
  for (const auto& o : scene.objects) spec.objects.push_back({o.shape, static_cast<int>(o.colour), 0, 0});
  spec.background = static_cast<int>(scene.background.kind);
  spec.style = static_cast<int>(scene.style);
  return prompt_make(spec);
}

std::string caption_sample(const Scene& scene, Rng& rng, const CaptionOptions& opt) {
  // The pieces: objects (with their words chosen), background phrase, style word.
  std::vector<std::string> objects;
  if (scene.instance >= 0) {
    objects.push_back(instance_phrase(scene, &rng));
  } else {
    const bool colour_after = rng.chance(0.2);
    for (const auto& o : scene.objects) {
      ObjectPrompt op{o.shape, -1, word_index(rng, shape_words(o.shape), opt.paraphrase_rate), 0};
      if (!rng.chance(opt.omit_colour_rate)) {
        op.colour = static_cast<int>(o.colour);
        op.colour_word = word_index(rng, colour_words(o.colour), opt.paraphrase_rate);
      }
      objects.push_back(with_article(object_phrase(op, colour_after)));
    }
    if (objects.size() == 2 && rng.chance(0.5)) std::swap(objects[0], objects[1]);
  }
  std::string objs = objects[0];
  if (objects.size() == 2) objs += pick(rng, kJoiners) + objects[1];

  const auto& bgw = background_words(scene.background.kind);
  const auto& stw = style_words(scene.style);
  const bool has_bg = !rng.chance(opt.omit_background_rate), has_style = !rng.chance(opt.omit_style_rate);
  const std::string bg = bgw[static_cast<size_t>(word_index(rng, bgw, opt.paraphrase_rate))];
  const std::string st = stw[static_cast<size_t>(word_index(rng, stw, opt.paraphrase_rate))];
  const std::string on_bg = has_bg ? std::string(" ") + pick(rng, kPrepositions) + " " + bg : "";

  if (rng.chance(opt.canonical_rate))  // "a red star on a striped background, pixel-art"
    return objs + (has_bg ? " on " + bg : "") + (has_style ? ", " + st : "");
  switch (rng.below(4)) {
    case 0:  // "a pixel-art drawing of a red star over dots"
      if (has_style) return style_prefix(st, rng) + " " + objs + on_bg;
      return objs + on_bg;
    case 1:  // "a striped background with a red star, pixel-art"
      if (has_bg) return bg + " with " + objs + (has_style ? ", " + st : "");
      return objs + (has_style ? ", " + st : "");
    case 2:  // "a red star in pixel-art style against a checkerboard"
      return objs + (has_style ? " in " + st + " style" : "") + on_bg;
    default:  // "a red star in front of a gradient, pixel-art style"
      return objs + on_bg + (has_style ? ", " + st + " style" : "");
  }
}

std::string caption_for(const Scene& scene, uint64_t seed, int64_t index, const CaptionOptions& options) {
  Rng rng(seed, index, kStreamCaption);
  return caption_sample(scene, rng, options);
}

std::vector<std::string> caption_corpus(uint64_t seed, int64_t n, const SceneOptions& scenes,
                                        const CaptionOptions& options) {
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) out.push_back(caption_for(scene_sample(seed, i, scenes), seed, i, options));
  return out;
}

}  // namespace sculpt::toyworld
