// AutoencoderKL against diffusers 0.29.2 (reference/vae.safetensors) on a non-square 32×24 image.
// Tolerance 1e-5 abs: the README's float32-vs-float64 spread is at most 2.95e-6 (decode_output).
#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "models/vae.h"
#include "support.h"

using namespace sculpt;

TEST(VaeParity, EncodePosterior) {
  auto vae = load_vae(test::golden("tiny-sd/model/vae"));  // strict: every key, every shape
  auto ref = read_safetensors(test::golden("tiny-sd/reference/vae.safetensors"));
  torch::NoGradGuard no_grad;
  auto dist = vae->encode(ref.at("image"));  // [1, 3, 32, 24] → [1, 4, 16, 12]
  EXPECT_CLOSE(dist.mean, ref.at("latent_mean"), 1e-5, 0, "vae latent_mean");
  EXPECT_CLOSE(dist.std, ref.at("latent_std"), 1e-5, 0, "vae latent_std");
  EXPECT_CLOSE(dist.logvar, ref.at("latent_logvar"), 1e-5, 0, "vae latent_logvar");
}

TEST(VaeParity, Decode) {
  auto vae = load_vae(test::golden("tiny-sd/model/vae"));
  auto ref = read_safetensors(test::golden("tiny-sd/reference/vae.safetensors"));
  torch::NoGradGuard no_grad;
  auto out = vae->decode(ref.at("decode_input"));  // [1, 4, 16, 12] → [1, 3, 32, 24], no 1/scaling_factor
  EXPECT_CLOSE(out, ref.at("decode_output"), 1e-5, 0, "vae decode_output");
}
