// Causal LM: logits equal an independent Python reference (HF equations) on tiny random LLaMA
// (GQA, untied) and Qwen2 (q/k/v bias, tied) checkpoints written by grec and by the reference;
// left padding; KV-cache decoding equals full recomputation; bf16 close to fp32.
#include <gtest/gtest.h>

#include <algorithm>

#include "model/causal_lm.h"
#include "tests/model/llm_test_util.h"

namespace grec::model {
namespace {

using test::TempDir;

torch::Tensor sample_ids() {
  return torch::tensor({3, 17, 42, 5, 9, 77, 1, 60, 11, 23, 31, 4, 8, 15, 16, 70},
                       torch::kLong).view({2, 8});
}

// Largest difference relative to b's scale (at least 1): fp32 rounding grows with the logits'
// size, and its exact value depends on the CPU's summation order.
void expect_close(const torch::Tensor& a, const torch::Tensor& b, double tol) {
  ASSERT_EQ(a.sizes(), b.sizes());
  const double scale = std::max(1.0, b.to(torch::kFloat).abs().max().item<double>());
  const double d = (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>();
  EXPECT_LE(d / scale, tol) << "max abs diff " << d << ", scale " << scale;
}

class ReferenceTest : public ::testing::TestWithParam<bool> {};

TEST_P(ReferenceTest, GrecWrittenCheckpointMatchesPython) {
  if (!test::python_torch_available()) GTEST_SKIP() << "python3 with torch not available";
  const bool qwen = GetParam();
  TempDir tmp;
  auto m = test::tiny_model(qwen, 7);
  save_hf(m, tmp.sub("ckpt"));
  auto loaded = load_hf(tmp.sub("ckpt"));
  loaded->eval();
  auto ids = sample_ids();
  torch::NoGradGuard g;
  auto ours = loaded->forward(ids);
  auto ref = test::reference_logits(tmp.sub("ckpt"), ids);
  expect_close(ours, ref, 1e-5);
  // Left padding: the padded row's real positions equal the reference with the same mask.
  auto mask = torch::ones({2, 8}, torch::kLong);
  mask[0].narrow(0, 0, 3).fill_(0);
  auto ours_m = loaded->forward(ids, mask);
  auto ref_m = test::reference_logits(tmp.sub("ckpt"), ids, mask);
  expect_close(ours_m.narrow(1, 3, 5), ref_m.narrow(1, 3, 5), 1e-5);
  expect_close(ours_m[1], ref_m[1], 1e-5);
  // And a left-padded row equals the unpadded row.
  auto solo = loaded->forward(ids[0].narrow(0, 3, 5).unsqueeze(0));
  expect_close(ours_m[0].narrow(0, 3, 5), solo[0], 1e-5);
}

TEST_P(ReferenceTest, PythonWrittenCheckpointMatches) {
  if (!test::python_torch_available()) GTEST_SKIP() << "python3 with torch not available";
  const bool qwen = GetParam();
  TempDir tmp;
  auto dir = tmp.sub("py");
  std::string cmd = "/usr/bin/python3 " + test::reference_script() + " write '" + dir +
                    "' --arch " + (qwen ? "qwen2" : "llama") + " --seed 3";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto m = load_hf(dir);
  m->eval();
  EXPECT_EQ(m->config().tie_word_embeddings, qwen);
  EXPECT_EQ(m->config().attention_bias, qwen);
  auto ids = torch::tensor({5, 90, 2, 33, 64, 7, 0, 95, 12, 40}, torch::kLong).view({2, 5});
  torch::NoGradGuard g;
  expect_close(m->forward(ids), test::reference_logits(dir, ids), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Families, ReferenceTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Qwen2" : "Llama"; });

TEST(CausalLM, KVCacheIncrementalEqualsFullWithLeftPadding) {
  for (bool qwen : {false, true}) {
    SCOPED_TRACE(qwen ? "qwen2" : "llama");
    auto m = test::tiny_model(qwen, 11);
    torch::NoGradGuard g;
    auto ids = sample_ids();
    auto mask = torch::ones({2, 8}, torch::kLong);
    mask[1].narrow(0, 0, 2).fill_(0);
    auto full = m->forward(ids, mask);
    // Prompt of 5 tokens, then one token at a time; masks passed for the new tokens only on odd
    // steps and for past+new on even ones (both conventions are accepted).
    KVCache cache;
    auto first = m->forward(ids.narrow(1, 0, 5), mask.narrow(1, 0, 5), &cache);
    // Padding positions are garbage by design (their query sees no key); real ones must match.
    expect_close(first[0], full[0].narrow(0, 0, 5), 1e-5);
    expect_close(first[1].narrow(0, 2, 3), full[1].narrow(0, 2, 3), 1e-5);
    for (int64_t t = 5; t < 8; ++t) {
      auto step_mask = (t % 2) ? mask.narrow(1, t, 1) : mask.narrow(1, 0, t + 1);
      auto step = m->forward(ids.narrow(1, t, 1), step_mask, &cache);
      SCOPED_TRACE("step " + std::to_string(t));
      expect_close(step, full.narrow(1, t, 1), 1e-5);
    }
    EXPECT_EQ(cache.length(), 8);
    // Reordering rows (beam search) keeps the cache consistent.
    KVCache c2;
    m->forward(ids.narrow(1, 0, 7), mask.narrow(1, 0, 7), &c2);
    c2.reorder(torch::tensor({1, 1, 0}, torch::kLong));
    auto step = m->forward(ids.index_select(0, torch::tensor({1, 1, 0}, torch::kLong)).narrow(1, 7, 1), {}, &c2);
    SCOPED_TRACE("after reorder");
    expect_close(step[0], full[1].narrow(0, 7, 1), 1e-5);
    expect_close(step[2], full[0].narrow(0, 7, 1), 1e-5);
  }
}

TEST(CausalLM, Bf16CloseToFp32) {
  auto m = test::tiny_model(false, 5);
  torch::NoGradGuard g;
  auto ids = sample_ids();
  auto f32 = m->forward(ids);
  m->to(torch::kBFloat16);
  auto b16 = m->forward(ids);
  EXPECT_EQ(b16.scalar_type(), torch::kBFloat16);
  double scale = f32.abs().max().item<double>();
  double d = (b16.to(torch::kFloat) - f32).abs().max().item<double>();
  EXPECT_LE(d, 0.05 * scale);
  EXPECT_GT(d, 0.0);  // really computed in bf16
}

TEST(CausalLM, ResizeTokenEmbeddingsKeepsOldRowsAndAddsMeanRows) {
  auto m = test::tiny_model(false, 2);
  auto old_e = m->model->embed_tokens->weight.detach().clone();
  m->resize_token_embeddings(128, 1);
  EXPECT_EQ(m->config().vocab_size, 128);
  EXPECT_EQ(m->model->embed_tokens->weight.size(0), 128);
  EXPECT_EQ(m->lm_head->weight.size(0), 128);
  EXPECT_TRUE(torch::equal(m->model->embed_tokens->weight.narrow(0, 0, 80), old_e));
  auto mean = old_e.mean(0);
  auto added = m->model->embed_tokens->weight.narrow(0, 80, 48).detach();
  EXPECT_LT((added - mean).abs().max().item<double>(), 0.01);
  EXPECT_FALSE(torch::equal(added[0], added[1]));
  torch::NoGradGuard g;
  EXPECT_EQ(m->forward(torch::tensor({{100, 3}}, torch::kLong)).size(2), 128);
}

TEST(CausalLM, BackwardReachesEveryParameter) {
  auto m = test::tiny_model(true, 3);
  m->train();
  auto logits = m->forward(sample_ids());
  logits.pow(2).mean().backward();
  for (auto& p : m->named_parameters())
    EXPECT_TRUE(p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0) << p.key();
}

}  // namespace
}  // namespace grec::model
