#include "toyworld/render.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace sculpt::toyworld {

namespace {

struct V2 {
  float x, y;
};
inline V2 operator-(V2 a, V2 b) { return {a.x - b.x, a.y - b.y}; }
inline V2 operator*(V2 a, float s) { return {a.x * s, a.y * s}; }
inline float dot(V2 a, V2 b) { return a.x * b.x + a.y * b.y; }
inline float length(V2 a) { return std::sqrt(a.x * a.x + a.y * a.y); }
inline float clamp01(float v) { return v < 0.f ? 0.f : (v > 1.f ? 1.f : v); }
inline float sign(float v) { return v > 0.f ? 1.f : (v < 0.f ? -1.f : 0.f); }
inline float coverage(float d_px) { return clamp01(0.5f - d_px); }  // d: signed distance in pixels
inline Rgb mix(Rgb a, Rgb b, float t) { return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t}; }
inline Rgb scaled(Rgb c, float s) { return {c.r * s, c.g * s, c.b * s}; }

// ---- Signed distances in shape units (y up, negative inside); Quilez's formulas. ----

float sd_circle(V2 p, float r) { return length(p) - r; }

float sd_box(V2 p, float bx, float by) {
  const float dx = std::abs(p.x) - bx, dy = std::abs(p.y) - by;
  return length({std::max(dx, 0.f), std::max(dy, 0.f)}) + std::min(std::max(dx, dy), 0.f);
}

float sd_equilateral_triangle(V2 p, float r) {  // r: half the side; points up, centroid at 0
  const float k = std::sqrt(3.f);
  p.x = std::abs(p.x) - r;
  p.y = p.y + r / k;
  if (p.x + k * p.y > 0.f) p = {(p.x - k * p.y) / 2.f, (-k * p.x - p.y) / 2.f};
  p.x -= std::clamp(p.x, -2.f * r, 0.f);
  return -length(p) * sign(p.y);
}

float sd_star5(V2 p, float r, float rf) {  // r: tip radius; rf: inner radius ratio
  const V2 k1{0.809016994375f, -0.587785252292f}, k2{-k1.x, k1.y};
  p.x = std::abs(p.x);
  p = p - k1 * (2.f * std::max(dot(k1, p), 0.f));
  p = p - k2 * (2.f * std::max(dot(k2, p), 0.f));
  p.x = std::abs(p.x);
  p.y -= r;
  const V2 ba = V2{-k1.y, k1.x} * rf - V2{0.f, 1.f};
  const float h = std::clamp(dot(p, ba) / dot(ba, ba), 0.f, r);
  return length(p - ba * h) * sign(p.y * ba.x - p.x * ba.y);
}

float sd_heart(V2 p) {  // tip at the origin, lobes up to y = 1.1
  p.x = std::abs(p.x);
  if (p.y + p.x > 1.f) return length(p - V2{0.25f, 0.75f}) - std::sqrt(2.f) / 4.f;
  const V2 a = p - V2{0.f, 1.f}, b = p - V2{1.f, 1.f} * (0.5f * std::max(p.x + p.y, 0.f));
  return std::sqrt(std::min(dot(a, a), dot(b, b))) * sign(p.x - p.y);
}

float sd_cross(V2 p, float bx, float by) {  // arms of half-length bx and half-width by
  p = {std::abs(p.x), std::abs(p.y)};
  if (p.y > p.x) p = {p.y, p.x};
  const V2 q{p.x - bx, p.y - by};
  const float k = std::max(q.x, q.y);
  const V2 w = k > 0.f ? q : V2{by - p.x, -k};
  return sign(k) * length({std::max(w.x, 0.f), std::max(w.y, 0.f)});
}

float sd_hexagon(V2 p, float r) {  // r: inradius; flat top and bottom
  const float kx = -0.866025404f, ky = 0.5f, kz = 0.577350269f;
  p = {std::abs(p.x), std::abs(p.y)};
  const float t = 2.f * std::min(kx * p.x + ky * p.y, 0.f);
  p = {p.x - t * kx, p.y - t * ky};
  p = {p.x - std::clamp(p.x, -kz * r, kz * r), p.y - r};
  return length(p) * sign(p.y);
}

// Disc of radius ra at 0 less the disc of radius rb at (d, 0); exact also beyond the horns.
float sd_moon(V2 p, float d, float ra, float rb) {
  p.y = std::abs(p.y);
  const float a = (ra * ra - rb * rb + d * d) / (2.f * d), b = std::sqrt(std::max(ra * ra - a * a, 0.f));
  if (d * (p.x * b - p.y * a) > d * d * std::max(b - p.y, 0.f)) return length(p - V2{a, b});
  return std::max(length(p) - ra, -(length(p - V2{d, 0.f}) - rb));
}

