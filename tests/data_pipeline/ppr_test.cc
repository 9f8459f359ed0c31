// Personalized PageRank (data_pipeline/ppr.h) against a dense solve of its defining linear system
// on hand graphs, the neighbour lists' order and padding, and the training graph's split.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "data_pipeline/dataset.h"
#include "data_pipeline/ppr.h"

namespace grec::data {
namespace {

// r = (1 - a) e_s + a P^T r over all U + I nodes (users first), P row-stochastic by edge weight,
// a node without edges jumping to s: solved by Gaussian elimination with partial pivoting.
std::vector<double> dense_ppr(int64_t nu, int64_t ni, const std::vector<int64_t>& users,
                              const std::vector<int64_t>& items, int64_t seed, double a) {
  const int64_t n = nu + ni;
  std::vector<std::vector<double>> w(n, std::vector<double>(n, 0.0));
  for (size_t k = 0; k < users.size(); ++k) {
    w[users[k]][nu + items[k]] += 1;
    w[nu + items[k]][users[k]] += 1;
  }
  for (int64_t v = 0; v < n; ++v) {
    double deg = 0;
    for (double x : w[v]) deg += x;
    if (deg == 0) {
      w[v][nu + seed] = 1;
    } else {
      for (double& x : w[v]) x /= deg;
    }
  }
  // A = I - a P^T, b = (1 - a) e_s.
  std::vector<std::vector<double>> m(n, std::vector<double>(n + 1, 0.0));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) m[i][j] = (i == j ? 1.0 : 0.0) - a * w[j][i];
  }
  m[nu + seed][n] = 1 - a;
  for (int64_t c = 0; c < n; ++c) {
    int64_t p = c;
    for (int64_t r = c + 1; r < n; ++r) {
      if (std::abs(m[r][c]) > std::abs(m[p][c])) p = r;
    }
    std::swap(m[c], m[p]);
    for (int64_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = m[r][c] / m[c][c];
      for (int64_t j = c; j <= n; ++j) m[r][j] -= f * m[c][j];
    }
  }
  std::vector<double> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = m[i][n] / m[i][i];
  return x;
}

// 4 users, 6 items; item 5 has no interaction (dangling), user 3 interacts twice with item 4.
const std::vector<int64_t> kUsers = {0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3};
const std::vector<int64_t> kItems = {0, 1, 2, 1, 3, 0, 2, 3, 3, 4, 4};

TEST(PprTest, EqualsTheDenseSolveOnAHandGraph) {
  const EngagementGraph g = graph_from_edges(4, 6, kUsers, kItems);
  EXPECT_EQ(g.user_offsets.back(), 10);  // (3, 4) twice is one edge of weight 2
  for (double alpha : {0.5, 0.85}) {
    for (int64_t seed : {0, 3, 4, 5}) {
      PprOptions o;
      o.method = PprMethod::power;
      o.alpha = alpha;
      o.tol = 1e-14;
      o.max_iters = 2000;
      const PprResult r = personalized_pagerank(g, seed, o);
      const std::vector<double> ref = dense_ppr(4, 6, kUsers, kItems, seed, alpha);
      double sum = 0;
      for (int64_t u = 0; u < 4; ++u) {
        EXPECT_NEAR(r.user_scores[u], ref[u], 1e-12) << "alpha " << alpha << " seed " << seed;
        sum += r.user_scores[u];
      }
      for (int64_t i = 0; i < 6; ++i) {
        EXPECT_NEAR(r.item_scores[i], ref[4 + i], 1e-12) << "alpha " << alpha << " seed " << seed;
        sum += r.item_scores[i];
      }
      EXPECT_NEAR(sum, 1.0, 1e-12);
      EXPECT_LT(r.residual, 1e-14);
      if (seed != 5) EXPECT_GT(r.iterations, 1);  // item 5 has no edges: e_5 is the fixed point
    }
  }
  // A dangling seed keeps all its mass, by either method.
  for (PprMethod m : {PprMethod::power, PprMethod::push}) {
    PprOptions o;
    o.method = m;
    const PprResult lone = personalized_pagerank(g, 5, o);
    EXPECT_NEAR(lone.item_scores[5], 1.0, 1e-6);
  }
}

// Forward push: its estimate p misses exactly the residual mass it reports (||r - p||_1 = sum q),
// p <= r everywhere, and a smaller epsilon leaves less.
TEST(PprTest, PushMissesExactlyTheResidualItReports) {
  const EngagementGraph g = graph_from_edges(4, 6, kUsers, kItems);
  for (double alpha : {0.5, 0.85}) {
    for (int64_t seed : {0, 3, 4}) {
      const std::vector<double> ref = dense_ppr(4, 6, kUsers, kItems, seed, alpha);
      double last_residual = 1;
      for (double eps : {1e-2, 1e-4, 1e-8}) {
        PprOptions o;
        o.method = PprMethod::push;
        o.alpha = alpha;
        o.epsilon = eps;
        const PprResult r = personalized_pagerank(g, seed, o);
        double missing = 0;
        for (int64_t u = 0; u < 4; ++u) {
          EXPECT_LE(r.user_scores[u], ref[u] + 1e-15);
          missing += ref[u] - r.user_scores[u];
        }
        for (int64_t i = 0; i < 6; ++i) {
          EXPECT_LE(r.item_scores[i], ref[4 + i] + 1e-15);
          missing += ref[4 + i] - r.item_scores[i];
        }
        EXPECT_NEAR(missing, r.residual, 1e-12) << "alpha " << alpha << " eps " << eps;
        // Every node left holds at most eps per unit of degree: 10 nodes, degrees <= 4.
        EXPECT_LE(r.residual, eps * 4 * 10);
        EXPECT_LE(r.residual, last_residual);
        last_residual = r.residual;
        EXPECT_GT(r.iterations, 0);
      }
      EXPECT_LT(last_residual, 1e-6);
    }
  }
}

