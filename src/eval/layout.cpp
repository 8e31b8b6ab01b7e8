#include "eval/layout.h"

#include "core/check.h"

namespace sculpt {

torch::Tensor object_mask(const torch::Tensor& images, double threshold) {
  SCULPT_USAGE_CHECK(images.dim() == 4 && images.size(1) == 3, "object masks need [N, 3, H, W] images, not ",
                     images.sizes());
  return (images.amax(1) - images.amin(1)) > threshold;
}

torch::Tensor mask_iou(const torch::Tensor& a, const torch::Tensor& b) {
  SCULPT_USAGE_CHECK(a.sizes() == b.sizes(), "mask IoU of masks of different shapes: ", a.sizes(), " vs ", b.sizes());
  auto inter = (a & b).flatten(1).sum(1).to(torch::kFloat32);
  auto uni = (a | b).flatten(1).sum(1).to(torch::kFloat32);
  return torch::where(uni > 0, inter / uni.clamp_min(1), torch::ones_like(uni));
}

}  // namespace sculpt
