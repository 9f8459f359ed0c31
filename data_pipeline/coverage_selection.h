// DEALRec sample selection (ALGORITHMS.md §3, steps 4-5; torch-free): the combined score
// minmax(influence) + lambda * minmax(effort), and coverage-enhanced selection (CCS), which drops
// the hardest samples and spreads the budget over equal-width score strata, smallest stratum
// first, so that easy, medium and hard samples all stay represented instead of only the
// top-scoring ones. Deterministic for a seed: the only randomness is SampleRng, seeded per stratum
// from (seed, stratum index), so a stratum's pick does not depend on the other strata.
//
// User errors name the stage-prune config keys (prune.keep, prune.lambda, prune.coverage.*).
#pragma once

#include <cstdint>
#include <vector>

namespace grec::data {

// (x - min) / (max - min); all zeros when max == min. UserError on a non-finite value.
std::vector<double> minmax_normalise(const std::vector<double>& x);

// minmax(influence) + lambda * minmax(effort). The sizes must match (grec::Error otherwise);
// UserError on a non-finite value or a lambda that is negative or not finite.
std::vector<double> dealrec_score(const std::vector<double>& influence,
                                  const std::vector<double>& effort, double lambda);

struct CoverageOptions {
  double drop_hardest = 0.1;  // alpha: fraction of the samples with the highest scores dropped
  int64_t strata = 50;        // K equal-width strata over the remaining score range
  uint64_t seed = 0;
};

struct Selection {
  std::vector<int64_t> kept;           // indices into scores, ascending
  std::vector<int64_t> stratum;        // per input sample: 0..K-1, or -1 when dropped as hardest
  int64_t dropped_hardest = 0;
  std::vector<int64_t> stratum_sizes;  // K entries, after the drop
  std::vector<int64_t> stratum_taken;  // K entries: how many were kept from each
};

// Coverage-enhanced selection of exactly `budget` of the n = scores.size() samples:
// 1. Drop d = min(floor(alpha * n), n - budget) samples with the highest scores; among equal
//    scores the higher index is dropped first.
// 2. Split [min, max] of the remaining scores into K equal-width strata (a score equal to max is
//    in the last one; all in stratum 0 when max == min).
// 3. Visit the m non-empty strata by size ascending (ties: lower stratum index first); the j-th
//    takes min(size, floor(remaining budget / (m - j))) of its samples uniformly at random
//    without replacement. This always spends the budget exactly (see the proof in the .cc).
// UserError on budget outside [1, n], drop_hardest outside [0, 1), strata < 1, or a non-finite
// score.
Selection coverage_select(const std::vector<double>& scores, int64_t budget,
                          const CoverageOptions& o);

// `budget` of the indices 0..n-1 uniformly at random without replacement, ascending. UserError
// on budget outside [1, n].
std::vector<int64_t> random_select(int64_t n, int64_t budget, uint64_t seed);

}  // namespace grec::data
