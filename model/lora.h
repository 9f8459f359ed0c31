// LoRA (Hu et al., 2021) on the named projections of a CausalLM: W x + (alpha / r) B A dropout(x),
// A ~ kaiming-uniform, B = 0 (so a fresh adapter leaves the model unchanged). Adapter parameters are
// named like PEFT's inner names: "model.layers.0.self_attn.q_proj.lora_A.weight" / "...lora_B.weight".
// The base is frozen; embeddings and the LM head may be made fully trainable (new semantic-ID
// tokens cannot learn otherwise). merge_lora folds the adapters into the base weights for export.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "model/causal_lm.h"

namespace grec::model {

struct LoraOptions {
  int64_t r = 8;
  double alpha = 16;
  double dropout = 0.05;
  // Projection names among q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj
  // (short forms q, k, v, o, gate, up, down are accepted).
  std::vector<std::string> targets = {"q_proj", "k_proj", "v_proj", "o_proj"};
  bool train_embeddings = false;  // model.embed_tokens.weight fully trainable
  bool train_lm_head = false;     // lm_head.weight fully trainable (= embeddings when tied)
  uint64_t seed = 0;              // initialisation of lora_A
};

using NamedTensorList = std::vector<std::pair<std::string, torch::Tensor>>;

// Adds adapters to every targeted projection of every layer and freezes everything else (except
// the optional embeddings / LM head). grec::UserError on an unknown target or r <= 0.
void apply_lora(CausalLM& model, const LoraOptions& options);
// W += scale * B A for every adapter, then removes the adapters (the model is a plain CausalLM
// again, savable with save_hf). All parameters become trainable again.
void merge_lora(CausalLM& model);
bool has_lora(CausalLM& model);
// The parameters that train (requires_grad), in registration order.
std::vector<torch::Tensor> trainable_parameters(CausalLM& model);
// Names and values of the trainable parameters only: what a checkpoint needs when the base is frozen.
NamedTensorList trainable_state(CausalLM& model);
// Copies a trainable_state back (no grad). grec::UserError on a missing/unknown name or shape mismatch.
void load_trainable_state(CausalLM& model, const NamedTensorList& state);

}  // namespace grec::model