template <int N>
float sd_polygon(const V2 (&v)[N], V2 p) {
  float d = dot(p - v[0], p - v[0]), s = 1.f;
  for (int i = 0, j = N - 1; i < N; j = i, ++i) {
    const V2 e = v[j] - v[i], w = p - v[i];
    const V2 b = w - e * std::clamp(dot(w, e) / dot(e, e), 0.f, 1.f);
    d = std::min(d, dot(b, b));
    const bool c1 = p.y >= v[i].y, c2 = p.y < v[j].y, c3 = e.x * w.y > e.y * w.x;
    if ((c1 && c2 && c3) || (!c1 && !c2 && !c3)) s = -s;
  }
  return s * std::sqrt(d);
}

// Every shape fits in the unit circle (circumradius 0.9 .. 1.05) with its centre at the origin.
float sd_shape(Shape shape, V2 p) {
  switch (shape) {
    case Shape::circle: return sd_circle(p, 0.86f);
    case Shape::square: return sd_box(p, 0.70f, 0.70f);
    case Shape::triangle: return sd_equilateral_triangle(p, 0.88f);
    case Shape::star: return sd_star5(p, 1.0f, 0.5f);
    case Shape::heart: {
      constexpr float s = 1.45f;  // heart spans 1.35 units; centred on its bounding circle
      return sd_heart({p.x / s, p.y / s + 0.552f}) * s;
    }
    case Shape::cross: return sd_cross(p, 0.95f, 0.32f);
    case Shape::hexagon: return sd_hexagon(p, 0.82f);
    case Shape::crescent: return sd_moon(p - V2{-0.1f, 0.f}, 0.4f, 0.9f, 0.72f);
  }
  return 1.f;
}

// ---- Emblems: parts in painter's order, each a distance and a colour. ----

struct Part {
  float d;
  Rgb colour;
};
constexpr int kMaxParts = 4;

const Rgb kTeal{0.0f, 0.45f, 0.45f}, kCream{0.93f, 0.88f, 0.72f}, kMaroon{0.50f, 0.08f, 0.16f},
    kNavy{0.10f, 0.14f, 0.42f}, kGold{0.86f, 0.70f, 0.30f}, kOlive{0.42f, 0.46f, 0.12f},
    kSalmon{0.96f, 0.60f, 0.50f}, kBrown{0.33f, 0.20f, 0.10f}, kLavender{0.72f, 0.62f, 0.92f},
    kDarkGreen{0.08f, 0.33f, 0.22f};

int instance_parts(int k, V2 p, Part* out) {
  switch (k) {
    case 0: {  // ringed target with a notch cut from the top (a 44° wedge outside radius 0.3)
      const float a = 0.38f, ca = std::cos(a), sa = std::sin(a);
      const V2 q{std::abs(p.x), p.y}, c{sa, ca};
      const float wedge = length(q - c * std::max(dot(q, c), 0.f)) * sign(q.x * c.y - q.y * c.x);
      const float keep = -std::max(wedge, 0.3f - length(p));
      out[0] = {std::max(sd_circle(p, 1.0f), keep), kTeal};
      out[1] = {std::max(sd_circle(p, 0.72f), keep), kCream};
      out[2] = {std::max(sd_circle(p, 0.46f), keep), kTeal};
      out[3] = {sd_circle(p, 0.2f), kMaroon};
      return 4;
    }
    case 1: {  // two-tone shield with a gold bar
      static const V2 shield[5] = {{-0.72f, 0.82f}, {-0.72f, 0.05f}, {0.f, -0.95f}, {0.72f, 0.05f}, {0.72f, 0.82f}};
      const float s = sd_polygon(shield, p);
      out[0] = {std::max(s, p.x), kMaroon};
      out[1] = {std::max(s, -p.x), kNavy};
      out[2] = {std::max(s, std::abs(p.y - 0.28f) - 0.13f), kGold};
      return 3;
    }
    case 2: {  // olive diamond, salmon inner diamond, four brown orbs on its corners
      const V2 r{0.70710678f * (p.x + p.y), 0.70710678f * (p.y - p.x)};
      float orbs = 1e9f;
      for (const V2 c : {V2{0.86f, 0.f}, V2{-0.86f, 0.f}, V2{0.f, 0.86f}, V2{0.f, -0.86f}})
        orbs = std::min(orbs, sd_circle(p - c, 0.17f));
      out[0] = {sd_box(r, 0.62f, 0.62f), kOlive};
      out[1] = {sd_box(r, 0.30f, 0.30f), kSalmon};
      out[2] = {orbs, kBrown};
      return 3;
    }
    default: {  // trefoil of lavender lobes round a dark green triangle pointing down
      float lobes = 1e9f;
      for (const V2 c : {V2{0.f, 0.5f}, V2{-0.433f, -0.25f}, V2{0.433f, -0.25f}})
        lobes = std::min(lobes, sd_circle(p - c, 0.42f));
      out[0] = {lobes, kLavender};
      out[1] = {sd_equilateral_triangle({p.x, -p.y}, 0.34f), kDarkGreen};
      return 2;
    }
  }
}

