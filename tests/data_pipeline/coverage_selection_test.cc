// DEALRec selection: min-max normalisation and the combined score on hand values, coverage
// selection on hand-made scores (drop, strata, smallest-first allocation), its invariants over
// many seeded random score vectors and every budget, determinism, and random_select.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "data_pipeline/coverage_selection.h"
#include "data_pipeline/sequence_batches.h"

namespace grec::data {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

CoverageOptions options(double alpha, int64_t strata, uint64_t seed) {
  CoverageOptions o;
  o.drop_hardest = alpha;
  o.strata = strata;
  o.seed = seed;
  return o;
}

// Everything a Selection promises, whatever the random picks; "" when it holds.
std::string violation(const std::vector<double>& scores, int64_t budget, int64_t strata,
                      const Selection& s) {
  const int64_t n = static_cast<int64_t>(scores.size());
  if (static_cast<int64_t>(s.kept.size()) != budget) return "kept.size() != budget";
  if (static_cast<int64_t>(s.stratum.size()) != n) return "stratum.size() != n";
  if (static_cast<int64_t>(s.stratum_sizes.size()) != strata) return "stratum_sizes.size() != K";
  if (static_cast<int64_t>(s.stratum_taken.size()) != strata) return "stratum_taken.size() != K";
  for (size_t i = 0; i < s.kept.size(); ++i) {
    if (s.kept[i] < 0 || s.kept[i] >= n) return "kept index out of range";
    if (i > 0 && s.kept[i] <= s.kept[i - 1]) return "kept not strictly ascending";
    if (s.stratum[s.kept[i]] < 0) return "a dropped sample was kept";
  }
  std::vector<int64_t> sizes(strata, 0), taken(strata, 0);
  int64_t dropped = 0;
  double min_dropped = std::numeric_limits<double>::infinity();
  double max_pool = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    if (s.stratum[i] < -1 || s.stratum[i] >= strata) return "stratum out of range";
    if (s.stratum[i] == -1) {
      ++dropped;
      min_dropped = std::min(min_dropped, scores[i]);
    } else {
      ++sizes[s.stratum[i]];
      max_pool = std::max(max_pool, scores[i]);
    }
  }
  for (int64_t i : s.kept) ++taken[s.stratum[i]];
  if (dropped != s.dropped_hardest) return "dropped_hardest != count of stratum -1";
  if (min_dropped < max_pool) return "a dropped sample scores below a kept-pool sample";
  if (sizes != s.stratum_sizes) return "stratum_sizes disagree with stratum";
  if (taken != s.stratum_taken) return "stratum_taken disagree with kept";
  return "";
}

TEST(MinmaxNormalise, HandValues) {
  EXPECT_EQ(minmax_normalise({2, 4, 3, 6}), (std::vector<double>{0, 0.5, 0.25, 1}));
  EXPECT_EQ(minmax_normalise({-1, 1}), (std::vector<double>{0, 1}));
  EXPECT_EQ(minmax_normalise({3, 3, 3}), (std::vector<double>{0, 0, 0}));
  EXPECT_TRUE(minmax_normalise({}).empty());
  EXPECT_THROW(minmax_normalise({1, kNan, 2}), UserError);
  EXPECT_THROW(minmax_normalise({1, std::numeric_limits<double>::infinity()}), UserError);
}

TEST(DealrecScore, HandValues) {
  // minmax(I) = {0, 1, 0.5}, minmax(E) = {1, 0, 0.5}; S = I' + 0.5 E'.
  EXPECT_EQ(dealrec_score({1, 3, 2}, {10, 0, 5}, 0.5), (std::vector<double>{0.5, 1, 0.75}));
  EXPECT_EQ(dealrec_score({1, 3, 2}, {10, 0, 5}, 0.0), (std::vector<double>{0, 1, 0.5}));
  EXPECT_THROW(dealrec_score({1, 2}, {1}, 0.5), Error);
  EXPECT_THROW(dealrec_score({1, 2}, {1, 2}, -1), UserError);
  EXPECT_THROW(dealrec_score({1, kNan}, {1, 2}, 0.5), UserError);
}

