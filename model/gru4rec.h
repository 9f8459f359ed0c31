// GRU4Rec (Hidasi et al., ICLR 2016; ALGORITHMS.md §10): the second distillation student.
//
// Item embedding (row 0 = padding, item id i is row i + 1) -> dropout -> a GRU over the history
// (hidden = embedding size, so scoring ties to the item table) -> dropout -> the hidden state at
// every position, scored by dot product against every item's embedding (the tied table, plus the
// teacher term when one is attached: SequentialRecommender).
//
// Sequences are left-padded like SASRec's. The recurrence must not see the padding (a GRU fed
// zero vectors still moves its state through the biases), so each row is shifted left to start at
// column 0 before the one fused torch::nn::GRU call: outputs at a row's real positions depend on
// its real items only, and the trailing padding it now has comes after them.
#pragma once

#include <string>

#include <torch/torch.h>

#include "model/sequential_recommender.h"

namespace grec::model {

struct GRU4RecOptions {
  GRU4RecOptions(int64_t num_items) : num_items_(num_items) {}
  TORCH_ARG(int64_t, num_items);      // real items; the embedding table has num_items + 1 rows
  TORCH_ARG(int64_t, max_len) = 50;   // the last max_len items of a sequence
  TORCH_ARG(int64_t, hidden) = 64;    // embedding size = GRU hidden size
  TORCH_ARG(int64_t, layers) = 1;
  TORCH_ARG(double, dropout) = 0.25;  // on the input embeddings and the GRU outputs
};

class GRU4RecImpl : public torch::nn::Module, public SequentialRecommender {
 public:
  explicit GRU4RecImpl(GRU4RecOptions options);

  // seq: [B, W] int64 left-padded, W <= max_len -> hidden [B, W, d] (zero at padding).
  torch::Tensor forward(const torch::Tensor& seq);
  PackedHidden forward_packed(const torch::Tensor& seq) override;

  int64_t num_items() const override { return options_.num_items(); }
  int64_t max_len() const override { return options_.max_len(); }
  int64_t hidden_size() const override { return options_.hidden(); }
  torch::nn::Embedding& item_embedding() override { return item_emb; }
  torch::nn::Module& as_module() override { return *this; }
  const GRU4RecOptions& options() const { return options_; }

  torch::nn::Embedding item_emb{nullptr};
  torch::nn::GRU gru{nullptr};

 private:
  GRU4RecOptions options_;
};
TORCH_MODULE(GRU4Rec);

}  // namespace grec::model