// ---- One drawable (object or emblem) at the render resolution. ----

struct Item {
  int shape = -1, instance = -1;
  Rgb colour;
  float cx = 0, cy = 0, r = 1, cos_t = 1, sin_t = 0;
  int x0 = 0, x1 = 0, y0 = 0, y1 = 0;  // pixel box [x0, x1) × [y0, y1)
  float wobble_phase[4] = {0, 0, 0, 0}, wobble_freq[2] = {5, 5}, hatch_cos = 1, hatch_sin = 0;
};

constexpr float kWobble = 0.045f;      // sketchy: stroke displacement, in shape units (keeps hexagon corners)
constexpr float kHatchPeriod = 3.5f;   // sketchy: hatching period, pixels at 64 px

Item make_item(const Pose& pose, int res, uint64_t noise_seed, int index) {
  Item it;
  it.cx = pose.x * static_cast<float>(res);
  it.cy = pose.y * static_cast<float>(res);
  it.r = pose.size * static_cast<float>(res);
  it.cos_t = std::cos(pose.rotation);
  it.sin_t = std::sin(pose.rotation);
  const float ext = it.r * (1.2f + kWobble) + 4.f;
  it.x0 = std::max(0, static_cast<int>(std::floor(it.cx - ext)));
  it.x1 = std::min(res, static_cast<int>(std::ceil(it.cx + ext)));
  it.y0 = std::max(0, static_cast<int>(std::floor(it.cy - ext)));
  it.y1 = std::min(res, static_cast<int>(std::ceil(it.cy + ext)));
  Rng rng(noise_seed, index, 7);
  for (float& ph : it.wobble_phase) ph = static_cast<float>(rng.uniform(0.0, 6.283185307));
  for (float& f : it.wobble_freq) f = static_cast<float>(rng.uniform(3.0, 5.0));
  const double hatch = rng.uniform(0.0, 3.141592654);
  it.hatch_cos = static_cast<float>(std::cos(hatch));
  it.hatch_sin = static_cast<float>(std::sin(hatch));
  return it;
}

std::vector<Item> scene_items(const Scene& scene, int res) {
  std::vector<Item> items;
  if (scene.instance >= 0) {
    items.push_back(make_item(scene.instance_pose, res, scene.noise_seed, 0));
    items.back().instance = scene.instance;
    return items;
  }
  for (size_t k = 0; k < scene.objects.size(); ++k) {
    const auto& o = scene.objects[k];
    items.push_back(make_item(o.pose, res, scene.noise_seed, static_cast<int>(k)));
    items.back().shape = static_cast<int>(o.shape);
    items.back().colour = colour_rgb(o.colour);
  }
  return items;
}

inline int item_parts(const Item& it, V2 p, Part* out) {
  if (it.shape >= 0) {
    out[0] = {sd_shape(static_cast<Shape>(it.shape), p), it.colour};
    return 1;
  }
  return instance_parts(it.instance, p, out);
}

// Pixel centre (px, py) → shape units: centred, scaled by the radius, y up, rotated by -rotation.
inline V2 to_local(const Item& it, float px, float py) {
  const float qx = (px - it.cx) / it.r, qy = (it.cy - py) / it.r;
  return {it.cos_t * qx + it.sin_t * qy, -it.sin_t * qx + it.cos_t * qy};
}

// ---- Backgrounds. ----

struct BackgroundCtx {
  const BackgroundSpec* spec;
  float res, period, radius, cos_a, sin_a;
  bool hard;  // pixel-art: no anti-aliasing, banded gradient
};

// Signed distance (in pixels) to the first half of each period of u (band of width period/2).
inline float band_distance(float u, float period) {
  float t = u - std::floor(u);
  if (t >= 0.75f) t -= 1.f;
  return (std::abs(t - 0.25f) - 0.25f) * period;
}

