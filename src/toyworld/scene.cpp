#include "toyworld/scene.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace sculpt::toyworld {

namespace {

constexpr double kPi = 3.14159265358979323846;

const char* const kShapeNames[kNumShapes] = {"circle", "square", "triangle", "star",
                                             "heart",  "cross",  "hexagon",  "crescent"};
const char* const kColourNames[kNumColours] = {"red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink"};
const char* const kBackgroundNames[kNumBackgrounds] = {"plain", "stripes", "dots", "checkerboard", "gradient"};
const char* const kStyleNames[kNumStyles] = {"filled", "outline", "pixel-art", "sketchy"};

// HSV saturation >= 0.8 and value >= 0.8 for all; hues about 20-60 degrees apart.
const Rgb kPalette[kNumColours] = {
    {0.90f, 0.10f, 0.10f},  // red     h=0
    {0.98f, 0.52f, 0.02f},  // orange  h=32
    {0.96f, 0.86f, 0.06f},  // yellow  h=53
    {0.10f, 0.72f, 0.16f},  // green   h=126
    {0.02f, 0.80f, 0.88f},  // cyan    h=186
    {0.10f, 0.26f, 0.92f},  // blue    h=228
    {0.58f, 0.14f, 0.86f},  // purple  h=277
    {0.98f, 0.38f, 0.74f},  // pink    h=324
};

const InstanceInfo kInstances[kNumInstances] = {
    {"vexa", "ringed target: teal and cream rings round a maroon eye, with a notch cut from the top"},
    {"quorl", "two-tone shield, maroon left and navy right, crossed by a gold bar"},
    {"zindle", "olive diamond holding a salmon diamond, with dark brown orbs on its four corners"},
    {"mobrik", "trefoil of three lavender lobes round a dark green triangle"},
};

template <typename E, size_t N>
E enum_from_name(const std::string& name, const char* const (&names)[N], const char* what) {
  for (size_t i = 0; i < N; ++i)
    if (name == names[i]) return static_cast<E>(i);
  std::string valid;
  for (size_t i = 0; i < N; ++i) valid += (i ? ", " : "") + std::string(names[i]);
  throw UsageError(detail::str_cat("unknown ", what, " '", name, "' (valid: ", valid, ")"));
}

uint64_t mix64(uint64_t z) {  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Rgb hsv_to_rgb(double h, double s, double v) {  // h in [0, 1)
  const double h6 = h * 6.0;
  const int i = static_cast<int>(h6) % 6;
  const double f = h6 - std::floor(h6);
  const auto p = static_cast<float>(v * (1 - s)), q = static_cast<float>(v * (1 - s * f)),
             t = static_cast<float>(v * (1 - s * (1 - f))), vv = static_cast<float>(v);
  switch (i) {
    case 0: return {vv, t, p};
    case 1: return {q, vv, p};
    case 2: return {p, vv, t};
    case 3: return {p, q, vv};
    case 4: return {t, p, vv};
    default: return {vv, p, q};
  }
}

// Two pale, greyish or dark tones: saturation <= 0.22 keeps them far from every palette colour; their
// values (in [0.28, 0.95]) differ by at least `min_contrast`, so patterns and gradients stay visible.
std::pair<Rgb, Rgb> background_colours(Rng& rng, double min_contrast) {
  const double lo = rng.uniform(0.28, 0.95 - min_contrast), hi = rng.uniform(lo + min_contrast, 0.95);
  const bool swap = rng.chance(0.5);
  const double v1 = swap ? hi : lo, v2 = swap ? lo : hi;
  const Rgb a = hsv_to_rgb(rng.uniform(), rng.uniform(0.0, 0.22), v1);
  const Rgb b = hsv_to_rgb(rng.uniform(), rng.uniform(0.0, 0.22), v2);
  return {a, b};
}

BackgroundSpec background_sample(Background kind, Rng& rng) {
  BackgroundSpec bg;
  bg.kind = kind;
  const auto [a, b] = background_colours(rng, kind == Background::gradient ? 0.35 : 0.25);
  bg.a = a;
  bg.b = b;
  bg.phase_x = static_cast<float>(rng.uniform());
  bg.phase_y = static_cast<float>(rng.uniform());
  switch (kind) {
    case Background::plain: break;
    case Background::stripes:
      bg.angle = static_cast<float>(rng.uniform(0.0, kPi));
      bg.period = static_cast<float>(rng.uniform(0.11, 0.22));
      break;
    case Background::dots:
      bg.period = static_cast<float>(rng.uniform(0.11, 0.19));
      bg.radius = static_cast<float>(std::min(rng.uniform(0.027, 0.045), 0.3 * bg.period));
      break;
    case Background::checkerboard: bg.period = static_cast<float>(rng.uniform(0.09, 0.19)); break;
    case Background::gradient: bg.angle = static_cast<float>(rng.uniform(0.0, 2 * kPi)); break;
  }
  return bg;
}

Pose pose_sample(Rng& rng, double min_size, double max_size) {
  Pose p;
  p.size = static_cast<float>(rng.uniform(min_size, max_size));
  const double margin = p.size + 0.02;
  p.x = static_cast<float>(rng.uniform(margin, 1 - margin));
  p.y = static_cast<float>(rng.uniform(margin, 1 - margin));
  p.rotation = static_cast<float>(rng.uniform(-kPi / 4, kPi / 4));
  return p;
}

Colour colour_sample(Rng& rng, Shape shape, int fixed, int avoid, bool exclude_held_out) {
  if (fixed >= 0) {
    const auto c = static_cast<Colour>(fixed);
    SCULPT_USAGE_CHECK(!(exclude_held_out && is_held_out(shape, c)), "the pair (", shape_name(shape), ", ",
                       colour_name(c), ") is held out of training data; sample with exclude_held_out = false");
    return c;
  }
  while (true) {
    const auto c = static_cast<Colour>(rng.below(kNumColours));
    if (static_cast<int>(c) != avoid && !(exclude_held_out && is_held_out(shape, c))) return c;
  }
}

Background background_kind_sample(Rng& rng, const Scene& scene, const SceneOptions& o) {
  if (o.background >= 0) return static_cast<Background>(o.background);
  const auto& sp = o.spurious;
  if (sp.shape < 0) return static_cast<Background>(rng.below(kNumBackgrounds));
  const double p = scene.has_shape(static_cast<Shape>(sp.shape)) ? sp.rate : sp.other_rate;
  if (rng.chance(p)) return static_cast<Background>(sp.background);
  int k = static_cast<int>(rng.below(kNumBackgrounds - 1));  // one of the other four
  if (k >= sp.background) ++k;
  return static_cast<Background>(k);
}

void check_options(const SceneOptions& o) {
  SCULPT_USAGE_CHECK(o.two_object_rate >= 0 && o.two_object_rate <= 1, "two_object_rate ", o.two_object_rate,
                     " is not in [0, 1]");
  SCULPT_USAGE_CHECK(o.instance_rate >= 0 && o.instance_rate <= 1, "instance_rate ", o.instance_rate,
                     " is not in [0, 1]");
  SCULPT_USAGE_CHECK(o.instance < kNumInstances, "instance ", o.instance, " does not exist (0..", kNumInstances - 1, ")");
  SCULPT_USAGE_CHECK(o.shape < kNumShapes && o.colour < kNumColours && o.background < kNumBackgrounds &&
                         o.style < kNumStyles,
                     "a fixed attribute is out of range (shape ", o.shape, ", colour ", o.colour, ", background ",
                     o.background, ", style ", o.style, ")");
  const auto& sp = o.spurious;
  if (sp.shape >= 0) {
    SCULPT_USAGE_CHECK(sp.shape < kNumShapes && sp.background >= 0 && sp.background < kNumBackgrounds,
                       "spurious mode needs a shape 0..", kNumShapes - 1, " and a background 0..",
                       kNumBackgrounds - 1, " (got ", sp.shape, ", ", sp.background, ")");
    SCULPT_USAGE_CHECK(sp.rate >= 0 && sp.rate <= 1 && sp.other_rate >= 0 && sp.other_rate <= 1,
                       "spurious rates must lie in [0, 1] (got ", sp.rate, ", ", sp.other_rate, ")");
  }
}

}  // namespace

const char* shape_name(Shape s) { return kShapeNames[static_cast<int>(s)]; }
const char* colour_name(Colour c) { return kColourNames[static_cast<int>(c)]; }
const char* background_name(Background b) { return kBackgroundNames[static_cast<int>(b)]; }
const char* style_name(Style s) { return kStyleNames[static_cast<int>(s)]; }
Shape shape_from_name(const std::string& n) { return enum_from_name<Shape>(n, kShapeNames, "shape"); }
Colour colour_from_name(const std::string& n) { return enum_from_name<Colour>(n, kColourNames, "colour"); }
Background background_from_name(const std::string& n) {
  return enum_from_name<Background>(n, kBackgroundNames, "background");
}
Style style_from_name(const std::string& n) { return enum_from_name<Style>(n, kStyleNames, "style"); }

Rgb colour_rgb(Colour c) { return kPalette[static_cast<int>(c)]; }

const std::vector<std::pair<Shape, Colour>>& held_out_pairs() {
  static const std::vector<std::pair<Shape, Colour>> pairs = {
      {Shape::circle, Colour::green},   {Shape::square, Colour::purple}, {Shape::triangle, Colour::blue},
      {Shape::star, Colour::cyan},      {Shape::heart, Colour::yellow},  {Shape::cross, Colour::pink},
      {Shape::hexagon, Colour::red},    {Shape::crescent, Colour::orange}, {Shape::star, Colour::pink},
      {Shape::circle, Colour::blue},
  };
  return pairs;
}

bool is_held_out(Shape s, Colour c) {
  for (const auto& [hs, hc] : held_out_pairs())
    if (hs == s && hc == c) return true;
  return false;
}

Rng::Rng(uint64_t seed, int64_t index, uint64_t stream)
    : state_(mix64(mix64(mix64(seed ^ 0x5C17A9D3E2B4F601ULL) ^ static_cast<uint64_t>(index)) ^
                   (stream * 0x9E3779B97F4A7C15ULL))) {}

uint64_t Rng::next() {  // splitmix64
  state_ += 0x9E3779B97F4A7C15ULL;
  return mix64(state_);
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

int64_t Rng::below(int64_t n) {
  const auto k = static_cast<int64_t>(uniform() * static_cast<double>(n));
  return std::min(k, n - 1);
}

bool Scene::has_shape(Shape s) const {
  for (const auto& o : objects)
    if (o.shape == s) return true;
  return false;
}

const InstanceInfo& instance_info(int k) {
  SCULPT_USAGE_CHECK(k >= 0 && k < kNumInstances, "instance ", k, " does not exist (0..", kNumInstances - 1, ")");
  return kInstances[k];
}

Scene scene_sample(uint64_t seed, int64_t index, const SceneOptions& options) {
  Rng rng(seed, index, kStreamScene);
  return scene_sample(rng, options);
}

Scene scene_sample(Rng& rng, const SceneOptions& o) {
  check_options(o);
  if (o.instance >= 0) return instance_sample(o.instance, rng, o);
  if (o.instance_rate > 0 && rng.chance(o.instance_rate))
    return instance_sample(static_cast<int>(rng.below(kNumInstances)), rng, o);
  Scene scene;
  const bool two = rng.chance(o.two_object_rate);
  Object first;
  if (o.shape >= 0) {
    first.shape = static_cast<Shape>(o.shape);
  } else {  // with a fixed colour, a shape it may pair with
    do first.shape = static_cast<Shape>(rng.below(kNumShapes));
    while (o.colour >= 0 && o.exclude_held_out && is_held_out(first.shape, static_cast<Colour>(o.colour)));
  }
  first.colour = colour_sample(rng, first.shape, o.colour, -1, o.exclude_held_out);
  scene.objects.push_back(first);
  if (two) {
    Object second;
    do second.shape = static_cast<Shape>(rng.below(kNumShapes));
    while (second.shape == first.shape);
    second.colour = colour_sample(rng, second.shape, -1, static_cast<int>(first.colour), o.exclude_held_out);
    scene.objects.push_back(second);
  }
  scene.style = o.style >= 0 ? static_cast<Style>(o.style) : static_cast<Style>(rng.below(kNumStyles));
  scene.background = background_sample(background_kind_sample(rng, scene, o), rng);
  if (!two) {
    scene.objects[0].pose = pose_sample(rng, 0.22, 0.36);
  } else {
    // Two objects side by side: centres at least 0.95 × (sum of circumradii) apart, so the shapes (which
    // lie inside their circles) at most touch. Shrink and retry in the rare case nothing fits.
    double scale = 1.0;
    for (int attempt = 0;; ++attempt) {
      const Pose a = pose_sample(rng, 0.15 * scale, 0.23 * scale), b = pose_sample(rng, 0.15 * scale, 0.23 * scale);
      const double dist = std::hypot(a.x - b.x, a.y - b.y);
      if (dist >= 0.95 * (a.size + b.size)) {
        scene.objects[0].pose = a;
        scene.objects[1].pose = b;
        break;
      }
      if (attempt % 32 == 31) scale *= 0.9;
    }
  }
  scene.noise_seed = rng.next();
  return scene;
}

Scene instance_sample(int k, Rng& rng, const SceneOptions& o) {
  SCULPT_USAGE_CHECK(k >= 0 && k < kNumInstances, "instance ", k, " does not exist (0..", kNumInstances - 1, ")");
  Scene scene;
  scene.instance = k;
  scene.style = o.style >= 0 ? static_cast<Style>(o.style) : Style::filled;
  const auto kind = o.background >= 0 ? static_cast<Background>(o.background)
                                      : static_cast<Background>(rng.below(kNumBackgrounds));
  scene.background = background_sample(kind, rng);
  scene.instance_pose = pose_sample(rng, 0.24, 0.38);
  scene.noise_seed = rng.next();
  return scene;
}

nlohmann::json scene_labels_json(const Scene& scene) {
  auto rgb = [](const Rgb& c) { return nlohmann::json::array({c.r, c.g, c.b}); };
  auto pose = [](nlohmann::json& j, const Pose& p) {
    j["x"] = p.x;
    j["y"] = p.y;
    j["size"] = p.size;
    j["rotation"] = p.rotation;
  };
  nlohmann::json j;
  j["count"] = scene.count();
  j["background"] = background_name(scene.background.kind);
  j["style"] = style_name(scene.style);
  j["instance"] = scene.instance;
  nlohmann::json shapes = nlohmann::json::array(), colours = nlohmann::json::array(),
                 objects = nlohmann::json::array();
  for (const auto& o : scene.objects) {
    shapes.push_back(shape_name(o.shape));
    colours.push_back(colour_name(o.colour));
    nlohmann::json oj = {{"shape", shape_name(o.shape)}, {"colour", colour_name(o.colour)}};
    pose(oj, o.pose);
    objects.push_back(oj);
  }
  j["shapes"] = shapes;
  j["colours"] = colours;
  j["objects"] = objects;
  if (scene.instance >= 0) {
    nlohmann::json ij = {{"name", instance_info(scene.instance).name}};
    pose(ij, scene.instance_pose);
    j["instance_pose"] = ij;
  }
  const auto& bg = scene.background;
  j["background_colours"] = {rgb(bg.a), rgb(bg.b)};
  j["background_params"] = {{"angle", bg.angle}, {"period", bg.period}, {"radius", bg.radius},
                            {"phase", {bg.phase_x, bg.phase_y}}};
  return j;
}

SceneLabels scene_labels(const std::vector<Scene>& scenes) {
  const auto n = static_cast<int64_t>(scenes.size());
  SceneLabels l;
  l.shapes = torch::zeros({n, kNumShapes});
  l.colours = torch::zeros({n, kNumColours});
  l.background = torch::empty({n}, torch::kInt64);
  l.style = torch::empty({n}, torch::kInt64);
  l.count = torch::zeros({n}, torch::kInt64);
  l.instance = torch::zeros({n}, torch::kInt64);
  auto sh = l.shapes.accessor<float, 2>(), co = l.colours.accessor<float, 2>();
  auto bg = l.background.accessor<int64_t, 1>(), st = l.style.accessor<int64_t, 1>(),
       ct = l.count.accessor<int64_t, 1>(), in = l.instance.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) {
    const Scene& s = scenes[static_cast<size_t>(i)];
    for (const auto& o : s.objects) {
      sh[i][static_cast<int>(o.shape)] = 1;
      co[i][static_cast<int>(o.colour)] = 1;
    }
    bg[i] = static_cast<int>(s.background.kind);
    st[i] = static_cast<int>(s.style);
    ct[i] = s.instance >= 0 ? 0 : static_cast<int64_t>(s.objects.size()) - 1;
    in[i] = s.instance + 1;
  }
  return l;
}

}  // namespace sculpt::toyworld
