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

// A deterministic "model": the mean embedding of the history against every item.
Scorer mean_history_scorer(const torch::Tensor& emb) {
  return [emb](const std::vector<const RankingCase*>& batch) {
    std::vector<torch::Tensor> rows;
    for (const auto* c : batch) {
      rows.push_back(emb.index_select(0, torch::tensor(c->history)).mean(0).matmul(emb.t()));
    }
    return torch::stack(rows);
  };
}

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
  Scorer scorer = mean_history_scorer(emb);
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

TEST(HeldOut, HandComputedSetMetrics) {
  HeldOutSums m({1, 5});
  m.add({1, 3, 0});  // 3 held out: ranks 1 and 3 inside K=5, one never ranked
  m.add({7});        // 1 held out, outside both cut-offs
  const double ideal5 = 1.0 + 1.0 / std::log2(3.0) + 1.0 / std::log2(4.0);  // min(5, 3) slots
  auto j = m.result();
  EXPECT_DOUBLE_EQ(j["Recall@1"], (1.0 / 3 + 0.0) / 2);
  EXPECT_DOUBLE_EQ(j["Recall@5"], (2.0 / 3 + 0.0) / 2);
  EXPECT_DOUBLE_EQ(j["NDCG@1"], (1.0 / 1.0 + 0.0) / 2);  // ideal DCG@1 = 1
  EXPECT_DOUBLE_EQ(j["NDCG@5"], ((1.0 + 0.5) / ideal5 + 0.0) / 2);
  EXPECT_EQ(j["users"], 2);
  EXPECT_DOUBLE_EQ(j["items_per_user"], 2.0);
  EXPECT_THROW(m.add({}), std::exception);
  EXPECT_THROW(m.add({-1}), std::exception);
  // One held-out item: Recall@K and NDCG@K are HR@K and NDCG@K.
  HeldOutSums one({10});
  MetricSums loo({10});
  for (int64_t r : {1, 4, 11, 2}) {
    one.add({r});
    loo.add(r);
  }
  EXPECT_DOUBLE_EQ(one.result()["Recall@10"], loo.result()["HR@10"]);
  EXPECT_DOUBLE_EQ(one.result()["NDCG@10"], loo.result()["NDCG@10"]);
}

TEST(HeldOut, RanksAreBruteForceAndTiesCountAgainst) {
  // Items 1 and 2 are held out and tie with each other: each counts the other above it.
  RankingCase c;
  c.history = {3};
  c.target = 1;
  c.held_out = {1, 2};
  torch::Tensor s = torch::tensor({{0.9f, 0.5f, 0.5f, 0.95f, 0.1f}});
  EXPECT_EQ(held_out_ranks(s, {&c}, false), (std::vector<std::vector<int64_t>>{{4, 4}}));
  // Masking the history (item 3) moves both up; a held-out item in the history is not masked.
  EXPECT_EQ(held_out_ranks(s, {&c}, true), (std::vector<std::vector<int64_t>>{{3, 3}}));
  c.history = {2, 3};
  EXPECT_EQ(held_out_ranks(s, {&c}, true), (std::vector<std::vector<int64_t>>{{3, 3}}));
  // Without held_out the target alone, as target_ranks.
  c.held_out.clear();
  EXPECT_EQ(held_out_ranks(s, {&c}, false)[0], target_ranks(s, {&c}, false));
}

TEST(HeldOut, FullRankingAndCaseRanksReportTheSets) {
  torch::manual_seed(5);
  const int64_t num_items = 40;
  torch::Tensor emb = torch::randn({num_items, 6});
  std::vector<RankingCase> cases;
  for (int64_t u = 0; u < 23; ++u) {
    RankingCase c;
    c.history = {u % num_items, (u * 5 + 1) % num_items};
    for (int64_t j = 0; j <= u % 4; ++j) c.held_out.push_back((u * 7 + j * 11 + 3) % num_items);
    c.target = c.held_out[0];
    cases.push_back(c);
  }
  Scorer scorer = mean_history_scorer(emb);
  ASSERT_TRUE(has_several_held_out(cases));
  RankingOptions o;
  o.ks = {1, 5, 10};
  o.batch_size = 4;
  // Brute force: every held-out item's rank = 1 + the items scoring at least as high.
  HeldOutSums want(o.ks);
  std::vector<std::vector<int64_t>> want_ranks;
  for (const RankingCase& c : cases) {
    torch::Tensor row = scorer({&c})[0];
    std::vector<int64_t> r;
    for (int64_t h : c.held_out) {
      int64_t above = 0;
      for (int64_t i = 0; i < num_items; ++i) above += i != h && row[i].item<float>() >= row[h].item<float>();
      r.push_back(1 + above);
    }
    want.add(r);
    want_ranks.push_back(r);
  }
  const nlohmann::json j = full_ranking(cases, scorer, o, nullptr);
  ASSERT_TRUE(j.contains("held_out")) << j.dump();
  EXPECT_EQ(j["held_out"].dump(), want.result().dump());
  std::vector<std::vector<int64_t>> got;
  const std::vector<int64_t> ranks = case_ranks(cases, scorer, o, nullptr, &got);
  EXPECT_EQ(got, want_ranks);
  EXPECT_EQ(metrics_from_ranks(ranks, o, &got).dump(), j.dump());
  // Two simulated ranks' set sums add up to the single run's.
  HeldOutSums a(o.ks), b(o.ks);
  for (size_t i = 0; i < cases.size(); ++i) (i % 2 ? b : a).add(want_ranks[i]);
  std::vector<double> va = a.to_vector(), vb = b.to_vector(), vw = want.to_vector();
  for (size_t i = 0; i < va.size(); ++i) EXPECT_NEAR(va[i] + vb[i], vw[i], 1e-12) << i;
  // Leave-one-out cases report no set metrics.
  for (RankingCase& c : cases) c.held_out.resize(1);
  EXPECT_FALSE(full_ranking(cases, scorer, o, nullptr).contains("held_out"));
}

}  // namespace
}  // namespace grec::eval
