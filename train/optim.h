// Optimizers (AdamW, Adam, Adagrad, SGD from torch::optim) with weight-decay parameter groups,
// learning-rate schedules, and the optimizer state as named tensors for checkpoints.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "train/tensor_io.h"
#include "train/train_options.h"

namespace grec::train {

// Trainable parameters split by whether weight decay applies. With `decay_exclude`, biases,
// every other 0-/1-dimensional parameter (norm weights and biases) and the parameters of
// Embedding / LayerNorm / BatchNorm modules (or whose names contain "norm" or "embed") get none.
// Parameters shared under several names appear once (first name).
struct ParamGroups {
  std::vector<std::string> decay_names, no_decay_names;
  std::vector<torch::Tensor> decay, no_decay;
};
ParamGroups split_param_groups(torch::nn::Module& module, bool decay_exclude);

// Group 0 = decayed parameters, group 1 = the others (each present only when not empty).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(torch::nn::Module& module,
                                                        const TrainOptions& options);

// lr(step) = lr × factor(step), `step` = optimizer steps already taken (0 for the first one).
// Warm-up (W steps): factor = step / W. After it, with progress p = (step - W) / (T - W) in [0, 1]:
//   constant      1
//   linear        m + (1 - m)(1 - p)
//   cosine        m + (1 - m)(1 + cos(pi p)) / 2
//   inverse_sqrt  sqrt(max(W, 1) / max(step, W, 1))
// with m = min_lr_ratio and T the total steps.
class LrSchedule {
 public:
  LrSchedule(const TrainOptions& options, int64_t total_steps);
  double factor(int64_t step) const;
  double lr(int64_t step) const { return base_lr_ * factor(step); }
  // Sets the lr of every parameter group for the step about to be taken.
  void apply(torch::optim::Optimizer& optimizer, int64_t step) const;
  int64_t warmup_steps() const { return warmup_; }
  int64_t total_steps() const { return total_; }
  nlohmann::json state(int64_t step) const;  // for the checkpoint (the schedule is stateless)

 private:
  std::string kind_;
  double base_lr_, min_ratio_;
  int64_t warmup_, total_;
};

// Every per-parameter state tensor, named "g<group>.p<index>.<field>" (exp_avg, exp_avg_sq,
// max_exp_avg_sq, sum, momentum_buffer), plus the integer fields in `scalars`
// ({"optimizer": ..., "groups": [n params...], "step": {"g0.p1": 12, ...}}).
NamedTensors optimizer_state(torch::optim::Optimizer& optimizer, nlohmann::json* scalars);
// Restores what optimizer_state wrote into an optimizer built for the same parameters. A
// mismatch (type, group sizes, shapes) is a UserError naming `origin`.
void load_optimizer_state(torch::optim::Optimizer& optimizer, const NamedTensors& tensors,
                          const nlohmann::json& scalars, const std::string& origin);

}  // namespace grec::train
