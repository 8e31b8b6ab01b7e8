#include "eval/sampling.h"

#include "core/check.h"
#include "core/progress.h"

namespace sculpt {

torch::Tensor seeded_noise(int64_t seed, at::IntArrayRef shape) {
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
  return torch::randn(shape, gen, torch::kFloat32);
}

torch::Tensor sample_images(StableDiffusion& sd, const std::vector<std::string>& prompts,
                            const std::vector<int64_t>& seeds, const SampleSettings& s) {
  SCULPT_USAGE_CHECK(prompts.size() == seeds.size(), "sampling needs one seed per prompt: ", prompts.size(),
                     " prompts, ", seeds.size(), " seeds");
  SCULPT_USAGE_CHECK(s.batch_size > 0, "sampling batch size must be > 0, not ", s.batch_size);
  const auto& u = sd.unet->config;
  const int64_t n = static_cast<int64_t>(prompts.size());
  std::vector<torch::Tensor> out;
  ProgressBar bar(n, s.label, s.progress);
  for (int64_t first = 0; first < n; first += s.batch_size) {
    const int64_t b = std::min(s.batch_size, n - first);
    GenerateConfig g;
    g.prompts.assign(prompts.begin() + first, prompts.begin() + first + b);
    g.negative_prompts = {s.negative_prompt};
    g.steps = s.steps;
    g.guidance_scale = s.guidance_scale;
    g.scheduler = s.scheduler;
    g.progress = false;
    std::vector<torch::Tensor> noise;
    for (int64_t i = first; i < first + b; ++i)
      noise.push_back(seeded_noise(seeds[i], {1, u.in_channels, u.sample_size, u.sample_size}));
    g.init_latents = torch::cat(noise);
    out.push_back(generate(sd, g).images.cpu());
    bar.update(b);
  }
  bar.finish();
  return n == 0 ? torch::empty({0, 3, 0, 0}) : torch::cat(out);
}

}  // namespace sculpt
