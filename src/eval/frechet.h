// Fréchet distance between two feature sets, each summarised by a Gaussian (mean, covariance):
//   d² = |μa − μb|² + tr(Σa) + tr(Σb) − 2 tr((Σa Σb)^½)
// the quantity FID reports, here on any feature space (ToyWorld: the judge's embedding).
#pragma once
#include <torch/torch.h>

namespace sculpt {

// features: [N, D] with N >= 2. Computed in float64; tr((ΣaΣb)^½) as Σ √λ of √Σa Σb √Σa (symmetric, so
// eigh applies), negative round-off eigenvalues clamped to 0.
double frechet_distance(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace sculpt
