// AlignTask: LC-Rec alignment fine-tuning of a causal LM on tokenized instruction samples
// (ALGORITHMS.md §2) as a TrainTask. Per-sample loss = mean cross-entropy over the response tokens
// (prompt tokens are masked), or with `token_loss` the LC-Rec / HF per-token form: every response
// token weighs 1 / (mean response length of the training set), so a batch's loss is the mean over
// its response tokens in expectation while the trainer's contract (sum of samples / global batch)
// stays exact across ranks. The trainer sums samples and divides by the global batch.
//
// Length bucketing: the trainer picks each rank's samples; inside loss_sum they are sorted by
// length and cut into chunks of at most `chunk_tokens` padded tokens, each its own forward, so a
// long sample never pads a batch of short ones. Validation = seqrec HR@K by constrained beam
// search on a fixed sample of users (eval/generative.h).
#pragma once

#include <cstdint>
#include <vector>

#include "data_pipeline/instruction_batches.h"
#include "eval/generative.h"
#include "model/causal_lm.h"
#include "tokenizer/prefix_trie.h"
#include "train/trainer.h"

namespace grec::stages {

struct AlignEvalSet {
  std::vector<std::vector<int64_t>> prompts;  // token ids
  std::vector<int64_t> targets;               // item ids
};

class AlignTask : public train::TrainTask {
 public:
  AlignTask(model::CausalLM lm, std::vector<data::TokenizedSample> samples, AlignEvalSet valid,
            const tok::PrefixTrie& trie, std::vector<std::vector<int64_t>> token_ids,
            eval::GenerativeOptions generation, int64_t chunk_tokens, int64_t pad_id,
            dist::Communicator& comm, bool token_loss = false);

  torch::nn::Module& module() override { return *lm_; }
  int64_t num_samples() const override { return static_cast<int64_t>(samples_.size()); }
  torch::Tensor loss_sum(const train::Batch& batch) override;
  nlohmann::json evaluate(const std::string& split) override;
  std::string selection_metric() const override { return selection_; }
  std::string dataset_fingerprint() const override;
  std::vector<int64_t> sample_lengths() const override;  // tokens per sample

  model::CausalLM& lm() { return lm_; }
  // Padded slots / all slots of the forwards run so far on this rank.
  double padding_waste() const { return slots_ ? 1.0 - double(real_) / double(slots_) : 0.0; }
  int64_t tokens_seen() const { return real_; }

 private:
  model::CausalLM lm_;
  std::vector<data::TokenizedSample> samples_;
  AlignEvalSet valid_;
  const tok::PrefixTrie& trie_;
  std::vector<std::vector<int64_t>> token_ids_;
  eval::GenerativeOptions generation_;
  int64_t chunk_tokens_, pad_id_;
  dist::Communicator& comm_;
  std::string selection_;
  int64_t real_ = 0, slots_ = 0;
  double token_weight_ = 0;  // > 0: per-token loss with this weight per response token
};

}  // namespace grec::stages
