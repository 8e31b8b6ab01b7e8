#include "toyworld/judge.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/check.h"
#include "core/progress.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "io/state_dict.h"
#include "toyworld/render.h"

namespace sculpt::toyworld {

namespace fs = std::filesystem;
using json = nlohmann::json;
namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {

// Convolution + ReLU, He-initialised. No normalisation layers: BatchNorm made each training step about
// four times slower on CPU (libtorch 1.13) and this network is shallow enough to train without it.
void push_conv(nn::Sequential& seq, int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  nn::Conv2d conv(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(1));
  nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanIn, torch::kReLU);
  nn::init::zeros_(conv->bias);
  seq->push_back(conv);
  seq->push_back(nn::ReLU());
}

// Top-k of each row as a bool mask, k = ks[row] (1 or 2).
torch::Tensor top_k_mask(const torch::Tensor& logits, const torch::Tensor& ks) {
  auto order = logits.argsort(1, /*descending=*/true);  // [N, C]
  auto rank = torch::empty_like(order).scatter_(1, order, torch::arange(logits.size(1)).expand_as(order));
  return rank < ks.unsqueeze(1);
}

}  // namespace

json JudgeConfig::to_json() const {
  return {{"_class_name", "ToyJudge"},          {"sample_size", sample_size},
          {"block_out_channels", block_out_channels}, {"embedding_dim", embedding_dim},
          {"num_shapes", num_shapes},           {"num_colours", num_colours},
          {"num_backgrounds", num_backgrounds}, {"num_styles", num_styles},
          {"num_counts", num_counts},           {"num_instances", num_instances}};
}

JudgeConfig JudgeConfig::from_json(const json& j, const std::string& source) {
  JudgeConfig c;
  try {
    c.sample_size = j.at("sample_size").get<int64_t>();
    c.block_out_channels = j.at("block_out_channels").get<std::vector<int64_t>>();
    c.embedding_dim = j.at("embedding_dim").get<int64_t>();
    c.num_shapes = j.at("num_shapes").get<int64_t>();
    c.num_colours = j.at("num_colours").get<int64_t>();
    c.num_backgrounds = j.at("num_backgrounds").get<int64_t>();
    c.num_styles = j.at("num_styles").get<int64_t>();
    c.num_counts = j.at("num_counts").get<int64_t>();
    c.num_instances = j.at("num_instances").get<int64_t>();
  } catch (const json::exception& e) {
    SCULPT_CHECK(false, source, ": not a judge config (", e.what(), ")");
  }
  SCULPT_CHECK(c.block_out_channels.size() >= 2, source, ": block_out_channels needs at least 2 entries");
  return c;
}

ToyJudgeImpl::ToyJudgeImpl(const JudgeConfig& cfg) : config(cfg) {
  const auto& ch = config.block_out_channels;
  nn::Sequential seq;
  // Stem: a 4×4 stride-2 convolution (it sees the 2×2 blocks of pixel-art whole) on RGB + chroma, one
  // 3×3 at 32×32, then per block a stride-2 3×3 and a 3×3.
  push_conv(seq, 4, ch[0], 4, 2);
  push_conv(seq, ch[0], ch[0], 3, 1);
  for (size_t i = 1; i < ch.size(); ++i) {
    push_conv(seq, ch[i - 1], ch[i], 3, 2);
    push_conv(seq, ch[i], ch[i], 3, 1);
  }
  body = register_module("body", seq);
  const int64_t c = ch.back(), d = config.embedding_dim;
  embedding = register_module("embedding", nn::Linear(2 * c, d));
  shape_head = register_module("shape_head", nn::Linear(d, config.num_shapes));
  colour_head = register_module("colour_head", nn::Linear(d, config.num_colours));
  background_head = register_module("background_head", nn::Linear(d, config.num_backgrounds));
  style_head = register_module("style_head", nn::Linear(d, config.num_styles));
  count_head = register_module("count_head", nn::Linear(d, config.num_counts));
  instance_head = register_module("instance_head", nn::Linear(d, config.num_instances));
}

