// Where the objects are, without a model: ToyWorld objects are saturated colours (HSV saturation >= 0.8)
// and backgrounds never exceed saturation 0.22, so a chroma threshold (max − min over RGB) separates them.
// Spatial consistency of an edit (All-but-One) = IoU of the object masks of the original and the edited
// image from the same seed: 1 when the layout survives, 0 when the object moved or vanished.
#pragma once
#include <torch/torch.h>

namespace sculpt {

// bool [N, H, W]: chroma > threshold. images: [N, 3, H, W] in [0, 1].
torch::Tensor object_mask(const torch::Tensor& images, double threshold = 0.4);

// Per image: |a ∧ b| / |a ∨ b| of the two masks; 1 when both are empty. [N] float.
torch::Tensor mask_iou(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace sculpt
