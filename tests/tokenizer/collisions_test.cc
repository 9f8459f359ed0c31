// Collision resolution: uniqueness on adversarial input, Sinkhorn's spreading, determinism,
// stats, and the log-space Sinkhorn against tiny epsilons (the public code's NaN).
#include <gtest/gtest.h>

#include <set>

#include "tokenizer/collisions.h"

namespace grec::tok {
namespace {

int64_t distinct_rows(const torch::Tensor& codes) {
  std::set<std::vector<int64_t>> rows;
  const auto c = codes.contiguous();
  for (int64_t i = 0; i < c.size(0); ++i) {
    rows.insert(std::vector<int64_t>(c[i].data_ptr<int64_t>(), c[i].data_ptr<int64_t>() + c.size(1)));
  }
  return static_cast<int64_t>(rows.size());
}

TEST(Collisions, RateCountsItemsInSharedTuples) {
  auto codes = torch::tensor({0, 1, 0, 1, 2, 3, 0, 1, 4, 4}, torch::kLong).view({5, 2});
  EXPECT_DOUBLE_EQ(collision_rate(codes), 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(collision_rate(torch::zeros({0, 3}, torch::kLong)), 0.0);
}

TEST(Collisions, AdversarialIdenticalItemsEndUnique) {
  const int64_t n = 1000, k = 64;
  auto codes = torch::zeros({n, 3}, torch::kLong);
  auto dist = torch::ones({n, k}, torch::kDouble);
  for (const std::string method : {"sinkhorn", "suffix"}) {
    CollisionOptions o;
    o.method = method;
    CollisionStats s;
    auto out = resolve_collisions(codes, method == "suffix" ? torch::Tensor() : dist, o, &s);
    EXPECT_EQ(out.size(0), n);
    EXPECT_EQ(out.size(1), 4) << method;
    EXPECT_EQ(distinct_rows(out), n) << method;
    EXPECT_EQ(s.colliding_items_before, n);
    EXPECT_EQ(s.max_group_before, n);
    EXPECT_DOUBLE_EQ(s.collision_rate_before, 1.0);
    EXPECT_DOUBLE_EQ(s.collision_rate_after, 0.0);
    EXPECT_TRUE(s.suffix_level_added);
    if (method == "sinkhorn") {
      // All 64 last-level codes are used, so the suffix counts ceil(1000/64) - 1 = 15 at most.
      EXPECT_EQ(std::get<0>(torch::_unique(out.select(1, 2))).size(0), k);
      EXPECT_EQ(s.suffix_max, 15);
    } else {
      EXPECT_EQ(s.suffix_max, n - 1);
    }
  }
}

TEST(Collisions, SinkhornAssignSpreadsAGroupAlmostUniformly) {
  // 64 items whose residuals all sit closest to code 0, with small random differences: plain
  // nearest-code puts all of them on one code; the balanced plan uses nearly every code.
  torch::manual_seed(3);
  const int64_t m = 64, k = 64;
  auto dist = torch::rand({m, k}, torch::kDouble) + 1.0;
  dist.select(1, 0).fill_(0.5);
  EXPECT_EQ(std::get<0>(torch::_unique(dist.argmin(1))).size(0), 1);
  auto pick = sinkhorn_assign(dist, 0.003, 50);
  const int64_t used = std::get<0>(torch::_unique(pick)).size(0);
  EXPECT_GE(used, 56) << "Sinkhorn should spread 64 items over almost all 64 codes";
  // Tiny eps: exp(-d / eps) underflows to 0 everywhere, so a plan computed outside log space is
  // 0/0 = NaN, and an argmax over NaN rows picks one code for every item. Log space keeps the
  // plan finite, so the group still spreads over most codes.
  auto pick2 = sinkhorn_assign(dist, 1e-5, 50);
  ASSERT_EQ(pick2.size(0), m);
  EXPECT_GE(pick2.min().item<int64_t>(), 0);
  EXPECT_LT(pick2.max().item<int64_t>(), k);
  EXPECT_GE(std::get<0>(torch::_unique(pick2)).size(0), 40);
}

TEST(Collisions, SinkhornResolvesWithoutSuffixWhenCodesSuffice) {
  torch::manual_seed(5);
  const int64_t m = 64, k = 64;
  auto codes = torch::zeros({m, 2}, torch::kLong);
  auto dist = torch::rand({m, k}, torch::kDouble);
  CollisionStats s;
  auto out = resolve_collisions(codes, dist, CollisionOptions{}, &s);
  EXPECT_EQ(out.size(1), 2);
  EXPECT_EQ(distinct_rows(out), m);
  EXPECT_EQ(s.colliding_items_after_sinkhorn, 0);
  EXPECT_FALSE(s.suffix_level_added);
}

TEST(Collisions, ReassignmentAvoidsCodesOfOtherItemsWithTheSamePrefix) {
  // Items 0-2 collide on (1, 5); items 3-4 hold (1, 0) and (1, 1), which are the nearest codes for
  // the colliding items. The resolution must not move anyone onto them.
  auto codes = torch::tensor({1, 5, 1, 5, 1, 5, 1, 0, 1, 1}, torch::kLong).view({5, 2});
  auto dist = torch::full({5, 8}, 2.0, torch::kDouble);
  dist.narrow(1, 0, 2).fill_(0.0);
  CollisionStats s;
  auto out = resolve_collisions(codes, dist, CollisionOptions{}, &s);
  EXPECT_EQ(out.size(1), 2);
  EXPECT_EQ(distinct_rows(out), 5);
  EXPECT_EQ(out[3][1].item<int64_t>(), 0);
  EXPECT_EQ(out[4][1].item<int64_t>(), 1);
  EXPECT_EQ(s.colliding_items_before, 3);
}

TEST(Collisions, DeterministicAndUntouchedRowsKept) {
  torch::manual_seed(11);
  const int64_t n = 2000;
  auto codes = torch::randint(0, 4, {n, 3}, torch::kLong);
  auto dist = torch::rand({n, 4}, torch::kFloat);
  CollisionStats s1, s2;
  auto a = resolve_collisions(codes, dist, CollisionOptions{}, &s1);
  auto b = resolve_collisions(codes, dist, CollisionOptions{}, &s2);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_EQ(distinct_rows(a), n);
  EXPECT_EQ(s1.colliding_items_after_sinkhorn, s2.colliding_items_after_sinkhorn);
  // Only 64 tuples exist for 2000 items: the suffix is needed and the prefix levels never move.
  EXPECT_TRUE(s1.suffix_level_added);
  EXPECT_TRUE(torch::equal(a.narrow(1, 0, 2), codes.narrow(1, 0, 2)));
}

TEST(Collisions, NoneKeepsCodesAndNoCollisionNeedsNothing) {
  auto codes = torch::tensor({0, 0, 0, 0}, torch::kLong).view({2, 2});
  CollisionOptions o;
  o.method = "none";
  CollisionStats s;
  auto out = resolve_collisions(codes, torch::Tensor(), o, &s);
  EXPECT_TRUE(torch::equal(out, codes));
  EXPECT_DOUBLE_EQ(s.collision_rate_after, 1.0);
  auto unique = torch::tensor({0, 1, 1, 0}, torch::kLong).view({2, 2});
  auto same = resolve_collisions(unique, torch::Tensor(), CollisionOptions{}, &s);
  EXPECT_TRUE(torch::equal(same, unique));
  EXPECT_EQ(s.max_group_before, 1);
  o.method = "bogus";
  EXPECT_THROW(resolve_collisions(unique, torch::Tensor(), o, &s), std::exception);
}

}  // namespace
}  // namespace grec::tok
