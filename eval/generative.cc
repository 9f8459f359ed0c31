// Generative evaluation by trie-constrained beam search; see generative.h.
#include "eval/generative.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "dist/communicator.h"
#include "eval/ranking.h"
#include "tokenizer/constrained_decoding.h"

namespace grec::eval {

int64_t rank_in_list(const std::vector<int64_t>& ranked, int64_t target) {
  const auto it = std::find(ranked.begin(), ranked.end(), target);
  return it == ranked.end() ? 0 : static_cast<int64_t>(it - ranked.begin()) + 1;
}

MetricSums ranked_list_sums(const std::vector<std::vector<int64_t>>& ranked,
                            const std::vector<int64_t>& targets, const std::vector<int64_t>& ks) {
  GREC_CHECK(ranked.size() == targets.size(), "{} ranked lists for {} targets", ranked.size(),
             targets.size());
  MetricSums sums(ks);
  for (size_t i = 0; i < ranked.size(); ++i) {
    const int64_t r = rank_in_list(ranked[i], targets[i]);
    // A miss is beyond every cut-off; its reciprocal rank is ~0.
    sums.add(r > 0 ? r : std::numeric_limits<int64_t>::max());
  }
  return sums;
}

HeldOutSums ranked_list_held_out_sums(const std::vector<std::vector<int64_t>>& ranked,
                                      const std::vector<std::vector<int64_t>>& held_out,
                                      const std::vector<int64_t>& ks) {
  GREC_CHECK(ranked.size() == held_out.size(), "{} ranked lists for {} held-out sets",
             ranked.size(), held_out.size());
  HeldOutSums sums(ks);
  for (size_t i = 0; i < ranked.size(); ++i) {
    std::vector<int64_t> ranks;
    for (int64_t item : held_out[i]) ranks.push_back(rank_in_list(ranked[i], item));
    sums.add(ranks);
  }
  return sums;
}

std::vector<std::vector<model::BeamHit>> generate_hits(
    model::CausalLM& lm, const std::vector<std::vector<int64_t>>& prompts,
    const tok::PrefixTrie& trie, const std::vector<std::vector<int64_t>>& token_ids,
    const GenerativeOptions& options) {
  GREC_CHECK(options.batch_size > 0 && options.num_beams > 0, "bad generative options");
  torch::NoGradGuard no_grad;
  const auto device = lm->parameters().front().device();
  std::vector<std::vector<model::BeamHit>> out(prompts.size());
  // Similar lengths together: less padding in each batch.
  std::vector<size_t> order(prompts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return prompts[a].size() < prompts[b].size(); });
  for (size_t start = 0; start < order.size(); start += options.batch_size) {
    const size_t end = std::min(order.size(), start + static_cast<size_t>(options.batch_size));
    size_t width = 0;
    for (size_t i = start; i < end; ++i) width = std::max(width, prompts[order[i]].size());
    GREC_CHECK(width > 0, "empty prompt in generative evaluation");
    const int64_t b = static_cast<int64_t>(end - start);
    std::vector<int64_t> ids(b * width, options.pad_id), mask(b * width, 0);
    for (size_t i = start; i < end; ++i) {
      const auto& p = prompts[order[i]];
      const size_t row = (i - start) * width + (width - p.size());  // left padding
      std::copy(p.begin(), p.end(), ids.begin() + row);
      std::fill(mask.begin() + row, mask.begin() + row + p.size(), 1);
    }
    const auto shape = std::vector<int64_t>{b, static_cast<int64_t>(width)};
    torch::Tensor t_ids = torch::tensor(ids, torch::kLong).view(shape).to(device);
    torch::Tensor t_mask = torch::tensor(mask, torch::kLong).view(shape).to(device);
    const auto hits =
        tok::constrained_beam_search(lm, t_ids, t_mask, trie, token_ids, options.num_beams);
    for (size_t i = start; i < end; ++i) out[order[i]] = hits[i - start];
  }
  return out;
}

std::vector<std::vector<int64_t>> generate_rankings(
    model::CausalLM& lm, const std::vector<std::vector<int64_t>>& prompts,
    const tok::PrefixTrie& trie, const std::vector<std::vector<int64_t>>& token_ids,
    const GenerativeOptions& options) {
  const auto hits = generate_hits(lm, prompts, trie, token_ids, options);
  std::vector<std::vector<int64_t>> out(hits.size());
  for (size_t i = 0; i < hits.size(); ++i) {
    for (const auto& h : hits[i]) out[i].push_back(h.item);
  }
  return out;
}

nlohmann::json generative_ranking(model::CausalLM& lm,
                                  const std::vector<std::vector<int64_t>>& prompts,
                                  const std::vector<int64_t>& targets, const tok::PrefixTrie& trie,
                                  const std::vector<std::vector<int64_t>>& token_ids,
                                  const GenerativeOptions& options, dist::Communicator* comm,
                                  const std::vector<std::vector<int64_t>>* held_out) {
  GREC_CHECK(prompts.size() == targets.size(), "{} prompts for {} targets", prompts.size(),
             targets.size());
  GREC_CHECK(!held_out || held_out->size() == targets.size(), "{} held-out sets for {} targets",
             held_out ? held_out->size() : 0, targets.size());
  const int64_t rank = comm ? comm->rank() : 0, world = comm ? comm->world() : 1;
  const int64_t n = static_cast<int64_t>(prompts.size());
  const int64_t begin = n * rank / world, end = n * (rank + 1) / world;
  const std::vector<std::vector<int64_t>> mine(prompts.begin() + begin, prompts.begin() + end);
  const std::vector<int64_t> my_targets(targets.begin() + begin, targets.begin() + end);
  const bool was_training = lm->is_training();
  lm->eval();
  const auto ranked = generate_rankings(lm, mine, trie, token_ids, options);
  lm->train(was_training);
  const MetricSums total = allreduce_sums(ranked_list_sums(ranked, my_targets, options.ks), comm);
  nlohmann::json j = total.result();
  bool several = false;
  if (held_out) {
    for (const auto& h : *held_out) several = several || h.size() > 1;
  }
  if (several) {
    std::vector<std::vector<int64_t>> mine_held(held_out->begin() + begin, held_out->begin() + end);
    for (size_t i = 0; i < mine_held.size(); ++i) {
      if (mine_held[i].empty()) mine_held[i] = {my_targets[i]};
    }
    j["held_out"] =
        allreduce_held_out(ranked_list_held_out_sums(ranked, mine_held, options.ks), comm).result();
  }
  j["num_beams"] = options.num_beams;
  return j;
}

}  // namespace grec::eval
