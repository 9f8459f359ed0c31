// Collision resolution for semantic IDs: after nearest-code assignment two items may share a
// whole code tuple. `sinkhorn` (LC-Rec) re-assigns the last level of each colliding group by a
// balanced (Sinkhorn-Knopp) assignment; `suffix` (TIGER) appends a level counting earlier
// duplicates. The suffix level is always the backstop, so the result is unique per row.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

namespace grec::tok {

struct CollisionOptions {
  std::string method = "sinkhorn";  // "sinkhorn" | "suffix" | "none"
  double epsilon = 0.003;
  int64_t iterations = 50;
  int64_t rounds = 20;
};

struct CollisionStats {
  int64_t items = 0;
  int64_t colliding_items_before = 0;
  int64_t colliding_items_after_sinkhorn = 0;
  double collision_rate_before = 0;
  double collision_rate_after = 0;
  int64_t max_group_before = 0;
  bool suffix_level_added = false;
  int64_t suffix_max = 0;
};

// codes: [n, L] int64 (nearest-code assignment); last_distances: [n, K] distances from each item's
// last-level residual to every last-level code (float/double, used by sinkhorn; may be undefined
// for "suffix"). Returns codes [n, L] or [n, L+1] that are unique per row (suffix level is the
// backstop after sinkhorn). Method "none" returns the codes unchanged (stats still filled).
// Deterministic: no randomness; ties break towards the lower code / lower item index.
torch::Tensor resolve_collisions(const torch::Tensor& codes, const torch::Tensor& last_distances,
                                 const CollisionOptions& options, CollisionStats* stats);

// Share of items whose tuple is shared with another item (0 for an empty matrix).
double collision_rate(const torch::Tensor& codes);

// Balanced assignment of `distances` [m, K] (one row per item of a colliding group) to codes:
// scale to [-1, 1], Q = exp(-d/eps) normalised alternately over rows and columns in float64
// (log space, so tiny eps never underflows to NaN), then argmax per row. Exposed for tests.
torch::Tensor sinkhorn_assign(const torch::Tensor& distances, double epsilon, int64_t iterations);

}  // namespace grec::tok
