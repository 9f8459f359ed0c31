// k-means++ seeding + Lloyd iterations; see kmeans.h.
#include "model/kmeans.h"

#include <algorithm>
#include <vector>

#include "core/splitmix64.h"

namespace grec::model {
namespace {

double uniform01(uint64_t& s) { return unit_double(splitmix64(s)); }

// Squared distances of x's rows to every centroid, [rows, k], clamped at 0 (cancellation).
torch::Tensor sq_distances(const torch::Tensor& x, const torch::Tensor& c) {
  const torch::Tensor xn = x.pow(2).sum(1, true);
  const torch::Tensor cn = c.pow(2).sum(1).unsqueeze(0);
  return (xn + cn).addmm_(x, c.t(), 1.0, -2.0).clamp_min_(0.0);  // in place: no [rows, k] copy
}

// Index drawn with probability proportional to weights (float64, summing to total > 0).
int64_t draw(const std::vector<double>& weights, double total, uint64_t& s) {
  double u = uniform01(s) * total;
  for (size_t i = 0; i < weights.size(); ++i) {
    u -= weights[i];
    if (u < 0) return static_cast<int64_t>(i);
  }
  // Rounding left u >= 0 after the last positive weight: take the last positive one.
  for (size_t i = weights.size(); i-- > 0;) {
    if (weights[i] > 0) return static_cast<int64_t>(i);
  }
  return 0;
}

}  // namespace

torch::Tensor nearest_centroid(const torch::Tensor& x, const torch::Tensor& centroids,
                               int64_t batch, torch::Tensor* min_sq_dist) {
  torch::NoGradGuard no_grad;
  const int64_t n = x.size(0);
  torch::Tensor idx = torch::empty({n}, torch::kLong);
  torch::Tensor best = torch::empty({n}, x.options());
  for (int64_t a = 0; a < n; a += batch) {
    const int64_t b = std::min(n, a + batch);
    auto [v, i] = sq_distances(x.slice(0, a, b), centroids).min(1);
    idx.slice(0, a, b).copy_(i);
    best.slice(0, a, b).copy_(v);
  }
  if (min_sq_dist) *min_sq_dist = best;
  return idx;
}

KMeansResult kmeans(const torch::Tensor& input, const KMeansOptions& o) {
  TORCH_CHECK(input.dim() == 2 && input.size(0) >= 1, "kmeans: x must be [n >= 1, d]");
  TORCH_CHECK(o.k >= 1, "kmeans: k must be >= 1");
  torch::NoGradGuard no_grad;
  const torch::Tensor x = input.detach().to(torch::kFloat).contiguous();
  const int64_t n = x.size(0), k = o.k, batch = std::max<int64_t>(1, o.batch);
  uint64_t rng = o.seed ^ 0x6B6D65616E73ULL;  // "kmeans": a stream apart from other seed users

  // k-means++: first centre uniform, then each next one with probability ∝ D(x)².
  std::vector<int64_t> chosen;
  chosen.push_back(static_cast<int64_t>(splitmix64(rng) % static_cast<uint64_t>(n)));
  torch::Tensor d2;
  nearest_centroid(x, x.index_select(0, torch::tensor(chosen)), batch, &d2);
  while (static_cast<int64_t>(chosen.size()) < k) {
    const torch::Tensor w = d2.to(torch::kDouble).contiguous();
    std::vector<double> weights(w.data_ptr<double>(), w.data_ptr<double>() + n);
    double total = 0;
    for (double v : weights) total += v;
    // All points coincide with centres (n < k or duplicates): repeat points uniformly.
    const int64_t next = total > 0 ? draw(weights, total, rng)
                                   : static_cast<int64_t>(splitmix64(rng) % static_cast<uint64_t>(n));
    chosen.push_back(next);
    torch::Tensor dn;
    nearest_centroid(x, x.slice(0, next, next + 1), batch, &dn);
    d2 = torch::minimum(d2, dn);
  }
  torch::Tensor c = x.index_select(0, torch::tensor(chosen)).clone();

  KMeansResult r;
  torch::Tensor assign = nearest_centroid(x, c, batch, &d2);
  for (int64_t it = 0; it < o.iters; ++it) {
    torch::Tensor sums = torch::zeros_like(c).index_add_(0, assign, x);
    torch::Tensor counts = torch::zeros({k}, x.options()).index_add_(0, assign, torch::ones({n}, x.options()));
    torch::Tensor empty = counts == 0;
    c = torch::where(empty.unsqueeze(1), c, sums / counts.clamp_min(1).unsqueeze(1));
    // An empty cluster takes the point farthest from its centre (deterministic; data order ties).
    const int64_t n_empty = empty.sum().item<int64_t>();
    if (n_empty > 0) {
      const torch::Tensor far = std::get<1>(d2.sort(0, /*descending=*/true));
      const torch::Tensor empties = empty.nonzero().squeeze(1);
      for (int64_t e = 0; e < n_empty && e < n; ++e) {
        c[empties[e].item<int64_t>()] = x[far[e].item<int64_t>()];
      }
    }
    torch::Tensor next = nearest_centroid(x, c, batch, &d2);
    r.iterations = it + 1;
    const bool settled = torch::equal(next, assign) && n_empty == 0;
    assign = next;
    if (settled) break;
  }
  r.centroids = c;
  r.assignment = assign;
  r.inertia = d2.to(torch::kDouble).sum().item<double>();
  return r;
}

}  // namespace grec::model
