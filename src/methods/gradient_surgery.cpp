#include "methods/gradient_surgery.h"

#include "core/check.h"

namespace sculpt {

SurgeryKind surgery_kind_from_string(const std::string& s) {
  if (s == "code") return SurgeryKind::code;
  if (s == "pcgrad") return SurgeryKind::pcgrad;
  SCULPT_USAGE_CHECK(false, "unknown gradient surgery '", s, "'; known: code, pcgrad");
  return SurgeryKind::code;
}

namespace {

// The adjusted g_a for one pair of (flattened or not) tensors, in float64 for the inner products.
torch::Tensor adjust(const torch::Tensor& a, const torch::Tensor& b, SurgeryKind kind, double lambda) {
  const double dot = (a.to(torch::kFloat64) * b.to(torch::kFloat64)).sum().item<double>();
  const double nb = b.to(torch::kFloat64).norm().item<double>();
  if (dot >= 0 || nb == 0) return a;
  if (kind == SurgeryKind::pcgrad) return a - (dot / (nb * nb)) * b;
  const double na = a.to(torch::kFloat64).norm().item<double>();
  if (na == 0) return a;
  const double cos = dot / (na * nb);
  return a - (lambda * cos / nb) * b;
}

}  // namespace

std::vector<torch::Tensor> gradient_surgery(const std::vector<torch::Tensor>& g_a, const std::vector<torch::Tensor>& g_b,
                                            SurgeryKind kind, double lambda, bool global) {
  SCULPT_CHECK(g_a.size() == g_b.size(), "gradient_surgery: ", g_a.size(), " vs ", g_b.size(), " tensors");
  std::vector<torch::Tensor> out;
  if (!global) {
    for (size_t i = 0; i < g_a.size(); ++i) out.push_back(adjust(g_a[i], g_b[i], kind, lambda));
    return out;
  }
  std::vector<torch::Tensor> fa, fb;
  for (size_t i = 0; i < g_a.size(); ++i) fa.push_back(g_a[i].reshape({-1})), fb.push_back(g_b[i].reshape({-1}));
  const auto flat = adjust(torch::cat(fa), torch::cat(fb), kind, lambda);
  int64_t offset = 0;
  for (const auto& a : g_a) {
    out.push_back(flat.slice(0, offset, offset + a.numel()).view(a.sizes()));
    offset += a.numel();
  }
  return out;
}

}  // namespace sculpt
