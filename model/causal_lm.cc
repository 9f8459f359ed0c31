// Decoder-only causal LM (LLaMA / Qwen2 / Mistral) with HF parameter names; see causal_lm.h.
#include "model/causal_lm.h"

#include <ATen/CPUGeneratorImpl.h>

#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>

#include "core/error.h"

namespace grec::model {

namespace {

template <typename T>
T json_or(const nlohmann::json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->get<T>();
}

int64_t token_id(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return -1;
  // Some configs list several eos ids; the first is the canonical one.
  if (it->is_array()) return it->empty() ? -1 : (*it)[0].get<int64_t>();
  return it->get<int64_t>();
}

// HF rotate_half: (x1, x2) -> (-x2, x1) over the two halves of the last dimension.
torch::Tensor rotate_half(const torch::Tensor& x) {
  auto half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half);
  auto x2 = x.narrow(-1, half, half);
  return torch::cat({-x2, x1}, -1);
}

// Whether the projections reading the same input can run as one GEMM over their concatenated
// weights: not with LoRA adapters (they have their own path), and only for enough tokens that the
// weight copy is cheap next to the GEMM (single-token decoding keeps the separate projections).
bool use_fused_projection(int64_t tokens, std::initializer_list<const ProjectionImpl*> projections) {
  constexpr int64_t kMinTokens = 16;
  if (tokens < kMinTokens) return false;
  for (const auto* p : projections)
    if (p->has_lora()) return false;
  return true;
}

// The window as HF applies it per family: Mistral windows every layer whenever sliding_window is
// set (its config class defaults to 4096 when the key is absent); Qwen2 only with
// use_sliding_window, and only in the layers from max_window_layers on (or the ones layer_types
// marks "sliding_attention"); LLaMA has no window.
void read_sliding_window(const nlohmann::json& j, CausalLMConfig& c) {
  if (c.model_type == "llama") return;
  int64_t window = 0;
  if (c.model_type == "mistral")
    window = j.contains("sliding_window") ? json_or<int64_t>(j, "sliding_window", 0) : 4096;
  else if (json_or<bool>(j, "use_sliding_window", false))
    window = json_or<int64_t>(j, "sliding_window", 0);
  if (window < 0) user_error("config.json: sliding_window must be positive or null, got {}", window);
  if (window == 0) return;
  c.sliding_window = window;
  if (c.model_type != "qwen2") return;
  c.max_window_layers = json_or<int64_t>(j, "max_window_layers", 28);
  auto it = j.find("layer_types");
  if (it == j.end() || it->is_null()) return;
  // grec keeps the windowed layers as one suffix of the stack; other layouts are refused rather
  // than computed differently from HF.
  const auto bad = [&]() {
    user_error("config.json: layer_types {} is not supported with use_sliding_window (grec needs "
               "{} entries, \"full_attention\" layers first and then \"sliding_attention\" ones)",
               it->dump(), c.num_hidden_layers);
  };
  if (!it->is_array() || static_cast<int64_t>(it->size()) != c.num_hidden_layers) bad();
  int64_t first = c.num_hidden_layers;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const auto& t = (*it)[i];
    if (!t.is_string()) bad();
    const std::string kind = t.get<std::string>();
    if (kind == "sliding_attention") first = std::min(first, i);
    else if (kind != "full_attention" || first < c.num_hidden_layers) bad();
  }
  c.max_window_layers = first;
}

}  // namespace

