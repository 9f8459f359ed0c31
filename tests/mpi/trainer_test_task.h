// A small MLP regression TrainTask on synthetic data for the trainer's multi-rank tests
// (trainer_equivalence, trainer_resume): inputs and targets come from splitmix64 (not torch's
// RNG), so every rank and every run sees the same data.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <cmath>
#include <cstdlib>
#include <thread>

#include <torch/torch.h>

#include "dist/communicator.h"
#include "dist/sampler.h"
#include "core/run_dir.h"
#include "train/checkpoint.h"
#include "train/tensor_io.h"
#include "train/trainer.h"

namespace grec::testing {

inline torch::Tensor synthetic_inputs(int64_t n, int64_t dim, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n * dim));
  uint64_t s = seed;
  for (auto& x : v) x = static_cast<float>((dist::splitmix64(s) >> 11) * 0x1.0p-53 * 2.0 - 1.0);
  return torch::from_blob(v.data(), {n, dim}, torch::kFloat).clone();
}

struct MlpNetImpl : torch::nn::Module {
  MlpNetImpl(int64_t in, int64_t hidden, double dropout)
      : fc1(register_module("fc1", torch::nn::Linear(in, hidden))),
        norm(register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden})))),
        fc2(register_module("fc2", torch::nn::Linear(hidden, 1))),
        p(dropout) {}
  torch::Tensor forward(torch::Tensor x) {
    x = torch::tanh(norm(fc1(x)));
    if (p > 0) x = torch::dropout(x, p, is_training());
    return fc2(x).squeeze(-1);
  }
  torch::nn::Linear fc1;
  torch::nn::LayerNorm norm;
  torch::nn::Linear fc2;
  double p;
};
TORCH_MODULE(MlpNet);

class MlpTask : public train::TrainTask {
 public:
  MlpTask(int64_t n, double dropout, uint64_t seed) : net_(nullptr) {
    torch::manual_seed(seed);  // same initialisation everywhere (rank 0's is broadcast anyway)
    net_ = MlpNet(8, 16, dropout);
    x_ = synthetic_inputs(n, 8, 1234);
    y_ = torch::sin(x_.sum(1)) + 0.1 * x_.select(1, 0);
    vx_ = synthetic_inputs(64, 8, 999);
    vy_ = torch::sin(vx_.sum(1)) + 0.1 * vx_.select(1, 0);
    if (const char* s = std::getenv("GREC_TEST_SLOW_MS")) slow_ms_ = std::atoi(s);
    if (const char* s = std::getenv("GREC_TEST_STALL_AFTER")) stall_after_ = std::atoi(s);
  }
  torch::nn::Module& module() override { return *net_; }
  int64_t num_samples() const override { return x_.size(0); }
  torch::Tensor loss_sum(const train::Batch& batch) override {
    if (slow_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms_));
    if (stall_after_ > 0 && batch.step > stall_after_ && stall_rank_ == rank_) {
      std::this_thread::sleep_for(std::chrono::hours(1));  // killed by the test
    }
    const torch::Tensor idx = torch::tensor(batch.indices, torch::kLong);
    const torch::Tensor pred = net_->forward(x_.index_select(0, idx));
    return (pred - y_.index_select(0, idx)).pow(2).sum();
  }
  nlohmann::json evaluate(const std::string& split) override {
    const double mse = (net_->forward(vx_) - vy_).pow(2).mean().item<double>();
    return {{"neg_mse", -mse}};
  }
  std::string selection_metric() const override { return "neg_mse"; }
  std::string dataset_fingerprint() const override { return "synthetic-mlp"; }
  void set_rank(int rank) { rank_ = rank; }

 private:
  MlpNet net_;
  torch::Tensor x_, y_, vx_, vy_;
  int slow_ms_ = 0, stall_after_ = 0, stall_rank_ = 1, rank_ = 0;
};

// A communicator for a world of one, so that rank 0 can train the single-process reference
// inside a multi-rank test.
class LocalCommunicator : public dist::Communicator {
 public:
  int rank() const override { return 0; }
  int world() const override { return 1; }
  std::string backend() const override { return "local"; }
  torch::Device device() const override { return torch::kCPU; }
  void allreduce(torch::Tensor&, dist::ReduceOp) override {}
  void broadcast(torch::Tensor&, int) override {}
  torch::Tensor allgather(const torch::Tensor& t) override { return t.unsqueeze(0).clone(); }
  std::vector<std::string> allgather_bytes(const std::string& bytes) override { return {bytes}; }
  void barrier() override {}
};

// Parameters flattened into one float64 vector (exact for any float dtype), in registration order.
inline torch::Tensor flat_state(torch::nn::Module& m) {
  std::vector<torch::Tensor> parts;
  for (const auto& p : m.parameters()) parts.push_back(p.detach().reshape(-1).to(torch::kDouble));
  return torch::cat(parts);
}

// Named tensors (e.g. a checkpoint) flattened into one float64 vector in name order.
inline torch::Tensor flat_by_name(const train::NamedTensors& t) {
  std::map<std::string, torch::Tensor> m(t.begin(), t.end());
  std::vector<torch::Tensor> parts;
  for (auto& [name, v] : m) parts.push_back(v.detach().reshape(-1).to(torch::kDouble));
  return torch::cat(parts);
}

// The weights stored in the checkpoint of `stage` at `step` of the run folder `run`.
inline torch::Tensor checkpoint_weights(const std::string& run, const std::string& stage,
                                        int64_t step) {
  return flat_by_name(train::load_tensors(
      train::checkpoint_dir(RunDir(run).checkpoints(stage), step) + "/model.safetensors"));
}

}  // namespace grec::testing
