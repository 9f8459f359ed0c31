// SASRec's training task (ALGORITHMS.md §5) for the Trainer, as stage `sasrec` runs it: one sample
// = one training user; inputs are the last max_len items of the training prefix but the final one,
// and every position predicts its next item. Validation ranks the valid item after the training
// prefix; test ranks the test item after training + valid (full ranking). bench_sasrec times this
// same task under the same Trainer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/config.h"
#include "data_pipeline/dataset.h"
#include "data_pipeline/sequence_batches.h"
#include "dist/communicator.h"
#include "eval/ranking.h"
#include "model/sasrec.h"
#include "model/sasrec_loss.h"
#include "train/trainer.h"

namespace grec::stages {

// SASRec's training defaults (Adam 1e-3, batch 128, up to 200 epochs, patience 10); also the
// defaults of the distilled students (distill.train).
train::TrainOptions sasrec_train_defaults();

// The sasrec.* keys (model, loss, evaluation, and sasrec.train with SASRec's training defaults).
void declare_sasrec(ConfigSchema& schema);

// A student model for the task: the module and its SequentialRecommender view (stage distill
// trains GRU4Rec, or a SASRec with a teacher term, under this same task).
struct StudentModel {
  std::shared_ptr<torch::nn::Module> module;
  model::SequentialRecommender* net = nullptr;
};

class SASRecTask : public train::TrainTask {
 public:
  // Reads the sasrec.* keys of `config`; `seed` gives the initial weights (the same on every rank).
  SASRecTask(const data::Dataset& dataset, const Config& config, dist::Communicator& comm,
             uint64_t seed);
  // The same task over another student; `student` is called after torch::manual_seed(seed).
  SASRecTask(const data::Dataset& dataset, const Config& config, dist::Communicator& comm,
             uint64_t seed, const std::function<StudentModel()>& student);

  torch::nn::Module& module() override { return *student_.module; }
  int64_t num_samples() const override { return static_cast<int64_t>(users_.size()); }
  std::string selection_metric() const override { return selection_; }
  // Rows of items that never occur in a training input get no gradient through the lookup, but
  // the table is one parameter and full-softmax / tied scoring always reaches it.
  std::vector<std::string> may_be_unused() const override { return {}; }
  std::string dataset_fingerprint() const override;
  torch::Tensor loss_sum(const train::Batch& batch) override;
  // Added to the next-item loss by subclasses (stage distill's ranking distillation): the batch as
  // built, its packed hidden states, and the batch's sample indices. Undefined = nothing.
  virtual torch::Tensor extra_loss_sum(const data::SequenceBatch& b, const model::PackedHidden& packed,
                                       const train::Batch& batch) {
    return {};
  }
  nlohmann::json evaluate(const std::string& split) override { return evaluate_from(ranks(split)); }

  // Collective: the full-ranking rank of every case of `split`, in cases(split) order; with
  // `held_out`, also the ranks of every case's held-out items (eval::case_ranks).
  std::vector<int64_t> ranks(const std::string& split,
                             std::vector<std::vector<int64_t>>* held_out = nullptr);
  const std::vector<eval::RankingCase>& cases(const std::string& split) const;
  bool mask_history() const { return ranking_.mask_history; }
  nlohmann::json evaluate_from(const std::vector<int64_t>& ranks,
                               const std::vector<std::vector<int64_t>>* held_out = nullptr) const {
    return eval::metrics_from_ranks(ranks, ranking_, held_out);
  }
  // Collective: the popularity baseline on the same cases.
  nlohmann::json evaluate_popularity(const std::string& split);
  // The SASRec (UserError-free GREC_CHECK: only for the SASRec student).
  model::SASRec& model();
  model::SequentialRecommender& student() { return *student_.net; }
  // Training user of sample i, and the batch options (max_len) the inputs are built with.
  int64_t user_of(int64_t i) const { return users_[i]; }
  const data::SequenceBatchOptions& batch_options() const { return batch_options_; }
  uint64_t seed() const { return seed_; }

 private:
  const data::Dataset& data_;
  dist::Communicator& comm_;
  uint64_t seed_;
  model::SASRecLoss loss_;
  data::SequenceBatchOptions batch_options_;
  eval::RankingOptions ranking_;
  std::string selection_;
  model::SASRec model_;  // null when the student is another model
  StudentModel student_;
  std::vector<int64_t> users_;
  std::vector<eval::RankingCase> valid_, test_;
};

}  // namespace grec::stages
