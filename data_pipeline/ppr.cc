#include "data_pipeline/ppr.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <numeric>
#include <utility>

#include "core/error.h"
#include "data_pipeline/dataset.h"

namespace grec::data {
namespace {

// CSR of (row -> col, weight) from edge lists, repeated pairs summed, columns ascending.
void build_csr(int64_t rows, const std::vector<int64_t>& r, const std::vector<int64_t>& c,
               std::vector<int64_t>& offsets, std::vector<int64_t>& cols,
               std::vector<double>& weights) {
  std::vector<int64_t> order(r.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return r[a] != r[b] ? r[a] < r[b] : c[a] < c[b];
  });
  offsets.assign(static_cast<size_t>(rows + 1), 0);
  cols.clear();
  weights.clear();
  for (size_t k = 0; k < order.size(); ++k) {
    const int64_t row = r[order[k]], col = c[order[k]];
    if (k > 0 && r[order[k - 1]] == row && c[order[k - 1]] == col) {
      weights.back() += 1;
      continue;
    }
    cols.push_back(col);
    weights.push_back(1);
    ++offsets[row + 1];
  }
  for (int64_t i = 0; i < rows; ++i) offsets[i + 1] += offsets[i];
}

void check_options(const PprOptions& o) {
  if (!(o.alpha >= 0 && o.alpha < 1)) user_error("PPR alpha must be in [0, 1), got {}", o.alpha);
  if (o.top < 1) user_error("PPR top (neighbours per item) must be >= 1, got {}", o.top);
  if (o.max_iters < 1) user_error("PPR max_iters must be >= 1, got {}", o.max_iters);
  if (!(o.tol > 0)) user_error("PPR tol must be > 0, got {}", o.tol);
  if (!(o.epsilon > 0 && o.epsilon < 1)) {
    user_error("PPR push epsilon must be in (0, 1), got {}", o.epsilon);
  }
  if (!(o.degree_power >= 0 && o.degree_power <= 2)) {
    user_error("PPR degree_power must be in [0, 2], got {}", o.degree_power);
  }
}

std::vector<double> row_sums(const std::vector<int64_t>& offsets, const std::vector<double>& w) {
  std::vector<double> out(offsets.size() - 1, 0.0);
  for (size_t i = 0; i + 1 < offsets.size(); ++i) {
    for (int64_t k = offsets[i]; k < offsets[i + 1]; ++k) out[i] += w[k];
  }
  return out;
}

// new[dst] += alpha * r[src] * w / degree(src) over the edges src -> dst; returns the mass of
// the sources without edges.
double spread(const std::vector<int64_t>& offsets, const std::vector<int64_t>& cols,
              const std::vector<double>& weights, const std::vector<double>& degree,
              const std::vector<double>& r, double alpha, std::vector<double>& out) {
  double dangling = 0;
  for (size_t src = 0; src < r.size(); ++src) {
    if (r[src] == 0) continue;
    if (degree[src] == 0) {
      dangling += r[src];
      continue;
    }
    const double share = alpha * r[src] / degree[src];
    for (int64_t k = offsets[src]; k < offsets[src + 1]; ++k) out[cols[k]] += share * weights[k];
  }
  return dangling;
}

PprResult power_iteration(const EngagementGraph& g, int64_t seed, const PprOptions& o) {
  PprResult r;
  r.user_scores.assign(static_cast<size_t>(g.num_users), 0.0);
  r.item_scores.assign(static_cast<size_t>(g.num_items), 0.0);
  r.item_scores[seed] = 1.0;
  std::vector<double> nu(r.user_scores.size()), ni(r.item_scores.size());
  for (r.iterations = 1; r.iterations <= o.max_iters; ++r.iterations) {
    std::fill(nu.begin(), nu.end(), 0.0);
    std::fill(ni.begin(), ni.end(), 0.0);
    double dangling = spread(g.item_offsets, g.item_users, g.item_weights, g.item_degree,
                             r.item_scores, o.alpha, nu);
    dangling += spread(g.user_offsets, g.user_items, g.user_weights, g.user_degree,
                       r.user_scores, o.alpha, ni);
    ni[seed] += (1 - o.alpha) + o.alpha * dangling;
    r.residual = 0;
    for (size_t i = 0; i < nu.size(); ++i) r.residual += std::abs(nu[i] - r.user_scores[i]);
    for (size_t i = 0; i < ni.size(); ++i) r.residual += std::abs(ni[i] - r.item_scores[i]);
    r.user_scores.swap(nu);
    r.item_scores.swap(ni);
    if (r.residual < o.tol) break;
  }
  r.iterations = std::min(r.iterations, o.max_iters);
  return r;
}

// Forward push over the U + I nodes (users first). Reused across seeds: only the nodes a seed
// touched are reset, so a seed costs its pushes, not the graph's size.
class PushWorkspace {
 public:
  explicit PushWorkspace(const EngagementGraph& g)
      : g_(g), p_(size_t(g.num_users + g.num_items), 0.0), q_(p_.size(), 0.0),
        queued_(p_.size(), 0) {}

