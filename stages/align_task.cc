// AlignTask; see align_task.h.
#include "stages/align_task.h"

#include <algorithm>

#include "core/error.h"
#include "core/hash.h"

namespace grec::stages {

AlignTask::AlignTask(model::CausalLM lm, std::vector<data::TokenizedSample> samples,
                     AlignEvalSet valid, const tok::PrefixTrie& trie,
                     std::vector<std::vector<int64_t>> token_ids,
                     eval::GenerativeOptions generation, int64_t chunk_tokens, int64_t pad_id,
                     dist::Communicator& comm, bool token_loss)
    : lm_(std::move(lm)),
      samples_(std::move(samples)),
      valid_(std::move(valid)),
      trie_(trie),
      token_ids_(std::move(token_ids)),
      generation_(std::move(generation)),
      chunk_tokens_(chunk_tokens),
      pad_id_(pad_id),
      comm_(comm) {
  GREC_CHECK(!samples_.empty(), "align: no training samples");
  GREC_CHECK(chunk_tokens_ > 0, "align: chunk_tokens must be positive");
  const int64_t k = std::find(generation_.ks.begin(), generation_.ks.end(), 10) !=
                            generation_.ks.end()
                        ? 10
                        : generation_.ks.back();
  selection_ = "HR@" + std::to_string(k);
  if (token_loss) {
    double response_tokens = 0;
    for (const auto& s : samples_) response_tokens += double(s.ids.size()) - double(s.prompt_len);
    GREC_CHECK(response_tokens > 0, "align: no response tokens");
    token_weight_ = double(samples_.size()) / response_tokens;
  }
}

torch::Tensor AlignTask::loss_sum(const train::Batch& batch) {
  torch::Tensor total = torch::zeros({});
  if (batch.indices.empty()) {
    for (const auto& p : lm_->parameters()) {
      if (p.requires_grad()) total = total + p.sum() * 0.0;
    }
    return total;
  }
  std::vector<int64_t> order = batch.indices;
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return samples_[a].ids.size() < samples_[b].ids.size();
  });
  size_t start = 0;
  while (start < order.size()) {
    // Grow the chunk while rows x longest stays within the budget (at least one row).
    size_t end = start + 1;
    while (end < order.size() &&
           static_cast<int64_t>((end - start + 1) * samples_[order[end]].ids.size()) <= chunk_tokens_) {
      ++end;
    }
    const int64_t rows = static_cast<int64_t>(end - start);
    const int64_t width = static_cast<int64_t>(samples_[order[end - 1]].ids.size());
    std::vector<int64_t> ids(rows * width, pad_id_), labels(rows * width, -100);
    std::vector<float> weight(rows * width, 0.0f);
    for (int64_t r = 0; r < rows; ++r) {
      const auto& s = samples_[order[start + r]];
      const int64_t len = static_cast<int64_t>(s.ids.size());
      std::copy(s.ids.begin(), s.ids.end(), ids.begin() + r * width);
      // Position t predicts token t + 1: the response tokens [prompt_len, len) are predicted at
      // [prompt_len - 1, len - 1), each weighted 1 / (response length) -> a per-sample mean,
      // or by the constant per-token weight.
      const int64_t n_resp = len - s.prompt_len;
      GREC_CHECK(s.prompt_len >= 1 && n_resp >= 1, "align sample without prompt or response");
      const float wt = token_weight_ > 0 ? static_cast<float>(token_weight_)
                                         : 1.0f / static_cast<float>(n_resp);
      for (int64_t t = s.prompt_len - 1; t < len - 1; ++t) {
        labels[r * width + t] = s.ids[t + 1];
        weight[r * width + t] = wt;
      }
      real_ += len;
    }
    slots_ += rows * width;
    const auto dev = lm_->parameters().front().device();
    torch::Tensor x = torch::tensor(ids, torch::kLong).view({rows, width}).to(dev);
    torch::Tensor y = torch::tensor(labels, torch::kLong).view({-1}).to(dev);
    torch::Tensor w = torch::tensor(weight, torch::kFloat).view({-1}).to(dev);
    // Right padding: causal attention never lets a real token see the padding after it.
    torch::Tensor logits = lm_->forward(x).view({rows * width, -1}).to(torch::kFloat);
    torch::Tensor nll = torch::nn::functional::cross_entropy(
        logits, y,
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kNone));
    total = total + (nll * w).sum();
    start = end;
  }
  return total;
}

nlohmann::json AlignTask::evaluate(const std::string& split) {
  GREC_CHECK(split == "valid", "align evaluates the validation sample only, got '{}'", split);
  return eval::generative_ranking(lm_, valid_.prompts, valid_.targets, trie_, token_ids_,
                                  generation_, &comm_);
}

std::vector<int64_t> AlignTask::sample_lengths() const {
  std::vector<int64_t> out;
  out.reserve(samples_.size());
  for (const auto& s : samples_) out.push_back(static_cast<int64_t>(s.ids.size()));
  return out;
}

std::string AlignTask::dataset_fingerprint() const {
  uint64_t h = fnv1a64(nullptr, 0);
  for (const auto& s : samples_) {
    h = fnv1a64(s.ids.data(), s.ids.size() * sizeof(int64_t), h);
    h = fnv1a64(&s.prompt_len, sizeof(s.prompt_len), h);
  }
  return hex64(h);
}

}  // namespace grec::stages
