// Image-folder datasets for fine-tuning: PNG/JPEG files with a same-named .txt caption, or a
// metadata.jsonl ({"file_name": …, "text": …} per line, as diffusers' ImageFolder). Images are resized
// (shorter side to the resolution, antialiased bilinear) and center-cropped once; random flips are drawn
// per step. VAE latents are cached per image (and per flip), so a step costs only the UNet.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/model_loader.h"

namespace sculpt {

// Rows of a dataset of n examples for a batch: sample k of the run is position k % n of epoch k / n's
// permutation, drawn from train_generator(seed, stream, epoch): a function of the step alone, so a resumed
// run draws what the uninterrupted one drew.
class EpochSampler {
 public:
  EpochSampler(int64_t n, int64_t seed, int64_t stream) : n_(n), seed_(seed), stream_(stream) {}
  std::vector<int64_t> rows(int64_t first, int64_t count);

 private:
  int64_t n_, seed_, stream_, epoch_ = -1;
  torch::Tensor perm_;  // of epoch_ (access is sequential: one epoch at a time)
};

struct ImageCaption {
  std::filesystem::path file;
  std::string caption;
};

// Lists a folder's examples in file-name order. Throws on an empty folder, an image without its
// caption file, or a metadata.jsonl line naming a missing file.
std::vector<ImageCaption> image_folder_list(const std::filesystem::path& dir);

// image_read + resize of the shorter side to `resolution` + center crop → [3, R, R] in [0, 1].
torch::Tensor image_prepare(const std::filesystem::path& file, int64_t resolution);

struct LatentDataset {
  std::vector<std::string> captions;
  // Posterior of each image under the VAE, already scaled by the VAE's scaling factor:
  // z = mean + std·ε. [N, C, h, w]; *_flipped hold the mirrored images (defined when flips are on).
  torch::Tensor mean, std, mean_flipped, std_flipped;
  int64_t size() const { return static_cast<int64_t>(captions.size()); }
  // z for the given rows; a row is mirrored when flip[i] is true. noise: N(0, I) like the rows.
  torch::Tensor sample(const std::vector<int64_t>& rows, const std::vector<bool>& flip, const torch::Tensor& noise) const;
};

// Encodes every image once (batched, no grad) with sd's VAE on its device.
LatentDataset latent_dataset_build(StableDiffusion& sd, const std::vector<ImageCaption>& examples, int64_t resolution,
                                   bool random_flip, bool progress);

}  // namespace sculpt
