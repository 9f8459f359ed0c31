// Decoder-only causal language model of the LLaMA / Qwen2 / Mistral family, laid out so that its
// parameter names are exactly the HF transformers names ("model.embed_tokens.weight",
// "model.layers.0.self_attn.q_proj.weight", ..., "lm_head.weight"):
//   RMSNorm (statistics in fp32, as HF), rotary position embeddings in HF's rotate_half
//   convention with theta = rope_theta, grouped-query attention (num_key_value_heads), an explicit
//   head_dim (q/k/v/o are num_heads * head_dim wide), optional q/k/v bias (Qwen2), optional
//   sliding-window (banded causal) attention, SwiGLU MLP, tied or untied LM head.
// Masks: causal plus padding (attention_mask 1 = token, 0 = padding); left padding is supported and
// positions count real tokens only (HF: position_ids = cumsum(mask) - 1), so a left-padded row
// computes what the unpadded row would. A KVCache makes incremental decoding exact.
// HF I/O (load_hf / save_hf) is implemented in model/hf_io.cc.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace grec::model {

struct CausalLMConfig {
  std::string architecture = "LlamaForCausalLM";  // | "Qwen2ForCausalLM" | "MistralForCausalLM"
  std::string model_type = "llama";               // "llama" | "qwen2" | "mistral"
  int64_t vocab_size = 32000;
  int64_t hidden_size = 256;
  int64_t intermediate_size = 688;
  int64_t num_hidden_layers = 2;
  int64_t num_attention_heads = 4;
  int64_t num_key_value_heads = 4;
  // HF "head_dim" when the config sets it (Mistral-Nemo, Qwen3 and Gemma-style configs make it
  // independent of hidden_size); 0 = hidden_size / num_attention_heads.
  int64_t attention_head_dim = 0;
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v bias (Qwen2: true)
  int64_t bos_token_id = -1, eos_token_id = -1, pad_token_id = -1;  // -1 if none
  // Sliding-window attention (HF sliding_window): a query sees itself and the sliding_window - 1
  // positions before it, in the layers [max_window_layers, num_hidden_layers) (Qwen2's
  // max_window_layers; Mistral windows every layer). 0 = full causal attention everywhere.
  int64_t sliding_window = 0;
  int64_t max_window_layers = 0;
  std::string torch_dtype = "float32";
  // Training-only dropout. attention_dropout is HF's key of that name: dropout on the attention
  // probabilities. residual_dropout (on the attention and MLP branches before the residual add) is
  // grec's own for models trained from scratch; HF LLaMA/Qwen2/Mistral have none, so it is never
  // read from nor written to config.json.
  double attention_dropout = 0;
  double residual_dropout = 0;
  // Training with grad enabled (no KV cache): each decoder layer keeps only its input and is
  // recomputed in backward (less activation memory for about one extra forward); gradients are
  // unchanged, dropout included (the CPU RNG state is replayed).
  bool activation_checkpointing = false;
  double initializer_range = 0.02;       // N(0, initializer_range) for fresh models

  int64_t head_dim() const {
    return attention_head_dim > 0 ? attention_head_dim : hidden_size / num_attention_heads;
  }
  bool windowed_layer(int64_t layer) const { return sliding_window > 0 && layer >= max_window_layers; }
  // Reads an HF config.json object; unknown keys are ignored, missing ones take the family's
  // defaults (as HF's config classes). grec::UserError for an unsupported architecture, an
  // unsupported layout (rope_scaling, layer_types that are not full layers then windowed ones) or
  // inconsistent sizes.
  static CausalLMConfig from_json(const nlohmann::json& j);
  // An HF config.json object (architectures, model_type, sizes, torch_dtype, ...).
  nlohmann::json to_json() const;
};

// Keys and values of every layer for incremental decoding.
struct KVCache {
  std::vector<torch::Tensor> keys, values;  // per layer [B, kv_heads, T, head_dim] (empty = unused)
  // [B, T] int64 mask of every cached position (1 token, 0 padding); kept so that later calls
  // need only pass the mask of their new tokens (passing the full past+new mask also works).
  torch::Tensor attention_mask;
  int64_t length() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(2); }
  // Keeps/duplicates batch rows: row i of the new cache is row beam_index[i] of the old one
  // (beam search; also expands a prompt cache to B * beams rows with repeat_interleave indices).
  void reorder(const torch::Tensor& beam_index);
  void clear() { keys.clear(); values.clear(); attention_mask = torch::Tensor(); }
};

// A linear projection with HF names (weight [out, in], optional bias) and an optional LoRA adapter
// (lora_A [r, in], lora_B [out, r]; y = x W^T + b + scale * dropout(x) A^T B^T). See model/lora.h.
class ProjectionImpl : public torch::nn::Module {
 public:
  ProjectionImpl(int64_t in, int64_t out, bool bias);
  torch::Tensor forward(const torch::Tensor& x);
  bool has_lora() const { return !lora_A.is_empty(); }

