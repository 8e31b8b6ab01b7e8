// LDM single file ↔ diffusers names. Each component is converted through one KeyTable: pairs of module
// prefixes (LDM, diffusers) built from a layout read off the keys, plus a per-kind renaming of the
// members below the prefix. Both directions use the same table, so they cannot drift apart.
// Source: diffusers 0.29.2 src/diffusers/loaders/single_file_utils.py and
// scripts/convert_diffusers_to_original_stable_diffusion.py; tables in docs/key_map.md.
#include "io/key_map.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "core/check.h"

namespace sculpt {
namespace {

const std::string kUNetPrefix = "model.diffusion_model.";
const std::string kVAEPrefix = "first_stage_model.";
const std::string kCLIPPrefix = "cond_stage_model.transformer.";
const std::string kOpenCLIPPrefix = "cond_stage_model.model.";

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}
std::string at(const std::string& name, int64_t i) { return name + "." + std::to_string(i); }

// Keys of `m` starting with `prefix`, with the prefix removed.
TensorMap strip(const TensorMap& m, const std::string& prefix) {
  TensorMap out;
  for (auto it = m.lower_bound(prefix); it != m.end() && starts_with(it->first, prefix); ++it)
    out.emplace(it->first.substr(prefix.size()), it->second);
  return out;
}

bool has_prefix(const TensorMap& m, const std::string& prefix) {
  auto it = m.lower_bound(prefix);
  return it != m.end() && starts_with(it->first, prefix);
}

// N for every key `name.N.…`; they must be 0..count-1. Returns count.
int64_t count_indexed(const TensorMap& m, const std::string& name, const std::string& source) {
  const std::string prefix = name + ".";
  std::map<int64_t, bool> seen;
  for (auto it = m.lower_bound(prefix); it != m.end() && starts_with(it->first, prefix); ++it) {
    const auto rest = it->first.substr(prefix.size());
    const auto digits = rest.substr(0, rest.find('.'));
    SCULPT_CHECK(!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos, source, ": key '",
                 it->first, "' has no block number after '", name, "'");
    seen[std::stoll(digits)] = true;
  }
  const auto n = static_cast<int64_t>(seen.size());
  SCULPT_CHECK(seen.empty() || seen.rbegin()->first == n - 1, source, ": '", name, ".N' blocks are not numbered 0..",
               n - 1, " (largest is ", seen.empty() ? 0 : seen.rbegin()->first, ")");
  return n;
}

// How the members below a mapped prefix are renamed.
enum class Kind { Same, UNetResnet, VAEResnet, VAEAttention, OpenCLIPLayer };
using Pairs = std::vector<std::pair<std::string, std::string>>;  // (LDM member, diffusers member)

const Pairs& members(Kind kind) {
  static const Pairs none;
  static const Pairs unet_resnet{{"in_layers.0", "norm1"},    {"in_layers.2", "conv1"},
                                 {"emb_layers.1", "time_emb_proj"}, {"out_layers.0", "norm2"},
                                 {"out_layers.3", "conv2"},   {"skip_connection", "conv_shortcut"}};
  static const Pairs vae_resnet{
      {"norm1", "norm1"}, {"conv1", "conv1"}, {"norm2", "norm2"}, {"conv2", "conv2"}, {"nin_shortcut", "conv_shortcut"}};
  static const Pairs vae_attention{
      {"norm", "group_norm"}, {"q", "to_q"}, {"k", "to_k"}, {"v", "to_v"}, {"proj_out", "to_out.0"}};
  static const Pairs open_clip_layer{{"ln_1", "layer_norm1"},
                                     {"ln_2", "layer_norm2"},
                                     {"attn.out_proj", "self_attn.out_proj"},
                                     {"mlp.c_fc", "mlp.fc1"},
                                     {"mlp.c_proj", "mlp.fc2"}};
  switch (kind) {
    case Kind::UNetResnet: return unet_resnet;
    case Kind::VAEResnet: return vae_resnet;
    case Kind::VAEAttention: return vae_attention;
    case Kind::OpenCLIPLayer: return open_clip_layer;
    case Kind::Same: break;
  }
  return none;
}

std::optional<std::string> rename_member(Kind kind, const std::string& member, bool to_diffusers) {
  if (kind == Kind::Same || member.empty()) return member;
  for (const auto& [ldm, diffusers] : members(kind)) {
    const auto& from = to_diffusers ? ldm : diffusers;
    const auto& to = to_diffusers ? diffusers : ldm;
    if (member == from || starts_with(member, from + ".")) return to + member.substr(from.size());
  }
  return std::nullopt;
}

class KeyTable {
 public:
  void add(const std::string& ldm, const std::string& diffusers, Kind kind = Kind::Same) {
    by_ldm_.emplace(ldm, entries_.size());
    by_diffusers_.emplace(diffusers, entries_.size());
    entries_.push_back({ldm, diffusers, kind});
  }

