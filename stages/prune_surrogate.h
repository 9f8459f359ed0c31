// The DEALRec surrogate (ALGORITHMS.md §3): the sasrec stage's model scoring the align stage's
// per-user samples. A sample (user, end) is the history seq[max(0, end - max_len) .. end) and its
// next item seq[end]; its loss is the full softmax cross-entropy of that item at the last
// position. The model runs in eval mode (no dropout), in the dtype it has (float32 as saved).
// (DEALRec's surrogate trains with BCE and one sampled negative; grec's SASRec trains
// with full cross-entropy by default, and the full form needs no sampled negatives, so every
// score is deterministic.)
//
// θ is a named parameter set: "last_attn_out" (DEALRec's choice: the last block's attention
// output projection weight), "all", or a comma-separated list of parameter names. When θ holds
// only out_proj weights/biases, per-sample gradients come from one batched backward through the
// blocks' taps (model/sasrec.h); otherwise from one backward per sample.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "data_pipeline/dataset.h"
#include "data_pipeline/instructions.h"
#include "model/sasrec.h"
#include "train/influence.h"

namespace grec::stages {

// The parameter names of set `spec` in model order; UserError naming `key` for an unknown set
// or parameter name (the message lists the choices).
std::vector<std::string> surrogate_param_names(model::SASRecImpl& model, const std::string& spec,
                                               const std::string& key);

class Surrogate {
 public:
  Surrogate(model::SASRec model, const data::Dataset& dataset, std::vector<data::PrefixKey> keys,
            const std::vector<std::string>& param_names);

  int64_t num_samples() const { return static_cast<int64_t>(keys_.size()); }
  const std::vector<data::PrefixKey>& keys() const { return keys_; }
  const train::ParamVec& params() const { return params_; }
  int64_t num_params() const { return num_params_; }
  // True when per-sample gradients are batched (θ is out_proj weights/biases only).
  bool batched() const { return batched_; }

  // Sum over samples `idx` of their losses, with its autograd graph.
  torch::Tensor loss_sum(const std::vector<int64_t>& idx);
  // Per-sample losses, no graph: [n] double.
  torch::Tensor losses(const std::vector<int64_t>& idx);
  // Gradient of loss_sum(idx) over θ.
  train::ParamVec grad_sum(const std::vector<int64_t>& idx);
  // Per-sample gradients over θ, flattened in params() order: [n, num_params()], θ's dtype.
  torch::Tensor per_sample_grads(const std::vector<int64_t>& idx);

 private:
  struct Batch {
    torch::Tensor seq;      // [B, W] left-padded table rows (item id + 1)
    torch::Tensor targets;  // [B] item ids
  };
  Batch make_batch(const std::vector<int64_t>& idx) const;
  torch::Tensor loss_of(const Batch& b);  // [B] losses with graph
  void set_taps(bool on);

  model::SASRec model_;
  const data::Dataset& dataset_;
  std::vector<data::PrefixKey> keys_;
  train::ParamVec params_;
  std::vector<int64_t> tapped_block_;  // per param: the block whose out_proj it is (batched only)
  std::vector<bool> is_bias_;
  int64_t num_params_ = 0;
  bool batched_ = false;
};

}  // namespace grec::stages
