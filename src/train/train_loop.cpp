#include "train/train_loop.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "core/check.h"
#include "core/progress.h"
#include "io/safetensors.h"

namespace sculpt {
namespace fs = std::filesystem;
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::vector<torch::Tensor> tensors_of(const std::vector<NamedParam>& params) {
  std::vector<torch::Tensor> out;
  for (const auto& p : params) out.push_back(p.param);
  return out;
}

std::string step_name(int64_t step) {
  std::ostringstream s;
  s << "step-" << std::setw(7) << std::setfill('0') << step << ".safetensors";
  return s.str();
}

}  // namespace

torch::Generator train_generator(int64_t seed, int64_t a, int64_t b) {
  const uint64_t h = splitmix64(splitmix64(splitmix64(static_cast<uint64_t>(seed)) ^ static_cast<uint64_t>(a)) ^
                                static_cast<uint64_t>(b));
  return at::detail::createCPUGenerator(h >> 1);  // keep it within int64 for the torch seed
}

TrainLoop::TrainLoop(TrainLoopConfig config, std::vector<NamedParam> params)
    : config_(std::move(config)), params_(std::move(params)), tensors_(tensors_of(params_)),
      optimizer_(tensors_, config_.optimizer) {
  SCULPT_USAGE_CHECK(config_.steps > 0, "steps must be > 0, got ", config_.steps);
  SCULPT_USAGE_CHECK(config_.grad_accum > 0, "gradient accumulation must be > 0, got ", config_.grad_accum);
  SCULPT_USAGE_CHECK(!params_.empty(), "nothing to train: the parameter selection is empty");
  if (config_.schedule.total_steps == 0) config_.schedule.total_steps = config_.steps;
  if (config_.ema_decay > 0) ema_.emplace(tensors_, config_.ema_decay);
}

fs::path TrainLoop::checkpoint_dir() const { return config_.out_dir / "checkpoints"; }

fs::path TrainLoop::save_checkpoint(int64_t steps_done) {
  TensorMap t;
  for (const auto& p : params_) t["param." + p.name] = p.param.detach();
  for (auto& [k, v] : optimizer_.state()) t["optimizer." + k] = v;
  if (ema_)
    for (auto& [k, v] : ema_->state()) t["ema." + k] = v;
  fs::create_directories(checkpoint_dir());
  const auto path = checkpoint_dir() / step_name(steps_done);
  write_safetensors(path, t, {{"format", "sculpt-train-checkpoint"}, {"step", std::to_string(steps_done)}});
  // Keep the newest keep_checkpoints files.
  std::vector<fs::path> all;
  for (const auto& e : fs::directory_iterator(checkpoint_dir()))
    if (e.path().extension() == ".safetensors" && e.path().filename().string().rfind("step-", 0) == 0)
      all.push_back(e.path());
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + static_cast<size_t>(std::max<int64_t>(1, config_.keep_checkpoints)) < all.size(); ++i)
    fs::remove(all[i]);
  return path;
}

int64_t TrainLoop::load_latest_checkpoint() {
  std::vector<fs::path> all;
  if (fs::is_directory(checkpoint_dir()))
    for (const auto& e : fs::directory_iterator(checkpoint_dir()))
      if (e.path().extension() == ".safetensors" && e.path().filename().string().rfind("step-", 0) == 0)
        all.push_back(e.path());
  SCULPT_CHECK(!all.empty(), "--resume: no checkpoint in ", checkpoint_dir());
  std::sort(all.begin(), all.end());
  const auto path = all.back();
  SafeTensorsFile file(path);
  const auto meta = file.metadata();
  SCULPT_CHECK(meta.count("step") && meta.at("format") == "sculpt-train-checkpoint", path,
               " is not a sculpt training checkpoint");
  TensorMap optim, ema;
  torch::NoGradGuard no_grad;
  for (const auto& p : params_) {
    const auto key = "param." + p.name;
    SCULPT_CHECK(file.contains(key), path, " has no '", key,
                 "': it was written by a run training other parameters");
    auto t = file.get(key);
    SCULPT_CHECK(t.sizes() == p.param.sizes(), path, ": '", key, "' has shape ", t.sizes(), ", expected ",
                 p.param.sizes());
    p.param.copy_(t);
  }
  for (const auto& k : file.keys()) {
    if (k.rfind("optimizer.", 0) == 0) optim[k.substr(10)] = file.get(k);
    if (k.rfind("ema.", 0) == 0) ema[k.substr(4)] = file.get(k);
  }
  optimizer_.load_state(optim, path.string());
  if (ema_) ema_->load_state(ema, path.string());
  return std::stoll(meta.at("step"));
}

