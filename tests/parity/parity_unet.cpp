// UNet2DConditionModel against diffusers 0.29.2 (reference/unet.safetensors): integer and fractional timesteps.
#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "models/unet.h"
#include "support.h"

using namespace sculpt;

TEST(UNetParity, NoisePrediction) {
  auto unet = load_unet(test::golden("tiny-sd/model/unet"));
  auto ref = read_safetensors(test::golden("tiny-sd/reference/unet.safetensors"));
  torch::NoGradGuard no_grad;
  EXPECT_CLOSE(unet->forward(ref.at("sample"), ref.at("timesteps_int"), ref.at("encoder_hidden_states")),
               ref.at("noise_pred_int"), 1e-5, 0, "unet noise_pred (int timesteps)");
  EXPECT_CLOSE(unet->forward(ref.at("sample"), ref.at("timesteps_float"), ref.at("encoder_hidden_states")),
               ref.at("noise_pred_float"), 1e-5, 0, "unet noise_pred (fractional timesteps)");
}
