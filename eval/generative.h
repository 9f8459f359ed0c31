// Generative evaluation (ALGORITHMS.md §2): the LLM ranks items by trie-constrained beam search over
// the semantic-ID tuples; the returned beams, best first, are the user's ranked list. An item the
// beams do not reach counts as a miss (no hit, no NDCG, no reciprocal rank), so HR@K and NDCG@K
// are exact for K <= num_beams. Cases are sharded over ranks in contiguous shares and the metric
// sums added with one allreduce, so the result equals a single-process run.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/metrics.h"
#include "model/causal_lm.h"
#include "model/generation.h"
#include "tokenizer/prefix_trie.h"

namespace grec::dist {
class Communicator;
}

namespace grec::eval {

// 1-based position of `target` in `ranked`, or 0 when absent.
int64_t rank_in_list(const std::vector<int64_t>& ranked, int64_t target);

// Metric sums of ranked lists against their targets (a miss is rank "infinity").
MetricSums ranked_list_sums(const std::vector<std::vector<int64_t>>& ranked,
                            const std::vector<int64_t>& targets, const std::vector<int64_t>& ks);

// Set metrics of ranked lists against every held-out item of each case (an empty set = none
// given: the case is skipped by the caller, see generative_ranking).
HeldOutSums ranked_list_held_out_sums(const std::vector<std::vector<int64_t>>& ranked,
                                      const std::vector<std::vector<int64_t>>& held_out,
                                      const std::vector<int64_t>& ks);

struct GenerativeOptions {
  int64_t num_beams = 20;
  int64_t batch_size = 8;  // prompts decoded together (each with num_beams hypotheses)
  std::vector<int64_t> ks = {1, 5, 10};
  int64_t pad_id = 0;      // left padding of the prompts (masked, so any id works)
};

// The beam hits (item, sequence log-probability, tokens) for `prompts` (token ids, no padding),
// best first, in prompt order. Local: no communication. Prompts are sorted by length (stable) and
// decoded options.batch_size at a time, left-padded.
std::vector<std::vector<model::BeamHit>> generate_hits(
    model::CausalLM& lm, const std::vector<std::vector<int64_t>>& prompts,
    const tok::PrefixTrie& trie, const std::vector<std::vector<int64_t>>& token_ids,
    const GenerativeOptions& options);

// The same as ranked item lists.
std::vector<std::vector<int64_t>> generate_rankings(
    model::CausalLM& lm, const std::vector<std::vector<int64_t>>& prompts,
    const tok::PrefixTrie& trie, const std::vector<std::vector<int64_t>>& token_ids,
    const GenerativeOptions& options);

// Collective: HR/NDCG means over all cases (identical on every rank) plus "users". With
// `held_out` (every held-out item per case) and some case holding several, also "held_out": the
// set metrics (HeldOutSums) of the ranked lists. The model is put in eval mode for the call and
// restored.
nlohmann::json generative_ranking(model::CausalLM& lm,
                                  const std::vector<std::vector<int64_t>>& prompts,
                                  const std::vector<int64_t>& targets, const tok::PrefixTrie& trie,
                                  const std::vector<std::vector<int64_t>>& token_ids,
                                  const GenerativeOptions& options, dist::Communicator* comm,
                                  const std::vector<std::vector<int64_t>>* held_out = nullptr);

}  // namespace grec::eval
