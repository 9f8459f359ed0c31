// FusedAdamW: torch::optim::AdamW whose step updates each parameter in one pass over
// (param, grad, exp_avg, exp_avg_sq) instead of torch::optim's seven tensor operations and a
// temporary. Same update rule, options, parameter groups and AdamWParamState (so checkpoints are
// interchangeable with torch::optim::AdamW); values agree to float rounding.
//
// The single pass applies to dense contiguous float32 CPU parameters; any other parameter (CUDA,
// bf16, strided) and amsgrad take the op-by-op path, with the same result.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace grec::train {

class FusedAdamW : public torch::optim::AdamW {
 public:
  explicit FusedAdamW(std::vector<torch::optim::OptimizerParamGroup> groups,
                      torch::optim::AdamWOptions defaults = {})
      : torch::optim::AdamW(std::move(groups), defaults) {}
  explicit FusedAdamW(std::vector<torch::Tensor> params, torch::optim::AdamWOptions defaults = {})
      : torch::optim::AdamW(std::move(params), defaults) {}

  torch::Tensor step(LossClosure closure = nullptr) override;

  // Multiplies every gradient by `scale` inside the next step() only (then resets to 1): the
  // clip coefficient without a separate pass over the gradients. The .grad tensors are unchanged.
  void scale_next_step_grads(double scale) { grad_scale_ = scale; }

 private:
  double grad_scale_ = 1.0;
};

}  // namespace grec::train
