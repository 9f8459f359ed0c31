// Small non-cryptographic hashing for cache keys, fingerprints and config hashes (FNV-1a, 64 bit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace grec {

constexpr uint64_t kFnvOffset = 1469598103934665603ULL;

inline uint64_t fnv1a64(const void* data, size_t size, uint64_t h = kFnvOffset) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

inline uint64_t fnv1a64(std::string_view s, uint64_t h = kFnvOffset) {
  return fnv1a64(s.data(), s.size(), h);
}

// 16 lowercase hex digits.
std::string hex64(uint64_t v);

// Hash of a file's bytes (throws grec::UserError naming the file when it cannot be read).
uint64_t hash_file(const std::string& path, uint64_t h = kFnvOffset);

}  // namespace grec