// index:                                0     1    2     3    4     5    6     7     8    9
const std::vector<double> kHandScores = {0.05, 0.7, 0.10, 1.0, 0.30, 0.0, 0.55, 0.15, 0.5, 0.20,
                                         // 10  11   12    13    14    15    16    17   18    19
                                         0.35, 1.0, 0.60, 0.02, 0.40, 0.08, 0.65, 1.0, 0.12, 0.45};

TEST(CoverageSelect, HandMadeScores) {
  const Selection s = coverage_select(kHandScores, 12, options(0.1, 4, 7));
  // d = floor(0.1 * 20) = 2 of the three 1.0s, the higher indices first: 17 and 11; 3 stays.
  EXPECT_EQ(s.dropped_hardest, 2);
  // The rest spans [0, 1]; width 0.25: 0.5 opens stratum 2, the max 1.0 (index 3) is in the last.
  EXPECT_EQ(s.stratum, (std::vector<int64_t>{0, 2, 0, 3, 1, 0, 2, 0, 2, 0,  //
                                             1, -1, 2, 0, 1, 0, 2, -1, 0, 1}));
  EXPECT_EQ(s.stratum_sizes, (std::vector<int64_t>{8, 4, 5, 1}));
  // Smallest first: stratum 3 (1) takes min(1, 12/4 = 3) = 1, 11 left; stratum 1 (4) takes
  // min(4, 11/3 = 3) = 3, 8 left; stratum 2 (5) takes min(5, 8/2 = 4) = 4, 4 left; stratum 0 (8)
  // takes the last 4.
  EXPECT_EQ(s.stratum_taken, (std::vector<int64_t>{4, 3, 4, 1}));
  EXPECT_EQ(violation(kHandScores, 12, 4, s), "");
  EXPECT_TRUE(std::binary_search(s.kept.begin(), s.kept.end(), 3));

  // Budget 16: 1 (15 left), min(4, 15/3 = 5) = 4 (11 left), min(5, 11/2 = 5) = 5 (6 left), 6.
  const Selection big = coverage_select(kHandScores, 16, options(0.1, 4, 7));
  EXPECT_EQ(big.stratum_taken, (std::vector<int64_t>{6, 4, 5, 1}));
  EXPECT_EQ(violation(kHandScores, 16, 4, big), "");
}

TEST(CoverageSelect, EmptyStrataDoNotShareTheBudget) {
  // Strata 0 and 2 hold 3 samples each, stratum 1 none: m = 2, so 4 / 2 = 2 from each.
  const std::vector<double> scores = {0, 0, 0, 1, 1, 1};
  const Selection s = coverage_select(scores, 4, options(0.0, 3, 1));
  EXPECT_EQ(s.stratum, (std::vector<int64_t>{0, 0, 0, 2, 2, 2}));
  EXPECT_EQ(s.stratum_taken, (std::vector<int64_t>{2, 0, 2}));
  EXPECT_EQ(violation(scores, 4, 3, s), "");
}

TEST(CoverageSelect, ConstantScoresAreOneStratum) {
  const std::vector<double> scores(10, 0.3);
  const Selection s = coverage_select(scores, 4, options(0.2, 5, 3));
  // The drop still applies: indices 9 and 8 (ties, higher index first).
  EXPECT_EQ(s.stratum, (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, 0, -1, -1}));
  EXPECT_EQ(s.stratum_taken, (std::vector<int64_t>{4, 0, 0, 0, 0}));
  EXPECT_EQ(violation(scores, 4, 5, s), "");
}

