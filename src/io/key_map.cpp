#include "io/key_map.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/check.h"

namespace sculpt {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// "a.b.c" → {"a","b","c"}
std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == '.') {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return parts;
}

std::string join(const std::vector<std::string>& parts, size_t from) {
  std::string out;
  for (size_t i = from; i < parts.size(); ++i) out += (i > from ? "." : "") + parts[i];
  return out;
}

// Renames the inside of an LDM ResBlock: in_layers.0 → norm1, in_layers.2 → conv1, emb_layers.1 →
// time_emb_proj, out_layers.0 → norm2, out_layers.3 → conv2, skip_connection → conv_shortcut.
std::string unet_resnet_inner(const std::string& rest) {
  static const std::vector<std::pair<std::string, std::string>> table = {
      {"in_layers.0.", "norm1."},  {"in_layers.2.", "conv1."}, {"emb_layers.1.", "time_emb_proj."},
      {"out_layers.0.", "norm2."}, {"out_layers.3.", "conv2."}, {"skip_connection.", "conv_shortcut."}};
  for (const auto& [from, to] : table)
    if (starts_with(rest, from)) return to + rest.substr(from.size());
  return rest;
}

// Layout of the LDM UNet read from its keys.
struct UNetLayout {
  int64_t levels = 0, layers = 0;        // down levels, resnets per down level
  std::set<int64_t> output_attention;    // output_blocks indices whose sub-module 1 is an attention
};

UNetLayout unet_layout(const TensorMap& w, const std::string& prefix, const std::string& source) {
  std::set<int64_t> input, downsamplers;
  UNetLayout l;
  for (const auto& [k, v] : w) {
    if (!starts_with(k, prefix)) continue;
    const auto p = split(k.substr(prefix.size()));
    if (p.size() < 3) continue;
    if (p[0] == "input_blocks") {
      const int64_t i = std::stoll(p[1]);
      input.insert(i);
      if (p.size() > 3 && p[2] == "0" && p[3] == "op") downsamplers.insert(i);
    } else if (p[0] == "output_blocks" && p[2] == "1" && p.size() > 3 &&
               (p[3] == "transformer_blocks" || p[3] == "proj_in" || p[3] == "norm")) {
      l.output_attention.insert(std::stoll(p[1]));
    }
  }
  SCULPT_CHECK(!input.empty(), source, " has no UNet input_blocks under ", prefix);
  const int64_t max_input = *input.rbegin();
  if (downsamplers.empty()) {
    l.levels = 1;
    l.layers = max_input;
  } else {
    l.layers = *downsamplers.begin() - 1;
    l.levels = static_cast<int64_t>(downsamplers.size()) + 1;
  }
  SCULPT_CHECK(l.layers > 0 && max_input == l.levels * (l.layers + 1) - 1, source,
               ": UNet input_blocks do not form levels of equal depth (", max_input + 1, " blocks, ", l.levels,
               " levels); sculpt supports one layers_per_block for all levels");
  return l;
}

std::string convert_unet_key(const std::string& rest, const UNetLayout& l, const std::string& source) {
  const auto p = split(rest);
  const int64_t per = l.layers + 1;
  if (starts_with(rest, "time_embed.0.")) return "time_embedding.linear_1." + join(p, 2);
  if (starts_with(rest, "time_embed.2.")) return "time_embedding.linear_2." + join(p, 2);
  if (starts_with(rest, "input_blocks.0.0.")) return "conv_in." + join(p, 3);
  if (starts_with(rest, "out.0.")) return "conv_norm_out." + join(p, 2);
  if (starts_with(rest, "out.2.")) return "conv_out." + join(p, 2);
  if (p[0] == "input_blocks") {
    const int64_t i = std::stoll(p[1]) - 1, level = i / per, j = i % per;
    const auto down = "down_blocks." + std::to_string(level) + ".";
    if (j == l.layers) return down + "downsamplers.0.conv." + join(p, 4);  // input_blocks.k.0.op.*
    if (p[2] == "0") return down + "resnets." + std::to_string(j) + "." + unet_resnet_inner(join(p, 3));
    return down + "attentions." + std::to_string(j) + "." + join(p, 3);
  }
  if (p[0] == "middle_block") {
    if (p[1] == "0") return "mid_block.resnets.0." + unet_resnet_inner(join(p, 2));
    if (p[1] == "1") return "mid_block.attentions.0." + join(p, 2);
    if (p[1] == "2") return "mid_block.resnets.1." + unet_resnet_inner(join(p, 2));
  }
  if (p[0] == "output_blocks") {
    const int64_t k = std::stoll(p[1]), level = k / per, j = k % per;
    const auto up = "up_blocks." + std::to_string(level) + ".";
    if (p[2] == "0") return up + "resnets." + std::to_string(j) + "." + unet_resnet_inner(join(p, 3));
    const bool attention_at_1 = l.output_attention.count(k) > 0;
    if (p[2] == "1" && attention_at_1) return up + "attentions." + std::to_string(j) + "." + join(p, 3);
    if (p[3] == "conv") return up + "upsamplers.0.conv." + join(p, 4);  // output_blocks.k.{1|2}.conv
  }
  SCULPT_CHECK(false, source, ": cannot convert UNet key 'model.diffusion_model.", rest, "'");
  return {};
}

