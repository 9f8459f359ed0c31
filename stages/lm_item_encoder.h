// The `lm` item encoder of the embed stage: each item's text through a causal LM, embedding = the
// mean of the last hidden state (after the final norm) over the text's real tokens (padding
// masked). Items are sharded over ranks in contiguous shares, batched by similar length, and the
// rows gathered on every rank in item order, so the result does not depend on the world size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/causal_lm.h"
#include "tokenizer/text_tokenizer.h"

namespace grec::dist {
class Communicator;
}

namespace grec::stages {

struct LmEncodeOptions {
  int64_t max_len = 128;    // tokens per text (bos + the first max_len - 1 text tokens)
  int64_t batch_size = 16;  // texts per forward
};

// Row-major [texts.size(), hidden]. An empty text is encoded as bos alone (or its first token).
// comm may be null (one process).
std::vector<float> lm_embed_texts(model::CausalLM& lm, const tok::TextTokenizer& tokenizer,
                                  const std::vector<std::string>& texts,
                                  const LmEncodeOptions& options, dist::Communicator* comm);

}  // namespace grec::stages
