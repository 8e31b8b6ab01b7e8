// Images ↔ tensors. Tensors are float [3, H, W] in [0, 1] (CHW, RGB); files are PNG or JPEG.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <vector>

namespace sculpt {

torch::Tensor image_read(const std::filesystem::path& path);  // [3, H, W] float in [0,1]
// Writes PNG atomically; values are clamped to [0,1] and rounded to 8 bits.
void image_write_png(const std::filesystem::path& path, const torch::Tensor& image);
// Tiles a batch [N, 3, H, W] into one [3, rows*H, cols*W] image with `pad` pixels of white between.
torch::Tensor image_grid(const torch::Tensor& batch, int64_t cols, int64_t pad = 2);

}  // namespace sculpt
