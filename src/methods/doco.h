// DoCo, concept-domain correction (Wu et al., AAAI 2025, arXiv:2405.15304; methods.md §6): a PatchGAN
// discriminator on latents tells one-step x̂₀ estimates of target prompts (the model being trained) from
// those of anchor prompts (the frozen model); the UNet learns to fool it, with a prior loss on anchor
// images and the concept-preserving gradient surgery (gradient_surgery.h) between the two.
//   L_D   = BCE(D(sg x̂₀(ε*(x_t, c_anc))), 0) + BCE(D(sg x̂₀(ε_θ(x_t, c_tgt))), 1)      every step
//   L_adv = BCE(D(x̂₀(ε_θ(x_t, c_tgt))), 0),  L_prior = ‖ε″ − ε_θ(x″_t, c″_anc)‖²        after warm-up
#pragma once
#include <torch/torch.h>

namespace sculpt {

// The PatchGAN of methods.md §6.2/§6.5 for latents of side h (≥ 8): n = log2(h) − 2 stride-2 4×4 blocks
// (channels from 64 at h ≥ 64, else 32, doubling, at most 512; BatchNorm except in the first block;
// LeakyReLU 0.2), then a 4×4 stride-1 pad-1 conv to one channel: a 3×3 logit map. h = 8: one stride-2
// block and one 3×3 block instead.
struct PatchDiscriminatorImpl : torch::nn::Module {
  PatchDiscriminatorImpl(int64_t in_channels, int64_t side);
  torch::Tensor forward(const torch::Tensor& latents);  // [B, C, h, h] → [B, 1, 3, 3] logits
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(PatchDiscriminator);

// Labels: anchor = 0 ("real"), the model's target estimate = 1 ("fake"); BCE with logits, mean over patches.
// L_D = BCE(D(sg x̂₀_anc), 0) + BCE(D(sg x̂₀_tgt), 1), and the share of patches D gets right.
torch::Tensor doco_discriminator_loss(PatchDiscriminator& d, const torch::Tensor& x0_anchor,
                                      const torch::Tensor& x0_target, double* accuracy = nullptr);
// L_adv = BCE(D(x̂₀_tgt), 0): gradients flow into x̂₀_tgt (and D, whose grads the next D step clears).
torch::Tensor doco_adversarial_loss(PatchDiscriminator& d, const torch::Tensor& x0_target);

}  // namespace sculpt
