// Vocabulary extension with semantic-ID tokens: adds "<a_0>", "<b_3>", ... (one never-split special
// token each) to a text tokenizer and computes the model vocabulary size, rounded up to a multiple
// of 64 (the embedding / LM-head rows; ids above the tokenizer's are unused padding rows).
// Writing back is TextTokenizer::save (tokenizer.json or tokenizer.model + tokenizer_config.json).
#pragma once

#include <cstdint>
#include <vector>

#include "tokenizer/text_tokenizer.h"

namespace grec::tok {

// Smallest multiple of `multiple` >= n (n >= 0, multiple > 0).
int64_t padded_vocab_size(int64_t n, int64_t multiple = 64);

struct SemanticVocab {
  std::vector<std::vector<int64_t>> token_ids;  // [level][code] -> vocabulary id
  int64_t num_added = 0;                        // tokens that were new to the tokenizer
  // tokenizer.vocab_size() before: the new tokens have ids [first_new_id, tokenizer_vocab), the
  // rows of a pretrained model to initialise (CausalLMImpl::add_token_rows).
  int64_t first_new_id = 0;
  int64_t tokenizer_vocab = 0;                  // tokenizer.vocab_size() afterwards
  int64_t model_vocab = 0;                      // padded_vocab_size(max(tokenizer, old model))
};

// Adds the tokens of every (level, code < level_sizes[level]) in level-major order; tokens already
// present keep their id. `model_vocab` is at least `current_model_vocab` (never shrinks a model
// whose embedding is already larger than its tokenizer).
SemanticVocab add_semantic_tokens(TextTokenizer& tokenizer, const std::vector<int64_t>& level_sizes,
                                  int64_t current_model_vocab = 0);

// The ids of the semantic tokens of an already extended tokenizer (e.g. reloaded from disk);
// UserError naming the first missing token.
std::vector<std::vector<int64_t>> semantic_token_ids(const TextTokenizer& tokenizer,
                                                     const std::vector<int64_t>& level_sizes);

}  // namespace grec::tok
