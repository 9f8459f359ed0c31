// Personalized PageRank on the user–item engagement graph (LLM-Rec's engagement-guided prompts,
// ALGORITHMS.md §7): an item's neighbours are the items a random walk that restarts at it visits
// most. Torch-free.
//
// The graph is bipartite, users on one side and items on the other, with one edge per training
// interaction (positions [0, train_end) of each user's sequence: validation and test items never
// enter it); an interaction repeated k times is an edge of weight k. The walk from node v follows
// an edge with probability proportional to its weight. PPR with restart at item s and damping
// alpha is the fixed point of
//     r = (1 - alpha) e_s + alpha (W^T r + d(r) e_s),
// W the row-stochastic walk matrix and d(r) the mass on dangling nodes (no edges), which
// restarts at s, so r sums to 1. Two ways to compute it:
//  - power: iterate the equation until the L1 change of r is below `tol` (or `max_iters`): exact
//    to `tol`, O(iterations x edges) per seed — for small graphs and for reference;
//  - push (Andersen, Chung & Lang's forward push): keep an estimate p and a residual q (q = e_s at
//    first); while a node v holds q_v > epsilon * max(deg v, 1), move (1 - alpha) q_v into p_v and
//    spread alpha q_v over v's edges (a node without edges sends it to s). Throughout,
//    r = p + sum_v q_v r_v with r_v >= 0 summing to 1, so ||r - p||_1 = sum_v q_v exactly: the
//    result reports it as `residual`. The work per seed is at most 1 / ((1 - alpha) epsilon)
//    edge visits, whatever the graph's size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace grec::data {

struct Dataset;

enum class PprMethod { power, push };

struct PprOptions {
  double alpha = 0.85;    // probability of following an edge; 1 - alpha restarts at the seed
  int64_t top = 3;        // neighbours kept per item (T)
  PprMethod method = PprMethod::push;
  int64_t max_iters = 200;  // power
  double tol = 1e-10;       // power: L1 change of r between iterations
  double epsilon = 1e-7;    // push: residual per unit of weighted degree left unpushed
  // Neighbours are ranked by r_v / deg(v)^degree_power. 0 ranks by r itself, which on a bipartite
  // engagement graph is dominated by the most popular items (r tends to the degree distribution
  // as walks get longer); 1 gives the symmetric r_s(v) / deg v = r_v(s) / deg s.
  double degree_power = 0.0;
};

// "power" / "push"; UserError naming `what` for another name.
PprMethod ppr_method_from_name(const std::string& name, const std::string& what);

// The bipartite graph as two CSR adjacency lists with edge weights.
struct EngagementGraph {
  int64_t num_users = 0;
  int64_t num_items = 0;
  std::vector<int64_t> user_offsets, user_items;  // items of user u (distinct), with weights
  std::vector<double> user_weights;
  std::vector<int64_t> item_offsets, item_users;  // users of item i (distinct), with weights
  std::vector<double> item_weights;
  std::vector<double> user_degree, item_degree;  // weighted degrees
};

// The graph of `dataset`'s training interactions.
EngagementGraph training_graph(const Dataset& dataset);
// The same from explicit (user, item) edges (repeated pairs add up), for tests and other sources.
EngagementGraph graph_from_edges(int64_t num_users, int64_t num_items,
                                 const std::vector<int64_t>& users,
                                 const std::vector<int64_t>& items);

struct PprResult {
  std::vector<double> user_scores;  // r on the user nodes
  std::vector<double> item_scores;  // r on the item nodes
  int64_t iterations = 0;  // power: iterations; push: pushes
  double residual = 0;     // power: L1 change of the last iteration; push: ||r - p||_1
};

// PPR restarting at item `seed`, by o.method. UserError on bad options.
PprResult personalized_pagerank(const EngagementGraph& graph, int64_t seed, const PprOptions& o);

struct ItemNeighbours {
  int64_t top = 0;
  std::vector<int64_t> items;   // [num seeds, top]: by score, descending, ties to the smaller id;
                                // -1 where fewer than `top` other items have a positive score
  std::vector<double> scores;   // [num seeds, top]: r_v / deg(v)^degree_power; 0 where items is -1
  std::vector<int64_t> iterations;  // per seed (PprResult::iterations)
  std::vector<double> residuals;    // per seed (PprResult::residual)
};

// The top-`o.top` items other than the seed for each of `seeds`.
ItemNeighbours ppr_neighbours(const EngagementGraph& graph, const std::vector<int64_t>& seeds,
                              const PprOptions& o);

}  // namespace grec::data
