// Bucket assignment for gradient sync (DESIGN.md "Gradient sync"): parameters in REVERSE
// registration order (the order backward produces their gradients), grouped by dtype/device, cut
// into flat buckets: bucket 0 holds about `first_bytes` (small, so communication can start early),
// the others about `bytes`. A bucket closes when the next item would exceed its cap; an item larger
// than the cap gets a bucket of its own. Pure function of its input, hence the same on every rank.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace grec::dist {

struct BucketItem {
  int64_t bytes = 0;
  std::string group;  // e.g. "Float/cpu": only items of one group share a bucket
};

struct BucketPlan {
  std::string group;
  std::vector<int64_t> items;  // indices into the input, in bucket order
  int64_t bytes = 0;
};

// Buckets in the order they are reduced (ordered by their first item in reverse registration order).
std::vector<BucketPlan> assign_buckets(const std::vector<BucketItem>& items, int64_t first_bytes,
                                       int64_t bytes);

}  // namespace grec::dist
