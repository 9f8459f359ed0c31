// AlignTask's loss: the per-sample mean over response tokens (the default) and the per-token form
// (align.loss: token), each checked against the same sum written out token by token.
#include <gtest/gtest.h>

#include <random>

#include "stages/align_task.h"
#include "tests/model/llm_test_util.h"
#include "tests/mpi/trainer_test_task.h"

namespace {

constexpr int64_t kVocab = 64;

// Prompts over ids 4..29; responses of 1..6 tokens over 30..59, then eos (2).
std::vector<grec::data::TokenizedSample> samples() {
  std::mt19937_64 rng(5);
  std::vector<grec::data::TokenizedSample> out;
  for (int i = 0; i < 9; ++i) {
    grec::data::TokenizedSample s;
    s.ids.push_back(1);
    for (int t = 0, n = 2 + static_cast<int>(rng() % 6); t < n; ++t) {
      s.ids.push_back(4 + static_cast<int64_t>(rng() % 26));
    }
    s.prompt_len = static_cast<int64_t>(s.ids.size());
    for (int t = 0, n = 1 + i % 6; t < n; ++t) s.ids.push_back(30 + static_cast<int64_t>(rng() % 30));
    s.ids.push_back(2);
    out.push_back(std::move(s));
  }
  return out;
}

// Σ over samples of Σ over response tokens of nll × weight(sample), one forward per sample.
double reference_loss(grec::model::CausalLM& lm, const std::vector<grec::data::TokenizedSample>& all,
                      bool token) {
  double response_tokens = 0;
  for (const auto& s : all) response_tokens += double(s.ids.size() - s.prompt_len);
  double total = 0;
  torch::NoGradGuard no_grad;
  for (const auto& s : all) {
    const int64_t len = static_cast<int64_t>(s.ids.size());
    torch::Tensor x = torch::tensor(s.ids, torch::kLong).view({1, len});
    torch::Tensor logp = torch::log_softmax(lm->forward(x)[0].to(torch::kDouble), -1);
    const double n_resp = double(len - s.prompt_len);
    const double w = token ? double(all.size()) / response_tokens : 1.0 / n_resp;
    for (int64_t t = s.prompt_len - 1; t < len - 1; ++t) {
      total -= w * logp[t][s.ids[t + 1]].item<double>();
    }
  }
  return total;
}

double task_loss(bool token) {
  grec::testing::LocalCommunicator comm;
  const std::vector<int64_t> codes = {0, 1, 2, 3};
  const auto trie = grec::tok::PrefixTrie::build(codes, 2, 2);
  std::vector<std::vector<int64_t>> token_ids = {{30, 31}, {32, 33}};
  grec::stages::AlignEvalSet valid{{{1, 4, 5}}, {0}};
  grec::eval::GenerativeOptions gen;
  auto lm = grec::test::peaked_lm(3, kVocab);
  const auto all = samples();
  // chunk_tokens 24: several padded forwards, so padding and chunking are part of the check.
  grec::stages::AlignTask task(lm, all, valid, trie, token_ids, gen, 24, 0, comm, token);
  grec::train::Batch batch;
  for (int64_t i = 0; i < task.num_samples(); ++i) batch.indices.push_back(i);
  torch::NoGradGuard no_grad;
  const double got = task.loss_sum(batch).item<double>();
  const double want = reference_loss(lm, all, token);
  EXPECT_NEAR(got, want, 1e-4 * std::abs(want)) << (token ? "token" : "sample");
  return got;
}

TEST(AlignTaskLoss, PerSampleMeanMatchesTheTokenSum) { task_loss(false); }

TEST(AlignTaskLoss, PerTokenWeightsEveryResponseTokenTheSame) {
  // The two forms differ on samples of unequal response lengths (a test that could not fail
  // would give the same number twice).
  EXPECT_GT(std::abs(task_loss(true) - task_loss(false)), 1e-3);
}

}  // namespace