torch::Tensor ToyJudgeImpl::features(const torch::Tensor& images) {
  SCULPT_CHECK(images.dim() == 4 && images.size(1) == 3, "the judge reads [N, 3, H, W] images, not ",
               images.sizes());
  // Chroma (max - min over RGB) is near 0 on every background and >= 0.58 on object colours: a fourth
  // input channel that outlines the objects whatever the background.
  auto chroma = images.amax(1, true) - images.amin(1, true);
  auto x = torch::cat({images, chroma}, 1) * 2 - 1;
  auto h = body->forward(x);                                                // [N, C, 8, 8]
  auto pooled = torch::cat({h.mean({2, 3}), h.amax({2, 3})}, 1);            // [N, 2C]
  return torch::relu(embedding(pooled));                                   // [N, D]
}

JudgeOutput ToyJudgeImpl::forward(const torch::Tensor& images) {
  auto f = features(images);
  return {shape_head(f), colour_head(f), background_head(f), style_head(f), count_head(f), instance_head(f)};
}

JudgePrediction ToyJudgeImpl::predict(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  auto out = forward(images);
  JudgePrediction p;
  p.count = out.count.argmax(1) + 1;
  p.shapes = top_k_mask(out.shape, p.count);
  p.colours = top_k_mask(out.colour, p.count);
  p.background = out.background.argmax(1);
  p.style = out.style.argmax(1);
  p.instance = out.instance.argmax(1) - 1;
  return p;
}

json JudgePrediction::to_json(int64_t i) const {
  json shapes_j = json::array(), colours_j = json::array();
  auto s = shapes[i].to(torch::kCPU), c = colours[i].to(torch::kCPU);
  for (int k = 0; k < s.size(0) && k < kNumShapes; ++k)
    if (s[k].item<bool>()) shapes_j.push_back(shape_name(static_cast<Shape>(k)));
  for (int k = 0; k < c.size(0) && k < kNumColours; ++k)
    if (c[k].item<bool>()) colours_j.push_back(colour_name(static_cast<Colour>(k)));
  return {{"shapes", shapes_j},
          {"colours", colours_j},
          {"background", background_name(static_cast<Background>(background[i].item<int64_t>()))},
          {"style", style_name(static_cast<Style>(style[i].item<int64_t>()))},
          {"count", count[i].item<int64_t>()},
          {"instance", instance[i].item<int64_t>()}};
}

double JudgeAccuracy::min() const { return std::min({shape, colour, background, style, count, instance}); }

json JudgeAccuracy::to_json() const {
  return {{"images", images}, {"object_images", object_images}, {"shape", shape},   {"colour", colour},
          {"background", background}, {"style", style},        {"count", count}, {"instance", instance}};
}

SceneOptions judge_scene_options() {
  SceneOptions o;
  o.exclude_held_out = false;
  o.instance_rate = 0.05;
  return o;
}

