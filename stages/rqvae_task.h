// The RQ-VAE as a TrainTask (one sample = one item embedding), shared by stage `rqvae` and the
// multi-rank equivalence test. Everything that changes weights outside the optimizer step is
// rank-consistent by construction:
//   - k-means initialisation runs on the first global batch of epoch 0 (the sampler's order is a
//     pure function of the seed), on every rank, before fit() broadcasts rank 0's weights;
//   - dead-code re-seeding happens at the start of an epoch from ALL items (each rank holds them
//     all), deterministically, so ranks with identical weights stay identical;
//   - EMA statistics are summed over ranks with the communicator before the update (this needs
//     exactly one loss_sum call per rank and step: micro_batch_size 0).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model/rqvae.h"
#include "train/trainer.h"

namespace grec::dist {
class Communicator;
}

namespace grec::stages {

struct RQVAETaskOptions {
  bool kmeans_init = true;
  int64_t kmeans_iters = 100;
  bool dead_code_reseed = true;
  int64_t dead_code_threshold = 1;  // a code used by fewer items than this (over all items) is dead
  int64_t dead_code_every = 10;     // epochs between re-seeding passes
  int64_t dead_code_last_epoch = -1;  // no re-seeding from this epoch on (-1: never stop)
  int64_t global_batch_size = 1024;   // as in train::TrainOptions (for the first batch and epoch starts)
  uint64_t seed = 0;
  int64_t eval_batch = 4096;
};

class RQVAETask : public train::TrainTask {
 public:
  // embeddings: [items, d], finite (checked by the caller; see check_embeddings). The task trains
  // in float32, or in float64 when the embeddings are float64 (the multi-rank equivalence test:
  // rounding noise far below Adam's eps, see tests/mpi/rqvae_equivalence.cc).
  RQVAETask(torch::Tensor embeddings, model::RQVAEOptions model_options, RQVAETaskOptions options,
            dist::Communicator& comm);

  torch::nn::Module& module() override { return *model_; }
  int64_t num_samples() const override { return embeddings_.size(0); }
  torch::Tensor loss_sum(const train::Batch& batch) override;
  // Over all items on every rank (identical): loss, recon_loss, quant_loss (means per item),
  // utilisation_l<i>, perplexity_l<i>, collision_rate, selection.
  nlohmann::json evaluate(const std::string& split) override;
  std::string selection_metric() const override { return "selection"; }
  std::string dataset_fingerprint() const override;

  model::RQVAE& model() { return model_; }
  const torch::Tensor& embeddings() const { return embeddings_; }
  double kmeans_seconds() const { return kmeans_seconds_; }
  int64_t reseeded_codes() const { return reseeded_; }
  // Re-seeds dead codes now (what loss_sum does at epoch starts); returns how many.
  int64_t reseed_dead_codes();

 private:
  torch::Tensor embeddings_;
  RQVAETaskOptions options_;
  dist::Communicator& comm_;
  model::RQVAE model_{nullptr};
  int64_t steps_per_epoch_ = 1;
  double kmeans_seconds_ = 0;
  int64_t reseeded_ = 0;
  int64_t last_reseed_step_ = -1;
};

// UserError unless `x` is [items, d] with d >= 1 and every value finite; names `what` (the file)
// and the first bad row. `expected_items` < 0 skips the row count check.
void check_embeddings(const torch::Tensor& x, int64_t expected_items, const std::string& what);

// Utilisation (share of the K codes used) and perplexity (exp of the usage entropy) of one
// column of codes.
struct CodeUsage {
  double utilisation = 0;
  double perplexity = 0;
};
CodeUsage code_usage(const torch::Tensor& codes_column, int64_t K);

}  // namespace grec::stages
