// Sampler, permutation and per-sample seeds.
#include "dist/sampler.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace grec::dist {

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), int64_t{0});
  // Distinct streams per (seed, epoch): the epoch goes through the mixer, not just added.
  uint64_t state = mix64(seed ^ mix64(static_cast<uint64_t>(epoch) + 0x5851f42d4c957f2dULL));
  for (int64_t i = n - 1; i > 0; --i) {
    // Multiply-shift maps 64 random bits onto [0, i] (bias below 2^-40 for any realistic n).
    const uint64_t r = splitmix64(state);
    const auto j = static_cast<int64_t>(
        (static_cast<unsigned __int128>(r) * static_cast<uint64_t>(i + 1)) >> 64);
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
  }
  return p;
}

uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index) {
  uint64_t h = mix64(seed + kSplitmix64Gamma);
  h = mix64(h ^ (static_cast<uint64_t>(epoch) * 0xd1b54a32d192ed03ULL + 1));
  h = mix64(h ^ (static_cast<uint64_t>(index) * 0xaef17502108ef2d9ULL + 2));
  return h;
}

std::vector<int64_t> group_by_length(const std::vector<int64_t>& order,
                                     const std::vector<int64_t>& lengths, int64_t batch,
                                     int64_t factor, uint64_t seed, int64_t epoch) {
  GREC_CHECK(batch > 0 && factor > 0, "group_by_length: batch {} and factor {} must be > 0", batch,
             factor);
  const auto n = static_cast<int64_t>(order.size());
  const int64_t mega = batch * factor;
  std::vector<int64_t> out;
  out.reserve(order.size());
  for (int64_t m0 = 0; m0 < n; m0 += mega) {
    std::vector<int64_t> part(order.begin() + m0, order.begin() + std::min(n, m0 + mega));
    for (int64_t i : part) {
      GREC_CHECK(i >= 0 && i < static_cast<int64_t>(lengths.size()),
                 "group_by_length: sample {} has no length ({} lengths)", i, lengths.size());
    }
    std::stable_sort(part.begin(), part.end(),
                     [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
    // Shuffle the full batches of this megabatch (a short tail batch keeps its place at the end).
    const int64_t full = static_cast<int64_t>(part.size()) / batch;
    const std::vector<int64_t> perm = epoch_permutation(
        full, mix64(seed ^ 0x6c656e67746873ULL) ^ static_cast<uint64_t>(m0 / mega), epoch);
    for (int64_t b : perm) out.insert(out.end(), part.begin() + b * batch, part.begin() + (b + 1) * batch);
    out.insert(out.end(), part.begin() + full * batch, part.end());
  }
  return out;
}

void DistributedSampler::set_length_grouping(std::vector<int64_t> lengths, int64_t megabatch_factor) {
  GREC_CHECK(lengths.empty() || static_cast<int64_t>(lengths.size()) == num_samples_,
             "length grouping: {} lengths for {} samples", lengths.size(), num_samples_);
  GREC_CHECK(megabatch_factor > 0, "length grouping: megabatch factor {} must be > 0",
             megabatch_factor);
  lengths_ = lengths.empty() ? nullptr
                             : std::make_shared<const std::vector<int64_t>>(std::move(lengths));
  megabatch_factor_ = megabatch_factor;
  cache_ = std::make_shared<Cache>();  // copies made before keep their own (ungrouped) cache
}

DistributedSampler::DistributedSampler(int64_t num_samples, int64_t global_batch_size, int rank,
                                       int world, uint64_t seed, bool shuffle, bool drop_last)
    : num_samples_(num_samples), batch_(global_batch_size), rank_(rank), world_(world),
      seed_(seed), shuffle_(shuffle), drop_last_(drop_last) {
  GREC_CHECK(num_samples >= 0, "num_samples {} < 0", num_samples);
  if (global_batch_size <= 0) user_error("global_batch_size must be > 0, got {}", global_batch_size);
  GREC_CHECK(world >= 1 && rank >= 0 && rank < world, "rank {} / world {}", rank, world);
}

int64_t DistributedSampler::steps_per_epoch() const {
  return drop_last_ ? num_samples_ / batch_ : (num_samples_ + batch_ - 1) / batch_;
}

int64_t DistributedSampler::global_count(int64_t epoch, int64_t step) const {
  GREC_CHECK(step >= 0 && step < steps_per_epoch(), "step {} outside [0, {})", step,
             steps_per_epoch());
  return std::min(batch_, num_samples_ - step * batch_);
}

// Caller holds cache_->mu.
const std::vector<int64_t>& DistributedSampler::order(int64_t epoch) const {
  Cache& c = *cache_;
  if (c.epoch != epoch) {
    if (shuffle_) {
      c.order = epoch_permutation(num_samples_, seed_, epoch);
    } else {
      c.order.resize(static_cast<size_t>(num_samples_));
      std::iota(c.order.begin(), c.order.end(), int64_t{0});
    }
    if (lengths_) c.order = group_by_length(c.order, *lengths_, batch_, megabatch_factor_, seed_, epoch);
    c.epoch = epoch;
  }
  return c.order;
}

std::vector<int64_t> DistributedSampler::global_batch(int64_t epoch, int64_t step) const {
  const int64_t n = global_count(epoch, step);
  std::lock_guard<std::mutex> lock(cache_->mu);
  const auto& o = order(epoch);
  const auto begin = o.begin() + step * batch_;
  return std::vector<int64_t>(begin, begin + n);
}

std::vector<int64_t> DistributedSampler::local_batch(int64_t epoch, int64_t step) const {
  const int64_t n = global_count(epoch, step);
  const int64_t lo = n * rank_ / world_, hi = n * (rank_ + 1) / world_;
  std::lock_guard<std::mutex> lock(cache_->mu);
  const auto& o = order(epoch);
  const auto begin = o.begin() + step * batch_;
  return std::vector<int64_t>(begin + lo, begin + hi);
}

}  // namespace grec::dist
