// SASRec modules (see sasrec.h).
#include "model/sasrec.h"

#include <cmath>
#include <limits>

namespace grec::model {

namespace F = torch::nn::functional;

torch::Tensor causal_padding_mask(const torch::Tensor& seq) {
  TORCH_CHECK(seq.dim() == 2, "causal_padding_mask: seq must be [B, W], got ", seq.sizes());
  const int64_t width = seq.size(1);
  auto opts = torch::TensorOptions().dtype(torch::kBool).device(seq.device());
  torch::Tensor causal = torch::ones({width, width}, opts).tril();      // [W, W], j <= i
  torch::Tensor key_real = (seq != 0).unsqueeze(1);                      // [B, 1, W]
  torch::Tensor diag = torch::eye(width, opts);                          // a query always sees itself
  torch::Tensor allowed = (causal.unsqueeze(0) & key_real) | diag.unsqueeze(0);  // [B, W, W]
  torch::Tensor mask = torch::zeros(allowed.sizes(), seq.options().dtype(torch::kFloat));
  mask.masked_fill_(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  return mask.unsqueeze(1);
}

SASRecBlockImpl::SASRecBlockImpl(const SASRecOptions& o)
    : heads_(o.heads()), hidden_(o.hidden()), dropout_(o.dropout()) {
  TORCH_CHECK(o.hidden() % o.heads() == 0, "SASRec: hidden (", o.hidden(),
              ") must be divisible by heads (", o.heads(), ")");
  const int64_t d = o.hidden();
  const int64_t ffn = o.ffn() > 0 ? o.ffn() : d;
  auto ln = [&] {
    return torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(o.layernorm_eps()));
  };
  attn_norm = register_module("attn_norm", ln());
  q_proj = register_module("q_proj", torch::nn::Linear(d, d));
  // Keys and values come from the un-normalised stream (as in the paper), so they share one GEMM.
  kv_proj = register_module("kv_proj", torch::nn::Linear(d, 2 * d));
  out_proj = register_module("out_proj", torch::nn::Linear(d, d));
  ffn_norm = register_module("ffn_norm", ln());
  ffn_in = register_module("ffn_in", torch::nn::Linear(d, ffn));
  ffn_out = register_module("ffn_out", torch::nn::Linear(ffn, d));
}

torch::Tensor SASRecBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& index,
                                       int64_t batch, int64_t width,
                                       const torch::Tensor& attn_mask) {
  const int64_t d = hidden_, dh = hidden_ / heads_;
  torch::Tensor q_in = attn_norm(x);                                   // [T, d]
  torch::Tensor qkv = torch::cat({q_proj(q_in), kv_proj(x)}, 1);       // [T, 3d]
  torch::Tensor padded = torch::zeros({batch * width, 3 * d}, qkv.options()).index_copy(0, index, qkv);
  torch::Tensor heads = padded.view({batch, width, 3, heads_, dh}).permute({2, 0, 3, 1, 4});
  torch::Tensor q = heads[0], k = heads[1], v = heads[2];             // [B, h, W, dh]
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)).mul_(1.0 / std::sqrt(double(dh)));
  torch::Tensor attn = torch::softmax(scores + attn_mask, -1);
  attn = F::dropout(attn, F::DropoutFuncOptions().p(dropout_).training(is_training()));
  torch::Tensor ctx = torch::matmul(attn, v).permute({0, 2, 1, 3}).reshape({batch * width, d});
  torch::Tensor a_in = ctx.index_select(0, index);
  torch::Tensor a = out_proj(a_in);
  if (tap_out_proj) {
    tap_input = a_in;
    tap_probe = torch::zeros_like(a).requires_grad_(true);
    a = a + tap_probe;
  }
  a = F::dropout(a, F::DropoutFuncOptions().p(dropout_).training(is_training()));
  torch::Tensor h = q_in + a;  // the paper's residual starts from the normalised queries

  torch::Tensor f_in = ffn_norm(h);
  torch::Tensor f = torch::relu(ffn_in(f_in));
  f = F::dropout(f, F::DropoutFuncOptions().p(dropout_).training(is_training()));
  f = F::dropout(ffn_out(f), F::DropoutFuncOptions().p(dropout_).training(is_training()));
  return f_in + f;
}

SASRecImpl::SASRecImpl(SASRecOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  TORCH_CHECK(o.num_items() > 0 && o.max_len() > 0 && o.hidden() > 0 && o.blocks() >= 0,
              "SASRec: num_items, max_len and hidden must be positive");
  TORCH_CHECK(o.init() == "xavier" || o.init() == "normal", "SASRec: unknown init '", o.init(), "'");
  item_emb = register_module(
      "item_emb", torch::nn::Embedding(
                      torch::nn::EmbeddingOptions(o.num_items() + 1, o.hidden()).padding_idx(0)));
  pos_emb = register_module("pos_emb", torch::nn::Embedding(o.max_len(), o.hidden()));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.blocks(); ++i) blocks->push_back(SASRecBlock(o));
  final_norm = register_module(
      "final_norm",
      torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.hidden()}).eps(o.layernorm_eps())));
  reset_parameters();
}

void SASRecImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    torch::Tensor& t = p.value();
    const std::string& name = p.key();
    const bool is_norm = name.find("norm") != std::string::npos;
    if (is_norm) continue;  // LayerNorm keeps weight 1, bias 0
    if (t.dim() < 2) {
      t.zero_();
    } else if (options_.init() == "xavier") {
      torch::nn::init::xavier_normal_(t);
    } else {
      torch::nn::init::normal_(t, 0.0, 0.02);
    }
  }
  item_emb->weight[0].zero_();
}

PackedHidden SASRecImpl::forward_packed(const torch::Tensor& seq) {
  TORCH_CHECK(seq.dim() == 2 && seq.scalar_type() == torch::kLong,
              "SASRec: seq must be int64 [B, W], got ", seq.sizes(), " ", seq.scalar_type());
  const int64_t batch = seq.size(0), width = seq.size(1);
  TORCH_CHECK(width <= options_.max_len(), "SASRec: batch width ", width, " exceeds max_len ",
              options_.max_len());
  PackedHidden out;
  out.batch = batch;
  out.width = width;
  torch::Tensor flat = seq.reshape({-1});
  out.index = (flat != 0).nonzero().view({-1});
  torch::Tensor items = flat.index_select(0, out.index);
  // Position of column t in a batch of width W: counted so that the last column is max_len - 1.
  torch::Tensor pos = out.index.remainder(width) + (options_.max_len() - width);
  torch::Tensor x = item_rows(items) * std::sqrt(double(options_.hidden())) + pos_emb(pos);
  x = F::dropout(x, F::DropoutFuncOptions().p(options_.dropout()).training(is_training()));
  torch::Tensor mask = causal_padding_mask(seq);
  for (const auto& block : *blocks) {
    x = block->as<SASRecBlock>()->forward(x, out.index, batch, width, mask);
  }
  out.hidden = final_norm(x);
  return out;
}

torch::Tensor SASRecImpl::forward(const torch::Tensor& seq) {
  PackedHidden p = forward_packed(seq);
  const int64_t d = options_.hidden();
  return torch::zeros({p.batch * p.width, d}, p.hidden.options())
      .index_copy(0, p.index, p.hidden)
      .view({p.batch, p.width, d});
}

torch::Tensor SASRecImpl::last_hidden(const torch::Tensor& seq) {
  return last_rows(forward_packed(seq));
}

}  // namespace grec::model
