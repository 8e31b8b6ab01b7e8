// A miniature `toyworld build` (tiny sizes, a few steps per stage) end to end: every stage writes its
// output, the result loads as a Stable Diffusion model and generates, and a second run skips every stage.
#include "io/safetensors.h"
#include "pipeline/model_loader.h"
#include "pipeline/stable_diffusion.h"
#include "support.h"
#include "toyworld/build.h"
#include "toyworld/judge.h"
#include "toyworld/toyclip.h"

namespace sculpt::toyworld {
namespace {
namespace fs = std::filesystem;

TEST(ToyWorldBuild, MiniBuildRunsEndToEndAndLoads) {
  ToyWorldBuildConfig c;
  c.out = test::temp_dir("toyworld_mini") / "model";
  c.preset = "mini";
  c.progress = false;
  const auto summary = toyworld_build(c);
  for (const char* s : {"tokenizer", "toyclip", "vae", "unet", "judge"})
    EXPECT_TRUE(summary["stages"].contains(s)) << s << " missing from " << summary.dump();

  auto sd = load_stable_diffusion(c.out);
  EXPECT_EQ(sd.vae_scale_factor(), 4);
  EXPECT_EQ(sd.tokenizer.model_max_length(), 32);
  EXPECT_EQ(sd.text_encoder->config.vocab_size, sd.tokenizer.vocab_size());
  EXPECT_EQ(sd.unet->config.cross_attention_dim[0], sd.text_encoder->config.hidden_size);
  GenerateConfig g;
  g.prompts = {"a red star on a striped background"};
  g.steps = 3;
  g.images_per_prompt = 2;
  g.progress = false;
  const auto out = generate(sd, g);
  EXPECT_EQ(out.images.sizes(), (std::vector<int64_t>{2, 3, 64, 64}));
  EXPECT_TRUE(torch::isfinite(out.images).all().item<bool>());

  auto judge = load_judge(c.out / "judge");
  EXPECT_EQ(judge->predict(out.images).background.size(0), 2);
  auto clip = load_toyclip(c.out / "toyclip", sd.text_encoder->config.hidden_size);
  const auto score = clip_score(clip, sd.text_encoder, sd.tokenizer, out.images, {g.prompts[0], g.prompts[0]});
  EXPECT_EQ(score.size(0), 2);

  // Finished stages are kept: a second build changes no file.
  const auto before = fs::last_write_time(c.out / "unet" / "diffusion_pytorch_model.safetensors");
  toyworld_build(c);
  EXPECT_EQ(fs::last_write_time(c.out / "unet" / "diffusion_pytorch_model.safetensors"), before);
  EXPECT_FALSE(fs::exists(c.out / ".build" / "unet")) << "the UNet's resume checkpoints are removed when done";
}

}  // namespace
}  // namespace sculpt::toyworld
