#include "eval/frechet.h"

#include "core/check.h"

namespace sculpt {

namespace {

std::pair<torch::Tensor, torch::Tensor> mean_cov(const torch::Tensor& f) {
  auto x = f.to(torch::kFloat64);
  auto mu = x.mean(0);
  auto centred = x - mu;
  return {mu, centred.t().mm(centred) / static_cast<double>(x.size(0) - 1)};
}

torch::Tensor sqrt_psd(const torch::Tensor& m) {
  auto [values, vectors] = torch::linalg::eigh(m, "L");
  return vectors.mm(torch::diag(values.clamp_min(0).sqrt())).mm(vectors.t());
}

}  // namespace

double frechet_distance(const torch::Tensor& a, const torch::Tensor& b) {
  SCULPT_USAGE_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1), "Fréchet distance needs two [N, D] ",
                     "feature sets of the same D, not ", a.sizes(), " and ", b.sizes());
  SCULPT_USAGE_CHECK(a.size(0) >= 2 && b.size(0) >= 2, "Fréchet distance needs >= 2 samples per set, not ",
                     a.size(0), " and ", b.size(0));
  auto [mu_a, cov_a] = mean_cov(a);
  auto [mu_b, cov_b] = mean_cov(b);
  auto root_a = sqrt_psd(cov_a);
  auto middle = root_a.mm(cov_b).mm(root_a);
  middle = (middle + middle.t()) / 2;
  auto cross = torch::linalg::eigvalsh(middle, "L").clamp_min(0).sqrt().sum();
  auto d = (mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * cross;
  return std::max(0.0, d.item<double>());
}

}  // namespace sculpt
