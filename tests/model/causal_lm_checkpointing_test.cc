// Activation checkpointing in CausalLM (config.activation_checkpointing): the gradients of every
// parameter must equal those of the ordinary backward, for llama and qwen2, with padding, with
// dropout (the RNG is replayed in the recomputation) and with frozen embeddings (parameter
// gradients still flow when the layer input does not require grad).
#include <map>
#include <set>
#include <vector>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/causal_lm.h"
#include "tests/model/llm_test_util.h"

namespace {

using grec::model::CausalLM;

// Loss and per-parameter gradients of one training step; `seed` fixes dropout.
std::map<std::string, torch::Tensor> grads_of(CausalLM& m, bool checkpointing,
                                              const torch::Tensor& ids, const torch::Tensor& mask,
                                              uint64_t seed, double* loss_out) {
  m->mutable_config().activation_checkpointing = checkpointing;
  m->train();
  m->zero_grad();
  torch::manual_seed(seed);
  auto logits = m->forward(ids, mask);
  const int64_t V = logits.size(-1), T = ids.size(1);
  auto loss = torch::nn::functional::cross_entropy(
      logits.narrow(1, 0, T - 1).reshape({-1, V}), ids.narrow(1, 1, T - 1).reshape({-1}));
  // Weight the loss by position-dependent random factors too, so every logit matters.
  loss = loss + (logits * torch::linspace(0.1, 1.0, V)).sum() * 1e-3;
  loss.backward();
  *loss_out = loss.item<double>();
  std::map<std::string, torch::Tensor> g;
  for (auto& p : m->named_parameters())
    g[p.key()] = p.value().grad().defined() ? p.value().grad().clone() : torch::Tensor();
  return g;
}

void expect_same_grads(CausalLM& m, const torch::Tensor& ids, const torch::Tensor& mask,
                       bool expect_embedding_grad = true) {
  double loss_plain = 0, loss_ckpt = 0;
  auto plain = grads_of(m, false, ids, mask, 7, &loss_plain);
  auto ckpt = grads_of(m, true, ids, mask, 7, &loss_ckpt);
  EXPECT_EQ(loss_plain, loss_ckpt);
  ASSERT_EQ(plain.size(), ckpt.size());
  int64_t compared = 0;
  for (const auto& [name, g] : plain) {
    const auto& h = ckpt.at(name);
    ASSERT_EQ(g.defined(), h.defined()) << name;
    if (!g.defined()) continue;
    EXPECT_GT(g.abs().max().item<double>(), 0) << name << " has a zero gradient";
    EXPECT_LE((g - h).abs().max().item<double>(), 1e-6) << name;
    ++compared;
  }
  // Every parameter that takes gradients got one (embedding included unless frozen).
  int64_t trainable = 0;
  for (auto& p : m->parameters()) trainable += p.requires_grad();
  EXPECT_EQ(compared, trainable);
  EXPECT_EQ(plain.at("model.embed_tokens.weight").defined(), expect_embedding_grad);
}

// Number of autograd nodes reachable from `t` whose name contains `what`.
int64_t count_nodes(const torch::Tensor& t, const std::string& what) {
  std::vector<torch::autograd::Node*> stack{t.grad_fn().get()};
  std::set<torch::autograd::Node*> seen;
  int64_t n = 0;
  while (!stack.empty()) {
    auto* node = stack.back();
    stack.pop_back();
    if (!node || !seen.insert(node).second) continue;
    if (node->name().find(what) != std::string::npos) ++n;
    for (const auto& e : node->next_edges()) stack.push_back(e.function.get());
  }
  return n;
}

torch::Tensor left_padded_mask() {
  return torch::tensor({{0, 0, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 1}}, torch::kLong);
}

torch::Tensor sample_ids(int64_t vocab) {
  torch::manual_seed(3);
  return torch::randint(0, vocab, {2, 8}, torch::kLong);
}

TEST(CausalLMCheckpointing, GraphHoldsOneCheckpointPerLayer) {
  auto m = grec::test::tiny_model(false, 16);
  m->train();
  auto ids = sample_ids(m->config().vocab_size);
  m->mutable_config().activation_checkpointing = true;
  auto with = m->forward(ids);
  m->mutable_config().activation_checkpointing = false;
  auto without = m->forward(ids);
  EXPECT_EQ(count_nodes(with, "CheckpointedLayer"), m->config().num_hidden_layers);
  EXPECT_EQ(count_nodes(without, "CheckpointedLayer"), 0);
  // The plain graph has the layers' softmax nodes; the checkpointed one does not.
  EXPECT_GT(count_nodes(without, "Softmax"), 0);
  EXPECT_EQ(count_nodes(with, "Softmax"), 0);
  EXPECT_TRUE(torch::allclose(with, without, 1e-6, 1e-6));
}

TEST(CausalLMCheckpointing, LlamaGradientsMatch) {
  auto m = grec::test::tiny_model(false, 11);
  expect_same_grads(m, sample_ids(m->config().vocab_size), left_padded_mask());
}

TEST(CausalLMCheckpointing, Qwen2GradientsMatch) {
  auto m = grec::test::tiny_model(true, 12);
  expect_same_grads(m, sample_ids(m->config().vocab_size), left_padded_mask());
}

TEST(CausalLMCheckpointing, NoMaskGradientsMatch) {
  auto m = grec::test::tiny_model(false, 13);
  expect_same_grads(m, sample_ids(m->config().vocab_size), {});
}

TEST(CausalLMCheckpointing, DropoutReplaysIdentically) {
  for (bool qwen : {false, true}) {
    auto c = grec::test::tiny_config(qwen);
    c.attention_dropout = c.residual_dropout = 0.3;
    torch::manual_seed(21);
    CausalLM m(c);
    expect_same_grads(m, sample_ids(c.vocab_size), left_padded_mask());
    // Dropout really is active: two steps with different seeds give different losses.
    double a = 0, b = 0;
    grads_of(m, true, sample_ids(c.vocab_size), {}, 1, &a);
    grads_of(m, true, sample_ids(c.vocab_size), {}, 2, &b);
    EXPECT_NE(a, b);
  }
}

TEST(CausalLMCheckpointing, FrozenEmbeddingsStillTrainLayers) {
  auto m = grec::test::tiny_model(false, 14);
  m->model->embed_tokens->weight.requires_grad_(false);
  expect_same_grads(m, sample_ids(m->config().vocab_size), left_padded_mask(),
                    /*expect_embedding_grad=*/false);
}

TEST(CausalLMCheckpointing, OffOutsideTrainingAndNoGrad) {
  // In eval mode / under no_grad the forward is the plain one: same logits, no graph.
  auto m = grec::test::tiny_model(true, 15);
  auto ids = sample_ids(m->config().vocab_size);
  m->mutable_config().activation_checkpointing = true;
  m->eval();
  auto with = m->forward(ids);
  m->mutable_config().activation_checkpointing = false;
  auto without = m->forward(ids);
  EXPECT_TRUE(torch::equal(with, without));
  m->mutable_config().activation_checkpointing = true;
  m->train();
  torch::NoGradGuard g;
  EXPECT_FALSE(m->forward(ids).requires_grad());
}

}  // namespace
