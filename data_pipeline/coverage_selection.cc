// DEALRec scoring and coverage-enhanced selection (see coverage_selection.h). Random picks are a
// partial Fisher-Yates shuffle driven by SampleRng, never std's distributions, so a seed selects
// the same samples with every standard library.
#include "data_pipeline/coverage_selection.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string_view>

#include "core/error.h"
#include "core/hash.h"
#include "data_pipeline/sequence_batches.h"

namespace grec::data {
namespace {

void check_budget(int64_t budget, int64_t n) {
  if (budget < 1 || budget > n) {
    user_error("prune.keep gives a budget of {} samples, must be in [1, {}] (the sample count)",
               budget, n);
  }
}

void check_finite(const std::vector<double>& x, std::string_view what) {
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) user_error("prune: sample {} has a non-finite {} ({})", i, what, x[i]);
  }
}

uint64_t stream_seed(std::string_view tag, uint64_t seed, int64_t index) {
  uint64_t h = fnv1a64(tag);
  h = fnv1a64(&seed, sizeof seed, h);
  return fnv1a64(&index, sizeof index, h);
}

// Makes pool[0, k) a uniform random k-subset of pool (partial Fisher-Yates).
void choose(std::vector<int64_t>& pool, int64_t k, SampleRng& rng) {
  const int64_t n = static_cast<int64_t>(pool.size());
  for (int64_t i = 0; i < k; ++i) std::swap(pool[i], pool[i + rng.uniform(n - i)]);
}

}  // namespace

std::vector<double> minmax_normalise(const std::vector<double>& x) {
  check_finite(x, "score component");
  std::vector<double> out(x.size(), 0.0);
  if (x.empty()) return out;
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  const double x_min = *lo, range = *hi - *lo;
  if (range > 0) {
    for (size_t i = 0; i < x.size(); ++i) out[i] = (x[i] - x_min) / range;
  }
  return out;
}

std::vector<double> dealrec_score(const std::vector<double>& influence,
                                  const std::vector<double>& effort, double lambda) {
  GREC_CHECK(influence.size() == effort.size(), "{} influence scores but {} effort scores",
             influence.size(), effort.size());
  if (!(std::isfinite(lambda) && lambda >= 0)) {
    user_error("prune.lambda must be a finite number >= 0, got {}", lambda);
  }
  std::vector<double> score = minmax_normalise(influence);
  const std::vector<double> e = minmax_normalise(effort);
  for (size_t i = 0; i < score.size(); ++i) score[i] += lambda * e[i];
  return score;
}

Selection coverage_select(const std::vector<double>& scores, int64_t budget,
                          const CoverageOptions& o) {
  const int64_t n = static_cast<int64_t>(scores.size());
  check_budget(budget, n);
  if (!(o.drop_hardest >= 0 && o.drop_hardest < 1)) {
    user_error("prune.coverage.drop_hardest must be in [0, 1), got {}", o.drop_hardest);
  }
  if (o.strata < 1) user_error("prune.coverage.strata must be >= 1, got {}", o.strata);
  check_finite(scores, "score");

  const int64_t K = o.strata;
  Selection s;
  s.stratum.assign(n, -1);
  s.stratum_sizes.assign(K, 0);
  s.stratum_taken.assign(K, 0);

  // Ascending by (score, index): the hardest come last, the higher index last among equals.
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), int64_t{0});
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return scores[a] < scores[b] || (scores[a] == scores[b] && a < b);
  });
  // The 1e-9 keeps a product such as 0.29 * 100 = 28.999999999999996 from losing a sample.
  const auto by_fraction = static_cast<int64_t>(std::floor(o.drop_hardest * double(n) + 1e-9));
  s.dropped_hardest = std::min(by_fraction, n - budget);
  const int64_t pool = n - s.dropped_hardest;

  const double lo = scores[order[0]], hi = scores[order[pool - 1]];
  for (int64_t r = 0; r < pool; ++r) {
    const int64_t i = order[r];
    int64_t k = 0;
    if (hi > lo) {
      k = std::min(K - 1, static_cast<int64_t>((scores[i] - lo) / (hi - lo) * double(K)));
    }
    s.stratum[i] = k;
    ++s.stratum_sizes[k];
  }
  // Members by index, so a stratum's pick depends only on its members and seed.
  std::vector<std::vector<int64_t>> members(K);
  for (int64_t i = 0; i < n; ++i) {
    if (s.stratum[i] >= 0) members[s.stratum[i]].push_back(i);
  }

  std::vector<int64_t> visit;
  for (int64_t k = 0; k < K; ++k) {
    if (s.stratum_sizes[k] > 0) visit.push_back(k);
  }
  std::stable_sort(visit.begin(), visit.end(), [&](int64_t a, int64_t b) {
    return s.stratum_sizes[a] < s.stratum_sizes[b];
  });
  // The budget is always spent: with sizes ascending, "remaining <= total size of the strata not
  // yet visited" holds throughout. It holds at the start (pool >= budget); a stratum taken whole
  // keeps it; one cut to q = floor(r / k) of its size (> q) leaves r - q <= (k - 1) * q + k - 1,
  // and the k - 1 strata after it have >= q + 1 samples each. The last stratum (k = 1) then
  // takes all that remains.
  const int64_t m = static_cast<int64_t>(visit.size());
  int64_t remaining = budget;
  s.kept.reserve(budget);
  for (int64_t j = 0; j < m; ++j) {
    const int64_t k = visit[j];
    const int64_t take = std::min(s.stratum_sizes[k], remaining / (m - j));
    SampleRng rng(stream_seed("coverage_select", o.seed, k));
    choose(members[k], take, rng);
    s.kept.insert(s.kept.end(), members[k].begin(), members[k].begin() + take);
    s.stratum_taken[k] = take;
    remaining -= take;
  }
  GREC_CHECK(remaining == 0, "coverage selection left {} of a budget of {} unspent", remaining,
             budget);
  std::sort(s.kept.begin(), s.kept.end());
  return s;
}

std::vector<int64_t> random_select(int64_t n, int64_t budget, uint64_t seed) {
  check_budget(budget, n);
  std::vector<int64_t> pool(n);
  std::iota(pool.begin(), pool.end(), int64_t{0});
  SampleRng rng(stream_seed("random_select", seed, 0));
  choose(pool, budget, rng);
  pool.resize(budget);
  std::sort(pool.begin(), pool.end());
  return pool;
}

}  // namespace grec::data
