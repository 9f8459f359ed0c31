// SASRec batches (see sequence_batches.h).
#include "data_pipeline/sequence_batches.h"

#include <algorithm>

#include "core/error.h"
#include "core/splitmix64.h"

namespace grec::data {

uint64_t SampleRng::next() {
  return splitmix64(state_);
}

std::vector<int64_t> sasrec_train_users(const Dataset& dataset) {
  std::vector<int64_t> users;
  for (int64_t u = 0; u < dataset.num_users(); ++u) {
    if (dataset.train_end[u] >= 2) users.push_back(u);
  }
  return users;
}

SequenceBatch make_train_batch(const Dataset& dataset, const std::vector<int64_t>& users,
                               const std::vector<uint64_t>& seeds,
                               const SequenceBatchOptions& options) {
  GREC_CHECK(options.max_len >= 1, "max_len must be >= 1");
  GREC_CHECK(options.num_negatives == 0 || seeds.size() == users.size(), "{} seeds for {} users",
             seeds.size(), users.size());
  const int64_t num_items = dataset.num_items();
  SequenceBatch b;
  b.batch = static_cast<int64_t>(users.size());
  b.num_negatives = options.num_negatives;
  int64_t longest = 1;
  for (int64_t u : users) {
    GREC_CHECK(u >= 0 && u < dataset.num_users(), "user {} out of range", u);
    GREC_CHECK(dataset.train_end[u] >= 2, "user {} has fewer than 2 training items", u);
    longest = std::max(longest, std::min(options.max_len, dataset.train_end[u] - 1));
  }
  b.width = options.trim ? longest : options.max_len;
  const int64_t w = b.width, k = options.num_negatives;
  b.input.assign(b.batch * w, 0);
  b.target.assign(b.batch * w, 0);
  b.negatives.assign(b.batch * w * k, 0);
  std::vector<int64_t> seen;
  for (int64_t i = 0; i < b.batch; ++i) {
    const int64_t u = users[i];
    const int64_t* items = dataset.sequence(u);
    const int64_t n = std::min(w, dataset.train_end[u] - 1);  // positions with a target
    const int64_t first = dataset.train_end[u] - 1 - n;       // first input item of the window
    for (int64_t j = 0; j < n; ++j) {
      const int64_t col = w - n + j;
      b.input[i * w + col] = items[first + j] + 1;
      b.target[i * w + col] = items[first + j + 1] + 1;
    }
    if (k == 0) continue;
    seen.assign(items, items + dataset.train_end[u]);
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    const bool can_avoid = static_cast<int64_t>(seen.size()) < num_items;
    SampleRng rng(seeds[i]);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t col = w - n + j;
      for (int64_t s = 0; s < k; ++s) {
        int64_t item = rng.uniform(num_items);
        while (can_avoid && std::binary_search(seen.begin(), seen.end(), item)) {
          item = rng.uniform(num_items);
        }
        b.negatives[(i * w + col) * k + s] = item + 1;
      }
    }
  }
  return b;
}

SequenceBatch make_input_batch(const std::vector<const std::vector<int64_t>*>& histories,
                               const SequenceBatchOptions& options) {
  GREC_CHECK(options.max_len >= 1, "max_len must be >= 1");
  SequenceBatch b;
  b.batch = static_cast<int64_t>(histories.size());
  int64_t longest = 1;
  for (const auto* h : histories) {
    longest = std::max<int64_t>(longest, std::min<int64_t>(options.max_len, h->size()));
  }
  b.width = options.trim ? longest : options.max_len;
  const int64_t w = b.width;
  b.input.assign(b.batch * w, 0);
  for (int64_t i = 0; i < b.batch; ++i) {
    const std::vector<int64_t>& h = *histories[i];
    const int64_t n = std::min<int64_t>(w, h.size());
    for (int64_t j = 0; j < n; ++j) b.input[i * w + (w - n + j)] = h[h.size() - n + j] + 1;
  }
  return b;
}

}  // namespace grec::data