CausalLMConfig CausalLMConfig::from_json(const nlohmann::json& j) {
  CausalLMConfig c;
  std::string arch;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty())
    arch = j["architectures"][0].get<std::string>();
  std::string type = json_or<std::string>(j, "model_type", "");
  if (arch.empty()) {
    if (type == "qwen2") arch = "Qwen2ForCausalLM";
    else if (type == "mistral") arch = "MistralForCausalLM";
    else if (type == "llama") arch = "LlamaForCausalLM";
  }
  if (arch == "LlamaForCausalLM") {
    c.model_type = "llama";
    c.attention_bias = json_or<bool>(j, "attention_bias", false);
  } else if (arch == "Qwen2ForCausalLM") {
    c.model_type = "qwen2";
    c.attention_bias = true;
  } else if (arch == "MistralForCausalLM") {
    c.model_type = "mistral";
    c.attention_bias = false;
  } else {
    user_error("config.json: unsupported architecture '{}' (supported: LlamaForCausalLM, "
               "Qwen2ForCausalLM, MistralForCausalLM)", arch);
  }
  c.architecture = arch;
  c.vocab_size = json_or<int64_t>(j, "vocab_size", c.vocab_size);
  c.hidden_size = json_or<int64_t>(j, "hidden_size", c.hidden_size);
  c.intermediate_size = json_or<int64_t>(j, "intermediate_size", c.intermediate_size);
  c.num_hidden_layers = json_or<int64_t>(j, "num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = json_or<int64_t>(j, "num_attention_heads", c.num_attention_heads);
  c.num_key_value_heads = json_or<int64_t>(j, "num_key_value_heads", c.num_attention_heads);
  c.attention_head_dim = json_or<int64_t>(j, "head_dim", 0);
  c.max_position_embeddings =
      json_or<int64_t>(j, "max_position_embeddings", c.max_position_embeddings);
  c.rms_norm_eps = json_or<double>(j, "rms_norm_eps", c.rms_norm_eps);
  c.rope_theta = json_or<double>(j, "rope_theta", c.rope_theta);
  c.tie_word_embeddings = json_or<bool>(j, "tie_word_embeddings", false);
  c.bos_token_id = token_id(j, "bos_token_id");
  c.eos_token_id = token_id(j, "eos_token_id");
  c.pad_token_id = token_id(j, "pad_token_id");
  c.torch_dtype = json_or<std::string>(j, "torch_dtype", "float32");
  c.initializer_range = json_or<double>(j, "initializer_range", c.initializer_range);
  c.attention_dropout = json_or<double>(j, "attention_dropout", 0.0);
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    user_error("config.json: rope_scaling is not supported (found {})", j["rope_scaling"].dump());
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.num_attention_heads <= 0 ||
      c.attention_head_dim < 0 ||
      (c.attention_head_dim == 0 && c.hidden_size % c.num_attention_heads != 0) ||
      c.num_key_value_heads <= 0 || c.num_attention_heads % c.num_key_value_heads != 0 ||
      c.head_dim() % 2 != 0)
    user_error("config.json: inconsistent sizes (hidden_size {}, num_attention_heads {}, "
               "num_key_value_heads {}, head_dim {}, vocab_size {})", c.hidden_size,
               c.num_attention_heads, c.num_key_value_heads, c.head_dim(), c.vocab_size);
  read_sliding_window(j, c);
  return c;
}

nlohmann::json CausalLMConfig::to_json() const {
  nlohmann::json j;
  j["architectures"] = {architecture};
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  if (attention_head_dim > 0) j["head_dim"] = attention_head_dim;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["hidden_act"] = "silu";
  j["initializer_range"] = initializer_range;
  j["attention_dropout"] = attention_dropout;
  j["use_cache"] = true;
  j["torch_dtype"] = torch_dtype;
  if (model_type == "llama") {
    j["attention_bias"] = attention_bias;
    j["mlp_bias"] = false;
  }
  const auto window = sliding_window > 0 ? nlohmann::json(sliding_window) : nlohmann::json(nullptr);
  if (model_type == "qwen2") {
    j["use_sliding_window"] = sliding_window > 0;
    j["sliding_window"] = window;
    j["max_window_layers"] = sliding_window > 0 ? max_window_layers : num_hidden_layers;
  }
  if (model_type == "mistral") j["sliding_window"] = window;
  j["bos_token_id"] = bos_token_id >= 0 ? nlohmann::json(bos_token_id) : nlohmann::json(nullptr);
  j["eos_token_id"] = eos_token_id >= 0 ? nlohmann::json(eos_token_id) : nlohmann::json(nullptr);
  if (pad_token_id >= 0) j["pad_token_id"] = pad_token_id;
  return j;
}

void KVCache::reorder(const torch::Tensor& beam_index) {
  for (auto& k : keys)
    if (k.defined()) k = k.index_select(0, beam_index.to(k.device()));
  for (auto& v : values)
    if (v.defined()) v = v.index_select(0, beam_index.to(v.device()));
  if (attention_mask.defined())
    attention_mask = attention_mask.index_select(0, beam_index.to(attention_mask.device()));
}