  struct Hit {
    std::string key;
    Kind kind;
  };
  // The longest registered prefix of `key` (at a dot, or the whole key) decides; nullopt when none
  // does or its kind has no rule for the member below it.
  std::optional<Hit> translate(const std::string& key, bool to_diffusers) const {
    const auto& index = to_diffusers ? by_ldm_ : by_diffusers_;
    auto end = key.size();
    while (true) {
      auto it = index.find(key.substr(0, end));
      if (it != index.end()) {
        const auto& e = entries_[it->second];
        const auto member = rename_member(e.kind, end < key.size() ? key.substr(end + 1) : "", to_diffusers);
        if (!member) return std::nullopt;
        const auto& prefix = to_diffusers ? e.diffusers : e.ldm;
        return Hit{member->empty() ? prefix : prefix + "." + *member, e.kind};
      }
      if (end == 0) return std::nullopt;
      end = key.rfind('.', end - 1);
      if (end == std::string::npos) return std::nullopt;
    }
  }

 private:
  struct Entry {
    std::string ldm, diffusers;
    Kind kind;
  };
  std::vector<Entry> entries_;
  std::map<std::string, size_t> by_ldm_, by_diffusers_;
};

// LDM's VAE attention uses 1×1 convs [C, C, 1, 1] where diffusers uses Linear [C, C].
torch::Tensor reshape_for(Kind kind, const torch::Tensor& t, bool to_diffusers, const std::string& key) {
  if (kind != Kind::VAEAttention) return t;
  if (to_diffusers && t.dim() == 4) {
    SCULPT_CHECK(t.size(2) == 1 && t.size(3) == 1, "'", key, "' has shape ", t.sizes(), "; expected [C, C, 1, 1]");
    return t.reshape({t.size(0), t.size(1)});
  }
  if (!to_diffusers && t.dim() == 2) return t.reshape({t.size(0), t.size(1), 1, 1});
  return t;
}

void insert(TensorMap& out, const std::string& key, const torch::Tensor& t, const std::string& from) {
  SCULPT_CHECK(out.emplace(key, t).second, "two tensors map to '", key, "' (the second from '", from, "')");
}

// Converts every key of `in` (prefix already stripped). to_diffusers: unmapped keys go to `skipped`
// under their full LDM name; otherwise an unmapped diffusers key is an error (writing would lose it).
void convert(const TensorMap& in, const KeyTable& table, bool to_diffusers, const std::string& ldm_prefix,
             TensorMap& out, std::vector<std::string>* skipped, const std::string& component) {
  for (const auto& [key, t] : in) {
    const auto hit = table.translate(key, to_diffusers);
    if (to_diffusers) {
      if (!hit) {
        skipped->push_back(ldm_prefix + key);
        continue;
      }
      insert(out, hit->key, reshape_for(hit->kind, t, true, ldm_prefix + key), ldm_prefix + key);
    } else {
      SCULPT_CHECK(hit, "diffusers ", component, " key '", key, "' has no CompVis/LDM name");
      insert(out, ldm_prefix + hit->key, reshape_for(hit->kind, t, false, key), key);
    }
  }
}

// ---- UNet ------------------------------------------------------------------------------------------
struct UNetLayout {
  struct Level {
    bool attention = false;  // Transformer2DModel after each resnet
    bool sampler = false;    // down- or upsampler at the end of the level
  };
  int64_t layers_per_block = 0;  // resnets per down level; up levels have one more
  std::vector<Level> down, up;
  std::string mid;  // 'r' (resnet) / 'a' (attention), in order
};

// LDM: input_blocks.0 = conv_in, then per level `layers_per_block` blocks [resnet, attention?] and a
// block holding only the downsampler (`.0.op`); output_blocks: layers_per_block + 1 per level, the
// last one ending with the upsampler (`.1.conv` or, after an attention, `.2.conv`).
UNetLayout unet_layout_from_ldm(const TensorMap& u, const std::string& source) {
  UNetLayout l;
  const int64_t inputs = count_indexed(u, "input_blocks", source);
  std::vector<int64_t> resnets{0};
  l.down.emplace_back();
  for (int64_t i = 1; i < inputs; ++i) {
    const auto block = at("input_blocks", i);
    if (has_prefix(u, block + ".0.op.")) {
      l.down.back().sampler = true;
      l.down.emplace_back();
      resnets.push_back(0);
    } else {
      ++resnets.back();
      if (has_prefix(u, block + ".1.")) l.down.back().attention = true;
    }
  }
  l.layers_per_block = resnets.front();
  for (size_t i = 0; i < resnets.size(); ++i)
    SCULPT_CHECK(resnets[i] == l.layers_per_block && resnets[i] > 0, source, ": UNet level ", i, " has ", resnets[i],
                 " resnets but level 0 has ", l.layers_per_block, " (diffusers needs one layers_per_block)");
  const auto levels = static_cast<int64_t>(l.down.size());
  const int64_t outputs = count_indexed(u, "output_blocks", source);
  SCULPT_CHECK(outputs == levels * (l.layers_per_block + 1), source, ": ", outputs, " UNet output_blocks, but ", levels,
               " levels of ", l.layers_per_block, " resnets need ", levels * (l.layers_per_block + 1));
  l.up.resize(levels);
  for (int64_t i = 0; i < outputs; ++i) {
    const auto block = at("output_blocks", i);
    auto& level = l.up[i / (l.layers_per_block + 1)];
    for (int64_t k = 1; k < count_indexed(u, block, source); ++k)
      (has_prefix(u, at(block, k) + ".conv.") ? level.sampler : level.attention) = true;
  }
  const int64_t mids = count_indexed(u, "middle_block", source);
  for (int64_t k = 0; k < mids; ++k) {
    const auto block = at("middle_block", k);
    const bool resnet = has_prefix(u, block + ".in_layers.") || has_prefix(u, block + ".out_layers.") ||
                        has_prefix(u, block + ".emb_layers.");
    l.mid += resnet ? 'r' : 'a';
  }
  return l;
}

UNetLayout unet_layout_from_diffusers(const TensorMap& u) {
  const std::string source = "diffusers UNet weights";
  UNetLayout l;
  l.layers_per_block = count_indexed(u, "down_blocks.0.resnets", source);
  const int64_t levels = count_indexed(u, "down_blocks", source);
  SCULPT_CHECK(count_indexed(u, "up_blocks", source) == levels, source, ": ", levels,
               " down_blocks but a different number of up_blocks");
  for (int64_t i = 0; i < levels; ++i) {
    const auto down = at("down_blocks", i), up = at("up_blocks", i);
    SCULPT_CHECK(count_indexed(u, down + ".resnets", source) == l.layers_per_block &&
                     count_indexed(u, up + ".resnets", source) == l.layers_per_block + 1,
                 source, ": level ", i, " does not have ", l.layers_per_block, " down / ", l.layers_per_block + 1,
                 " up resnets like level 0");
    l.down.push_back({has_prefix(u, down + ".attentions."), has_prefix(u, down + ".downsamplers.")});
    l.up.push_back({has_prefix(u, up + ".attentions."), has_prefix(u, up + ".upsamplers.")});
  }
  // UNetMidBlock2DCrossAttn: resnets[0], then (attentions[i], resnets[i + 1]) pairs.
  int64_t resnets = count_indexed(u, "mid_block.resnets", source);
  int64_t attentions = count_indexed(u, "mid_block.attentions", source);
  if (resnets-- > 0) l.mid += 'r';
  while (attentions > 0 || resnets > 0) {
    if (attentions-- > 0) l.mid += 'a';
    if (resnets-- > 0) l.mid += 'r';
  }
  return l;
}

KeyTable unet_table(const UNetLayout& l) {
  KeyTable t;
  t.add("time_embed.0", "time_embedding.linear_1");
  t.add("time_embed.2", "time_embedding.linear_2");
  t.add("input_blocks.0.0", "conv_in");
  t.add("out.0", "conv_norm_out");
  t.add("out.2", "conv_out");
  int64_t in = 1, out = 0;
  for (size_t i = 0; i < l.down.size(); ++i) {
    const auto block = at("down_blocks", static_cast<int64_t>(i));
    for (int64_t j = 0; j < l.layers_per_block; ++j, ++in) {
      t.add(at("input_blocks", in) + ".0", at(block + ".resnets", j), Kind::UNetResnet);
      if (l.down[i].attention) t.add(at("input_blocks", in) + ".1", at(block + ".attentions", j));
    }
    if (l.down[i].sampler) t.add(at("input_blocks", in++) + ".0.op", block + ".downsamplers.0.conv");
  }
  int64_t resnet = 0, attention = 0;
  for (size_t k = 0; k < l.mid.size(); ++k) {
    const auto block = at("middle_block", static_cast<int64_t>(k));
    if (l.mid[k] == 'r')
      t.add(block, at("mid_block.resnets", resnet++), Kind::UNetResnet);
    else
      t.add(block, at("mid_block.attentions", attention++));
  }
  for (size_t i = 0; i < l.up.size(); ++i) {
    const auto block = at("up_blocks", static_cast<int64_t>(i));
    for (int64_t j = 0; j <= l.layers_per_block; ++j, ++out) {
      t.add(at("output_blocks", out) + ".0", at(block + ".resnets", j), Kind::UNetResnet);
      if (l.up[i].attention) t.add(at("output_blocks", out) + ".1", at(block + ".attentions", j));
      if (j == l.layers_per_block && l.up[i].sampler)
        t.add(at(at("output_blocks", out), l.up[i].attention ? 2 : 1) + ".conv", block + ".upsamplers.0.conv");
    }
  }
  return t;
}

// ---- VAE -------------------------------------------------------------------------------------------
struct VAELayout {
  int64_t down_levels = 0, down_resnets = 0, up_levels = 0, up_resnets = 0;  // resnets: most in any level
};

VAELayout vae_layout(const TensorMap& v, bool ldm, const std::string& source) {
  VAELayout l;
  const std::string down = ldm ? "encoder.down" : "encoder.down_blocks";
  const std::string up = ldm ? "decoder.up" : "decoder.up_blocks";
  const std::string resnets = ldm ? ".block" : ".resnets";
  l.down_levels = count_indexed(v, down, source);
  l.up_levels = count_indexed(v, up, source);
  for (int64_t i = 0; i < l.down_levels; ++i)
    l.down_resnets = std::max(l.down_resnets, count_indexed(v, at(down, i) + resnets, source));
  for (int64_t i = 0; i < l.up_levels; ++i)
    l.up_resnets = std::max(l.up_resnets, count_indexed(v, at(up, i) + resnets, source));
  return l;
}

KeyTable vae_table(const VAELayout& l) {
  KeyTable t;
  for (const std::string c : {"encoder", "decoder"}) {
    t.add(c + ".conv_in", c + ".conv_in");
    t.add(c + ".conv_out", c + ".conv_out");
    t.add(c + ".norm_out", c + ".conv_norm_out");
    t.add(c + ".mid.block_1", c + ".mid_block.resnets.0", Kind::VAEResnet);
    t.add(c + ".mid.block_2", c + ".mid_block.resnets.1", Kind::VAEResnet);
    t.add(c + ".mid.attn_1", c + ".mid_block.attentions.0", Kind::VAEAttention);
  }
  for (int64_t i = 0; i < l.down_levels; ++i) {
    const auto ldm = at("encoder.down", i), diffusers = at("encoder.down_blocks", i);
    for (int64_t j = 0; j < l.down_resnets; ++j)
      t.add(at(ldm + ".block", j), at(diffusers + ".resnets", j), Kind::VAEResnet);
    t.add(ldm + ".downsample.conv", diffusers + ".downsamplers.0.conv");
  }
  // LDM numbers decoder levels from the lowest resolution up: up.{n-1-i} is diffusers' up_blocks.i.
  for (int64_t i = 0; i < l.up_levels; ++i) {
    const auto ldm = at("decoder.up", l.up_levels - 1 - i), diffusers = at("decoder.up_blocks", i);
    for (int64_t j = 0; j < l.up_resnets; ++j)
      t.add(at(ldm + ".block", j), at(diffusers + ".resnets", j), Kind::VAEResnet);
    t.add(ldm + ".upsample.conv", diffusers + ".upsamplers.0.conv");
  }
  t.add("quant_conv", "quant_conv");
  t.add("post_quant_conv", "post_quant_conv");
  return t;
}

// ---- Text encoders ---------------------------------------------------------------------------------
KeyTable open_clip_table(int64_t layers) {
  KeyTable t;
  t.add("token_embedding.weight", "text_model.embeddings.token_embedding.weight");
  t.add("positional_embedding", "text_model.embeddings.position_embedding.weight");
  t.add("ln_final", "text_model.final_layer_norm");
  for (int64_t n = 0; n < layers; ++n)
    t.add(at("transformer.resblocks", n), at("text_model.encoder.layers", n), Kind::OpenCLIPLayer);
  return t;
}

const char* const kQKV[] = {"q_proj", "k_proj", "v_proj"};

// `key` = transformer.resblocks.N.attn.in_proj_{weight,bias} of a kept layer: rows [0, D) are q,
// [D, 2D) k, [2D, 3D) v. Returns false for any other key.
bool split_in_proj(const KeyTable& table, const std::string& key, const torch::Tensor& t, const std::string& source,
                   TensorMap& out) {
  for (const std::string kind : {"weight", "bias"}) {
    const auto suffix = ".attn.in_proj_" + kind;
    if (!ends_with(key, suffix)) continue;
    const auto layer = table.translate(key.substr(0, key.size() - suffix.size()), true);
    if (!layer) return false;
    const auto full = kOpenCLIPPrefix + key;
    SCULPT_CHECK(t.size(0) % 3 == 0, source, ": '", full, "' has shape ", t.sizes(), "; expected [3·D, …]");
    const int64_t d = t.size(0) / 3;
    for (int64_t i = 0; i < 3; ++i)
      insert(out, layer->key + ".self_attn." + kQKV[i] + "." + kind, t.narrow(0, i * d, d), full);
    return true;
  }
  return false;
}

// OpenCLIP (SD 2.x). The last resblock is dropped (SD 2.x reads the penultimate layer) and kept, with
// text_projection and logit_scale, in ldm_only.
void open_clip_to_diffusers(const TensorMap& oc, const std::string& source, DiffusersWeights& w) {
  const int64_t resblocks = count_indexed(oc, "transformer.resblocks", source);
  w.text_encoder_dropped_layers = resblocks > 0 ? 1 : 0;
  const int64_t kept = resblocks - w.text_encoder_dropped_layers;
  const auto table = open_clip_table(kept);
  const auto dropped = at("transformer.resblocks", kept) + ".";
  for (const auto& [key, t] : oc) {
    const auto full = kOpenCLIPPrefix + key;
    if (key == "text_projection" || key == "logit_scale" || (kept < resblocks && starts_with(key, dropped)))
      insert(w.ldm_only, full, t, full);
    else if (split_in_proj(table, key, t, source, w.text_encoder))
      continue;
    else if (const auto hit = table.translate(key, true))
      insert(w.text_encoder, hit->key, t, full);
    else
      w.skipped_keys.push_back(full);
  }
}

// text_model.encoder.layers.N.self_attn.{q,k,v}_proj.{weight,bias} → (layers.N prefix, 0/1/2, kind).
struct QKVMember {
  std::string layer;
  int64_t index;
  std::string kind;
};
std::optional<QKVMember> parse_qkv(const std::string& key) {
  const auto dot = key.rfind('.');
  if (dot == std::string::npos) return std::nullopt;
  const auto kind = key.substr(dot + 1);
  for (int64_t i = 0; i < 3; ++i) {
    const auto suffix = std::string(".self_attn.") + kQKV[i] + "." + kind;
    if (ends_with(key, suffix)) return QKVMember{key.substr(0, key.size() - suffix.size()), i, kind};
  }
  return std::nullopt;
}

void open_clip_from_diffusers(const DiffusersWeights& w, TensorMap& out) {
  const std::string source = "diffusers text encoder weights";
  const auto table = open_clip_table(count_indexed(w.text_encoder, "text_model.encoder.layers", source));
  std::map<std::string, std::vector<torch::Tensor>> in_proj;  // LDM key → [q, k, v]
  for (const auto& [key, t] : w.text_encoder) {
    if (key == "text_model.embeddings.position_ids") continue;  // arange buffer; OpenCLIP stores none
    if (const auto qkv = parse_qkv(key)) {
      const auto layer = table.translate(qkv->layer, false);
      SCULPT_CHECK(layer, source, ": '", key, "' has no OpenCLIP name");
      auto& parts = in_proj[kOpenCLIPPrefix + layer->key + ".attn.in_proj_" + qkv->kind];
      parts.resize(3);
      parts[qkv->index] = t;
      continue;
    }
    const auto hit = table.translate(key, false);
    SCULPT_CHECK(hit, source, ": '", key, "' has no OpenCLIP name");
    insert(out, kOpenCLIPPrefix + hit->key, t, key);
  }
  for (const auto& [key, parts] : in_proj) {
    for (const auto& p : parts) SCULPT_CHECK(p.defined(), source, ": '", key, "' needs all of q_proj, k_proj, v_proj");
    insert(out, key, torch::cat(parts, 0), key);
  }
}

}  // namespace

