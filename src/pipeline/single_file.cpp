#include "pipeline/single_file.h"

#include <cstdlib>
#include <fstream>

#include "core/check.h"
#include "io/key_map.h"
#include "io/safetensors.h"
#include "io/state_dict.h"
#include "schedulers/scheduler.h"

namespace sculpt {
namespace fs = std::filesystem;
using json = nlohmann::json;

fs::path assets_dir() {
  if (const char* env = std::getenv("SCULPT_ASSETS")) return env;
  return SCULPT_ASSETS_DIR;
}

namespace {

// Largest N such that `prefix.N.` starts some key, plus one (0 when none).
int64_t count_indexed(const TensorMap& w, const std::string& prefix) {
  int64_t n = 0;
  for (const auto& [k, v] : w) {
    if (k.rfind(prefix + ".", 0) != 0) continue;
    const auto rest = k.substr(prefix.size() + 1);
    const auto dot = rest.find('.');
    try {
      n = std::max<int64_t>(n, std::stoll(rest.substr(0, dot)) + 1);
    } catch (const std::exception&) {
    }
  }
  return n;
}

const torch::Tensor& need(const TensorMap& w, const std::string& key, const fs::path& file) {
  auto it = w.find(key);
  SCULPT_CHECK(it != w.end(), file, " has no tensor for '", key,
               "', so its architecture cannot be inferred. Hint: pass --config with a matching diffusers folder");
  return it->second;
}

// Architecture from shapes. Head counts are not visible in weights: SD 1.x uses 8 heads per block,
// SD 2.x (linear projections) 64 channels per head, which is what we assume; --config overrides.
json infer_unet_config(const TensorMap& w, const fs::path& file) {
  const int64_t levels = count_indexed(w, "down_blocks");
  SCULPT_CHECK(levels > 0, file, " has no UNet down blocks");
  json c;
  std::vector<int64_t> channels;
  std::vector<std::string> down, up;
  for (int64_t i = 0; i < levels; ++i) {
    const auto p = "down_blocks." + std::to_string(i);
    channels.push_back(need(w, p + ".resnets.0.conv1.weight", file).size(0));
    down.push_back(count_indexed(w, p + ".attentions") > 0 ? "CrossAttnDownBlock2D" : "DownBlock2D");
    const auto q = "up_blocks." + std::to_string(i);
    up.push_back(count_indexed(w, q + ".attentions") > 0 ? "CrossAttnUpBlock2D" : "UpBlock2D");
  }
  const auto& conv_in = need(w, "conv_in.weight", file);
  const auto& conv_out = need(w, "conv_out.weight", file);
  c["in_channels"] = conv_in.size(1);
  c["out_channels"] = conv_out.size(0);
  c["conv_in_kernel"] = conv_in.size(2);
  c["conv_out_kernel"] = conv_out.size(2);
  c["block_out_channels"] = channels;
  c["down_block_types"] = down;
  c["up_block_types"] = up;
  c["layers_per_block"] = count_indexed(w, "down_blocks.0.resnets");
  c["mid_block_type"] = count_indexed(w, "mid_block.attentions") > 0 ? "UNetMidBlock2DCrossAttn" : nullptr;
  const auto& proj_in = need(w, "mid_block.attentions.0.proj_in.weight", file);
  const bool linear = proj_in.dim() == 2;
  c["use_linear_projection"] = linear;
  c["cross_attention_dim"] = need(w, "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight", file).size(1);
  c["transformer_layers_per_block"] = count_indexed(w, "mid_block.attentions.0.transformer_blocks");
  if (linear) {
    std::vector<int64_t> heads;
    for (auto ch : channels) heads.push_back(std::max<int64_t>(1, ch / 64));
    c["attention_head_dim"] = heads;
  } else {
    c["attention_head_dim"] = 8;
  }
  c["sample_size"] = 64;
  return c;
}

json infer_vae_config(const TensorMap& w, const fs::path& file) {
  const int64_t levels = count_indexed(w, "encoder.down_blocks");
  SCULPT_CHECK(levels > 0, file, " has no VAE encoder blocks");
  std::vector<int64_t> channels;
  for (int64_t i = 0; i < levels; ++i)
    channels.push_back(need(w, "encoder.down_blocks." + std::to_string(i) + ".resnets.0.conv2.weight", file).size(0));
  json c;
  c["block_out_channels"] = channels;
  c["down_block_types"] = std::vector<std::string>(levels, "DownEncoderBlock2D");
  c["up_block_types"] = std::vector<std::string>(levels, "UpDecoderBlock2D");
  c["layers_per_block"] = count_indexed(w, "encoder.down_blocks.0.resnets");
  c["latent_channels"] = need(w, "decoder.conv_in.weight", file).size(1);
  c["in_channels"] = need(w, "encoder.conv_in.weight", file).size(1);
  c["out_channels"] = need(w, "decoder.conv_out.weight", file).size(0);
  c["use_quant_conv"] = w.count("quant_conv.weight") > 0;
  c["use_post_quant_conv"] = w.count("post_quant_conv.weight") > 0;
  c["norm_num_groups"] = 32;
  c["scaling_factor"] = 0.18215;
  c["sample_size"] = 512;
  return c;
}

json infer_text_config(const TensorMap& w, bool open_clip, const fs::path& file) {
  const auto& tok = need(w, "text_model.embeddings.token_embedding.weight", file);
  json c;
  c["vocab_size"] = tok.size(0);
  c["hidden_size"] = tok.size(1);
  c["num_attention_heads"] = std::max<int64_t>(1, tok.size(1) / 64);
  c["num_hidden_layers"] = count_indexed(w, "text_model.encoder.layers");
  c["intermediate_size"] = need(w, "text_model.encoder.layers.0.mlp.fc1.weight", file).size(0);
  c["max_position_embeddings"] = need(w, "text_model.embeddings.position_embedding.weight", file).size(0);
  c["hidden_act"] = open_clip ? "gelu" : "quick_gelu";
  c["layer_norm_eps"] = 1e-5;
  return c;
}

// diffusers' default for SD 1.x/2.x (PNDMScheduler config of the official repos).
json default_scheduler_config() {
  return {{"_class_name", "PNDMScheduler"}, {"beta_start", 0.00085}, {"beta_end", 0.012},
          {"beta_schedule", "scaled_linear"}, {"num_train_timesteps", 1000}, {"set_alpha_to_one", false},
          {"skip_prk_steps", true}, {"steps_offset", 1}, {"clip_sample", false}, {"prediction_type", "epsilon"}};
}

template <typename Model>
void load_into(Model& model, const TensorMap& weights, const std::string& source, const LoadOptions& opt = {}) {
  load_state_dict(*model, weights, source, opt);
}

}  // namespace

StableDiffusion load_single_file(const fs::path& file, const fs::path& config_dir) {
  const auto ldm = read_safetensors(file);
  auto converted = ldm_to_diffusers(ldm, file.string());
  StableDiffusion sd;
  sd.source = file.string();
  const bool has_config = !config_dir.empty();
  if (has_config) SCULPT_CHECK(fs::is_directory(config_dir), "--config ", config_dir, " is not a diffusers folder");

  const auto unet_cfg = has_config ? UNet2DConditionConfig::from_file(config_dir / "unet" / "config.json")
                                   : UNet2DConditionConfig::from_json(infer_unet_config(converted.unet, file));
  const auto vae_cfg = has_config ? AutoencoderKLConfig::from_file(config_dir / "vae" / "config.json")
                                  : AutoencoderKLConfig::from_json(infer_vae_config(converted.vae, file));
  const auto text_cfg = has_config ? CLIPTextConfig::from_file(config_dir / "text_encoder" / "config.json")
                                   : CLIPTextConfig::from_json(infer_text_config(
                                         converted.text_encoder, converted.text_encoder_is_open_clip, file));
  sd.unet = UNet2DConditionModel(unet_cfg);
  sd.vae = AutoencoderKL(vae_cfg);
  sd.text_encoder = CLIPTextModel(text_cfg);
  const std::string where = file.string() + " (converted from LDM names)";
  load_into(sd.unet, converted.unet, where);
  load_into(sd.vae, converted.vae, where);
  LoadOptions text_opt;
  // Buffer saved by transformers <= 4.30 and absent from OpenCLIP files: accept either.
  text_opt.optional_keys = {"text_model.embeddings.position_ids"};
  load_into(sd.text_encoder, converted.text_encoder, where, text_opt);

  if (has_config) {
    sd.tokenizer_dir = config_dir / "tokenizer";
    sd.tokenizer = CLIPTokenizer::from_dir(sd.tokenizer_dir);
    sd.scheduler_config = read_scheduler_config(config_dir / "scheduler" / "scheduler_config.json");
  } else {
    // OpenCLIP text encoders (SD 2.x) pad with "!", CLIP-L ones (SD 1.x) with <|endoftext|>.
    sd.tokenizer_dir =
        assets_dir() / (converted.text_encoder_is_open_clip ? "clip-tokenizer-pad-bang" : "clip-tokenizer");
    sd.tokenizer = CLIPTokenizer::from_dir(sd.tokenizer_dir);
    sd.scheduler_config = default_scheduler_config();
  }
  return sd;
}

}  // namespace sculpt
