// DistributedSampler and sample_seed: shards disjoint and complete for 1-4 simulated ranks, equal
// step counts, resumability (batch(e, s) is a pure function), independence of the world size.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "dist/sampler.h"

namespace grec::dist {
namespace {

TEST(Sampler, ShardsDisjointAndCompleteForWorldSizes1To4) {
  for (bool drop_last : {false, true}) {
    for (int world = 1; world <= 4; ++world) {
      const int64_t n = 103, batch = 10;
      std::vector<DistributedSampler> ranks;
      for (int r = 0; r < world; ++r) ranks.emplace_back(n, batch, r, world, 7, true, drop_last);
      const int64_t steps = ranks[0].steps_per_epoch();
      EXPECT_EQ(steps, drop_last ? 10 : 11);
      std::multiset<int64_t> epoch_seen;
      for (int64_t s = 0; s < steps; ++s) {
        const auto global = ranks[0].global_batch(2, s);
        EXPECT_EQ(static_cast<int64_t>(global.size()), ranks[0].global_count(2, s));
        std::vector<int64_t> joined;
        for (int r = 0; r < world; ++r) {
          EXPECT_EQ(ranks[r].steps_per_epoch(), steps) << "rank " << r;
          const auto local = ranks[r].local_batch(2, s);
          joined.insert(joined.end(), local.begin(), local.end());
        }
        EXPECT_EQ(joined, global) << "world " << world << " step " << s;  // contiguous shares
        epoch_seen.insert(global.begin(), global.end());
      }
      const std::set<int64_t> unique(epoch_seen.begin(), epoch_seen.end());
      EXPECT_EQ(unique.size(), epoch_seen.size()) << "a sample repeats within an epoch";
      EXPECT_EQ(static_cast<int64_t>(epoch_seen.size()), drop_last ? 100 : 103);
      EXPECT_TRUE(std::all_of(unique.begin(), unique.end(), [&](int64_t i) { return i >= 0 && i < n; }));
    }
  }
}

TEST(Sampler, LocalShareSizesDifferByAtMostOneAndMayBeEmpty) {
  DistributedSampler a(5, 3, 0, 4, 1), d(5, 3, 3, 4, 1), b(5, 3, 1, 4, 1);
  // Last step has 2 samples over 4 ranks: ranks 0 and 2 get none, 1 and 3 get one.
  EXPECT_EQ(a.global_count(0, 1), 2);
  EXPECT_TRUE(a.local_batch(0, 1).empty());
  EXPECT_EQ(b.local_batch(0, 1).size(), 1u);
  EXPECT_EQ(d.local_batch(0, 1).size(), 1u);
}

TEST(Sampler, OrderDependsOnSeedAndEpochOnly) {
  DistributedSampler s1(1000, 1000, 0, 1, 42), s2(1000, 1000, 0, 1, 42), s3(1000, 1000, 0, 1, 43);
  EXPECT_EQ(s1.global_batch(0, 0), s2.global_batch(0, 0));
  EXPECT_NE(s1.global_batch(0, 0), s1.global_batch(1, 0));
  EXPECT_NE(s1.global_batch(0, 0), s3.global_batch(0, 0));
  auto sorted = s1.global_batch(3, 0);
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) EXPECT_EQ(sorted[i], i);
  // Not the identity, and each position is roughly uniform: over 200 epochs the first element
  // falls in each tenth of [0, 1000) about 20 times (binomial sd ~4.2); an order that ignores the
  // epoch, or moves little between epochs, crowds it into a few tenths.
  EXPECT_NE(s1.global_batch(0, 0), sorted);
  std::vector<int> tenth(10, 0);
  for (int64_t e = 0; e < 200; ++e) ++tenth[static_cast<size_t>(s1.global_batch(e, 0)[0] / 100)];
  for (int t = 0; t < 10; ++t) {
    EXPECT_GE(tenth[t], 5) << "tenth " << t;
    EXPECT_LE(tenth[t], 40) << "tenth " << t;
  }
  DistributedSampler plain(10, 4, 0, 1, 42, /*shuffle=*/false);
  EXPECT_EQ(plain.global_batch(5, 1), (std::vector<int64_t>{4, 5, 6, 7}));
}

TEST(Sampler, ResumedMidEpochGivesTheSameRemainingOrder) {
  DistributedSampler continuing(257, 16, 1, 3, 9);
  std::vector<std::vector<int64_t>> straight;
  for (int64_t e = 0; e < 2; ++e) {
    for (int64_t s = 0; s < continuing.steps_per_epoch(); ++s) straight.push_back(continuing.local_batch(e, s));
  }
  // A fresh sampler starting at epoch 1, step 5 (e.g. after loading a checkpoint).
  DistributedSampler fresh(257, 16, 1, 3, 9);
  const int64_t steps = fresh.steps_per_epoch();
  for (int64_t s = 5; s < steps; ++s) EXPECT_EQ(fresh.local_batch(1, s), straight[steps + s]);
}

TEST(Sampler, SampleSeedIsIndependentOfWorldSizeAndDistinct) {
  // The seed of a sample does not depend on which rank processes it: compute it through the
  // shards of two world sizes and compare per sample index.
  std::map<int64_t, uint64_t> by_one, by_three;
  for (int world : {1, 3}) {
    auto& m = world == 1 ? by_one : by_three;
    for (int r = 0; r < world; ++r) {
      DistributedSampler s(50, 8, r, world, 5);
      for (int64_t st = 0; st < s.steps_per_epoch(); ++st) {
        for (int64_t i : s.local_batch(4, st)) m[i] = sample_seed(5, 4, i);
      }
    }
  }
  EXPECT_EQ(by_one, by_three);
  std::set<uint64_t> seeds;
  for (uint64_t seed : {0ull, 1ull}) {
    for (int64_t e = 0; e < 3; ++e) {
      for (int64_t i = 0; i < 100; ++i) seeds.insert(sample_seed(seed, e, i));
    }
  }
  EXPECT_EQ(seeds.size(), 600u);
}

TEST(Sampler, LengthGroupingCutsPaddingKeepsCoverageAndIsWorldInvariant) {
  // 1,000 samples with lengths 1..200 in random order, global batch 16, megabatches of 16 batches.
  const int64_t n = 1000, B = 16;
  std::vector<int64_t> lengths(n);
  uint64_t st = 7;
  for (auto& l : lengths) l = 1 + static_cast<int64_t>(splitmix64(st) % 200);
  const auto padding = [&](const DistributedSampler& s, int64_t epoch) {
    int64_t pad = 0;
    for (int64_t step = 0; step < s.steps_per_epoch(); ++step) {
      const auto b = s.global_batch(epoch, step);
      int64_t longest = 0;
      for (int64_t i : b) longest = std::max(longest, lengths[i]);
      for (int64_t i : b) pad += longest - lengths[i];
    }
    return pad;
  };
  DistributedSampler plain(n, B, 0, 1, 3);
  DistributedSampler grouped(n, B, 0, 1, 3);
  grouped.set_length_grouping(lengths, 16);
  for (int64_t epoch : {0, 1}) {
    // Every sample exactly once; the short batch (1000 = 62 x 16 + 8) is still the last one.
    std::vector<int64_t> seen;
    for (int64_t step = 0; step < grouped.steps_per_epoch(); ++step) {
      const auto b = grouped.global_batch(epoch, step);
      EXPECT_EQ(static_cast<int64_t>(b.size()), grouped.global_count(epoch, step));
      seen.insert(seen.end(), b.begin(), b.end());
    }
    std::sort(seen.begin(), seen.end());
    std::vector<int64_t> all(n);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(seen, all);
    EXPECT_LT(padding(grouped, epoch) * 5, padding(plain, epoch));  // > 5x less padding
  }
  // Epochs differ, and the same global batches for 1 and 2 ranks (each rank's share is a slice).
  EXPECT_NE(grouped.global_batch(0, 0), grouped.global_batch(1, 0));
  for (int r = 0; r < 2; ++r) {
    DistributedSampler two(n, B, r, 2, 3);
    two.set_length_grouping(lengths, 16);
    for (int64_t step = 0; step < two.steps_per_epoch(); ++step) {
      const auto g = grouped.global_batch(1, step), l = two.local_batch(1, step);
      const int64_t lo = static_cast<int64_t>(g.size()) * r / 2;
      EXPECT_EQ(l, std::vector<int64_t>(g.begin() + lo, g.begin() + lo + static_cast<int64_t>(l.size())));
    }
  }
  // A wrong number of lengths is refused.
  EXPECT_THROW(grouped.set_length_grouping(std::vector<int64_t>(n - 1, 1)), std::exception);
}

TEST(Sampler, BadBatchSizeIsAUserError) {
  EXPECT_THROW(DistributedSampler(10, 0, 0, 1, 0), std::exception);
}

}  // namespace
}  // namespace grec::dist
