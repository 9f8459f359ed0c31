// The generic data-parallel trainer: sampler → micro-batches → loss_sum / global count →
// backward → gradient sync (sum) → clip → optimizer step → schedule, with metrics.jsonl records,
// validation and best-model tracking, early stopping, checkpoints that resume bit-exactly, and
// the SIGTERM/SIGINT stop path (checkpoint, then StopRequested; grec exits with code 3).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/metrics.h"
#include "core/run_dir.h"
#include "train/train_options.h"

namespace grec::dist {
class Communicator;
}

namespace grec::train {

struct Batch {
  std::vector<int64_t> indices;  // this rank's samples (may be empty)
  int64_t epoch = 0;
  int64_t step = 0;  // the global optimizer step this batch belongs to, counting from 1
};

class TrainTask {
 public:
  virtual ~TrainTask() = default;
  virtual torch::nn::Module& module() = 0;
  virtual int64_t num_samples() const = 0;
  // SUM of per-sample losses over batch.indices (the trainer divides by the global batch count and
  // reduces gradients with kSum, so any shard sizes give the single-process gradient). Indices may
  // be empty on some rank: return a zero connected to the graph (e.g. 0 * a parameter sum).
  virtual torch::Tensor loss_sum(const Batch& batch) = 0;
  // Collective: called on every rank, returns identical json on every rank, e.g. {"HR@10":..}.
  virtual nlohmann::json evaluate(const std::string& split) = 0;
  virtual std::string selection_metric() const = 0;  // key of evaluate("valid"), higher is better
  virtual std::vector<std::string> may_be_unused() const { return {}; }
  virtual std::string dataset_fingerprint() const { return ""; }
  // Per-sample lengths (e.g. tokens) for TrainOptions::group_by_length; empty: not length-aware.
  virtual std::vector<int64_t> sample_lengths() const { return {}; }
  // Optional: gather the inputs of `batch` here; the trainer calls it right before loss_sum
  // with the same batch and counts its time as data loading (metrics "time_data").
  virtual void prepare(const Batch& batch) {}
};

struct TrainResult {
  int64_t steps = 0;
  int64_t best_step = -1;
  nlohmann::json best_valid;
  bool stopped = false;  // early stopping
  double wall_s = 0;
  double eval_s = 0;        // of wall_s: validation
  double checkpoint_s = 0;  // of wall_s: writing checkpoints
  double train_s() const { return wall_s - eval_s - checkpoint_s; }
};

// Thrown by fit() after the checkpoint when a SIGTERM/SIGINT reached any rank; grec's main
// exits with kExitCode.
struct StopRequested : std::runtime_error {
  static constexpr int kExitCode = 3;
  explicit StopRequested(const std::string& what) : std::runtime_error(what) {}
};

class Trainer {
 public:
  Trainer(TrainOptions options, std::string stage, RunDir run, dist::Communicator& comm,
          MetricsWriter& metrics, std::string config_hash);
  // Resumes (resume: auto) from the latest COMPLETE checkpoint, trains, evaluates "valid" every
  // eval interval, tracks the best, checkpoints, early-stops; at the end loads the best weights
  // into task.module(). Per-sample randomness in tasks: dist::sample_seed(seed, epoch, index).
  TrainResult fit(TrainTask& task);

  const std::string& checkpoint_root() const { return checkpoint_root_; }

 private:
  TrainOptions options_;
  std::string stage_;
  RunDir run_;
  dist::Communicator& comm_;
  MetricsWriter& metrics_;
  std::string config_hash_;
  std::string checkpoint_root_;
};

}  // namespace grec::train
