// Decoding for the causal LM: greedy and beam search with the KV cache, batched over left-padded
// prompts. Beam search takes an optional BeamConstraint (an "allowed tokens" mask per hypothesis
// state plus a state transition), which is how tokenizer/constrained_decoding.h restricts the
// search to the semantic-ID PrefixTrie without model/ depending on tokenizer/.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "model/causal_lm.h"

namespace grec::model {

struct GenerationOptions {
  int64_t max_new_tokens = 32;
  int64_t num_beams = 1;
  int64_t eos_token_id = -1;  // -1: never stop early
  // false recomputes the whole sequence every step (the reference the cache is tested against).
  bool use_cache = true;
};

// Greedy decoding. input_ids [B, T] int64 (left padding), attention_mask [B, T] or undefined
// (= all tokens). Returns only the generated tokens [B, n] int64, n <= max_new_tokens: n is smaller
// when every row has emitted eos_token_id; a row that has finished is filled with eos afterwards.
torch::Tensor greedy(CausalLM& lm, const torch::Tensor& input_ids,
                     const torch::Tensor& attention_mask, GenerationOptions options);

// Restricts beam search. States are opaque int64 per hypothesis (e.g. trie nodes); every
// hypothesis of a prompt starts at `initial_state`.
struct BeamConstraint {
  int64_t initial_state = 0;
  // Additive masks [states.size(), vocab] (0 = allowed, -inf = not) for the hypotheses' states.
  std::function<torch::Tensor(const std::vector<int64_t>& states)> allowed;
  // The state after emitting `token` from `state` (only called for allowed tokens).
  std::function<int64_t(int64_t state, int64_t token)> advance;
};

struct BeamSequence {
  std::vector<int64_t> tokens;  // generated tokens (including eos when the hypothesis finished)
  double score = 0;             // sum of the tokens' log-probabilities under the model
  int64_t state = 0;            // constraint state after the last token
  bool finished = false;        // emitted eos_token_id
};

// Beam search with options.num_beams hypotheses per prompt for options.max_new_tokens steps.
// Scores are sequence log-probabilities (log_softmax over the full vocabulary, then the
// constraint's mask), no length penalty; a hypothesis that emits eos keeps its score and stops.
// Returns per prompt the surviving hypotheses, best first (fewer than num_beams when the
// constraint allows fewer sequences); every returned sequence is distinct. The KV cache is
// reordered to follow the beams (KVCache::reorder); options.use_cache = false recomputes.
std::vector<std::vector<BeamSequence>> beam_search(CausalLM& lm, const torch::Tensor& input_ids,
                                                   const torch::Tensor& attention_mask,
                                                   GenerationOptions options,
                                                   const BeamConstraint* constraint = nullptr);

// One item of a constrained beam search (tokenizer/constrained_decoding.h).
struct BeamHit {
  int64_t item = -1;
  double score = 0;
  std::vector<int64_t> tokens;
};

}  // namespace grec::model