  // Runs from item `seed`; returns (pushes, residual mass).
  std::pair<int64_t, double> run(int64_t seed, double alpha, double epsilon) {
    for (int64_t v : touched_) p_[v] = q_[v] = 0;
    touched_.clear();
    const int64_t s = g_.num_users + seed;
    add(s, 1.0, epsilon);
    int64_t pushes = 0;
    while (!queue_.empty()) {
      const int64_t v = queue_.front();
      queue_.pop_front();
      queued_[v] = 0;
      const double mass = q_[v];
      if (!(mass > epsilon * std::max(degree(v), 1.0))) continue;
      q_[v] = 0;
      p_[v] += (1 - alpha) * mass;
      ++pushes;
      const double deg = degree(v);
      if (deg == 0) {
        add(s, alpha * mass, epsilon);
        continue;
      }
      const double share = alpha * mass / deg;
      const bool user = v < g_.num_users;
      const int64_t row = user ? v : v - g_.num_users;
      const auto& offsets = user ? g_.user_offsets : g_.item_offsets;
      const auto& cols = user ? g_.user_items : g_.item_users;
      const auto& weights = user ? g_.user_weights : g_.item_weights;
      const int64_t base = user ? g_.num_users : 0;
      for (int64_t k = offsets[row]; k < offsets[row + 1]; ++k) {
        add(base + cols[k], share * weights[k], epsilon);
      }
    }
    double residual = 0;
    for (int64_t v : touched_) residual += q_[v];
    return {pushes, residual};
  }

  const std::vector<int64_t>& touched() const { return touched_; }
  double estimate(int64_t node) const { return p_[node]; }

 private:
  double degree(int64_t v) const {
    return v < g_.num_users ? g_.user_degree[v] : g_.item_degree[v - g_.num_users];
  }
  void add(int64_t v, double mass, double epsilon) {
    if (mass <= 0) return;
    if (p_[v] == 0 && q_[v] == 0) touched_.push_back(v);
    q_[v] += mass;
    if (!queued_[v] && q_[v] > epsilon * std::max(degree(v), 1.0)) {
      queued_[v] = 1;
      queue_.push_back(v);
    }
  }

  const EngagementGraph& g_;
  std::vector<double> p_, q_;
  std::vector<char> queued_;
  std::vector<int64_t> touched_;
  std::deque<int64_t> queue_;
};

}  // namespace

EngagementGraph graph_from_edges(int64_t num_users, int64_t num_items,
                                 const std::vector<int64_t>& users,
                                 const std::vector<int64_t>& items) {
  GREC_CHECK(users.size() == items.size(), "graph_from_edges: {} users vs {} items", users.size(),
             items.size());
  for (size_t k = 0; k < users.size(); ++k) {
    GREC_CHECK(users[k] >= 0 && users[k] < num_users && items[k] >= 0 && items[k] < num_items,
               "graph_from_edges: edge {} ({}, {}) outside {} users x {} items", k, users[k],
               items[k], num_users, num_items);
  }
  EngagementGraph g;
  g.num_users = num_users;
  g.num_items = num_items;
  build_csr(num_users, users, items, g.user_offsets, g.user_items, g.user_weights);
  build_csr(num_items, items, users, g.item_offsets, g.item_users, g.item_weights);
  g.user_degree = row_sums(g.user_offsets, g.user_weights);
  g.item_degree = row_sums(g.item_offsets, g.item_weights);
  return g;
}