ProjectionImpl::ProjectionImpl(int64_t in, int64_t out, bool with_bias) {
  weight = register_parameter("weight", torch::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out}));
}

torch::Tensor ProjectionImpl::forward(const torch::Tensor& x) {
  auto y = torch::linear(x, weight, bias);
  if (has_lora()) {
    auto h = lora_dropout > 0 && is_training() ? torch::dropout(x, lora_dropout, true) : x;
    y = y + lora_B(lora_A(h)) * lora_scale;
  }
  return y;
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // Statistics in fp32 and the scale applied after casting back, exactly as HF's LlamaRMSNorm.
  auto xf = x.to(torch::kFloat);
  auto var = xf.pow(2).mean(-1, /*keepdim=*/true);
  xf = xf * torch::rsqrt(var + eps);
  return weight * xf.to(x.scalar_type());
}

AttentionImpl::AttentionImpl(const CausalLMConfig& c)
    : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim()),
      dropout_(c.attention_dropout) {
  q_proj = register_module("q_proj", Projection(c.hidden_size, heads_ * head_dim_, c.attention_bias));
  k_proj = register_module("k_proj", Projection(c.hidden_size, kv_heads_ * head_dim_, c.attention_bias));
  v_proj = register_module("v_proj", Projection(c.hidden_size, kv_heads_ * head_dim_, c.attention_bias));
  o_proj = register_module("o_proj", Projection(heads_ * head_dim_, c.hidden_size, false));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                     const torch::Tensor& sin, const torch::Tensor& mask,
                                     const torch::Tensor& past_k, const torch::Tensor& past_v,
                                     torch::Tensor* new_k, torch::Tensor* new_v) {
  const int64_t B = x.size(0), T = x.size(1);
  const int64_t qn = heads_ * head_dim_, kvn = kv_heads_ * head_dim_;
  auto c = cos.unsqueeze(2), s = sin.unsqueeze(2);  // [B, T, 1, head_dim]
  torch::Tensor q, k, v;
  if (use_fused_projection(B * T, {q_proj.get(), k_proj.get(), v_proj.get()})) {
    // One GEMM for q, k and v (the concatenated weights cost a copy of the weights, small next to
    // the activations once there are a few dozen tokens), and one RoPE pass over the q and k heads
    // together (they are adjacent in the fused output).
    auto w = torch::cat({q_proj->weight, k_proj->weight, v_proj->weight}, 0);
    auto b = q_proj->bias.defined() ? torch::cat({q_proj->bias, k_proj->bias, v_proj->bias}, 0)
                                    : torch::Tensor();
    auto qkv = torch::linear(x, w, b);
    auto qk = qkv.narrow(-1, 0, qn + kvn).view({B, T, heads_ + kv_heads_, head_dim_});
    qk = qk * c + rotate_half(qk) * s;
    q = qk.narrow(2, 0, heads_);
    k = qk.narrow(2, heads_, kv_heads_);
    v = qkv.narrow(-1, qn + kvn, kvn).view({B, T, kv_heads_, head_dim_});
  } else {
    q = q_proj(x).view({B, T, heads_, head_dim_});
    k = k_proj(x).view({B, T, kv_heads_, head_dim_});
    v = v_proj(x).view({B, T, kv_heads_, head_dim_});
    q = q * c + rotate_half(q) * s;
    k = k * c + rotate_half(k) * s;
  }
  q = q.transpose(1, 2);  // [B, heads, T, head_dim]
  k = k.transpose(1, 2);
  v = v.transpose(1, 2);
  if (past_k.defined()) {
    k = torch::cat({past_k, k}, 2);
    v = torch::cat({past_v, v}, 2);
  }
  if (new_k) *new_k = k;
  if (new_v) *new_v = v;
  const int64_t S = k.size(2), rep = heads_ / kv_heads_;
  // Grouped-query attention without copying K/V: the `rep` query heads of a group are stacked
  // along the time axis and attend to their shared kv head.
  auto qg = q.reshape({B, kv_heads_, rep * T, head_dim_});
  auto raw = torch::matmul(qg, k.transpose(2, 3)).view({B, heads_, T, S});
  // Scale and additive mask in one kernel (mask + scale * raw).
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim_));
  auto scores = mask.defined() ? torch::add(mask, raw, scale) : raw * scale;
  auto probs = torch::softmax(scores, -1, torch::kFloat).to(q.scalar_type());
  if (dropout_ > 0 && is_training()) probs = torch::dropout(probs, dropout_, true);
  auto out = torch::matmul(probs.view({B, kv_heads_, rep * T, S}), v)
                 .view({B, heads_, T, head_dim_})
                 .transpose(1, 2)
                 .reshape({B, T, qn});
  return o_proj(out);
}

