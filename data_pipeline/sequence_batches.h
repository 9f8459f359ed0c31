// SASRec batches from Dataset sequences: left-padded item rows (item id i -> row i + 1, 0 =
// padding) with the most recent item in the last column, next-item targets for every position,
// and sampled negatives drawn from a per-sample seed (so a sample's negatives do not depend on the
// batch or the number of ranks). Torch-free: flat int64 vectors the caller wraps in tensors.
//
// One training sample = one user's training prefix items[0, train_end): the inputs are its last
// max_len items but the final one, the targets the same window shifted by one.
#pragma once

#include <cstdint>
#include <vector>

#include "data_pipeline/dataset.h"

namespace grec::data {

struct SequenceBatchOptions {
  int64_t max_len = 50;
  int64_t num_negatives = 0;  // per position; 0 = none (full cross-entropy)
  // Narrow the batch to its longest sequence (exact for SASRec, whose positions count from the
  // right edge); false keeps width = max_len.
  bool trim = true;
};

struct SequenceBatch {
  int64_t batch = 0, width = 0, num_negatives = 0;
  std::vector<int64_t> input;      // [batch, width] rows, 0 = padding
  std::vector<int64_t> target;     // [batch, width] row of the next item, 0 at padding
  std::vector<int64_t> negatives;  // [batch, width, num_negatives] rows, 0 at padding
};

// Users whose training prefix has at least two items (one input, one target).
std::vector<int64_t> sasrec_train_users(const Dataset& dataset);

// Training batch of `users`; seeds[i] seeds the negatives of users[i]. Negatives are uniform over
// the items not in the user's training prefix (the classic SASRec sampler).
SequenceBatch make_train_batch(const Dataset& dataset, const std::vector<int64_t>& users,
                               const std::vector<uint64_t>& seeds,
                               const SequenceBatchOptions& options);

// Input-only batch of the last max_len items of each history (item ids, chronological).
SequenceBatch make_input_batch(const std::vector<const std::vector<int64_t>*>& histories,
                               const SequenceBatchOptions& options);

// The i-th draw of a sample's negative stream: uniform in [0, num_items). Exposed for tests.
class SampleRng {
 public:
  explicit SampleRng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  int64_t uniform(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }

 private:
  uint64_t state_;
};

}  // namespace grec::data