void TrainLoop::apply_ema() {
  if (!ema_) return;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < tensors_.size(); ++i) tensors_[i].copy_(ema_->weights()[i]);
}

TrainResult TrainLoop::run(const LossFn& loss_fn) {
  TrainResult result;
  int64_t start = 0;
  if (config_.resume) start = result.resumed_from = load_latest_checkpoint();
  SCULPT_CHECK(start <= config_.steps, "--resume: the checkpoint is at step ", start, ", past --steps ", config_.steps);

  std::ofstream log;
  if (!config_.out_dir.empty()) {
    fs::create_directories(config_.out_dir);
    log.open(config_.out_dir / "train_log.jsonl", start > 0 ? std::ios::app : std::ios::trunc);
    SCULPT_CHECK(log.good(), "cannot write ", config_.out_dir / "train_log.jsonl");
  }
  ProgressBar bar(config_.steps - start, config_.label, config_.progress);
  const auto t0 = std::chrono::steady_clock::now();
  auto last = t0;
  std::vector<double> losses;
  for (int64_t step = start; step < config_.steps; ++step) {
    optimizer_.zero_grad();
    double step_loss = 0;
    nlohmann::json logs = nlohmann::json::object();
    for (int64_t micro = 0; micro < config_.grad_accum; ++micro) {
      auto gen = train_generator(config_.seed, step, micro);
      TrainContext ctx{step, micro, gen};
      if (before_step) before_step(ctx);
      auto loss = loss_fn(ctx, logs);
      const double value = loss.item<double>();
      if (!std::isfinite(value)) {
        std::string saved;
        if (!config_.out_dir.empty()) saved = ". The last good state (step " + std::to_string(step) + ") is in " +
                                              save_checkpoint(step).string();
        SCULPT_CHECK(false, config_.label, ": the loss became ", value, " at step ", step + 1,
                     saved, ". Hint: lower the learning rate or enable gradient clipping");
      }
      (loss / static_cast<double>(config_.grad_accum)).backward();
      step_loss += value / static_cast<double>(config_.grad_accum);
    }
    const double norm = config_.max_grad_norm > 0 ? clip_grad_norm(tensors_, config_.max_grad_norm) : grad_norm(tensors_);
    if (!std::isfinite(norm)) {
      std::string saved;
      if (!config_.out_dir.empty())
        saved = ". The last good state is in " + save_checkpoint(step).string();
      SCULPT_CHECK(false, config_.label, ": the gradient norm became ", norm, " at step ", step + 1, saved);
    }
    const double lr = config_.optimizer.lr * schedule_factor(config_.schedule, step);
    optimizer_.step(lr);
    if (ema_) ema_->update(tensors_);
    losses.push_back(step_loss);

    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - last).count();
    last = now;
    if (log.is_open()) {
      logs["step"] = step + 1;
      logs["loss"] = step_loss;
      logs["lr"] = lr;
      logs["grad_norm"] = norm;
      logs["it_per_s"] = dt > 0 ? 1.0 / dt : 0.0;
      log << logs.dump() << '\n' << std::flush;
    }
    std::ostringstream note;
    note << "loss " << std::setprecision(4) << step_loss << "  lr " << std::setprecision(3) << lr;
    bar.update(1, note.str());
    const int64_t done = step + 1;
    if (!config_.out_dir.empty() && config_.save_every > 0 && done % config_.save_every == 0 && done < config_.steps)
      result.last_checkpoint = save_checkpoint(done);
  }
  bar.finish();
  if (!config_.out_dir.empty() && config_.final_checkpoint) result.last_checkpoint = save_checkpoint(config_.steps);
  result.steps_done = config_.steps - start;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!losses.empty()) {
    const size_t k = std::max<size_t>(1, losses.size() / 10);
    double a = 0, b = 0;
    for (size_t i = 0; i < k; ++i) a += losses[i], b += losses[losses.size() - 1 - i];
    result.first_loss = a / static_cast<double>(k);
    result.last_loss = b / static_cast<double>(k);
  }
  return result;
}

}  // namespace sculpt