MLPImpl::MLPImpl(const CausalLMConfig& c) {
  gate_proj = register_module("gate_proj", Projection(c.hidden_size, c.intermediate_size, false));
  up_proj = register_module("up_proj", Projection(c.hidden_size, c.intermediate_size, false));
  down_proj = register_module("down_proj", Projection(c.intermediate_size, c.hidden_size, false));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  if (use_fused_projection(x.numel() / x.size(-1), {gate_proj.get(), up_proj.get()})) {
    // gate and up in one GEMM.
    const int64_t n = gate_proj->weight.size(0);
    auto gu = torch::linear(x, torch::cat({gate_proj->weight, up_proj->weight}, 0));
    return down_proj(torch::silu(gu.narrow(-1, 0, n)) * gu.narrow(-1, n, n));
  }
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

DecoderLayerImpl::DecoderLayerImpl(const CausalLMConfig& c)
    : residual_dropout_(c.residual_dropout), attention_dropout_(c.attention_dropout) {
  self_attn = register_module("self_attn", Attention(c));
  mlp = register_module("mlp", MLP(c));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                        const torch::Tensor& sin, const torch::Tensor& mask,
                                        const torch::Tensor& past_k, const torch::Tensor& past_v,
                                        torch::Tensor* new_k, torch::Tensor* new_v) {
  const bool drop = residual_dropout_ > 0 && is_training();
  auto a = self_attn(input_layernorm(x), cos, sin, mask, past_k, past_v, new_k, new_v);
  if (drop) a = torch::dropout(a, residual_dropout_, true);
  auto h = x + a;
  auto m = mlp(post_attention_layernorm(h));
  if (drop) m = torch::dropout(m, residual_dropout_, true);
  return h + m;
}

namespace {

// Activation checkpointing of one decoder layer (LibTorch has no torch.utils.checkpoint). The
// forward runs without building a graph and keeps only the layer input; the backward re-runs the
// layer with grad enabled and differentiates it. The layer's parameters are inputs of the Function,
// so their gradients flow through autograd as usual (AccumulateGrad, hooks, frozen parameters)
// and the backward also runs when only parameters require grad (e.g. LoRA on frozen embeddings).
// Dropout replays identically: the CPU generator state is saved in the forward and restored
// around the recomputation.
class CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& cos, const torch::Tensor& sin,
                               const c10::optional<torch::Tensor>& mask, DecoderLayerImpl* layer,
                               torch::TensorList params) {
    // Function::apply already disables grad mode here, so nothing of the layer is saved.
    // The layer outlives its graph (it belongs to the model); a raw address is the only way to
    // carry a module through saved_data.
    ctx->saved_data["layer"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(layer));
    ctx->saved_data["num_params"] = static_cast<int64_t>(params.size());
    ctx->saved_data["has_mask"] = mask.has_value();
    const bool random = layer->uses_dropout();
    ctx->saved_data["rng"] = random;
    if (random) {
      TORCH_CHECK(x.device().is_cpu(),
                  "activation checkpointing with dropout is only implemented on CPU");
      at::Generator gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      ctx->saved_data["rng_state"] = gen.get_state();
    }
    torch::Tensor m = mask.has_value() ? *mask : torch::Tensor();
    ctx->save_for_backward({x, cos, sin, m});
    return layer->forward(x, cos, sin, m, {}, {}, nullptr, nullptr);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(
        static_cast<intptr_t>(ctx->saved_data["layer"].toInt()));
    const auto saved = ctx->get_saved_variables();
    const bool has_mask = ctx->saved_data["has_mask"].toBool();
    const auto params = layer->parameters();
    TORCH_CHECK(static_cast<int64_t>(params.size()) == ctx->saved_data["num_params"].toInt(),
                "the checkpointed layer's parameters changed between forward and backward");

    at::Generator gen = at::detail::getDefaultCPUGenerator();
    torch::Tensor outer_state;
    const bool random = ctx->saved_data["rng"].toBool();
    if (random) {
      std::lock_guard<std::mutex> lock(gen.mutex());
      outer_state = gen.get_state();
      gen.set_state(ctx->saved_data["rng_state"].toTensor());
    }
    torch::Tensor x = saved[0].detach().requires_grad_(true);
    torch::Tensor y;
    {
      torch::AutoGradMode enable(true);
      y = layer->forward(x, saved[1], saved[2], has_mask ? saved[3] : torch::Tensor(), {}, {},
                         nullptr, nullptr);
    }
    if (random) {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(outer_state);
    }
    // Differentiate w.r.t. the input and the parameters that take gradients.
    std::vector<torch::Tensor> inputs{x};
    std::vector<size_t> which;
    for (size_t i = 0; i < params.size(); ++i)
      if (params[i].requires_grad()) {
        inputs.push_back(params[i]);
        which.push_back(i);
      }
    auto grads = torch::autograd::grad({y}, inputs, {grad_out[0]}, /*retain_graph=*/false,
                                       /*create_graph=*/false, /*allow_unused=*/true);
    // One gradient per forward input: x, cos, sin, mask, layer, then each parameter.
    torch::autograd::variable_list out(5 + params.size());
    out[0] = grads[0];
    for (size_t j = 0; j < which.size(); ++j) out[5 + which[j]] = grads[1 + j];
    return out;
  }
};

}  // namespace