JudgeTrainResult judge_train(const JudgeTrainConfig& cfg) {
  SCULPT_USAGE_CHECK(cfg.steps > 0 && cfg.batch_size > 0, "judge training needs steps > 0 and batch_size > 0");
  torch::manual_seed(cfg.seed);
  JudgeTrainResult result;
  result.judge = ToyJudge(cfg.model);
  auto& judge = result.judge;
  judge->train();
  torch::optim::Adam opt(judge->parameters(),
                         torch::optim::AdamOptions(cfg.learning_rate).weight_decay(cfg.weight_decay));
  SceneOptions scenes = judge_scene_options();
  scenes.two_object_rate = cfg.two_object_rate;
  scenes.instance_rate = cfg.instance_rate;
  auto gen = at::detail::createCPUGenerator(cfg.seed ^ 0xA5A5A5A5ULL);  // augmentation noise
  const auto start = std::chrono::steady_clock::now();
  ProgressBar bar(cfg.steps, "judge", cfg.progress);
  double smooth = 0;
  for (int64_t step = 0; step < cfg.steps; ++step) {
    const double warm = std::min(1.0, static_cast<double>(step + 1) / 100.0);
    const double lr = cfg.learning_rate * warm * 0.5 * (1 + std::cos(M_PI * step / static_cast<double>(cfg.steps)));
    for (auto& group : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);

    auto batch = scene_batch(cfg.seed, step * cfg.batch_size, cfg.batch_size, scenes, cfg.model.sample_size);
    auto x = batch.images;
    if (cfg.noise_augment_rate > 0) {
      auto pick = torch::rand({x.size(0), 1, 1, 1}, gen) < cfg.noise_augment_rate;
      auto sigma = torch::rand({x.size(0), 1, 1, 1}, gen) * 0.03 * pick;
      x = (x + torch::randn(x.sizes(), gen) * sigma).clamp(0, 1);
    }
    const auto& l = batch.labels;
    auto out = judge->forward(x);
    auto objects = (l.instance == 0).to(torch::kFloat32);  // shape/colour/count are defined on these
    const auto denom = objects.sum().clamp_min(1);
    auto bce = [&](const torch::Tensor& logits, const torch::Tensor& target) {
      auto per = F::binary_cross_entropy_with_logits(logits, target,
                                                     F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
      return (per.sum(1) * objects).sum() / denom;
    };
    auto ce_masked = F::cross_entropy(out.count, l.count, F::CrossEntropyFuncOptions().reduction(torch::kNone));
    auto loss = bce(out.shape, l.shapes) + bce(out.colour, l.colours) + F::cross_entropy(out.background, l.background) +
                F::cross_entropy(out.style, l.style) + (ce_masked * objects).sum() / denom +
                F::cross_entropy(out.instance, l.instance);
    opt.zero_grad();
    loss.backward();
    opt.step();
    const double v = loss.item<double>();
    SCULPT_CHECK(std::isfinite(v), "judge training: the loss is ", v, " at step ", step);
    smooth = step == 0 ? v : 0.98 * smooth + 0.02 * v;
    char note[32];
    std::snprintf(note, sizeof note, "loss %.4f", smooth);
    bar.update(1, note);
  }
  bar.finish();
  judge->eval();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.final_loss = smooth;
  return result;
}

JudgeAccuracy judge_evaluate(ToyJudge& judge, int64_t n, uint64_t seed, const SceneOptions& options,
                             int64_t batch_size) {
  SCULPT_USAGE_CHECK(n > 0 && batch_size > 0, "judge_evaluate needs n > 0 and batch_size > 0");
  judge->eval();
  const auto device = judge->parameters().front().device();
  JudgeAccuracy acc;
  double shape = 0, colour = 0, background = 0, style = 0, count = 0, instance = 0;
  for (int64_t first = 0; first < n; first += batch_size) {
    const int64_t m = std::min(batch_size, n - first);
    auto batch = scene_batch(seed, first, m, options, judge->config.sample_size);
    auto p = judge->predict(batch.images.to(device));
    const auto& l = batch.labels;
    auto objects = l.instance == 0;
    auto set_ok = [&](const torch::Tensor& pred, const torch::Tensor& truth) {
      return ((pred.cpu() == (truth > 0.5)).all(1) & objects).sum().item<double>();
    };
    shape += set_ok(p.shapes, l.shapes);
    colour += set_ok(p.colours, l.colours);
    count += ((p.count.cpu() - 1 == l.count) & objects).sum().item<double>();
    background += (p.background.cpu() == l.background).sum().item<double>();
    style += (p.style.cpu() == l.style).sum().item<double>();
    instance += (p.instance.cpu() + 1 == l.instance).sum().item<double>();
    acc.object_images += objects.sum().item<int64_t>();
    acc.images += m;
  }
  const double no = std::max<int64_t>(acc.object_images, 1), na = static_cast<double>(acc.images);
  acc.shape = shape / no;
  acc.colour = colour / no;
  acc.count = count / no;
  acc.background = background / na;
  acc.style = style / na;
  acc.instance = instance / na;
  return acc;
}

void save_judge(ToyJudge& judge, const fs::path& dir) {
  fs::create_directories(dir);
  write_safetensors(dir / "judge.safetensors", state_dict(*judge), {{"format", "pt"}});
  write_file_atomically(dir / "config.json", judge->config.to_json().dump(2) + "\n");
}

ToyJudge load_judge(const fs::path& dir) {
  const auto config_path = dir / "config.json", weights = dir / "judge.safetensors";
  SCULPT_CHECK(fs::exists(config_path) && fs::exists(weights), "no judge in ", dir,
               " (expected config.json and judge.safetensors). Hint: build one with `sculpt toyworld build`");
  json j;
  try {
    j = json::parse(read_file(config_path));
  } catch (const json::exception& e) {
    SCULPT_CHECK(false, config_path, " is not valid JSON (", e.what(), ")");
  }
  ToyJudge judge(JudgeConfig::from_json(j, config_path.string()));
  load_state_dict(*judge, read_safetensors(weights), weights.string());
  judge->eval();
  return judge;
}

}  // namespace sculpt::toyworld
