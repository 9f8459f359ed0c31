// GRU4Rec; see gru4rec.h.
#include "model/gru4rec.h"

#include <cmath>

namespace grec::model {

GRU4RecImpl::GRU4RecImpl(GRU4RecOptions options) : options_(std::move(options)) {
  TORCH_CHECK(options_.num_items() > 0 && options_.hidden() > 0 && options_.max_len() > 0 &&
                  options_.layers() > 0,
              "GRU4Rec: num_items, hidden, max_len and layers must be positive");
  TORCH_CHECK(options_.dropout() >= 0 && options_.dropout() < 1, "GRU4Rec: dropout in [0, 1)");
  const int64_t d = options_.hidden();
  item_emb = register_module(
      "item_emb", torch::nn::Embedding(torch::nn::EmbeddingOptions(options_.num_items() + 1, d)
                                           .padding_idx(0)));
  gru = register_module(
      "gru", torch::nn::GRU(torch::nn::GRUOptions(d, d).num_layers(options_.layers())
                                .batch_first(true)));
  torch::NoGradGuard no_grad;
  // Xavier-normal embeddings (as SASRec's), PyTorch's uniform(±1/sqrt(d)) GRU weights.
  torch::nn::init::xavier_normal_(item_emb->weight);
  item_emb->weight[0].zero_();
}

PackedHidden GRU4RecImpl::forward_packed(const torch::Tensor& seq) {
  TORCH_CHECK(seq.dim() == 2 && seq.scalar_type() == torch::kLong, "GRU4Rec: seq must be [B, W] int64");
  const int64_t B = seq.size(0), W = seq.size(1);
  TORCH_CHECK(W <= options_.max_len(), "GRU4Rec: width ", W, " > max_len ", options_.max_len());
  const torch::Tensor real = seq > 0;
  const torch::Tensor lengths = real.sum(1);  // [B]
  // Left-padded row b holds its items in columns W - L_b .. W - 1; column j of the shifted row
  // reads column j + W - L_b (clamped; past L_b it is padding and its output is dropped).
  const torch::Tensor cols = torch::arange(W, seq.options()).unsqueeze(0);       // [1, W]
  const torch::Tensor shift = (W - lengths).unsqueeze(1);                         // [B, 1]
  const torch::Tensor source = (cols + shift).clamp_max(W - 1);                   // [B, W]
  const torch::Tensor valid = cols < lengths.unsqueeze(1);                        // [B, W]
  const torch::Tensor shifted = seq.gather(1, source).masked_fill(~valid, 0);

  torch::Tensor x = item_emb(shifted);
  x = torch::dropout(x, options_.dropout(), is_training());
  torch::Tensor out = std::get<0>(gru->forward(x));                               // [B, W, d]
  out = torch::dropout(out, options_.dropout(), is_training());

  PackedHidden p;
  p.batch = B;
  p.width = W;
  // Row-major over (b, j) with j < L_b is row-major over (b, t = j + W - L_b).
  const torch::Tensor flat_valid = valid.reshape({-1});
  p.hidden = out.reshape({B * W, -1}).index({flat_valid});
  p.index = (torch::arange(B, seq.options()).unsqueeze(1) * W + source).reshape({-1}).index({flat_valid});
  return p;
}

torch::Tensor GRU4RecImpl::forward(const torch::Tensor& seq) {
  PackedHidden p = forward_packed(seq);
  torch::Tensor full = torch::zeros({p.batch * p.width, p.hidden.size(1)}, p.hidden.options());
  full.index_copy_(0, p.index, p.hidden);
  return full.view({p.batch, p.width, -1});
}

}  // namespace grec::model
