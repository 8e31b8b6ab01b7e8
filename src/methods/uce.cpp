#include "methods/uce.h"

#include <algorithm>
#include <regex>

#include "core/check.h"
#include "methods/erase_common.h"
#include "pipeline/stable_diffusion.h"

namespace sculpt {

UceVectors uce_vectors(const torch::Tensor& erase_emb, const std::vector<int64_t>& erase_lengths,
                       const torch::Tensor& guide_emb, const std::vector<int64_t>& guide_lengths,
                       const torch::Tensor& preserve_emb, const std::vector<int64_t>& preserve_lengths,
                       const std::string& tokens) {
  SCULPT_USAGE_CHECK(tokens == "span" || tokens == "last", "UCE tokens: span | last, got '", tokens, "'");
  SCULPT_CHECK(erase_emb.size(0) == guide_emb.size(0), "uce_vectors: one guide per erase text");
  const int64_t L = erase_emb.size(1);
  auto last = [L](int64_t length) { return std::clamp<int64_t>(length - 2, 0, L - 1); };
  std::vector<torch::Tensor> c, g, p;
  for (int64_t i = 0; i < erase_emb.size(0); ++i) {
    const int64_t ke = last(erase_lengths[i]), kg = last(guide_lengths[i]);
    const int64_t n = tokens == "span" ? L - std::max(ke, kg) : 1;
    c.push_back(erase_emb[i].slice(0, ke, ke + n));
    g.push_back(guide_emb[i].slice(0, kg, kg + n));
  }
  for (int64_t j = 0; j < preserve_emb.size(0); ++j) {
    const int64_t kp = last(preserve_lengths[j]);
    p.push_back(tokens == "span" ? preserve_emb[j] : preserve_emb[j].slice(0, kp, kp + 1));
  }
  auto f64 = [](const std::vector<torch::Tensor>& v) { return torch::cat(v).to(torch::kCPU, torch::kFloat64); };
  return {f64(c), f64(g), f64(p)};
}

torch::Tensor uce_matrix(const UceVectors& v, double lambda, double erase_scale, double preserve_scale) {
  SCULPT_USAGE_CHECK(lambda > 0, "UCE λ must be > 0 (it keeps the system well-conditioned), got ", lambda);
  const int64_t d = v.erase.size(1);
  auto eye = torch::eye(d, torch::kFloat64);
  auto keep = preserve_scale * torch::mm(v.preserve.t(), v.preserve);
  auto rhs = lambda * eye + erase_scale * torch::mm(v.guide.t(), v.erase) + keep;   // λI + s_e GᵀC + s_p PᵀP
  auto lhs = lambda * eye + erase_scale * torch::mm(v.erase.t(), v.erase) + keep;  // λI + s_e CᵀC + s_p PᵀP
  // M = rhs · lhs⁻¹, lhs symmetric positive definite: M = (lhs⁻¹ · rhsᵀ)ᵀ.
  return torch::linalg_solve(lhs, rhs.t()).t();
}

namespace {

struct Encoded {
  torch::Tensor emb;  // [n, L, d]
  std::vector<int64_t> lengths;
};

Encoded encode_texts(StableDiffusion& sd, const std::vector<std::string>& texts) {
  Encoded e;
  e.emb = encode_prompts(sd, texts);
  for (const auto& t : texts) e.lengths.push_back(static_cast<int64_t>(sd.tokenizer.encode(t).size()));
  return e;
}

}  // namespace

EditOutcome uce_erase(StableDiffusion& sd, const EraseConfig& c) {
  const std::string guide = !c.alternative.empty() ? c.alternative : !c.anchor.empty() ? c.anchor : " ";
  std::vector<std::string> preserve = c.preserve;
  preserve.push_back("");  // the unconditional prompt is always kept
  const auto erase = encode_texts(sd, c.concepts);
  const auto guides = encode_texts(sd, std::vector<std::string>(c.concepts.size(), guide));
  const auto kept = encode_texts(sd, preserve);
  const auto vectors = uce_vectors(erase.emb, erase.lengths, guides.emb, guides.lengths, kept.emb, kept.lengths,
                                   c.uce_tokens);
  const double s_p = c.uce_preserve_scale > 0
                         ? c.uce_preserve_scale
                         : std::max(0.1, 1.0 / static_cast<double>(std::max<size_t>(1, c.preserve.size())));
  const auto M = uce_matrix(vectors, c.lambda, 1.0, s_p);

  EditOutcome outcome;
  const std::regex kv(R"(attn2\.to_(k|v)\.weight$)");
  torch::NoGradGuard no_grad;
  for (auto& item : sd.unet->named_parameters()) {
    if (!std::regex_search(item.key(), kv)) continue;
    auto& w = item.value();
    SCULPT_CHECK(w.size(1) == M.size(0), "UCE: ", item.key(), " takes ", w.size(1), "-dim text vectors, the text encoder gives ",
                 M.size(0));
    w.copy_(torch::mm(w.to(torch::kCPU, torch::kFloat64), M).to(w.device(), w.scalar_type()));
    outcome.changed.push_back("unet." + item.key());
    outcome.trained_parameters += w.numel();
  }
  SCULPT_USAGE_CHECK(!outcome.changed.empty(), "UCE: ", sd.source, " has no cross-attention (attn2.to_k/to_v) layer");
  outcome.extra = {{"guide", guide},
                   {"preserve", c.preserve},
                   {"erase_vectors", vectors.erase.size(0)},
                   {"preserve_vectors", vectors.preserve.size(0)},
                   {"lambda", c.lambda},
                   {"preserve_scale", s_p},
                   {"tokens", c.uce_tokens}};
  return outcome;
}

}  // namespace sculpt
