// HR/NDCG/MRR against hand-computed cases, ties (against the target), non-finite scores, K beyond the item count, history masking,
// and the sharded (simulated 2-rank) evaluation against a single run.
#include <cmath>
#include <limits>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "eval/metrics.h"
#include "eval/ranking.h"

namespace grec::eval {
namespace {

TEST(Metrics, HandComputedRanks) {
  MetricSums m({1, 5, 10});
  m.add(1);   // HR 1/1/1, NDCG 1/1/1, RR 1
  m.add(3);   // HR 0/1/1, NDCG 0/0.5/0.5, RR 1/3
  m.add(12);  // HR 0/0/0, NDCG 0, RR 1/12
  auto j = m.result();
  EXPECT_DOUBLE_EQ(j["HR@1"], 1.0 / 3);
  EXPECT_DOUBLE_EQ(j["HR@5"], 2.0 / 3);
  EXPECT_DOUBLE_EQ(j["HR@10"], 2.0 / 3);
  EXPECT_DOUBLE_EQ(j["NDCG@1"], 1.0 / 3);
  EXPECT_DOUBLE_EQ(j["NDCG@5"], (1.0 + 0.5) / 3);  // 1 / log2(3 + 1) = 0.5
  EXPECT_DOUBLE_EQ(j["MRR"], (1.0 + 1.0 / 3 + 1.0 / 12) / 3);
  EXPECT_EQ(j["users"], 3);
  EXPECT_DOUBLE_EQ(ndcg_at(2, 2), 1.0 / std::log2(3.0));
  EXPECT_DOUBLE_EQ(ndcg_at(3, 2), 0.0);
}

TEST(Metrics, RejectsBadRanksAndMergesSums) {
  EXPECT_THROW(hit_at(0, 10), std::exception);
  EXPECT_THROW(MetricSums({0}), std::exception);
  MetricSums a({10}), b({10});
  a.add(2);
  b.add(20);
  a.merge(b);
  auto round = MetricSums::from_vector({10}, a.to_vector());
  EXPECT_DOUBLE_EQ(round.result()["HR@10"], 0.5);
  EXPECT_DOUBLE_EQ(round.result()["MRR"], (0.5 + 0.05) / 2);
  EXPECT_THROW(a.merge(MetricSums({5})), std::exception);
}

std::vector<const RankingCase*> ptrs(const std::vector<RankingCase>& cases) {
  std::vector<const RankingCase*> p;
  for (const auto& c : cases) p.push_back(&c);
  return p;
}

TEST(Ranking, TiesCountAgainstTheTarget) {
  // Items 0 and 1 tie at 0.5; item 3 scores higher.
  torch::Tensor s = torch::tensor({0.5f, 0.5f, 0.2f, 0.9f}).view({1, 4});
  std::vector<RankingCase> c = {{{}, 1}};
  EXPECT_EQ(target_ranks(s, ptrs(c), false), std::vector<int64_t>({3}));  // 0.9 and the tie above
  c[0].target = 0;
  EXPECT_EQ(target_ranks(s, ptrs(c), false), std::vector<int64_t>({3}));  // symmetric
  c[0].target = 2;
  EXPECT_EQ(target_ranks(s, ptrs(c), false), std::vector<int64_t>({4}));
  c[0].target = 3;
  EXPECT_EQ(target_ranks(s, ptrs(c), false), std::vector<int64_t>({1}));
  // All equal: the target ranks last, so a constant scorer earns nothing.
  EXPECT_EQ(target_ranks(torch::zeros({1, 4}), ptrs(c), false), std::vector<int64_t>({4}));
}

TEST(Ranking, NonFiniteScoresAreAnError) {
  std::vector<RankingCase> c = {{{}, 1}, {{}, 2}};
  c[1].user = 7;
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    torch::Tensor s = torch::tensor({0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}).view({2, 3});
    s[1][0] = bad;  // not even the target's score
    try {
      target_ranks(s, ptrs(c), false);
      ADD_FAILURE() << "no error for " << bad;
    } catch (const grec::Error& e) {
      EXPECT_NE(std::string(e.what()).find("case 1 (user 7"), std::string::npos) << e.what();
    }
  }
  // History masking's own -inf is not an input score: it never trips the check.
  torch::Tensor ok = torch::tensor({0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}).view({2, 3});
  std::vector<RankingCase> m = {{{0, 2}, 1}};
  EXPECT_EQ(target_ranks(ok.narrow(0, 0, 1), ptrs(m), true), std::vector<int64_t>({1}));
}

TEST(Ranking, KLargerThanItemCount) {
  MetricSums m({20});
  torch::Tensor s = torch::tensor({0.3f, 0.2f, 0.1f}).view({1, 3});
  std::vector<RankingCase> c = {{{}, 2}};
  for (int64_t r : target_ranks(s, ptrs(c), false)) m.add(r);
  EXPECT_DOUBLE_EQ(m.result()["HR@20"], 1.0);
  EXPECT_DOUBLE_EQ(m.result()["NDCG@20"], 0.5);  // rank 3
}

TEST(Ranking, HistoryMaskingExceptTarget) {
  torch::Tensor s = torch::tensor({0.9f, 0.8f, 0.7f, 0.1f, 0.85f, 0.2f}).view({2, 3});
  // Row 0: history {0}, target 1: unmasked rank 2, masked rank 1.
  // Row 1: history {1, 2} with the target 1 itself in it: only item 2 (0.2) is masked.
  std::vector<RankingCase> c = {{{0}, 1}, {{1, 2}, 1}};
  EXPECT_EQ(target_ranks(s, ptrs(c), false), std::vector<int64_t>({2, 1}));
  EXPECT_EQ(target_ranks(s, ptrs(c), true), std::vector<int64_t>({1, 1}));
  std::vector<RankingCase> c2 = {{{1}, 0}, {{0}, 2}};
  // Row 1 scores [0.1, 0.85, 0.2], target 2 -> 2 without masking; item 0 masked changes nothing.
  EXPECT_EQ(target_ranks(s, ptrs(c2), true), std::vector<int64_t>({1, 2}));
  // The input scores are not modified.
  EXPECT_FLOAT_EQ(s[0][0].item<float>(), 0.9f);
}

TEST(Ranking, TwoRankShardsEqualSingleRun) {
  torch::manual_seed(3);
  const int64_t num_items = 50;
  torch::Tensor emb = torch::randn({num_items, 8});
  std::vector<RankingCase> cases;
  for (int64_t u = 0; u < 37; ++u) {
    RankingCase c;
    for (int64_t j = 0; j <= u % 5; ++j) c.history.push_back((u * 7 + j * 3) % num_items);
    c.target = (u * 11) % num_items;
    cases.push_back(c);
  }
  // A deterministic "model": the mean embedding of the history against every item.
  Scorer scorer = [&](const std::vector<const RankingCase*>& batch) {
    std::vector<torch::Tensor> rows;
    for (const auto* c : batch) {
      rows.push_back(emb.index_select(0, torch::tensor(c->history)).mean(0).matmul(emb.t()));
    }
    return torch::stack(rows);
  };
  for (bool mask : {false, true}) {
    RankingOptions o;
    o.mask_history = mask;
    o.batch_size = 4;
    MetricSums single = rank_shard(cases, scorer, o, 0, 1);
    MetricSums r0 = rank_shard(cases, scorer, o, 0, 2), r1 = rank_shard(cases, scorer, o, 1, 2);
    EXPECT_EQ(r0.count() + r1.count(), 37);
    EXPECT_EQ(r0.count(), 19);  // users 0, 2, ..., 36
    r0.merge(r1);
    auto a = r0.to_vector(), b = single.to_vector();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-12) << i;
    // The same through the single-process entry point; batch size does not matter.
    o.batch_size = 100;
    auto j = full_ranking(cases, scorer, o, nullptr);
    EXPECT_NEAR(j["NDCG@10"].get<double>(), single.result()["NDCG@10"].get<double>(), 1e-12);
    EXPECT_EQ(j["mask_history"], mask);
    // Per-case ranks: each equals the rank of that case alone, and their metrics are
    // full_ranking's.
    const std::vector<int64_t> ranks = case_ranks(cases, scorer, o, nullptr);
    ASSERT_EQ(ranks.size(), cases.size());
    for (size_t i = 0; i < cases.size(); i += 5) {
      const std::vector<const RankingCase*> one{&cases[i]};
      EXPECT_EQ(ranks[i], target_ranks(scorer(one), one, mask)[0]) << i;
    }
    EXPECT_EQ(metrics_from_ranks(ranks, o).dump(), j.dump());
  }
}

}  // namespace
}  // namespace grec::eval