DiffusersWeights ldm_to_diffusers(const TensorMap& ldm, const std::string& source) {
  DiffusersWeights w;
  const auto unet = strip(ldm, kUNetPrefix);
  if (!unet.empty())
    convert(unet, unet_table(unet_layout_from_ldm(unet, source)), true, kUNetPrefix, w.unet, &w.skipped_keys, "UNet");
  const auto vae = strip(ldm, kVAEPrefix);
  if (!vae.empty())
    convert(vae, vae_table(vae_layout(vae, true, source)), true, kVAEPrefix, w.vae, &w.skipped_keys, "VAE");

  const auto clip = strip(ldm, kCLIPPrefix);
  const auto open_clip = strip(ldm, kOpenCLIPPrefix);
  SCULPT_CHECK(clip.empty() || open_clip.empty(), source, " holds two text encoders (", kCLIPPrefix, "* and ",
               kOpenCLIPPrefix, "*)");
  // SD 1.x files keep transformers' CLIPTextModel names, some without the text_model. level.
  for (const auto& [key, t] : clip)
    insert(w.text_encoder, starts_with(key, "text_model.") ? key : "text_model." + key, t, kCLIPPrefix + key);
  if (!open_clip.empty()) {
    w.text_encoder_is_open_clip = true;
    open_clip_to_diffusers(open_clip, source, w);
  }

  for (const auto& [key, t] : ldm) {
    const bool known = starts_with(key, kUNetPrefix) || starts_with(key, kVAEPrefix) || starts_with(key, kCLIPPrefix) ||
                       starts_with(key, kOpenCLIPPrefix);
    if (!known) w.skipped_keys.push_back(key);
  }
  SCULPT_CHECK(!w.unet.empty() || !w.vae.empty() || !w.text_encoder.empty(), source,
               " has no CompVis/LDM Stable Diffusion keys (", kUNetPrefix, "*, ", kVAEPrefix, "*, cond_stage_model.*)",
               ". Hint: a diffusers folder is loaded as a folder, not through its files");
  return w;
}

