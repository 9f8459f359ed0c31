// Prompt text -> token ids for generation, as every generating caller does it (stage evaluate,
// align's validation, the serving recommender): bos (when the tokenizer has one) + the prompt's
// ids cut from the left, after bos, to at most max_len ids. Keeping the most recent history when
// a prompt is too long is the point of cutting from the left.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/text_tokenizer.h"

namespace grec::tok {

std::vector<int64_t> encode_prompt(const TextTokenizer& tokenizer, const std::string& text,
                                   int64_t max_len);

}  // namespace grec::tok
