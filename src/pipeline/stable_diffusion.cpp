#include "pipeline/stable_diffusion.h"

#include "core/check.h"
#include "core/progress.h"

namespace sculpt {

torch::Tensor encode_prompts(StableDiffusion& sd, const std::vector<std::string>& prompts, int64_t clip_skip) {
  torch::NoGradGuard no_grad;
  const auto device = sd.unet->parameters().front().device();
  auto ids = sd.tokenizer(prompts).to(device);
  if (clip_skip <= 0) return sd.text_encoder->forward(ids).last_hidden_state;
  auto out = sd.text_encoder->forward(ids, /*output_hidden_states=*/true);
  const auto n = static_cast<int64_t>(out.hidden_states.size());
  SCULPT_USAGE_CHECK(clip_skip < n - 1, "clip_skip ", clip_skip, " is too large for a text encoder with ", n - 1,
                     " layers");
  // diffusers: hidden_states[-(clip_skip + 1)] through final_layer_norm.
  return sd.text_encoder->text_model->final_layer_norm(out.hidden_states[n - 1 - clip_skip]);
}

torch::Tensor guided_noise_pred(StableDiffusion& sd, const torch::Tensor& model_input, const torch::Tensor& timestep,
                                const torch::Tensor& cond, const torch::Tensor& uncond, double guidance_scale) {
  if (guidance_scale <= 1.0) return sd.unet->forward(model_input, timestep, cond);
  auto out = sd.unet->forward(torch::cat({model_input, model_input}), timestep, torch::cat({uncond, cond}));
  auto chunks = out.chunk(2);
  return chunks[0] + guidance_scale * (chunks[1] - chunks[0]);
}

torch::Tensor vae_encode_mean(StableDiffusion& sd, const torch::Tensor& images01) {
  torch::NoGradGuard no_grad;
  return sd.vae->encode(images01 * 2 - 1).mean * sd.vae->config.scaling_factor;
}

torch::Tensor vae_decode(StableDiffusion& sd, const torch::Tensor& latents) {
  torch::NoGradGuard no_grad;
  return (sd.vae->decode(latents / sd.vae->config.scaling_factor) / 2 + 0.5).clamp(0, 1);
}

namespace {

std::vector<std::string> expand_negatives(const GenerateConfig& c) {
  if (c.negative_prompts.empty()) return std::vector<std::string>(c.prompts.size(), "");
  if (c.negative_prompts.size() == 1) return std::vector<std::string>(c.prompts.size(), c.negative_prompts[0]);
  SCULPT_USAGE_CHECK(c.negative_prompts.size() == c.prompts.size(), "got ", c.negative_prompts.size(),
                     " negative prompts for ", c.prompts.size(), " prompts (give one, or one per prompt)");
  return c.negative_prompts;
}

// diffusers repeats each prompt's embeddings images_per_prompt times, copies adjacent.
torch::Tensor repeat_per_prompt(const torch::Tensor& embeds, int64_t n) {
  return n == 1 ? embeds : embeds.repeat_interleave(n, 0);
}

}  // namespace

GenerateResult generate(StableDiffusion& sd, const GenerateConfig& c) {
  torch::NoGradGuard no_grad;
  SCULPT_USAGE_CHECK(!c.prompts.empty(), "no prompt given");
  SCULPT_USAGE_CHECK(c.steps > 0, "steps must be positive, got ", c.steps);
  SCULPT_USAGE_CHECK(c.images_per_prompt > 0, "images per prompt must be positive, got ", c.images_per_prompt);
  const auto param = sd.unet->parameters().front();
  const auto device = param.device();
  const auto dtype = param.scalar_type();
  const int64_t factor = sd.vae_scale_factor();
  const int64_t default_size = sd.unet->config.sample_size * factor;
  const int64_t width = c.width > 0 ? c.width : default_size, height = c.height > 0 ? c.height : default_size;
  SCULPT_USAGE_CHECK(width % factor == 0 && height % factor == 0, "width and height must be multiples of ", factor,
                     " (the VAE's downsampling factor), got ", width, "x", height);

  const bool cfg = c.guidance_scale > 1.0;
  const int64_t n = static_cast<int64_t>(c.prompts.size()) * c.images_per_prompt;
  auto cond = repeat_per_prompt(encode_prompts(sd, c.prompts, c.clip_skip), c.images_per_prompt).to(dtype);
  torch::Tensor uncond;
  if (cfg) uncond = repeat_per_prompt(encode_prompts(sd, expand_negatives(c), c.clip_skip), c.images_per_prompt).to(dtype);

  auto scheduler = make_scheduler(c.scheduler, sd.scheduler_config, c.eta);
  scheduler->set_timesteps(c.steps);
  // The CPU generator draws the same numbers as torch.Generator().manual_seed(seed) in PyTorch.
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(c.seed));
  const std::vector<int64_t> shape{n, sd.unet->config.in_channels, height / factor, width / factor};

  int64_t first_step = 0;
  torch::Tensor latents;
  if (c.init_image.defined()) {
    // img2img: encode, sample the posterior, noise to the level where the shortened schedule starts.
    SCULPT_USAGE_CHECK(c.strength > 0 && c.strength <= 1, "strength must be in (0, 1], got ", c.strength);
    auto image = c.init_image.to(device, dtype);
    if (image.size(0) == 1 && n > 1) image = image.expand({n, -1, -1, -1});
    SCULPT_USAGE_CHECK(image.size(0) == n, "got ", image.size(0), " init images for ", n, " outputs");
    auto dist = sd.vae->encode(image * 2 - 1);
    auto init = dist.sample(gen) * sd.vae->config.scaling_factor;
    const int64_t init_steps = std::min<int64_t>(static_cast<int64_t>(c.steps * c.strength), c.steps);
    first_step = std::max<int64_t>(c.steps - init_steps, 0) * scheduler->order();
    SCULPT_USAGE_CHECK(first_step < scheduler->num_steps(), "strength ", c.strength, " with ", c.steps,
                       " steps leaves no denoising step");
    auto noise = torch::randn(init.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32)).to(device, dtype);
    latents = scheduler->add_noise_at_step(init, noise, first_step);
  } else if (c.init_latents.defined()) {
    SCULPT_USAGE_CHECK(c.init_latents.sizes().vec() == shape, "init latents have shape ", c.init_latents.sizes(),
                       " but this model and size need ", c10::IntArrayRef(shape));
    latents = c.init_latents.to(device, dtype) * scheduler->init_noise_sigma();
  } else {
    latents = torch::randn(shape, gen, torch::TensorOptions().dtype(torch::kFloat32)).to(device, dtype) *
              scheduler->init_noise_sigma();
  }

  ProgressBar bar(scheduler->num_steps() - first_step, "generate", c.progress);
  for (int64_t i = first_step; i < scheduler->num_steps(); ++i) {
    auto t = scheduler->timesteps()[i].to(device);
    auto model_input = scheduler->scale_model_input(latents, i);
    auto eps = guided_noise_pred(sd, model_input, t, cond, uncond, c.guidance_scale);
    latents = scheduler->step(eps, i, latents, &gen).prev_sample;
    if (c.on_step) c.on_step(i, latents);
    bar.update();
  }
  bar.finish();
  return {vae_decode(sd, latents).to(torch::kFloat32), latents};
}

}  // namespace sculpt