TEST(CoverageSelect, MeetsBudgetExactlyOnRandomScores) {
  SampleRng rng(2024);
  for (int trial = 0; trial < 30; ++trial) {
    const int64_t n = 1 + rng.uniform(40);
    std::vector<double> scores(n);
    // Even trials: few distinct values, so ties at the drop line and empty strata.
    for (double& x : scores) {
      x = trial % 2 == 0 ? double(rng.uniform(4)) : double(rng.uniform(1000000)) / 1e6 - 0.5;
    }
    for (double alpha : {0.0, 0.1, 0.5, 0.95}) {
      for (int64_t strata : {1, 3, 50}) {
        for (int64_t budget = 1; budget <= n; ++budget) {
          const Selection s = coverage_select(scores, budget, options(alpha, strata, trial));
          const auto d = static_cast<int64_t>(std::floor(alpha * double(n) + 1e-9));
          ASSERT_EQ(s.dropped_hardest, std::min(d, n - budget))
              << "trial " << trial << " alpha " << alpha << " budget " << budget;
          ASSERT_EQ(violation(scores, budget, strata, s), "")
              << "trial " << trial << " n " << n << " alpha " << alpha << " strata " << strata
              << " budget " << budget;
        }
      }
    }
  }
}

TEST(CoverageSelect, DropIsCappedAtTheSlack) {
  const Selection all = coverage_select(kHandScores, 20, options(0.5, 4, 0));
  EXPECT_EQ(all.dropped_hardest, 0);
  EXPECT_EQ(all.kept.size(), 20u);
  // Budget 19 leaves room for one drop: the highest index among the three 1.0s.
  const Selection one = coverage_select(kHandScores, 19, options(0.1, 4, 0));
  EXPECT_EQ(one.dropped_hardest, 1);
  EXPECT_EQ(one.stratum[17], -1);
  EXPECT_EQ(std::count(one.stratum.begin(), one.stratum.end(), -1), 1);
  EXPECT_EQ(violation(kHandScores, 19, 4, one), "");
}

TEST(CoverageSelect, SeededAndReproducible) {
  const std::vector<double> scores(100, 1.0);
  const auto pick = [&](uint64_t seed) {
    return coverage_select(scores, 10, options(0.0, 1, seed)).kept;
  };
  EXPECT_EQ(pick(5), pick(5));
  EXPECT_NE(pick(5), pick(6));
  // Every sample of a stratum can be picked, about equally often (expected 60 of 200 each).
  std::vector<int64_t> hits(10, 0);
  const std::vector<double> ten(10, 0.0);
  for (uint64_t seed = 0; seed < 200; ++seed) {
    for (int64_t i : coverage_select(ten, 3, options(0.0, 1, seed)).kept) ++hits[i];
  }
  for (int64_t h : hits) {
    EXPECT_GT(h, 30);
    EXPECT_LT(h, 90);
  }
}

TEST(CoverageSelect, Errors) {
  const std::vector<double> scores = {0.1, 0.2, 0.3, 0.4, 0.5};
  const CoverageOptions o = options(0.1, 4, 0);
  EXPECT_THROW(coverage_select(scores, 0, o), UserError);
  EXPECT_THROW(coverage_select(scores, 6, o), UserError);
  EXPECT_THROW(coverage_select({}, 1, o), UserError);
  EXPECT_THROW(coverage_select(scores, 2, options(1.0, 4, 0)), UserError);
  EXPECT_THROW(coverage_select(scores, 2, options(-0.1, 4, 0)), UserError);
  EXPECT_THROW(coverage_select(scores, 2, options(kNan, 4, 0)), UserError);
  EXPECT_THROW(coverage_select(scores, 2, options(0.1, 0, 0)), UserError);
  EXPECT_THROW(coverage_select({0.1, kNan, 0.3}, 2, o), UserError);
  EXPECT_NO_THROW(coverage_select(scores, 5, o));
}

TEST(RandomSelect, SizeOrderAndSeed) {
  const std::vector<int64_t> a = random_select(50, 20, 9);
  ASSERT_EQ(a.size(), 20u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_GE(a[i], 0);
    EXPECT_LT(a[i], 50);
    if (i > 0) {
      EXPECT_LT(a[i - 1], a[i]);
    }
  }
  EXPECT_EQ(random_select(50, 20, 9), a);
  EXPECT_NE(random_select(50, 20, 10), a);
  std::vector<int64_t> all(7);
  for (int64_t i = 0; i < 7; ++i) all[i] = i;
  EXPECT_EQ(random_select(7, 7, 1), all);
  EXPECT_THROW(random_select(5, 0, 0), UserError);
  EXPECT_THROW(random_select(5, 6, 0), UserError);
}

}  // namespace
}  // namespace grec::data
