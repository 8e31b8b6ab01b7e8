// The shipped ToyWorld model (models/toyworld, made by `sculpt toyworld build --seed 0`): it loads as the
// default model, and a fixed-seed batch generated from it gets the judge labels its prompts ask for.
#include <gtest/gtest.h>

#include "eval/judge_score.h"
#include "eval/sampling.h"
#include "pipeline/model_loader.h"
#include "support.h"
#include "toyworld/captions.h"
#include "toyworld/render.h"

namespace tw = sculpt::toyworld;
using namespace sculpt;

TEST(ShippedModel, LoadsAsTheDefaultModel) {
  const auto dir = test::source_dir("models/toyworld");
  ASSERT_TRUE(std::filesystem::exists(dir / "unet" / "diffusion_pytorch_model.safetensors")) << "no model at " << dir;
  auto sd = load_stable_diffusion(dir.string());
  EXPECT_EQ(sd.unet->config.cross_attention_dim.front(), sd.text_encoder->config.hidden_size);
  EXPECT_EQ(sd.unet->config.sample_size * sd.vae_scale_factor(), 64);
}

// 24 prompts over every shape (seen colours, named background and style), DDIM 25 steps.
TEST(ShippedModel, GeneratesWhatThePromptAsks) {
  auto sd = load_stable_diffusion(test::source_dir("models/toyworld").string());
  auto judge = tw::load_judge(test::source_dir("models/toyworld/judge"));
  std::vector<LabeledPrompt> prompts;
  for (int k = 0; k < 24; ++k) {
    const auto shape = static_cast<tw::Shape>(k % tw::kNumShapes);
    int colour = (5 * k + 2) % tw::kNumColours;
    while (tw::is_held_out(shape, static_cast<tw::Colour>(colour))) colour = (colour + 1) % tw::kNumColours;
    tw::PromptSpec spec;
    spec.objects = {{shape, colour, 0, 0}};
    spec.background = k % tw::kNumBackgrounds;
    spec.style = (k / 3) % tw::kNumStyles;
    prompts.push_back({tw::prompt_make(spec), 4000 + k, static_cast<int>(shape), colour, spec.background, spec.style});
  }
  std::vector<std::string> text;
  std::vector<int64_t> seeds;
  for (const auto& p : prompts) text.push_back(p.prompt), seeds.push_back(p.seed);
  SampleSettings s;
  s.progress = false;
  const auto images = sample_images(sd, text, seeds, s);
  const auto acc = judge_prompts(judge, images, prompts);
  std::cout << "shipped model on 24 fixed prompts: " << acc.to_json().dump() << "\n";
  // Floors under what the shipped build measures here (shape 12/24, colour 24/24, background 24/24, style
  // 16/24), so a regression fails. Shape and style are below the bars (docs/toyworld.md).
  EXPECT_GE(acc.rate(0), 0.45);  // shape
  EXPECT_GE(acc.rate(1), 0.9);   // colour
  EXPECT_GE(acc.rate(2), 0.9);   // background
  EXPECT_GE(acc.rate(3), 0.6);   // style
}

// The VAE keeps what the judge reads: reconstructions of fresh renders are judged like the renders.
TEST(ShippedModel, VaeReconstructionsKeepEveryAttribute) {
  auto sd = load_stable_diffusion(test::source_dir("models/toyworld").string());
  auto judge = tw::load_judge(test::source_dir("models/toyworld/judge"));
  const auto batch = tw::scene_batch(77, 0, 500);
  torch::Tensor recon;
  {
    torch::NoGradGuard no_grad;
    recon = vae_decode(sd, vae_encode_mean(sd, batch.images)).clamp(0, 1);
  }
  const auto a = judge->predict(batch.images), b = judge->predict(recon);
  auto agree = [](const torch::Tensor& x, const torch::Tensor& y) {
    return x.dim() == 2 ? (x == y).all(1).to(torch::kFloat64).mean().item<double>()
                        : (x == y).to(torch::kFloat64).mean().item<double>();
  };
  const double shape = agree(a.shapes, b.shapes), colour = agree(a.colours, b.colours);
  const double background = agree(a.background, b.background), style = agree(a.style, b.style);
  std::cout << "judge agreement render vs VAE reconstruction: shape " << shape << " colour " << colour
            << " background " << background << " style " << style << "\n";
  // Measured with the shipped build: shape 0.926, colour 0.988, background 1.0, style 0.702 — the VAE
  // loses pixel-art and sketchy texture, which caps style (docs/toyworld.md).
  EXPECT_GE(shape, 0.9);
  EXPECT_GE(colour, 0.95);
  EXPECT_GE(background, 0.95);
  EXPECT_GE(style, 0.65);
}
