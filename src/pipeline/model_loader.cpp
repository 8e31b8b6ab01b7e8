#include "pipeline/model_loader.h"

#include <cstdlib>
#include <fstream>

#include "core/check.h"
#include "io/safetensors.h"
#include "io/state_dict.h"
#include "pipeline/single_file.h"
#include "schedulers/scheduler.h"

namespace sculpt {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::string StableDiffusion::prediction_type() const {
  return scheduler_config.value("prediction_type", std::string("epsilon"));
}

int64_t StableDiffusion::vae_scale_factor() const {
  return int64_t{1} << (vae->config.block_out_channels.size() - 1);
}

void StableDiffusion::to(torch::Device device, torch::Dtype dtype) {
  // Module::to(dtype) would also cast integer buffers (CLIP's position_ids): cast parameters only.
  for (torch::nn::Module* m : {static_cast<torch::nn::Module*>(text_encoder.get()),
                               static_cast<torch::nn::Module*>(unet.get()), static_cast<torch::nn::Module*>(vae.get())}) {
    m->to(device);
    torch::NoGradGuard no_grad;
    for (auto& p : m->parameters()) p.set_data(p.data().to(dtype));
  }
}

void StableDiffusion::eval() {
  text_encoder->eval();
  unet->eval();
  vae->eval();
}

namespace {

void refuse_pickle(const fs::path& path) {
  const auto ext = path.extension().string();
  SCULPT_CHECK(!(ext == ".ckpt" || ext == ".pt" || ext == ".pth" || ext == ".bin"), path,
               " is a pickled PyTorch checkpoint; sculpt never unpickles (it can run arbitrary code). Convert it "
               "once with Python: `from safetensors.torch import save_file; import torch; sd = torch.load(p, "
               "weights_only=True)['state_dict']; save_file(sd, 'model.safetensors')`, then pass the .safetensors file");
}

void apply_prediction_type(StableDiffusion& sd, const LoadSettings& settings) {
  if (settings.prediction_type.empty()) return;
  SCULPT_USAGE_CHECK(settings.prediction_type == "epsilon" || settings.prediction_type == "v_prediction" ||
                         settings.prediction_type == "sample",
                     "unknown prediction type '", settings.prediction_type, "' (epsilon, v_prediction or sample)");
  sd.scheduler_config["prediction_type"] = settings.prediction_type;
}

StableDiffusion load_diffusers_folder(const fs::path& dir) {
  SCULPT_CHECK(fs::exists(dir / "model_index.json"), "no model_index.json in ", dir,
               ". Hint: pass a diffusers folder or a single-file .safetensors checkpoint");
  StableDiffusion sd;
  sd.source = dir.string();
  sd.tokenizer_dir = dir / "tokenizer";
  sd.tokenizer = CLIPTokenizer::from_dir(sd.tokenizer_dir);
  sd.text_encoder = load_clip_text_model(dir / "text_encoder");
  sd.unet = load_unet(dir / "unet");
  sd.vae = load_vae(dir / "vae");
  sd.scheduler_config = read_scheduler_config(dir / "scheduler" / "scheduler_config.json");
  return sd;
}

}  // namespace

fs::path builtin_model_dir() {
  if (const char* env = std::getenv("SCULPT_MODEL")) return env;
  return fs::path(SCULPT_SOURCE_DIR) / "models" / "toyworld";
}

StableDiffusion load_stable_diffusion(const fs::path& requested, const LoadSettings& settings) {
  const auto path = requested.empty() ? builtin_model_dir() : requested;
  SCULPT_CHECK(!requested.empty() || fs::exists(path / "unet"), "no --model given and the built-in ToyWorld model ",
               path, " is not built. Build it with `sculpt toyworld build --out ", path.string(),
               "` or pass --model");
  SCULPT_CHECK(fs::exists(path), "model ", path, " does not exist");
  StableDiffusion sd;
  if (fs::is_directory(path)) {
    sd = load_diffusers_folder(path);
  } else {
    refuse_pickle(path);
    SCULPT_CHECK(path.extension() == ".safetensors", path,
                 " is neither a diffusers folder nor a .safetensors single-file checkpoint");
    sd = load_single_file(path, settings.config_dir);
  }
  apply_prediction_type(sd, settings);
  sd.eval();
  return sd;
}

json describe_model(const StableDiffusion& sd) {
  auto count = [](const torch::nn::Module& m) {
    int64_t n = 0;
    for (const auto& p : m.parameters()) n += p.numel();
    return n;
  };
  const auto& u = sd.unet->config;
  const auto& v = sd.vae->config;
  const auto& t = sd.text_encoder->config;
  json out;
  out["source"] = sd.source;
  out["prediction_type"] = sd.prediction_type();
  out["text_encoder"] = {{"parameters", count(*sd.text_encoder)}, {"hidden_size", t.hidden_size},
                         {"num_hidden_layers", t.num_hidden_layers}, {"hidden_act", t.hidden_act}};
  out["tokenizer"] = {{"vocab_size", sd.tokenizer.vocab_size()}, {"pad_id", sd.tokenizer.pad_id()},
                      {"model_max_length", sd.tokenizer.model_max_length()}};
  out["unet"] = {{"parameters", count(*sd.unet)}, {"block_out_channels", u.block_out_channels},
                 {"layers_per_block", u.layers_per_block}, {"cross_attention_dim", u.cross_attention_dim},
                 {"attention_head_dim", u.attention_head_dim}, {"use_linear_projection", u.use_linear_projection},
                 {"upcast_attention", u.upcast_attention}, {"in_channels", u.in_channels},
                 {"sample_size", u.sample_size}};
  out["vae"] = {{"parameters", count(*sd.vae)}, {"block_out_channels", v.block_out_channels},
                {"latent_channels", v.latent_channels}, {"scaling_factor", v.scaling_factor},
                {"scale_factor", sd.vae_scale_factor()}};
  out["scheduler_config"] = sd.scheduler_config;
  return out;
}

}  // namespace sculpt