EngagementGraph training_graph(const Dataset& dataset) {
  std::vector<int64_t> users, items;
  for (int64_t u = 0; u < dataset.num_users(); ++u) {
    const int64_t* seq = dataset.sequence(u);
    for (int64_t p = 0; p < dataset.train_end[u]; ++p) {
      users.push_back(u);
      items.push_back(seq[p]);
    }
  }
  return graph_from_edges(dataset.num_users(), dataset.num_items(), users, items);
}

PprMethod ppr_method_from_name(const std::string& name, const std::string& what) {
  if (name == "power") return PprMethod::power;
  if (name == "push") return PprMethod::push;
  user_error("{} must be power or push, got '{}'", what, name);
}

PprResult personalized_pagerank(const EngagementGraph& g, int64_t seed, const PprOptions& o) {
  check_options(o);
  GREC_CHECK(seed >= 0 && seed < g.num_items, "PPR seed {} outside {} items", seed, g.num_items);
  if (o.method == PprMethod::power) return power_iteration(g, seed, o);
  PushWorkspace ws(g);
  const auto [pushes, residual] = ws.run(seed, o.alpha, o.epsilon);
  PprResult r;
  r.iterations = pushes;
  r.residual = residual;
  r.user_scores.assign(static_cast<size_t>(g.num_users), 0.0);
  r.item_scores.assign(static_cast<size_t>(g.num_items), 0.0);
  for (int64_t v : ws.touched()) {
    if (v < g.num_users) {
      r.user_scores[v] = ws.estimate(v);
    } else {
      r.item_scores[v - g.num_users] = ws.estimate(v);
    }
  }
  return r;
}

ItemNeighbours ppr_neighbours(const EngagementGraph& g, const std::vector<int64_t>& seeds,
                              const PprOptions& o) {
  check_options(o);
  ItemNeighbours out;
  out.top = o.top;
  out.items.assign(seeds.size() * static_cast<size_t>(o.top), -1);
  out.scores.assign(out.items.size(), 0.0);
  out.iterations.reserve(seeds.size());
  out.residuals.reserve(seeds.size());
  std::vector<std::pair<double, int64_t>> cand;
  PushWorkspace ws(g);
  std::vector<double> item_scale(static_cast<size_t>(g.num_items), 1.0);  // 1 / deg^power
  if (o.degree_power != 0) {
    for (int64_t i = 0; i < g.num_items; ++i) {
      if (g.item_degree[i] > 0) item_scale[i] = 1.0 / std::pow(g.item_degree[i], o.degree_power);
    }
  }
  for (size_t s = 0; s < seeds.size(); ++s) {
    const int64_t seed = seeds[s];
    GREC_CHECK(seed >= 0 && seed < g.num_items, "PPR seed {} outside {} items", seed, g.num_items);
    cand.clear();
    if (o.method == PprMethod::power) {
      const PprResult r = power_iteration(g, seed, o);
      out.iterations.push_back(r.iterations);
      out.residuals.push_back(r.residual);
      for (int64_t i = 0; i < g.num_items; ++i) {
        if (i != seed && r.item_scores[i] > 0) cand.emplace_back(r.item_scores[i] * item_scale[i], i);
      }
    } else {
      const auto [pushes, residual] = ws.run(seed, o.alpha, o.epsilon);
      out.iterations.push_back(pushes);
      out.residuals.push_back(residual);
      for (int64_t v : ws.touched()) {
        const int64_t i = v - g.num_users;
        if (i >= 0 && i != seed && ws.estimate(v) > 0) {
          cand.emplace_back(ws.estimate(v) * item_scale[i], i);
        }
      }
    }
    const size_t k = std::min(cand.size(), static_cast<size_t>(o.top));
    std::partial_sort(cand.begin(), cand.begin() + k, cand.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    for (size_t j = 0; j < k; ++j) {
      out.items[s * o.top + j] = cand[j].second;
      out.scores[s * o.top + j] = cand[j].first;
    }
  }
  return out;
}

}  // namespace grec::data
