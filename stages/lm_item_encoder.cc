// lm_embed_texts; see lm_item_encoder.h.
#include "stages/lm_item_encoder.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "dist/communicator.h"

namespace grec::stages {
namespace {

std::vector<int64_t> text_ids(const tok::TextTokenizer& tokenizer, const std::string& text,
                              int64_t max_len) {
  std::vector<int64_t> ids;
  if (tokenizer.bos_id() >= 0) ids.push_back(tokenizer.bos_id());
  for (int64_t id : tokenizer.encode(text, false)) {
    if (static_cast<int64_t>(ids.size()) >= max_len) break;
    ids.push_back(id);
  }
  if (ids.empty()) ids.push_back(std::max<int64_t>(0, tokenizer.eos_id()));
  return ids;
}

}  // namespace

std::vector<float> lm_embed_texts(model::CausalLM& lm, const tok::TextTokenizer& tokenizer,
                                  const std::vector<std::string>& texts,
                                  const LmEncodeOptions& options, dist::Communicator* comm) {
  GREC_CHECK(options.max_len > 0 && options.batch_size > 0, "bad lm encoder options");
  const int64_t n = static_cast<int64_t>(texts.size());
  const int64_t rank = comm ? comm->rank() : 0, world = comm ? comm->world() : 1;
  const int64_t begin = n * rank / world, end = n * (rank + 1) / world;
  const int64_t hidden = lm->config().hidden_size;
  torch::NoGradGuard no_grad;
  const bool was_training = lm->is_training();
  lm->eval();
  std::vector<std::vector<int64_t>> ids;
  for (int64_t i = begin; i < end; ++i) ids.push_back(text_ids(tokenizer, texts[i], options.max_len));
  std::vector<size_t> order(ids.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return ids[a].size() < ids[b].size(); });
  std::vector<float> mine(ids.size() * hidden);
  const auto device = lm->parameters().front().device();
  for (size_t s = 0; s < order.size(); s += options.batch_size) {
    const size_t e = std::min(order.size(), s + static_cast<size_t>(options.batch_size));
    const int64_t b = static_cast<int64_t>(e - s);
    const int64_t width = static_cast<int64_t>(ids[order[e - 1]].size());
    std::vector<int64_t> x(b * width, 0), m(b * width, 0);
    for (int64_t r = 0; r < b; ++r) {
      const auto& v = ids[order[s + r]];
      std::copy(v.begin(), v.end(), x.begin() + r * width);  // right padding
      std::fill(m.begin() + r * width, m.begin() + r * width + v.size(), 1);
    }
    const torch::Tensor tx = torch::tensor(x, torch::kLong).view({b, width}).to(device);
    const torch::Tensor tm = torch::tensor(m, torch::kLong).view({b, width}).to(device);
    const torch::Tensor h = lm->hidden_states(tx, tm).to(torch::kFloat);
    const torch::Tensor w = tm.to(torch::kFloat).unsqueeze(-1);
    const torch::Tensor mean = ((h * w).sum(1) / w.sum(1)).contiguous().cpu();
    for (int64_t r = 0; r < b; ++r) {
      std::memcpy(mine.data() + order[s + r] * hidden, mean[r].data_ptr<float>(), hidden * sizeof(float));
    }
  }
  lm->train(was_training);
  if (!comm || world == 1) return mine;
  const std::string bytes(reinterpret_cast<const char*>(mine.data()), mine.size() * sizeof(float));
  std::vector<float> all;
  all.reserve(n * hidden);
  for (const std::string& part : comm->allgather_bytes(bytes)) {
    const float* f = reinterpret_cast<const float*>(part.data());
    all.insert(all.end(), f, f + part.size() / sizeof(float));
  }
  GREC_CHECK(static_cast<int64_t>(all.size()) == n * hidden, "lm encoder gathered {} floats, expected {}",
             all.size(), n * hidden);
  return all;
}

}  // namespace grec::stages