TensorMap diffusers_to_ldm(const DiffusersWeights& w) {
  TensorMap out;
  if (!w.unet.empty())
    convert(w.unet, unet_table(unet_layout_from_diffusers(w.unet)), false, kUNetPrefix, out, nullptr, "UNet");
  if (!w.vae.empty())
    convert(w.vae, vae_table(vae_layout(w.vae, false, "diffusers VAE weights")), false, kVAEPrefix, out, nullptr,
            "VAE");
  if (w.text_encoder_is_open_clip)
    open_clip_from_diffusers(w, out);
  else
    for (const auto& [key, t] : w.text_encoder) insert(out, kCLIPPrefix + key, t, key);
  for (const auto& [key, t] : w.ldm_only) insert(out, key, t, key);
  return out;
}

std::string kohya_lora_name(const std::string& component, const std::string& module_path) {
  SCULPT_CHECK(component == "unet" || component == "text_encoder", "LoRA component must be unet or text_encoder, got '",
               component, "'");
  std::string name = (component == "unet" ? "lora_unet_" : "lora_te_") + module_path;
  std::replace(name.begin() + (component == "unet" ? 10 : 8), name.end(), '.', '_');
  return name;
}

std::pair<std::string, std::string> kohya_lora_module(const std::string& kohya_name) {
  // Module-name pieces of UNet2DConditionModel / CLIPTextModel that contain "_", longest first.
  static const std::vector<std::vector<std::string>> joined = {
      {"time", "emb", "proj"}, {"conv", "norm", "out"}, {"final", "layer", "norm"},
      {"down", "blocks"},      {"up", "blocks"},        {"mid", "block"},       {"transformer", "blocks"},
      {"to", "q"},             {"to", "k"},             {"to", "v"},            {"to", "out"},
      {"proj", "in"},          {"proj", "out"},         {"conv", "in"},         {"conv", "out"},
      {"conv", "shortcut"},    {"time", "embedding"},   {"linear", "1"},        {"linear", "2"},
      {"text", "model"},       {"self", "attn"},        {"q", "proj"},          {"k", "proj"},
      {"v", "proj"},           {"out", "proj"},         {"layer", "norm1"},     {"layer", "norm2"},
      {"token", "embedding"},  {"position", "embedding"}, {"class", "embedding"}, {"add", "embedding"}};
  std::string component, rest;
  if (kohya_name.rfind("lora_unet_", 0) == 0) component = "unet", rest = kohya_name.substr(10);
  else if (kohya_name.rfind("lora_te_", 0) == 0) component = "text_encoder", rest = kohya_name.substr(8);
  else if (kohya_name.rfind("lora_te1_", 0) == 0) component = "text_encoder", rest = kohya_name.substr(9);
  SCULPT_CHECK(!component.empty(), "'", kohya_name, "' is not a kohya LoRA name (expected lora_unet_… or lora_te_…)");
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t end = rest.find('_', start);
    parts.push_back(rest.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  std::string path;
  for (size_t i = 0; i < parts.size();) {
    size_t take = 1;
    for (const auto& j : joined) {
      if (i + j.size() > parts.size()) continue;
      if (std::equal(j.begin(), j.end(), parts.begin() + static_cast<std::ptrdiff_t>(i))) {
        take = j.size();
        break;
      }
    }
    if (!path.empty()) path += '.';
    for (size_t k = 0; k < take; ++k) path += (k ? "_" : "") + parts[i + k];
    i += take;
  }
  return {component, path};
}

}  // namespace sculpt
