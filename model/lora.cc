// LoRA adapters on CausalLM projections: apply, merge, trainable-only state. See lora.h.
#include "model/lora.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "core/error.h"

namespace grec::model {

namespace {

std::string canonical_target(const std::string& t) {
  static const char* kNames[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  for (const char* n : kNames) {
    std::string s(n);
    if (t == s || t + "_proj" == s) return s;
  }
  user_error("lora target '{}' is not one of q, k, v, o, gate, up, down (or *_proj)", t);
}

// Every projection of the model with its short name.
std::vector<std::pair<std::string, Projection>> projections(CausalLM& model) {
  std::vector<std::pair<std::string, Projection>> out;
  for (size_t i = 0; i < model->model->layers->size(); ++i) {
    auto layer = model->model->layers->ptr<DecoderLayerImpl>(i);
    out.emplace_back("q_proj", layer->self_attn->q_proj);
    out.emplace_back("k_proj", layer->self_attn->k_proj);
    out.emplace_back("v_proj", layer->self_attn->v_proj);
    out.emplace_back("o_proj", layer->self_attn->o_proj);
    out.emplace_back("gate_proj", layer->mlp->gate_proj);
    out.emplace_back("up_proj", layer->mlp->up_proj);
    out.emplace_back("down_proj", layer->mlp->down_proj);
  }
  return out;
}

}  // namespace

void apply_lora(CausalLM& model, const LoraOptions& options) {
  if (options.r <= 0) user_error("lora r must be positive, got {}", options.r);
  if (has_lora(model)) user_error("the model already has LoRA adapters");
  std::set<std::string> targets;
  for (const auto& t : options.targets) targets.insert(canonical_target(t));
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  auto gen = at::detail::createCPUGenerator(options.seed);
  torch::NoGradGuard no_grad;
  for (auto& [name, proj] : projections(model)) {
    if (!targets.count(name)) continue;
    const int64_t in = proj->weight.size(1), out = proj->weight.size(0);
    auto opts = proj->weight.options();
    proj->lora_A = proj->register_module(
        "lora_A", torch::nn::Linear(torch::nn::LinearOptions(in, options.r).bias(false)));
    proj->lora_B = proj->register_module(
        "lora_B", torch::nn::Linear(torch::nn::LinearOptions(options.r, out).bias(false)));
    // PEFT's default: A ~ kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)); B = 0.
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    auto a = torch::rand({options.r, in}, gen, torch::TensorOptions().dtype(torch::kFloat)) * (2 * bound) - bound;
    proj->lora_A->weight.set_data(a.to(opts));
    proj->lora_B->weight.set_data(torch::zeros({out, options.r}, opts));
    proj->lora_A->weight.set_requires_grad(true);
    proj->lora_B->weight.set_requires_grad(true);
    proj->lora_scale = options.alpha / static_cast<double>(options.r);
    proj->lora_dropout = options.dropout;
  }
  if (options.train_embeddings) model->model->embed_tokens->weight.set_requires_grad(true);
  if (options.train_lm_head) model->lm_head_weight().set_requires_grad(true);
}

bool has_lora(CausalLM& model) {
  for (auto& [name, proj] : projections(model))
    if (proj->has_lora()) return true;
  return false;
}

void merge_lora(CausalLM& model) {
  torch::NoGradGuard no_grad;
  for (auto& [name, proj] : projections(model)) {
    if (!proj->has_lora()) continue;
    // Merge in fp32 so bf16 bases lose no more than one rounding.
    auto delta = torch::matmul(proj->lora_B->weight.to(torch::kFloat), proj->lora_A->weight.to(torch::kFloat)) *
                 proj->lora_scale;
    proj->weight.copy_((proj->weight.to(torch::kFloat) + delta).to(proj->weight.scalar_type()));
    proj->unregister_module("lora_A");
    proj->unregister_module("lora_B");
    proj->lora_A = torch::nn::Linear(nullptr);
    proj->lora_B = torch::nn::Linear(nullptr);
    proj->lora_scale = 0;
    proj->lora_dropout = 0;
  }
  for (auto& p : model->parameters()) p.set_requires_grad(true);
}

std::vector<torch::Tensor> trainable_parameters(CausalLM& model) {
  std::vector<torch::Tensor> out;
  for (auto& p : model->parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

NamedTensorList trainable_state(CausalLM& model) {
  NamedTensorList out;
  for (auto& p : model->named_parameters())
    if (p.value().requires_grad()) out.emplace_back(p.key(), p.value().detach());
  return out;
}

void load_trainable_state(CausalLM& model, const NamedTensorList& state) {
  auto params = model->named_parameters();
  std::set<std::string> seen;
  torch::NoGradGuard no_grad;
  for (const auto& [name, value] : state) {
    auto* p = params.find(name);
    if (!p) user_error("trainable state: unknown tensor '{}'", name);
    if (p->sizes() != value.sizes())
      user_error("trainable state: tensor '{}' has shape [{}] but the model needs [{}]", name,
                 fmt::join(value.sizes(), ", "), fmt::join(p->sizes(), ", "));
    p->copy_(value);
    seen.insert(name);
  }
  for (auto& p : params)
    if (p.value().requires_grad() && !seen.count(p.key()))
      user_error("trainable state: missing tensor '{}'", p.key());
}

}  // namespace grec::model
