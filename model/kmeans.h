// k-means with k-means++ seeding (Arthur & Vassilvitskii 2007) for initialising RQ-VAE codebooks
// (ALGORITHMS.md §1). Seeded by its own splitmix64 stream, not torch's global RNG, so the result
// depends only on (data, options) and is identical on every rank. Distances are computed in row
// batches (‖x‖² − 2x·cᵀ + ‖c‖²) so memory stays O(batch · k).
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace grec::model {

struct KMeansOptions {
  int64_t k = 8;
  int64_t iters = 50;      // Lloyd iterations after seeding (stops early when assignments settle)
  uint64_t seed = 0;
  int64_t batch = 4096;    // rows per distance block
};

struct KMeansResult {
  torch::Tensor centroids;   // [k, d] float32
  torch::Tensor assignment;  // [n] int64, nearest centroid of each row
  double inertia = 0;        // sum of squared distances to the assigned centroids
  int64_t iterations = 0;    // Lloyd iterations run
};

// Nearest row of `centroids` for every row of `x` (first index on ties), in blocks of `batch`
// rows; `min_sq_dist` (optional) receives the squared distances [n].
torch::Tensor nearest_centroid(const torch::Tensor& x, const torch::Tensor& centroids,
                               int64_t batch = 4096, torch::Tensor* min_sq_dist = nullptr);

// x: [n, d] finite floats, n >= 1. With n < k the extra centroids repeat data points (so every
// centroid is a real point) — callers that care check n >= k first.
KMeansResult kmeans(const torch::Tensor& x, const KMeansOptions& options);

}  // namespace grec::model