inline float pattern_coverage(const BackgroundCtx& c, float d) { return c.hard ? (d < 0.f ? 1.f : 0.f) : coverage(d); }

Rgb background_at(const BackgroundCtx& c, float px, float py) {
  const BackgroundSpec& s = *c.spec;
  switch (s.kind) {
    case Background::plain: return s.a;
    case Background::stripes: {
      const float u = (px * c.cos_a + py * c.sin_a) / c.period + s.phase_x;
      return mix(s.a, s.b, pattern_coverage(c, band_distance(u, c.period)));
    }
    case Background::checkerboard: {
      const float cx = pattern_coverage(c, band_distance(px / (2 * c.period) + s.phase_x, 2 * c.period));
      const float cy = pattern_coverage(c, band_distance(py / (2 * c.period) + s.phase_y, 2 * c.period));
      return mix(s.a, s.b, cx * (1 - cy) + (1 - cx) * cy);
    }
    case Background::dots: {
      const float gx = px / c.period + s.phase_x, gy = py / c.period + s.phase_y;
      const float fx = (gx - std::floor(gx) - 0.5f) * c.period, fy = (gy - std::floor(gy) - 0.5f) * c.period;
      return mix(s.a, s.b, pattern_coverage(c, std::sqrt(fx * fx + fy * fy) - c.radius));
    }
    case Background::gradient: {
      const float h = 0.5f * c.res;
      float t = clamp01(((px - h) * c.cos_a + (py - h) * c.sin_a) / (0.75f * c.res) + 0.5f);
      if (c.hard) t = std::round(t * 4.f) / 4.f;
      return mix(s.a, s.b, t);
    }
  }
  return s.a;
}

// ---- Drawing at one resolution into planar RGB (3 × res × res). ----

inline void blend(float* img, int res, int idx, Rgb c, float a) {
  if (a <= 0.f) return;
  const int plane = res * res;
  img[idx] += (c.r - img[idx]) * a;
  img[plane + idx] += (c.g - img[plane + idx]) * a;
  img[2 * plane + idx] += (c.b - img[2 * plane + idx]) * a;
}

void draw_item(const Item& it, Style style, int res, float* img) {
  Part parts[kMaxParts], wob1[kMaxParts], wob2[kMaxParts];
  const float stroke_half = 0.5f * std::clamp(0.10f * it.r, 1.8f, 3.0f);  // outline
  for (int y = it.y0; y < it.y1; ++y) {
    for (int x = it.x0; x < it.x1; ++x) {
      const float px = static_cast<float>(x) + 0.5f, py = static_cast<float>(y) + 0.5f;
      const V2 p = to_local(it, px, py);
      const int idx = y * res + x;
      if (style == Style::sketchy) {
        const V2 p1{p.x + kWobble * std::sin(it.wobble_freq[0] * p.y + it.wobble_phase[0]),
                    p.y + kWobble * std::sin(it.wobble_freq[1] * p.x + it.wobble_phase[1])};
        const V2 p2{p.x + kWobble * std::sin(it.wobble_freq[1] * p.y + it.wobble_phase[2]),
                    p.y + kWobble * std::sin(it.wobble_freq[0] * p.x + it.wobble_phase[3])};
        const int n = item_parts(it, p1, wob1);
        item_parts(it, p2, wob2);
        const float t = (px * it.hatch_cos + py * it.hatch_sin) / kHatchPeriod;
        const float line = coverage((std::abs(t - std::floor(t) - 0.5f) * kHatchPeriod) - 0.6f);
        for (int i = 0; i < n; ++i) {
          const float d1 = wob1[i].d * it.r, d2 = wob2[i].d * it.r;
          const float a = std::max({coverage(std::abs(d1) - 0.75f), coverage(std::abs(d2) - 0.75f),
                                    0.9f * line * coverage(d1)});
          blend(img, res, idx, wob1[i].colour, a);
        }
        continue;
      }
      const int n = item_parts(it, p, parts);
      for (int i = 0; i < n; ++i) {
        const float d = parts[i].d * it.r;
        switch (style) {
          case Style::filled: blend(img, res, idx, parts[i].colour, coverage(d)); break;
          case Style::outline: blend(img, res, idx, parts[i].colour, coverage(std::abs(d) - stroke_half)); break;
          case Style::pixel_art:
            if (d < 0.f) blend(img, res, idx, parts[i].colour, 1.f);
            else if (d < 1.f) blend(img, res, idx, scaled(parts[i].colour, 0.45f), 1.f);
            break;
          case Style::sketchy: break;
        }
      }
    }
  }
}

