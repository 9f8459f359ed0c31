// Semantic-ID vocabulary extension (see vocab_extension.h).
#include "tokenizer/vocab_extension.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/prefix_trie.h"

namespace grec::tok {

int64_t padded_vocab_size(int64_t n, int64_t multiple) {
  GREC_CHECK(n >= 0 && multiple > 0, "bad vocab size {} or multiple {}", n, multiple);
  return (n + multiple - 1) / multiple * multiple;
}

SemanticVocab add_semantic_tokens(TextTokenizer& tokenizer, const std::vector<int64_t>& level_sizes,
                                  int64_t current_model_vocab) {
  std::vector<std::string> tokens;
  for (size_t l = 0; l < level_sizes.size(); ++l) {
    if (level_sizes[l] <= 0) user_error("semantic-ID level {} has size {}", l, level_sizes[l]);
    for (int64_t c = 0; c < level_sizes[l]; ++c) {
      tokens.push_back(semantic_token(static_cast<int64_t>(l), c));
    }
  }
  SemanticVocab v;
  v.first_new_id = tokenizer.vocab_size();
  v.num_added = tokenizer.add_special_tokens(tokens);
  v.token_ids = semantic_token_ids(tokenizer, level_sizes);
  v.tokenizer_vocab = tokenizer.vocab_size();
  // New tokens take consecutive ids from the old size on; rows are initialised by that range.
  GREC_CHECK(v.tokenizer_vocab - v.first_new_id == v.num_added,
             "{} semantic-ID tokens added but the vocabulary grew from {} to {}", v.num_added,
             v.first_new_id, v.tokenizer_vocab);
  v.model_vocab = padded_vocab_size(std::max(v.tokenizer_vocab, current_model_vocab));
  return v;
}

std::vector<std::vector<int64_t>> semantic_token_ids(const TextTokenizer& tokenizer,
                                                     const std::vector<int64_t>& level_sizes) {
  std::vector<std::vector<int64_t>> ids(level_sizes.size());
  for (size_t l = 0; l < level_sizes.size(); ++l) {
    for (int64_t c = 0; c < level_sizes[l]; ++c) {
      const std::string s = semantic_token(static_cast<int64_t>(l), c);
      const int64_t id = tokenizer.token_to_id(s);
      if (id < 0) user_error("the tokenizer has no semantic-ID token '{}'", s);
      ids[l].push_back(id);
    }
  }
  return ids;
}

}  // namespace grec::tok
