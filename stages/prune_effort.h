// DEALRec's effort score (ALGORITHMS.md §3): E(s) = ‖∇φ L_LLM(s)‖₂, the gradient norm of the LLM's
// loss on sample s over its trainable parameters φ (the LoRA adapters and, when trained, the
// embeddings, with align.lora.r > 0; every weight otherwise), for the LLM as align would start it.
// With an HF checkpoint that is the checkpoint itself. From scratch, a random model's gradients
// say nothing about difficulty, so the model first trains prune.effort.warmup_steps steps on the
// full align mixture (align's optimizer settings). Align then RESTARTS from its own
// initialisation rather than continuing from the warm-up: the kept set should be the only
// difference between a pruned and a full align run, and the warm-up saw every sample, which a
// pruned run must not inherit.
//
// φ = "all" needs one backward per sample. φ = "head" (prune.effort.params) takes the LM head's
// weight alone: its per-sample gradient is Σ_t e_t h_tᵀ over the response positions, with h_t the
// last hidden state and e_t = w_t (softmax(logits_t) - onehot(target_t)), so a batched forward
// gives every sample's norm without any backward (with tied embeddings: the output-side part).
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "data_pipeline/instruction_batches.h"
#include "data_pipeline/instructions.h"
#include "model/causal_lm.h"
#include "stages/align_setup.h"
#include "train/stage.h"

namespace grec::stages {

struct EffortScores {
  std::vector<double> effort;  // per key; computed where `mine` is set, 0 elsewhere
  nlohmann::json warmup_valid;  // the warm-up model's validation (null without warm-up)
  double warmup_s = 0, score_s = 0;
  int64_t scored = 0;  // samples scored on this rank
};

// ‖∇ L(s)‖ over the LM head weight for samples idx (loss = mean over the response tokens, as
// align's per-sample loss), from batched forwards without autograd; pad_id fills the padding.
std::vector<double> head_gradient_norms(model::CausalLM& lm,
                                        const std::vector<data::TokenizedSample>& samples,
                                        const std::vector<int64_t>& idx, int64_t pad_id);

// Collective (warm-up training, tokenizer). `keys` must be data::training_prefixes(dataset).
EffortScores effort_scores(train::StageContext& ctx, const ItemIndex& index,
                           const std::vector<data::PrefixKey>& keys, const std::vector<char>& mine);

}  // namespace grec::stages