std::string vae_resnet_inner(const std::string& rest) {
  return starts_with(rest, "nin_shortcut.") ? "conv_shortcut." + rest.substr(13) : rest;
}

// Returns the diffusers key; `linear_from_conv` is set for the mid-block attention's 1×1 convs.
std::string convert_vae_key(const std::string& rest, int64_t decoder_levels, bool& linear_from_conv,
                            const std::string& source) {
  const auto p = split(rest);
  linear_from_conv = false;
  const std::string& part = p[0];  // encoder | decoder | quant_conv | post_quant_conv
  if (part == "quant_conv" || part == "post_quant_conv") return rest;
  const std::string sub = join(p, 1);
  if (starts_with(sub, "conv_in.") || starts_with(sub, "conv_out.")) return rest;
  if (starts_with(sub, "norm_out.")) return part + ".conv_norm_out." + join(p, 2);
  if (p[1] == "mid") {
    if (p[2] == "block_1") return part + ".mid_block.resnets.0." + vae_resnet_inner(join(p, 3));
    if (p[2] == "block_2") return part + ".mid_block.resnets.1." + vae_resnet_inner(join(p, 3));
    if (p[2] == "attn_1") {
      static const std::map<std::string, std::string> attn = {
          {"norm", "group_norm"}, {"q", "to_q"}, {"k", "to_k"}, {"v", "to_v"}, {"proj_out", "to_out.0"}};
      auto it = attn.find(p[3]);
      SCULPT_CHECK(it != attn.end(), source, ": unknown VAE attention key 'first_stage_model.", rest, "'");
      linear_from_conv = p[3] != "norm";
      return part + ".mid_block.attentions.0." + it->second + "." + join(p, 4);
    }
  }
  if (part == "encoder" && p[1] == "down") {
    const auto block = part + ".down_blocks." + p[2] + ".";
    if (p[3] == "block") return block + "resnets." + p[4] + "." + vae_resnet_inner(join(p, 5));
    if (p[3] == "downsample") return block + "downsamplers.0." + join(p, 4);
  }
  if (part == "decoder" && p[1] == "up") {
    // LDM numbers decoder levels from the lowest resolution up: up.{n-1-i} ↔ up_blocks.i.
    const auto block = part + ".up_blocks." + std::to_string(decoder_levels - 1 - std::stoll(p[2])) + ".";
    if (p[3] == "block") return block + "resnets." + p[4] + "." + vae_resnet_inner(join(p, 5));
    if (p[3] == "upsample") return block + "upsamplers.0." + join(p, 4);
  }
  SCULPT_CHECK(false, source, ": cannot convert VAE key 'first_stage_model.", rest, "'");
  return {};
}

