#include "models/checkpoint.h"

#include "core/check.h"

namespace sculpt {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct FnHolder : torch::CustomClassHolder {
  explicit FnHolder(CheckpointFn f) : fn(std::move(f)) {}
  CheckpointFn fn;
};

struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
  // `anchor` is an empty tensor that requires grad, so the outputs get a grad_fn even when no real input
  // does (a frozen conv_in before a trained block): otherwise the block's parameters would get no gradient.
  // `inputs` must arrive as a TensorList: autograd then tracks each tensor (a std::vector would count as
  // one non-differentiable argument).
  static variable_list forward(AutogradContext* ctx, c10::intrusive_ptr<FnHolder> holder, torch::Tensor anchor,
                               at::TensorList inputs) {
    (void)anchor;
    c10::List<bool> defined, requires;
    std::vector<torch::Tensor> saved;
    for (const auto& x : inputs) {
      defined.push_back(x.defined());
      requires.push_back(x.defined() && x.requires_grad());
      if (x.defined()) saved.push_back(x);
    }
    ctx->save_for_backward(saved);
    ctx->saved_data["fn"] = c10::IValue::make_capsule(holder);
    ctx->saved_data["defined"] = defined;
    ctx->saved_data["requires"] = requires;
    return holder->fn(inputs.vec());  // grad mode is off here (Function::apply)
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto capsule = ctx->saved_data["fn"].toCapsule();
    auto* holder = static_cast<FnHolder*>(capsule.get());
    const auto defined = ctx->saved_data["defined"].toBoolList();
    const auto requires = ctx->saved_data["requires"].toBoolList();
    const auto saved = ctx->get_saved_variables();
    std::vector<torch::Tensor> inputs;
    for (size_t i = 0, k = 0; i < defined.size(); ++i) {
      if (!defined[i]) {
        inputs.emplace_back();
        continue;
      }
      inputs.push_back(saved[k++].detach().requires_grad_(requires[i]));
    }
    std::vector<torch::Tensor> outputs;
    {
      torch::AutoGradMode enable(true);
      outputs = holder->fn(inputs);
    }
    std::vector<torch::Tensor> roots, grads;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (!outputs[i].defined() || !outputs[i].requires_grad() || !grad_outputs[i].defined()) continue;
      roots.push_back(outputs[i]);
      grads.push_back(grad_outputs[i]);
    }
    if (!roots.empty()) torch::autograd::backward(roots, grads);
    variable_list result{torch::Tensor(), torch::Tensor()};  // holder, anchor
    for (size_t i = 0; i < inputs.size(); ++i)
      result.push_back(inputs[i].defined() && requires[i] ? inputs[i].grad() : torch::Tensor());
    return result;
  }
};

}  // namespace

std::vector<torch::Tensor> checkpoint(const CheckpointFn& fn, const std::vector<torch::Tensor>& inputs) {
  if (!torch::GradMode::is_enabled()) return fn(inputs);
  auto anchor = torch::empty({0}, torch::requires_grad());
  return CheckpointFunction::apply(c10::make_intrusive<FnHolder>(fn), anchor, at::TensorList(inputs));
}

}  // namespace sculpt
