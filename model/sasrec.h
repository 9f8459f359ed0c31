// SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018; ALGORITHMS.md §5).
//
// Item embeddings (row 0 = padding, item id i is row i+1), learned positions, causal
// self-attention blocks in the paper's arrangement (LayerNorm on the queries, residual from the
// normalised queries, point-wise FFN behind a LayerNorm with its own residual), a final
// LayerNorm, and scores by dot product with the (tied) item embedding table.
//
// Sequences are left-padded: the most recent item sits in the last column. Position embeddings
// are indexed from the right edge of a max_len window, so a batch may be narrower than max_len
// (trimmed to its longest sequence) and still compute exactly what the full-width batch would.
// Padding keys are masked out of attention, so a sequence's outputs do not depend on its padding.
//
// Position-wise layers (embeddings, LayerNorms, projections, FFN) run on the packed non-padding
// rows only; attention scatters them back to [B, W, d]. Outputs at padding positions are zero.
#pragma once

#include <string>

#include <torch/torch.h>

#include "model/sequential_recommender.h"

namespace grec::model {

struct SASRecOptions {
  SASRecOptions(int64_t num_items) : num_items_(num_items) {}
  TORCH_ARG(int64_t, num_items);          // real items; the embedding table has num_items + 1 rows
  TORCH_ARG(int64_t, max_len) = 50;       // N: the last N items of a sequence
  TORCH_ARG(int64_t, hidden) = 64;        // d
  TORCH_ARG(int64_t, blocks) = 2;
  TORCH_ARG(int64_t, heads) = 1;
  TORCH_ARG(double, dropout) = 0.2;
  TORCH_ARG(int64_t, ffn) = 0;            // FFN inner size; 0 = hidden (as in the paper)
  TORCH_ARG(double, layernorm_eps) = 1e-8;
  // "xavier": xavier-normal weights and embeddings (the input embedding is scaled by sqrt(d)).
  // "normal": N(0, 0.02) everywhere (GPT-style), kept for comparison.
  TORCH_ARG(std::string, init) = "xavier";
};

class SASRecBlockImpl : public torch::nn::Module {
 public:
  SASRecBlockImpl(const SASRecOptions& options);
  // x: [T, d] packed rows; index: their flat positions in [B, W]; attn_mask: [B, 1, W, W] additive.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& index, int64_t batch,
                        int64_t width, const torch::Tensor& attn_mask);

  torch::nn::LayerNorm attn_norm{nullptr}, ffn_norm{nullptr};
  torch::nn::Linear q_proj{nullptr}, kv_proj{nullptr}, out_proj{nullptr};
  torch::nn::Linear ffn_in{nullptr}, ffn_out{nullptr};

  // Per-sample gradients of out_proj (DEALRec influence, stages/prune_surrogate.h): while
  // `tap_out_proj` is set, forward keeps out_proj's packed input rows in tap_input and adds a
  // zero tensor tap_probe (requires grad) to its output, so d(loss)/d(tap_probe) is the output
  // gradient of every row and a sample's weight gradient is the sum of its rows' outer products.
  bool tap_out_proj = false;
  torch::Tensor tap_input, tap_probe;

 private:
  int64_t heads_, hidden_;
  double dropout_;
};
TORCH_MODULE(SASRecBlock);

class SASRecImpl : public torch::nn::Module, public SequentialRecommender {
 public:
  explicit SASRecImpl(SASRecOptions options);

  // seq: [B, W] int64 (0 = padding, item i = i + 1), W <= max_len -> hidden [B, W, d].
  torch::Tensor forward(const torch::Tensor& seq);
  // The same on the non-padding positions only (what the losses need).
  PackedHidden forward_packed(const torch::Tensor& seq) override;
  // Hidden state of the last column (the most recent item): [B, d].
  torch::Tensor last_hidden(const torch::Tensor& seq);
  // score_all, score_items, item_table, item_rows: SequentialRecommender (the item table is
  // tied between input and output).

  int64_t num_items() const override { return options_.num_items(); }
  int64_t max_len() const override { return options_.max_len(); }
  int64_t hidden_size() const override { return options_.hidden(); }
  torch::nn::Embedding& item_embedding() override { return item_emb; }
  torch::nn::Module& as_module() override { return *this; }

  const SASRecOptions& options() const { return options_; }

  torch::nn::Embedding item_emb{nullptr}, pos_emb{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm final_norm{nullptr};

 private:
  void reset_parameters();
  SASRecOptions options_;
};
TORCH_MODULE(SASRec);

// The additive attention mask of a left-padded batch: query i may see key j when j <= i and j
// is not padding; a padding query sees itself only (its output is discarded), so no row is all
// -inf. seq: [B, W] -> [B, 1, W, W] float (0 or -inf).
torch::Tensor causal_padding_mask(const torch::Tensor& seq);

}  // namespace grec::model