void convert_open_clip(const TensorMap& ldm, const std::string& prefix, DiffusersWeights& out) {
  int64_t blocks = 0;
  for (const auto& [k, v] : ldm)
    if (starts_with(k, prefix + "transformer.resblocks."))
      blocks = std::max<int64_t>(blocks, std::stoll(split(k.substr(prefix.size()))[2]) + 1);
  // SD 2.x conditions on the penultimate layer: diffusers' text encoder has blocks − 1 layers.
  const int64_t used = blocks - 1;
  auto& te = out.text_encoder;
  for (const auto& [k, v] : ldm) {
    if (!starts_with(k, prefix)) continue;
    const std::string rest = k.substr(prefix.size());
    const auto p = split(rest);
    if (rest == "token_embedding.weight") te["text_model.embeddings.token_embedding.weight"] = v;
    else if (rest == "positional_embedding") te["text_model.embeddings.position_embedding.weight"] = v;
    else if (starts_with(rest, "ln_final.")) te["text_model.final_layer_norm." + p[1]] = v;
    else if (p[0] == "transformer" && p[1] == "resblocks") {
      const int64_t i = std::stoll(p[2]);
      if (i >= used) {
        out.skipped_keys.push_back(k);
        continue;
      }
      const auto layer = "text_model.encoder.layers." + p[2] + ".";
      const std::string inner = join(p, 3);
      if (inner == "attn.in_proj_weight" || inner == "attn.in_proj_bias") {
        const auto kind = inner == "attn.in_proj_weight" ? "weight" : "bias";
        auto qkv = v.chunk(3, 0);
        te[layer + "self_attn.q_proj." + kind] = qkv[0];
        te[layer + "self_attn.k_proj." + kind] = qkv[1];
        te[layer + "self_attn.v_proj." + kind] = qkv[2];
      } else {
        static const std::vector<std::pair<std::string, std::string>> table = {
            {"ln_1.", "layer_norm1."}, {"ln_2.", "layer_norm2."}, {"attn.out_proj.", "self_attn.out_proj."},
            {"mlp.c_fc.", "mlp.fc1."}, {"mlp.c_proj.", "mlp.fc2."}};
        bool done = false;
        for (const auto& [from, to] : table)
          if (starts_with(inner, from)) {
            te[layer + to + inner.substr(from.size())] = v;
            done = true;
          }
        if (!done) out.skipped_keys.push_back(k);
      }
    } else {
      out.skipped_keys.push_back(k);  // text_projection, logit_scale, attn_mask
    }
  }
  out.text_encoder_is_open_clip = true;
}

}  // namespace

DiffusersWeights ldm_to_diffusers(const TensorMap& ldm, const std::string& source) {
  static const std::string kUNet = "model.diffusion_model.", kVae = "first_stage_model.",
                           kClip = "cond_stage_model.transformer.", kOpenClip = "cond_stage_model.model.";
  DiffusersWeights out;
  const auto layout = unet_layout(ldm, kUNet, source);
  int64_t decoder_levels = 0;
  for (const auto& [k, v] : ldm)
    if (starts_with(k, kVae + "decoder.up."))
      decoder_levels = std::max<int64_t>(decoder_levels, std::stoll(split(k.substr(kVae.size()))[2]) + 1);

  for (const auto& [k, v] : ldm) {
    if (starts_with(k, kUNet)) {
      out.unet[convert_unet_key(k.substr(kUNet.size()), layout, source)] = v;
    } else if (starts_with(k, kVae)) {
      bool squeeze = false;
      const auto key = convert_vae_key(k.substr(kVae.size()), decoder_levels, squeeze, source);
      // LDM's VAE attention uses 1×1 convs [C, C, 1, 1]; diffusers uses Linear [C, C].
      out.vae[key] = squeeze && v.dim() == 4 ? v.flatten(1) : v;
    } else if (starts_with(k, kClip)) {
      const auto rest = k.substr(kClip.size());
      out.text_encoder[starts_with(rest, "text_model.") ? rest : "text_model." + rest] = v;
    } else if (!starts_with(k, kOpenClip)) {
      out.skipped_keys.push_back(k);  // model_ema.*, alphas_cumprod and other training buffers
    }
  }
  if (std::any_of(ldm.begin(), ldm.end(), [](const auto& kv) { return starts_with(kv.first, kOpenClip); }))
    convert_open_clip(ldm, kOpenClip, out);
  SCULPT_CHECK(!out.vae.empty(), source, " has no VAE (first_stage_model.*) tensors");
  SCULPT_CHECK(!out.text_encoder.empty(), source, " has no text encoder (cond_stage_model.*) tensors");
  return out;
}

}  // namespace sculpt
