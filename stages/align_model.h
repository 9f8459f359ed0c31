// The LM the align stage starts from, shared with stage prune (DEALRec's effort score needs the
// LLM as align would start it): an HF checkpoint (align.model.path) or a small LLaMA-style model
// from scratch with a SentencePiece BPE tokenizer trained on the item and instruction text; the
// semantic-ID tokens added to both; LoRA applied when align.lora.r > 0.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data_pipeline/instruction_batches.h"
#include "data_pipeline/instructions.h"
#include "model/causal_lm.h"
#include "stages/align_setup.h"
#include "tokenizer/text_tokenizer.h"
#include "tokenizer/vocab_extension.h"
#include "train/stage.h"

namespace grec::stages {

struct AlignModel {
  std::unique_ptr<tok::TextTokenizer> tokenizer;
  model::CausalLM lm{nullptr};
  tok::SemanticVocab vocab;
};

// Collective. From scratch, rank 0 trains the tokenizer into `tokenizer_dir` on the item text
// and `instructions`, and every rank builds the same initial weights (seeded by align.train.seed).
AlignModel make_align_model(train::StageContext& ctx, const ItemIndex& index,
                            const std::vector<data::Instruction>& instructions,
                            const std::string& tokenizer_dir);

// The instructions as token ids for `model`'s tokenizer, prompts cut from the left to
// align.max_len. Samples whose response does not fit are left out and counted per task in
// *too_long (may be nullptr: then a UserError).
std::vector<data::TokenizedSample> tokenize_for(const AlignModel& model,
                                                const std::vector<data::Instruction>& instructions,
                                                int64_t max_len,
                                                std::map<std::string, int64_t>* too_long);

}  // namespace grec::stages