void draw_scene(const Scene& scene, int res, bool hard, float* img) {
  const auto& bg = scene.background;
  const float r = static_cast<float>(res);
  const BackgroundCtx ctx{&bg, r, std::max(bg.period * r, 1.f), bg.radius * r, std::cos(bg.angle), std::sin(bg.angle),
                          hard};
  const int plane = res * res;
  for (int y = 0; y < res; ++y)
    for (int x = 0; x < res; ++x) {
      const Rgb c = background_at(ctx, static_cast<float>(x) + 0.5f, static_cast<float>(y) + 0.5f);
      const int idx = y * res + x;
      img[idx] = c.r;
      img[plane + idx] = c.g;
      img[2 * plane + idx] = c.b;
    }
  for (const auto& it : scene_items(scene, res)) draw_item(it, scene.style, res, img);
}

void check_size(int64_t size) {
  SCULPT_USAGE_CHECK(size >= 16 && size <= 4096 && size % 2 == 0, "ToyWorld image size ", size,
                     " must be even and in 16..4096");
}

}  // namespace

void scene_render_into(const Scene& scene, int64_t size, float* out) {
  check_size(size);
  const int res = static_cast<int>(size);
  if (scene.style != Style::pixel_art) {
    draw_scene(scene, res, false, out);
    if (scene.style == Style::sketchy) {  // film grain, the same on all channels
      const int plane = res * res;
      for (int i = 0; i < plane; ++i) {
        uint64_t h = scene.noise_seed ^ (static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL);
        h = Rng(h).next();
        const float g = (static_cast<float>(h >> 40) / 16777216.f - 0.5f) * 0.10f;
        for (int ch = 0; ch < 3; ++ch) out[ch * plane + i] = clamp01(out[ch * plane + i] + g);
      }
    }
    return;
  }
  // Pixel-art: half resolution, no anti-aliasing, then each pixel becomes a 2 × 2 block.
  const int low = res / 2;
  std::vector<float> small(static_cast<size_t>(3 * low * low));
  draw_scene(scene, low, true, small.data());
  for (int ch = 0; ch < 3; ++ch)
    for (int y = 0; y < res; ++y)
      for (int x = 0; x < res; ++x)
        out[(ch * res + y) * res + x] = small[static_cast<size_t>((ch * low + y / 2) * low + x / 2)];
}

torch::Tensor scene_render(const Scene& scene, int64_t size) {
  check_size(size);
  auto img = torch::empty({3, size, size});
  scene_render_into(scene, size, img.data_ptr<float>());
  return img;
}

torch::Tensor scenes_render(const std::vector<Scene>& scenes, int64_t size) {
  check_size(size);
  const auto n = static_cast<int64_t>(scenes.size());
  auto out = torch::empty({n, 3, size, size});
  float* base = out.data_ptr<float>();
  const int64_t stride = 3 * size * size;
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) scene_render_into(scenes[static_cast<size_t>(i)], size, base + i * stride);
  });
  return out;
}

torch::Tensor object_mask(const Scene& scene, int k, int64_t size) {
  check_size(size);
  const int res = static_cast<int>(size);
  const auto items = scene_items(scene, res);
  SCULPT_USAGE_CHECK(k >= 0 && k < static_cast<int>(items.size()), "object ", k, " does not exist: the scene has ",
                     items.size());
  const Item& it = items[static_cast<size_t>(k)];
  auto mask = torch::zeros({size, size});
  auto m = mask.accessor<float, 2>();
  Part parts[kMaxParts];
  for (int y = it.y0; y < it.y1; ++y)
    for (int x = it.x0; x < it.x1; ++x) {
      const int n = item_parts(it, to_local(it, static_cast<float>(x) + 0.5f, static_cast<float>(y) + 0.5f), parts);
      float d = 1e9f;
      for (int i = 0; i < n; ++i) d = std::min(d, parts[i].d);
      m[y][x] = coverage(d * it.r);
    }
  return mask;
}

torch::Tensor instance_render(int k, Rng& rng, int64_t size, const SceneOptions& options) {
  return scene_render(instance_sample(k, rng, options), size);
}

SceneBatch scene_batch(uint64_t seed, int64_t first_index, int64_t n, const SceneOptions& options, int64_t size) {
  SCULPT_USAGE_CHECK(n >= 0 && first_index >= 0, "scene_batch: bad range ", first_index, " + ", n);
  SceneBatch batch;
  batch.scenes.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) batch.scenes.push_back(scene_sample(seed, first_index + i, options));
  batch.images = scenes_render(batch.scenes, size);
  batch.labels = scene_labels(batch.scenes);
  return batch;
}

}  // namespace sculpt::toyworld
