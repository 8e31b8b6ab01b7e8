// AutoencoderKL against diffusers 0.29.2 (reference/vae.safetensors), on a non-square image.
#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "models/vae.h"
#include "support.h"

using namespace sculpt;

TEST(VaeParity, EncodeDecode) {
  auto vae = load_vae(test::golden("tiny-sd/model/vae"));
  auto ref = read_safetensors(test::golden("tiny-sd/reference/vae.safetensors"));
  torch::NoGradGuard no_grad;
  auto dist = vae->encode(ref.at("image"));
  EXPECT_CLOSE(dist.mean, ref.at("latent_mean"), 1e-5, 0, "vae latent mean");
  EXPECT_CLOSE(dist.std, ref.at("latent_std"), 1e-5, 0, "vae latent std");
  EXPECT_CLOSE(dist.logvar, ref.at("latent_logvar"), 1e-5, 0, "vae latent logvar");
  EXPECT_CLOSE(vae->decode(ref.at("decode_input")), ref.at("decode_output"), 1e-5, 0, "vae decode");
}
