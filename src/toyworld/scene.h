// ToyWorld scenes: what an image shows, sampled deterministically from (seed, index).
// A scene is a background (kind + colours + pattern parameters), a drawing style, and either one or two
// objects (shape, colour, pose) or one instance emblem (see instances below). Rendering is in render.h,
// captions in captions.h.
//
// Coordinates: x to the right and y downwards, both in [0, 1] of the image side; an object's `size` is
// the radius of the circle its shape fits in, in the same unit; rotation is in radians, counter-clockwise
// as seen on screen.
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace sculpt::toyworld {

enum class Shape : int { circle, square, triangle, star, heart, cross, hexagon, crescent };
enum class Colour : int { red, orange, yellow, green, cyan, blue, purple, pink };
enum class Background : int { plain, stripes, dots, checkerboard, gradient };
enum class Style : int { filled, outline, pixel_art, sketchy };

constexpr int kNumShapes = 8;
constexpr int kNumColours = 8;
constexpr int kNumBackgrounds = 5;
constexpr int kNumStyles = 4;
constexpr int kNumInstances = 4;  // emblems 0..3; label 0 of the judge's instance head means "none"

// Label names as they appear in JSON: "circle", "red", "stripes", "pixel-art", … (captions.h has the
// words captions use, paraphrases included).
const char* shape_name(Shape s);
const char* colour_name(Colour c);
const char* background_name(Background b);
const char* style_name(Style s);
// Inverse of the above; throws sculpt::UsageError listing the valid names.
Shape shape_from_name(const std::string& name);
Colour colour_from_name(const std::string& name);
Background background_from_name(const std::string& name);
Style style_from_name(const std::string& name);

struct Rgb {
  float r = 0, g = 0, b = 0;
};
// Object colours: saturated (HSV saturation >= 0.8). Background colours are drawn with saturation
// <= 0.22, so no background pixel can be mistaken for an object colour.
Rgb colour_rgb(Colour c);

// The (shape, colour) pairs the base model never sees in training (10 of 64, 15.6%): each shape and
// each colour still appears with at least six other partners. Fixed forever: evaluations compare against
// it. Judge training data includes them.
const std::vector<std::pair<Shape, Colour>>& held_out_pairs();
bool is_held_out(Shape s, Colour c);

// Portable random numbers: splitmix64, with our own uniform and integer helpers (the standard
// distributions are implementation-defined). Stream k of scene (seed, index) is Rng(seed, index, k).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  Rng(uint64_t seed, int64_t index, uint64_t stream = 0);
  uint64_t next();
  double uniform();                      // [0, 1), 53 bits
  double uniform(double lo, double hi);  // [lo, hi)
  int64_t below(int64_t n);              // 0 .. n-1, n >= 1
  bool chance(double p) { return uniform() < p; }

 private:
  uint64_t state_;
};

// Streams of one scene's randomness: the scene itself, its caption, and anything else a caller draws.
enum Stream : uint64_t { kStreamScene = 0, kStreamCaption = 1, kStreamUser = 2 };

struct Pose {
  float x = 0.5f, y = 0.5f;  // centre
  float size = 0.25f;        // circumradius
  float rotation = 0.0f;     // radians
};

struct Object {
  Shape shape = Shape::circle;
  Colour colour = Colour::red;
  Pose pose;
};

struct BackgroundSpec {
  Background kind = Background::plain;
  Rgb a, b;             // plain: a; stripes/checkerboard: alternating a/b; dots: b on a; gradient: a → b
  float angle = 0;      // stripes: normal of the stripes; gradient: direction from a to b (radians)
  float period = 0.15f; // stripes: period; dots: grid spacing; checkerboard: cell side (image units)
  float radius = 0.03f; // dots: radius
  float phase_x = 0, phase_y = 0;  // pattern offsets in [0, 1) of a period
};

struct Scene {
  BackgroundSpec background;
  Style style = Style::filled;
  std::vector<Object> objects;  // 1 or 2 (distinct shapes and distinct colours); empty for an instance
  int instance = -1;            // emblem 0..kNumInstances-1, drawn with instance_pose; -1: none
  Pose instance_pose;
  uint64_t noise_seed = 0;      // jitter and grain of the sketchy style
  int count() const { return instance >= 0 ? 1 : static_cast<int>(objects.size()); }
  bool has_shape(Shape s) const;
};

// Emblems for personalization and protection experiments: composites of parts in colours outside the
// object palette, never drawn in base training data. `name` is a made-up word that no caption contains.
struct InstanceInfo {
  const char* name;
  const char* description;
};
const InstanceInfo& instance_info(int k);

// Spurious-correlation mode: scenes showing `shape` get background `background` with probability `rate`
// (otherwise one of the other four, uniformly); scenes without it get that background with probability
// `other_rate` (0.2 = as often as without the mode).
struct SpuriousOptions {
  int shape = -1;  // Shape index; -1: off
  int background = -1;
  double rate = 0.9;
  double other_rate = 0.2;
};

struct SceneOptions {
  bool exclude_held_out = true;  // base-model training data: never a held_out_pairs() pair
  double two_object_rate = 0.2;
  int instance = -1;             // >= 0: every scene shows emblem k (in a random pose)
  double instance_rate = 0.0;    // otherwise: share of scenes showing a random emblem (judge data)
  SpuriousOptions spurious;
  // Fix an attribute of every scene (-1: random). shape/colour fix the first object; the second of a
  // two-object scene stays random (but distinct).
  int shape = -1, colour = -1, background = -1, style = -1;
};

// Scene `index` of the dataset with seed `seed`: depends on nothing else, so any index can be made
// independently and in parallel.
Scene scene_sample(uint64_t seed, int64_t index, const SceneOptions& options = {});
// The same from a given generator (draws from it).
Scene scene_sample(Rng& rng, const SceneOptions& options = {});
// Emblem k on a random background, pose and style (filled unless options.style says otherwise).
Scene instance_sample(int k, Rng& rng, const SceneOptions& options = {});

// Ground truth as JSON: {"count", "shapes", "colours", "background", "style", "instance", "objects":
// [{"shape", "colour", "x", "y", "size", "rotation"}], "background_colours", …}.
nlohmann::json scene_labels_json(const Scene& scene);

// Compact labels of a batch, for training classifiers. For instance scenes shapes/colours are all zero
// and count is 0 (train on them with a mask: `instance > 0` marks them).
struct SceneLabels {
  torch::Tensor shapes;      // float [N, 8] multi-hot
  torch::Tensor colours;     // float [N, 8] multi-hot
  torch::Tensor background;  // int64 [N]
  torch::Tensor style;       // int64 [N]
  torch::Tensor count;       // int64 [N]: object count - 1 (0: one object, 1: two)
  torch::Tensor instance;    // int64 [N]: 0 none, k + 1 for emblem k
};
SceneLabels scene_labels(const std::vector<Scene>& scenes);

}  // namespace sculpt::toyworld
