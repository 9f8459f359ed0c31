// Collision resolution for semantic IDs (ALGORITHMS.md §1): LC-Rec's Sinkhorn re-assignment of the
// last level for colliding groups, then TIGER's suffix level as the backstop.
//
// Sinkhorn runs in log space in float64: with eps = 0.003 and distances scaled to [-1, 1], the
// kernel exp(-d/eps) spans e^±333 and the plain-space iteration of the public code underflows to
// 0/0 = NaN. The plan is rounded per row by argmax; when two rows of a group pick the same code
// (which argmax alone cannot avoid, e.g. for identical rows), the plan is rounded greedily, best
// (row, code) probability first, so a group that has enough free codes always ends distinct.
// Codes already used by other items with the same prefix are excluded from the group's plan, so
// a re-assignment never creates a new collision.
#include "tokenizer/collisions.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "core/error.h"

namespace grec::tok {
namespace {

using Tuple = std::vector<int64_t>;

torch::Tensor as_codes(const torch::Tensor& codes) {
  TORCH_CHECK(codes.dim() == 2, "codes must be [n, L], got ", codes.sizes());
  return codes.to(torch::kLong).contiguous();
}

// Groups of row indices sharing a full tuple, only groups of size >= 2, ordered by first row.
std::vector<std::vector<int64_t>> colliding_groups(const int64_t* c, int64_t n, int64_t levels) {
  std::map<Tuple, std::vector<int64_t>> by_tuple;
  for (int64_t i = 0; i < n; ++i) by_tuple[Tuple(c + i * levels, c + (i + 1) * levels)].push_back(i);
  std::vector<std::vector<int64_t>> groups;
  for (auto& kv : by_tuple) {
    if (kv.second.size() > 1) groups.push_back(std::move(kv.second));
  }
  std::sort(groups.begin(), groups.end(),
            [](const auto& a, const auto& b) { return a.front() < b.front(); });
  return groups;
}

int64_t count_items(const std::vector<std::vector<int64_t>>& groups) {
  int64_t total = 0;
  for (const auto& g : groups) total += static_cast<int64_t>(g.size());
  return total;
}

// Log of the Sinkhorn plan for d [m, k] row-major (float64); rows end normalised (each row sums
// to 1/m, columns approximately 1/k).
std::vector<double> sinkhorn_log_plan(const std::vector<double>& d, int64_t m, int64_t k,
                                      double epsilon, int64_t iterations) {
  GREC_CHECK(epsilon > 0, "sinkhorn epsilon must be > 0, got {}", epsilon);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : d) {
    GREC_CHECK(std::isfinite(v), "sinkhorn: non-finite distance {}", v);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const double mid = (lo + hi) / 2, amp = (hi - lo) / 2 + 1e-12;
  std::vector<double> a(d.size());
  for (size_t i = 0; i < d.size(); ++i) a[i] = -((d[i] - mid) / amp) / epsilon;
  const double log_m = std::log(static_cast<double>(m)), log_k = std::log(static_cast<double>(k));
  std::vector<double> col_max(k), col_sum(k);
  for (int64_t it = 0; it < iterations; ++it) {
    // Columns (codes): each carries mass 1/k.
    std::fill(col_max.begin(), col_max.end(), -std::numeric_limits<double>::infinity());
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < k; ++j) col_max[j] = std::max(col_max[j], a[i * k + j]);
    std::fill(col_sum.begin(), col_sum.end(), 0.0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < k; ++j) col_sum[j] += std::exp(a[i * k + j] - col_max[j]);
    for (int64_t j = 0; j < k; ++j) col_sum[j] = col_max[j] + std::log(col_sum[j]) + log_k;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < k; ++j) a[i * k + j] -= col_sum[j];
    // Rows (items): each carries mass 1/m.
    for (int64_t i = 0; i < m; ++i) {
      double* row = a.data() + i * k;
      const double mx = *std::max_element(row, row + k);
      double s = 0;
      for (int64_t j = 0; j < k; ++j) s += std::exp(row[j] - mx);
      const double lse = mx + std::log(s) + log_m;
      for (int64_t j = 0; j < k; ++j) row[j] -= lse;
    }
  }
  return a;
}