TEST(PprTest, NeighboursAreTheTopOtherItemsPaddedWhenTooFew) {
  const EngagementGraph g = graph_from_edges(4, 6, kUsers, kItems);
  for (double power : {0.0, 0.75}) {
  for (PprMethod method : {PprMethod::power, PprMethod::push}) {
  PprOptions o;
  o.method = method;
  o.degree_power = power;
  o.top = 3;
  const std::vector<int64_t> seeds = {4, 5, 1};
  const ItemNeighbours nb = ppr_neighbours(g, seeds, o);
  ASSERT_EQ(nb.residuals.size(), 3u);
  ASSERT_EQ(nb.items.size(), 9u);
  for (size_t s = 0; s < seeds.size(); ++s) {
    const PprResult r = personalized_pagerank(g, seeds[s], o);
    // Independently: the best other item by a full scan, then the next ones, each item's r
    // divided by its degree (number of interactions) to the power.
    std::vector<double> score(6, 0.0);
    for (int64_t i = 0; i < 6; ++i) {
      double deg = 0;
      for (int64_t it : kItems) deg += it == i;
      score[i] = deg > 0 ? r.item_scores[i] / std::pow(deg, power) : r.item_scores[i];
    }
    std::vector<bool> used(6, false);
    used[seeds[s]] = true;
    for (int64_t j = 0; j < 3; ++j) {
      int64_t best = -1;
      for (int64_t i = 0; i < 6; ++i) {
        if (used[i] || score[i] <= 0) continue;
        if (best < 0 || score[i] > score[best]) best = i;
      }
      EXPECT_EQ(nb.items[s * 3 + j], best) << "seed " << seeds[s] << " rank " << j;
      if (best >= 0) {
        used[best] = true;
        EXPECT_DOUBLE_EQ(nb.scores[s * 3 + j], score[best]);
      } else {
        EXPECT_EQ(nb.scores[s * 3 + j], 0.0);
      }
    }
  }
  // Item 4 (users 3 only) reaches item 3 first, through user 3, then 0/1/2 further away.
  EXPECT_EQ(nb.items[0], 3);
  // Item 5 has no edges: no neighbour at all.
  EXPECT_EQ(nb.items[3], -1);
  EXPECT_EQ(nb.items[5], -1);
  }
  }
}

TEST(PprTest, TrainingGraphHoldsOnlyTrainingPositions) {
  Dataset d;
  d.item_raw_ids = {"a", "b", "c", "d"};
  d.user_raw_ids = {"u", "v"};
  d.seq_offsets = {0, 4, 7};
  d.seq_items = {0, 1, 2, 3, 1, 0, 3};
  d.train_end = {2, 1};  // u trains on a, b; v on b
  d.valid_end = {3, 2};
  const EngagementGraph g = training_graph(d);
  EXPECT_EQ(g.user_items, (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(g.item_offsets, (std::vector<int64_t>{0, 1, 3, 3, 3}));  // c and d: no edges
  const ItemNeighbours nb = ppr_neighbours(g, {0}, PprOptions{});
  EXPECT_EQ(nb.items, (std::vector<int64_t>{1, -1, -1}));  // never c or d (held-out positions)
}

TEST(PprTest, BadOptionsAreUserErrors) {
  const EngagementGraph g = graph_from_edges(4, 6, kUsers, kItems);
  PprOptions o;
  o.alpha = 1.0;
  EXPECT_THROW(personalized_pagerank(g, 0, o), UserError);
  o = PprOptions{};
  o.top = 0;
  EXPECT_THROW(ppr_neighbours(g, {0}, o), UserError);
  o = PprOptions{};
  o.tol = 0;
  EXPECT_THROW(personalized_pagerank(g, 0, o), UserError);
  o = PprOptions{};
  o.degree_power = -1;
  EXPECT_THROW(ppr_neighbours(g, {0}, o), UserError);
  o = PprOptions{};
  o.epsilon = 0;
  EXPECT_THROW(personalized_pagerank(g, 0, o), UserError);
  EXPECT_THROW(ppr_method_from_name("exact", "augment.ppr.method"), UserError);
  EXPECT_EQ(ppr_method_from_name("power", "x"), PprMethod::power);
}

}  // namespace
}  // namespace grec::data
