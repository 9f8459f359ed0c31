// The generative path's metrics (ranked lists from beam search) equal the full-ranking path's
// when both see the same ranking: random scores -> full_ranking, and the same scores' top-B
// lists -> ranked_list_sums, for every K <= B. Plus rank_in_list and misses.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "eval/generative.h"
#include "eval/ranking.h"

namespace grec::eval {
namespace {

TEST(Generative, RankInList) {
  EXPECT_EQ(rank_in_list({4, 9, 2}, 4), 1);
  EXPECT_EQ(rank_in_list({4, 9, 2}, 2), 3);
  EXPECT_EQ(rank_in_list({4, 9, 2}, 7), 0);
  EXPECT_EQ(rank_in_list({}, 7), 0);
}

TEST(Generative, RankedListMetricsEqualFullRankingOnTheSameOrder) {
  const int64_t users = 300, items = 50, beams = 20;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  torch::Tensor scores = torch::empty({users, items});
  for (int64_t u = 0; u < users; ++u)
    for (int64_t i = 0; i < items; ++i) scores[u][i] = uni(rng);  // distinct: no ties
  std::vector<RankingCase> cases(users);
  std::vector<int64_t> targets(users);
  std::vector<std::vector<int64_t>> lists(users);
  for (int64_t u = 0; u < users; ++u) {
    // Targets skewed to the top so that hits at every K occur; some outside the beams.
    const auto order = std::get<1>(scores[u].sort(0, /*descending=*/true));
    const int64_t pos = static_cast<int64_t>(rng() % 30);
    targets[u] = cases[u].target = order[pos].item<int64_t>();
    for (int64_t b = 0; b < beams; ++b) lists[u].push_back(order[b].item<int64_t>());
  }
  RankingOptions ro;
  ro.ks = {1, 5, 10, 20};
  auto scorer = [&](const std::vector<const RankingCase*>& batch) {
    std::vector<int64_t> rows;
    for (const auto* c : batch) rows.push_back(c - cases.data());
    return scores.index_select(0, torch::tensor(rows, torch::kLong));
  };
  const nlohmann::json full = full_ranking(cases, scorer, ro, nullptr);
  const nlohmann::json gen = ranked_list_sums(lists, targets, ro.ks).result();
  for (const char* key : {"HR@1", "HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20"}) {
    EXPECT_NEAR(gen[key].get<double>(), full[key].get<double>(), 1e-12) << key;
  }
  EXPECT_GT(full["HR@20"].get<double>(), full["HR@1"].get<double>());
  EXPECT_LT(full["HR@20"].get<double>(), 1.0);  // some targets are outside the beams
  EXPECT_EQ(gen["users"], users);
  // MRR differs only by the misses (full ranking still credits them 1/rank).
  EXPECT_LE(gen["MRR"].get<double>(), full["MRR"].get<double>());

  // Several held-out items per case: the lists' set metrics equal full ranking's for K <= B.
  std::vector<std::vector<int64_t>> held(users);
  for (int64_t u = 0; u < users; ++u) {
    const auto order = std::get<1>(scores[u].sort(0, /*descending=*/true));
    held[u] = {targets[u]};
    for (int64_t extra = 0; extra < u % 3; ++extra) {
      held[u].push_back(order[static_cast<int64_t>(rng() % 40)].item<int64_t>());
    }
    std::sort(held[u].begin() + 1, held[u].end());
    held[u].erase(std::unique(held[u].begin() + 1, held[u].end()), held[u].end());
    held[u].erase(std::remove(held[u].begin() + 1, held[u].end(), targets[u]), held[u].end());
    cases[u].held_out = held[u];
  }
  const nlohmann::json full_sets = full_ranking(cases, scorer, ro, nullptr);
  ASSERT_TRUE(full_sets.contains("held_out"));
  const nlohmann::json gen_sets = ranked_list_held_out_sums(lists, held, ro.ks).result();
  for (const char* key : {"Recall@1", "Recall@5", "Recall@10", "Recall@20", "NDCG@5", "NDCG@20"}) {
    EXPECT_NEAR(gen_sets[key].get<double>(), full_sets["held_out"][key].get<double>(), 1e-12) << key;
  }
  EXPECT_GT(gen_sets["items_per_user"].get<double>(), 1.5);
}

}  // namespace
}  // namespace grec::eval
