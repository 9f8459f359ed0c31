// k-means: recovers well-separated clusters exactly, is reproducible from its seed, and the
// batched nearest-centroid search agrees with a brute-force loop.
#include <gtest/gtest.h>

#include <set>

#include "model/kmeans.h"

namespace gm = grec::model;

namespace {

// `k` blobs of `per` points around centres 10 apart on distinct axes; returns points and labels.
std::pair<torch::Tensor, torch::Tensor> blobs(int64_t k, int64_t per, int64_t d, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor centres = torch::zeros({k, d});
  for (int64_t c = 0; c < k; ++c) centres[c][c % d] = 10.0 * (1 + c / d);
  torch::Tensor labels = torch::arange(k).repeat_interleave(per);
  torch::Tensor x = centres.index_select(0, labels) + 0.3 * torch::randn({k * per, d});
  torch::Tensor perm = torch::randperm(k * per);
  return {x.index_select(0, perm), labels.index_select(0, perm)};
}

TEST(KMeans, RecoversSeparableClusters) {
  auto [x, labels] = blobs(6, 40, 8, 3);
  gm::KMeansOptions o;
  o.k = 6;
  o.seed = 11;
  o.batch = 17;  // several distance blocks
  const gm::KMeansResult r = gm::kmeans(x, o);
  // Each true cluster maps to exactly one found cluster and vice versa.
  std::set<std::pair<int64_t, int64_t>> pairs;
  for (int64_t i = 0; i < x.size(0); ++i) {
    pairs.insert({labels[i].item<int64_t>(), r.assignment[i].item<int64_t>()});
  }
  EXPECT_EQ(pairs.size(), 6u);
  std::set<int64_t> found;
  for (auto& p : pairs) found.insert(p.second);
  EXPECT_EQ(found.size(), 6u);
  EXPECT_LT(r.inertia / x.size(0), 8 * 0.3 * 0.3 * 1.5);
}

TEST(KMeans, SameSeedSameResult) {
  auto [x, labels] = blobs(5, 30, 4, 1);
  gm::KMeansOptions o;
  o.k = 9;
  o.seed = 5;
  const gm::KMeansResult a = gm::kmeans(x, o);
  const gm::KMeansResult b = gm::kmeans(x, o);
  EXPECT_TRUE(torch::equal(a.centroids, b.centroids));
  EXPECT_TRUE(torch::equal(a.assignment, b.assignment));
  o.seed = 6;
  const gm::KMeansResult c = gm::kmeans(x, o);
  EXPECT_FALSE(torch::equal(a.centroids, c.centroids));
}

TEST(KMeans, NearestCentroidMatchesBruteForce) {
  torch::manual_seed(0);
  const torch::Tensor x = torch::randn({53, 5});
  const torch::Tensor c = torch::randn({7, 5});
  torch::Tensor dist;
  const torch::Tensor idx = gm::nearest_centroid(x, c, 10, &dist);
  for (int64_t i = 0; i < 53; ++i) {
    const torch::Tensor d = (c - x[i]).pow(2).sum(1);
    EXPECT_EQ(idx[i].item<int64_t>(), d.argmin().item<int64_t>());
    EXPECT_NEAR(dist[i].item<double>(), d.min().item<double>(), 1e-4);
  }
}

TEST(KMeans, FewerPointsThanClustersStillGivesKCentroids) {
  const torch::Tensor x = torch::tensor({0.0f, 1.0f, 5.0f}).unsqueeze(1);
  gm::KMeansOptions o;
  o.k = 5;
  const gm::KMeansResult r = gm::kmeans(x, o);
  EXPECT_EQ(r.centroids.size(0), 5);
  EXPECT_NEAR(r.inertia, 0.0, 1e-6);
}

}  // namespace
