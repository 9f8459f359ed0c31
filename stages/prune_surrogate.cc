// The DEALRec surrogate; see prune_surrogate.h.
#include "stages/prune_surrogate.h"

#include <algorithm>

#include "core/error.h"

namespace grec::stages {
namespace {

// "blocks.<k>.out_proj.weight" / ".bias" -> k; -1 for any other name.
int64_t out_proj_block(const std::string& name) {
  const std::string head = "blocks.";
  if (name.rfind(head, 0) != 0) return -1;
  const size_t dot = name.find('.', head.size());
  if (dot == std::string::npos) return -1;
  const std::string rest = name.substr(dot);
  if (rest != ".out_proj.weight" && rest != ".out_proj.bias") return -1;
  return std::stoll(name.substr(head.size(), dot - head.size()));
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

torch::Tensor zeros_if_undefined(const torch::Tensor& g, const torch::Tensor& like) {
  return g.defined() ? g : torch::zeros_like(like);
}

}  // namespace

std::vector<std::string> surrogate_param_names(model::SASRecImpl& model, const std::string& spec,
                                               const std::string& key) {
  std::vector<std::string> all;
  for (const auto& p : model.named_parameters()) all.push_back(p.key());
  if (spec == "all") return all;
  if (spec == "last_attn_out") {
    const int64_t blocks = model.options().blocks();
    if (blocks < 1) user_error("{}: last_attn_out needs a SASRec with at least one block", key);
    return {"blocks." + std::to_string(blocks - 1) + ".out_proj.weight"};
  }
  std::vector<std::string> names;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    std::string name = spec.substr(start, comma - start);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (!name.empty()) {
      if (std::find(all.begin(), all.end(), name) == all.end()) {
        user_error("{}: unknown parameter set or name '{}' (sets: last_attn_out, all; names: {})",
                   key, name, join(all));
      }
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    start = comma + 1;
  }
  if (names.empty()) user_error("{}: names no parameter (sets: last_attn_out, all)", key);
  return names;
}

Surrogate::Surrogate(model::SASRec model, const data::Dataset& dataset,
                     std::vector<data::PrefixKey> keys, const std::vector<std::string>& param_names)
    : model_(std::move(model)), dataset_(dataset), keys_(std::move(keys)) {
  model_->eval();
  auto named = model_->named_parameters();
  batched_ = true;
  for (const std::string& name : param_names) {
    const torch::Tensor* p = named.find(name);
    GREC_CHECK(p != nullptr, "surrogate: no parameter '{}'", name);
    params_.push_back(*p);
    num_params_ += p->numel();
    const int64_t block = out_proj_block(name);
    tapped_block_.push_back(block);
    is_bias_.push_back(name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0);
    batched_ = batched_ && block >= 0;
  }
  GREC_CHECK(!params_.empty(), "surrogate: empty parameter set");
  for (const auto& k : keys_) {
    GREC_CHECK(k.user >= 0 && k.user < dataset_.num_users() && k.end >= 1 &&
                   k.end < dataset_.train_end[k.user],
               "surrogate: sample ({}, {}) is not a training prefix", k.user, k.end);
  }
}

Surrogate::Batch Surrogate::make_batch(const std::vector<int64_t>& idx) const {
  const int64_t max_len = model_->options().max_len();
  int64_t width = 1;
  for (int64_t i : idx) width = std::max(width, std::min(keys_[i].end, max_len));
  const int64_t rows = static_cast<int64_t>(idx.size());
  std::vector<int64_t> seq(rows * width, 0), targets(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const data::PrefixKey& k = keys_[idx[r]];
    const int64_t* s = dataset_.sequence(k.user);
    const int64_t n = std::min(k.end, max_len);
    for (int64_t j = 0; j < n; ++j) seq[r * width + width - n + j] = s[k.end - n + j] + 1;
    targets[r] = s[k.end];
  }
  return {torch::tensor(seq, torch::kLong).view({rows, width}), torch::tensor(targets, torch::kLong)};
}

torch::Tensor Surrogate::loss_of(const Batch& b) {
  torch::Tensor h = model_->forward(b.seq).select(1, b.seq.size(1) - 1);  // [B, d]
  torch::Tensor logits = torch::matmul(h, model_->item_table().t());
  return torch::nn::functional::cross_entropy(
      logits, b.targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
}

torch::Tensor Surrogate::loss_sum(const std::vector<int64_t>& idx) {
  return loss_of(make_batch(idx)).sum();
}

torch::Tensor Surrogate::losses(const std::vector<int64_t>& idx) {
  torch::NoGradGuard no_grad;
  return loss_of(make_batch(idx)).to(torch::kDouble);
}

train::ParamVec Surrogate::grad_sum(const std::vector<int64_t>& idx) {
  torch::Tensor total = loss_sum(idx);
  auto g = torch::autograd::grad({total}, params_, {}, false, false, /*allow_unused=*/true);
  for (size_t i = 0; i < g.size(); ++i) g[i] = zeros_if_undefined(g[i], params_[i]);
  return g;
}

void Surrogate::set_taps(bool on) {
  for (size_t k = 0; k < model_->blocks->size(); ++k) {
    auto block = model_->blocks[k]->as<model::SASRecBlock>();
    const bool wanted = on && std::find(tapped_block_.begin(), tapped_block_.end(),
                                        static_cast<int64_t>(k)) != tapped_block_.end();
    block->tap_out_proj = wanted;
    block->tap_input = block->tap_probe = torch::Tensor();
  }
}

torch::Tensor Surrogate::per_sample_grads(const std::vector<int64_t>& idx) {
  const int64_t n = static_cast<int64_t>(idx.size());
  if (!batched_) {
    torch::Tensor out = torch::empty({n, num_params_}, params_[0].options());
    for (int64_t r = 0; r < n; ++r) {
      train::ParamVec g = grad_sum({idx[r]});
      std::vector<torch::Tensor> flat;
      for (const auto& t : g) flat.push_back(t.reshape({-1}));
      out[r].copy_(torch::cat(flat));
    }
    return out;
  }
  // One backward for the batch: a sample's out_proj weight gradient is the sum over its rows
  // of (output gradient) x (input)ᵀ, since rows of different samples never interact.
  const Batch b = make_batch(idx);
  set_taps(true);
  torch::Tensor total = loss_of(b).sum();
  std::vector<torch::Tensor> probes;
  std::vector<int64_t> probe_block;
  for (size_t k = 0; k < model_->blocks->size(); ++k) {
    auto block = model_->blocks[k]->as<model::SASRecBlock>();
    if (block->tap_out_proj) {
      probes.push_back(block->tap_probe);
      probe_block.push_back(static_cast<int64_t>(k));
    }
  }
  auto grads = torch::autograd::grad({total}, probes);
  const int64_t width = b.seq.size(1);
  torch::Tensor index = (b.seq.reshape({-1}) != 0).nonzero().view({-1});
  auto dense = [&](const torch::Tensor& rows) {
    return torch::zeros({n * width, rows.size(1)}, rows.options())
        .index_copy(0, index, rows)
        .view({n, width, rows.size(1)});
  };
  std::vector<torch::Tensor> parts;
  for (size_t i = 0; i < params_.size(); ++i) {
    const size_t p = std::find(probe_block.begin(), probe_block.end(), tapped_block_[i]) -
                     probe_block.begin();
    torch::Tensor g = dense(grads[p].detach());  // [n, W, d_out]
    if (is_bias_[i]) {
      parts.push_back(g.sum(1));
    } else {
      auto block = model_->blocks[tapped_block_[i]]->as<model::SASRecBlock>();
      torch::Tensor x = dense(block->tap_input.detach());  // [n, W, d_in]
      parts.push_back(torch::bmm(g.transpose(1, 2), x).reshape({n, -1}));
    }
  }
  set_taps(false);
  return torch::cat(parts, 1);
}

}  // namespace grec::stages
