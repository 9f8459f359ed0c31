// DistributedSampler: the global order of an epoch is a permutation that depends only on
// (seed, epoch), made with our own splitmix64 + Fisher–Yates (not torch's RNG), so it is the same on
// every rank, every run and every LibTorch version. Step s of epoch e takes positions
// [s*B, (s+1)*B) of that order (B = global batch; the last batch is short unless drop_last).
// Shares are CONTIGUOUS: rank r gets positions [floor(n*r/W), floor(n*(r+1)/W)) of the global batch
// of n samples, so shards are disjoint, their union is the batch, sizes differ by at most one, and
// every rank runs the same number of steps (a share may be empty when n < W).
// batch(e, s) is a pure function: resuming at (epoch, step) needs nothing else.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/splitmix64.h"

namespace grec::dist {

class DistributedSampler {
 public:
  DistributedSampler(int64_t num_samples, int64_t global_batch_size, int rank, int world,
                     uint64_t seed, bool shuffle = true, bool drop_last = false);

  int64_t steps_per_epoch() const;
  std::vector<int64_t> global_batch(int64_t epoch, int64_t step) const;
  std::vector<int64_t> local_batch(int64_t epoch, int64_t step) const;
  int64_t global_count(int64_t epoch, int64_t step) const;
  int64_t num_samples() const { return num_samples_; }
  int64_t global_batch_size() const { return batch_; }
  // Length grouping: every epoch order is then passed through group_by_length (below) with these
  // per-sample lengths, so each global batch — and so each rank's share — holds samples of similar
  // length (less padding), whatever the number of ranks. Empty `lengths` turns it off.
  void set_length_grouping(std::vector<int64_t> lengths, int64_t megabatch_factor = 50);

 private:
  const std::vector<int64_t>& order(int64_t epoch) const;  // cached for the last epoch asked

  int64_t num_samples_, batch_;
  int rank_, world_;
  uint64_t seed_;
  bool shuffle_, drop_last_;
  std::shared_ptr<const std::vector<int64_t>> lengths_;  // null: no length grouping
  int64_t megabatch_factor_ = 50;
  // The last epoch's order, shared by copies (it is a pure function of the fields above), so the
  // sampler stays copyable and a step costs O(batch) instead of O(num_samples).
  struct Cache {
    std::mutex mu;
    int64_t epoch = -1;
    std::vector<int64_t> order;
  };
  std::shared_ptr<Cache> cache_ = std::make_shared<Cache>();
};

// Regroups an epoch order for padding-free batching: the order is cut into megabatches of
// factor × batch positions; each megabatch is sorted by length (longest first, ties in the order's
// order) and its full batches of `batch` positions are shuffled among themselves by (seed, epoch,
// megabatch). Randomness across epochs comes from the order, similar lengths share a batch, and
// the epoch's short last batch (if any) stays last. Returns a permutation of `order`.
std::vector<int64_t> group_by_length(const std::vector<int64_t>& order,
                                     const std::vector<int64_t>& lengths, int64_t batch,
                                     int64_t factor, uint64_t seed, int64_t epoch);

using grec::splitmix64;  // core/splitmix64.h
// The permutation of [0, n) for (seed, epoch).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);
// Seed for per-sample randomness (negatives, augmentation) of sample `index` in `epoch`; the same
// whatever the number of ranks, because it depends on nothing else.
uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index);

}  // namespace grec::dist