bool DecoderLayerImpl::uses_dropout() const {
  if (!is_training()) return false;
  if (residual_dropout_ > 0 || attention_dropout_ > 0) return true;
  for (const auto& p : {self_attn->q_proj, self_attn->k_proj, self_attn->v_proj, self_attn->o_proj,
                        mlp->gate_proj, mlp->up_proj, mlp->down_proj})
    if (p->has_lora() && p->lora_dropout > 0) return true;
  return false;
}

DecoderImpl::DecoderImpl(const CausalLMConfig& c) {
  embed_tokens = register_module(
      "embed_tokens", torch::nn::Embedding(torch::nn::EmbeddingOptions(c.vocab_size, c.hidden_size)));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(DecoderLayer(c));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

CausalLMImpl::CausalLMImpl(CausalLMConfig config) : config_(std::move(config)) {
  const auto& c = config_;
  GREC_CHECK((c.attention_head_dim > 0 || c.hidden_size % c.num_attention_heads == 0) &&
                 c.num_attention_heads % c.num_key_value_heads == 0 && c.head_dim() % 2 == 0,
             "inconsistent attention sizes: hidden {} heads {} kv heads {} head_dim {}",
             c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim());
  model = register_module("model", Decoder(c));
  if (!c.tie_word_embeddings)
    lm_head = register_module(
        "lm_head", torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, c.vocab_size).bias(false)));
  torch::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    const auto& name = p.key();
    if (name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0) p.value().zero_();
    else if (name.find("norm.weight") != std::string::npos) p.value().fill_(1.0);
    else p.value().normal_(0.0, c.initializer_range);
  }
}

torch::Tensor CausalLMImpl::lm_head_weight() const {
  return config_.tie_word_embeddings ? model->embed_tokens->weight : lm_head->weight;
}

torch::Tensor CausalLMImpl::lm_logits(const torch::Tensor& hidden) {
  return torch::linear(hidden, lm_head_weight());
}

torch::Tensor CausalLMImpl::forward(const torch::Tensor& input_ids,
                                    const torch::Tensor& attention_mask, KVCache* cache) {
  return lm_logits(hidden_states(input_ids, attention_mask, cache));
}

