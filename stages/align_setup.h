// What the align and evaluate stages share: the dataset with its semantic IDs and trie, the
// instruction options read from the config, the model + tokenizer folder layout, and prompt
// encoding for generation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/run_dir.h"
#include "data_pipeline/dataset.h"
#include "data_pipeline/instructions.h"
#include "tokenizer/prefix_trie.h"
#include "tokenizer/prompt_encoding.h"
#include "tokenizer/semantic_ids.h"
#include "tokenizer/text_tokenizer.h"

namespace grec::stages {

struct ItemIndex {
  data::Dataset dataset;
  tok::SemanticIds ids;
  tok::PrefixTrie trie;
  std::vector<std::string> item_tokens;  // "<a_3><b_12><c_0>" per item
};

// Reads the dataset and <run>/artifacts/rqvae/semantic_ids.h5 (UserError when the rqvae stage has
// not run or the two disagree on the item count).
ItemIndex load_item_index(const Config& config, const RunDir& run);

// align.* instruction keys -> builder options.
data::InstructionOptions instruction_options(const Config& config);

// The fine-tuned model folder (HF layout: config.json, model.safetensors, tokenizer files).
std::string aligned_model_dir(const RunDir& run);

// Evaluation cases of a split: users with a history and a held-out item (the sasrec stage's
// definition), as seqrec prompts (token ids) and target items. max_users > 0 keeps a seeded
// sample of that many users.
struct PromptCases {
  std::vector<int64_t> users;
  std::vector<std::vector<int64_t>> prompts;
  std::vector<int64_t> targets;
  std::vector<std::vector<int64_t>> held_out;  // every held-out item of the split, target first
};
PromptCases seqrec_cases(const ItemIndex& index, const tok::TextTokenizer& tokenizer,
                         const data::InstructionOptions& options, const std::string& split,
                         int64_t max_len, int64_t max_users, uint64_t seed);

}  // namespace grec::stages
