#include "methods/purify.h"

#include <algorithm>
#include <chrono>

#include "core/check.h"
#include "io/image.h"
#include "methods/all_but_one.h"
#include "pipeline/model_export.h"

namespace sculpt {
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> image_files(const std::vector<fs::path>& inputs) {
  std::vector<fs::path> out;
  auto is_image = [](const fs::path& p) {
    auto e = p.extension().string();
    std::transform(e.begin(), e.end(), e.begin(), ::tolower);
    return e == ".png" || e == ".jpg" || e == ".jpeg";
  };
  for (const auto& in : inputs) {
    SCULPT_USAGE_CHECK(fs::exists(in), "purify-image: ", in, " does not exist");
    if (fs::is_directory(in)) {
      std::vector<fs::path> found;
      for (const auto& e : fs::directory_iterator(in))
        if (e.is_regular_file() && is_image(e.path())) found.push_back(e.path());
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else {
      SCULPT_USAGE_CHECK(is_image(in), "purify-image: ", in, " is not a PNG or JPEG file");
      out.push_back(in);
    }
  }
  SCULPT_USAGE_CHECK(!out.empty(), "purify-image: no PNG/JPEG image in the inputs");
  return out;
}

}  // namespace

nlohmann::json purify_run(const PurifyRunConfig& c) {
  SCULPT_USAGE_CHECK(c.method == "abo", "purify-image: unknown method '", c.method, "'; known: abo");
  SCULPT_USAGE_CHECK(c.edited.empty() != c.delta.empty(), "purify-image: give the erased model as --edited or --delta");
  SCULPT_USAGE_CHECK(!c.prompt.empty(), "purify-image: --prompt (the erased concept or the images' caption) is required");
  SCULPT_USAGE_CHECK(!c.out.empty(), "purify-image: an output folder (--out) is required");
  const auto start = std::chrono::steady_clock::now();
  const auto files = image_files(c.images);
  auto original = load_stable_diffusion(c.original);
  auto edited = load_stable_diffusion(c.delta.empty() ? c.edited : c.original);
  if (!c.delta.empty()) delta_apply(edited, c.delta);
  const torch::Device device(c.device);
  original.to(device);
  edited.to(device);
  original.eval();
  edited.eval();
  fs::create_directories(c.out);
  PurifyConfig p{c.prompt, c.steps, c.guidance, c.progress};
  nlohmann::json written = nlohmann::json::array();
  for (size_t first = 0; first < files.size(); first += static_cast<size_t>(c.batch)) {
    const size_t last = std::min(files.size(), first + static_cast<size_t>(c.batch));
    std::vector<torch::Tensor> batch;
    for (size_t i = first; i < last; ++i) {
      batch.push_back(image_read(files[i]));
      SCULPT_USAGE_CHECK(batch.back().sizes() == batch.front().sizes(), "purify-image: ", files[i], " is ",
                         batch.back().size(2), "x", batch.back().size(1), ", the others in its batch ",
                         batch.front().size(2), "x", batch.front().size(1), "; use --batch 1 for mixed sizes");
    }
    const auto purified = purify_images(original, edited, torch::stack(batch).to(device), p).to(torch::kCPU);
    for (size_t i = first; i < last; ++i) {
      const auto file = c.out / files[i].filename().replace_extension(".png");
      image_write_png(file, purified[static_cast<int64_t>(i - first)]);
      written.push_back(file.string());
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {{"method", c.method}, {"prompt", c.prompt}, {"images", written}, {"seconds", seconds}};
}

}  // namespace sculpt
