// Trie-constrained beam search for generative retrieval: the LM generates exactly trie.levels()
// semantic-ID tokens, each step masked to the codes the PrefixTrie allows after each hypothesis'
// node, so every result is an existing item (ALGORITHMS.md §1-2). Lives in tokenizer/ because it
// needs the trie; the search itself is model/generation.h's beam_search with a BeamConstraint.
//
// Exactness: scores are sequence log-probabilities under the model (log_softmax over the full
// vocabulary). When num_beams >= the number of trie nodes at every depth (i.e. no prefix is ever
// pruned), the result is exactly the top-num_beams items by that log-probability, as a
// brute-force enumeration of all items would give; with fewer beams it is the usual beam-search
// approximation (an item whose prefix falls out of the beam cannot be returned).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "model/causal_lm.h"
#include "model/generation.h"
#include "tokenizer/prefix_trie.h"

namespace grec::tok {

using model::BeamHit;

// input_ids [B, T] (left padding), attention_mask [B, T] or undefined. token_ids[l][c] is the
// vocabulary id of code c at level l (one row per trie level). Returns per prompt up to num_beams
// distinct items, best first (fewer only when the trie has fewer items). Uses the KV cache.
std::vector<std::vector<BeamHit>> constrained_beam_search(
    model::CausalLM& lm, const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
    const PrefixTrie& trie, const std::vector<std::vector<int64_t>>& token_ids,
    int64_t num_beams);

}  // namespace grec::tok
