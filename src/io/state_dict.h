// Strict loading of a TensorMap into a module whose named_parameters()/named_buffers() are the
// checkpoint keys. Missing, unexpected and mis-shaped keys are collected and reported at once.
#pragma once
#include <torch/torch.h>

#include <set>
#include <string>

#include "io/safetensors.h"

namespace sculpt {

struct LoadOptions {
  // Keys that may be absent from the file (e.g. buffers some library versions do not save);
  // each use names its reason at the call site.
  std::set<std::string> optional_keys;
  // Keys in the file that the module does not have and that are fine to skip.
  std::set<std::string> ignored_keys;
};

// Copies every tensor into the module (converting dtype, keeping the module's device).
// `source` names the file in error messages.
void load_state_dict(torch::nn::Module& module, const TensorMap& tensors, const std::string& source,
                     const LoadOptions& options = {});

// Parameters and buffers of a module, by their dotted names.
TensorMap state_dict(const torch::nn::Module& module);

}  // namespace sculpt
