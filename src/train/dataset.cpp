#include "train/dataset.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/progress.h"
#include "io/atomic_file.h"
#include "io/image.h"
#include "train/train_loop.h"

namespace sculpt {

std::vector<int64_t> EpochSampler::rows(int64_t first, int64_t count) {
  std::vector<int64_t> out;
  for (int64_t k = first; k < first + count; ++k) {
    if (k / n_ != epoch_) {
      epoch_ = k / n_;
      perm_ = torch::randperm(n_, train_generator(seed_, stream_, epoch_), torch::kLong);
    }
    out.push_back(perm_[k % n_].item<int64_t>());
  }
  return out;
}
namespace fs = std::filesystem;
namespace {

bool is_image(const fs::path& p) {
  auto ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

}  // namespace

std::vector<ImageCaption> image_folder_list(const fs::path& dir) {
  SCULPT_CHECK(fs::is_directory(dir), "image folder ", dir, " does not exist or is not a folder");
  std::vector<ImageCaption> out;
  const auto metadata = dir / "metadata.jsonl";
  if (fs::exists(metadata)) {
    std::ifstream in(metadata);
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
      if (trim(line).empty()) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        SCULPT_CHECK(false, metadata, " line ", n, " is not JSON: ", e.what());
      }
      SCULPT_CHECK(j.is_object() && j.contains("file_name") && j["file_name"].is_string(), metadata, " line ", n,
                   " has no \"file_name\"");
      const auto file = dir / j["file_name"].get<std::string>();
      SCULPT_CHECK(fs::exists(file), metadata, " line ", n, " names ", file, ", which does not exist");
      std::string text;
      for (const char* key : {"text", "caption", "prompt"})
        if (j.contains(key) && j[key].is_string()) text = j[key].get<std::string>();
      out.push_back({file, text});
    }
  } else {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && is_image(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      auto txt = f;
      txt.replace_extension(".txt");
      SCULPT_CHECK(fs::exists(txt), "image ", f, " has no caption file ", txt,
                   " (put one caption per image in a same-named .txt, or list them in metadata.jsonl)");
      out.push_back({f, trim(read_file(txt))});
    }
  }
  SCULPT_CHECK(!out.empty(), "image folder ", dir, " holds no PNG/JPEG images");
  return out;
}

torch::Tensor image_prepare(const fs::path& file, int64_t resolution) {
  auto img = image_read(file).unsqueeze(0);  // [1, 3, H, W]
  const int64_t h = img.size(2), w = img.size(3);
  const double scale = static_cast<double>(resolution) / static_cast<double>(std::min(h, w));
  const int64_t nh = std::max<int64_t>(resolution, std::llround(h * scale));
  const int64_t nw = std::max<int64_t>(resolution, std::llround(w * scale));
  if (nh != h || nw != w)
    img = torch::nn::functional::interpolate(
        img, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{nh, nw})
                 .mode(torch::kBilinear).align_corners(false).antialias(true));
  const int64_t top = (nh - resolution) / 2, left = (nw - resolution) / 2;
  return img[0].slice(1, top, top + resolution).slice(2, left, left + resolution).clamp(0, 1).contiguous();
}

torch::Tensor LatentDataset::sample(const std::vector<int64_t>& rows, const std::vector<bool>& flip,
                                    const torch::Tensor& noise) const {
  std::vector<torch::Tensor> z;
  for (size_t i = 0; i < rows.size(); ++i) {
    const bool f = i < flip.size() && flip[i];
    SCULPT_CHECK(!f || mean_flipped.defined(), "flipped latents were not cached");
    const auto& m = f ? mean_flipped : mean;
    const auto& s = f ? std_flipped : std;
    z.push_back(m[rows[i]] + s[rows[i]] * noise[static_cast<int64_t>(i)]);
  }
  return torch::stack(z);
}

LatentDataset latent_dataset_build(StableDiffusion& sd, const std::vector<ImageCaption>& examples, int64_t resolution,
                                   bool random_flip, bool progress) {
  SCULPT_USAGE_CHECK(resolution % sd.vae_scale_factor() == 0, "resolution ", resolution,
                     " must be a multiple of the VAE's downsampling factor ", sd.vae_scale_factor());
  torch::NoGradGuard no_grad;
  const auto device = sd.unet->parameters().front().device();
  const auto dtype = sd.vae->parameters().front().scalar_type();
  const double s = sd.vae->config.scaling_factor;
  LatentDataset data;
  std::vector<torch::Tensor> mean, std_, mean_f, std_f;
  ProgressBar bar(static_cast<int64_t>(examples.size()), "caching latents", progress);
  constexpr int64_t kBatch = 8;
  for (size_t b = 0; b < examples.size(); b += kBatch) {
    std::vector<torch::Tensor> imgs;
    for (size_t i = b; i < std::min(examples.size(), b + kBatch); ++i) {
      imgs.push_back(image_prepare(examples[i].file, resolution));
      data.captions.push_back(examples[i].caption);
    }
    auto x = (torch::stack(imgs) * 2 - 1).to(device, dtype);
    auto encode = [&](const torch::Tensor& in, std::vector<torch::Tensor>& m, std::vector<torch::Tensor>& sd_out) {
      auto dist = sd.vae->encode(in);
      m.push_back((dist.mean * s).to(torch::kFloat32));
      sd_out.push_back((dist.std * s).to(torch::kFloat32));
    };
    encode(x, mean, std_);
    if (random_flip) encode(x.flip({3}), mean_f, std_f);
    bar.update(static_cast<int64_t>(imgs.size()));
  }
  bar.finish();
  data.mean = torch::cat(mean).to(device);
  data.std = torch::cat(std_).to(device);
  if (random_flip) {
    data.mean_flipped = torch::cat(mean_f).to(device);
    data.std_flipped = torch::cat(std_f).to(device);
  }
  return data;
}

}  // namespace sculpt