// Rounds a log plan [m, k] to one column per row: argmax where that is conflict-free, otherwise
// greedily by descending plan value (ties: lower row, then lower column), each column taking at
// most ceil(m / k) rows, so a group larger than the free codes is still spread evenly (the suffix
// level then separates the few rows per code).
std::vector<int64_t> round_plan(const std::vector<double>& a, int64_t m, int64_t k) {
  std::vector<int64_t> order(static_cast<size_t>(m * k));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return a[x] > a[y]; });
  std::vector<int64_t> out(m, -1);
  std::vector<int64_t> used(k, 0);
  const int64_t capacity = (m + k - 1) / k;
  int64_t assigned = 0;
  for (int64_t idx : order) {
    if (assigned == m) break;
    const int64_t i = idx / k, j = idx % k;
    if (out[i] >= 0 || used[j] >= capacity) continue;
    out[i] = j;
    ++used[j];
    ++assigned;
  }
  return out;
}

void fill_before(const int64_t* c, int64_t n, int64_t levels, CollisionStats* stats) {
  const auto groups = colliding_groups(c, n, levels);
  stats->items = n;
  stats->colliding_items_before = count_items(groups);
  stats->collision_rate_before = n ? static_cast<double>(stats->colliding_items_before) / n : 0.0;
  stats->max_group_before = groups.empty() ? 1 : 0;
  if (n == 0) stats->max_group_before = 0;
  for (const auto& g : groups)
    stats->max_group_before = std::max<int64_t>(stats->max_group_before, g.size());
}

// One Sinkhorn round over every colliding group; returns whether anything changed.
bool sinkhorn_round(int64_t* c, int64_t n, int64_t levels, const torch::Tensor& dist,
                    const CollisionOptions& options) {
  const auto groups = colliding_groups(c, n, levels);
  if (groups.empty()) return false;
  const int64_t k = dist.size(1);
  const double* dp = dist.data_ptr<double>();
  // Last-level codes in use per prefix (levels 0..L-2).
  std::map<Tuple, std::vector<int64_t>> used;  // prefix -> count per code
  auto prefix_of = [&](int64_t i) { return Tuple(c + i * levels, c + i * levels + levels - 1); };
  for (int64_t i = 0; i < n; ++i) {
    auto& u = used[prefix_of(i)];
    if (u.empty()) u.assign(k, 0);
    ++u[c[i * levels + levels - 1]];
  }
  bool changed = false;
  for (const auto& g : groups) {
    const int64_t m = static_cast<int64_t>(g.size());
    auto& u = used[prefix_of(g.front())];
    u[c[g.front() * levels + levels - 1]] -= m;  // the group's own code is free for it
    std::vector<int64_t> free_codes;
    for (int64_t j = 0; j < k; ++j) {
      if (u[j] == 0) free_codes.push_back(j);
    }
    if (free_codes.empty()) {
      u[c[g.front() * levels + levels - 1]] += m;
      continue;
    }
    const int64_t f = static_cast<int64_t>(free_codes.size());
    std::vector<double> d(static_cast<size_t>(m * f));
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = 0; j < f; ++j) d[r * f + j] = dp[g[r] * k + free_codes[j]];
    const auto plan = sinkhorn_log_plan(d, m, f, options.epsilon, options.iterations);
    const auto pick = round_plan(plan, m, f);
    for (int64_t r = 0; r < m; ++r) {
      const int64_t code = free_codes[pick[r]];
      int64_t& slot = c[g[r] * levels + levels - 1];
      changed = changed || slot != code;
      slot = code;
      ++u[code];
    }
  }
  return changed;
}

