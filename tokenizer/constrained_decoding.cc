// Trie-constrained beam search (see tokenizer/constrained_decoding.h).
#include "tokenizer/constrained_decoding.h"

#include <unordered_map>

#include "core/error.h"

namespace grec::tok {

std::vector<std::vector<BeamHit>> constrained_beam_search(
    model::CausalLM& lm, const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
    const PrefixTrie& trie, const std::vector<std::vector<int64_t>>& token_ids,
    int64_t num_beams) {
  const int64_t levels = trie.levels();
  GREC_CHECK(levels >= 1 && trie.num_items() >= 1, "constrained_beam_search: empty trie");
  GREC_CHECK(static_cast<int64_t>(token_ids.size()) >= levels,
             "constrained_beam_search: token_ids needs one row per trie level");
  const int64_t vocab = lm->config().vocab_size;
  // Token -> code per level, to follow the trie from the token a hypothesis emitted.
  std::vector<std::unordered_map<int64_t, int64_t>> code_of(levels);
  for (int64_t l = 0; l < levels; ++l) {
    for (size_t c = 0; c < token_ids[l].size(); ++c) {
      const int64_t t = token_ids[l][c];
      GREC_CHECK(t >= 0 && t < vocab, "constrained_beam_search: token id {} of level {} code {} "
                 "is outside the vocabulary ({})", t, l, c, vocab);
      code_of[l].emplace(t, static_cast<int64_t>(c));
    }
  }

  model::BeamConstraint constraint;
  constraint.initial_state = tok::PrefixTrie::kRoot;
  constraint.allowed = [&](const std::vector<int64_t>& nodes) {
    return trie.masks(nodes, token_ids, vocab);
  };
  constraint.advance = [&](int64_t node, int64_t token) {
    const int64_t level = trie.depth(node);
    auto it = code_of[level].find(token);
    GREC_CHECK(it != code_of[level].end(), "constrained_beam_search: token {} is not a level-{} "
               "code", token, level);
    const int64_t next = trie.child(node, it->second);
    GREC_CHECK(next >= 0, "constrained_beam_search: token {} left the trie", token);
    return next;
  };

  model::GenerationOptions options;
  options.max_new_tokens = levels;
  options.num_beams = num_beams;
  options.eos_token_id = -1;  // items have exactly `levels` tokens
  auto sequences = model::beam_search(lm, input_ids, attention_mask, options, &constraint);

  std::vector<std::vector<BeamHit>> out(sequences.size());
  for (size_t b = 0; b < sequences.size(); ++b) {
    for (auto& s : sequences[b]) {
      const int64_t item = trie.item(s.state);
      GREC_CHECK(item >= 0 && static_cast<int64_t>(s.tokens.size()) == levels,
                 "constrained_beam_search: a hypothesis did not end on an item");
      out[b].push_back(BeamHit{item, s.score, std::move(s.tokens)});
    }
  }
  return out;
}

}  // namespace grec::tok
