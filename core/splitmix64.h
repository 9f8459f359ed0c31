// splitmix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", 2014): the
// one small generator grec uses wherever randomness must be identical on every rank, platform,
// standard library and LibTorch version (sample order, negatives, k-means++ seeding, synthetic
// data, TF-IDF projections). std's distributions and torch's RNG are neither.
#pragma once

#include <cstdint>

namespace grec {

inline constexpr uint64_t kSplitmix64Gamma = 0x9E3779B97F4A7C15ULL;

// splitmix64's output function: a bijective 64-bit mixer (also a good integer hash).
inline constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// One step of the generator: advances `state` and returns the next 64 random bits.
inline uint64_t splitmix64(uint64_t& state) {
  state += kSplitmix64Gamma;
  return mix64(state);
}

// The value a generator in state `x` returns next, without a state: a stateless hash of x.
inline constexpr uint64_t splitmix64_hash(uint64_t x) { return mix64(x + kSplitmix64Gamma); }

// A double in [0, 1) from the top 53 bits of `bits`.
inline constexpr double unit_double(uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace grec
