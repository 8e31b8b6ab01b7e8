// Gradient checkpointing (torch.utils.checkpoint with use_reentrant=True): the forward of a block runs
// without saving activations; backward recomputes it with grad enabled and back-propagates through the
// recomputation. Gradients equal the plain run's bit for bit when the block draws no random numbers
// (true of every block here: dropout is 0).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <vector>

namespace sculpt {

using CheckpointFn = std::function<std::vector<torch::Tensor>(const std::vector<torch::Tensor>&)>;

// Returns fn(inputs). With grad mode on, activations inside fn are freed and recomputed in backward;
// parameters used by fn receive their gradients then. Inputs may be undefined tensors.
std::vector<torch::Tensor> checkpoint(const CheckpointFn& fn, const std::vector<torch::Tensor>& inputs);

}  // namespace sculpt
