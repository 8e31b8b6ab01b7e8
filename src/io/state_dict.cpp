#include "io/state_dict.h"

#include <sstream>

#include "core/check.h"

namespace sculpt {

TensorMap state_dict(const torch::nn::Module& module) {
  TensorMap out;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) out.emplace(p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/true)) out.emplace(b.key(), b.value());
  return out;
}

namespace {
std::string list_some(const std::vector<std::string>& items, size_t max_items = 8) {
  std::ostringstream s;
  for (size_t i = 0; i < items.size() && i < max_items; ++i) s << (i ? ", " : "") << items[i];
  if (items.size() > max_items) s << " … (" << items.size() - max_items << " more)";
  return s.str();
}
}  // namespace

void load_state_dict(torch::nn::Module& module, const TensorMap& tensors, const std::string& source,
                     const LoadOptions& options) {
  TensorMap targets = state_dict(module);
  std::vector<std::string> missing, unexpected, mismatched;
  for (const auto& [key, target] : targets) {
    auto it = tensors.find(key);
    if (it == tensors.end()) {
      if (!options.optional_keys.count(key)) missing.push_back(key);
      continue;
    }
    if (it->second.sizes() != target.sizes()) {
      std::ostringstream s;
      s << key << " (file " << it->second.sizes() << ", model " << target.sizes() << ")";
      mismatched.push_back(s.str());
    }
  }
  for (const auto& [key, t] : tensors)
    if (!targets.count(key) && !options.ignored_keys.count(key)) unexpected.push_back(key);

  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::ostringstream s;
    s << "cannot load " << source << " into the model built from its config:";
    if (!missing.empty()) s << "\n  missing keys (" << missing.size() << "): " << list_some(missing);
    if (!unexpected.empty()) s << "\n  unexpected keys (" << unexpected.size() << "): " << list_some(unexpected);
    if (!mismatched.empty()) s << "\n  wrong shapes (" << mismatched.size() << "): " << list_some(mismatched);
    s << "\n  Hint: check that the config.json beside the weights belongs to them.";
    throw Error(s.str());
  }

  torch::NoGradGuard no_grad;
  for (auto& [key, target] : targets) {
    auto it = tensors.find(key);
    if (it != tensors.end()) target.copy_(it->second);
  }
}

}  // namespace sculpt
