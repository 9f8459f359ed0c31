// GradSync: data-parallel gradient reduction after backward (DESIGN.md "Gradient sync"), the
// start-up broadcast of rank 0's state, and the cross-rank consistency check.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dist/buckets.h"
#include "dist/communicator.h"

namespace grec::dist {

struct GradSyncOptions {
  int64_t first_bucket_bytes = 1 << 20;
  int64_t bucket_bytes = 25 << 20;
  std::string nonfinite = "skip";              // "skip" (warn, skip the step) | "abort"
  std::vector<std::string> may_be_unused;      // parameter names allowed to get no gradient
};

class GradSync {
 public:
  GradSync(torch::nn::Module& module, Communicator& comm, GradSyncOptions options);

  void broadcast_state();  // rank 0's parameters and buffers to every rank
  // Cross-rank check of (config hash, parameter names/shapes/dtypes, dataset fingerprint):
  // grec::UserError on every rank naming what differs and on which rank.
  void check_consistency(const std::string& config_hash, const std::string& dataset_fingerprint);
  // After the last micro-step's backward. Returns false when the step must be skipped (grads then
  // zeroed). A parameter allowed to go unused that got no gradient on any rank keeps no gradient.
  bool reduce(ReduceOp op = ReduceOp::kAvg);
  // Global L2 norm of the gradients: the one reduce() measured on the reduced gradients (kept
  // until scale_grads/clip/reduce change them; gradients changed elsewhere in between are not
  // seen), else computed now.
  double grad_norm();
  void scale_grads(double factor);
  double clip(double max_norm);  // global L2 norm before clipping; clips when max_norm > 0
  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  double comm_seconds() const { return comm_seconds_; }

  // Introspection for tests and logs: parameter names (first name of tied parameters) per bucket.
  std::vector<std::vector<std::string>> bucket_names() const;
  // Deduplicated trainable parameters in registration order.
  int64_t num_params() const { return static_cast<int64_t>(params_.size()); }

 private:
  struct Param {
    std::string name;                  // first registered name
    std::vector<std::string> aliases;  // every name it is registered under
    torch::Tensor tensor;
    bool may_be_unused = false;
  };
  struct Bucket {
    std::vector<int64_t> params;   // indices into params_
    std::vector<int64_t> offsets;  // element offset of each param in flat
    torch::Tensor flat;
  };
  // The steps of reduce().
  struct LocalGrads {
    std::vector<char> used;  // per parameter: has a gradient on this rank
    int64_t missing = -1;    // first parameter without one that must have one
  };
  struct Agreed {  // the same on every rank
    bool nonfinite = false;
    int64_t missing = -1;
    std::vector<char> used_anywhere;  // per parameter
  };
  LocalGrads inspect_local_grads() const;
  double pack_buckets(const std::vector<char>& used);  // returns the buckets' Σ‖g‖²
  Agreed agree(const LocalGrads& local, bool nonfinite);
  void skip_nonfinite_step(bool here);
  void allreduce_buckets(ReduceOp op);
  void unpack_buckets(const std::vector<char>& used, const std::vector<char>& used_anywhere);
  void zero_grads();
  double grads_squared_norm() const;  // Σ‖grad‖² of the parameters' current gradients

  torch::nn::Module& module_;
  Communicator& comm_;
  GradSyncOptions options_;
  std::vector<Param> params_;
  std::vector<Bucket> buckets_;
  std::vector<int64_t> unused_allowed_;  // indices of params that may be unused
  double comm_seconds_ = 0.0;
  std::optional<double> reduced_sq_norm_;  // Σ‖grad‖² after the last reduce(), see grad_norm()
};

// The factor clip(max_norm) multiplies the gradients by: max_norm / (norm + 1e-6) when
// max_norm > 0 and norm > max_norm, else 1 (torch.nn.utils.clip_grad_norm_'s coefficient).
double clip_coefficient(double norm, double max_norm);

}  // namespace grec::dist