torch::Tensor CausalLMImpl::hidden_states(const torch::Tensor& input_ids,
                                          const torch::Tensor& attention_mask, KVCache* cache) {
  TORCH_CHECK(input_ids.dim() == 2, "input_ids must be [B, T], got ", input_ids.sizes());
  const auto& c = config_;
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  const int64_t past = cache ? cache->length() : 0;
  const int64_t S = past + T;
  auto dev = input_ids.device();
  auto x = model->embed_tokens(input_ids);
  const auto dtype = x.scalar_type();

  // The mask of every key position [B, S] (undefined = all tokens).
  torch::Tensor full_mask;
  if (attention_mask.defined()) {
    auto m = attention_mask.to(dev, torch::kLong);
    TORCH_CHECK(m.dim() == 2 && m.size(0) == B && (m.size(1) == T || m.size(1) == S),
                "attention_mask must be [B, T] or [B, past + T], got ", m.sizes(), " with past ",
                past, " and T ", T);
    if (m.size(1) == S) full_mask = m;
    else if (past == 0) full_mask = m;
    else {
      auto prev = cache->attention_mask.defined()
                      ? cache->attention_mask
                      : torch::ones({B, past}, torch::TensorOptions().dtype(torch::kLong).device(dev));
      full_mask = torch::cat({prev, m}, 1);
    }
  } else if (cache && cache->attention_mask.defined()) {
    full_mask = torch::cat(
        {cache->attention_mask, torch::ones({B, T}, cache->attention_mask.options())}, 1);
  }

  // Positions count real tokens only (HF: cumsum(mask) - 1, padding slots get 1).
  torch::Tensor pos;
  if (full_mask.defined()) {
    auto p = full_mask.cumsum(1) - 1;
    p = p.masked_fill(full_mask == 0, 1);
    pos = p.narrow(1, past, T);
  } else {
    pos = torch::arange(past, S, torch::TensorOptions().dtype(torch::kLong).device(dev))
              .unsqueeze(0)
              .expand({B, T});
  }
  const int64_t hd = c.head_dim();
  auto fopt = torch::TensorOptions().dtype(torch::kFloat).device(dev);
  auto inv_freq = 1.0 / torch::pow(c.rope_theta,
                                   torch::arange(0, hd, 2, torch::TensorOptions().dtype(torch::kLong).device(dev))
                                           .to(torch::kFloat) / static_cast<double>(hd));
  auto freqs = pos.to(torch::kFloat).unsqueeze(-1) * inv_freq.to(fopt);  // [B, T, hd/2]
  auto emb = torch::cat({freqs, freqs}, -1);
  auto cos = emb.cos().to(dtype), sin = emb.sin().to(dtype);

  // Additive mask [B, 1, T, S]: key j visible from query i when j <= past + i and j is a token;
  // sliding-window layers also need past + i - j < sliding_window. Distances count cache slots,
  // padding included, as HF does (left padding leaves the distance between tokens unchanged).
  // window_mask stays undefined while no query reaches past the window.
  torch::Tensor mask, window_mask;
  const bool windowed = c.sliding_window > 0 && S > c.sliding_window;
  if (T > 1 || full_mask.defined() || windowed) {
    auto qi = torch::arange(past, S, torch::TensorOptions().dtype(torch::kLong).device(dev)).unsqueeze(1);
    auto kj = torch::arange(0, S, torch::TensorOptions().dtype(torch::kLong).device(dev)).unsqueeze(0);
    auto allowed = (kj <= qi).unsqueeze(0).unsqueeze(0);  // [1, 1, T, S]
    if (full_mask.defined()) allowed = allowed & (full_mask != 0).view({B, 1, 1, S});
    double lowest = dtype == torch::kBFloat16 ? -3.3895313892515355e38
                    : dtype == torch::kHalf   ? -65504.0
                    : dtype == torch::kDouble ? std::numeric_limits<double>::lowest()
                                              : static_cast<double>(std::numeric_limits<float>::lowest());
    auto additive = [&](const torch::Tensor& ok) {
      return torch::zeros(ok.sizes(), torch::TensorOptions().dtype(dtype).device(dev))
          .masked_fill(ok.logical_not(), lowest);
    };
    mask = additive(allowed);
    if (windowed) window_mask = additive(allowed & (kj > qi - c.sliding_window).unsqueeze(0).unsqueeze(0));
  }

  const auto n = model->layers->size();
  // Checkpointing only pays off when a graph is being built; a KV cache (decoding) never uses it.
  const bool checkpoint = c.activation_checkpointing && is_training() && torch::GradMode::is_enabled() && !cache;
  if (cache) {
    cache->keys.resize(n);
    cache->values.resize(n);
  }
  for (size_t i = 0; i < n; ++i) {
    auto layer = model->layers->ptr<DecoderLayerImpl>(i);
    const auto& layer_mask =
        window_mask.defined() && c.windowed_layer(static_cast<int64_t>(i)) ? window_mask : mask;
    torch::Tensor pk, pv;
    if (cache) {
      pk = cache->keys[i];
      pv = cache->values[i];
    }
    if (checkpoint) {
      auto params = layer->parameters();
      x = CheckpointedLayer::apply(
          x, cos, sin, layer_mask.defined() ? c10::optional<torch::Tensor>(layer_mask) : c10::nullopt,
          layer.get(), torch::TensorList(params));
      continue;
    }
    x = layer->forward(x, cos, sin, layer_mask, pk, pv, cache ? &cache->keys[i] : nullptr,
                       cache ? &cache->values[i] : nullptr);
  }
  if (cache) {
    cache->attention_mask = full_mask.defined()
                                ? full_mask
                                : torch::ones({B, S}, torch::TensorOptions().dtype(torch::kLong).device(dev));
  }
  return model->norm(x);
}

