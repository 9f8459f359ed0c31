// LoRA: a fresh adapter is a no-op, training touches only adapters (+ optional embeddings), merged
// weights give the unmerged forward, and the trainable-only state round-trips.
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/lora.h"
#include "tests/model/llm_test_util.h"

namespace grec::model {
namespace {

TEST(Lora, MergedEqualsUnmergedAndOnlyAdaptersTrain) {
  auto m = test::tiny_model(false, 9);
  auto ids = torch::tensor({{4, 8, 15, 16, 23, 42}}, torch::kLong);
  torch::Tensor base;
  {
    torch::NoGradGuard g;
    base = m->forward(ids);
  }
  LoraOptions o;
  o.r = 4;
  o.alpha = 8;
  o.dropout = 0;
  o.targets = {"q", "v", "o_proj", "gate", "down"};
  o.train_embeddings = true;
  apply_lora(m, o);
  {
    torch::NoGradGuard g;
    EXPECT_TRUE(torch::allclose(m->forward(ids), base));  // B = 0: no change yet
  }
  auto params = trainable_parameters(m);
  // 2 layers * 5 targets * (A, B) + embeddings.
  EXPECT_EQ(params.size(), 2u * 5 * 2 + 1);
  auto state = trainable_state(m);
  EXPECT_EQ(state[0].first, "model.embed_tokens.weight");
  bool has_name = false;
  for (auto& [n, t] : state) has_name |= n == "model.layers.1.self_attn.q_proj.lora_B.weight";
  EXPECT_TRUE(has_name);
  torch::optim::SGD opt(params, 0.5);
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    m->forward(ids).logsumexp(-1).mean().backward();
    opt.step();
  }
  EXPECT_FALSE(m->model->layers->ptr<DecoderLayerImpl>(0)->self_attn->k_proj->weight.grad().defined());
  torch::Tensor unmerged;
  {
    torch::NoGradGuard g;
    unmerged = m->forward(ids);
  }
  EXPECT_GT((unmerged - base).abs().max().item<double>(), 1e-3);
  // Trainable-only state restores the adapters in a fresh copy.
  auto saved = trainable_state(m);
  NamedTensorList copy;
  for (auto& [n, t] : saved) copy.emplace_back(n, t.clone());
  auto m2 = test::tiny_model(false, 9);
  apply_lora(m2, o);
  load_trainable_state(m2, copy);
  merge_lora(m);
  EXPECT_FALSE(has_lora(m));
  for (auto& p : m->named_parameters()) EXPECT_EQ(p.key().find("lora"), std::string::npos);
  torch::NoGradGuard g;
  EXPECT_LE((m->forward(ids) - unmerged).abs().max().item<double>(), 1e-5);
  EXPECT_LE((m2->forward(ids) - unmerged).abs().max().item<double>(), 1e-6);
  EXPECT_THROW(load_trainable_state(m2, {{"model.nope", torch::zeros({1})}}), UserError);
  LoraOptions bad;
  bad.targets = {"qkv"};
  auto m3 = test::tiny_model(false, 1);
  EXPECT_THROW(apply_lora(m3, bad), UserError);
}

}  // namespace
}  // namespace grec::model
