// DoCo's concept-preserving gradient surgery (Wu et al., AAAI 2025, arXiv:2405.15304; methods.md §6.3).
// g_a: the unlearning (adversarial) gradient, g_b: the preservation (prior) gradient, one tensor per
// trained parameter, both already clipped. The step uses the adjusted g_a only; g_b is a constraint.
//   code   (authors' code): per tensor, cos = ⟨g_a,g_b⟩/(‖g_a‖‖g_b‖); if cos < 0, g_a ← g_a − λ·cos·g_b/‖g_b‖
//          (no ‖g_a‖ factor: not an exact projection)
//   pcgrad (the paper's wording; granularity is our design): if ⟨g_a,g_b⟩ < 0, g_a ← g_a − ⟨g_a,g_b⟩/‖g_b‖²·g_b,
//          per tensor or (global) on the concatenation of all tensors
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace sculpt {

enum class SurgeryKind { code, pcgrad };
SurgeryKind surgery_kind_from_string(const std::string& s);  // "code" | "pcgrad"

std::vector<torch::Tensor> gradient_surgery(const std::vector<torch::Tensor>& g_a, const std::vector<torch::Tensor>& g_b,
                                            SurgeryKind kind, double lambda = 1.0, bool global = false);

}  // namespace sculpt