  torch::Tensor weight, bias;
  torch::nn::Linear lora_A{nullptr}, lora_B{nullptr};
  double lora_scale = 0, lora_dropout = 0;
};
TORCH_MODULE(Projection);

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const CausalLMConfig& c);
  // x [B, T, H]; cos/sin [B, T, head_dim]; mask additive [B, 1, T, S] (S = past + T; banded in
  // sliding-window layers); past_k/past_v may be undefined; on return *new_k/*new_v hold
  // [B, kv, S, head_dim].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, const torch::Tensor& past_k,
                        const torch::Tensor& past_v, torch::Tensor* new_k, torch::Tensor* new_v);
  Projection q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t heads_, kv_heads_, head_dim_;
  double dropout_;
};
TORCH_MODULE(Attention);

class MLPImpl : public torch::nn::Module {
 public:
  explicit MLPImpl(const CausalLMConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))
  Projection gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(MLP);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const CausalLMConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, const torch::Tensor& past_k,
                        const torch::Tensor& past_v, torch::Tensor* new_k, torch::Tensor* new_v);
  // Whether a training-mode forward draws random numbers (residual/attention or LoRA dropout).
  bool uses_dropout() const;
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  MLP mlp{nullptr};

 private:
  double residual_dropout_, attention_dropout_;
};
TORCH_MODULE(DecoderLayer);

// The "model." part of HF's *ForCausalLM: embeddings, layers, final norm.
class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const CausalLMConfig& c);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(Decoder);

class CausalLMImpl : public torch::nn::Module {
 public:
  // Fresh random weights (N(0, initializer_range), norms = 1, biases = 0), float32.
  explicit CausalLMImpl(CausalLMConfig config);

  // input_ids [B, T] int64; attention_mask [B, T] (or [B, past + T] with a cache; 1 = token,
  // 0 = padding; left padding supported) or undefined; cache may be nullptr (no caching) and is
  // extended in place. Returns logits [B, T, vocab] in the parameters' dtype.
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                        KVCache* cache = nullptr);
  // Last hidden state after the final norm [B, T, hidden].
  torch::Tensor hidden_states(const torch::Tensor& input_ids,
                              const torch::Tensor& attention_mask = {}, KVCache* cache = nullptr);
  // Logits from hidden states (the LM head, tied or not).
  torch::Tensor lm_logits(const torch::Tensor& hidden);
  // Grows (or shrinks) the embedding and LM-head rows to new_vocab; new rows = mean of the old
  // rows + N(0, 1e-3 * std) noise from `seed`. Updates config().vocab_size.
  void resize_token_embeddings(int64_t new_vocab, uint64_t seed);
  // Rows for tokens just added to the tokenizer, whose ids are [old_tokens, new_tokens)
  // (old_tokens = the tokenizer's size before): grows the embedding and LM head to new_vocab rows
  // if they have fewer, and sets the rows of the new tokens and every grown row to the mean of the
  // rows [0, old_tokens) + N(0, 1e-3 * std) noise from `seed`. Checkpoints often ship spare rows
  // beyond their tokenizer (Qwen2: ~270); those never enter the mean, and the ones no new token
  // takes are left as they are. Updates config().vocab_size.
  void add_token_rows(int64_t old_tokens, int64_t new_tokens, int64_t new_vocab, uint64_t seed);
  const CausalLMConfig& config() const { return config_; }
  CausalLMConfig& mutable_config() { return config_; }
  // The LM head weight [vocab, hidden] (the embedding table when tied).
  torch::Tensor lm_head_weight() const;

  Decoder model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // nullptr when tie_word_embeddings

 private:
  CausalLMConfig config_;
};
TORCH_MODULE(CausalLM);

// HF checkpoint directory: config.json + model.safetensors or model-0000i-of-0000n.safetensors with
// model.safetensors.index.json; F32/BF16/F16 tensors, converted to `dtype`. grec::UserError naming
// the file and tensor for corrupt files, missing/unexpected tensors and shape mismatches.
CausalLM load_hf(const std::string& dir, torch::Dtype dtype = torch::kFloat32);
// Writes config.json + model.safetensors (sharded with an index when larger than
// max_shard_bytes; 0 = default 5 GB) in the parameters' dtype, metadata {"format": "pt"}.
// LoRA adapters must be merged first (merge_lora); an unmerged model is an error.
void save_hf(CausalLM& model, const std::string& dir);
void save_hf(CausalLM& model, const std::string& dir, int64_t max_shard_bytes);

}  // namespace grec::model
