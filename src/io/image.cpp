#include "io/image.h"

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#include <stb_image_write.h>

#include "core/check.h"
#include "io/atomic_file.h"

namespace sculpt {
namespace fs = std::filesystem;

torch::Tensor image_read(const fs::path& path) {
  int w = 0, h = 0, c = 0;
  unsigned char* data = stbi_load(path.c_str(), &w, &h, &c, 3);
  SCULPT_CHECK(data != nullptr, "cannot read image ", path, ": ",
               fs::exists(path) ? stbi_failure_reason() : "no such file");
  auto t = torch::from_blob(data, {h, w, 3}, torch::kUInt8).permute({2, 0, 1}).to(torch::kFloat32).div(255.0);
  stbi_image_free(data);
  return t.contiguous();
}

void image_write_png(const fs::path& path, const torch::Tensor& image) {
  SCULPT_CHECK(image.dim() == 3 && image.size(0) == 3, "image_write_png wants [3, H, W], got ", image.sizes());
  auto hwc = image.detach().to(torch::kCPU, torch::kFloat32).clamp(0, 1).mul(255).round().to(torch::kUInt8)
                 .permute({1, 2, 0}).contiguous();
  const int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1));
  write_atomically(path, [&](const fs::path& tmp) {
    SCULPT_CHECK(stbi_write_png(tmp.c_str(), w, h, 3, hwc.data_ptr<uint8_t>(), w * 3) != 0,
                 "cannot write PNG ", tmp);
  });
}

torch::Tensor image_grid(const torch::Tensor& batch, int64_t cols, int64_t pad) {
  SCULPT_CHECK(batch.dim() == 4 && batch.size(1) == 3, "image_grid wants [N, 3, H, W], got ", batch.sizes());
  const int64_t n = batch.size(0), h = batch.size(2), w = batch.size(3);
  cols = std::max<int64_t>(1, std::min(cols, n));
  const int64_t rows = (n + cols - 1) / cols;
  auto grid = torch::ones({3, rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad}, batch.options());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = i / cols, c = i % cols;
    grid.narrow(1, r * (h + pad), h).narrow(2, c * (w + pad), w).copy_(batch[i]);
  }
  return grid;
}

}  // namespace sculpt