void CausalLMImpl::resize_token_embeddings(int64_t new_vocab, uint64_t seed) {
  TORCH_CHECK(new_vocab > 0, "new vocabulary size must be positive, got ", new_vocab);
  const int64_t old = config_.vocab_size;
  if (new_vocab >= old) {
    add_token_rows(old, old, new_vocab, seed);
    return;
  }
  auto shrink = [&](torch::Tensor& w) {
    auto nw = w.detach().narrow(0, 0, new_vocab).clone();
    torch::NoGradGuard no_grad;
    w.set_data(nw);
  };
  shrink(model->embed_tokens->weight);
  model->embed_tokens->options.num_embeddings(new_vocab);
  if (lm_head) {
    shrink(lm_head->weight);
    lm_head->options.out_features(new_vocab);
  }
  config_.vocab_size = new_vocab;
}

void CausalLMImpl::add_token_rows(int64_t old_tokens, int64_t new_tokens, int64_t new_vocab,
                                  uint64_t seed) {
  const int64_t old = model->embed_tokens->weight.size(0);
  TORCH_CHECK(old_tokens > 0 && old_tokens <= new_tokens,
              "add_token_rows: bad token range [", old_tokens, ", ", new_tokens, ")");
  const int64_t rows = std::max({old, new_vocab, new_tokens});
  // The rows that get the mean: the new tokens' and every grown one; an untouched spare row of
  // the checkpoint in between keeps its values.
  std::vector<std::pair<int64_t, int64_t>> fresh;
  if (new_tokens <= old) fresh = {{old_tokens, new_tokens}, {old, rows}};
  else fresh = {{std::min(old_tokens, old), rows}};
  auto gen = at::detail::createCPUGenerator(seed);
  auto fill = [&](torch::Tensor& w) {
    auto src = w.detach();
    auto known = src.narrow(0, 0, std::min(old_tokens, old)).to(torch::kFloat).cpu();
    auto mean = known.mean(0, true);
    const double std = known.std().item<double>();
    torch::Tensor nw = rows > old
                           ? torch::cat({src, torch::empty({rows - old, src.size(1)}, src.options())}, 0)
                           : src.clone();
    for (const auto& [begin, end] : fresh) {
      if (end <= begin) continue;
      auto noise = torch::randn({end - begin, src.size(1)}, gen, torch::TensorOptions().dtype(torch::kFloat));
      nw.narrow(0, begin, end - begin).copy_(mean + noise * (1e-3 * std));
    }
    torch::NoGradGuard no_grad;
    w.set_data(nw);
  };
  fill(model->embed_tokens->weight);
  model->embed_tokens->options.num_embeddings(rows);
  if (lm_head) {
    fill(lm_head->weight);
    lm_head->options.out_features(rows);
  }
  config_.vocab_size = rows;
}

}  // namespace grec::model
