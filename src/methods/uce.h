// UCE, Unified Concept Editing (Gandikota et al., WACV 2024, arXiv:2308.14761; methods.md §3): a
// closed-form edit of every attn2.to_k / attn2.to_v weight W (d_out × d_text), no training loop:
//   W_new = (λ·W + s_e·Σ_i v*_i c_iᵀ + s_p·Σ_j (W c_j) c_jᵀ) · (λ·I + s_e·Σ_i c_i c_iᵀ + s_p·Σ_j c_j c_jᵀ)⁻¹
// with erase token vectors c_i mapped to v*_i = W·g_i (g_i: the guide's matching token vectors) and
// preserved vectors c_j kept. Since v*_i = W·g_i, W_new = W·M with one matrix M for every layer:
//   M = (λI + s_e·Gᵀ C + s_p·Pᵀ P)(λI + s_e·Cᵀ C + s_p·Pᵀ P)⁻¹   (rows of C, G, P: the token vectors)
// solved in float64.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace sculpt {

struct UceVectors {
  torch::Tensor erase, guide, preserve;  // [n_e, d], [n_e, d], [n_p, d] (float64)
};

// Token vectors by the authors' rule. tokens = "span": the erase and guide texts' last content token, then
// EOS and padding, position by position from each text's own last content token; preserve texts give all
// their vectors. tokens = "last": each text's last content-token vector only. `lengths` are the token
// counts with BOS and EOS (so the last content token sits at length − 2). Embeddings [n, L, d].
UceVectors uce_vectors(const torch::Tensor& erase_emb, const std::vector<int64_t>& erase_lengths,
                       const torch::Tensor& guide_emb, const std::vector<int64_t>& guide_lengths,
                       const torch::Tensor& preserve_emb, const std::vector<int64_t>& preserve_lengths,
                       const std::string& tokens);

// The shared right factor M [d, d] (float64).
torch::Tensor uce_matrix(const UceVectors& v, double lambda, double erase_scale, double preserve_scale);

}  // namespace sculpt
