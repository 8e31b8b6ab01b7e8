// Source: diffusers 0.29.2 src/diffusers/models/unets/unet_2d_blocks.py (CrossAttnDownBlock2D, DownBlock2D,
// UNetMidBlock2DCrossAttn, CrossAttnUpBlock2D, UpBlock2D).
#include "models/unet_blocks.h"

#include "core/check.h"

namespace sculpt {

namespace nn = torch::nn;

DownBlockType parse_down_block_type(const std::string& name, const std::string& source) {
  if (name == "CrossAttnDownBlock2D") return DownBlockType::CrossAttnDownBlock2D;
  SCULPT_CHECK(name == "DownBlock2D", source, ": down_block_types holds \"", name,
               "\", which sculpt does not implement (CrossAttnDownBlock2D, DownBlock2D)");
  return DownBlockType::DownBlock2D;
}

UpBlockType parse_up_block_type(const std::string& name, const std::string& source) {
  if (name == "CrossAttnUpBlock2D") return UpBlockType::CrossAttnUpBlock2D;
  SCULPT_CHECK(name == "UpBlock2D", source, ": up_block_types holds \"", name,
               "\", which sculpt does not implement (CrossAttnUpBlock2D, UpBlock2D)");
  return UpBlockType::UpBlock2D;
}

const char* to_string(DownBlockType type) {
  return type == DownBlockType::CrossAttnDownBlock2D ? "CrossAttnDownBlock2D" : "DownBlock2D";
}

const char* to_string(UpBlockType type) {
  return type == UpBlockType::CrossAttnUpBlock2D ? "CrossAttnUpBlock2D" : "UpBlock2D";
}

namespace {

ResnetBlock2D make_resnet(const UNetBlockOptions& o, int64_t in, int64_t out) {
  ResnetBlock2DOptions r;
  r.in_channels = in;
  r.out_channels = out;
  r.temb_channels = o.temb_channels;
  r.groups = o.groups;
  r.eps = o.eps;
  r.output_scale_factor = o.output_scale_factor;
  return ResnetBlock2D(r);
}

// diffusers passes (num_attention_heads, out_channels // num_attention_heads) to every block transformer.
Transformer2DModel make_transformer(const UNetBlockOptions& o, int64_t channels) {
  Transformer2DOptions t;
  t.heads = o.heads;
  t.dim_head = channels / o.heads;
  t.in_channels = channels;
  t.num_layers = o.transformer_layers;
  t.cross_attention_dim = o.cross_attention_dim;
  t.norm_num_groups = o.groups;
  t.use_linear_projection = o.use_linear_projection;
  t.only_cross_attention = o.only_cross_attention;
  t.upcast_attention = o.upcast_attention;
  return Transformer2DModel(t);
}

torch::Tensor run_resnet(nn::ModuleListImpl& list, size_t j, const torch::Tensor& h, const torch::Tensor& temb) {
  return list[j]->as<ResnetBlock2D>()->forward(h, temb);
}

torch::Tensor run_attention(nn::ModuleListImpl& list, size_t j, const torch::Tensor& h, const torch::Tensor& context) {
  return list[j]->as<Transformer2DModel>()->forward(h, context);
}

}  // namespace

UNetDownBlockImpl::UNetDownBlockImpl(DownBlockType type, const UNetBlockOptions& o) : type(type), options(o) {
  const bool cross = type == DownBlockType::CrossAttnDownBlock2D;
  resnets = register_module("resnets", nn::ModuleList());
  if (cross) attentions = register_module("attentions", nn::ModuleList());
  for (int64_t j = 0; j < o.num_layers; ++j) {
    resnets->push_back(make_resnet(o, j == 0 ? o.in_channels : o.out_channels, o.out_channels));
    if (cross) attentions->push_back(make_transformer(o, o.out_channels));
  }
  if (o.add_sample) {
    downsamplers = register_module("downsamplers", nn::ModuleList());
    downsamplers->push_back(Downsample2D(o.out_channels, o.out_channels, o.downsample_padding));
  }
}

std::pair<torch::Tensor, std::vector<torch::Tensor>> UNetDownBlockImpl::forward(torch::Tensor h,
                                                                                const torch::Tensor& temb,
                                                                                const torch::Tensor& context) {
  std::vector<torch::Tensor> states;
  for (size_t j = 0; j < resnets->size(); ++j) {
    h = run_resnet(*resnets, j, h, temb);                      // [B, out, H, W]
    if (attentions) h = run_attention(*attentions, j, h, context);
    states.push_back(h);
  }
  if (downsamplers) {
    h = downsamplers[0]->as<Downsample2D>()->forward(h);  // [B, out, ⌈H/2⌉, ⌈W/2⌉]
    states.push_back(h);
  }
  return {h, std::move(states)};
}

UNetMidBlock2DCrossAttnImpl::UNetMidBlock2DCrossAttnImpl(const UNetBlockOptions& o) : options(o) {
  resnets = register_module("resnets", nn::ModuleList());
  attentions = register_module("attentions", nn::ModuleList());
  resnets->push_back(make_resnet(o, o.in_channels, o.in_channels));
  for (int64_t j = 0; j < o.num_layers; ++j) {
    attentions->push_back(make_transformer(o, o.in_channels));
    resnets->push_back(make_resnet(o, o.in_channels, o.in_channels));
  }
}

torch::Tensor UNetMidBlock2DCrossAttnImpl::forward(torch::Tensor h, const torch::Tensor& temb,
                                                   const torch::Tensor& context) {
  h = run_resnet(*resnets, 0, h, temb);
  for (size_t j = 0; j < attentions->size(); ++j) {
    h = run_attention(*attentions, j, h, context);
    h = run_resnet(*resnets, j + 1, h, temb);
  }
  return h;
}

UNetUpBlockImpl::UNetUpBlockImpl(UpBlockType type, const UNetBlockOptions& o) : type(type), options(o) {
  const bool cross = type == UpBlockType::CrossAttnUpBlock2D;
  resnets = register_module("resnets", nn::ModuleList());
  if (cross) attentions = register_module("attentions", nn::ModuleList());
  for (int64_t j = 0; j < o.num_layers; ++j) {
    // The last resnet meets the skip state that entered the matching down block (in_channels wide).
    const int64_t skip = j == o.num_layers - 1 ? o.in_channels : o.out_channels;
    const int64_t res_in = j == 0 ? o.prev_output_channels : o.out_channels;
    resnets->push_back(make_resnet(o, res_in + skip, o.out_channels));
    if (cross) attentions->push_back(make_transformer(o, o.out_channels));
  }
  if (o.add_sample) {
    upsamplers = register_module("upsamplers", nn::ModuleList());
    upsamplers->push_back(Upsample2D(o.out_channels, o.out_channels));
  }
}

torch::Tensor UNetUpBlockImpl::forward(torch::Tensor h, const std::vector<torch::Tensor>& skips,
                                       const torch::Tensor& temb, const torch::Tensor& context,
                                       c10::optional<std::vector<int64_t>> upsample_size) {
  SCULPT_CHECK(skips.size() == resnets->size(), to_string(type), ": expected ", resnets->size(),
               " skip states, got ", skips.size());
  for (size_t j = 0; j < resnets->size(); ++j) {
    h = torch::cat({h, skips[skips.size() - 1 - j]}, 1);  // [B, res_in + skip, H, W]
    h = run_resnet(*resnets, j, h, temb);                 // [B, out, H, W]
    if (attentions) h = run_attention(*attentions, j, h, context);
  }
  if (upsamplers) h = upsamplers[0]->as<Upsample2D>()->forward(h, upsample_size);  // [B, out, 2H, 2W] or given
  return h;
}

}  // namespace sculpt