// Appends a level counting earlier duplicates of each tuple, in item order (TIGER).
torch::Tensor add_suffix(const torch::Tensor& codes, CollisionStats* stats) {
  const int64_t n = codes.size(0), levels = codes.size(1);
  const int64_t* c = codes.data_ptr<int64_t>();
  torch::Tensor out = torch::zeros({n, levels + 1}, torch::kLong);
  out.narrow(1, 0, levels).copy_(codes);
  int64_t* o = out.data_ptr<int64_t>();
  std::map<Tuple, int64_t> seen;
  int64_t mx = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t s = seen[Tuple(c + i * levels, c + (i + 1) * levels)]++;
    o[i * (levels + 1) + levels] = s;
    mx = std::max(mx, s);
  }
  stats->suffix_level_added = true;
  stats->suffix_max = mx;
  return out;
}

}  // namespace

double collision_rate(const torch::Tensor& codes) {
  const torch::Tensor c = as_codes(codes);
  const int64_t n = c.size(0);
  if (n == 0) return 0.0;
  return static_cast<double>(count_items(colliding_groups(c.data_ptr<int64_t>(), n, c.size(1)))) / n;
}

torch::Tensor sinkhorn_assign(const torch::Tensor& distances, double epsilon, int64_t iterations) {
  TORCH_CHECK(distances.dim() == 2 && distances.size(0) > 0 && distances.size(1) > 0,
              "sinkhorn distances must be a non-empty [m, K] matrix, got ", distances.sizes());
  const torch::Tensor d = distances.to(torch::kDouble).contiguous();
  const int64_t m = d.size(0), k = d.size(1);
  std::vector<double> v(d.data_ptr<double>(), d.data_ptr<double>() + m * k);
  const auto plan = sinkhorn_log_plan(v, m, k, epsilon, iterations);
  torch::Tensor out = torch::empty({m}, torch::kLong);
  for (int64_t i = 0; i < m; ++i) {
    const double* row = plan.data() + i * k;
    out[i] = static_cast<int64_t>(std::max_element(row, row + k) - row);
  }
  return out;
}

torch::Tensor resolve_collisions(const torch::Tensor& codes, const torch::Tensor& last_distances,
                                 const CollisionOptions& options, CollisionStats* stats) {
  CollisionStats local;
  if (stats == nullptr) stats = &local;
  *stats = CollisionStats{};
  torch::Tensor c = as_codes(codes).clone();
  const int64_t n = c.size(0), levels = c.size(1);
  TORCH_CHECK(levels >= 1, "codes need at least one level");
  TORCH_CHECK(c.numel() == 0 || c.min().item<int64_t>() >= 0, "codes must be >= 0");
  fill_before(c.data_ptr<int64_t>(), n, levels, stats);
  const std::string& method = options.method;
  if (method != "sinkhorn" && method != "suffix" && method != "none") {
    user_error("unknown collision method '{}' (expected sinkhorn, suffix or none)", method);
  }
  if (method == "sinkhorn" && stats->colliding_items_before > 0) {
    TORCH_CHECK(last_distances.defined() && last_distances.dim() == 2 &&
                    last_distances.size(0) == n,
                "sinkhorn needs last_distances [n, K] with n = ", n);
    const torch::Tensor dist = last_distances.to(torch::kDouble).contiguous();
    TORCH_CHECK(c.select(1, levels - 1).max().item<int64_t>() < dist.size(1),
                "last-level codes exceed the ", dist.size(1), " columns of last_distances");
    TORCH_CHECK(torch::isfinite(dist).all().item<bool>(), "last_distances has NaN/Inf");
    for (int64_t r = 0; r < options.rounds; ++r) {
      if (!sinkhorn_round(c.data_ptr<int64_t>(), n, levels, dist, options)) break;
    }
  }
  const int64_t after = count_items(colliding_groups(c.data_ptr<int64_t>(), n, levels));
  stats->colliding_items_after_sinkhorn = after;
  if (after > 0 && method != "none") c = add_suffix(c, stats);
  stats->collision_rate_after = collision_rate(c);
  return c;
}

}  // namespace grec::tok
